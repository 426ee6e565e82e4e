"""ISA levels: the package loads the core compiled for the highest instruction-set level the CPU
runs, LSTMCORE_ISA / LSTMCORE_GEMM=generic choose a lower one, an impossible request is refused,
and every level computes the same maths (lstmcore._load_core, cpp/include/lstmcore/isa.hpp)."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from lstmcore import _core

ORDER = ["x86-64", "x86-64-v3", "x86-64-v4"]
SHORT = {"x86-64": "baseline", "x86-64-v3": "v3", "x86-64-v4": "v4"}
DISPATCH = _core.isa_levels() != ("native",) and _core.kernel_level() in ORDER
needs_dispatch = pytest.mark.skipif(not DISPATCH, reason="a native build has one core and chooses nothing")


def runnable_levels():
    """The levels compiled in that this CPU runs."""
    cpu = ORDER.index(_core.cpu_level())
    return [level for level in _core.isa_levels() if level in ORDER and ORDER.index(level) <= cpu]


def run_python(code, **env_changes):
    env = dict(os.environ)
    env.pop("LSTMCORE_ISA", None)
    env.pop("LSTMCORE_GEMM", None)
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_the_core_reports_its_level():
    assert _core.cpu_level() in ORDER
    assert _core.kernel_level() in _core.isa_levels()
    if not DISPATCH:
        assert _core.isa_levels() == ("native",)
        return
    assert list(_core.isa_levels()) == sorted(_core.isa_levels(), key=ORDER.index)
    assert _core.isa_levels()[0] == "x86-64"  # the baseline is always compiled in
    wanted = os.environ.get("LSTMCORE_ISA")
    if os.environ.get("LSTMCORE_GEMM") == "generic":
        wanted = "baseline"
    if wanted:  # the level the environment asked for (the CI runs the tests under each level)
        assert _core.kernel_level() == {**{v: k for k, v in SHORT.items()}, **{k: k for k in ORDER}}[wanted]
    else:
        assert _core.kernel_level() == runnable_levels()[-1]
    # the GEMM micro-kernels follow the level: plain C++ in the baseline, AVX2+FMA above it
    kernel = _core.gemm_kernel()
    assert kernel.endswith(f"({_core.kernel_level()})"), kernel
    assert kernel.startswith("generic" if _core.kernel_level() == "x86-64" else "avx2+fma"), kernel


@needs_dispatch
@pytest.mark.parametrize("level", ORDER)
def test_lstmcore_isa_loads_the_level_it_names(level):
    if level not in runnable_levels():
        pytest.skip(f"{level} is not compiled in or not run by this CPU")
    for name in (level, SHORT[level]):
        out = run_python("import lstmcore; from lstmcore import _core; print(_core.kernel_level(), _core.gemm_kernel())",
                         LSTMCORE_ISA=name)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split()[0] == level, out.stdout


@needs_dispatch
def test_lstmcore_gemm_generic_loads_the_baseline():
    out = run_python("from lstmcore import _core; print(_core.kernel_level(), '|', _core.gemm_kernel())",
                     LSTMCORE_GEMM="generic")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "x86-64 | generic (x86-64)", out.stdout
    if "x86-64-v3" in runnable_levels():
        out = run_python("import lstmcore", LSTMCORE_GEMM="generic", LSTMCORE_ISA="v3")
        assert out.returncode != 0 and "LSTMCORE_GEMM=generic" in out.stderr, out.stderr


@needs_dispatch
def test_an_impossible_request_is_refused_at_import():
    out = run_python("import lstmcore", LSTMCORE_ISA="avx9000")
    assert out.returncode != 0
    assert "ImportError" in out.stderr and "LSTMCORE_ISA: expected baseline, v3 or v4" in out.stderr, out.stderr
    above = [level for level in ORDER if ORDER.index(level) > ORDER.index(_core.cpu_level())]
    for level in above:  # a level above the CPU's is never run
        out = run_python("import lstmcore", LSTMCORE_ISA=SHORT[level])
        assert out.returncode != 0 and "refused" in out.stderr, out.stderr


@needs_dispatch
def test_the_choice():
    from lstmcore import _cpu
    built = ["x86-64", "x86-64-v3", "x86-64-v4"]
    # unset: the highest level compiled in that the CPU runs
    assert _cpu.choose_level(None, None, built, cpu="x86-64-v4") == "x86-64-v4"
    assert _cpu.choose_level(None, None, built, cpu="x86-64-v3") == "x86-64-v3"
    assert _cpu.choose_level(None, None, built, cpu="x86-64") == "x86-64"
    assert _cpu.choose_level(None, "auto", ["x86-64", "x86-64-v3"], cpu="x86-64-v4") == "x86-64-v3"
    # forced lower levels, in both spellings
    assert _cpu.choose_level("baseline", None, built, cpu="x86-64-v4") == "x86-64"
    assert _cpu.choose_level("x86-64-v3", None, built, cpu="x86-64-v4") == "x86-64-v3"
    assert _cpu.choose_level(None, "generic", built, cpu="x86-64-v4") == "x86-64"
    assert _cpu.choose_level("baseline", "generic", built, cpu="x86-64-v4") == "x86-64"
    # refused: above the CPU, not compiled in, contradictory, unknown
    with pytest.raises(ValueError, match="this CPU runs x86-64-v3 at most: refused"):
        _cpu.choose_level("v4", None, built, cpu="x86-64-v3")
    with pytest.raises(ValueError, match="not compiled into this build"):
        _cpu.choose_level("v4", None, ["x86-64", "x86-64-v3"], cpu="x86-64-v4")
    with pytest.raises(ValueError, match="LSTMCORE_GEMM=generic"):
        _cpu.choose_level("v3", "generic", built, cpu="x86-64-v4")
    with pytest.raises(ValueError, match="LSTMCORE_GEMM: expected auto or generic"):
        _cpu.choose_level(None, "avx512", built, cpu="x86-64-v4")
    with pytest.raises(ValueError, match="cpu: expected a level name"):
        _cpu.choose_level(None, None, built, cpu="pentium")
    assert _cpu.cpu_level() == _core.cpu_level()


# The same maths at every level: float64 results of each level, computed in its own process, agree
# to rounding (levels differ in FMA contraction and vector width, so not bit for bit).
MATHS = r"""
import numpy as np, lstmcore
rng = np.random.default_rng(3)
net = lstmcore.LSTM1997(n_in=3, n_out=2, blocks=2, cells_per_block=2, dtype=np.float64, seed=5)
x = rng.standard_normal((40, 3)); t = rng.random((40, 2))
loss, grads = net.gradient(x, t, mode="truncated")
layer = lstmcore.LSTM(5, 7, num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
y, _ = layer(rng.standard_normal((9, 4, 5)))
np.save(__import__("sys").argv[1], np.concatenate([[loss], np.concatenate([g.ravel() for g in grads.values()]), y.ravel()]))
"""


@needs_dispatch
def test_every_level_computes_the_same_maths(tmp_path):
    levels = runnable_levels()
    results = {}
    for level in levels:
        path = tmp_path / f"{level}.npy"
        env = dict(os.environ, LSTMCORE_ISA=SHORT[level])
        env.pop("LSTMCORE_GEMM", None)
        out = subprocess.run([sys.executable, "-c", MATHS, str(path)], capture_output=True, text=True, env=env,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        results[level] = np.load(path)
    for level in levels[1:]:
        np.testing.assert_allclose(results[level], results[levels[0]], rtol=1e-10, atol=1e-12, err_msg=level)


@needs_dispatch
def test_the_baseline_core_has_no_avx_instructions():
    """The baseline module must start and run on any x86-64 CPU: no VEX/EVEX-encoded code (ymm/zmm
    registers, AVX-only instructions) anywhere in it, and no AVX-512 in the x86-64-v3 module."""
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump (binutils) is not installed")
    import importlib.util
    for level, banned in (("x86-64", ("%ymm", "%zmm", "vfmadd")), ("x86-64-v3", ("%zmm", "%k1"))):
        spec = importlib.util.find_spec(f"lstmcore._core_{level.replace('-', '_')}")
        if spec is None or not spec.origin:
            continue
        text = subprocess.run([objdump, "-d", "--no-show-raw-insn", spec.origin], capture_output=True, text=True,
                              timeout=600).stdout
        assert text, spec.origin
        found = [token for token in banned if token in text]
        assert not found, f"{spec.origin} holds {found}"
