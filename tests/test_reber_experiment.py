"""The Experiment 1 protocol runner and the readings sweep: parallel trials, ordering, resume."""
import concurrent.futures as cf
import json

import pytest

from lstmcore.experiments import reber_readings, run_reber_experiment, run_reber_trial, summarize_reber
from lstmcore.experiments.results import ResultsFileWarning


def test_protocol_runs_every_pair_in_parallel_and_matches_single_trials():
    seen = []
    results = run_reber_experiment(data_seeds=[0, 1], init_seeds=[3, 4], max_sequences=300, jobs=2,
                                   on_result=seen.append)
    assert [(r["config"]["data_seed"], r["config"]["init_seed"]) for r in results] == [(0, 3), (0, 4), (1, 3), (1, 4)]
    assert len(seen) == 4
    alone = run_reber_trial(data_seed=1, init_seed=4, max_sequences=300).to_dict()
    assert results[3]["loss_history"] == alone["loss_history"]  # processes change nothing
    s = summarize_reber(results)
    assert s["trials"] == 4 and s["successes"] == 0


def test_any_executor_runs_the_trials():
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        results = run_reber_experiment(data_seeds=[0], init_seeds=[0, 1], max_sequences=200, executor=pool)
    assert len(results) == 2


def test_readings_sweep_resumes_without_redoing_trials(tmp_path):
    path = tmp_path / "r.jsonl"
    args = ["--readings", "paper", "legend", "--max-sequences", "200", "--data-seeds", "1", "--init-seeds", "2",
            "--jobs", "2", "--results", str(path), "--report", str(tmp_path / "r.md")]
    assert reber_readings.main(args) == 0
    first = path.read_text().splitlines()
    assert len(first) == 4
    with open(path, "a") as f:
        f.write('{"torn": ')  # a run killed mid-write
    with pytest.warns(ResultsFileWarning, match="torn line"):
        assert reber_readings.main(args) == 0
    assert path.read_text().splitlines()[:4] == first  # nothing redone
    # a new trial after the torn line lands on a line of its own
    with pytest.warns(ResultsFileWarning, match="torn line"):
        assert reber_readings.main(args[:7] + ["--init-seeds", "3"] + args[9:]) == 0
    lines = path.read_text().splitlines()
    assert lines[4] == '{"torn": ' and len(lines) == 7 and all(json.loads(line) for line in lines[5:])
    table = (tmp_path / "r.md").read_text()
    assert "| 3×2 | 0.5 | paper | 0/3 (0 %)" in table and "| 3×2 | 0.5 | legend | 0/3 (0 %)" in table
    assert all(json.loads(line)["reading"] in ("paper", "legend") for line in first)
