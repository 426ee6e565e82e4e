#!/usr/bin/env bash
# Online RTRL training speed of the paper's nets, built for this CPU (-march=native, the default)
# and for the x86-64 baseline (-DLSTMCORE_NATIVE=OFF), in one run on one machine.
# Usage: bash bench/rtrl_native_vs_portable.sh [lstmcore_bench rtrl options, e.g. --repeats 9]
# Needs cmake, ninja and Eigen (pip install cmake ninja cmeel-eigen).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for kind in native portable; do
  native=ON; [ "$kind" = portable ] && native=OFF
  cmake -S . -B "build-bench-$kind" -G Ninja -DLSTMCORE_BUILD_BENCH=ON -DLSTMCORE_NATIVE=$native > /dev/null
  cmake --build "build-bench-$kind" -j2 --target lstmcore_bench > /dev/null
done
for dtype in f64 f32; do
  for kind in native portable; do
    echo "=== $kind build, $dtype"
    "build-bench-$kind/bench/lstmcore_bench" rtrl --dtype "$dtype" "$@"
  done
done
