"""lstmcore.LSTMOnline (LSTM.online()): the truncated gradient computed forward in time equals the
truncated backward pass, step + accumulate equals run, weights updated between steps follow an
independent NumPy implementation of the online rule, thread-count invariance, and argument checks.
(Constant memory over 10^6 steps: tests/test_memory.py.)"""
import numpy as np
import pytest

import lstmcore

CONFIGS = [  # (peepholes, bias, N, with_hx); N None: unbatched
    (False, True, 1, False), (False, True, 5, True), (True, True, 5, True), (True, False, 5, False),
    (False, False, 1, True), (True, True, None, True), (False, True, None, False), (True, True, 19, True),
]


def case(rng, T, N, I, H, with_hx):
    n = 1 if N is None else N
    x = rng.standard_normal((T, n, I))
    g = rng.standard_normal((T, n, H))
    hx = (rng.standard_normal((1, n, H)), rng.standard_normal((1, n, H))) if with_hx else None
    return x, g, hx


def unbatch(N, *arrays):
    """Drop the batch axis of (T, 1, .) / (1, 1, H) arrays for an unbatched trainer."""
    if N is not None:
        return arrays
    return tuple(None if a is None else (tuple(b[:, 0] for b in a) if isinstance(a, tuple) else a[:, 0])
                 for a in arrays)


@pytest.mark.parametrize("peepholes,bias,N,with_hx", CONFIGS)
def test_run_equals_truncated_backward(peepholes, bias, N, with_hx):
    rng = np.random.default_rng(17 if N is None else N)
    T, I, H = 13, 3, 4
    m = lstmcore.LSTM(I, H, peepholes=peepholes, bias=bias, dtype=np.float64, seed=5, num_threads=2)
    m.load_state_dict({k: 2 * v for k, v in m.state_dict().items()})  # stronger nonlinearity
    x, g, hx = case(rng, T, N, I, H, with_hx)
    xs, gs, hxs = unbatch(N, x, g, hx)
    out, _ = m(xs, hxs)
    m.backward(gs, truncated=True)
    ref = {k: v.copy() for k, v in m.grads.items()}

    online = m.online(N)
    assert list(online.grads) == list(m.state_dict())
    online.reset(hxs)
    y = online.run(xs, gs)
    np.testing.assert_allclose(y, out, rtol=0, atol=1e-12)
    for k in ref:
        assert online.grads[k].shape == ref[k].shape
        np.testing.assert_allclose(online.grads[k], ref[k], rtol=1e-10, atol=1e-12, err_msg=k)
    if bias:
        assert np.array_equal(online.grads[f"bias_ih_l0"], online.grads[f"bias_hh_l0"])

    # step + accumulate in a Python loop, and run over chunks, give run's outputs and states
    # exactly, and its gradients to rounding (each call sums its steps before adding to grads)
    for chunked in (False, True):
        other = m.online(N)
        other.reset(hxs)
        if chunked:
            ys = np.concatenate([other.run(xs[:4], gs[:4]), other.run(xs[4:5], gs[4:5]), other.run(xs[5:], gs[5:])])
        else:
            ys = []
            for t in range(T):
                ys.append(other.step(xs[t]))
                other.accumulate(gs[t])
            ys = np.stack(ys)
        assert np.array_equal(ys, y)
        for k in ref:
            np.testing.assert_allclose(other.grads[k], online.grads[k], rtol=1e-13, atol=1e-15, err_msg=k)
        h, c = other.state
        assert np.array_equal(h, online.state[0]) and np.array_equal(c, online.state[1])


