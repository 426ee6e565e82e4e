#!/usr/bin/env bash
# The torch-style layer (lstmcore_bench fwd / fwdbwd): the default build, which chooses its ISA
# level at start-up ("portable": the CPU's best level; "portable-v3": LSTMCORE_ISA=v3, what an AVX2
# CPU without AVX-512 runs; "baseline": LSTMCORE_ISA=baseline, the plain C++ kernels and SSE2, what
# any x86-64 runs), against a native build (-DLSTMCORE_NATIVE=ON, -march=native). The builds
# alternate, round after round; the table gives medians over rounds of the benchmark's median
# process CPU time in ms (one thread: what the code costs, not how long it waited for a core of a
# shared machine) and the ratios to native with their per-round spread.
# Usage: ROUNDS=11 KINDS="native portable portable-v3 baseline" bash bench/layer_native_vs_portable.sh
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
kinds=${KINDS:-native portable portable-v3 baseline}
# (SHAPES: other shapes, ";"-separated; a large one such as "--I 256 --H 512 --N 64 --T 100" spends
# most of its time in the benchmark's check against the naive kernel)
IFS=';' read -r -a shapes <<< "${SHAPES:---I 64 --H 128 --N 32 --T 100;--I 64 --H 128 --N 32 --T 100 --dtype f64;--I 8 --H 8 --N 1 --T 1000}"
for round in $(seq "$rounds"); do
  for shape in "${shapes[@]}"; do
    for mode in fwd fwdbwd; do
      for kind in $kinds; do
        bin="$native_dir/bench/lstmcore_bench"; env=()
        case $kind in
          portable) bin="$portable_dir/bench/lstmcore_bench" ;;
          portable-v3) bin="$portable_dir/bench/lstmcore_bench"; env=(LSTMCORE_ISA=v3) ;;
          baseline) bin="$portable_dir/bench/lstmcore_bench"; env=(LSTMCORE_ISA=baseline) ;;
        esac
        # shellcheck disable=SC2086
        # the process CPU time (median over repeats): what the code costs, not how long it waited for
        # a core of the shared machine; with --threads 1 (the default here) it is the single thread's
        ms=$(env "${env[@]}" "$bin" "$mode" --repeats 5 --threads 1 "$@" $shape | tail -n 1 |
             sed -E 's/.*process CPU time median ([0-9.]+) ms.*/\1/')
        echo "$round $kind $mode ${shape//--/} $ms" >> "$times"
      done
    done
  done
done
echo "lstmcore_bench fwd/fwdbwd, process CPU time ms, 1 thread (lower is better), $rounds rounds; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
python3 bench/alternating_table.py "$times" ms
