"""The paper's experiments as data, the generic trial and runner (parallel, resumable), the report
and the `lstmcore reproduce` command."""
import concurrent.futures as cf
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from lstmcore.experiments import EXPERIMENTS, EXPERIMENTS_LSTM, TABLES, ResultsFileWarning, load_records, run_experiment, run_trial
from lstmcore.experiments.registry import apply_overrides, get_experiment, select_experiments
from lstmcore.experiments.report import format_table, render_report, summary_rows, write_report
from lstmcore.experiments.runner import estimate_cost
from lstmcore.cli import main as cli_main

# Every LSTM row of Tables 1-9 with Table 10's weight count,
# learning rate and the paper's trial count.
PAPER_ROWS = {
    "1-4x1-lr0.1": (1, 264, 0.1, 30), "1-3x2-lr0.1": (1, 276, 0.1, 30), "1-3x2-lr0.2": (1, 276, 0.2, 30),
    "1-4x1-lr0.5": (1, 264, 0.5, 30), "1-3x2-lr0.5": (1, 276, 0.5, 30),
    "2a": (2, 10504, 1.0, 18), "2b": (2, 10504, 1.0, 18),
    "2c-q50-p50": (3, 364, 0.01, 20), "2c-q100-p100": (3, 664, 0.01, 20), "2c-q200-p200": (3, 1264, 0.01, 20),
    "2c-q500-p500": (3, 3064, 0.01, 20), "2c-q1000-p1000": (3, 6064, 0.01, 20),
    "2c-q1000-p500": (3, 3064, 0.01, 20), "2c-q1000-p200": (3, 1264, 0.01, 20),
    "2c-q1000-p100": (3, 664, 0.01, 20), "2c-q1000-p50": (3, 364, 0.01, 20),
    "3a-T100-N3": (4, 102, 1.0, 10), "3a-T100-N1": (4, 102, 1.0, 10), "3a-T1000-N3": (4, 102, 1.0, 10),
    "3b-T100-N3": (5, 102, 1.0, 10), "3b-T100-N1": (5, 102, 1.0, 10), "3b-T1000-N1": (5, 102, 1.0, 10),
    "3c-T100-N3": (6, 102, 0.1, 10), "3c-T100-N1": (6, 102, 0.1, 10),
    "4-T100": (7, 93, 0.5, 10), "4-T500": (7, 93, 0.5, 10), "4-T1000": (7, 93, 0.5, 10),
    "5-T100": (8, 93, 0.1, 10),
    "6a": (9, 156, 0.5, 20), "6b": (9, 308, 0.1, 10),
}

RESULT_KEYS = {"schema", "experiment", "trial", "seed", "quick", "overrides", "key", "fingerprint", "version",
               "max_sequences", "success", "environment",
               "sequences", "milestones", "tests", "steps", "curve", "seconds", "n_weights", "details"}


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "lstmcore", *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd)


# ------------------------------------------------------------------------------------------ data
def test_every_table_row_is_an_experiment_with_the_papers_numbers():
    assert list(EXPERIMENTS_LSTM) == list(PAPER_ROWS) == [n for n in EXPERIMENTS if n in PAPER_ROWS]
    assert sorted(TABLES) == list(range(1, 10))
    for name, (table, weights, lr, trials) in PAPER_ROWS.items():
        e = EXPERIMENTS[name]
        assert (e.table, e.weights, e.lr, e.trials) == (table, weights, lr, trials), name
        finals = [p for p in e.paper if p.milestone == e.final_milestone.name]
        assert len(finals) == 1 and finals[0].mean_sequences > 0, name
        assert {p.milestone for p in e.paper} <= {m.name for m in e.milestones}
        assert e.notes and e.stopping and e.max_sequences > 0 and e.quick
    # the published success rates (Tables 1 and 2) and test figures (Tables 4-9)
    assert [EXPERIMENTS[n].paper[0].success_percent for n in TABLES[1] if n in PAPER_ROWS] == [100, 100, 97, 97, 100]
    assert EXPERIMENTS["1-3x2-lr0.5"].paper[0].range_sequences == (3_800, 24_100)
    assert EXPERIMENTS["4-T1000"].paper[0].range_sequences == (370_000, 2_020_000)
    for t in range(4, 10):
        for name in TABLES[t]:
            assert name not in PAPER_ROWS or any(p.test for p in EXPERIMENTS[name].paper), name
    p5 = {p.milestone: p for p in EXPERIMENTS["5-T100"].paper}
    assert p5["n_seq=140"].test == {"wrong": 139, "mse": 0.0223} and p5["n_seq=13"].mean_sequences == 1_273_000
    assert EXPERIMENTS["3a-T100-N3"].paper[0].mean_sequences == 27_380  # ST1 column


