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


@pytest.mark.parametrize("args", [["reber", "--blocks", "0"], ["reber", "--lr", "-1"],
                                  ["reber", "--input-gate-bias", "-1", "-2"]])
def test_bad_arguments_give_a_message_not_a_traceback(args, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("lstmcore: error:") and "Traceback" not in err


def test_unknown_option_is_an_argparse_error():
    out = run_cli("reber", "--no-such-option")
    assert out.returncode == 2 and "unrecognized arguments" in out.stderr
