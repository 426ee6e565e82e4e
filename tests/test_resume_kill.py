"""Experiment results files survive a kill at any moment.

`python -m lstmcore reproduce 6a --quick --trials N --results F` runs in its own process group; it
is SIGKILLed (with its worker processes) at several random moments, also before any trial was
written and while one may be being written, then rerun to completion each time. Finished trials
are never lost or duplicated, and the final records and table equal those of an uninterrupted
run. A torn last line is ignored with a warning. The number of kill/resume rounds is counted in
the terminal summary.
"""
import json
import os
import random
import signal
import subprocess
import sys
import time
import warnings

import pytest

from casecount import tick
from lstmcore.experiments import runner
from lstmcore.experiments.results import ResultsFileWarning, load_records

EXPERIMENT, TRIALS = "6a", 12
VOLATILE = {"seconds"}  # wall time of a trial: the only field that differs between runs


def command(results):
    return [sys.executable, "-m", "lstmcore", "reproduce", EXPERIMENT, "--quick", "--trials", str(TRIALS),
            "--jobs", "2", "--results", str(results)]


def lines(path):
    return path.read_bytes().count(b"\n") if path.exists() else 0


def stable(records):
    return sorted((json.dumps({k: v for k, v in r.items() if k not in VOLATILE}, sort_keys=True) for r in records))


def table(records):
    rows = runner.summarize(EXPERIMENT, records)
    return [{k: v for k, v in row.items() if "second" not in k and "time" not in k} for row in rows]


def load_after_kills(path):
    """The records of a file written by killed runs: a kill inside a write may leave a torn line
    (later ended with a newline by the resuming run), which is skipped with a warning; any other
    warning fails the test."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResultsFileWarning)
        records = load_records(path)
    for w in caught:
        assert issubclass(w.category, ResultsFileWarning) and "torn line" in str(w.message), w
    return records


def kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # already finished
        pass
    proc.wait(timeout=60)


def test_results_survive_sigkill_at_random_moments(tmp_path):
    reference = tmp_path / "reference.jsonl"
    subprocess.run(command(reference), check=True, capture_output=True, timeout=600)
    ref_records = load_records(reference)
    assert sorted(r["trial"] for r in ref_records) == list(range(TRIALS))

    # The random delay before a kill stays under half the shortest trial of the reference run, so a
    # kill lands in the trial after the awaited one (possibly in its write) and never lets the run
    # finish on its own (a fixed 0.3 s did, once trials got faster, and left too few rounds).
    max_delay = 0.5 * min(r["seconds"] for r in ref_records)

    results = tmp_path / "killed.jsonl"
    rng = random.Random(20261130)
    rounds, partial = 0, 0
    # where to kill: before anything was written (during start-up), then after k finished trials
    # plus a random delay (which may fall inside the next write)
    plan = [0] + sorted(rng.sample(range(1, TRIALS - 1), 4))
    for after in plan:
        before = lines(results)
        if before >= TRIALS:
            break
        proc = subprocess.Popen(command(results), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.monotonic() + 300
        while lines(results) < after and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, max_delay))
        kill_group(proc)
        rounds += 1
        records = load_after_kills(results)
        trials = [r["trial"] for r in records]
        assert len(trials) == len(set(trials)), f"duplicated trials after kill {rounds}: {sorted(trials)}"
        assert len(trials) >= before, "finished trials were lost"
        partial += 0 < len(trials) < TRIALS
    tick("kill/resume rounds (SIGKILL of reproduce, then resume)", rounds)
    assert rounds >= 4 and partial >= 2, (rounds, partial)  # killed mid-run, with trials already written
    # resume to completion
    out = subprocess.run(command(results), check=True, capture_output=True, text=True, timeout=600)
    assert "Wall time" in out.stdout
    final = load_after_kills(results)
    assert sorted(r["trial"] for r in final) == list(range(TRIALS))  # none lost, none twice
    assert stable(final) == stable(ref_records)  # the same numbers as an uninterrupted run
    assert table(final) == table(ref_records)


def test_torn_last_line_is_ignored_with_a_warning_and_the_trial_rerun(tmp_path):
    results = tmp_path / "torn.jsonl"
    subprocess.run(command(results), check=True, capture_output=True, timeout=600)
    full = results.read_text().splitlines()
    # a kill mid-write: 5 complete records and half of the sixth, no newline
    results.write_text("\n".join(full[:5]) + "\n" + full[5][: len(full[5]) // 2])
    with pytest.warns(ResultsFileWarning, match="line 6"):
        assert len(load_records(results)) == 5
    out = subprocess.run(command(results), check=True, capture_output=True, text=True, timeout=600)
    assert f"lstmcore: warning: {results}: ignoring line 6:" in out.stderr
    with pytest.warns(ResultsFileWarning):
        final = load_records(results)
    assert sorted(r["trial"] for r in final) == list(range(TRIALS))
    assert stable(final) == stable(json.loads(line) for line in full)
