"""Which reading of Experiment 1 reproduces the paper? Runs each named reading with the paper's
protocol (3 training/test set pairs x 10 initialisations) and writes a markdown report.

    python -m lstmcore.experiments.reber_readings --results results/reber.jsonl --report docs/EXPERIMENT1.md

Finished trials are appended to the JSONL file as they end; a rerun skips them (resume).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any, Dict, List

from .reber import PAPER_TABLE_1, run_reber_experiment, summarize_reber
from .results import end_torn_line, load_records

#: name -> (description, run_reber_trial keyword arguments). "paper" is the reading of the text.
READINGS: Dict[str, tuple] = {
    "paper": ("the paper's text: distinct strings, one-hot next-symbol targets, per-step updates, "
              "strict test, g in [-2,2], h in [-1,1], random input-gate biases", {}),
    "repeats": ("training/test strings drawn with repeats allowed (mean length 12)", dict(distinct=False)),
    "argmax": ("lenient test: the most active output is a legal next symbol", dict(test="argmax")),
    "legal-targets": ("targets mark every legal next symbol", dict(targets="legal")),
    "per-string": ("one weight update per string (summed truncated gradient)", dict(update="sequence")),
    "full-gradient": ("exact BPTT gradient, one update per string", dict(update="sequence", gradient="full")),
    "legend": ("Table 10 legend's ranges: g in [-1,1], h in [-2,2]", dict(squash="legend")),
    "igb": ("input-gate biases -1,-2,-3 (the drift remedy of Exp. 3-6)", dict(input_gate_bias=[-1.0, -2.0, -3.0])),
    "legend+igb": ("legend ranges and input-gate biases -1,-2,-3",
                   dict(squash="legend", input_gate_bias=[-1.0, -2.0, -3.0])),
    "repeats+legend+igb": ("repeats allowed, legend ranges, input-gate biases -1,-2,-3",
                           dict(distinct=False, squash="legend", input_gate_bias=[-1.0, -2.0, -3.0])),
    "full+legend": ("exact gradient, one update per string, legend ranges",
                    dict(update="sequence", gradient="full", squash="legend")),
    "full+repeats": ("exact gradient, one update per string, repeats allowed",
                     dict(update="sequence", gradient="full", distinct=False)),
}


def run(readings: List[str], *, max_sequences: int, data_seeds, init_seeds, jobs: int, results_path: str,
        blocks: int = 3, cells_per_block: int = 2, lr: float = 0.5) -> Dict[str, List[Dict[str, Any]]]:
    done = load(results_path) if os.path.exists(results_path) else []
    os.makedirs(os.path.dirname(os.path.abspath(results_path)), exist_ok=True)
    out: Dict[str, List[Dict[str, Any]]] = {}
    end_torn_line(results_path)
    with open(results_path, "a") as sink:
        for name in readings:
            kwargs = dict(READINGS[name][1], blocks=blocks, cells_per_block=cells_per_block, lr=lr,
                          max_sequences=max_sequences)
            if kwargs.get("input_gate_bias") is not None:  # -1, -2, ... one per block
                kwargs["input_gate_bias"] = [-float(j + 1) for j in range(blocks)]
            # finished trials of this reading and these settings are kept, the rest run
            finished = {(r["config"]["data_seed"], r["config"]["init_seed"]): r for r in done
                        if r["reading"] == name and all(r["config"].get(k) == v for k, v in kwargs.items())}
            results = [finished[(d, i)] for d in data_seeds for i in init_seeds if (d, i) in finished]
            pairs = [(d, i) for d in data_seeds for i in init_seeds if (d, i) not in finished]
            t0 = time.time()

            def save(r, name=name):
                r = dict(r, reading=name)
                sink.write(json.dumps(r) + "\n")
                sink.flush()
                results.append(r)
                ok = sum(x["success"] for x in results)
                print(f"  {name}: {len(results)} trials, {ok} successes ({time.time() - t0:.0f} s)", file=sys.stderr)

            # one experiment call per data seed keeps the (data, init) grid without redoing finished trials
            for d in sorted({p[0] for p in pairs}):
                inits = [i for dd, i in pairs if dd == d]
                run_reber_experiment(data_seeds=[d], init_seeds=inits, jobs=jobs, on_result=save, **kwargs)
            out[name] = results
    return out


def load(results_path: str) -> List[Dict[str, Any]]:
    """Every trial in a results file (torn lines are skipped with a ResultsFileWarning)."""
    return load_records(results_path)


def report(rows: List[Dict[str, Any]], *, command: str) -> str:
    """Markdown table: one line per (net, learning rate, reading, budget) found in `rows`."""
    groups: Dict[tuple, List[Dict[str, Any]]] = {}
    for r in rows:
        c = r["config"]
        groups.setdefault((c["blocks"], c["cells_per_block"], c["lr"], r["reading"], c["max_sequences"]), []).append(r)
    order = {name: i for i, name in enumerate(READINGS)}
    lines = [
        "| net | lr | reading | success | mean strings to success (range) | paper | long lag learned | step accuracy | train string length | CPU time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(groups, key=lambda k: (-k[0], k[2], order.get(k[3], 99), k[4])):
        blocks, cells, lr, name, budget = key
        s = summarize_reber(groups[key])
        paper = PAPER_TABLE_1.get((blocks, cells, lr))
        paper_text = f"{paper[0]:.0f} %, {paper[1]:,.0f}" if paper else "–"
        mean = (f"{s['mean_sequences']:,.0f} ({s['min_sequences']:,}–{s['max_sequences']:,})"
                if s["successes"] else "–")
        lines.append(f"| {blocks}×{cells} | {lr} | {name} | {s['successes']}/{s['trials']} ({s['success_percent']:.0f} %) "
                     f"| {mean} | {paper_text} | {s['long_lag_learned']}/{s['trials']} | {s['mean_step_accuracy']:.3f} "
                     f"| {s['mean_train_len']:.1f} | {s['seconds'] / 60:.1f} min |")
    lines += ["", "Budget: " + ", ".join(sorted({f"{k[4]:,}" for k in groups})) + " training strings per trial; "
              "trials = 3 training/test set pairs × 10 initialisations.", "",
              "Readings:", ""]
    lines += [f"- **{name}**: {desc}" for name, (desc, _) in READINGS.items()
              if any(k[3] == name for k in groups)]
    lines += ["", f"Regenerate: `{command}`", "",
              f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}."]
    return "\n".join(lines) + "\n"


TRIAL_COLUMNS = ("reading", "blocks", "cells_per_block", "lr", "max_sequences", "data_seed", "init_seed", "success",
                 "sequences", "long_lag_correct", "step_accuracy", "mean_train_len", "seconds")


def write_trials_csv(rows: List[Dict[str, Any]], path: str) -> None:
    """One line per trial (the outcome without the loss history): small enough to keep in git."""
    import csv

    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(TRIAL_COLUMNS)
        for r in sorted(rows, key=lambda r: (r["reading"], r["config"]["blocks"], r["config"]["lr"],
                                             r["config"]["data_seed"], r["config"]["init_seed"])):
            c = r["config"]
            w.writerow([r["reading"], c["blocks"], c["cells_per_block"], c["lr"], c["max_sequences"], c["data_seed"],
                        c["init_seed"], int(r["success"]), r["sequences"], int(r["long_lag_correct"]),
                        f"{r['step_accuracy']:.5f}", f"{r['mean_train_len']:.2f}", f"{r['seconds']:.2f}"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--readings", nargs="*", default=list(READINGS), choices=list(READINGS))
    p.add_argument("--max-sequences", type=int, default=100_000)
    p.add_argument("--data-seeds", type=int, default=3)
    p.add_argument("--init-seeds", type=int, default=10)
    p.add_argument("--blocks", type=int, default=3)
    p.add_argument("--cells", type=int, default=2)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--results", default="results/reber_readings.jsonl")
    p.add_argument("--report", default=None, help="write the markdown table here (default: print)")
    p.add_argument("--trials-csv", default=None, help="also write one CSV line per trial here")
    p.add_argument("--no-run", action="store_true", help="only report what the results file holds")
    a = p.parse_args(argv)
    out = {} if a.no_run else run(a.readings, max_sequences=a.max_sequences, data_seeds=range(a.data_seeds),
              init_seeds=range(a.init_seeds), jobs=a.jobs, results_path=a.results, blocks=a.blocks,
              cells_per_block=a.cells, lr=a.lr)
    del out  # the report covers every trial in the results file, earlier runs included
    text = report(load(a.results),
                  command="python -m lstmcore.experiments.reber_readings " + " ".join(argv if argv is not None else sys.argv[1:]))
    if a.trials_csv:
        write_trials_csv(load(a.results), a.trials_csv)
    if a.report:
        with open(a.report, "w") as f:
            f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
