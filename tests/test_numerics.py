"""Numerical safety.

- 10^7 online steps (truncated-RTRL training with per-step updates, plus forward and gradient passes, through the C++ paths over long
  sequences) of the 1997 network without a forget gate on inputs that drive internal state drift
  (constant positive input, input gates held open): no NaN/Inf anywhere. The states drift (the
  paper's section 4; remedies: negative input-gate biases, output-gate biases, a forget gate; see
  docs/ENGINE.md "Numerical safety"), the bounded squashers saturate, nothing overflows.
- With a forget gate the state stays bounded: |s| <= max|y_in g| / (1 - f).
- The squashers cannot overflow: sigmoid-type functions are evaluated as c/(1+exp(-x)) + d, which
  gives the right limits for exp(-x) = inf or 0, and tanh saturates; tested at net inputs of
  +-1e30, +-1e60 and +-inf (float32 products that overflow).
- A divergent run (NaN weights) does not poison the network once finite weights are set again.
"""
import os

import numpy as np
import pytest

import lstmcore
from casecount import tick

# Steps per call; 10 calls = 10^7 steps. Under the sanitizers (CI's instrumented rerun of the suite,
# about 20x slower here) a tenth of that: that run looks for memory errors, not for the long count.
STEPS = 10**5 if "libasan" in os.environ.get("LD_PRELOAD", "") else 10**6


def drift_net(h="h1", out="logistic", forget_gate=False, recurrent="cells+gates", dtype=np.float64):
    """Input gates open (bias +5), cell inputs driven positive: s grows by ~y_in*g(+) every step."""
    net = lstmcore.LSTM1997(1, 1, 2, 1, bias="all", recurrent=recurrent, forget_gate=forget_gate, h=h,
                            out_activation=out, input_gate_bias=5.0, output_gate_bias=5.0, dtype=dtype, seed=0,
                            **({"forget_gate_bias": 2.0} if forget_gate else {}))
    w = net.get_weights()
    w["W_cell"][:] = 0.5
    w["b_cell"][:] = 1.0
    if forget_gate:
        w["W_forget"][:] = 0.0
    net.set_weights(w)
    return net


def test_ten_million_steps_without_forget_gate_stay_finite():
    x = np.ones((STEPS, 1))
    target = np.full((STEPS, 1), 0.5)
    net = drift_net()
    steps = 0
    for _ in range(2):  # forward: 2 * 10^6 steps
        y = net.forward(x)
        assert np.isfinite(y).all()
        steps += len(x)
    for _ in range(10):  # online training, per-step updates: 10^7 steps
        loss = net.train_sequence(x, target, lr=0.1)
        assert np.isfinite(loss)
        assert all(np.isfinite(w).all() for w in net.get_weights().values())
        steps += len(x)
    assert steps == 12 * STEPS
    tick("numerics: LSTM1997 steps without NaN/Inf (drift)", steps + len(x))
    loss, grads = net.gradient(x, target)  # the traces over 10^6 steps of drift
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads.values())


