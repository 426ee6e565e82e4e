"""lstmcore.LSTM with a recurrent projection (proj_size, docs/ENGINE.md part 2): torch parity of outputs,
states and every gradient, finite differences of the NumPy reference (tests/reference.py),
thread-count invariance, the stream and the online trainer, torch round trips, persistence and
copies, optimizers, and the checks of bad proj_size values. The layer against the NumPy reference
(exact and truncated gradient) and finite differences of the layer itself, with and without a
projection: tests/test_lstm_layer.py."""
import copy
import pickle

import numpy as np
import pytest

import lstmcore
from finite_differences import central_differences
from reference import layer_direction
from test_lstm_layer import check_torch_parity

# torch's float32 CPU LSTM tells that oneDNN has no projections and falls back to its own kernel
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN:UserWarning")

# ---- torch parity -------------------------------------------------------------------------------

CONFIGS = []
_rng = np.random.default_rng(20261206)
for _k in range(24):
    _batched = bool(_rng.random() < 0.85)
    _H = int(_rng.integers(2, 10))
    CONFIGS.append(dict(
        L=int(_rng.integers(1, 4)), bidirectional=bool(_rng.random() < 0.5), batched=_batched,
        batch_first=bool(_rng.random() < 0.5), bias=bool(_rng.random() < 0.75), with_hx=bool(_rng.random() < 0.6),
        with_lengths=_batched and bool(_rng.random() < 0.5), T=int(_rng.integers(1, 9)), N=int(_rng.integers(1, 21)),
        I=int(_rng.integers(1, 7)), H=_H, P=int(_rng.integers(1, _H)), dtype=(np.float64, np.float32)[_k % 2],
        seed=_k))
# larger shapes: full GEMM panels, several batch chunks (16 sequences each), a partial chunk
for _k, _dt in enumerate((np.float64, np.float32)):
    CONFIGS.append(dict(L=2, bidirectional=bool(_k), batched=True, batch_first=False, bias=True, with_hx=True,
                        with_lengths=True, T=7, N=37, I=33, H=40, P=17, dtype=_dt, seed=100 + _k))


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "L{L}-bi{bidirectional:d}-b{batched:d}-bf{batch_first:d}-"
                         "bias{bias:d}-hx{with_hx:d}-len{with_lengths:d}-T{T}N{N}I{I}H{H}P{P}-{d}".format(
                             d=np.dtype(c["dtype"]).name, **c))
def test_torch_parity(cfg):
    m = check_torch_parity(cfg)
    assert m.proj_size == cfg["P"] and any(name.startswith("weight_hr") for name in m.grads)


def test_initialisation_like_torch():
    m = lstmcore.LSTM(3, 16, 2, bidirectional=True, proj_size=5, seed=5)
    sd = m.state_dict()
    assert sd["weight_hr_l1_reverse"].shape == (5, 16) and sd["weight_hh_l0"].shape == (64, 5)
    assert sd["weight_ih_l1"].shape == (64, 10)
    assert max(np.abs(v).max() for v in sd.values()) <= 1 / 4  # U(-1/sqrt(H), 1/sqrt(H)), as torch
    assert min(np.abs(v).max() for v in sd.values()) > 0.15
    assert m.proj_size == 5 and m.recurrent_size == 5 and "proj_size=5" in repr(m)
    # the parameters of a seed without a projection do not depend on proj_size's existence
    plain = lstmcore.LSTM(3, 16, seed=5)
    assert plain.proj_size == 0 and plain.recurrent_size == 16 and "proj_size" not in repr(plain)


# ---- the NumPy reference and finite differences (float64) ----------------------------------------


def test_reference_direction_against_finite_differences():
    """The NumPy reference itself (exact mode) against finite differences of its own forward."""
    rng = np.random.default_rng(2)
    T, N, I, H, P = 4, 2, 3, 4, 2
    p = {"W_ih": rng.standard_normal((4 * H, I)), "W_hh": rng.standard_normal((4 * H, P)),
         "b_ih": rng.standard_normal(4 * H), "b_hh": rng.standard_normal(4 * H), "W_hr": rng.standard_normal((P, H))}
    x, h0, c0 = rng.standard_normal((T, N, I)), rng.standard_normal((N, P)), rng.standard_normal((N, H))
    lens = np.array([4, 3])
    go, gh, gc = rng.standard_normal((T, N, P)), rng.standard_normal((N, P)), rng.standard_normal((N, H))

    def loss():
        out, hn, cn = layer_direction(x, p, h0, c0, lens, False, go, gh, gc, False)[:3]
        return float((out * go).sum() + (hn * gh).sum() + (cn * gc).sum())

    gw = layer_direction(x, p, h0, c0, lens, False, go, gh, gc, False)[6]
    for name in ("W_hr", "W_hh"):
        np.testing.assert_allclose(gw[name], central_differences(loss, p[name]), rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("truncated", [False, True])
def test_bitwise_identical_for_thread_counts(dtype, truncated):
    rng = np.random.default_rng(5)
    T, N, I, H, P = 6, 37, 9, 20, 7
    x = rng.standard_normal((T, N, I)).astype(dtype)
    lens = rng.integers(0, T + 1, N)
    results = []
    for threads in (1, 2, 3):
        m = lstmcore.LSTM(I, H, 2, bidirectional=True, proj_size=P, dtype=dtype, seed=3, num_threads=threads)
        out, (h, c) = m(x, None, lens)
        gx = m.backward(np.ones_like(out), np.ones_like(h), np.ones_like(c), truncated=truncated)
        results.append((out, h, c, gx, m.grad_hx[0], m.grad_hx[1], *m.grads.values()))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)


