"""The command line under faults: termination signals, user mistakes, damaged results files.

- SIGTERM to ``lstmcore reproduce`` is handled like Ctrl-C: the workers are stopped, the process
  exits with 143 and a message that a rerun resumes, and nothing keeps the caller's pipes open.
- SIGKILL of ``lstmcore reproduce``: its workers end with it (they watch their parent), so the
  caller's pipes close.
- A user's mistake is one line on stderr and exit code 2, never a traceback, and it is found before
  any trial runs.

Every wait is bounded, so a regression fails instead of hanging.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from lstmcore.cli import main
from lstmcore.experiments.results import locked_results

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def children(pid):
    """Live (not zombie) processes whose parent is pid."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry))
    return out


def alive(pids):
    out = []
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    out.append(p)
        except OSError:
            pass
    return out


def start_long_run(results):
    """A reproduce run whose two trials take far longer than the test (a tiny learning rate never
    reaches the milestone within a huge budget)."""
    cmd = [sys.executable, "-m", "lstmcore", "reproduce", "6a", "--trials", "2", "--jobs", "2", "--results",
           str(results), "--set", "max_sequences=100000000", "--set", "lr=1e-9"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    workers = []
    while time.monotonic() < deadline and len(workers) < 2:
        if proc.poll() is not None:
            out, err = proc.communicate(timeout=10)
            pytest.fail(f"the run ended early ({proc.returncode}): {err.decode()[-2000:]}")
        workers = children(proc.pid)
        time.sleep(0.1)
    assert len(workers) >= 2, "the workers did not start within 60 s"
    time.sleep(0.5)  # inside their trials
    return proc, workers


def stop(proc, workers):
    """Clean up after a failure: kill the run and its workers, close the pipes."""
    for w in alive(workers):
        os.kill(w, signal.SIGKILL)
    proc.kill()
    proc.communicate(timeout=30)


def wait_gone(pids, seconds=20):
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids)


@linux_only
def test_sigterm_stops_the_workers_and_exits_like_an_interrupt(tmp_path):
    proc, workers = start_long_run(tmp_path / "r.jsonl")
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=60)  # EOF on both pipes: nobody holds them any more
    except subprocess.TimeoutExpired:
        stop(proc, workers)
        pytest.fail("lstmcore reproduce did not end within 60 s of SIGTERM (or its workers hold its pipes)")
    err = err.decode()
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM)" in err and "again resumes" in err
    assert "Traceback" not in err
    assert wait_gone(workers) == []


@linux_only
def test_workers_end_when_the_run_is_killed(tmp_path):
    proc, workers = start_long_run(tmp_path / "r.jsonl")
    proc.kill()
    try:
        proc.communicate(timeout=60)  # the workers share these pipes: EOF only once they are gone
    except subprocess.TimeoutExpired:
        stop(proc, workers)
        pytest.fail("the workers of a killed run kept running (and held its pipes)")
    assert wait_gone(workers) == []


