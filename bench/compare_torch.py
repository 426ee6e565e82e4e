"""Side-by-side speed of lstmcore.LSTM and torch.nn.LSTM (CPU, oneDNN) in one process.

    python bench/compare_torch.py [--repeats 15] [--only medium,large,...] [--json FILE]

Every case times lstmcore and torch in alternating blocks (per repeat and side: one untimed call,
then three timed ones) and reports the median wall time per call of each and the ratio
torch / lstmcore (> 1: lstmcore is faster).
Cases (float32 unless named f64; T steps, N sequences, I inputs, H hidden units):

    medium      I64  H128 N32 T100   forward, forward+backward, at 2 threads and 1 thread
    large       I256 H512 N64 T100   forward, forward+backward, 2 threads
    f64         I64  H128 N32 T100   float64, 2 threads
    proj        I64  H128 P64 N32 T100   proj_size=64 (recurrent projection) on both sides, 2 threads and 1
                                     (torch has no oneDNN kernel for it and runs its own)
    batch1      I8   H8   N1  T1000  forward+backward, per step, 1 thread
    stream      I8   H8   N1         one step from Python: LSTMStream.step vs torch.nn.LSTMCell
    memory      H128 N32 T10^4 I64   peak RSS growth of forward+backward (each in a fresh process)
    threads     medium, lstmcore 1 thread vs 2 threads timed alternately (speed-up: the median of
                adjacent blocks' ratios; torch's own beside it when medium ran), and the machine's
                ceiling for it: the 1-thread forward in two processes at once against one alone

Before timing, outputs and gradients of both are compared on the case's shapes (same weights).
torch is a benchmark peer only: the package never imports it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from typing import Callable, Dict, List, Tuple

import numpy as np

import lstmcore

try:
    import torch
except ImportError:  # pragma: no cover - the benchmark needs its peer
    sys.exit("compare_torch.py: torch is required (pip install /opt/wheels/torch-2.13.0+cpu-*.whl)")

ALL = ("medium", "large", "f64", "proj", "batch1", "stream", "memory", "threads")

# torch's CPU LSTM with projections says once that oneDNN lacks them and runs its own kernel
warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")


def median_pair(fa: Callable[[], object], fb: Callable[[], object], repeats: int, warmup: int = 2,
                block: int = 3) -> Tuple[float, float]:
    """Median seconds per call of fa and fb, timed in alternating blocks: each block runs one
    untimed call (so neither side is timed with caches cold from the other's run) and then `block`
    timed calls; `repeats` blocks each."""
    for _ in range(warmup):
        fa()
        fb()
    ta: List[float] = []
    tb: List[float] = []
    for _ in range(repeats):
        for f, out in ((fa, ta), (fb, tb)):
            f()
            for _ in range(block):
                t0 = time.perf_counter()
                f()
                out.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb)


def make_pair(I: int, H: int, dtype, threads: int, seed: int = 0, proj_size: int = 0):
    ours = lstmcore.LSTM(I, H, dtype=dtype, seed=seed, num_threads=threads, proj_size=proj_size)
    ref = ours.to_torch()
    return ours, ref


def check_pair(ours, ref, x: np.ndarray, tol: float) -> None:
    xt = torch.from_numpy(x).requires_grad_(True)
    out_t, _ = ref(xt)
    g = np.random.default_rng(1).standard_normal(out_t.shape).astype(x.dtype)
    out_t.backward(torch.from_numpy(g))
    out, _ = ours(x)
    gx = ours.backward(g)
    scale = max(1.0, float(np.abs(gx).max()))
    err = max(float(np.abs(out - out_t.detach().numpy()).max()),
              float(np.abs(gx - xt.grad.numpy()).max()) / scale)
    if not err <= tol:
        raise SystemExit(f"lstmcore and torch disagree by {err:.3g} (> {tol}) on x {x.shape}")


def layer_case(I: int, H: int, N: int, T: int, dtype, threads: int, repeats: int,
               proj_size: int = 0) -> Dict[str, float]:
    torch.set_num_threads(threads)
    ours, ref = make_pair(I, H, dtype, threads, proj_size=proj_size)
    x = np.random.default_rng(0).standard_normal((T, N, I)).astype(dtype)
    check_pair(ours, ref, x, 1e-3 if dtype == np.float32 else 1e-9)
    g = np.random.default_rng(1).standard_normal((T, N, ours.recurrent_size)).astype(dtype)
    xt = torch.from_numpy(x)
    xg = torch.from_numpy(x.copy()).requires_grad_(True)
    gt = torch.from_numpy(g)

    def ours_fwd():
        ours(x)

    def torch_fwd():
        with torch.no_grad():
            ref(xt)

    def ours_fb():
        ours(x)
        ours.backward(g)

    def torch_fb():
        xg.grad = None
        ref.zero_grad(set_to_none=True)
        out, _ = ref(xg)
        out.backward(gt)

    f_ours, f_torch = median_pair(ours_fwd, torch_fwd, repeats)
    fb_ours, fb_torch = median_pair(ours_fb, torch_fb, repeats)
    return {"fwd_ours_ms": f_ours * 1e3, "fwd_torch_ms": f_torch * 1e3, "fwd_ratio": f_torch / f_ours,
            "fwdbwd_ours_ms": fb_ours * 1e3, "fwdbwd_torch_ms": fb_torch * 1e3, "fwdbwd_ratio": fb_torch / fb_ours}


def stream_case(repeats: int) -> Dict[str, float]:
    torch.set_num_threads(1)
    I, H, steps = 8, 8, 2000
    m = lstmcore.LSTM(I, H, seed=0, num_threads=1)
    s = m.stream(batch_size=1)
    cell = torch.nn.LSTMCell(I, H)
    xs = np.random.default_rng(0).standard_normal((steps, 1, I)).astype(np.float32)
    xts = [torch.from_numpy(x) for x in xs]
    step = s.step

    def ours():
        for x in xs:
            step(x)

    def peer():
        with torch.no_grad():
            hx = None
            for x in xts:
                hx = cell(x, hx)

    a, b = median_pair(ours, peer, repeats)
    return {"step_ours_us": a / steps * 1e6, "step_torch_us": b / steps * 1e6, "step_ratio": b / a}


_MEMORY_CHILD = r"""
import json, sys
import numpy as np
which, I, H, N, T = sys.argv[1], *map(int, sys.argv[2:6])
x = np.random.default_rng(0).standard_normal((T, N, I)).astype(np.float32)
g = np.ones((T, N, H), np.float32)
if which == "torch":
    import torch
    torch.set_num_threads(2)
    m = torch.nn.LSTM(I, H)
    xt, gt = torch.from_numpy(x), torch.from_numpy(g)
    run = lambda: m(xt)[0].backward(gt)
else:
    import lstmcore
    m = lstmcore.LSTM(I, H, seed=0, num_threads=2)
    run = lambda: (m(x), m.backward(g))
def peak_kib():  # VmHWM (ru_maxrss would start from the parent's peak: Linux keeps it across exec)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
base = peak_kib()
run(); run()
print(json.dumps({"peak_growth_mib": (peak_kib() - base) / 1024}))
"""


def memory_case() -> Dict[str, float]:
    res = {}
    for which in ("lstmcore", "torch"):
        # the child's baseline includes its imports; growth is what forward+backward adds
        out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, which, "64", "128", "32", "10000"],
                             check=True, capture_output=True, text=True).stdout
        res[f"peak_{which}_mib"] = json.loads(out)["peak_growth_mib"]
    res["memory_ratio"] = res["peak_lstmcore_mib"] / res["peak_torch_mib"]
    return res


def paired_speedup(fa: Callable[[], object], fb: Callable[[], object], repeats: int,
                   block: int = 3) -> Tuple[float, float, float]:
    """Median seconds per call of fa and fb, and the median over repeats of the ratio of the two
    adjacent blocks' medians (fa's / fb's): each ratio compares calls a fraction of a second apart,
    so the machine's slow and fast phases (seconds long on this VM) cancel in it."""
    fa(), fb()
    ta: List[float] = []
    tb: List[float] = []
    ratios: List[float] = []
    for _ in range(repeats):
        meds = []
        for f, out in ((fa, ta), (fb, tb)):
            f()
            ts = []
            for _ in range(block):
                t0 = time.perf_counter()
                f()
                ts.append(time.perf_counter() - t0)
            out.extend(ts)
            meds.append(statistics.median(ts))
        ratios.append(meds[0] / meds[1])
    return statistics.median(ta), statistics.median(tb), statistics.median(ratios)


def threads_case(repeats: int) -> Dict[str, float]:
    """1 -> 2 threads on medium: lstmcore's 1-thread and 2-thread layers timed alternately, the
    speed-up as the median of adjacent blocks' ratios (paired_speedup), and the machine's own
    ceiling for the pair of cores: the same 1-thread forward in two processes at once against one
    process alone. On a VM whose two vCPUs sometimes
    share a physical core, two independent processes slow each other down, and no program can
    scale past that."""
    I, H, N, T = 64, 128, 32, 100
    torch.set_num_threads(1)
    one, _ = make_pair(I, H, np.float32, 1)
    two, _ = make_pair(I, H, np.float32, 2)
    x = np.random.default_rng(0).standard_normal((T, N, I)).astype(np.float32)
    g = np.random.default_rng(1).standard_normal((T, N, H)).astype(np.float32)
    f1, f2, fsp = paired_speedup(lambda: one(x), lambda: two(x), repeats)
    b1, b2, bsp = paired_speedup(lambda: (one(x), one.backward(g)), lambda: (two(x), two.backward(g)), repeats)
    alone: List[float] = []
    together: List[float] = []
    cmd = [sys.executable, "-c", _CEILING_CHILD, str(I), str(H), str(N), str(T), str(max(5, repeats))]

    def run_children(n: int) -> List[float]:
        # each child imports and warms up, says "ready", and starts timing when told "go", so the
        # timed loops of the two run at the same time
        procs = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(n)]
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                raise SystemExit("compare_torch.py: a ceiling child failed to start")
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        return [float(p.communicate()[0]) for p in procs]

    for _ in range(3):
        alone.extend(run_children(1))
        together.extend(run_children(2))
    ceiling = 2.0 * statistics.median(alone) / statistics.median(together)
    return {"fwd_1thr_ms": f1 * 1e3, "fwd_2thr_ms": f2 * 1e3, "fwd_speedup": fsp,
            "fwdbwd_1thr_ms": b1 * 1e3, "fwdbwd_2thr_ms": b2 * 1e3, "fwdbwd_speedup": bsp,
            "alone_ms": statistics.median(alone) * 1e3, "two_at_once_ms": statistics.median(together) * 1e3,
            "machine_ceiling": ceiling}


