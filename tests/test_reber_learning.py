"""Short learning runs that must succeed: Experiment 1 (embedded Reber grammar) with the paper's
3-blocks-of-2-cells net (276 weights, lr 0.5), the paper's reading, fixed seeds.

The paper reports 100 % success after 8,440 strings on average; with the paper's reading this
engine (like an independent implementation) succeeds in about a quarter of the trials within
100k strings (docs/EXPERIMENT1.md), so these seeds are ones that succeed; the test pins that the
engine still learns the task, end to end, through the real runner and success test."""
import pytest

from lstmcore.experiments import run_reber_trial


@pytest.mark.parametrize("data_seed,init_seed,expected", [(1, 0, 21_900), (2, 9, 23_300)])
def test_paper_net_learns_embedded_reber(data_seed, init_seed, expected):
    r = run_reber_trial(data_seed=data_seed, init_seed=init_seed, max_sequences=30_000)
    assert r.n_weights == 276
    assert r.success and r.step_accuracy == 1.0 and r.long_lag_correct
    # Deterministic for a given build and machine; other FMA/vector widths may round differently,
    # so allow a little slack in the sequence count rather than pinning it exactly.
    assert abs(r.sequences - expected) <= 5_000, r.sequences
