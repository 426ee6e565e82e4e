"""Experiment 1 through the one runner: the paper's grid of data sets and initialisations, any
executor, and the readings sweep (`lstmcore reber --readings`) with resume."""
import concurrent.futures as cf
import json

from lstmcore.cli import main
from lstmcore.experiments import run_experiment, run_trial, summarize


def test_protocol_runs_the_grid_in_parallel_and_matches_single_trials():
    seen = []
    over = {"max_sequences": 300}
    results = run_experiment("1-3x2-lr0.5", 12, jobs=2, on_result=seen.append, overrides=over)
    assert [(r["details"]["data_seed"], r["details"]["init_seed"]) for r in results] == \
        [(i // 10, i % 10) for i in range(12)]
    assert len(seen) == 12
    alone = run_trial("1-3x2-lr0.5", 11, overrides=over)
    # processes change nothing
    assert results[11]["curve"] == alone["curve"] and results[11]["details"] == alone["details"]
    row = summarize("1-3x2-lr0.5", results)[0]
    assert row["trials"] == 12 and row["reached"] == 0


def test_any_executor_runs_the_trials():
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        results = run_experiment("1-4x1-lr0.1", 2, executor=pool, overrides={"max_sequences": 200})
    assert len(results) == 2 and all(r["n_weights"] == 264 for r in results)


def test_readings_sweep_resumes_without_redoing_trials(tmp_path, capsys):
    path = tmp_path / "r.jsonl"
    args = ["reber", "--readings", "paper", "legend", "--max-sequences", "200", "--trials", "2", "--jobs", "2",
            "--results", str(path), "--report", str(tmp_path / "r.md")]
    assert main(args) == 0
    first = path.read_text().splitlines()
    assert len(first) == 4
    with open(path, "a") as f:
        f.write('{"torn": ')  # a run killed mid-write
    capsys.readouterr()
    assert main(args) == 0
    assert f"lstmcore: warning: {path}: ignoring line 5: not a complete JSON record" in capsys.readouterr().err
    assert path.read_text().splitlines()[:4] == first  # nothing redone
    # a new trial after the torn line lands on a line of its own
    assert main(args[:6] + ["--trials", "3"] + args[8:]) == 0
    assert f"{path}: ignoring line 5" in capsys.readouterr().err
    lines = path.read_text().splitlines()
    assert lines[4] == '{"torn": ' and len(lines) == 7 and all(json.loads(line) for line in lines[5:])
    table = (tmp_path / "r.md").read_text()
    assert "| 3×2 | 0.5 | paper | 0/3 (0 %)" in table and "| 3×2 | 0.5 | legend | 0/3 (0 %)" in table
    assert {json.dumps(json.loads(line)["overrides"], sort_keys=True) for line in first} == \
        {json.dumps({"max_sequences": 200}), json.dumps({"g": "h1", "h": "g2", "max_sequences": 200}, sort_keys=True)}
