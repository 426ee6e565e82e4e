// Internal (not API). The GEMM of the layer, the stream and the online trainer: C[M, N] (row-major) += A[M, K] B[K, N] with B packed once into panels of
// kPanel columns, A read in place through two strides, and a register-blocked micro-kernel of
// 6 rows x kPanel columns (12 accumulators: two vectors per row). On AVX2+FMA this is the
// 6x16 (float) / 6x8 (double) shape that keeps both FMA pipes busy; other machines get the same
// loops in plain C++ for the compiler to vectorise. Which one a copy of the core has is decided by
// the instruction set it is compiled for (cpp/src/gemm_panel.cpp); which copy runs, once at import
// or start-up from the CPU (lstmcore/isa.hpp).
//
// Every element of C is computed by one kernel call that sums over k = 0 .. K-1 in order, whatever
// the caller's partition of rows and panels, so results do not depend on how the work is split
// (the one exception, a product of a single row, is the caller's to declare: see gemm_panels).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstddef>

namespace lstmcore {
namespace gemm {

using Index = Eigen::Index;

template <typename Scalar>
constexpr Index kPanel = sizeof(Scalar) == 4 ? 16 : 8;  // columns per panel: two AVX2 vectors
constexpr Index kRows = 6;  // rows of the micro-kernel

// Rows of the next kernel call when `rem` rows are left. A call of R rows keeps 2R accumulator
// chains; both FMA pipes need 8 in flight (4-cycle latency), so a call of R < 4 rows costs as much
// as one of 4. Groups of 6 then, at the end, groups of 4 or 5 instead of a short remainder:
// 32 rows = 6+6+6+6+4+4 (32 row-cycles per k) rather than 6+6+6+6+6+2 (34). Each row's sum is the
// same whatever group it is in.
inline Index row_group(Index rem) {
  if (rem == 7 || rem == 8) return 4;
  if (rem == 9) return 5;
  return std::min(kRows, rem);
}

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

// C(m, j) += sum_k A(m, k) B(k, j) for m in [m0, m1) and the columns of panels [p0, p1), where
// A(m, k) = a[m * sm + k * sk], B is packed by pack_b (N columns in all), C row-major with
// leading dimension ldc. Loop order: panels outside (a panel stays in L1 across the row groups).
// one_row: the whole product has this one row (m1 - m0 == 1), so it may take the single-row
// kernel, which sums in another order (four partial sums). A caller that hands out the rows of a
// larger product (a share of a batch) passes false, so each row is summed the same way however
// the rows are shared out.
template <typename Scalar>
void gemm_panels(Index m0, Index m1, Index K, const Scalar* a, Index sm, Index sk, const Scalar* bp, Index N,
                 Index p0, Index p1, Scalar* C, Index ldc, bool one_row = true);

// Same over all panels, with the row groups outside (for a long A reused across a small B).
template <typename Scalar>
void gemm_rows_outer(Index m0, Index m1, Index K, const Scalar* a, Index sm, Index sk, const Scalar* bp, Index N,
                     Scalar* C, Index ldc);

// The micro-kernels of this copy of the core and the level it was compiled for: "avx2+fma (x86-64-v3)",
// "generic (x86-64)", ..., or "avx2+fma (build)" / "generic (build)" in a -march=native build.
const char* kernel_isa();

}  // namespace gemm
}  // namespace lstmcore
