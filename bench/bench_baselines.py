"""Speed of the competitor nets (lstmcore.baselines.RecurrentNet): nanoseconds per time step of the
paper's Table 1 and Table 2 nets, for the exact gradient by RTRL and by BPTT, online RTRL training
(per-step updates, as the paper's RTRL runs) and the forward pass; beside the LSTM net of the same
table (LSTM1997, its truncated RTRL-style online rule), timed alternately in the same process.

Each row: one sequence of T = --steps steps (random inputs and targets, a target at every step;
long enough that the Python call costs little per step), one thread, float64. A number is the
median over --repeats runs of the mean time of one call, divided by T; every kind of call is
timed once per repeat, in turn.

Run: python bench/bench_baselines.py [--repeats 7] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Callable, Dict, List

import numpy as np

import lstmcore
from lstmcore.baselines import RecurrentNet

# (row name, constructor arguments): Table 1 (embedded Reber, 7 symbols) and Table 2 (Exp. 2a, p+1 symbols)
NETS = [
    ("T1 RTRL 3 units (170 w)", dict(n_in=7, n_hidden=3, n_out=7, bias=False)),
    ("T1 RTRL 12 units (494 w)", dict(n_in=7, n_hidden=12, n_out=7, bias=False)),
    ("T1 ELM 15 hidden (435 w)", dict(n_in=7, n_hidden=15, n_out=7, recurrence="hidden", bias=False)),
    ("T2 RTRL p=4 (36 w)", dict(n_in=5, n_hidden=1, n_out=5, recurrence="self", shortcut=True, bias=False)),
    ("T2 RTRL p=10 (144 w)", dict(n_in=11, n_hidden=1, n_out=11, recurrence="self", shortcut=True, bias=False)),
    ("T2 RTRL p=100 (10404 w)", dict(n_in=101, n_hidden=1, n_out=101, recurrence="self", shortcut=True, bias=False)),
]
# the LSTM rows of the same tables
PEERS = {
    "T1": ("T1 LSTM 3x2 (276 w)", lambda: lstmcore.LSTM1997(7, 7, 3, 2, seed=0)),
    "T2": ("T2 LSTM p=100 (10504 w)", lambda: lstmcore.LSTM1997(101, 101, 1, 1, recurrent="none", shortcut=True,
                                                                  bias="none", output_gate=False, g="logistic",
                                                                  h="identity", seed=0)),
}


def _calls_for(seconds: float, fn: Callable[[], object]) -> int:
    start = time.perf_counter()
    fn()
    one = max(time.perf_counter() - start, 1e-7)
    return max(1, int(seconds / one))


def _time(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def _data(n_in: int, n_out: int, T: int):
    rng = np.random.default_rng(0)
    return rng.uniform(size=(T, n_in)), rng.uniform(size=(T, n_out))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=200, help="sequence length T (default: %(default)s)")
    ap.add_argument("--seconds", type=float, default=0.05, help="time per measurement (default: %(default)s)")
    ap.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    a = ap.parse_args()

    rows: List[Dict[str, object]] = []
    T = a.steps
    for name, kw in NETS:
        net = RecurrentNet(**kw, init_range=0.2, seed=0)
        x, target = _data(kw["n_in"], kw["n_out"], T)
        peer_name, make_peer = PEERS[name[:2]]
        peer = make_peer()
        px, ptarget = _data(peer.n_in, peer.n_out, T)
        kinds: Dict[str, Callable[[], object]] = {
            "forward": lambda: net.forward(x),
            "gradient rtrl": lambda: net.gradient(x, target, method="rtrl"),
            "gradient bptt": lambda: net.gradient(x, target, method="bptt"),
            "train rtrl (step)": lambda: net.train_sequence(x, target, lr=0.0),
            "peer LSTM train (step)": lambda: peer.train_sequence(px, ptarget, lr=0.0),
        }
        calls = {k: _calls_for(a.seconds, f) for k, f in kinds.items()}
        samples: Dict[str, List[float]] = {k: [] for k in kinds}
        for _ in range(a.repeats):  # alternate: every kind once per repeat
            for k, f in kinds.items():
                samples[k].append(_time(f, calls[k]) / T * 1e9)
        med = {k: statistics.median(v) for k, v in samples.items()}
        rows.append(dict(net=name, n_weights=net.n_weights, T=T, peer=peer_name, **{k: round(v, 1) for k, v in med.items()},
                         rtrl_over_peer=round(med["train rtrl (step)"] / med["peer LSTM train (step)"], 2)))

    print(f"ns per time step (T = {T}, median of {a.repeats}; one thread, float64; "
          f"{platform.processor() or platform.machine()})")
    head = ["net", "w", "forward", "grad RTRL", "grad BPTT", "train RTRL", "LSTM train", "RTRL/LSTM"]
    print(f"{head[0]:<26}{head[1]:>7}" + "".join(f"{h:>12}" for h in head[2:]))
    for r in rows:
        print(f"{r['net']:<26}{r['n_weights']:>7}{r['forward']:>12}{r['gradient rtrl']:>12}"
              f"{r['gradient bptt']:>12}{r['train rtrl (step)']:>12}{r['peer LSTM train (step)']:>12}"
              f"{r['rtrl_over_peer']:>12}")
    print("LSTM train: the LSTM net of the same table (" + "; ".join(p[0] for p in PEERS.values()) + ")")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(machine=platform.platform(), repeats=a.repeats, rows=rows), f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