def test_float32_agrees_with_float64():
    rng = np.random.default_rng(3)
    m64 = lstmcore.LSTM(3, 5, peepholes=True, dtype=np.float64, seed=2)
    m32 = lstmcore.LSTM(3, 5, peepholes=True, dtype=np.float32, seed=2)
    m32.load_state_dict(m64.state_dict())
    x, g, _ = case(rng, 20, 4, 3, 5, False)
    a, b = m64.online(4), m32.online(4)
    np.testing.assert_allclose(b.run(x, g), a.run(x, g), rtol=0, atol=1e-5)
    for k in a.grads:
        assert b.grads[k].dtype == np.float32
        np.testing.assert_allclose(b.grads[k], a.grads[k], rtol=1e-4, atol=1e-4, err_msg=k)


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def numpy_online_sgd(p, x, g, lr, peepholes):
    """The 1997 online rule, plainly: traces per sequence, weights updated after every step."""
    p = {k: v.copy() for k, v in p.items()}
    T, N, I = x.shape
    H = p["weight_hh_l0"].shape[1]
    K = I + H + 1
    h, c = np.zeros((N, H)), np.zeros((N, H))
    s = np.zeros((N, 3, H, K))
    sp = np.zeros((N, 2, H))
    outs = []
    for t in range(T):
        grads = {k: np.zeros_like(v) for k, v in p.items()}
        for n in range(N):
            u = np.concatenate([x[t, n], h[n], [1.0]])
            W = np.concatenate([p["weight_ih_l0"], p["weight_hh_l0"], (p["bias_ih_l0"] + p["bias_hh_l0"])[:, None]], 1)
            a = W @ u
            cp = c[n].copy()
            zero = np.zeros(H)
            i = _sig(a[:H] + (p["weight_ci_l0"] * cp if peepholes else zero))
            f = _sig(a[H:2 * H] + (p["weight_cf_l0"] * cp if peepholes else zero))
            gg = np.tanh(a[2 * H:3 * H])
            c[n] = f * cp + i * gg
            o = _sig(a[3 * H:] + (p["weight_co_l0"] * c[n] if peepholes else zero))
            tc = np.tanh(c[n])
            h[n] = o * tc
            direct = [gg * i * (1 - i), cp * f * (1 - f), i * (1 - gg ** 2)]
            for q in range(3):
                s[n, q] = f[:, None] * s[n, q] + direct[q][:, None] * u[None, :]
            sp[n, 0] = f * sp[n, 0] + direct[0] * cp
            sp[n, 1] = f * sp[n, 1] + direct[1] * cp
            ec = g[t, n] * o * (1 - tc ** 2)
            eo = g[t, n] * tc * o * (1 - o)
            dW = np.concatenate([ec[None, :, None] * s[n], (eo[:, None] * u[None, :])[None]]).reshape(4 * H, K)
            grads["weight_ih_l0"] += dW[:, :I]
            grads["weight_hh_l0"] += dW[:, I:I + H]
            grads["bias_ih_l0"] += dW[:, -1]
            grads["bias_hh_l0"] += dW[:, -1]
            if peepholes:
                grads["weight_ci_l0"] += ec * sp[n, 0]
                grads["weight_cf_l0"] += ec * sp[n, 1]
                grads["weight_co_l0"] += eo * c[n]
        outs.append(h.copy())
        for k in p:
            p[k] -= lr * grads[k]
    return np.stack(outs), p


@pytest.mark.parametrize("peepholes", [False, True])
def test_weights_updated_between_steps_follow_the_online_rule(peepholes):
    rng = np.random.default_rng(8)
    T, N, I, H, lr = 9, 3, 2, 3, 0.5
    m = lstmcore.LSTM(I, H, peepholes=peepholes, dtype=np.float64, seed=4)
    x, g, _ = case(rng, T, N, I, H, False)
    expected_out, expected_params = numpy_online_sgd(m.state_dict(), x, g, lr, peepholes)
    online = m.online(N)
    params = m.parameters()
    outs = []
    for t in range(T):
        outs.append(online.step(x[t]))
        online.accumulate(g[t])
        for k, p in params.items():  # SGD in place on the live arrays; the traces carry on
            p -= lr * online.grads[k]
        online.zero_grad()
    np.testing.assert_allclose(np.stack(outs), expected_out, rtol=1e-12, atol=1e-12)
    for k, v in expected_params.items():
        np.testing.assert_allclose(m.state_dict()[k], v, rtol=1e-11, atol=1e-12, err_msg=k)
    # the same with run() one step at a time
    m2 = lstmcore.LSTM(I, H, peepholes=peepholes, dtype=np.float64, seed=4)
    online2 = m2.online(N)
    for t in range(T):
        online2.run(x[t:t + 1], g[t:t + 1])
        for k, p in m2.parameters().items():
            p -= lr * online2.grads[k]
        online2.zero_grad()
    for k in expected_params:
        assert np.array_equal(m2.state_dict()[k], m.state_dict()[k]), k


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bitwise_identical_for_thread_counts(dtype):
    rng = np.random.default_rng(6)
    T, N, I, H = 8, 21, 10, 24  # enough work per step for the thread team; several blocks, a partial one
    x = rng.standard_normal((T, N, I)).astype(dtype)
    g = rng.standard_normal((T, N, H)).astype(dtype)
    results = []
    for threads in (1, 2, 3):
        m = lstmcore.LSTM(I, H, peepholes=True, dtype=dtype, seed=3, num_threads=threads)
        online = m.online(N)
        assert online.num_threads == threads
        y = online.run(x[:5], g[:5])
        for t in range(5, T):
            online.step(x[t])
            online.accumulate(g[t])
        results.append((y, *online.state, *online.grads.values()))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)


