// The layer's GEMM (detail/gemm_panel.hpp): the micro-kernels of this copy of the core.
//
// The instruction set is the build's: a copy of the core compiled for x86-64-v3 or x86-64-v4 (or
// with -march=native on an AVX2+FMA CPU) runs the AVX2+FMA kernels, the x86-64 baseline copy runs
// the plain C++ ones. Which copy a process runs is chosen once, at import or start-up
// (lstmcore/isa.hpp); LSTMCORE_GEMM=generic asks for the plain kernels by choosing the baseline copy.
#include "lstmcore/detail/gemm_panel.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define LSTMCORE_GEMM_USE_AVX2 1
#else
#define LSTMCORE_GEMM_USE_AVX2 0
#endif

#ifndef LSTMCORE_ISA_LEVEL_NAME
#define LSTMCORE_ISA_LEVEL_NAME "unknown"
#endif

namespace lstmcore {
namespace gemm {

#if LSTMCORE_GEMM_USE_AVX2
namespace avx2 {
#define LSTMCORE_GEMM_AVX2 1
#include "gemm_kernels.inc"
#undef LSTMCORE_GEMM_AVX2
}  // namespace avx2
namespace kernels = avx2;
#else
namespace generic {
#define LSTMCORE_GEMM_AVX2 0
#include "gemm_kernels.inc"
#undef LSTMCORE_GEMM_AVX2
}  // namespace generic
namespace kernels = generic;
#endif

template <typename Scalar>
void gemm_panels(Index m0, Index m1, Index K, const Scalar* a, Index sm, Index sk, const Scalar* bp, Index N,
                 Index p0, Index p1, Scalar* C, Index ldc, bool one_row) {
  kernels::gemm_panels_impl<Scalar>(m0, m1, K, a, sm, sk, bp, N, p0, p1, C, ldc, one_row);
}

template <typename Scalar>
void gemm_rows_outer(Index m0, Index m1, Index K, const Scalar* a, Index sm, Index sk, const Scalar* bp, Index N,
                     Scalar* C, Index ldc) {
  kernels::gemm_rows_outer_impl<Scalar>(m0, m1, K, a, sm, sk, bp, N, C, ldc);
}

namespace {
// "native" (-march=native): "(build)"; a level of a dispatching build: "(x86-64-v3)"
constexpr bool kNativeBuild = sizeof(LSTMCORE_ISA_LEVEL_NAME) == sizeof("native") &&
                              LSTMCORE_ISA_LEVEL_NAME[0] == 'n';
}  // namespace

const char* kernel_isa() {
#if LSTMCORE_GEMM_USE_AVX2
  return kNativeBuild ? "avx2+fma (build)" : "avx2+fma (" LSTMCORE_ISA_LEVEL_NAME ")";
#else
  return kNativeBuild ? "generic (build)" : "generic (" LSTMCORE_ISA_LEVEL_NAME ")";
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
