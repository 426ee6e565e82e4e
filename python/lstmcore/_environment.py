"""The environment a result was computed in, recorded in every results record.

``environment()`` -> dict: lstmcore's version and git commit (when the package is imported from a
git checkout), Python, NumPy, the machine and CPU model, the compiler, build type and flags of the
compiled core (``lstmcore._build_info``, written by CMake at build time; "unknown" where the module
was built without it), the instruction-set level of the core that runs (``_core.kernel_level()``,
chosen at import: lstmcore._load_core), the levels compiled in and the CPU's best, and the GEMM
micro-kernels the layer runs (``_core.gemm_kernel()``).
"""
import functools
import os
import platform
import subprocess
from typing import Any, Dict

import numpy as np


def _cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    """The commit of the git checkout the package is imported from (an editable install), or
    "unknown" (an installed wheel, no git, or not a checkout)."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else "unknown"


@functools.lru_cache(maxsize=None)
def environment() -> Dict[str, Any]:
    """What the results depend on besides the settings: versions, CPU, build of the core."""
    from . import _core
    from ._version import __version__
    try:
        from . import _build_info as build  # type: ignore[attr-defined]
        compiler, build_type, flags, native = build.COMPILER, build.BUILD_TYPE, build.CXX_FLAGS, build.NATIVE
    except ImportError:  # a module built outside scikit-build/CMake's install step
        compiler = build_type = flags = "unknown"
        native = None
    return {
        "lstmcore": __version__,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "compiler": compiler,
        "build_type": build_type,
        "cxx_flags": flags,
        "native": native,
        "kernel_level": _core.kernel_level(),
        "isa_levels": list(_core.isa_levels()),
        "cpu_level": _core.cpu_level(),
        "gemm_kernel": _core.gemm_kernel(),
    }
