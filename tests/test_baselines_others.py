"""Recurrent Cascade-Correlation, the Neural Sequence Chunker and random weight guessing: their
maths against independent computations, and learning runs that must succeed."""
import numpy as np
import pytest

from lstmcore.baselines import (NeuralSequenceChunker, RecurrentCascadeCorrelation, RecurrentNet, SequenceTest,
                                random_guessing)
from lstmcore.baselines.cascade import _candidate_scores
from lstmcore.tasks import NoiseFreeLongLag, TwoSequence


def delay_task(rng, n=1, length=12):
    """Output at t the input symbol of t - 1 (two symbols, one-hot): needs memory."""
    out = []
    for _ in range(n):
        s = rng.integers(0, 2, size=length)
        x = np.eye(2)[s]
        target = np.zeros_like(x)
        target[1:] = x[:-1]
        mask = np.ones(length, bool)
        mask[0] = False
        out.append((x, target, mask))
    return out


# ---- Recurrent Cascade-Correlation --------------------------------------------------------------

def test_rcc_forward_matches_a_unit_by_unit_computation():
    net = RecurrentCascadeCorrelation(2, 2, seed=0)
    rng = np.random.default_rng(1)
    net.hidden_in = [rng.normal(size=3), rng.normal(size=4)]
    net.hidden_self = [0.7, -1.3]
    net.out_w = rng.normal(size=(2, 5))
    x = rng.normal(size=(6, 2))
    f = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    h0 = h1 = 0.0
    for t in range(6):
        h0 = f(net.hidden_in[0] @ [x[t, 0], x[t, 1], 1.0] + 0.7 * h0)
        h1 = f(net.hidden_in[1] @ [x[t, 0], x[t, 1], 1.0, h0] - 1.3 * h1)
        y = f(net.out_w @ [x[t, 0], x[t, 1], 1.0, h0, h1])
        np.testing.assert_allclose(net.forward(x)[t], y, rtol=1e-13)
    assert net.n_weights == 3 + 1 + 4 + 1 + 10


def test_rcc_candidate_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    T, N, S, C, K = 5, 4, 3, 2, 2
    Z = rng.normal(size=(T, N, S))
    m = rng.uniform(size=(T, N)) < 0.8
    E = rng.normal(size=(T, N, K)) * m[:, :, None]
    E_c = (E - E.sum(axis=(0, 1)) / m.sum()) * m[:, :, None]
    W = rng.normal(size=(C, S))
    s = rng.normal(size=C)
    score, gW, gs = _candidate_scores(Z, m, E_c, W, s, with_gradient=True)
    assert score.shape == (C,) and np.all(score > 0)
    eps = 1e-6
    for c in range(C):
        for j in range(S):
            Wp, Wm = W.copy(), W.copy()
            Wp[c, j] += eps
            Wm[c, j] -= eps
            fd = (_candidate_scores(Z, m, E_c, Wp, s, with_gradient=False)[0][c]
                  - _candidate_scores(Z, m, E_c, Wm, s, with_gradient=False)[0][c]) / (2 * eps)
            assert fd == pytest.approx(gW[c, j], abs=1e-7)
        sp, sm = s.copy(), s.copy()
        sp[c] += eps
        sm[c] -= eps
        fd = (_candidate_scores(Z, m, E_c, W, sp, with_gradient=False)[0][c]
              - _candidate_scores(Z, m, E_c, W, sm, with_gradient=False)[0][c]) / (2 * eps)
        assert fd == pytest.approx(gs[c], abs=1e-7)


def test_rcc_grows_frozen_units_and_learns_a_delay():
    rng = np.random.default_rng(0)
    train = delay_task(rng, 64)
    net = RecurrentCascadeCorrelation(2, 2, max_hidden=6, seed=0)
    frozen = []
    history = net.fit(train, solved=SequenceTest(train, 0.4),
                      callback=lambda n: frozen.append([w.copy() for w in n.hidden_in]))
    assert history.solved and 1 <= history.hidden_units <= 6
    assert history.sequences == net.sequences_seen > 0
    # installed units never change afterwards
    for before, after in zip(frozen, frozen[1:]):
        for a, b in zip(before, after):
            assert np.array_equal(a, b)
    assert SequenceTest(delay_task(rng, 200), 0.4)(net)  # it generalises to new sequences


def test_rcc_without_hidden_units_cannot_learn_the_delay():
    rng = np.random.default_rng(0)
    train = delay_task(rng, 64)
    net = RecurrentCascadeCorrelation(2, 2, max_hidden=0, seed=0)
    assert not net.fit(train, solved=SequenceTest(train, 0.4)).solved


def test_rcc_save_load(tmp_path):
    rng = np.random.default_rng(0)
    net = RecurrentCascadeCorrelation(2, 2, max_hidden=2, seed=0)
    net.fit(delay_task(rng, 16), output_epochs=20, candidate_epochs=20)
    path = tmp_path / "rcc.npz"
    net.save(path)
    loaded = RecurrentCascadeCorrelation.load(path)
    x = delay_task(rng)[0][0]
    assert loaded.n_hidden == net.n_hidden == 2
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))


def test_rcc_bad_input():
    with pytest.raises(ValueError, match="n_in"):
        RecurrentCascadeCorrelation(0, 1)
    net = RecurrentCascadeCorrelation(2, 2, seed=0)
    with pytest.raises(ValueError, match="sequences: expected at least one"):
        net.fit([])
    with pytest.raises(ValueError, match=r"sequences\[0\] target: expected shape"):
        net.fit([(np.zeros((3, 2)), np.zeros((3, 3)), None)])