def test_architectures_have_table_10s_weight_counts():
    for name, e in EXPERIMENTS_LSTM.items():
        assert e.net.n_weights == e.weights == PAPER_ROWS[name][1], name


def test_initialisation_and_budgets_follow_tables_10_and_11():
    for e in EXPERIMENTS_LSTM.values():
        assert e.net.init_range == (0.2 if e.group in ("1", "2a", "2b", "2c") else 0.1), e.name
    assert EXPERIMENTS["3a-T100-N3"].net.output_gate_bias == (-2.0, -4.0, -6.0)
    assert EXPERIMENTS["3a-T100-N3"].net.input_gate_bias == (-1.0, -3.0, -5.0)
    assert EXPERIMENTS["4-T500"].net.input_gate_bias == (-3.0, -6.0)
    assert EXPERIMENTS["5-T100"].net.input_gate_bias is None
    assert EXPERIMENTS["6b"].net.input_gate_bias == (-2.0, -4.0, -6.0)
    assert EXPERIMENTS["1-4x1-lr0.1"].net.output_gate_bias == (-1.0, -2.0, -3.0, -4.0)
    for name in ("2a", "2b") + TABLES[3]:
        assert EXPERIMENTS[name].max_sequences == 5_000_000
    assert EXPERIMENTS["2a"].construction == "sequential" and EXPERIMENTS["2a"].net.g == "logistic"
    assert EXPERIMENTS["6a"].final_milestone.params == dict(window=2000, beta=0.3, fail_below=1, max_mean_error=0.1)
    assert [m.params["fail_below"] for m in EXPERIMENTS["5-T100"].milestones] == [140, 13]
    assert EXPERIMENTS["3b-T100-N1"].milestones[0].params["max_wrong"] == 5


def test_selectors():
    assert [e.name for e in select_experiments("3a")] == [n for n in TABLES[4] if n in PAPER_ROWS]
    assert select_experiments("table7") == select_experiments("4") == [EXPERIMENTS[n] for n in TABLES[7]]
    assert [e.name for e in select_experiments("table2")] == ["2a", "2b"] + [n for n in EXPERIMENTS if n.startswith("2a-")]
    assert select_experiments("2a") == [EXPERIMENTS["2a"]]
    assert len(select_experiments("all")) == len(EXPERIMENTS)
    with pytest.raises(ValueError, match="selector"):
        select_experiments("7z")
    with pytest.raises(ValueError, match="unknown name"):
        get_experiment("nope")


def test_overrides_change_fields_and_reject_unknown_keys():
    e = apply_overrides(EXPERIMENTS["4-T100"], {"out_activation": "linear", "max_sequences": 10, "window": 5})
    assert e.net.out_activation == "linear" and e.max_sequences == 10 and e.final_milestone.params["window"] == 5
    assert EXPERIMENTS["4-T100"].net.out_activation == "logistic"  # the registry is not touched
    with pytest.raises(ValueError, match="unknown setting"):
        apply_overrides(EXPERIMENTS["4-T100"], {"no_such": 1})
    with pytest.raises(ValueError, match="cannot be overridden"):
        apply_overrides(EXPERIMENTS["4-T100"], {"paper": ()})


