"""ST1/ST2 on a fixed stopping set (Exp. 3): the lazy check (hardest sequences first, stopped as
soon as the verdict is certain, one pass shared by ST1 and ST2) against the plain verdict over
the whole set, and a whole trial against a naive sequence-by-sequence replay."""
import numpy as np
import pytest

from lstmcore.experiments import StopSet, run_trial
from lstmcore.experiments.engine import trial_seeds
from lstmcore.experiments.runner import resolve
from lstmcore.experiments.stopping import SetEndErrors
from lstmcore.tasks.batch import PackedBatch, pack_lengths


class EchoModel:
    """y = x: the error of a sequence at its end is |x_last - target_last|. Counts the sequences
    it was asked for."""

    def __init__(self, x_last):
        self.x_last = np.asarray(x_last, dtype=float)
        self.asked = 0

    def forward_batch(self, x, offsets, num_threads=None):
        self.asked += len(offsets) - 1
        return np.array(x, copy=True)


def batch_with_end_errors(errors, rng):
    """A PackedBatch of len(errors) sequences (lengths 1..4) whose target is 0 and whose last input is
    the wanted error (sign random), so EchoModel's end error of sequence i is |errors[i]|."""
    n = len(errors)
    offsets, seq, pos, last = pack_lengths(rng.integers(1, 5, size=n))
    x = rng.normal(0, 1, size=(int(offsets[-1]), 1))
    x[last, 0] = np.asarray(errors) * np.where(rng.random(n) < 0.5, 1.0, -1.0)
    target = np.zeros_like(x)
    mask = np.zeros(len(x), dtype=bool)
    mask[last] = True
    return PackedBatch(x, target, mask, offsets, target, {})


class FakeContext:
    """What StopSet.monitor asks of the engine's TrialContext, over one given set."""

    def __init__(self, batch):
        self.threads = 1
        self.sequences = 0
        self._errors = SetEndErrors(batch, 1)

    def fixed_set(self, which, n, fixed=None):
        return None

    def end_errors(self, which, n):
        return self._errors

    def sequences_so_far(self):
        return self.sequences


def plain_verdict(rule, errors):
    errors = np.asarray(errors, dtype=float)
    wrong = int(np.count_nonzero(~(errors < rule.beta)))
    if wrong > rule.max_wrong:
        return False
    return rule.max_mean_abs is None or float(errors.mean()) < rule.max_mean_abs


RULES = [StopSet("ST1", size=64, beta=0.2, max_wrong=0), StopSet("ST2", size=64, beta=0.2, max_wrong=0, max_mean_abs=0.01),
         StopSet("ST1", size=64, beta=0.2, max_wrong=5), StopSet("ST2", size=64, beta=0.2, max_wrong=5, max_mean_abs=0.04)]


@pytest.mark.parametrize("seed", range(4))
def test_lazy_stop_set_check_gives_the_whole_sets_verdict(seed):
    """Over a run of checks with errors that shrink (a few bad sequences that move around, a NaN
    now and then, means near the thresholds), every rule's verdict equals the plain one."""
    rng = np.random.default_rng(seed)
    n = 64
    verdicts = {True: 0, False: 0}
    for moment in range(1, 120):
        scale = 0.5 * 0.95 ** moment
        errors = np.abs(rng.normal(0, scale, n))
        bad = rng.random(n) < (0.1 if moment % 3 else 0.01)
        errors[bad] += 0.25
        if moment % 17 == 0:
            errors[rng.integers(n)] = np.nan
        if moment % 5 == 0:   # a mean on a rule's threshold, up to rounding
            errors = np.full(n, 0.01)
        batch = batch_with_end_errors(errors, rng)
        ctx = FakeContext(batch)
        ctx.sequences = moment
        model = EchoModel(errors)
        for rule in RULES:
            expected = plain_verdict(rule, np.abs(batch.x[batch.offsets[1:] - 1, 0]))
            assert rule.monitor(ctx).check(model) == expected, (moment, rule)
            verdicts[expected] += 1
    assert verdicts[True] > 20 and verdicts[False] > 20


def test_checks_share_one_pass_and_a_failing_check_stops_early():
    rng = np.random.default_rng(7)
    n = 256
    good = np.full(n, 0.001)
    batch = batch_with_end_errors(good, rng)
    ctx = FakeContext(batch)
    st1, st2 = (r.monitor(ctx) for r in RULES[:2])
    model = EchoModel(good)
    ctx.sequences = 500
    assert st1.check(model) and st2.check(model)
    assert model.asked == n                      # ST2 at the same moment reuses ST1's pass
    bad = good.copy()
    bad[200] = 0.5
    batch2 = batch_with_end_errors(bad, rng)
    ctx2 = FakeContext(batch2)
    check = RULES[0].monitor(ctx2)
    m2 = EchoModel(bad)
    asked = []
    for moment in (1, 2, 3, 4):
        ctx2.sequences = moment
        assert not check.check(m2)
        asked.append(m2.asked - sum(asked))
    # the first check stops at the chunk that holds sequence 200 (8 + 16 + ... + 128 = 248
    # sequences); the next tries the 8 never computed, then the hardest; then the hardest first
    assert asked == [248, 24, 8, 8]


def naive_stop_set_trial(name, trial, seed, overrides):
    """The trial of an Exp. 3 row one sequence at a time: train, and every check_every sequences
    judge the whole stopping set sequence by sequence (ST1, then ST2 on the same weights)."""
    exp = resolve(name, overrides=overrides)
    seeds = trial_seeds(seed, trial)
    net = exp.net.build(seed=int(seeds[0].generate_state(1, dtype=np.uint32)[0]))
    task = exp.make_task()
    rng = np.random.default_rng(seeds[1])

    def draw(ss, n):
        r, out = np.random.default_rng(ss), []
        while len(out) < n:
            b = task.sample_batch(r, min(256, n - len(out)))
            out += [(x, c) for (x, _, _), c in zip(b.sequences(), np.split(b.clean_target, b.offsets[1:-1]))]
        return out

    stop = draw(seeds[2], exp.milestones[0].size)
    pending = list(exp.milestones)
    reached = {m.name: None for m in exp.milestones}
    sequences = 0
    while pending and sequences < exp.max_sequences:
        for x, t, m in task.sample_batch(rng, 256).sequences():
            net.train_sequence(x, t, m, lr=exp.lr, update=exp.update)
            sequences += 1
            if sequences % exp.check_every == 0:
                errors = [float(np.max(np.abs(net.forward(x)[-1] - c[-1]))) for x, c in stop]
                while pending and plain_verdict(pending[0], errors):
                    reached[pending.pop(0).name] = sequences
            if not pending or sequences >= exp.max_sequences:
                break
    wrong = sum(not np.max(np.abs(net.forward(x)[-1] - c[-1])) < exp.test_beta for x, c in draw(seeds[3], exp.test_size))
    return reached, wrong


@pytest.mark.parametrize("name, trial", [("3b-T100-N3", 1), ("3a-T100-N3", 5)])
def test_stop_set_trial_equals_a_naive_replay(name, trial):
    overrides = {"max_sequences": 12_000, "test_size": 300}
    r = run_trial(name, trial, overrides=overrides)
    reached, wrong = naive_stop_set_trial(name, trial, 0, overrides)
    assert r["milestones"] == reached and reached["ST2"] is not None
    assert r["tests"]["ST2"]["wrong"] == wrong
