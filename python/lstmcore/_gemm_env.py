"""LSTMCORE_GEMM: which GEMM micro-kernels the layer runs, and when the variable cannot apply.

``LSTMCORE_GEMM=generic`` asks for the plain C++ kernels. In a build that chooses its core at import
(the default: one core per instruction-set level, lstmcore._load_core) the plain kernels are the
x86-64 baseline level's, so the variable loads the baseline core, the same as ``LSTMCORE_ISA=baseline``;
``auto`` (or unset) lets the CPU decide. A native build (``-Ccmake.define.LSTMCORE_NATIVE=ON``,
``-march=native``) compiles one set of kernels in and has nothing to choose: there the variable has
no effect, and importing lstmcore says so in a RuntimeWarning instead of ignoring it silently.
``lstmcore._core.gemm_kernel()`` says which kernels run and for which level they were compiled.
"""
from typing import Mapping, Optional

VALUES = ("auto", "generic")


def gemm_env_problem(environ: Mapping[str, str], kernel: str) -> Optional[str]:
    """Why LSTMCORE_GEMM in ``environ`` cannot do what it asks in a build whose kernel is
    ``kernel`` (``_core.gemm_kernel()``), or None when it can (or is unset)."""
    wanted = environ.get("LSTMCORE_GEMM")
    if wanted is None or wanted == "" or wanted == "auto":
        return None
    if wanted not in VALUES:
        return f"LSTMCORE_GEMM: expected one of {', '.join(VALUES)}, got {wanted!r}; it is ignored"
    if kernel.endswith("(build)"):
        return (f"LSTMCORE_GEMM={wanted} is ignored: this build compiles the {kernel.split(' ')[0]} kernels in "
                "(-march=native); a default build (without -Ccmake.define.LSTMCORE_NATIVE=ON) chooses them at import")
    return None
