"""Experiments under faults: bad override values, damaged results files, oversized runs, two runs
on one results file, bad arguments of the runner API.

Every bad value is refused in the caller's process, before a trial runs, with a message naming the
setting; damaged lines of a results file are skipped with a warning naming the file and the line
and never counted as trials; a second run on a locked results file is refused.
"""
import concurrent.futures as cf
import json
import math
import threading

import numpy as np
import pytest

from lstmcore.experiments import runner
from lstmcore.experiments.checks import MAX_TRIALS, check_experiment
from lstmcore.experiments.registry import EXPERIMENTS
from lstmcore.experiments.results import (ResultsFileBusy, ResultsFileWarning, archive_records, load_records,
                                          locked_results, record_problem)

EXP = "6a"


class _NoSubmit(cf.Executor):
    """An executor that fails the test if any trial reaches it."""

    def submit(self, fn, *args, **kwargs):
        raise AssertionError("a trial was submitted")


# ------------------------------------------------------------------------------- override values
@pytest.mark.parametrize("overrides, setting", [
    ({"check_every": 0}, "check_every"),
    ({"window": 0}, "window"),
    ({"update": "epoch"}, "update"),
    ({"max_sequences": math.inf}, "max_sequences"),
    ({"max_sequences": 12.7}, "max_sequences"),
    ({"max_sequences": -5}, "max_sequences"),
    ({"max_sequences": True}, "max_sequences"),
    ({"lr": -1}, "lr"),
    ({"lr": 0}, "lr"),
    ({"lr": math.nan}, "lr"),
    ({"lr": math.inf}, "lr"),
    ({"lr": "abc"}, "lr"),
    ({"blocks": -1}, "blocks"),
    ({"cells_per_block": 0}, "cells_per_block"),
    ({"out_activation": "bogus"}, "out_activation"),
    ({"g": "g9"}, "g"),
    ({"init_range": math.nan}, "init_range"),
    ({"test_size": -3}, "test_size"),
    ({"test_beta": -0.1}, "test_beta"),
    ({"construction": "random"}, "construction"),
    ({"input_gate_bias": "abc"}, "input_gate_bias"),
    ({"output_gate_bias": [math.nan]}, "output_gate_bias"),
    ({"criterion": "strict"}, "criterion"),   # a rule setting 6a's milestones do not have
    ({"task_args": {"variant": "x"}}, "variant"),
])
def test_bad_override_values_are_refused_before_any_trial(overrides, setting, tmp_path):
    results = tmp_path / "r.jsonl"
    with pytest.raises((ValueError, TypeError)) as info:
        runner.run_experiment(EXP, 1, results, quick=True, overrides=overrides, executor=_NoSubmit())
    message = str(info.value)
    assert message.startswith("overrides:") and setting in message
    assert len(message) < 300  # a message, not a dump of arrays
    assert not results.exists() or results.read_text() == ""
    with pytest.raises((ValueError, TypeError)):
        runner.run_trial(EXP, quick=True, overrides=overrides)


@pytest.mark.parametrize("name, overrides, setting", [
    ("1-3x2-lr0.5", {"targets": "all"}, "targets"),
    ("1-3x2-lr0.5", {"train_size": 0}, "train_size"),
    ("1-3x2-lr0.5", {"distinct": "no"}, "distinct"),
    ("1-3x2-lr0.5", {"gradient": "full"}, "gradient"),  # needs update 'sequence'
    ("1-3x2-lr0.5", {"data_seed": -1}, "data_seed"),
    ("2a", {"plateau_window": 0}, "plateau_window"),
    ("2a", {"plateau_tolerance": math.nan}, "plateau_tolerance"),
    ("2a", {"success_check": "maybe"}, "success_check"),
    ("3a-T100-N3", {"size": 0}, "size"),
    ("2c-q50-p50", {"sequences": 0}, "sequences"),
])
def test_bad_option_and_rule_values_are_refused(name, overrides, setting):
    with pytest.raises((ValueError, TypeError), match=setting):
        runner.resolve(name, quick=True, overrides=overrides)


def test_whole_number_floats_are_integers_and_other_values_unchanged():
    exp = runner.resolve(EXP, quick=True, overrides={"max_sequences": 1e3, "window": 50.0})
    assert exp.max_sequences == 1000 and type(exp.max_sequences) is int
    assert exp.milestones[0].window == 50 and type(exp.milestones[0].window) is int


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_registry_row_and_its_quick_form_pass_the_checks(name):
    exp = EXPERIMENTS[name]
    assert check_experiment(exp, "registry") is exp  # nothing to normalise: fingerprints unchanged
    quick = runner.resolve(name, quick=True)
    assert check_experiment(quick, "registry") is quick


