"""The paper's competitor rows (Tables 1 and 2, random guessing on 3a/3b) as experiments: registry
data against the paper's numbers, the adapters against the baselines they wrap, runs through the
runner (and their resumption), and the report's comparison section."""
import numpy as np
import pytest

from lstmcore.baselines import NeuralSequenceChunker, RecurrentCascadeCorrelation, RecurrentNet
from lstmcore.experiments import EXPERIMENTS, EXPERIMENTS_LSTM, TABLES, load_records, run_experiment, run_trial
from lstmcore.experiments.competitors import (CascadeModel, CascadeSpec, ChunkerSpec, GuessSpec, RecurrentSpec,
                                              packed_to_padded, padded_to_packed)
from lstmcore.experiments.registry import select_experiments
from lstmcore.experiments.report import format_comparison, lstm_peers, render_report, summary_rows

# name -> (table, method, paper weights, lr, success %, mean sequences) as the paper prints them
COMPETITOR_ROWS = {
    "1-rtrl-3": (1, "RTRL", 170, 0.05, None, 173_000),
    "1-rtrl-12": (1, "RTRL", 494, 0.1, None, 25_000),
    "1-elm-15": (1, "ELM", 435, 0.1, 0.0, None),
    "1-rcc": (1, "RCC", 198, 0.0, 50.0, 182_000),
    "2a-rtrl-p4-lr1": (2, "RTRL", 36, 1.0, 78.0, 1_043_000),
    "2a-rtrl-p4-lr4": (2, "RTRL", 36, 4.0, 56.0, 892_000),
    "2a-rtrl-p4-lr10": (2, "RTRL", 36, 10.0, 22.0, 254_000),
    "2a-rtrl-p10-lr1": (2, "RTRL", 144, 1.0, 0.0, None),
    "2a-rtrl-p10-lr10": (2, "RTRL", 144, 10.0, 0.0, None),
    "2a-rtrl-p100-lr1": (2, "RTRL", 10404, 1.0, 0.0, None),
    "2a-rtrl-p100-lr10": (2, "RTRL", 10404, 10.0, 0.0, None),
    "2a-bptt-p100-lr1": (2, "BPTT", 10404, 1.0, 0.0, None),
    "2a-bptt-p100-lr10": (2, "BPTT", 10404, 10.0, 0.0, None),
    "2a-ch-p100-lr1": (2, "CH", 10506, 1.0, 33.0, 32_400),
    "3a-T100-N3-guess": (4, "guessing", 8, 0.0, None, None),
    "3a-T100-N1-guess": (4, "guessing", 8, 0.0, None, None),
    "3a-T1000-N3-guess": (4, "guessing", 8, 0.0, None, None),
    "3b-T100-N3-guess": (5, "guessing", 8, 0.0, None, None),
    "3b-T100-N1-guess": (5, "guessing", 8, 0.0, None, None),
    "3b-T1000-N1-guess": (5, "guessing", 8, 0.0, None, None),
}


# ------------------------------------------------------------------------------------------ registry
def test_every_competitor_row_is_registered_with_the_papers_numbers():
    competitors = [n for n in EXPERIMENTS if n not in EXPERIMENTS_LSTM]
    assert competitors == list(COMPETITOR_ROWS)
    for name, (table, method, weights, lr, pct, mean) in COMPETITOR_ROWS.items():
        e = EXPERIMENTS[name]
        assert (e.table, e.net.method, e.weights, e.lr) == (table, method, weights, lr), name
        final = e.paper[-1]
        assert (final.success_percent, final.mean_sequences) == (pct, mean), name
        assert name in TABLES[table] and e.notes and e.quick
    # the rows with a range of learning rates carry it in their label; the others compare with LSTM rows
    assert "1.0-10.0" in EXPERIMENTS["2a-bptt-p100-lr10"].paper[0].label
    assert EXPERIMENTS["1-rtrl-3"].paper[0].label == "some fraction"
    assert lstm_peers("2a-ch-p100-lr1") == ["2a"]
    assert lstm_peers("3b-T100-N1-guess") == ["3b-T100-N1"]
    assert lstm_peers("1-rcc") == [n for n in TABLES[1] if n in EXPERIMENTS_LSTM]
    # groups keep the LSTM rows' selectors as they were; a table selects its competitors too
    assert select_experiments("2a") == [EXPERIMENTS["2a"]]
    assert {e.name for e in select_experiments("table1")} >= {"1-rtrl-3", "1-rtrl-12", "1-elm-15", "1-rcc"}


