#!/usr/bin/env bash
# The torch-style layer (lstmcore_bench fwd / fwdbwd) built for this CPU (-march=native, the
# default) and for the x86-64 baseline (-DLSTMCORE_NATIVE=OFF: GEMM kernels chosen at run time,
# pointwise code SSE2), plus the baseline build forced onto its plain C++ kernels
# (LSTMCORE_GEMM=generic, what a CPU without AVX2 runs), in one run on one machine.
# Usage: bash bench/layer_native_vs_portable.sh [--repeats 11] [--threads 2]
# Needs cmake, ninja and Eigen (pip install cmake ninja cmeel-eigen).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
prefix=$(python3 -m cmeel cmake 2>/dev/null || true)
for kind in native portable; do
  native=ON; [ "$kind" = portable ] && native=OFF
  cmake -S . -B "build-bench-$kind" -G Ninja -DLSTMCORE_BUILD_BENCH=ON -DLSTMCORE_NATIVE=$native \
    ${prefix:+-DCMAKE_PREFIX_PATH=$prefix} > /dev/null
  cmake --build "build-bench-$kind" -j2 --target lstmcore_bench > /dev/null
done
shapes=("--I 64 --H 128 --N 32 --T 100" "--I 256 --H 512 --N 64 --T 100" "--I 64 --H 128 --N 32 --T 100 --dtype f64"
        "--I 8 --H 8 --N 1 --T 1000 --threads 1")
for shape in "${shapes[@]}"; do
  for mode in fwd fwdbwd; do
    for kind in native portable generic; do
      bin="build-bench-$kind/bench/lstmcore_bench"; env=()
      [ "$kind" = generic ] && bin="build-bench-portable/bench/lstmcore_bench" && env=(LSTMCORE_GEMM=generic)
      # shellcheck disable=SC2086
      printf '%-9s %s\n' "$kind" "$(env "${env[@]}" "$bin" "$mode" "$@" $shape | tail -n 1)"
    done
  done
done
