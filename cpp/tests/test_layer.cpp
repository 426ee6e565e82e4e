// Unit tests of the torch-style layer (LstmLayer, lstm_layer.cpp) and of the GEMM micro-kernels it
// runs (detail/gemm_panel.hpp, cpp/src/gemm_kernels.inc).
//
// Usage: test_layer [group ...]   (no argument: every group)
// Groups:
//   naive   LstmLayer forward and backward == the naive loop kernel (lstmcore/naive_layer.hpp) in
//           double to 1e-10, on random layers covering bias, peepholes, reverse direction,
//           per-sequence lengths (0 and T included), h0/c0, errors on h_n/c_n, the exact and the
//           truncated gradient, projections (proj_size P < H), several chunks of the batch and
//           blocks of steps, 1 and 2 threads; a proj_size >= H is refused
//   gemm    the micro-kernels, compiled here once with AVX2+FMA (run only if the CPU has them) and
//           once as plain C++, against a triple loop: row counts around the 6-row blocks, panels
//           1-4 with full and half panels, K around the short-K switch, both GEMM loop orders
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "lstmcore/detail/gemm_panel.hpp"
#include "lstmcore/lstm_layer.hpp"
#include "lstmcore/naive_layer.hpp"
#include "test_support.hpp"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

// ---- the micro-kernels twice: AVX2+FMA (when this compiler can target them) and plain C++
#if defined(__AVX2__) && defined(__FMA__)
#define TEST_GEMM_AVX2 1
#elif defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TEST_GEMM_AVX2 2  // compiled for AVX2 by a target pragma
#else
#define TEST_GEMM_AVX2 0
#endif

namespace lstmcore {
namespace gemm {
#if TEST_GEMM_AVX2 == 2
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#if TEST_GEMM_AVX2
namespace test_avx2 {
#define LSTMCORE_GEMM_AVX2 1
#include "../src/gemm_kernels.inc"
#undef LSTMCORE_GEMM_AVX2
}  // namespace test_avx2
#endif
#if TEST_GEMM_AVX2 == 2
#pragma GCC pop_options
#endif
namespace test_generic {
#define LSTMCORE_GEMM_AVX2 0
#include "../src/gemm_kernels.inc"
#undef LSTMCORE_GEMM_AVX2
}  // namespace test_generic
}  // namespace gemm
}  // namespace lstmcore

using namespace lstmcore;
using gemm::Index;

