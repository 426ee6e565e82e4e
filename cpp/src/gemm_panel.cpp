// The layer's GEMM (detail/gemm_panel.hpp): the micro-kernels compiled once per instruction set and the
// choice between them.
//
// - A build for an AVX2+FMA CPU (the default -march=native on such a machine) compiles only the
//   AVX2 kernels and always runs them.
// - A portable x86-64 build (LSTMCORE_NATIVE=OFF, e.g. a wheel for any x86-64 CPU) compiles both
//   the AVX2 kernels (for this file's functions only, via the GCC target pragma) and the plain C++
//   ones, and picks once, at the first call, from what the running CPU supports
//   (LSTMCORE_GEMM=generic in the environment forces the plain kernels, for testing them).
// - Any other build runs the plain C++ kernels.
#include "lstmcore/detail/gemm_panel.hpp"

#include <cstdlib>
#include <string>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace lstmcore {
namespace gemm {

#if defined(__AVX2__) && defined(__FMA__)
#define LSTMCORE_GEMM_MODE 1  // AVX2 by build
#elif defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LSTMCORE_GEMM_MODE 2  // both, chosen at run time
#else
#define LSTMCORE_GEMM_MODE 0  // plain C++ only
#endif

#if LSTMCORE_GEMM_MODE == 2
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#if LSTMCORE_GEMM_MODE >= 1
namespace avx2 {
#define LSTMCORE_GEMM_AVX2 1
#include "gemm_kernels.inc"
#undef LSTMCORE_GEMM_AVX2
}  // namespace avx2
#endif
#if LSTMCORE_GEMM_MODE == 2
#pragma GCC pop_options
#endif

#if LSTMCORE_GEMM_MODE != 1
namespace generic {
#define LSTMCORE_GEMM_AVX2 0
#include "gemm_kernels.inc"
#undef LSTMCORE_GEMM_AVX2
}  // namespace generic
#endif

namespace {
#if LSTMCORE_GEMM_MODE == 2
// The CPU has AVX2 and FMA, and the environment does not ask for the plain kernels
// (LSTMCORE_GEMM=generic: for testing them on an AVX2 machine).
bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          !(std::getenv("LSTMCORE_GEMM") && std::string(std::getenv("LSTMCORE_GEMM")) == "generic");
  return has;
}
#endif
}  // namespace

template <typename Scalar>
void gemm_panels(Index m0, Index m1, Index K, const Scalar* a, Index sm, Index sk, const Scalar* bp, Index N,
                 Index p0, Index p1, Scalar* C, Index ldc, bool one_row) {
#if LSTMCORE_GEMM_MODE == 1
  avx2::gemm_panels_impl<Scalar>(m0, m1, K, a, sm, sk, bp, N, p0, p1, C, ldc, one_row);
#elif LSTMCORE_GEMM_MODE == 2
  if (cpu_has_avx2())
    avx2::gemm_panels_impl<Scalar>(m0, m1, K, a, sm, sk, bp, N, p0, p1, C, ldc, one_row);
  else
    generic::gemm_panels_impl<Scalar>(m0, m1, K, a, sm, sk, bp, N, p0, p1, C, ldc, one_row);
#else
  generic::gemm_panels_impl<Scalar>(m0, m1, K, a, sm, sk, bp, N, p0, p1, C, ldc, one_row);
#endif
}

template <typename Scalar>
void gemm_rows_outer(Index m0, Index m1, Index K, const Scalar* a, Index sm, Index sk, const Scalar* bp, Index N,
                     Scalar* C, Index ldc) {
#if LSTMCORE_GEMM_MODE == 1
  avx2::gemm_rows_outer_impl<Scalar>(m0, m1, K, a, sm, sk, bp, N, C, ldc);
#elif LSTMCORE_GEMM_MODE == 2
  if (cpu_has_avx2())
    avx2::gemm_rows_outer_impl<Scalar>(m0, m1, K, a, sm, sk, bp, N, C, ldc);
  else
    generic::gemm_rows_outer_impl<Scalar>(m0, m1, K, a, sm, sk, bp, N, C, ldc);
#else
  generic::gemm_rows_outer_impl<Scalar>(m0, m1, K, a, sm, sk, bp, N, C, ldc);
#endif
}

const char* kernel_isa() {
#if LSTMCORE_GEMM_MODE == 1
  return "avx2+fma (build)";
#elif LSTMCORE_GEMM_MODE == 2
  return cpu_has_avx2() ? "avx2+fma (run-time dispatch)" : "generic (run-time dispatch: no AVX2+FMA)";
#else
  return "generic";
#endif
}

template void gemm_panels<float>(Index, Index, Index, const float*, Index, Index, const float*, Index, Index, Index,
                                 float*, Index, bool);
template void gemm_panels<double>(Index, Index, Index, const double*, Index, Index, const double*, Index, Index,
                                  Index, double*, Index, bool);
template void gemm_rows_outer<float>(Index, Index, Index, const float*, Index, Index, const float*, Index, float*,
                                     Index);
template void gemm_rows_outer<double>(Index, Index, Index, const double*, Index, Index, const double*, Index,
                                      double*, Index);

}  // namespace gemm
}  // namespace lstmcore