def test_competitor_nets_have_the_papers_weight_counts():
    for name, (_, method, weights, _, _, _) in COMPETITOR_ROWS.items():
        if method != "RCC":
            assert EXPERIMENTS[name].net.n_weights == weights, name
    # RCC: Fahlman's 7-9 units, with biases and input->output connections (the paper: "119-198", an estimate)
    assert [CascadeSpec("RCC", 7, 7, max_hidden=h).n_weights for h in (7, 8, 9)] == [189, 212, 236]
    rcc = RecurrentCascadeCorrelation(7, 7, max_hidden=9, seed=0)
    assert rcc.n_weights == CascadeSpec("RCC", 7, 7, max_hidden=0).n_weights == 56
    # Table 2's chunker: the automatizer has the paper's 10506; the system adds the chunker net's 10404
    assert EXPERIMENTS["2a-ch-p100-lr1"].net.build(seed=0).n_weights == 10506 + 10404


# ------------------------------------------------------------------------------------------ adapters
def _packed(rng, lengths, n_in, n_out):
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    x = rng.uniform(-1, 1, size=(offsets[-1], n_in))
    target = rng.uniform(0, 1, size=(offsets[-1], n_out))
    mask = rng.random(offsets[-1]) < 0.7
    return x, target, mask, offsets


def test_packing_round_trip():
    rng = np.random.default_rng(0)
    x, _, _, offsets = _packed(rng, [3, 1, 5], 2, 1)
    padded, lengths, step, seq = packed_to_padded(x, offsets)
    assert padded.shape == (5, 3, 2) and list(lengths) == [3, 1, 5]
    np.testing.assert_array_equal(padded[:3, 0], x[:3])
    np.testing.assert_array_equal(padded[1:, 1], 0.0)
    np.testing.assert_array_equal(padded_to_packed(padded, step, seq), x)


@pytest.mark.parametrize("gradient,update", [("rtrl", "step"), ("bptt", "sequence"), ("elman", "step")])
def test_recurrent_adapter_trains_like_train_sequence_in_order(gradient, update):
    rng = np.random.default_rng(1)
    spec = RecurrentSpec("X", 3, 2, 2, recurrence="full" if gradient != "elman" else "hidden", gradient=gradient)
    model = spec.build(seed=5)
    twin = RecurrentNet(3, 2, 2, recurrence=spec.recurrence, bias=False, init_range=0.2, seed=5)
    x, target, mask, offsets = _packed(rng, [4, 2, 6], 3, 2)
    loss, last = model.train_batch(x, target, mask, offsets, lr=0.3, update=update)
    expected = [twin.train_sequence(x[a:b], target[a:b], mask[a:b], lr=0.3, method=gradient, update=update)
                for a, b in zip(offsets[:-1], offsets[1:])]
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    assert last is None
    for k, w in twin.get_weights().items():
        np.testing.assert_allclose(model.get_weights()[k], w, rtol=1e-12)
    y = model.forward_batch(x, offsets)
    for a, b in zip(offsets[:-1], offsets[1:]):
        np.testing.assert_allclose(y[a:b], twin.forward(x[a:b]), rtol=1e-12)


def test_chunker_adapter_is_the_chunkers_system():
    rng = np.random.default_rng(2)
    model = ChunkerSpec("CH", 4).build(seed=3)
    twin = NeuralSequenceChunker(4, init_range=0.2, seed=3)
    x, target, mask, offsets = _packed(rng, [5, 3], 4, 4)
    loss, _ = model.train_batch(x, target, mask, offsets, lr=1.0, update="step")
    expected = [twin.train_sequence(x[a:b], target[a:b], mask[a:b], lr=1.0) for a, b in zip(offsets[:-1], offsets[1:])]
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    y = model.forward_batch(x, offsets)
    np.testing.assert_allclose(y[5:], twin.forward(x[5:]), rtol=1e-12)
    w = model.get_weights()
    model.set_weights({k: v * 0 for k, v in w.items()})
    assert all(not v.any() for v in model.get_weights().values())