def test_empty_batch_and_unbatched_shapes():
    m = lstmcore.LSTM(3, 6, 2, bidirectional=True, proj_size=4, dtype=np.float64, seed=0)
    out, (h, c) = m(np.zeros((5, 0, 3)))
    assert out.shape == (5, 0, 8) and h.shape == (4, 0, 4) and c.shape == (4, 0, 6)
    gx = m.backward(np.zeros((5, 0, 8)))
    assert gx.shape == (5, 0, 3) and not any(g.any() for g in m.grads.values())
    assert m.grad_hx[0].shape == (4, 0, 4) and m.grad_hx[1].shape == (4, 0, 6)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3))
    hx = (rng.standard_normal((4, 4)), rng.standard_normal((4, 6)))
    batched, (hb, cb) = m(x[:, None], (hx[0][:, None], hx[1][:, None]))
    out, (h, c) = m(x, hx)
    assert out.shape == (5, 8) and h.shape == (4, 4) and c.shape == (4, 6)
    assert np.array_equal(out, batched[:, 0]) and np.array_equal(h, hb[:, 0]) and np.array_equal(c, cb[:, 0])
    m.backward(np.ones_like(out))
    assert m.grad_hx[0].shape == (4, 4) and m.grad_hx[1].shape == (4, 6)


# ---- argument checks ------------------------------------------------------------------------------


@pytest.mark.parametrize("value,exc", [(-1, ValueError), (6, ValueError), (7, ValueError), (1.5, TypeError),
                                       (True, TypeError), ("2", TypeError), (None, TypeError)])
def test_bad_proj_size(value, exc):
    with pytest.raises(exc, match="proj_size"):
        lstmcore.LSTM(3, 6, proj_size=value)


def test_bad_state_shapes_with_a_projection():
    m = lstmcore.LSTM(3, 6, proj_size=2, dtype=np.float64)
    x = np.zeros((4, 2, 3))
    with pytest.raises(ValueError, match=r"hx\[0\]"):  # h_0 must be (L*D, N, P)
        m(x, (np.zeros((1, 2, 6)), np.zeros((1, 2, 6))))
    with pytest.raises(ValueError, match=r"hx\[1\]"):  # c_0 must be (L*D, N, H)
        m(x, (np.zeros((1, 2, 2)), np.zeros((1, 2, 2))))
    out, (h, c) = m(x, (np.zeros((1, 2, 2)), np.zeros((1, 2, 6))))
    with pytest.raises(ValueError, match="grad_output"):
        m.backward(np.zeros((4, 2, 6)))
    with pytest.raises(ValueError, match="grad_h_n"):
        m.backward(None, np.zeros((1, 2, 6)))
    with pytest.raises(ValueError, match="grad_c_n"):
        m.backward(None, None, np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="weight_hr_l0"):
        m.load_state_dict({**m.state_dict(), "weight_hr_l0": np.zeros((6, 2))})


# ---- interop, persistence, copies, optimizers ------------------------------------------------------