def test_state_drifts_without_forget_gate_and_is_bounded_with_one():
    # h = identity and linear outputs make the output proportional to the state y_out * s;
    # recurrent="none" keeps the gates constant for a constant input.
    x = np.ones((STEPS, 1))
    free = drift_net(h="identity", out="linear", recurrent="none").forward(x)[:, 0]
    assert np.isfinite(free).all()
    # drift: linear growth, the state after 10^6 steps is ~10^6 times the first step's
    assert abs(free[-1]) > 0.1 * STEPS * abs(free[0]) and abs(free[-1] - 2 * free[STEPS // 2 - 1]) < 1e-3 * abs(free[-1])

    net = drift_net(h="identity", out="linear", recurrent="none", forget_gate=True)
    y = net.forward(x)[:, 0]
    w = net.get_weights()
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    u = np.array([1.0, 1.0])  # with recurrent="none": sources [x(t) = 1, bias source 1]
    f = sig(np.concatenate([w["W_forget"], w["b_forget"][:, None]], axis=1) @ u)
    y_in = sig(np.concatenate([w["W_in"], w["b_in"][:, None]], axis=1) @ u)
    g = 4 * sig(np.concatenate([w["W_cell"], w["b_cell"][:, None]], axis=1) @ u) - 2
    s_bound = np.abs(y_in * g) / (1 - f)  # fixed point of s = f s + y_in g
    y_bound = np.abs(w["W_y"]).sum() * s_bound.max() + np.abs(w["b_y"]).sum()
    assert np.isfinite(y).all() and np.abs(y).max() <= y_bound * (1 + 1e-9)
    assert y[-1] == pytest.approx(y[STEPS // 2], rel=1e-12)  # converged, no drift


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("g", ["g2", "logistic", "tanh", "h1"])
@pytest.mark.parametrize("h", ["h1", "tanh", "g2"])
def test_squashers_at_huge_and_infinite_net_inputs(dtype, g, h):
    # one input, no recurrence, no biases: every net input is exactly w * x
    net = lstmcore.LSTM1997(1, 1, 1, 1, recurrent="none", bias="none", g=g, h=h, out_activation="linear",
                            dtype=dtype, seed=0)
    x = np.array([[1e30], [-1e30], [1.0], [-1.0], [1e30]], dtype)
    for scale in (1.0, -1.0):
        w = {k: np.full(v.shape, scale * 1e30, dtype) for k, v in net.get_weights().items()}
        w["W_y"][:] = 1.0
        net.set_weights(w)
        # net inputs +-1e60 in float64, +-inf in float32 (1e30 * 1e30 overflows), +-1e30
        y = net.forward(x)
        assert np.isfinite(y).all(), (scale, y)
        loss, grads = net.gradient(x, np.zeros((5, 1), dtype))
        assert np.isfinite(loss) and all(np.isfinite(v).all() for v in grads.values())
        loss, grads = net.gradient(x, np.zeros((5, 1), dtype), mode="full")
        assert np.isfinite(loss) and all(np.isfinite(v).all() for v in grads.values())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_at_huge_and_infinite_preactivations(dtype):
    layer = lstmcore.LSTM(1, 3, dtype=dtype, seed=0, num_threads=1)
    sd = layer.state_dict()
    sd["weight_ih_l0"][:] = np.where(np.arange(12)[:, None] % 2 == 0, 1e30, -1e30).astype(dtype)
    layer.load_state_dict(sd)
    x = np.array([[[1e30]], [[-1e30]], [[1.0]], [[1e30]]], dtype)
    out, (h, c) = layer(x)
    assert np.isfinite(out).all() and np.isfinite(h).all() and np.isfinite(c).all()
    gx = layer.backward(np.ones_like(out))
    assert np.isfinite(gx).all() and all(np.isfinite(g).all() for g in layer.grads.values())


def test_divergent_run_does_not_poison_the_network():
    # h = identity with linear outputs is unbounded: lr = 1e-9 over 10^5 steps of drift diverges
    # (the effective curvature grows like s^2). That is the user's learning rate; but setting
    # finite weights again must give a working network, identical to a fresh one.
    x, target = np.ones((10**5, 1)), np.zeros((10**5, 1))
    net = drift_net(h="identity", out="linear")
    weights = net.get_weights()
    fresh = net.forward(x[:50])
    loss = net.train_sequence(x, target, lr=1e-9)
    assert not np.isfinite(loss)
    net.set_weights(weights)
    np.testing.assert_array_equal(net.forward(x[:50]), fresh)
    assert np.isfinite(net.train_sequence(x[:50], target[:50], lr=1e-3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 8, 9, 64, 100, 70_000])
def test_finite_check_finds_every_nan_and_inf(dtype, n):
    """The core's finiteness check (used on every input array) against np.isfinite: a NaN, +Inf or
    -Inf at any position (each of the eight lanes, the tail, the first and last value), huge finite
    values (whose sum would overflow) and other arrays (non-contiguous, other dtypes: None)."""
    from lstmcore import _core

    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(dtype)
    assert _core.all_finite(x) is True
    big = np.full(n, np.finfo(dtype).max, dtype)
    assert _core.all_finite(big) is True  # finite, although their sum is not
    positions = sorted({0, n - 1, n // 2, *range(min(n, 17)), *rng.integers(0, n, 5).tolist()})
    for bad in (np.nan, np.inf, -np.inf):
        for k in positions:
            y = x.copy()
            y[k] = bad
            assert _core.all_finite(y) is False, (bad, k)
            assert _core.all_finite(y.reshape(1, n)) is False
            tick("numerics: finite check, NaN or Inf placed")
    if n > 1:
        assert _core.all_finite(x[::2]) is None  # not contiguous: the caller's own check
    assert _core.all_finite(x.astype(x.dtype.newbyteorder(">"))) is None
    assert _core.all_finite(np.arange(n)) is None
    assert _core.all_finite(np.zeros(0, dtype)) is True