# ------------------------------------------------------------------------------- user mistakes
def run(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def quick_run(results, *extra):
    return ("reproduce", "6a", "--quick", "--trials", "1", "--jobs", "1", "--results", str(results)) + extra


@pytest.mark.parametrize("setting, named", [
    ("check_every=0", "check_every"), ("window=0", "window"), ("update=epoch", "update"),
    ("max_sequences=1e999", "max_sequences"), ("max_sequences=12.7", "max_sequences"),
    ("lr=-1", "lr"), ("lr=NaN", "lr"), ("lr=Infinity", "lr"), ("lr=abc", "lr"),
    ("blocks=-2", "blocks"), ("out_activation=tanh", "out_activation"), ("test_size=-1", "test_size"),
])
def test_bad_set_values_exit_2_naming_the_setting(setting, named, tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    code, out, err = run(capsys, *quick_run(results, "--set", setting))
    assert code == 2
    assert err.startswith(f"lstmcore: error: overrides: {named}") and err.count("\n") == 1, err
    assert not results.exists() or results.read_text() == ""


@pytest.mark.parametrize("flag", ["--results", "--report", "--plot"])
@pytest.mark.parametrize("where", ["DIR", "/dev/null"])
def test_unusable_output_paths_exit_2_before_any_trial(flag, where, tmp_path, capsys):
    path = str(tmp_path) if where == "DIR" else where
    args = list(quick_run(tmp_path / "r.jsonl"))
    if flag == "--results":
        args[args.index("--results") + 1] = path
    else:
        args += [flag, path]
    code, out, err = run(capsys, *args)
    assert code == 2 and err.startswith(f"lstmcore: error: {flag}:"), err
    assert not (tmp_path / "r.jsonl").exists()  # checked before any trial ran


@pytest.mark.parametrize("args, named", [
    (("report", "--results", "DIR", "--out", "OUT"), "--results"),
    (("report", "--results", "GOOD", "--out", "DIR"), "--out"),
    (("report", "--results", "GOOD", "--out", "/dev/null"), "--out"),
    (("report", "--results", "GOOD", "--out", "OUT", "--archive", "DIR"), "--archive"),
    (("report", "--results", "MISSING", "--out", "OUT"), "--results"),
    (("reber", "--trials", "2", "--results", "DIR"), "--results"),
    (("reber", "--readings", "all", "--results", "GOOD", "--report", "DIR"), "--report"),
])
def test_report_and_reber_paths_exit_2(args, named, tmp_path, capsys):
    good = tmp_path / "good.jsonl"
    good.write_text("")
    names = {"DIR": str(tmp_path), "GOOD": str(good), "OUT": str(tmp_path / "out.md"),
             "MISSING": str(tmp_path / "missing.jsonl")}
    code, out, err = run(capsys, *[names.get(a, a) for a in args])
    assert code == 2 and err.startswith(f"lstmcore: error: {named}"), err


@pytest.mark.parametrize("args, named", [
    (("reproduce", "6a", "--trials", str(10 ** 20)), "--trials"),
    (("reproduce", "6a", "--trials", str(10 ** 8)), "--trials"),
    (("reber", "--blocks", str(10 ** 8)), "--blocks"),
    (("reber", "--blocks", str(10 ** 8), "--trials", "2"), "--blocks"),
    (("reber", "--trials", str(10 ** 8)), "--trials"),
    (("tasks", "show", "2c", "--size", str(10 ** 13)), "p, q"),
])
def test_oversized_runs_are_refused_at_once(args, named, capsys):
    t0 = time.monotonic()
    code, out, err = run(capsys, *args)
    assert code == 2 and err.startswith(f"lstmcore: error: {named}"), err
    assert "Traceback" not in err
    assert time.monotonic() - t0 < 60  # not a spin or an allocation of the requested size


def test_a_results_file_in_use_exits_2(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    with locked_results(results):
        code, out, err = run(capsys, *quick_run(results))
    assert code == 2 and "in use by another run" in err


def test_report_on_damaged_records_warns_once_per_line_and_writes_the_report(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    assert run(capsys, *quick_run(results))[0] == 0
    record = json.loads(results.read_text().splitlines()[0])
    with open(results, "ab") as f:
        f.write((json.dumps(dict(record, trial=True)) + "\n").encode())
        f.write((json.dumps({k: v for k, v in record.items() if k != "success"}) + "\n").encode())
        f.write(b"\xff\xfe not utf-8\n")
    out_md = tmp_path / "report.md"
    code, out, err = run(capsys, "report", "--results", str(results), "--out", str(out_md))
    assert code == 0, err
    assert out_md.exists() and "6a" in out_md.read_text()
    lines = err.splitlines()
    assert len(lines) == 3
    for n, line in zip((2, 3, 4), lines):
        assert line.startswith(f"lstmcore: warning: {results}: ignoring line {n}: ")
    assert "'trial'" in lines[0] and "'success'" in lines[1] and "UTF-8" in lines[2]
    # a rerun of the same run resumes from the good record and does not count the damaged ones
    code, out, err = run(capsys, *quick_run(results, "--trials", "2"))
    assert code == 0
    assert "1 to run" in err


def test_plot_with_an_unknown_image_format_exits_2_before_any_trial(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    code, out, err = run(capsys, *quick_run(tmp_path / "r.jsonl", "--plot", str(tmp_path / "curves.xyz")))
    assert code == 2 and err.startswith("lstmcore: error: --plot:"), err
    assert not (tmp_path / "r.jsonl").exists()


def test_plot_is_written_whole(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "curves.png"
    png.write_bytes(b"old")
    code, out, err = run(capsys, *quick_run(tmp_path / "r.jsonl", "--plot", str(png)))
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_a_results_file_that_cannot_be_written_exits_2_before_any_trial(tmp_path, capsys):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, out, err = run(capsys, *quick_run(locked / "r.jsonl"))
    finally:
        locked.chmod(0o700)
    assert code == 2 and "cannot be written" in err, err