# One process of the ceiling measurement: median seconds of a 1-thread forward (printed).
_CEILING_CHILD = r"""
import sys, time, statistics
import numpy as np
import lstmcore
I, H, N, T, reps = map(int, sys.argv[1:6])
m = lstmcore.LSTM(I, H, seed=0, num_threads=1)
x = np.random.default_rng(0).standard_normal((T, N, I)).astype(np.float32)
m(x)
print("ready", flush=True)
sys.stdin.readline()
ts = []
for _ in range(3 * reps):
    t0 = time.perf_counter(); m(x); ts.append(time.perf_counter() - t0)
print(statistics.median(ts))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=15, help="timed blocks per side and case (default: %(default)s)")
    ap.add_argument("--only", default=",".join(ALL), help="comma-separated subset of the cases (default: all of them, " + ",".join(ALL) + ")")
    ap.add_argument("--json", metavar="FILE", help="also write the raw numbers to FILE (default: none)")
    a = ap.parse_args(argv)
    only = [c.strip() for c in a.only.split(",") if c.strip()]
    bad = [c for c in only if c not in ALL]
    if bad:
        ap.error(f"--only: unknown case(s) {bad}; choose from {ALL}")
    r = a.repeats
    rows: List[Tuple[str, str, float, float, float, str]] = []  # case, what, ours, torch, ratio, target
    raw: Dict[str, Dict[str, float]] = {}
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}, "
          f"lstmcore {lstmcore.__version__ if hasattr(lstmcore, '__version__') else ''}, repeats {r}", flush=True)

    def show(*done):
        """One line per finished measurement while the run goes on (the table follows at the end)."""
        for case, what, a_, b_, ratio, target in done:
            print(f"{case}, {what}: lstmcore {a_:.3f}, torch (or peer) {b_:.3f}, ratio {ratio:.2f} (target {target})",
                  flush=True)

    def add_layer(key, label, I, H, N, T, dtype, threads, target, proj_size=0):
        res = layer_case(I, H, N, T, dtype, threads, r, proj_size)
        raw[key] = res
        rows.append((label, "forward ms", res["fwd_ours_ms"], res["fwd_torch_ms"], res["fwd_ratio"], target))
        rows.append((label, "fwd+bwd ms", res["fwdbwd_ours_ms"], res["fwdbwd_torch_ms"], res["fwdbwd_ratio"],
                     target))
        show(*rows[-2:])

    if "medium" in only or "threads" in only:
        add_layer("medium_t2", "medium f32 2 thr", 64, 128, 32, 100, np.float32, 2, ">= 1.1")
    if "medium" in only:
        add_layer("medium_t1", "medium f32 1 thr", 64, 128, 32, 100, np.float32, 1, ">= 1.1")
    if "large" in only:
        add_layer("large_t2", "large f32 2 thr", 256, 512, 64, 100, np.float32, 2, ">= 0.95")
    if "f64" in only:
        add_layer("f64_t2", "medium f64 2 thr", 64, 128, 32, 100, np.float64, 2, ">= 2")
    if "proj" in only:
        add_layer("proj_t2", "medium f32 proj_size=64 2 thr", 64, 128, 32, 100, np.float32, 2, ">= 1.1", proj_size=64)
        add_layer("proj_t1", "medium f32 proj_size=64 1 thr", 64, 128, 32, 100, np.float32, 1, ">= 1.1", proj_size=64)
    if "batch1" in only:
        res = layer_case(8, 8, 1, 1000, np.float32, 1, r)
        raw["batch1"] = res
        rows.append(("batch-1 I8 H8 T1000", "fwd+bwd us/step", res["fwdbwd_ours_ms"], res["fwdbwd_torch_ms"],
                     res["fwdbwd_ratio"], ">= 10"))
        show(rows[-1])
    if "stream" in only:
        res = stream_case(r)
        raw["stream"] = res
        if res:
            rows.append(("stream I8 H8", "step us (Python)", res["step_ours_us"], res["step_torch_us"],
                         res["step_ratio"], ">= 10"))
            show(rows[-1])
    if "memory" in only:
        res = memory_case()
        raw["memory"] = res
        rows.append(("memory T1e4 H128 N32", "peak MiB", res["peak_lstmcore_mib"], res["peak_torch_mib"],
                     res["memory_ratio"], "<= 0.5"))
        show(rows[-1])
    if "threads" in only:
        res = threads_case(r)
        torch_sp = {}
        if "medium_t1" in raw:  # torch's own speed-up, from the two medium runs above (minutes apart)
            torch_sp = {k: raw["medium_t1"][f"{k}_torch_ms"] / raw["medium_t2"][f"{k}_torch_ms"]
                        for k in ("fwd", "fwdbwd")}
            res.update({f"torch_{k}_speedup": v for k, v in torch_sp.items()})
        raw["threads"] = res
        for k, label in (("fwd", "fwd"), ("fwdbwd", "fwd+bwd")):
            peer = f" (torch's: {torch_sp[k]:.2f})" if torch_sp else ""
            rows.append(("medium 1->2 threads", f"{label} speed-up{peer}", res[f"{k}_1thr_ms"], res[f"{k}_2thr_ms"],
                         res[f"{k}_speedup"], ">= 1.8"))
        rows.append(("machine: 2 processes at once", "1-thread fwd ms, alone / each of two",
                     res["alone_ms"], res["two_at_once_ms"], res["machine_ceiling"], "ceiling for the speed-up"))
        show(*rows[-3:])

    print()
    print("| case | measure | lstmcore | torch (or peer) | ratio | target |")
    print("|---|---|---|---|---|---|")
    for case, what, a_, b_, ratio, target in rows:
        print(f"| {case} | {what} | {a_:.3f} | {b_:.3f} | {ratio:.2f} | {target} |")
    print("\nratio: torch time / lstmcore time (memory: lstmcore / torch; threads: median of 1-thread / 2-thread time "
          "of adjacent blocks; machine: 2 x alone / each of two at once)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(raw, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
