"""How many CPUs lstmcore uses by default: the one rule, used by the layers and the CLI.

- ``available_cpus()``: the CPUs this process may run on. That is the CPU affinity mask
  (``os.sched_getaffinity``: ``taskset``, SLURM's ``--cpus-per-task``, ``docker --cpuset-cpus``),
  further bounded by the cgroup CPU quota where one is set (``docker --cpus``, Kubernetes CPU
  limits): a quota of ``q`` microseconds per period of ``p`` allows ``ceil(q / p)`` CPUs' worth of
  time. cgroup v2 (``cpu.max`` of the process's cgroup and its parents) and v1
  (``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``) are read. ``os.cpu_count()`` is only the fallback
  on platforms without an affinity mask.
- ``default_threads()``: the default ``num_threads`` of a layer. ``OMP_NUM_THREADS`` when it is set
  to a positive integer (its first entry, as OpenMP reads ``"4,2"``), else ``available_cpus()``.
- ``lstmcore reber/reproduce --jobs`` default to ``available_cpus()`` worker processes.

docs/ARCHITECTURE.md ("CPUs and threads") points here.
"""
import math
import os
from typing import Optional

CGROUP_ROOT = "/sys/fs/cgroup"
PROC_CGROUP = "/proc/self/cgroup"


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _quota_cpus(quota: str, period: str) -> Optional[int]:
    """ceil(quota / period) CPUs, or None for no limit ("max", -1) or text that is not a number."""
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    if q <= 0 or p <= 0:
        return None
    return max(1, math.ceil(q / p))


def cgroup_cpu_limit(root: str = CGROUP_ROOT, proc_cgroup: str = PROC_CGROUP) -> Optional[int]:
    """The CPUs the cgroup CPU quota allows this process, or None when no quota is set.

    cgroup v2: the smallest ``cpu.max`` ("QUOTA PERIOD" or "max PERIOD") of the process's cgroup
    and each parent up to the root. cgroup v1: ``cpu/cpu.cfs_quota_us`` over ``cpu.cfs_period_us``
    (quota -1: no limit) of the process's ``cpu`` cgroup, or of the mount's root (inside a container
    the mount shows the container's own cgroup)."""
    limits = []
    membership = _read(proc_cgroup) or ""
    for line in membership.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # cgroup v2 unified hierarchy: "0::/path"
            rel = path.strip("/")
            while True:
                text = _read(os.path.join(root, rel, "cpu.max"))
                if text is not None and len(text.split()) == 2:
                    limit = _quota_cpus(*text.split())
                    if limit is not None:
                        limits.append(limit)
                if not rel:
                    break
                rel = os.path.dirname(rel)
        elif "cpu" in controllers.split(","):  # cgroup v1
            for base in (os.path.join(root, "cpu", path.strip("/")), os.path.join(root, "cpu")):
                quota, period = _read(os.path.join(base, "cpu.cfs_quota_us")), _read(os.path.join(base, "cpu.cfs_period_us"))
                if quota is not None and period is not None:
                    limit = _quota_cpus(quota, period)
                    if limit is not None:
                        limits.append(limit)
                    break
    return min(limits) if limits else None


def available_cpus() -> int:
    """The CPUs this process may run on: its affinity mask, bounded by the cgroup CPU quota (>= 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without an affinity mask
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        cpus = min(cpus, limit)
    return max(1, cpus)


def default_threads() -> int:
    """The default ``num_threads``: ``OMP_NUM_THREADS`` (first entry) when it is a positive
    integer, else :func:`available_cpus`; at most ``lstmcore.max_threads()``. A value that is not
    a positive integer is ignored."""
    from . import _core  # the bound every thread count is checked against (4 per core)

    text = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    threads = int(text) if text.isdigit() and int(text) > 0 else available_cpus()
    return min(threads, _core.max_threads())