def test_cascade_adapter_alternates_phases_and_installs_frozen_units():
    rng = np.random.default_rng(3)
    model = CascadeSpec("RCC", 2, 1, max_hidden=2, patience=2, max_epochs=4).build(seed=0)
    assert isinstance(model, CascadeModel)
    x, target, mask, offsets = _packed(rng, [6, 4, 5, 7], 2, 1)
    phases = []
    for _ in range(20):
        loss, _ = model.train_batch(x, target, mask, offsets, lr=0.0, update="step")
        assert loss.shape == (4,) and np.isfinite(loss).all()
        phases.append((model.phase, model.rcc.n_hidden))
    assert model.rcc.n_hidden == 2 and ("candidate", 0) in phases and ("candidate", 1) in phases
    frozen = model.rcc.hidden_in[0].copy()
    model.train_batch(x, target, mask, offsets, lr=0.0, update="step")
    np.testing.assert_array_equal(model.rcc.hidden_in[0], frozen)
    y = model.forward_batch(x, offsets)
    np.testing.assert_allclose(y[:6], model.rcc.forward(x[:6]), rtol=1e-12)
    # the loss it reports is that of the output weights before the epoch's update, on the chunk
    before = model.forward_batch(x, offsets)
    loss, _ = model.train_batch(x, target, mask, offsets, lr=0.0, update="step")
    e = np.where(mask[:, None], before - target, 0.0)
    np.testing.assert_allclose(loss, [0.5 * np.sum(e[a:b] ** 2) for a, b in zip(offsets[:-1], offsets[1:])])


def test_guessing_draws_a_fresh_guess_per_sequence_in_range():
    rng = np.random.default_rng(4)
    model = GuessSpec("guessing", RecurrentSpec("guessing", 1, 1, 1, bias=True), init_range=10.0).build(seed=7)
    x, target, mask, offsets = _packed(rng, [3, 3], 1, 1)
    seen = []
    for _ in range(3):
        model.train_batch(x[:3], target[:3], mask[:3], offsets[:2], lr=0.0, update="step")
        w = np.concatenate([v.ravel() for v in model.get_weights().values()])
        assert np.all(np.abs(w) <= 10.0) and w.size == 8
        seen.append(w)
    assert not np.allclose(seen[0], seen[1])
    again = GuessSpec("guessing", RecurrentSpec("guessing", 1, 1, 1, bias=True), init_range=10.0).build(seed=7)
    again.train_batch(x[:3], target[:3], mask[:3], offsets[:2], lr=0.0, update="step")
    np.testing.assert_array_equal(np.concatenate([v.ravel() for v in again.get_weights().values()]), seen[0])


# ------------------------------------------------------------------------------------------ runs
@pytest.mark.parametrize("name", list(COMPETITOR_ROWS))
def test_quick_run_of_each_competitor_through_the_runner_resumes(name, tmp_path):
    path = tmp_path / "r.jsonl"
    first = run_experiment(name, trials=2, results=path, jobs=1, quick=True)
    assert [r["trial"] for r in first] == [0, 1] and len(load_records(path)) == 2
    assert all(r["sequences"] <= r["max_sequences"] for r in first)
    again = run_experiment(name, trials=3, results=path, jobs=1, quick=True)   # resumes: only trial 2 runs
    assert len(load_records(path)) == 3
    assert [r["sequences"] for r in again[:2]] == [r["sequences"] for r in first]


def test_the_chunker_solves_2a_at_p100_and_its_success_is_reproducible():
    r = run_trial("2a-ch-p100-lr1", 0, overrides={"max_sequences": 3000})
    assert r["success"] and r["sequences"] < 3000
    assert run_trial("2a-ch-p100-lr1", 0, overrides={"max_sequences": 3000})["sequences"] == r["sequences"]


def test_report_has_the_comparison_section(tmp_path):
    records = []
    for name in ("2a", "2a-rtrl-p4-lr10", "2a-ch-p100-lr1", "3a-T100-N3", "3a-T100-N3-guess"):
        records += run_experiment(name, trials=2, results=tmp_path / "r.jsonl", jobs=1, quick=True)
    text = render_report(records, command="test")
    assert "## The comparison: LSTM against its competitors" in text
    section = text.split("## The comparison")[1].split("\n## ")[0]
    for name in ("2a-rtrl-p4-lr10", "2a-ch-p100-lr1", "3a-T100-N3-guess"):
        assert f"| {name} |" in section and f"- **{name}**" in section
    # the LSTM side of the 2a rows pools the 2a trials; the paper's LSTM figures beside them
    line = next(s for s in section.splitlines() if s.startswith("| 2a-rtrl-p4-lr10 |"))
    assert "| 2a |" in line and "22 %" in line and "254,000" in line and "5,040" in line
    assert format_comparison(summary_rows([r for r in records if r["experiment"] in EXPERIMENTS_LSTM])) == []
