"""Stopping rules: the window monitor against a naive per-sequence loop, a rule per class with
its thresholds, and a registry row with another rule (Budget)."""
import dataclasses

import numpy as np
import pytest

from lstmcore.experiments import EXPERIMENTS, Budget, RecentWindow, SetABS, StreamABS, run_trial
from lstmcore.experiments.registry import apply_overrides
from lstmcore.experiments.stopping import StreamMonitor


def naive_first(failed_hist, mse_hist, window, fail_below, max_mean):
    """After which sequence (0-based, counting all) does the window rule hold first?"""
    for j in range(len(failed_hist)):
        if j + 1 < window:
            continue
        f = failed_hist[j + 1 - window:j + 1]
        m = mse_hist[j + 1 - window:j + 1]
        if sum(f) < fail_below and (max_mean is None or np.mean(m) < max_mean):
            return j
    return None


@pytest.mark.parametrize("window, fail_below, max_mean", [(20, 1, None), (20, 4, None), (15, 1, 0.02), (7, 3, 0.05)])
def test_window_monitor_equals_a_naive_loop_for_any_chunking(window, fail_below, max_mean):
    rng = np.random.default_rng(window + fail_below)
    n = 600
    # errors that shrink over time, with occasional bad sequences and one NaN (which fails)
    error = np.abs(rng.normal(0, 1, n)) * np.linspace(0.2, 0.001, n) + (rng.random(n) < 0.02)
    error[50] = np.nan
    loss = 0.5 * error ** 2
    beta = 0.04
    expected = naive_first([not e < beta for e in error], list(2 * loss), window, fail_below, max_mean)
    assert expected is not None
    for chunks in ([n], [1] * n, list(rng.integers(1, 50, 60))):
        mon = StreamMonitor(window, beta, fail_below, max_mean, n_out=1, judge="last_step")
        start, found = 0, None
        for k in chunks:
            k = min(k, n - start)
            if k <= 0:
                break
            hit = mon.first_satisfied(loss[start:start + k], error[start:start + k])
            if hit is not None:
                found = start + hit
                break
            mon.commit(loss[start:start + k], error[start:start + k])
            start += k
        assert found == expected
        mon2 = StreamMonitor(window, beta, fail_below, max_mean, n_out=1, judge="last_step")
        mon2.commit(loss[:expected + 1], error[:expected + 1])
        assert mon2.satisfied()


def test_rules_hold_their_thresholds_and_the_stream_reading_swaps_the_class():
    m = EXPERIMENTS["6a"].final_milestone
    assert isinstance(m, RecentWindow) and m.params == dict(window=2000, beta=0.3, fail_below=1, max_mean_error=0.1)
    e = EXPERIMENTS["2c-q50-p50"]
    assert type(e.final_milestone) is SetABS
    s = apply_overrides(e, {"success_check": "stream", "sequences": 7})
    assert type(s.final_milestone) is StreamABS and s.final_milestone.sequences == 7
    assert type(apply_overrides(s, {"success_check": "test_set"}).final_milestone) is SetABS
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.beta = 0.5


def test_a_row_with_a_plain_budget_rule():
    e = dataclasses.replace(EXPERIMENTS["4-T100"], name="4-T100-budget", milestones=(Budget("done", sequences=120),),
                            max_sequences=500, check_every=40, test_size=0, paper=())
    r = run_trial(e, 0)
    assert r["success"] and r["milestones"] == {"done": 120} and r["sequences"] == 120
