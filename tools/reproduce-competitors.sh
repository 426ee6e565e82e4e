#!/usr/bin/env bash
# The competitor runs behind the comparison section of docs/REPRODUCTION.md: two lanes of trials,
# one core each, each appending to its own JSONL file (resumable: rerun and finished trials are kept).
#
# Reduced against the paper for compute (the comparison had about 30 minutes of one core):
#   - Table 2, RTRL p = 4: 6 trials per learning rate instead of 18, each capped at 2 million
#     sequences (the paper: 5 million; its mean successes came at 0.25-1.04 million);
#   - RTRL p = 10: 6 trials per end of the paper's 1.0-10.0 range, capped at 1 million (the paper:
#     none of its trials succeeded within 5 million);
#   - RTRL and BPTT p = 100: 3 trials per end of the range, capped at 30,000 sequences (6x LSTM's
#     mean of 5,040; the paper: none succeeded within 5 million; a trial costs ~0.5 ms a sequence);
#   - the chunker (CH) p = 100: 6 trials capped at 50,000 (the paper: 3 trials, 1 success at 32,400);
#   - Table 1: 10 trials (data set 0 x 10 initialisations) instead of 30, 6 for RTRL with 12 units
#     (its O(n^4) RTRL costs ~0.2 ms a string); the rows' own budget of 200,000 strings;
#   - random guessing on 3a/3b (T = 100): 5 trials per row capped at 50,000 guesses.
#
# Usage: bash tools/reproduce-competitors.sh [results-dir]   (default: results/)
# Report: lstmcore report --results docs/data/reproduction-trials.jsonl --results results/competitors-a.jsonl
#         --results results/competitors-b.jsonl --archive docs/data/reproduction-trials.jsonl
set -u
dir=${1:-results}
mkdir -p "$dir"
run() {  # run <lane> <selector> [args...]
  local lane=$1; shift
  echo "== $(date -u +%H:%M:%S) lane $lane: lstmcore reproduce $*"
  nice -n 19 lstmcore reproduce "$@" --jobs 1 --results "$dir/competitors-$lane.jsonl" </dev/null
}
lane_a() {
  run a 2a-rtrl-p4-lr1 --trials 6 --set max_sequences=2000000
  run a 2a-rtrl-p4-lr4 --trials 6 --set max_sequences=2000000
  run a 2a-rtrl-p4-lr10 --trials 6 --set max_sequences=2000000
  run a 2a-rtrl-p10-lr1 --trials 6 --set max_sequences=1000000
  run a 2a-rtrl-p10-lr10 --trials 6 --set max_sequences=1000000
  for row in 3a-T100-N3 3a-T100-N1 3b-T100-N3 3b-T100-N1; do
    run a "$row-guess" --trials 5 --set max_sequences=50000
  done
}
lane_b() {
  run b 1-rtrl-3 --trials 10
  run b 1-elm-15 --trials 10
  run b 1-rcc --trials 10
  run b 1-rtrl-12 --trials 6
  run b 2a-ch-p100-lr1 --trials 6 --set max_sequences=50000
  for row in 2a-rtrl-p100-lr1 2a-rtrl-p100-lr10 2a-bptt-p100-lr1 2a-bptt-p100-lr10; do
    run b "$row" --trials 3 --set max_sequences=30000
  done
}
lane_a > "$dir/competitors-a.log" 2>&1 &
lane_b > "$dir/competitors-b.log" 2>&1 &
wait
