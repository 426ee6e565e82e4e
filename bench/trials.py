"""A trial's marginal cost per training step beside the engine's own, per experiment.

    python bench/trials.py [--rows 1-3x2-lr0.5 4-T100 ...] [--repeats 3] [--small 1000 --large 4000]
                           [--clock cpu|wall]

Trial: ``lstmcore.experiments.run_trial`` of the row with budgets ``--small`` and ``--large``
sequences (early in training, before any milestone: the budget ends every run), one thread. Its
marginal cost per step is (t_large - t_small) / (steps_large - steps_small): everything a trial
does per training sequence (drawing exemplars, training, the periodic checks at the row's
check_every and set sizes), without the one-off set-up (test-set draws).
Engine: the compiled core's own train_sequence on already-drawn sequences of the same task and
net (same lengths and masks), one call per sequence, no Python per step: the floor a trial can
reach. Rounds alternate trial and engine; the table gives medians and the ratio of the minima
too (on a shared machine the fastest round of each is the least disturbed). Compare the columns
of one run, not runs of different days.

Clock: ``cpu`` (default) times both with the process's CPU time, ``wall`` with the wall clock.
Both sides run on one thread, so on an idle machine the two agree; on a machine shared with
other work the CPU time leaves out the time the process waits for a core, which is most of the
noise of wall-clock ratios there.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from lstmcore import _core
from lstmcore.experiments import run_trial
from lstmcore.experiments.runner import resolve

ROWS = ["1-3x2-lr0.5", "2a", "2b", "2c-q50-p50", "3a-T100-N3", "3b-T100-N3", "3c-T100-N3", "4-T100", "5-T100",
        "6a", "6b"]
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]


def trial_cost(name: str, small: int, large: int) -> float:
    """Marginal µs per training step of a trial between two budgets."""
    t = []
    steps = []
    for n in (small, large):
        t0 = clock()
        r = run_trial(name, 0, overrides={"max_sequences": n})
        t.append(clock() - t0)
        steps.append(r["steps"])
        if r["sequences"] != n:
            raise RuntimeError(f"{name}: a milestone ended the trial at {r['sequences']} sequences; lower --large")
    return 1e6 * (t[1] - t[0]) / (steps[1] - steps[0])


def engine_cost(name: str, n: int) -> float:
    """µs per step of the core's train_sequence on n drawn sequences of the row's task and net."""
    exp = resolve(name)
    task = exp.make_task()
    rng = np.random.default_rng(0)
    seqs = [task.sample(rng) for _ in range(n)]
    net = exp.net.build(seed=0)
    core = net._net  # the bare compiled call: no argument checks at all
    update = {"step": _core.UpdateSchedule.step, "sequence": _core.UpdateSchedule.sequence}[exp.update]
    seqs = [(x, t, m.view(np.uint8)) for x, t, m in seqs]
    steps = sum(len(x) for x, _, _ in seqs)
    t0 = clock()
    for x, t, m in seqs:
        core.train_sequence(x, t, m, exp.lr, update)
    return 1e6 * (clock() - t0) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", nargs="+", default=ROWS)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--small", type=int, default=1000)
    p.add_argument("--large", type=int, default=4000)
    p.add_argument("--clock", choices=sorted(CLOCKS), default="cpu", help="process CPU time or wall clock (default: cpu)")
    a = p.parse_args()
    global clock
    clock = CLOCKS[a.clock]
    print(f"median of {a.repeats} alternating rounds; trial budgets {a.small:,} and {a.large:,} sequences, one thread, "
          f"{a.clock} clock")
    print("| experiment | weights | trial µs/step | engine µs/step | ratio of medians | ratio of minima |\n"
          "|---|---|---|---|---|---|")
    for name in a.rows:
        tr, en = [], []
        for _ in range(a.repeats):
            tr.append(trial_cost(name, a.small, a.large))
            en.append(engine_cost(name, a.large - a.small))
        mt, me = statistics.median(tr), statistics.median(en)
        w = resolve(name).weights
        print(f"| {name} | {w} | {mt:.3f} | {me:.3f} | {mt / me:.2f} | {min(tr) / min(en):.2f} |", flush=True)


if __name__ == "__main__":
    main()
