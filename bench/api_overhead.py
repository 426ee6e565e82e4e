"""Per-call overhead of the public LSTM1997 methods over the compiled core call they wrap.

    python bench/api_overhead.py [--T 100] [--repeats 15] [--calls 2000] [--clock cpu|wall]

The Exp. 4 net (93 weights) on C-contiguous float64 arrays of the net's dtype. For each method the
public call and the bare core call (`LSTM1997._net`, no checks) alternate in rounds; the table
gives the median over rounds of microseconds per call and the difference. The machine may be
shared: only the difference of two medians taken in the same rounds is meaningful. ``--clock cpu``
(default) times with the process's CPU time, which leaves out the time spent waiting for a core
on a shared machine; ``--clock wall`` with the wall clock.
"""
from __future__ import annotations

import argparse
import statistics
import time

import lstmcore
import lstmcore.tasks
import numpy as np
from lstmcore import _core


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]


def per_call(fn, calls: int) -> float:
    t0 = clock()
    for _ in range(calls):
        fn()
    return 1e6 * (clock() - t0) / calls


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--T", type=int, default=100)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--clock", choices=sorted(CLOCKS), default="cpu", help="process CPU time or wall clock (default: cpu)")
    a = p.parse_args()
    global clock
    clock = CLOCKS[a.clock]
    net = lstmcore.LSTM1997(2, 1, 2, 2, bias="all", seed=0)
    task = lstmcore.tasks.Adding(a.T)
    x, target, mask = task.sample(np.random.default_rng(0))
    core = net._net
    m8 = mask.view(np.uint8)
    step = _core.UpdateSchedule.step
    lr = 0.0  # the weights stay put: every call does the same work
    pairs = {
        "forward": (lambda: net.forward(x), lambda: core.forward(x)),
        "train_sequence": (lambda: net.train_sequence(x, target, mask, lr=lr),
                           lambda: core.train_sequence(x, target, m8, lr, step)),
        "gradient": (lambda: net.gradient(x, target, mask),
                     lambda: core.gradient(x, target, m8, _core.GradientMode.truncated_rtrl)),
    }
    print(f"Exp. 4 net ({net.n_weights} weights), T={len(x)}, float64; median of {a.repeats} rounds x {a.calls} calls, "
          f"{a.clock} clock")
    print("| method | public µs/call | core µs/call | overhead µs/call |\n|---|---|---|---|")
    for name, (public, bare) in pairs.items():
        pub, cor = [], []
        for _ in range(a.repeats):
            pub.append(per_call(public, a.calls))
            cor.append(per_call(bare, a.calls))
        mp, mc = statistics.median(pub), statistics.median(cor)
        diffs = statistics.median([u - v for u, v in zip(pub, cor)])
        print(f"| {name} | {mp:.2f} | {mc:.2f} | {diffs:.2f} |")


if __name__ == "__main__":
    main()
