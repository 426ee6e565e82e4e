"""Cost of one streaming step from Python, and of online training per step.

- LSTMStream.step (I=8, H=8, N=1, float32), with and without out=, against a torch.nn.LSTMCell
  step (no_grad, one thread) in the same process: median microseconds per call, and the ratio.
- LSTMOnline.run per step for a few sizes (float64 and float32, one thread).

Run: PYTHONPATH=<site with lstmcore> python bench/bench_stream.py [--repeats 7]
torch is optional: without it the torch row is skipped.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Callable, Dict, Optional

import numpy as np

import lstmcore


def _median_us(fn: Callable[[], object], calls: int, repeats: int) -> float:
    """Median over `repeats` runs of the mean time of one call, in microseconds."""
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(times)


def _torch_cell_us(I: int, H: int, calls: int, repeats: int) -> Optional[float]:
    try:
        import torch
    except ImportError:
        return None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cell = torch.nn.LSTMCell(I, H)
        x = torch.ones(1, I)
        state = [(torch.zeros(1, H), torch.zeros(1, H))]

        def step() -> None:
            state[0] = cell(x, state[0])

        with torch.no_grad():
            return _median_us(step, calls, repeats)
    finally:
        torch.set_num_threads(threads)


def measure_stream(repeats: int = 7, calls: int = 20000) -> Dict[str, object]:
    """Median microseconds per step; see the module docstring."""
    I, H = 8, 8
    layer = lstmcore.LSTM(I, H, dtype=np.float32, seed=0, num_threads=1)
    stream = layer.stream(1)
    x = np.ones((1, I), np.float32)
    out = np.empty((1, H), np.float32)
    step = stream.step
    result: Dict[str, object] = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "stream_step_us": _median_us(lambda: step(x), calls, repeats),
        "stream_step_out_us": _median_us(lambda: step(x, out), calls, repeats),
    }
    torch_us = _torch_cell_us(I, H, max(1, calls // 10), repeats)
    result["torch_lstmcell_step_us"] = torch_us
    if torch_us is not None:
        result["speedup_vs_torch"] = torch_us / result["stream_step_us"]
        result["speedup_vs_torch_out"] = torch_us / result["stream_step_out_us"]
    online = {}
    for dtype in (np.float64, np.float32):
        for I_, H_, N, online_steps in ((8, 8, 1, 2000), (4, 16, 4, 2000), (32, 64, 16, 200), (64, 128, 32, 20)):
            layer = lstmcore.LSTM(I_, H_, dtype=dtype, seed=0, num_threads=1)
            trainer = layer.online(N)
            rng = np.random.default_rng(0)
            xs = rng.standard_normal((online_steps, N, I_)).astype(dtype)
            gs = (1e-3 * rng.standard_normal((online_steps, N, H_))).astype(dtype)
            us = _median_us(lambda: trainer.run(xs, gs), 1, repeats) / online_steps
            online[f"I={I_} H={H_} N={N} {np.dtype(dtype).name}"] = us
    result["online_run_us_per_step"] = online
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    r = measure_stream(repeats=args.repeats)
    if args.json:
        print(json.dumps(r, indent=2))
        return
    print(f"machine: {r['machine']}")
    print("one step from Python, I=8 H=8 N=1 float32 (median us per call)")
    print(f"  LSTMStream.step(x)           {r['stream_step_us']:8.3f}")
    print(f"  LSTMStream.step(x, out=buf)  {r['stream_step_out_us']:8.3f}")
    if r["torch_lstmcell_step_us"] is None:
        print("  torch.nn.LSTMCell            (torch not installed)")
    else:
        print(f"  torch.nn.LSTMCell (no_grad)  {r['torch_lstmcell_step_us']:8.3f}   "
              f"stream is {r['speedup_vs_torch']:.1f}x faster ({r['speedup_vs_torch_out']:.1f}x with out=)")
    print("LSTMOnline.run, one thread (us per step)")
    for name, us in r["online_run_us_per_step"].items():
        print(f"  {name:28s} {us:8.3f}")


if __name__ == "__main__":
    main()