def test_fingerprints_do_not_change_when_overrides_are_checked():
    plain = runner.resolve(EXP, quick=True)
    same = runner.resolve(EXP, quick=True, overrides={"lr": plain.lr})
    assert runner.fingerprint(plain) == runner.fingerprint(same)


# ------------------------------------------------------------------------------- small API ones
@pytest.mark.parametrize("kwargs, name", [
    (dict(quick="no"), "quick"),
    (dict(quick=1), "quick"),
    (dict(executor=object()), "executor"),
    (dict(results=5), "results"),
    (dict(on_result=5), "on_result"),
    (dict(trials=2.5), "trials"),
    (dict(trials=10 ** 20), "trials"),
    (dict(trials=MAX_TRIALS + 1), "trials"),
    (dict(overrides=[("lr", 1)]), "overrides"),
    (dict(overrides={1: 2}), "overrides"),
])
def test_bad_runner_arguments_name_the_argument(kwargs, name, tmp_path):
    kwargs.setdefault("results", tmp_path / "r.jsonl")
    kwargs.setdefault("trials", 1)
    if "executor" not in kwargs:
        kwargs["executor"] = _NoSubmit()
    with pytest.raises((ValueError, TypeError), match=f"^{name}"):
        runner.run_experiment(EXP, **kwargs)


def test_progress_that_is_not_callable_is_named():
    with pytest.raises(TypeError, match="^progress"):
        runner.run_trial(EXP, quick=True, progress=5)


@pytest.mark.parametrize("quick", ["no", 0, None])
def test_quick_must_be_a_bool(quick):
    with pytest.raises(TypeError, match="^quick"):
        runner.resolve(EXP, quick=quick)


@pytest.mark.parametrize("path", ["DIR", "/dev/null"])
def test_results_path_that_is_not_a_regular_file_is_refused(path, tmp_path):
    path = str(tmp_path) if path == "DIR" else path
    with pytest.raises(ValueError, match="^results"):
        runner.run_experiment(EXP, 1, path, quick=True, executor=_NoSubmit())


def test_trials_are_submitted_lazily_with_a_bounded_number_in_flight(monkeypatch):
    submitted = []
    in_flight = [0, 0]

    class Lazy(cf.Executor):
        def submit(self, fn, *args, **kwargs):
            submitted.append(args[2])
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
            f = cf.Future()
            f.set_result({"experiment": args[1], "trial": args[2]})
            return f

    def on_result(r):
        in_flight[0] -= 1

    out = runner.run_experiment(EXP, MAX_TRIALS, None, quick=True, jobs=2, executor=Lazy(), on_result=on_result)
    assert len(out) == MAX_TRIALS and [r["trial"] for r in out[:3]] == [0, 1, 2]
    assert submitted == list(range(MAX_TRIALS))
    assert in_flight[1] <= 4  # 2 per worker, never all of them up front


# ------------------------------------------------------------------------------- results records
def _good_record(tmp_path):
    path = tmp_path / "good.jsonl"
    runner.run_experiment(EXP, 2, path, quick=True, jobs=1)
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_damaged_records_are_skipped_with_file_and_line_and_never_counted(tmp_path):
    good = _good_record(tmp_path)
    first = good[0]
    bad = [
        dict(first, trial=True),                                    # "trial": true
        {k: v for k, v in first.items() if k not in ("success", "sequences", "milestones")},  # no results
        dict(first, trial="1"),                                     # a key of the wrong type
        dict(first, key=5),
        dict(first, tests={"ST3(0.1)": 5}),
        dict(first, milestones={"ST3(0.1)": "soon"}),
        dict(first, trial=-1),
    ]
    path = tmp_path / "r.jsonl"
    with open(path, "wb") as f:
        f.write((json.dumps(good[0]) + "\n").encode())
        for r in bad:
            f.write((json.dumps(r) + "\n").encode())
        f.write(b'{"experiment": "6a\xff\xfe"}\n')                  # not UTF-8
        f.write(b"[1, 2, 3]\n")                                     # JSON, not an object
        f.write((json.dumps(good[1]) + "\n").encode())
        f.write(b'{"experiment": "6a", "tri')                      # torn last line
    with pytest.warns(ResultsFileWarning) as caught:
        records = load_records(path)
    assert records == [good[0], good[1]]
    messages = [str(w.message) for w in caught]
    assert len(messages) == len(bad) + 3
    numbers = list(range(2, len(bad) + 4)) + [len(bad) + 5]  # line len(bad) + 4 is the second good record
    for number, message in zip(numbers, messages):
        assert message.startswith(f"{path}: ignoring line {number}:")
    assert "UTF-8" in messages[len(bad)]
    # the run resumes from the good records only and the summary is built
    seen = []
    with pytest.warns(ResultsFileWarning):
        out = runner.run_experiment(EXP, 3, path, quick=True, jobs=1, on_result=seen.append)
    assert [r["trial"] for r in out] == [0, 1, 2]
    assert [r["trial"] for r in seen] == [0, 1, 2]
    rows = runner.summarize(EXP, out)
    assert rows and rows[0]["trials"] == 3