def test_state_traces_and_gradients_lifecycle():
    rng = np.random.default_rng(9)
    m = lstmcore.LSTM(2, 3, dtype=np.float64, seed=1)
    online = m.online(2)
    x, g, _ = case(rng, 5, 2, 2, 3, False)
    online.run(x, g)
    first = {k: v.copy() for k, v in online.grads.items()}
    assert any(np.any(v) for v in first.values())
    # reset: state and traces to zero, gradients kept; the same data again adds the same gradient
    online.reset()
    assert not np.any(online.state[0]) and not np.any(online.state[1])
    online.run(x, g)
    for k in first:
        np.testing.assert_allclose(online.grads[k], 2 * first[k], rtol=1e-14, atol=0)
    online.zero_grad()
    assert not any(np.any(v) for v in online.grads.values())
    # memory of the traces: N x 3H x (I + H + 1)
    assert online._core.trace_size == 2 * 3 * 3 * (2 + 3 + 1)


def test_layers_that_cannot_train_online():
    with pytest.raises(ValueError, match="num_layers.*future"):
        lstmcore.LSTM(3, 4, 2).online(2)
    with pytest.raises(ValueError, match="bidirectional.*future"):
        lstmcore.LSTM(3, 4, bidirectional=True).online(2)


def test_bad_arguments():
    m = lstmcore.LSTM(2, 3, dtype=np.float64, seed=0)
    for kwargs, exc in [(dict(batch_size=0), ValueError), (dict(batch_size="2"), TypeError)]:
        with pytest.raises(exc, match="batch_size"):
            m.online(**kwargs)
    with pytest.raises(TypeError, match="layer"):
        lstmcore.LSTMOnline(object())
    online = m.online(4)
    with pytest.raises(RuntimeError, match="accumulate.*step"):  # a call-order error, as LSTM.backward's
        online.accumulate(np.zeros((4, 3)))
    for x_t, exc in [(np.zeros((4, 3)), ValueError), (np.zeros(2), ValueError), ("x", TypeError),
                     (np.full((4, 2), np.nan), ValueError), (np.zeros((4, 2), complex), TypeError)]:
        with pytest.raises(exc, match="x_t"):
            online.step(x_t)
    with pytest.raises(ValueError, match="out"):
        online.step(np.zeros((4, 2)), out=np.zeros((4, 2)))
    with pytest.raises(TypeError, match="out"):
        online.step(np.zeros((4, 2)), out=[0.0])
    online.step(np.zeros((4, 2)))
    for grad_h, exc in [(np.zeros((4, 2)), ValueError), (np.zeros((3,)), ValueError), (None, TypeError),
                        (np.full((4, 3), np.inf), ValueError), (b"12", TypeError)]:
        with pytest.raises(exc, match="grad_h"):
            online.accumulate(grad_h)
    x, g = np.zeros((5, 4, 2)), np.zeros((5, 4, 3))
    for kwargs, exc, name in [(dict(x=np.zeros((5, 4, 3))), ValueError, "x"),
                              (dict(x=np.zeros((5, 2))), ValueError, "x"),
                              (dict(x=np.zeros((0, 4, 2)), grad_output=np.zeros((0, 4, 3))), ValueError, "x"),
                              (dict(x="abc"), TypeError, "x"),
                              (dict(grad_output=np.zeros((4, 4, 3))), ValueError, "grad_output"),
                              (dict(grad_output=np.full((5, 4, 3), np.nan)), ValueError, "grad_output"),
                              (dict(grad_output=None), TypeError, "grad_output")]:
        args = dict(x=x, grad_output=g)
        args.update(kwargs)
        with pytest.raises(exc, match=name):
            online.run(**args)
    for hx, exc, name in [([np.zeros((1, 4, 3))], TypeError, "hx"),
                          ((np.zeros((1, 4, 3)), np.zeros((2, 4, 3))), ValueError, r"hx\[1\]"),
                          ((np.zeros((4, 3)), np.zeros((1, 4, 3))), ValueError, r"hx\[0\]")]:
        with pytest.raises(exc, match=name):
            online.reset(hx)
    with pytest.raises(ValueError, match="num_threads"):
        online.num_threads = 0
    assert not any(np.any(v) for v in online.grads.values())  # nothing was accumulated