# ------------------------------------------------------------------------------------------ trials
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_quick_form_runs_with_sane_results(name):
    e = EXPERIMENTS[name]
    r = run_trial(name, 1, seed=3, quick=True)
    assert set(r) == RESULT_KEYS
    json.dumps(r)  # JSON-serialisable
    assert r["experiment"] == name and r["trial"] == 1 and r["seed"] == 3 and r["quick"] is True
    # a competitor's record counts every weight it has (the chunker's two nets, RCC's units so far)
    assert r["n_weights"] == (e.weights if name in PAPER_ROWS else e.net.build(seed=0).n_weights)
    assert 0 < r["sequences"] <= r["max_sequences"] == e.quick["max_sequences"]
    assert r["steps"] >= r["sequences"]
    assert set(r["milestones"]) == {m.name for m in e.milestones}
    reached = [s for s in r["milestones"].values() if s is not None]
    assert reached == sorted(reached) and all(0 < s <= r["sequences"] for s in reached)
    assert r["success"] == (r["milestones"][e.final_milestone.name] is not None)
    assert r["curve"] and all(0 < p[0] <= r["sequences"] and p[1] >= 0 for p in r["curve"])
    for m, t in r["tests"].items():
        assert r["milestones"][m] is not None
        if "wrong" in t:
            assert 0 <= t["wrong"] <= t["n"] == e.quick.get("test_size", e.test_size)
            assert t["mse"] >= 0 and t["mean_abs_error"] >= 0
    assert r["seconds"] > 0


def test_trials_are_reproducible_and_seeded_per_trial():
    a = run_trial("4-T100", 0, quick=True)
    b = run_trial("4-T100", 0, quick=True)
    c = run_trial("4-T100", 1, quick=True)
    d = run_trial("4-T100", 0, seed=1, quick=True)
    assert a["curve"] == b["curve"] and a["curve"] != c["curve"] and a["curve"] != d["curve"]


def test_a_milestone_with_a_test_records_it():
    r = run_trial("5-T100", 0, quick=True)  # the quick window of 50 lets n_seq=140 pass at once
    assert r["milestones"]["n_seq=140"] == 50 and r["milestones"]["n_seq=13"] is None and not r["success"]
    t = r["tests"]["n_seq=140"]
    assert t["n"] == 32 and t["fraction_wrong"] == t["wrong"] / 32


def naive_recent_trial(name, trial, seed, overrides):
    """An independent, sequence-by-sequence replay of a trial with RecentWindow milestones: the same
    exemplar stream (blocks of engine.BLOCK from the trial's stream), one public train_sequence call
    per sequence, each judged on the outputs of the weights before it (forward), the window rule
    evaluated after every sequence. Returns {milestone: sequences or None}."""
    from lstmcore.experiments.engine import BLOCK, trial_seeds
    from lstmcore.experiments.runner import resolve

    exp = resolve(name, overrides=overrides)
    seeds = trial_seeds(seed, trial)
    net = exp.net.build(seed=int(seeds[0].generate_state(1, dtype=np.uint32)[0]))
    rng = np.random.default_rng(seeds[1])
    task = exp.make_task()
    failed, mse, tests = [], [], {}
    pending = list(exp.milestones)
    reached = {m.name: None for m in exp.milestones}
    sequences = 0
    while pending and sequences < exp.max_sequences:
        for x, t, m in task.sample_batch(rng, BLOCK).sequences():
            y = net.forward(x)
            failed.append(not np.max(np.abs(y[-1] - t[-1])) < pending[0].beta)
            net.train_sequence(x, t, m, lr=exp.lr, update=exp.update)
            mse.append(float(np.mean((y[-1] - t[-1]) ** 2)))
            sequences += 1
            while pending:
                r = pending[0]
                if len(failed) < r.window or sum(failed[-r.window:]) >= r.fail_below:
                    break
                if r.max_mean_error is not None and not np.mean(mse[-r.window:]) < r.max_mean_error:
                    break
                m = pending.pop(0)
                reached[m.name] = sequences
                if m.test:  # the test set: its own stream, drawn in chunks of 256, judged at the end
                    test_rng, wrong, left = np.random.default_rng(seeds[3]), 0, exp.test_size
                    while left:
                        for x, t, _ in task.sample_batch(test_rng, min(256, left)).sequences():
                            wrong += not np.max(np.abs(net.forward(x)[-1] - t[-1])) < exp.test_beta
                        left -= min(256, left)
                    tests[m.name] = wrong
            if not pending or sequences >= exp.max_sequences:
                break
    return reached, tests


