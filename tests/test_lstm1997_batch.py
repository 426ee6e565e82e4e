"""Packed batches of LSTM1997: train_batch == one train_sequence per sequence, forward_batch ==
one forward per sequence, bitwise, for any number of threads; the public methods' fast path ==
their checked path."""
import lstmcore
import numpy as np
import pytest
from lstmcore.tasks import Adding, TemporalOrder


def packed(task, rng, n):
    xs, ts, ms = zip(*(task.sample(rng) for _ in range(n)))
    offsets = np.r_[0, np.cumsum([len(x) for x in xs])]
    return list(zip(xs, ts, ms)), np.concatenate(xs), np.concatenate(ts), np.concatenate(ms), offsets


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("update", ["step", "sequence"])
def test_train_batch_is_train_sequence_in_order(dtype, update):
    task = TemporalOrder("6a", dtype=dtype)
    seqs, x, t, m, off = packed(task, np.random.default_rng(1), 12)
    a = lstmcore.LSTM1997(8, 4, 2, 2, bias="all", seed=3, dtype=dtype)
    b = lstmcore.LSTM1997(8, 4, 2, 2, bias="all", seed=3, dtype=dtype)
    expected_loss, expected_err = [], []
    for xi, ti, mi in seqs:
        w = a.get_weights()
        y_before = a.forward(xi)  # target only at the end: the pass judges the weights it met
        expected_err.append(float(np.max(np.abs(ti[-1].astype(np.float64) - y_before[-1]))))
        a.set_weights(w)
        expected_loss.append(a.train_sequence(xi, ti, mi, lr=0.3, update=update))
    loss, err = b.train_batch(x, t, m, off, lr=0.3, update=update, last_error=True)
    np.testing.assert_array_equal(loss, expected_loss)
    np.testing.assert_array_equal(err, expected_err)
    for k, w in a.get_weights().items():
        np.testing.assert_array_equal(b.get_weights()[k], w)
    loss2, none = lstmcore.LSTM1997(8, 4, 2, 2, bias="all", seed=3, dtype=dtype).train_batch(
        x, t, m, off, lr=0.3, update=update)
    assert none is None
    np.testing.assert_array_equal(loss2, loss)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_batch_is_forward_per_sequence_for_any_thread_count(dtype):
    task = Adding(20, dtype=dtype)
    seqs, x, _, _, off = packed(task, np.random.default_rng(2), 37)
    net = lstmcore.LSTM1997(2, 1, 2, 2, bias="all", seed=5, dtype=dtype)
    expected = np.concatenate([net.forward(s[0]) for s in seqs])
    for threads in (1, 2, 3, 8):
        y = net.forward_batch(x, off, num_threads=threads)
        assert y.dtype == dtype and y.shape == expected.shape
        np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(net.forward_batch(x, off), expected)
    # the weights change: the worker copies follow
    w = net.get_weights()
    w["W_y"] += 0.5
    net.set_weights(w)
    expected = np.concatenate([net.forward(s[0]) for s in seqs])
    np.testing.assert_array_equal(net.forward_batch(x, off, num_threads=2), expected)


def test_batch_bad_input_is_refused_clearly():
    net = lstmcore.LSTM1997(2, 1, 2, 2, seed=0)
    x = np.zeros((10, 2))
    with pytest.raises(ValueError, match="offsets: expected offsets\\[0\\] == 0"):
        net.forward_batch(x, [1, 10])
    with pytest.raises(ValueError, match="offsets: expected strictly increasing"):
        net.forward_batch(x, [0, 5, 5, 10])
    with pytest.raises(ValueError, match="offsets: expected offsets\\[-1\\] == 10"):
        net.forward_batch(x, [0, 5, 9])
    with pytest.raises(TypeError, match="offsets: expected an integer array"):
        net.forward_batch(x, [0.0, 10.0])
    with pytest.raises(ValueError, match="num_threads"):
        net.forward_batch(x, [0, 10], num_threads=0)
    with pytest.raises(ValueError, match="target: expected shape"):
        net.train_batch(x, np.zeros((9, 1)), None, [0, 10], lr=0.1)
    with pytest.raises(ValueError, match="x: expected finite"):
        net.forward_batch(np.full((10, 2), np.nan), [0, 10])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fast_path_equals_checked_path(dtype):
    """Exact arrays of the dtype take the bindings' fast path; lists, other dtypes, strided views
    and integer masks take the checked path: the same numbers either way."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(15, 3)).astype(dtype)
    t = rng.uniform(size=(15, 2)).astype(dtype)
    m = rng.uniform(size=15) < 0.5
    variants = [(x, t, m), (x.tolist(), t.tolist(), m.astype(int)), (np.asfortranarray(x), t[:, ::1], list(m))]
    results = []
    for xv, tv, mv in variants:
        net = lstmcore.LSTM1997(3, 2, 2, 2, seed=1, dtype=dtype)
        y = net.forward(xv)
        loss, g = net.gradient(xv, tv, mv)
        tl = net.train_sequence(xv, tv, mv, lr=0.2)
        results.append((y, loss, g, tl, net.get_weights()))
    for other in results[1:]:
        np.testing.assert_array_equal(other[0], results[0][0])
        assert other[1] == results[0][1] and other[3] == results[0][3]
        for k in results[0][2]:
            np.testing.assert_array_equal(other[2][k], results[0][2][k])
            np.testing.assert_array_equal(other[4][k], results[0][4][k])


def test_fast_path_still_refuses_bad_values():
    net = lstmcore.LSTM1997(2, 1, 1, seed=0)
    x = np.zeros((4, 2))
    t = np.zeros((4, 1))
    with pytest.raises(ValueError, match="x: expected finite"):
        net.forward(np.full((4, 2), np.inf))
    with pytest.raises(ValueError, match="target: expected finite"):
        net.train_sequence(x, np.full((4, 1), np.nan), lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        net.train_sequence(x, t, lr=-1.0)
    with pytest.raises(ValueError, match="lr"):
        net.train_sequence(x, t, lr=float("nan"))
    with pytest.raises(ValueError, match="mask: expected shape"):
        net.train_sequence(x, t, np.ones(3, dtype=bool), lr=0.1)
    with pytest.raises(ValueError, match="update"):
        net.train_sequence(x, t, lr=0.1, update="never")
    with pytest.raises(ValueError, match="x: expected shape"):
        net.gradient(np.zeros((4, 3)), t)
