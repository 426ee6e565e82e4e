"""Terminal output: markdown tables aligned to the terminal's width; LSTMCORE_GEMM not silently ignored."""
import os
import subprocess
import sys

import pytest

from lstmcore._gemm_env import gemm_env_problem
from lstmcore._terminal import terminal_tables

MARKDOWN = """before
| experiment | run | verdict |
|---|---|---|
| 6a | quick | differs: success 0 % < 100 %; no trial reached it |
| 2c-q1000-p1000 | paper settings | matches |
after"""


def test_tables_are_aligned_without_the_separator_line():
    lines = terminal_tables(MARKDOWN, width=200).split("\n")
    assert lines[0] == "before" and lines[-1] == "after" and len(lines) == 5
    assert not any("|" in line or "---" in line for line in lines)
    # every column starts at the same offset in every row
    starts = [line.index("quick") for line in lines if "quick" in line] + [lines[1].index("run")]
    assert len(set(starts)) == 1 and lines[3].index("paper settings") == starts[0]


@pytest.mark.parametrize("width", [80, 60, 40])
def test_tables_fit_the_width(width):
    text = terminal_tables(MARKDOWN, width=width)
    assert all(len(line) <= width for line in text.split("\n"))
    assert "~" in text  # the verdict column was cut, and says so


def test_text_without_tables_is_unchanged():
    assert terminal_tables("a\nb | c\n", width=10) == "a\nb | c\n"


@pytest.mark.parametrize("env, kernel, problem", [
    ({}, "avx2+fma (build)", None),
    ({"LSTMCORE_GEMM": "auto"}, "avx2+fma (build)", None),
    ({"LSTMCORE_GEMM": "generic"}, "avx2+fma (build)", "is ignored"),
    ({"LSTMCORE_GEMM": "generic"}, "avx2+fma (run-time dispatch)", None),
    ({"LSTMCORE_GEMM": "avx512"}, "generic", "expected one of auto, generic"),
])
def test_gemm_env_problem(env, kernel, problem):
    found = gemm_env_problem(env, kernel)
    assert (found is None) if problem is None else (problem in found)


def test_import_warns_when_lstmcore_gemm_cannot_apply():
    from lstmcore import _core
    env = dict(os.environ, LSTMCORE_GEMM="generic")
    env.pop("LSTMCORE_ISA", None)  # (a CI run forcing a level above the baseline would contradict it)
    out = subprocess.run([sys.executable, "-c", "import lstmcore"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    native = _core.gemm_kernel().endswith("(build)")
    assert ("LSTMCORE_GEMM=generic is ignored" in out.stderr) == native, out.stderr