@pytest.mark.parametrize("name, overrides", [("5-T100", {"window": 150, "max_sequences": 1500, "test_size": 300}),
                                             ("6a", {"window": 500, "max_sequences": 60_000, "test_size": 300})])
def test_engine_milestones_equal_a_naive_sequence_by_sequence_replay(name, overrides):
    """Batched training, the window rule on per-sequence statistics, the replay to the exact
    sequence of a milestone and the batched test all give what one sequence at a time gives."""
    r = run_trial(name, 1, seed=2, overrides=overrides)
    reached, tests = naive_recent_trial(name, 1, 2, overrides)
    assert r["milestones"] == reached and any(v is not None for v in reached.values())
    assert {k: v["wrong"] for k, v in r["tests"].items()} == tests


def test_sequential_construction_trains_the_shortcut_first_then_adds_the_cell():
    r = run_trial("2a", 0, quick=True)
    assert 0 < r["details"]["cell_added_at"] < r["sequences"]
    fixed = run_trial("2a", 0, quick=True, overrides={"construction": "fixed"})
    assert "cell_added_at" not in fixed["details"]


@pytest.mark.parametrize("name", ["2a", "2c-q50-p50"])
def test_stream_reading_of_the_exp2_success_criterion(name):
    # the training sequences themselves form the 10,000 successive sequences (here a window of 5)
    r = run_trial(name, 0, quick=True, overrides={"success_check": "stream", "sequences": 5, "max_sequences": 400})
    assert r["details"]["success_check"] == "stream" and "checks" not in r["details"]
    assert r["success"] == (r["milestones"]["success"] is not None)


def test_very_long_lag_2c_learns_at_the_papers_pace_with_a_short_success_test():
    # 2c-q50-p50 with a success test of 20 sequences instead of 10,000 (a few seconds): the paper's
    # 30,000 sequences; the full 10,000-sequence test takes far longer (see the experiment's notes).
    r = run_trial("2c-q50-p50", 0, overrides={"sequences": 20, "max_sequences": 80_000})
    assert r["success"] and 10_000 < r["sequences"] < 80_000


def test_exp2_input_gate_starts_biased_negatively_without_an_extra_weight():
    # the drift remedy of 2a/2b: input->input-gate weights start at -5 +- 0.2 (with one-hot inputs an
    # initial input-gate bias of -5), Table 10's 10504 weights kept; the paper's initialisation is an override
    for name in ("2a", "2b"):
        e = EXPERIMENTS[name]
        assert e.net.input_gate_input_offset == -5.0 and e.net.n_weights == 10504
        w = e.net.build(seed=3).get_weights()
        assert -5.2 <= w["W_in"].min() and w["W_in"].max() <= -4.8 and np.abs(w["W_cell"]).max() <= 0.2
    w = apply_overrides(EXPERIMENTS["2a"], {"input_gate_input_offset": 0.0}).net.build(seed=3).get_weights()
    assert np.abs(w["W_in"]).max() <= 0.2


def test_noise_free_long_lag_2a_learns_with_the_drift_remedy():
    # One full 2a trial (about 23,000 sequences, ~15 s): success on both sequences at every step. The
    # paper's mean is 5,040; see the experiment's notes for the measured pace and the open gap.
    r = run_trial("2a", 2, overrides={"plateau_tolerance": 0.05, "max_sequences": 30_000})
    assert r["success"] and 0 < r["details"]["cell_added_at"] < r["sequences"] <= 30_000