def test_record_problem_accepts_what_run_trial_writes(tmp_path):
    for r in _good_record(tmp_path):
        assert record_problem(r) is None
        assert record_problem(json.loads(json.dumps({k: v for k, v in r.items() if k != "curve"}))) is None


def test_summarize_survives_odd_but_valid_test_figures(tmp_path):
    good = _good_record(tmp_path)
    odd = [dict(r, tests={m: {"wrong": "many", "n": "x"} for m in r["milestones"]},
                details={"final": "none"}) for r in good]
    assert record_problem(odd[0]) is None
    rows = runner.summarize(EXP, odd)
    assert rows[0]["trials"] == 2 and "wrong" not in rows[0]["test"]


def test_archive_is_written_atomically_and_refuses_a_directory(tmp_path):
    _good_record(tmp_path)
    dest = tmp_path / "a.jsonl"
    dest.write_text("old\n")
    assert archive_records([tmp_path / "good.jsonl"], dest) == 2
    assert len(load_records(dest)) == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    with pytest.raises(ValueError, match="^archive"):
        archive_records([tmp_path / "good.jsonl"], tmp_path)


# ------------------------------------------------------------------------------- one file, two runs
def test_a_second_run_on_a_locked_results_file_is_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    with locked_results(path):
        with pytest.raises(ResultsFileBusy, match="in use by another run"):
            runner.run_experiment(EXP, 1, path, quick=True, jobs=1)
    assert path.read_text() == ""
    assert len(runner.run_experiment(EXP, 1, path, quick=True, jobs=1)) == 1  # free again


def test_concurrent_runs_on_one_file_do_the_work_once(tmp_path):
    """Two threads start a run on one file at once: exactly one of them runs the trials, the other
    is refused; afterwards every trial is in the file exactly once."""
    path = tmp_path / "r.jsonl"
    barrier = threading.Barrier(2)
    outcome = []

    def run():
        barrier.wait(timeout=30)
        try:
            with cf.ThreadPoolExecutor(1) as pool:
                runner.run_experiment(EXP, 3, path, quick=True, executor=pool)
            outcome.append("ran")
        except ResultsFileBusy:
            outcome.append("refused")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    records = load_records(path)
    assert sorted(r["trial"] for r in records) == [0, 1, 2]
    # either one ran and the other was refused, or the second started after the first had finished
    assert outcome.count("ran") >= 1 and len(outcome) == 2
    assert len(records) == 3


def test_numbers_are_the_same_with_the_checks(tmp_path):
    """Checked overrides run the same trial as the registry row itself."""
    a = runner.run_trial(EXP, 0, quick=True)
    b = runner.run_trial(EXP, 0, quick=True, overrides={"lr": EXPERIMENTS[EXP].lr})
    assert a["sequences"] == b["sequences"]
    assert np.allclose([p[1] for p in a["curve"]], [p[1] for p in b["curve"]])


@pytest.mark.parametrize("jobs", [0, -1, 2.0, "2"])
def test_jobs_are_checked_with_any_executor(jobs):
    with pytest.raises((ValueError, TypeError), match="^jobs"):
        runner.run_experiment(EXP, 1, None, quick=True, jobs=jobs, executor=_NoSubmit())


def test_in_flight_follows_the_executors_worker_count():
    with cf.ThreadPoolExecutor(3) as pool:
        assert runner._executor_workers(pool) == 3
    assert runner._executor_workers(_NoSubmit()) == 32