# ---- Neural Sequence Chunker --------------------------------------------------------------------

def test_chunker_weight_count_of_table_2():
    ch = NeuralSequenceChunker(101, seed=0)
    assert ch.automatizer.n_weights == 10506  # Table 2, CH at p = 100
    assert ch.chunker.n_weights == 10404


def test_chunker_sees_only_unpredicted_inputs():
    ch = NeuralSequenceChunker(3, seed=0)
    x = np.eye(3)[[0, 1, 2, 1, 0]]
    target = np.eye(3)[[1, 2, 1, 0, 2]]
    failed = np.array([False, True, False, True, True])
    c_x, c_target, c_mask, latest = ch._chunker_sequence(x, failed, target)
    # C steps at t = 0 and after each failure at t = 1, 3 (x(2), x(4)); the failure at the last step
    # has no input after it, but it is the target of C's last step
    np.testing.assert_array_equal(c_x, x[[0, 2, 4]])
    np.testing.assert_array_equal(c_target, target[[1, 3, 4]])
    assert c_mask.all()
    np.testing.assert_array_equal(latest, [0, 0, 1, 1, 2])


def test_chunker_solves_long_lag_2a_where_rtrl_fails():
    # Exp. 2a with p = 20: the chunker solves it in a few hundred sequences; the RTRL net of the
    # same size (Table 2's competitor) does not within the same budget.
    p, budget = 20, 1500
    task = NoiseFreeLongLag(p)
    rng = np.random.default_rng(0)
    test = SequenceTest([task.sample(rng) for _ in range(40)], task.abs_error_threshold)
    ch = NeuralSequenceChunker(p + 1, seed=1)
    rtrl = RecurrentNet(p + 1, 1, p + 1, recurrence="self", shortcut=True, bias=False, init_range=0.2, seed=1)
    solved_at = None
    for i in range(1, budget + 1):
        x, target, mask = task.sample(rng)
        ch.train_sequence(x, target, mask, lr=1.0)
        rtrl.train_sequence(x, target, mask, lr=1.0)
        if solved_at is None and i % 50 == 0 and test(ch):
            solved_at = i
    assert solved_at is not None and solved_at <= 1000
    assert SequenceTest([task.sample(rng) for _ in range(200)], 0.25)(ch)
    assert not test(rtrl)


def test_chunker_save_load(tmp_path):
    task = NoiseFreeLongLag(5)
    rng = np.random.default_rng(0)
    ch = NeuralSequenceChunker(6, seed=2, dtype=np.float32)
    for _ in range(20):
        ch.train_sequence(*task.sample(rng), lr=1.0)
    ch.save(tmp_path / "ch.npz")
    loaded = NeuralSequenceChunker.load(tmp_path / "ch.npz")
    x = task.sample(rng)[0]
    np.testing.assert_array_equal(loaded.forward(x), ch.forward(x))
    assert repr(loaded) == repr(ch)


# ---- random weight guessing ---------------------------------------------------------------------

def test_random_guessing_solves_a_two_sequence_task():
    # Exp. 3a's task (T = 100, N = 3), a fully recurrent net of one hidden and one output unit
    task = TwoSequence(100, 3, "3a")
    rng = np.random.default_rng(0)
    test = SequenceTest([task.sample(rng) for _ in range(256)], task.abs_error_threshold)
    net = RecurrentNet(1, 1, 1, seed=0)
    result = random_guessing(net, test, init_range=10.0, max_guesses=20_000, seed=0)
    assert result.solved and result.guesses <= 20_000
    assert test.sequences_run >= result.guesses * 16
    # the guess generalises to fresh sequences
    assert SequenceTest([task.sample(rng) for _ in range(1000)], task.abs_error_threshold)(net)
    for k, v in result.weights.items():
        np.testing.assert_array_equal(net.get_weights()[k], v)


def test_random_guessing_respects_the_budget_and_flat_models():
    class Flat:
        n_weights = 3

        def __init__(self):
            self.w = None

        def set_flat(self, w):
            self.w = w

    model = Flat()
    calls = []
    result = random_guessing(model, lambda m: bool(np.all(m.w > 0.9)), init_range=1.0, max_guesses=50, seed=0,
                             callback=calls.append)
    assert not result.solved and result.guesses == 50 and calls == list(range(1, 51))
    result = random_guessing(model, lambda m: bool(np.all(m.w > 0)), init_range=1.0, max_guesses=1000, seed=0)
    assert result.solved and np.all(result.weights > 0)


def test_random_guessing_bad_input():
    net = RecurrentNet(1, 1, 1, seed=0)
    with pytest.raises(TypeError, match="model: expected an object"):
        random_guessing(object(), lambda m: True, init_range=1.0, max_guesses=1)
    with pytest.raises(ValueError, match="init_range: expected a number > 0"):
        random_guessing(net, lambda m: True, init_range=0.0, max_guesses=1)
    with pytest.raises(ValueError, match="max_guesses"):
        random_guessing(net, lambda m: True, init_range=1.0, max_guesses=0)
    with pytest.raises(TypeError, match="solved: expected a callable"):
        random_guessing(net, None, init_range=1.0, max_guesses=1)
