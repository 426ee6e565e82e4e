"""LSTMCORE_GEMM: which GEMM micro-kernels the layer runs, and when the variable cannot apply.

``LSTMCORE_GEMM=generic`` forces the plain C++ kernels where the kernels are chosen at run time
(the portable build, ``-DLSTMCORE_NATIVE=OFF``); ``auto`` (or unset) lets the CPU decide. A native
build (``-march=native``, the default of a build from source) compiles the AVX2+FMA kernels in and
has nothing to choose: there the variable has no effect, and importing lstmcore says so in a
RuntimeWarning instead of ignoring it silently. ``lstmcore._core.gemm_kernel()`` says which runs.
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
                "(-march=native); a portable build (-Ccmake.define.LSTMCORE_NATIVE=OFF) chooses them at run time")
    return None