def test_torch_round_trip_carries_proj_size():
    torch = pytest.importorskip("torch")
    t = torch.nn.LSTM(3, 7, 2, bidirectional=True, proj_size=3, dropout=0.25).double()
    m = lstmcore.LSTM.from_torch(t)
    assert m.proj_size == 3 and m.dtype == np.float64 and m.dropout == 0.25
    assert all(np.array_equal(v, t.state_dict()[k].numpy()) for k, v in m.state_dict().items())
    back = m.to_torch()
    assert back.proj_size == 3
    assert all(torch.equal(v, t.state_dict()[k]) for k, v in back.state_dict().items())
    # eval-mode outputs agree with torch (dropout between layers is off in eval mode)
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    m.eval()
    t.eval()
    out, (h, c) = m(x)
    ot, (ht, ct) = t(torch.from_numpy(x))
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h, ht.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_save_load_pickle_copy(tmp_path):
    m = lstmcore.LSTM(3, 6, 2, proj_size=2, peepholes=True, dtype=np.float64, seed=7)
    assert list(m.state_dict())[:8] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ci_l0",
                                        "weight_cf_l0", "weight_co_l0", "weight_hr_l0"]
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    out, _ = m(x)
    m.save(tmp_path / "m.npz")
    for other in (lstmcore.LSTM.load(tmp_path / "m.npz"), pickle.loads(pickle.dumps(m)), copy.deepcopy(m),
                  copy.copy(m)):
        assert other.proj_size == 2
        assert all(np.array_equal(v, m.state_dict()[k]) for k, v in other.state_dict().items())
        assert np.array_equal(other(x)[0], out)


def test_optimizer_updates_the_projection():
    m = lstmcore.LSTM(3, 6, proj_size=2, dtype=np.float64, seed=1)
    opt = lstmcore.optim.Adam(m.parameters(), lr=0.01)
    before = m.state_dict()["weight_hr_l0"]
    out, _ = m(np.random.default_rng(0).standard_normal((5, 2, 3)))
    m.backward(np.ones_like(out))
    opt.step(m.grads)
    assert not np.array_equal(m.state_dict()["weight_hr_l0"], before)


# ---- stream and online ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("L,N,with_hx", [(1, 1, False), (2, 5, True), (3, 17, True)])
def test_stream_equals_forward(dtype, L, N, with_hx):
    rng = np.random.default_rng(L * 10 + N)
    I, H, P, T = 4, 7, 3, 11
    m = lstmcore.LSTM(I, H, L, peepholes=L == 2, proj_size=P, dtype=dtype, seed=2, num_threads=2)
    x = rng.standard_normal((T, N, I)).astype(dtype)
    hx = None
    if with_hx:
        hx = (rng.standard_normal((L, N, P)).astype(dtype), rng.standard_normal((L, N, H)).astype(dtype))
    out, (h_n, c_n) = m(x, hx)
    s = m.stream(N)
    s.reset(hx)
    steps = np.stack([s.step(x[t]) for t in range(T)])
    tol = dict(rtol=0, atol=1e-12) if dtype == np.float64 else dict(rtol=0, atol=1e-5)
    assert steps.shape == out.shape == (T, N, P)
    np.testing.assert_allclose(steps, out, **tol)
    h, c = s.state
    assert h.shape == (L, N, P) and c.shape == (L, N, H)
    np.testing.assert_allclose(h, h_n, **tol)
    np.testing.assert_allclose(c, c_n, **tol)
    s.reset(hx)
    np.testing.assert_allclose(np.concatenate([s.run(x[:4]), s.run(x[4:])]), out, **tol)
    # a copy carries the state on
    s.reset(hx)
    s.run(x[:5])
    twin = pickle.loads(pickle.dumps(s))
    np.testing.assert_allclose(twin.run(x[5:]), out[5:], **tol)
    # unbatched
    if N == 1:
        u = m.stream()
        np.testing.assert_allclose(np.stack([u.step(x[t, 0]) for t in range(T)]), out[:, 0], **tol)


