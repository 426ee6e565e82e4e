// The layer's GEMM: C[M, N] (row-major) += A[M, K] B[K, N] with B packed once into panels of
// kPanel columns, A read in place through two strides, and a register-blocked micro-kernel of
// 6 rows x kPanel columns (12 accumulators: two vectors per row). On AVX2+FMA this is the
// 6x16 (float) / 6x8 (double) shape that keeps both FMA pipes busy; other machines get the same
// loops in plain C++ for the compiler to vectorise.
//
// Every element of C is computed by one kernel call that sums over k = 0 .. K-1 in order, whatever
// the caller's partition of rows and panels, so results do not depend on how the work is split.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstddef>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define LSTMCORE_GEMM_AVX2 1
#else
#define LSTMCORE_GEMM_AVX2 0
#endif

namespace lstmcore {
namespace gemm {

using Index = Eigen::Index;

template <typename Scalar>
constexpr Index kPanel = sizeof(Scalar) == 4 ? 16 : 8;  // columns per panel: two AVX2 vectors
constexpr Index kRows = 6;  // rows of the micro-kernel

template <typename Scalar>
Index panels_of(Index N) {
  return (N + kPanel<Scalar> - 1) / kPanel<Scalar>;
}

// Scalars a packed B of K rows and N columns takes.
template <typename Scalar>
Index packed_size(Index K, Index N) {
  return panels_of<Scalar>(N) * K * kPanel<Scalar>;
}

// Pack panels [p0, p1) of B, where B(k, j) = src[k * sk + j * sj]:
//   out[p * K * P + k * P + j] = B(k, p * P + j), zero past column N.
template <typename Scalar>
void pack_b(const Scalar* src, Index sk, Index sj, Index K, Index N, Scalar* out, Index p0, Index p1) {
  constexpr Index P = kPanel<Scalar>;
  for (Index p = p0; p < p1; ++p) {
    const Index j0 = p * P, nj = std::min(P, N - j0);
    Scalar* dst = out + p * K * P;
    for (Index k = 0; k < K; ++k) {
      const Scalar* s = src + k * sk + j0 * sj;
      Scalar* d = dst + k * P;
      if (sj == 1) {
        std::copy(s, s + nj, d);
      } else {
        for (Index j = 0; j < nj; ++j) d[j] = s[j * sj];
      }
      std::fill(d + nj, d + P, Scalar(0));
    }
  }
}

namespace detail {

// acc[r][0..P) = sum_k A(r, k) * bp[k][0..P) for r < R, then C(r, 0..nc) += acc.
#if LSTMCORE_GEMM_AVX2
// Vector traits of the AVX2 kernels: V lanes, two vectors per panel row.
template <typename Scalar>
struct Avx;
template <>
struct Avx<float> {
  using V = __m256;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_load_ps(p); }
  static V loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, V v) { _mm256_storeu_ps(p, v); }
  static void store(float* p, V v) { _mm256_store_ps(p, v); }
  static V bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
};
template <>
struct Avx<double> {
  using V = __m256d;
  static V zero() { return _mm256_setzero_pd(); }
  static V load(const double* p) { return _mm256_load_pd(p); }
  static V loadu(const double* p) { return _mm256_loadu_pd(p); }
  static void storeu(double* p, V v) { _mm256_storeu_pd(p, v); }
  static void store(double* p, V v) { _mm256_store_pd(p, v); }
  static V bcast(const double* p) { return _mm256_broadcast_sd(p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
};

// C(row, 0..nc) += [v0, v1]
template <typename Scalar>
inline void add_row(Scalar* c, typename Avx<Scalar>::V v0, typename Avx<Scalar>::V v1, Index nc) {
  using A = Avx<Scalar>;
  constexpr Index W = kPanel<Scalar> / 2;
  if (nc == 2 * W) {
    A::storeu(c, A::add(A::loadu(c), v0));
    A::storeu(c + W, A::add(A::loadu(c + W), v1));
  } else {
    alignas(32) Scalar t[2 * W];
    A::store(t, v0);
    A::store(t + W, v1);
    for (Index j = 0; j < nc; ++j) c[j] += t[j];
  }
}

// The accumulators are named variables (an array of them ends up on the stack, reloaded at every
// k); rows >= R are compiled out.
template <int R, typename Scalar>
inline void kernel(Index K, const Scalar* a, Index sm, Index sk, const Scalar* bp, Scalar* C, Index ldc, Index nc) {
  using A = Avx<Scalar>;
  using V = typename A::V;
  constexpr Index P = kPanel<Scalar>, W = P / 2;
  V c00 = A::zero(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00, c40 = c00,
    c41 = c00, c50 = c00, c51 = c00;
  for (Index k = 0; k < K; ++k) {
    // b = B(k, panel)   (two vectors);  c_r += A(r, k) * b
    const V b0 = A::load(bp + P * k), b1 = A::load(bp + P * k + W);
    const Scalar* ak = a + k * sk;
    V av = A::bcast(ak);
    c00 = A::fma(av, b0, c00), c01 = A::fma(av, b1, c01);
    if constexpr (R > 1) av = A::bcast(ak + sm), c10 = A::fma(av, b0, c10), c11 = A::fma(av, b1, c11);
    if constexpr (R > 2) av = A::bcast(ak + 2 * sm), c20 = A::fma(av, b0, c20), c21 = A::fma(av, b1, c21);
    if constexpr (R > 3) av = A::bcast(ak + 3 * sm), c30 = A::fma(av, b0, c30), c31 = A::fma(av, b1, c31);
    if constexpr (R > 4) av = A::bcast(ak + 4 * sm), c40 = A::fma(av, b0, c40), c41 = A::fma(av, b1, c41);
    if constexpr (R > 5) av = A::bcast(ak + 5 * sm), c50 = A::fma(av, b0, c50), c51 = A::fma(av, b1, c51);
  }
  add_row<Scalar>(C, c00, c01, nc);
  if constexpr (R > 1) add_row<Scalar>(C + ldc, c10, c11, nc);
  if constexpr (R > 2) add_row<Scalar>(C + 2 * ldc, c20, c21, nc);
  if constexpr (R > 3) add_row<Scalar>(C + 3 * ldc, c30, c31, nc);
  if constexpr (R > 4) add_row<Scalar>(C + 4 * ldc, c40, c41, nc);
  if constexpr (R > 5) add_row<Scalar>(C + 5 * ldc, c50, c51, nc);
}
#else
template <int R, typename Scalar>
inline void kernel(Index K, const Scalar* a, Index sm, Index sk, const Scalar* bp, Scalar* C, Index ldc, Index nc) {
  constexpr Index P = kPanel<Scalar>;
  Scalar acc[R][P] = {};
  for (Index k = 0; k < K; ++k) {
    const Scalar* b = bp + P * k;
    for (int r = 0; r < R; ++r) {
      const Scalar av = a[k * sk + r * sm];
      for (Index j = 0; j < P; ++j) acc[r][j] += av * b[j];
    }
  }
  for (int r = 0; r < R; ++r)
    for (Index j = 0; j < nc; ++j) C[r * ldc + j] += acc[r][j];
}
#endif

template <typename Scalar>
inline void kernel_rows(Index rows, Index K, const Scalar* a, Index sm, Index sk, const Scalar* bp, Scalar* C,
                        Index ldc, Index nc) {
  switch (rows) {
    case 6: kernel<6, Scalar>(K, a, sm, sk, bp, C, ldc, nc); break;
    case 5: kernel<5, Scalar>(K, a, sm, sk, bp, C, ldc, nc); break;
    case 4: kernel<4, Scalar>(K, a, sm, sk, bp, C, ldc, nc); break;
    case 3: kernel<3, Scalar>(K, a, sm, sk, bp, C, ldc, nc); break;
    case 2: kernel<2, Scalar>(K, a, sm, sk, bp, C, ldc, nc); break;
    default: kernel<1, Scalar>(K, a, sm, sk, bp, C, ldc, nc); break;
  }
}

}  // namespace detail

// C(m, j) += sum_k A(m, k) B(k, j) for m in [m0, m1) and the columns of panels [p0, p1), where
// A(m, k) = a[m * sm + k * sk], B is packed by pack_b (N columns in all), C row-major with
// leading dimension ldc. Loop order: panels outside (a panel stays in L1 across the row groups).
template <typename Scalar>
void gemm_panels(Index m0, Index m1, Index K, const Scalar* a, Index sm, Index sk, const Scalar* bp, Index N,
                 Index p0, Index p1, Scalar* C, Index ldc) {
  constexpr Index P = kPanel<Scalar>;
  if (K == 0) return;
  for (Index p = p0; p < p1; ++p) {
    const Index j0 = p * P, nc = std::min(P, N - j0);
    const Scalar* panel = bp + p * K * P;
    for (Index m = m0; m < m1; m += kRows) {
      const Index rows = std::min(kRows, m1 - m);
      detail::kernel_rows<Scalar>(rows, K, a + m * sm, sm, sk, panel, C + m * ldc + j0, ldc, nc);
    }
  }
}

// Same, with the row groups outside (for a long A that is reused across all panels of a small B).
template <typename Scalar>
void gemm_rows_outer(Index m0, Index m1, Index K, const Scalar* a, Index sm, Index sk, const Scalar* bp, Index N,
                     Scalar* C, Index ldc) {
  constexpr Index P = kPanel<Scalar>;
  if (K == 0) return;
  const Index np = panels_of<Scalar>(N);
  for (Index m = m0; m < m1; m += kRows) {
    const Index rows = std::min(kRows, m1 - m);
    for (Index p = 0; p < np; ++p) {
      const Index j0 = p * P, nc = std::min(P, N - j0);
      detail::kernel_rows<Scalar>(rows, K, a + m * sm, sm, sk, bp + p * K * P, C + m * ldc + j0, ldc, nc);
    }
  }
}

}  // namespace gemm
}  // namespace lstmcore
