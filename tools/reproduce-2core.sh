#!/usr/bin/env bash
# The LSTM runs behind docs/REPRODUCTION.md on a 2-core machine: one queue of rows, two trials at a
# time (--jobs 2), all appending to one JSONL file (resumable: rerun this script and finished
# trials are kept), at nice -n 19 on cores shared with three other engineers' builds and tests.
#
# What ran on 2026-12-06 with the batched trial engine, against the paper's protocol (the
# paper's trial count in brackets), in about 75 minutes of two shared cores:
#   - with the paper's trial counts and the registry's budgets (the paper's where it states one):
#       3a-T100-N3, 3a-T100-N1, 3b-T100-N3, 3b-T100-N1 (10 [10] each, 1 million),
#       3c-T100-N3, 3c-T100-N1 (10 [10], 5 million), 6a (20 [20], 500,000),
#       4-T100 with the linear output unit (10 [10], 5 million), Exp. 1's five rows (30 [30] each,
#       200,000 strings), 2c-q50-p50 (20 [20], 5 million), 2a (18 [18], 5 million),
#       6b (10 [10], 3 million: the paper's), 4-T100 with the logistic output unit of the text
#       (10 [10], 5 million).
# The queue was stopped there, at the end of the time available (one trial of 5-T100 with a
# 3-million budget had finished; it is not in the report, which keeps the earlier 3 trials).
# The other rows were not rerun in the time: the report keeps their trials from the run of
# 2026-11-30 with the earlier trial engine (Python per sequence, another exemplar stream), with its
# reductions: 5-T100 (3 [10], 2 million), 2b (1 [18], 50,000: it does not learn, see FINDINGS),
# 2c-q100-p100 (3 [20], 1 million), 2c-q200-p200 (3 [20], 500,000), 2c-q500-p500 (1 [20],
# 200,000), 2c-q1000-p1000 (1 [20], 100,000), 2c-q1000-p500 (1 [20], 150,000), 2c-q1000-p200,
# -p100, -p50 (2 [20] each, 150,000), 3a-T1000-N3 (3 [10], 1 million), 3b-T1000-N1 (2 [10],
# 1 million), 4-T500 (1 [10], 1.5 million) and 4-T1000 (2 [10], 2 million), both with the linear
# output unit. The reason for every reduction is compute: one trial of these rows takes 5-30
# core-minutes here, and the whole paper at its budgets would take ~1,000 core-hours
# (`lstmcore reproduce all --estimate`). The queue below continues with them: rerun this script
# and the finished trials are kept. Exp. 4 at T = 500 and 1000 runs with the linear output unit
# only: it reproduces the paper's pace at T = 100, where the logistic unit of the text is 25x
# slower (as an independent implementation found).
#
# Usage: bash tools/reproduce-2core.sh [results-dir]   (default: results/)
# Report: lstmcore report --results results/lstm.jsonl --results <the trials kept: the competitor
#         rows and the rows above not rerun> --archive docs/data/reproduction-trials.jsonl
#         --out docs/REPRODUCTION.md (an archive keeps one record per run key and trial; trials
#         of an older definition of a rerun row are left out of the kept file so that a row is
#         not reported twice). The report's "Regenerate" line gives the command from the archive.
set -u
dir=${1:-results}
mkdir -p "$dir"
run() {
  echo "== $(date -u +%H:%M:%S) lstmcore reproduce $*"
  nice -n 19 lstmcore reproduce "$@" --jobs 2 --results "$dir/lstm.jsonl" </dev/null
}
{
  run 3a-T100-N3; run 3a-T100-N1; run 3b-T100-N3; run 3b-T100-N1
  run 6a
  run 4-T100 --set out_activation=linear
  run 3c-T100-N3; run 3c-T100-N1
  run 1
  run 2c-q50-p50
  run 2a
  run 6b
  run 4-T100
  run 5-T100 --set max_sequences=3000000
  run 2b --set max_sequences=50000
  run 2c-q100-p100 --set max_sequences=1000000
  run 4-T500 --set out_activation=linear --set max_sequences=2000000
  run 2c-q200-p200 --trials 6 --set max_sequences=500000
  run 3a-T1000-N3 --set max_sequences=2000000
  run 3b-T1000-N1 --trials 4 --set max_sequences=1000000
  run 4-T1000 --trials 4 --set out_activation=linear --set max_sequences=2000000
  run 2c-q1000-p50 --trials 2 --set max_sequences=150000
  run 2c-q1000-p100 --trials 2 --set max_sequences=150000
  run 2c-q1000-p200 --trials 2 --set max_sequences=150000
  run 2c-q500-p500 --trials 1 --set max_sequences=200000
  run 2c-q1000-p500 --trials 1 --set max_sequences=150000
  run 2c-q1000-p1000 --trials 1 --set max_sequences=100000
} >> "$dir/lstm.log" 2>&1
