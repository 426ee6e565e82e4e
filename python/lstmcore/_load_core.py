"""Which compiled core this process runs: chosen once, at import, and loaded as ``lstmcore._core``.

A default build (``pip install .``) holds the C++ core compiled for each x86-64 instruction-set
level the compiler supports, one extension module per level, each the whole core with the same
bindings:

=============  ======================  ===================================================
level          module file             instructions
=============  ======================  ===================================================
x86-64         ``_core_x86_64``        the baseline (SSE2): any x86-64 CPU
x86-64-v3      ``_core_x86_64_v3``     AVX2, FMA, BMI1/2, F16C, MOVBE, LZCNT
x86-64-v4      ``_core_x86_64_v4``     AVX-512 F, BW, CD, DQ, VL
=============  ======================  ===================================================

The package loads the highest level that is compiled in and that the CPU and the operating system
run (``lstmcore._cpu``, a small baseline module: cpuid for the instructions, xgetbv for the register
state the OS saves), under the name ``lstmcore._core``. The environment can ask for less:

- ``LSTMCORE_ISA=baseline|v3|v4`` (or ``x86-64``, ``x86-64-v3``, ``x86-64-v4``) loads that level, for
  testing a lower level on a newer CPU. A level above the CPU's (it would stop on an illegal
  instruction) or one not compiled in makes ``import lstmcore`` fail with an ImportError saying why.
- ``LSTMCORE_GEMM=generic`` asks for the plain C++ GEMM micro-kernels, which only the baseline level
  has: it loads the baseline (an error together with ``LSTMCORE_ISA`` above the baseline).

A native build (``-Ccmake.define.LSTMCORE_NATIVE=ON``, compiled with ``-march=native`` for the build
machine only) or a build for another architecture has a single module, ``_core``, and chooses
nothing; there ``LSTMCORE_ISA`` is ignored with a RuntimeWarning. ``lstmcore._core.kernel_level()``
says which level runs, ``isa_levels()`` which are compiled in, ``cpu_level()`` the CPU's best.
"""
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from types import ModuleType
from typing import Mapping, Optional

PACKAGE = __name__.rsplit(".", 1)[0]
CORE = PACKAGE + "._core"

# level name -> the module file's name (beside this file)
LEVEL_MODULES = {"x86-64": "_core_x86_64", "x86-64-v3": "_core_x86_64_v3", "x86-64-v4": "_core_x86_64_v4"}


def _gemm_request(environ: Mapping[str, str]) -> Optional[str]:
    """LSTMCORE_GEMM when it is a value the choice understands (``auto``, ``generic``), else None (the
    package warns about other values at import: lstmcore._gemm_env)."""
    value = environ.get("LSTMCORE_GEMM")
    return value if value in ("auto", "generic") else None


def load_core() -> ModuleType:
    """Load the compiled core once (see the module's docstring) and return it."""
    if CORE in sys.modules:
        return sys.modules[CORE]
    package = sys.modules[PACKAGE]
    if importlib.util.find_spec(CORE) is not None:  # a native build: one core, nothing to choose
        if os.environ.get("LSTMCORE_ISA"):
            warnings.warn("LSTMCORE_ISA is ignored: this build of lstmcore has one core, compiled with -march=native "
                          "(a default build, without -Ccmake.define.LSTMCORE_NATIVE=ON, has one core per level)",
                          RuntimeWarning, stacklevel=4)
        return importlib.import_module(CORE)
    origins = {}  # level -> the module file of each level compiled in
    for level, name in LEVEL_MODULES.items():
        found = importlib.util.find_spec(f"{PACKAGE}.{name}")
        if found is not None and found.origin:
            origins[level] = found.origin
    built = list(origins)
    if not built:
        raise ImportError(f"{PACKAGE}: no compiled core found (neither _core nor any of "
                          f"{', '.join(LEVEL_MODULES.values())}); is the package built and installed?")
    from . import _cpu  # the compiled CPU probe of a dispatching build (cpp/bindings/cpu_module.cpp)

    isa = os.environ.get("LSTMCORE_ISA") or None
    try:
        level = _cpu.choose_level(isa, _gemm_request(os.environ), built)
    except ValueError as e:
        raise ImportError(f"{PACKAGE}: {e}") from None
    origin = origins[level]
    # The module's file is _core_<level>...so, its init function PyInit__core: loaded under the name
    # lstmcore._core, so that its classes say lstmcore._core wherever they run.
    loader = importlib.machinery.ExtensionFileLoader(CORE, origin)
    spec = importlib.util.spec_from_file_location(CORE, origin, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[CORE] = module
    try:
        loader.exec_module(module)
    except BaseException:
        del sys.modules[CORE]
        raise
    package._core = module  # type: ignore[attr-defined]
    return module