@pytest.mark.parametrize("peepholes,bias,N", [(False, True, 1), (True, True, 5), (False, False, 19), (True, False, None)])
def test_online_run_equals_truncated_backward(peepholes, bias, N):
    rng = np.random.default_rng(3)
    T, I, H, P = 13, 3, 5, 2
    m = lstmcore.LSTM(I, H, peepholes=peepholes, bias=bias, proj_size=P, dtype=np.float64, seed=5, num_threads=2)
    m.load_state_dict({k: 2 * v for k, v in m.state_dict().items()})
    n = 1 if N is None else N
    x, g = rng.standard_normal((T, n, I)), rng.standard_normal((T, n, P))
    hx = (rng.standard_normal((1, n, P)), rng.standard_normal((1, n, H)))
    if N is None:
        x, g, hx = x[:, 0], g[:, 0], (hx[0][:, 0], hx[1][:, 0])
    out, _ = m(x, hx)
    m.backward(g, truncated=True)
    online = m.online(N)
    online.reset(hx)
    y = online.run(x, g)
    np.testing.assert_allclose(y, out, rtol=0, atol=1e-12)
    assert list(online.grads) == list(m.grads)
    for k, ref in m.grads.items():
        np.testing.assert_allclose(online.grads[k], ref, rtol=1e-10, atol=1e-12, err_msg=k)
    # step + accumulate gives the same; a pickled copy carries state and traces on
    other = m.online(N)
    other.reset(hx)
    for t in range(T):
        if t == 6:
            other = pickle.loads(pickle.dumps(other))
            assert other.layer is not m  # the copy trains its own copy of the layer (same values)
        np.testing.assert_array_equal(other.step(x[t]), y[t])
        other.accumulate(g[t])
    for k, ref in m.grads.items():
        np.testing.assert_allclose(other.grads[k], ref, rtol=1e-10, atol=1e-12, err_msg=k)
    h, c = online.state
    assert h.shape[-1] == P and c.shape[-1] == H


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def test_online_sgd_step_matches_the_reference():
    """Weights updated after every step: each step's gradient is the truncated gradient of that
    step's loss term, computed by tests/reference.py on the prefix (the traces carry on, so the
    prefix is run with the weights of each earlier step: done here for the first two steps)."""
    rng = np.random.default_rng(4)
    I, H, P, N, lr = 3, 4, 2, 2, 0.3
    m = lstmcore.LSTM(I, H, proj_size=P, dtype=np.float64, seed=6)
    x, g = rng.standard_normal((2, N, I)), rng.standard_normal((2, N, P))
    sd0 = m.state_dict()
    short = {"weight_ih_l0": "W_ih", "weight_hh_l0": "W_hh", "bias_ih_l0": "b_ih", "bias_hh_l0": "b_hh",
             "weight_hr_l0": "W_hr"}
    p = {short[k]: v for k, v in sd0.items()}
    zeros_h, zeros_c, lens = np.zeros((N, P)), np.zeros((N, H)), np.full(N, 1)
    # step 1: the truncated gradient of the first loss term, then an SGD step
    step1 = layer_direction(x[:1], p, zeros_h, zeros_c, lens, False, g[:1], zeros_h, zeros_c, True)
    p1 = {k: v - lr * step1[6][k] for k, v in p.items()}
    online = m.online(N)
    y0 = online.step(x[0])
    online.accumulate(g[0])
    np.testing.assert_allclose(y0, step1[0][0], rtol=1e-12, atol=1e-12)
    for k, v in m.parameters().items():
        v -= lr * online.grads[k]
    online.zero_grad()
    for k, v in m.state_dict().items():
        np.testing.assert_allclose(v, p1[short[k]], rtol=1e-12, atol=1e-12, err_msg=k)
    # step 2 from the state of step 1 (computed with the old weights): its output and, for W_hr
    # and W_o (which carry no trace), its gradient follow from the reference's second step
    h1, c1 = step1[1], step1[2]
    step2 = layer_direction(x[1:], p1, h1, c1, lens, False, g[1:], zeros_h, zeros_c, True)
    y1 = online.step(x[1])
    online.accumulate(g[1])
    np.testing.assert_allclose(y1, step2[0][0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(online.grads["weight_hr_l0"], step2[6]["W_hr"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(online.grads["weight_ih_l0"][3 * H:], step2[6]["W_ih"][3 * H:], rtol=1e-10,
                               atol=1e-12)


def test_online_training_with_a_projection_learns():
    """Online SGD on a small delayed-copy task: the loss falls well below its start."""
    rng = np.random.default_rng(0)
    I, H, P, N, T, lr = 2, 8, 2, 8, 1000, 0.3
    m = lstmcore.LSTM(I, H, proj_size=P, dtype=np.float64, seed=3)
    online = m.online(N)
    x = rng.choice([-1.0, 1.0], size=(T, N, I))
    target = np.zeros((T, N, P))
    target[1:] = 0.5 * x[:-1]  # output at t: half of the input at t-1
    losses = []
    params = m.parameters()
    for t in range(T):
        y = online.step(x[t])
        err = y - target[t]
        losses.append(0.5 * float((err ** 2).sum()) / N)
        online.accumulate(err / N)
        for k, v in params.items():
            v -= lr * online.grads[k]
        online.zero_grad()
    first, last = np.mean(losses[1:51]), np.mean(losses[-50:])
    assert last < 0.1 * first, (first, last)


def test_online_and_stream_bad_state_shapes():
    m = lstmcore.LSTM(3, 6, proj_size=2, dtype=np.float64)
    with pytest.raises(ValueError, match=r"hx\[0\]"):
        m.stream(2).reset((np.zeros((1, 2, 6)), np.zeros((1, 2, 6))))
    with pytest.raises(ValueError, match=r"hx\[1\]"):
        m.online(2).reset((np.zeros((1, 2, 2)), np.zeros((1, 2, 2))))
    online = m.online(2)
    online.step(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="grad_h"):
        online.accumulate(np.zeros((2, 6)))