namespace {

// ---------------------------------------------------------------------------------------------
// naive: LstmLayer == naive_layer_forward / naive_layer_backward

double rel_diff(const Vec& a, const Vec& b) {
  double scale = 1.0;
  for (double v : b) scale = std::max(scale, std::fabs(v));
  return max_abs_diff(a, b) / scale;
}

void test_naive_layer() {
  std::mt19937_64 rng(7);
  constexpr double kTol = 1e-10;
  int cases = 0, proj_cases = 0;
  for (int rep = 0; rep < 160; ++rep) {
    LstmLayerDims d;
    d.input_size = 1 + rng() % 4;
    d.hidden_size = (rep % 4 == 0) ? 9 + rng() % 8 : 1 + rng() % 6;  // some H past one SIMD packet
    d.bias = rng() % 2;
    d.peepholes = rng() % 2;
    d.reverse = rng() % 2;
    // a projection in about one case of three (P in 1 .. H-1)
    d.proj_size = (rep % 3 == 1 && d.hidden_size > 1) ? 1 + rng() % (d.hidden_size - 1) : 0;
    const std::size_t I = d.input_size, H = d.hidden_size, P = d.proj_size, R = d.recurrent_size();
    const std::size_t T = std::size_t(1) + rng() % 40, N = (rep % 5 == 0) ? 17 + rng() % 24 : 1 + rng() % 6;
    const bool with_lengths = rng() % 2, with_state = rng() % 2, with_final_errors = rng() % 2;
    const bool truncated = rng() % 2;
    const int threads = 1 + int(rng() % 2);
    const Layer layer(rng, I, H, P);
    const LstmLayerParams<double> p = layer.params(d.bias, d.peepholes);
    const Vec x = random_vec(rng, T * N * I), h0 = random_vec(rng, N * R), c0 = random_vec(rng, N * H);
    const Vec go = random_vec(rng, T * N * R), ghn = random_vec(rng, N * R), gcn = random_vec(rng, N * H);
    std::vector<std::int64_t> lengths(N);
    for (auto& l : lengths) l = std::int64_t(rng() % (T + 1));
    lengths[0] = std::int64_t(T);
    if (N > 1) lengths[1] = 0;

    // fast
    LstmLayer<double> fast(d);
    Vec out(T * N * R), hn(N * R), cn(N * H);
    LstmForwardArgs<double> fa;
    fa.x = x.data(), fa.steps = T, fa.batch = N;
    if (with_state) fa.h0 = h0.data(), fa.c0 = c0.data();
    if (with_lengths) fa.lengths = lengths.data();
    fa.out = out.data(), fa.h_n = hn.data(), fa.c_n = cn.data();
    fast.forward(p, fa, threads);
    Vec gx(T * N * I), gh0(N * R), gc0(N * H);
    Grads g(I, H, P);
    LstmBackwardArgs<double> ba;
    ba.grad_out = go.data();
    if (with_final_errors) ba.grad_h_n = ghn.data(), ba.grad_c_n = gcn.data();
    ba.truncated = truncated;
    ba.grad_x = gx.data(), ba.grad_h0 = gh0.data(), ba.grad_c0 = gc0.data();
    fast.backward(p, ba, g.view(), threads);

    // naive
    NaiveLayerTape<double> tape;
    Vec r_out(T * N * R), r_hn(N * R), r_cn(N * H), r_gx(T * N * I), r_gh0(N * R), r_gc0(N * H);
    naive_layer_forward<double>(d, p, x.data(), T, N, fa.h0, fa.c0, fa.lengths, r_out.data(), r_hn.data(),
                                r_cn.data(), tape);
    Grads r(I, H, P);
    naive_layer_backward<double>(d, p, x.data(), T, N, tape, go.data(), ba.grad_h_n, ba.grad_c_n, truncated,
                                 r_gx.data(), r_gh0.data(), r_gc0.data(), r.view());

    const char* what = truncated ? "truncated" : "full";
    CHECKF(rel_diff(out, r_out) < kTol, "case %d out: %g", rep, rel_diff(out, r_out));
    CHECKF(rel_diff(hn, r_hn) < kTol && rel_diff(cn, r_cn) < kTol, "case %d h_n/c_n", rep);
    CHECKF(rel_diff(gx, r_gx) < kTol, "case %d (%s) grad_x: %g", rep, what, rel_diff(gx, r_gx));
    CHECKF(rel_diff(gh0, r_gh0) < kTol && rel_diff(gc0, r_gc0) < kTol, "case %d (%s) grad_h0/c0: %g %g", rep, what,
           rel_diff(gh0, r_gh0), rel_diff(gc0, r_gc0));
    CHECKF(rel_diff(g.W_ih, r.W_ih) < kTol && rel_diff(g.W_hh, r.W_hh) < kTol, "case %d (%s) dW: %g %g", rep, what,
           rel_diff(g.W_ih, r.W_ih), rel_diff(g.W_hh, r.W_hh));
    if (d.bias) CHECKF(rel_diff(g.b_ih, r.b_ih) < kTol && g.b_ih == g.b_hh, "case %d (%s) db", rep, what);
    if (d.peepholes)
      CHECKF(rel_diff(g.w_ci, r.w_ci) < kTol && rel_diff(g.w_cf, r.w_cf) < kTol && rel_diff(g.w_co, r.w_co) < kTol,
             "case %d (%s) peepholes", rep, what);
    if (P) {
      CHECKF(rel_diff(g.W_hr, r.W_hr) < kTol, "case %d (%s) dW_hr: %g", rep, what, rel_diff(g.W_hr, r.W_hr));
      ++proj_cases;
    }
    if (truncated && with_lengths == false) {
      // the truncated gradient sends no error back in time through W_hh: grad_h0 = 0
      CHECKF(*std::max_element(gh0.begin(), gh0.end()) == 0.0 && *std::min_element(gh0.begin(), gh0.end()) == 0.0,
             "case %d: truncated grad_h0 not 0", rep);
    }
    ++cases;
  }
  // backward without a forward, and missing outputs, are refused
  LstmLayerDims d;
  LstmLayer<double> layer(d);
  Grads g(1, 1);
  LstmBackwardArgs<double> ba;
  bool threw = false;
  try {
    layer.backward(Layer(rng, 1, 1).params(true, false), ba, g.view(), 1);
  } catch (const std::logic_error&) {
    threw = true;
  }
  CHECKF(threw, "backward without forward did not throw");
  // a projection as wide as the cell state (or wider) is refused, naming proj_size
  for (std::size_t bad : {std::size_t(4), std::size_t(5)}) {
    LstmLayerDims dp;
    dp.hidden_size = 4;
    dp.proj_size = bad;
    bool refused = false;
    try {
      LstmLayer<double> l(dp);
    } catch (const std::invalid_argument& e) {
      refused = std::string(e.what()).find("proj_size") != std::string::npos;
    }
    CHECKF(refused, "proj_size %zu >= hidden_size 4 was not refused", bad);
  }
  std::printf("  %d random layers (%d with a projection): forward, exact and truncated backward == naive kernel\n",
              cases, proj_cases);
}

// ---------------------------------------------------------------------------------------------
// gemm: micro-kernels vs a triple loop

template <typename Scalar>
struct GemmCase {
  Index M, K, N;
  std::vector<Scalar> a, b, c0;  // A [M, K] (row-major), B [K, N], C [M, N] before the product
};

// C += A B by a triple loop in long double, then rounded.
template <typename Scalar>
std::vector<Scalar> triple_loop(const GemmCase<Scalar>& g) {
  std::vector<Scalar> c = g.c0;
  for (Index m = 0; m < g.M; ++m)
    for (Index j = 0; j < g.N; ++j) {
      long double s = g.c0[std::size_t(m * g.N + j)];
      for (Index k = 0; k < g.K; ++k)
        s += (long double)g.a[std::size_t(m * g.K + k)] * (long double)g.b[std::size_t(k * g.N + j)];
      c[std::size_t(m * g.N + j)] = Scalar(s);
    }
  return c;
}

template <typename Scalar>
double gemm_err(const std::vector<Scalar>& c, const std::vector<Scalar>& ref, Index K) {
  double worst = 0;
  for (std::size_t i = 0; i < c.size(); ++i)
    worst = std::max(worst, std::fabs(double(c[i]) - double(ref[i])) / (1.0 + std::fabs(double(ref[i]))));
  return worst / double(K + 1);
}

// Runs gemm_panels_impl (as the layer calls it: A row-major; whole product and split into a row range
// plus a panel range) and gemm_rows_outer_impl (A transposed, as backward's weight gradient) of one
// kernel set.
template <typename Scalar, typename PanelsFn, typename RowsOuterFn>
void check_kernels(const char* isa, PanelsFn panels, RowsOuterFn rows_outer, int& count) {
  constexpr Index P = gemm::kPanel<Scalar>;
  const double tol = sizeof(Scalar) == 4 ? 2e-7 : 1e-15;
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(-1, 1);
  const Index row_counts[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 17, 25};
  const Index col_counts[] = {1, P / 2 - 1, P / 2, P / 2 + 1, P, P + 3, 2 * P, 3 * P - 1, 3 * P + P / 2, 4 * P};
  const Index depths[] = {1, 3, 15, 16, 17, 31, 64};  // around the short-K switch (16)
  for (Index M : row_counts)
    for (Index N : col_counts)
      for (Index K : depths) {
        GemmCase<Scalar> g{M, K, N, {}, {}, {}};
        g.a.resize(std::size_t(M * K));
        g.b.resize(std::size_t(K * N));
        g.c0.resize(std::size_t(M * N));
        for (auto* v : {&g.a, &g.b, &g.c0})
          for (auto& e : *v) e = Scalar(u(rng));
        const std::vector<Scalar> ref = triple_loop(g);
        const Index np = gemm::panels_of<Scalar>(N);
        std::vector<Scalar> bp(std::size_t(gemm::packed_size<Scalar>(K, N)));
        gemm::pack_b(g.b.data(), N, Index(1), K, N, bp.data(), 0, np);
        for (bool one_row : {true, false}) {
          std::vector<Scalar> c = g.c0;
          panels(0, M, K, g.a.data(), K, Index(1), bp.data(), N, 0, np, c.data(), N, one_row);
          const double e = gemm_err(c, ref, K);
          CHECKF(e < tol, "%s gemm_panels %s M%ld N%ld K%ld one_row %d: %g", isa, sizeof(Scalar) == 4 ? "f32" : "f64",
                 long(M), long(N), long(K), int(one_row), e);
        }
        {
          // the same product in pieces: rows [0, m1) x panels [0, p1), then the rest
          std::vector<Scalar> c = g.c0;
          const Index m1 = M / 2, p1 = np / 2;
          panels(0, m1, K, g.a.data(), K, Index(1), bp.data(), N, 0, p1, c.data(), N, false);
          panels(0, m1, K, g.a.data(), K, Index(1), bp.data(), N, p1, np, c.data(), N, false);
          panels(m1, M, K, g.a.data(), K, Index(1), bp.data(), N, 0, np, c.data(), N, false);
          CHECKF(gemm_err(c, ref, K) < tol, "%s gemm_panels in pieces M%ld N%ld K%ld", isa, long(M), long(N),
                 long(K));
        }
        {
          // A read transposed: A(m, k) = at[k * M + m] (stride 1 between rows, M between k)
          std::vector<Scalar> at(std::size_t(M * K));
          for (Index m = 0; m < M; ++m)
            for (Index k = 0; k < K; ++k) at[std::size_t(k * M + m)] = g.a[std::size_t(m * K + k)];
          std::vector<Scalar> c = g.c0;
          rows_outer(0, M, K, at.data(), Index(1), M, bp.data(), N, c.data(), N);
          CHECKF(gemm_err(c, ref, K) < tol, "%s gemm_rows_outer M%ld N%ld K%ld: %g", isa, long(M), long(N), long(K),
                 gemm_err(c, ref, K));
        }
        ++count;
      }
}

template <typename Scalar>
void check_both(int& avx2_cases, int& generic_cases) {
  check_kernels<Scalar>("generic", gemm::test_generic::gemm_panels_impl<Scalar>,
                        gemm::test_generic::gemm_rows_outer_impl<Scalar>, generic_cases);
#if TEST_GEMM_AVX2
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    check_kernels<Scalar>("avx2", gemm::test_avx2::gemm_panels_impl<Scalar>,
                          gemm::test_avx2::gemm_rows_outer_impl<Scalar>, avx2_cases);
#endif
}

void test_gemm() {
  int avx2_cases = 0, generic_cases = 0;
  check_both<float>(avx2_cases, generic_cases);
  check_both<double>(avx2_cases, generic_cases);
  std::printf("  shapes checked: %d with the plain C++ kernels, %d with the AVX2+FMA kernels%s\n", generic_cases,
              avx2_cases, avx2_cases ? "" : " (not available on this CPU or compiler)");
  CHECK(generic_cases > 0);
}

}  // namespace

int main(int argc, char** argv) {
  return run_test_groups(argc, argv, {{"naive", test_naive_layer}, {"gemm", test_gemm}});
}
