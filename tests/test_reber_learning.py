"""Short learning runs that must succeed: Experiment 1 (embedded Reber grammar) with the paper's
3-blocks-of-2-cells net (276 weights, lr 0.5), the paper's reading, fixed seeds.

The paper reports 100 % success after 8,440 strings on average; with the paper's reading this
engine (like an independent implementation) succeeds in about a quarter of the trials within
100k strings (docs/EXPERIMENT1.md), so these seeds are ones that succeed; the test pins that the
engine still learns the task, end to end, through the real runner and success test."""
import pytest

from lstmcore.experiments import run_trial


# Training is deterministic for a given build, but chaotic: a one-ulp change anywhere (another
# exp implementation, vector width or summation order) sends a trial down another path, which may
# learn earlier, later or not at all. So the seeds are pinned, the sequence counts are not; after
# a change to the engine's rounding, pick seeds that succeed again (the success rate is the
# property; docs/EXPERIMENT1.md). The ISA levels (x86-64, x86-64-v3, x86-64-v4) round differently
# and CI runs this test under each: these seeds succeed under all three and in a native build.
@pytest.mark.parametrize("data_seed,init_seed", [(1, 0), (3, 1)])
def test_paper_net_learns_embedded_reber(data_seed, init_seed):
    r = run_trial("1-3x2-lr0.5", overrides=dict(data_seed=data_seed, init_seed=init_seed, max_sequences=40_000))
    assert r["n_weights"] == 276
    assert r["success"] and r["details"]["final"]["step_accuracy"] == 1.0 and r["details"]["long_lag_correct"]
