#!/usr/bin/env bash
# Online RTRL training speed of the paper's nets (lstmcore_bench rtrl): the default build, which
# chooses its ISA level at start-up ("portable": the CPU's best level; "portable-v3": forced to
# x86-64-v3 with LSTMCORE_ISA=v3, what an AVX2 CPU without AVX-512 runs), against a native build
# (-DLSTMCORE_NATIVE=ON, -march=native). The builds alternate, round after round, so that a slow
# minute of the shared machine hits them alike; the table gives medians over rounds of the
# benchmark's ns/step (thread CPU time: --clock cpu) and the ratios to native with their per-round spread.
# Usage: ROUNDS=15 bash bench/rtrl_native_vs_portable.sh [lstmcore_bench rtrl options, e.g. --steps 50000]
# Needs cmake, ninja and Eigen (pip install cmake ninja cmeel-eigen).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
prefix=$(python3 -m cmeel cmake 2>/dev/null || true)
# the two build trees (NATIVE_DIR, PORTABLE_DIR: reuse existing trees configured with the bench)
native_dir=${NATIVE_DIR:-build-bench-native}
portable_dir=${PORTABLE_DIR:-build-bench-portable}
for kind in native portable; do
  native=ON; dir=$native_dir; [ "$kind" = portable ] && native=OFF dir=$portable_dir
  cmake -S . -B "$dir" -G Ninja -DLSTMCORE_BUILD_BENCH=ON -DLSTMCORE_NATIVE=$native \
    ${prefix:+-DCMAKE_PREFIX_PATH=$prefix} > /dev/null
  cmake --build "$dir" -j2 --target lstmcore_bench > /dev/null
done
times=$(mktemp)
trap 'rm -f "$times"' EXIT
rounds=${ROUNDS:-11}
for round in $(seq "$rounds"); do
  for dtype in f64 f32; do
    for kind in native portable portable-v3; do
      bin="$native_dir/bench/lstmcore_bench"; env=()
      [ "$kind" != native ] && bin="$portable_dir/bench/lstmcore_bench"
      [ "$kind" = portable-v3 ] && env=(LSTMCORE_ISA=v3)
      # the result rows: net, configuration..., weights, ns/step, steps/s, ns/weight-step, naive, ratio, err
      env "${env[@]}" "$bin" rtrl --dtype "$dtype" --steps 50000 --repeats 3 --clock cpu "$@" |
        awk -v r="$round" -v k="$kind" -v d="$dtype" '$1 ~ /^exp/ { print r, k, $1 " " d, $(NF-5) }' >> "$times"
    done
  done
done
echo "lstmcore_bench rtrl, ns/step (lower is better), $rounds rounds; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
python3 bench/alternating_table.py "$times" ns/step
