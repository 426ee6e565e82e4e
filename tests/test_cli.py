"""The command line: the main job, the paper's protocol, the task display, bad arguments."""
import json
import subprocess
import sys

import pytest

from lstmcore.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "lstmcore", *args], capture_output=True, text=True, timeout=600)


def test_reber_demo_learns_and_reports():
    out = run_cli("reber", "--json")
    assert out.returncode == 0, out.stderr
    assert "learned after" in out.stdout and "paper (Table 1)" in out.stdout
    # what was run beside what the paper ran, with the budget `lstmcore reproduce` uses for Exp. 1
    from lstmcore.experiments.registry import get_experiment
    assert f"one trial (data seed 1, init seed 0), budget {get_experiment('1-3x2-lr0.5').max_sequences:,} strings" \
        in out.stdout
    assert "the mean over its 30 trials; this was 1 trial" in out.stdout
    assert "ETA" not in out.stderr.strip().splitlines()[-1]  # the last progress line: where training stopped
    assert "training [" in out.stderr  # progress
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["success"] and result["n_weights"] == 276


def test_reber_protocol_prints_table(capsys):
    code = main(["reber", "--trials", "2", "--max-sequences", "300", "--jobs", "2"])
    assert code == 0
    text = capsys.readouterr().out
    assert "| lstmcore | 0/2" in text and "| paper | 100 % of 30 | 8,440 |" in text


def test_reber_unsuccessful_trial_exits_nonzero(capsys):
    assert main(["reber", "--max-sequences", "200"]) == 1
    assert "not learned within 200 strings" in capsys.readouterr().out


def test_tasks_show(capsys):
    assert main(["tasks", "show", "reber", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("embedded Reber string: B") and "legal next" in out


@pytest.mark.parametrize("name", ["2a", "2b", "2c", "3a", "3b", "3c", "4", "5", "6a", "6b"])
def test_tasks_show_every_task(name, capsys):
    import numpy as np

    from lstmcore.cli import _make_task

    size = 30 if name in ("3a", "3b", "3c", "4", "5") else 12
    assert main(["tasks", "show", name, "--seed", "2"] + ([] if name.startswith("6") else ["--size", str(size)])) == 0
    out = capsys.readouterr().out.splitlines()
    x, target, mask = _make_task(name, None if name.startswith("6") else size).sample(np.random.default_rng(2))
    assert out[0].startswith("Experiment " + name)  # the task's own description
    steps = [line for line in out if line.startswith("  t=")]
    assert len(steps) == len(x)  # one line per step of the same sample
    assert sum(not line.endswith("target -") for line in steps) == int(mask.sum())


@pytest.mark.parametrize("args", [["reber", "--blocks", "0"], ["reber", "--lr", "-1"],
                                  ["reber", "--input-gate-bias", "-1", "-2"], ["tasks", "show", "4", "--size", "0"],
                                  ["report", "--results", "no/such/file.jsonl"]])
def test_bad_arguments_give_a_message_not_a_traceback(args, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("lstmcore: error:") and "Traceback" not in err


def test_unknown_option_is_an_argparse_error():
    out = run_cli("reber", "--no-such-option")
    assert out.returncode == 2 and "unrecognized arguments" in out.stderr


def test_version_is_written_once_and_shown_by_the_cli():
    """`lstmcore --version`, lstmcore.__version__ and the installed metadata agree with _version.py."""
    import re
    import subprocess
    import sys
    from importlib.metadata import version
    from pathlib import Path

    import lstmcore
    from lstmcore import _version

    assert lstmcore.__version__ == _version.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", lstmcore.__version__)
    assert version("lstmcore") == lstmcore.__version__
    out = subprocess.run([sys.executable, "-m", "lstmcore", "--version"], capture_output=True, text=True, check=True)
    first, second = out.stdout.strip().split("\n")
    assert first == f"lstmcore {lstmcore.__version__}"
    assert second.startswith(f"core: {lstmcore._core.kernel_level()} (compiled: "), second  # the ISA level that runs
    root = Path(__file__).resolve().parent.parent
    if (root / "CMakeLists.txt").exists():  # a checkout: no other file writes the version
        assert 'dynamic = ["version"]' in (root / "pyproject.toml").read_text()
        assert "project(lstmcore VERSION ${LSTMCORE_VERSION}" in (root / "CMakeLists.txt").read_text()


@pytest.mark.parametrize("args", [("reproduce", "--list"), ("tasks", "show", "reber")])
def test_a_closed_stdout_pipe_ends_quietly(args):
    """`lstmcore ... | head`: the reader is gone before the output is written; no traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "lstmcore", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=600) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err, err


def _all_parsers(parser):
    import argparse
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def test_every_option_has_help_that_shows_its_default():
    import argparse

    from lstmcore.cli import build_parser
    missing = []
    for parser in _all_parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            name = f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
            shown = parser._get_formatter()._get_help_string(action)
            if not action.help:
                missing.append(f"{name}: no help")
            elif action.default is not None and action.default is not False and "default" not in shown:
                missing.append(f"{name}: default {action.default!r} not shown")
    assert not missing, "\n".join(missing)


def test_progress_ends_without_an_eta_where_the_work_stopped():
    import io

    from lstmcore._progress import Progress
    stream = io.StringIO()
    bar = Progress(1000, "training", stream=stream)
    bar.update(300, "strings", force=True)
    assert "ETA" in stream.getvalue().splitlines()[-1]
    bar.close(450, "strings, learned")
    last = stream.getvalue().splitlines()[-1]
    assert "450/1,000 strings, learned" in last and "ETA" not in last


@pytest.mark.parametrize("task, inputs, targets", [("2a", {"a_1", "a_4"}, {"a_1", "a_2", "a_3", "a_4", "x", "y"}),
                                                   ("2c", {"b", "e"}, {"x", "y"}),
                                                   ("6a", {"E", "B"}, {"Q", "R", "S", "U"})])
def test_tasks_show_prints_symbol_names(task, inputs, targets):
    out = run_cli("tasks", "show", task, "--size", "5") if task != "6a" else run_cli("tasks", "show", task)
    assert out.returncode == 0, out.stderr
    steps = [line.split() for line in out.stdout.splitlines() if line.strip().startswith("t=")]
    shown_in = {s[s.index("input") + 1] for s in steps}
    shown_target = {s[s.index("target") + 1] for s in steps} - {"-"}
    assert inputs <= shown_in and shown_target and shown_target <= targets | shown_in
    assert "symbol" not in out.stdout.split("'-' = no target")[1]


def test_compare_torch_help_names_only_its_own_flags():
    from pathlib import Path
    script = Path(__file__).resolve().parent.parent / "bench" / "compare_torch.py"
    if not script.exists():  # pragma: no cover - tests run from a copy without bench/
        pytest.skip("bench/ not present")
    pytest.importorskip("torch")
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "--markdown" not in out.stdout
    for flag in ("--repeats", "--only", "--json"):
        assert flag in out.stdout
    assert "(default: 15)" in out.stdout