def test_temporal_order_6a_learns_with_the_papers_protocol():
    # One full trial of Table 9's 6a (about 25,000 sequences, a few seconds).
    r = run_trial("6a", 0)
    assert r["success"] and 5_000 < r["sequences"] < 100_000
    t = r["tests"]["ST3(0.1)"]
    assert t["n"] == 2560 and t["wrong"] <= 5 and t["mse"] < 0.1


def test_cost_estimate():
    c = estimate_cost("6a", target_seconds=0.05)
    assert c["us_per_step"] > 0 and 100 <= c["steps_per_sequence"] <= 110
    assert c["expected_sequences"] == 31_390 and c["budget_seconds"] > c["expected_seconds"] > 0


# ------------------------------------------------------------------------------------------ runner
def _table(records):
    rows = summary_rows(records)
    for row in rows:
        row.pop("seconds")
    return rows


def _strip(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_runner_resumes_after_an_interrupt_with_the_same_final_table(tmp_path):
    full = tmp_path / "full.jsonl"
    seen = []
    results = run_experiment("6a", 4, full, jobs=2, quick=True, on_result=seen.append)
    assert [r["trial"] for r in results] == [0, 1, 2, 3] and len(seen) == 4
    lines = full.read_text().splitlines()
    assert len(lines) == 4

    # stopped after 2 trials, killed while writing the third
    part = tmp_path / "part.jsonl"
    run_experiment("6a", 2, part, jobs=1, quick=True)
    third = next(line for line in lines if json.loads(line)["trial"] == 2)
    with open(part, "a") as f:
        f.write(third[: len(third) // 2])
    ran = []
    with pytest.warns(ResultsFileWarning, match="torn"):
        resumed = run_experiment("6a", 4, part, executor=cf.ThreadPoolExecutor(2), quick=True,
                                 on_result=lambda r: ran.append(r["trial"]))
    assert sorted(ran) == [0, 1, 2, 3]  # finished ones reported from the file, first
    with pytest.warns(ResultsFileWarning):
        records = load_records(part)
    assert len(records) == 4 and sorted(r["trial"] for r in records) == [0, 1, 2, 3]
    assert part.read_text().splitlines()[2] == third[: len(third) // 2]  # the torn line stays, ignored
    assert _strip(resumed) == _strip(results)
    assert _table(records) == _table(load_records(full))

    # a file truncated mid-line (the last record torn): only the torn trial runs again
    cut = tmp_path / "cut.jsonl"
    text = full.read_text()
    cut.write_text(text[: len(text) - len(lines[-1]) // 2 - 1])
    ran.clear()
    with pytest.warns(ResultsFileWarning):
        again = run_experiment("6a", 4, cut, jobs=1, quick=True, on_result=lambda r: ran.append(r["trial"]))
    assert _strip(again) == _strip(results)
    # nothing to do on a complete file: no worker, nothing appended
    before = full.read_text()
    assert _strip(run_experiment("6a", 4, full, jobs=1, quick=True)) == _strip(results)
    assert full.read_text() == before


def test_runs_of_other_settings_are_kept_apart(tmp_path):
    path = tmp_path / "r.jsonl"
    run_experiment("4-T100", 1, path, jobs=1, quick=True)
    run_experiment("4-T100", 1, path, jobs=1, quick=True, seed=1)
    run_experiment("4-T100", 1, path, jobs=1, quick=True, overrides={"out_activation": "linear"})
    records = load_records(path)
    assert len(records) == 3 and len({r["key"] for r in records}) == 3
    assert len(summary_rows(records)) == 3


def test_trials_of_an_older_definition_are_not_reused(tmp_path, monkeypatch):
    import dataclasses

    from lstmcore.experiments import registry

    path = tmp_path / "r.jsonl"
    run_experiment("6a", 1, path, jobs=1, quick=True)
    changed = dataclasses.replace(EXPERIMENTS["6a"], lr=0.25)
    monkeypatch.setitem(registry.EXPERIMENTS, "6a", changed)
    ran = []
    run_experiment("6a", 1, path, executor=cf.ThreadPoolExecutor(1), quick=True, on_result=ran.append)
    records = load_records(path)
    assert len(records) == 2 and records[0]["fingerprint"] != records[1]["fingerprint"]
    assert [r["run"] for r in summary_rows(records)] == [f"quick, definition {r['fingerprint']}"
                                                         for r in sorted(records, key=lambda r: r["key"])]


def test_runner_with_a_dask_client():
    distributed = pytest.importorskip("distributed")
    # two worker processes: the trials travel to other interpreters and come back unchanged
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        results = run_experiment("3a-T100-N3", 3, executor=client.get_executor(), quick=True)
        assert len(client.scheduler_info()["workers"]) == 2
    assert _strip(results) == _strip([run_trial("3a-T100-N3", i, quick=True) for i in range(3)])


# ------------------------------------------------------------------------------------------ report
def test_report_generator_on_quick_results(tmp_path):
    path = tmp_path / "r.jsonl"
    for name in ("1-3x2-lr0.5", "3c-T100-N1", "5-T100", "6b"):
        run_experiment(name, 2, path, jobs=1, quick=True)
    out = tmp_path / "docs" / "REPRODUCTION.md"
    text = write_report(path, out, command="lstmcore reproduce all --quick")
    assert out.read_text() == text
    assert "Regenerate: `lstmcore reproduce all --quick`" in text
    for heading in ("## Table 1", "## Table 6", "## Table 8", "## Table 9"):
        assert heading in text
    assert "| 1-3x2-lr0.5 | success | quick | 2 (30) | 0/2 (0 %) | 100 % |" in text
    assert "| 5-T100 | n_seq=140 | quick | 2 (10) | 2/2 (100 %) |" in text and "139 of 2560 wrong, MSE 0.0223" in text
    assert "| 6b | ST3(0.1) | quick | 2 (10) | 0/2 (0 %) | – | – | 571,100 |" in text
    assert "0.00441 misclassified, mean abs 0.012" in text  # the paper's 3c-T100-N1 test figures
    assert "## Not run yet" in text and "4-T1000" in text
    assert "Trial time per training step" in text and "6b (quick)" in text
    assert "Choices where the paper is silent or ambiguous" in text


def _row(reached, trials, mean, paper_mean, paper_pct=None):
    return dict(experiment="6a", milestone="ST3(0.1)", trials=trials, reached=reached,
                success_percent=100.0 * reached / trials, mean_sequences=mean,
                paper=dict(trials=20, success_percent=paper_pct, mean_sequences=paper_mean, test={}))


@pytest.mark.parametrize("row,matches,reason", [
    (_row(20, 20, 40_000, 31_390), True, None),           # 1.27x: within 1.5x
    (_row(20, 20, 50_000, 31_390), False, "mean 1.6x"),   # slower by more than 1.5x
    (_row(20, 20, 20_000, 31_390), False, "mean 0.64x"),  # faster by more than 1.5x
    (_row(19, 20, 31_000, 31_390), False, "success 95 % < 100 %"),  # no paper rate: the paper had all succeed
    (_row(9, 10, 31_000, 31_390, 90.0), True, None),
    (_row(0, 10, None, 31_390), False, "no trial reached it"),
])
def test_verdict_flags_material_differences(row, matches, reason):
    from lstmcore.experiments.report import verdict

    v = verdict(row)
    assert v["matches"] is matches
    if reason:
        assert any(r.startswith(reason) for r in v["reasons"]), v["reasons"]


def test_report_summary_explains_differing_rows(tmp_path):
    from pathlib import Path

    from lstmcore.experiments.report import load_findings
    from lstmcore.experiments.results import archive_records

    findings_file = Path(__file__).resolve().parents[1] / "docs" / "FINDINGS.md"
    if not findings_file.exists():  # the tests run from a copy outside the repository (tools/build-wheel.sh)
        pytest.skip("needs the repository's docs/FINDINGS.md")
    findings = load_findings(findings_file)
    assert {"1", "2a", "2b", "2c", "3a", "4", "5", "6b"} <= set(findings)
    path = tmp_path / "r.jsonl"
    run_experiment("4-T100", 2, path, jobs=1, quick=True)  # quick: never reaches ST3, so it differs
    text = render_report(load_records(path), command="c", findings=findings)
    assert "## Summary" in text and "0 of 1 rows" in text
    assert "| 4-T100 | quick | 2 (10) | 0/2 | – | differs: success 0 % < 100 %; no trial reached it |" in text
    assert "## Why rows differ" in text and findings["4"][:60] in text
    # the archive keeps one record per trial, without learning curves, and gives the same report
    n = archive_records([path, path], tmp_path / "a.jsonl")
    archived = load_records(tmp_path / "a.jsonl")
    assert n == 2 and all("curve" not in r for r in archived)
    assert render_report(archived, command="c", findings=findings).split("written")[1].split("\n", 1)[1] == \
        text.split("written")[1].split("\n", 1)[1]


def test_cli_report_from_several_files(tmp_path, capsys):
    a, b, out, arch = (tmp_path / n for n in ("a.jsonl", "b.jsonl", "R.md", "arch.jsonl"))
    run_experiment("6a", 1, a, jobs=1, quick=True)
    run_experiment("3c-T100-N1", 1, b, jobs=1, quick=True)
    assert cli_main(["report", "--results", str(a), "--results", str(b), "--archive", str(arch),
                     "--out", str(out)]) == 0
    text = out.read_text()
    assert "## Table 6" in text and "## Table 9" in text and f"lstmcore report --results {arch}" in text
    assert len(load_records(arch)) == 2


def test_table_rows_show_ours_beside_the_papers():
    rows = summary_rows([run_trial("5-T100", i, quick=True) for i in range(2)])
    table = format_table(rows)
    assert table.count("\n") == 4 and "482,000" in table and "1,273,000" in table
    assert rows[0]["mean_sequences"] == 50 and rows[0]["reached"] == 2 and rows[1]["reached"] == 0
    assert math.isclose(rows[0]["success_percent"], 100.0)


# ------------------------------------------------------------------------------------------ CLI
def test_cli_reproduce_quick_prints_the_table(tmp_path):
    out = run_cli("reproduce", "2a", "--quick", "--trials", "1", "--results", str(tmp_path / "r.jsonl"),
                  "--jobs", "1")
    assert out.returncode == 0, out.stderr
    assert "| 2a | success | quick | 1 (18) | 0/1 (0 %) | 100 % | – | 5,040 |" in out.stdout
    assert "Wall time" in out.stdout and "trials [" in out.stderr and "ETA" not in out.stdout
    assert len(load_records(tmp_path / "r.jsonl")) == 1
    again = run_cli("reproduce", "2a", "--quick", "--trials", "1", "--results", str(tmp_path / "r.jsonl"))
    assert again.returncode == 0 and "(0 to run" in again.stderr and "0/1 (0 %)" in again.stdout


def _children(pid):
    import os

    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(entry)
    return kids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_cli_interrupt_ends_the_workers_and_keeps_finished_trials(tmp_path):
    import os
    import signal
    import time

    path = tmp_path / "r.jsonl"
    p = subprocess.Popen([sys.executable, "-m", "lstmcore", "reproduce", "6a", "--trials", "3", "--jobs", "1",
                          "--results", str(path), "--set", "max_sequences=400000"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    workers = []
    deadline = time.time() + 60
    while not workers and time.time() < deadline:  # wait until the pool's worker runs a trial
        time.sleep(0.2)
        workers = _children(p.pid)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err
    time.sleep(0.5)
    assert workers and not any(os.path.exists(f"/proc/{w}") and "zombie" not in open(f"/proc/{w}/status").read()
                               for w in workers)
    assert all(json.loads(line) for line in path.read_text().splitlines()) if path.exists() else True


def test_cli_reproduce_list():
    out = run_cli("reproduce", "--list")
    assert out.returncode == 0, out.stderr
    for name in EXPERIMENTS:
        assert f"\n{name} " in out.stdout
    assert "10504" in out.stdout and "5,000,000" in out.stdout


def test_cli_reproduce_estimate_prints_core_hours_per_row(capsys):
    assert cli_main(["reproduce", "table9", "--estimate"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith(("6a ", "6b "))]
    assert [r[0] for r in rows] == ["6a", "6b"] and [int(r[1]) for r in rows] == [20, 10]
    for r in rows:
        us, at_paper, at_budget = float(r[2]), float(r[6]), float(r[7])
        assert us > 0 and 0 < at_paper < at_budget
    assert "core-hours" in out


def test_cli_reproduce_group_report_and_settings(tmp_path, capsys):
    from lstmcore.cli import main

    path, report = tmp_path / "r.jsonl", tmp_path / "R.md"
    assert main(["reproduce", "3c", "--quick", "--trials", "2", "--results", str(path), "--jobs", "1",
                 "--set", "test_size=8", "--report", str(report)]) == 0
    text = capsys.readouterr().out
    assert "| 3c-T100-N3 | stop | quick, test_size=8 | 2 (10) |" in text and "3c-T100-N1" in text
    assert "Regenerate: `lstmcore reproduce 3c --quick" in report.read_text()


@pytest.mark.parametrize("args, message", [
    (["reproduce"], "selector"), (["reproduce", "9z"], "selector"),
    (["reproduce", "2a", "--set", "bogus=1"], "unknown setting"), (["reproduce", "2a", "--set", "x"], "KEY=VALUE"),
    (["reproduce", "2a", "--trials", "0"], "--trials"),
])
def test_cli_reproduce_bad_arguments(args, message, capsys, tmp_path):
    from lstmcore.cli import main

    assert main(args + ["--results", str(tmp_path / "r.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lstmcore: error:") and message in err


def test_cli_plot(tmp_path, capsys):
    from lstmcore.cli import main

    args = ["reproduce", "6a", "--quick", "--trials", "2", "--results", str(tmp_path / "r.jsonl"), "--jobs", "1",
            "--plot", str(tmp_path / "p.png")]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert main(args) == 2
        assert "needs matplotlib" in capsys.readouterr().err
        assert not (tmp_path / "r.jsonl").exists()  # refused before running anything
    else:
        assert main(args) == 0
        assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_report_renders_without_results():
    assert "## Not run yet" in render_report([], command="x")


def test_cli_report_of_own_results_goes_to_stdout_without_this_repositorys_run_notes(tmp_path, capsys,
                                                                                     monkeypatch):
    a = tmp_path / "a.jsonl"
    run_experiment("6a", 1, a, jobs=1, quick=True)
    monkeypatch.chdir(tmp_path)
    assert cli_main(["report", "--results", str(a)]) == 0
    text = capsys.readouterr().out
    assert "## Table 9" in text and "| 6a |" in text
    assert "reproduce-2core" not in text and "FINDINGS" not in text
    assert not (tmp_path / "docs").exists()  # nothing written into the current directory
    if "## Why rows differ" in text:  # a quick run that differs is marked as quick
        assert "quick run" in text and "not investigated" not in text


def test_every_results_record_carries_its_environment(tmp_path):
    import platform

    import numpy

    import lstmcore
    from lstmcore import _core
    path = tmp_path / "r.jsonl"
    run_experiment("6a", 1, path, jobs=1, quick=True)
    env = load_records(path)[0]["environment"]
    assert env["lstmcore"] == lstmcore.__version__ and env["numpy"] == numpy.__version__
    assert env["python"] == platform.python_version() and env["gemm_kernel"] == _core.gemm_kernel()
    assert env["cpu"] and env["machine"] == platform.machine()
    assert env["git_commit"] == "unknown" or len(env["git_commit"]) == 40
    for key in ("compiler", "build_type", "cxx_flags", "native"):
        assert key in env
    try:
        from lstmcore import _build_info
    except ImportError:  # the module was copied without its build's _build_info.py (the sanitizer CI tree)
        return
    assert env["compiler"] == _build_info.COMPILER and env["native"] is _build_info.NATIVE
    assert ("-march=native" in env["cxx_flags"]) == _build_info.NATIVE
