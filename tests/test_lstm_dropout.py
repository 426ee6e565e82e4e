"""lstmcore.LSTM's torch features beyond the plain layer: empty batches (N = 0) and dropout between
layers with train()/eval() (torch parity in eval mode, mask statistics, the composition of single
layers, finite differences with fixed masks, thread-count independence, copies, streams)."""
import copy
import pickle

import numpy as np
import pytest

import lstmcore
from finite_differences import central_difference


def split_layers(m):
    """One-layer LSTMs holding the layers of m (same parameters), bottom first."""
    sd = m.state_dict()
    D, H, R = m.num_directions, m.hidden_size, m.recurrent_size
    singles = []
    for k in range(m.num_layers):
        one = lstmcore.LSTM(m.input_size if k == 0 else D * R, H, 1, bias=m.bias, bidirectional=m.bidirectional,
                            peepholes=m.peepholes, proj_size=m.proj_size, dtype=m.dtype, seed=0)
        one.load_state_dict({name.replace(f"_l{k}", "_l0"): v for name, v in sd.items() if f"_l{k}" in name})
        singles.append(one)
    return singles


# ---- empty batches ----------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_first,bidirectional,dtype", [(False, False, np.float32), (True, True, np.float64),
                                                             (False, True, np.float64)])
def test_empty_batch_matches_torch(batch_first, bidirectional, dtype):
    torch = pytest.importorskip("torch")
    T, I, H, L = 4, 3, 5, 2
    D = 2 if bidirectional else 1
    m = lstmcore.LSTM(I, H, L, batch_first=batch_first, bidirectional=bidirectional, dtype=dtype, seed=1)
    tm = m.to_torch()
    x = np.zeros((0, T, I) if batch_first else (T, 0, I), dtype)
    out, (h, c) = m(x)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    tout, (th, tc) = tm(xt)
    assert out.shape == tuple(tout.shape) == ((0, T, D * H) if batch_first else (T, 0, D * H))
    assert h.shape == c.shape == tuple(th.shape) == tuple(tc.shape) == (L * D, 0, H)
    assert out.dtype == h.dtype == c.dtype == dtype
    # backward: zero parameter gradients (torch's are zero too), an empty grad_x
    gx = m.backward(np.zeros_like(out), np.zeros_like(h), np.zeros_like(c))
    (tout.sum() + th.sum() + tc.sum()).backward()
    assert gx.shape == x.shape == tuple(xt.grad.shape)
    for name, p in tm.named_parameters():
        np.testing.assert_array_equal(m.grads[name], p.grad.numpy())
        assert not m.grads[name].any()
    assert m.grad_hx[0].shape == m.grad_hx[1].shape == (L * D, 0, H)
    # with lengths and hx of the empty batch, and backward with no gradients given
    out, _ = m(x, (np.zeros((L * D, 0, H)), np.zeros((L * D, 0, H))), np.zeros(0, np.int64))
    assert out.shape[1 - int(batch_first)] == 0 or out.size == 0
    m.backward(None)


def test_empty_batch_grads_replace_the_previous_ones_and_zero_steps_stay_an_error():
    m = lstmcore.LSTM(2, 3, dtype=np.float64, seed=0)
    m(np.ones((3, 2, 2)))
    m.backward(np.ones((3, 2, 3)))
    assert any(g.any() for g in m.grads.values())
    m(np.ones((3, 0, 2)))
    m.backward(np.ones((3, 0, 3)))
    assert not any(g.any() for g in m.grads.values())
    with pytest.raises(ValueError, match="x: expected at least one step"):
        m(np.ones((0, 2, 2)))
    with pytest.raises(ValueError, match="grad_output"):
        m(np.ones((3, 0, 2)))
        m.backward(np.ones((3, 1, 3)))


# ---- dropout: configuration -------------------------------------------------------------------------


@pytest.mark.parametrize("p,exc", [(-0.1, ValueError), (1.0, ValueError), (1.5, ValueError), (float("nan"), ValueError),
                                   ("0.5", TypeError), (True, TypeError), (None, TypeError)])
def test_bad_dropout(p, exc):
    with pytest.raises(exc, match="dropout"):
        lstmcore.LSTM(2, 3, 2, dropout=p)


def test_train_eval_and_training_property():
    m = lstmcore.LSTM(2, 3, 2, dropout=0.25)
    assert m.training and m.dropout == 0.25
    assert m.eval() is m and not m.training
    assert m.train() is m and m.training
    assert m.train(False) is m and not m.training
    with pytest.raises(TypeError, match="mode"):
        m.train(1)
    assert "dropout=0.25" in repr(m)
    lstmcore.LSTM(2, 3, 1, dropout=0.5)  # accepted silently for one layer (nothing to drop)


def test_torch_round_trip_carries_dropout_and_mode():
    torch = pytest.importorskip("torch")
    tm = torch.nn.LSTM(3, 4, 3, dropout=0.3).double().eval()
    m = lstmcore.LSTM.from_torch(tm)
    assert m.dropout == pytest.approx(0.3) and not m.training and m.dtype == np.float64
    back = m.train().to_torch()
    assert back.dropout == pytest.approx(0.3) and back.training
    assert set(m.state_dict()) == set(tm.state_dict())  # the state dict has no dropout entry


# ---- dropout: eval mode ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bidirectional,dtype", [(False, np.float64), (True, np.float64), (True, np.float32)])
def test_eval_mode_matches_torch_and_dropout_zero(bidirectional, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    T, N, I, H, L = 6, 4, 3, 5, 3
    D = 2 if bidirectional else 1
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    tm = torch.nn.LSTM(I, H, L, dropout=0.5, bidirectional=bidirectional, dtype=tdtype).eval()
    m = lstmcore.LSTM.from_torch(tm, num_threads=2)
    plain = lstmcore.LSTM(I, H, L, bidirectional=bidirectional, dtype=dtype)
    plain.load_state_dict(m.state_dict())
    x = rng.standard_normal((T, N, I)).astype(dtype)
    go = rng.standard_normal((T, N, D * H)).astype(dtype)
    out, (h, c) = m(x)
    gx = m.backward(go)
    xt = torch.from_numpy(x).requires_grad_()
    tout, (th, tc) = tm(xt)
    (tout * torch.from_numpy(go)).sum().backward()
    tol = dict(rtol=1e-9, atol=1e-11) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out, tout.detach().numpy(), **tol)
    np.testing.assert_allclose(h, th.detach().numpy(), **tol)
    np.testing.assert_allclose(gx, xt.grad.numpy(), **tol)
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(m.grads[name], p.grad.numpy(), **tol, err_msg=name)
    # eval mode is deterministic and equals dropout=0, bitwise
    out2, _ = m(x)
    pout, _ = plain(x)
    np.testing.assert_array_equal(out, out2)
    np.testing.assert_array_equal(out, pout)
    # torch in training mode with dropout differs from eval mode (a sanity check of the comparison)
    assert not np.allclose(tm.train()(xt)[0].detach().numpy(), out)


# ---- dropout: training mode ---------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_mask_statistics(p):
    T, N, I, H, L = 50, 40, 3, 8, 3
    m = lstmcore.LSTM(I, H, L, dropout=p, bidirectional=True, dtype=np.float32, seed=7)
    m(np.ones((T, N, I), np.float32))
    masks = m._last["masks"]
    assert len(masks) == L - 1
    n = T * N * 2 * H
    for mask in masks:
        assert mask.shape == (T, N, 2 * H) and mask.dtype == np.float32
        values = set(np.unique(mask).tolist())
        assert values == {0.0, np.float32(1 / (1 - p))}
        keep = float((mask != 0).mean())
        # the keep rate within 5 standard deviations of 1 - p
        assert abs(keep - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n), keep
        assert abs(float(mask.mean()) - 1.0) < 5 * np.sqrt(p / (1 - p) / n)
    assert not np.array_equal(masks[0], masks[1])  # a fresh mask per layer


@pytest.mark.parametrize("bidirectional,proj_size", [(False, 0), (True, 0), (True, 3)])
def test_training_mode_is_the_composition_of_layers_with_masks(bidirectional, proj_size):
    rng = np.random.default_rng(8)
    T, N, I, H, L = 5, 3, 2, 4, 3
    D = 2 if bidirectional else 1
    m = lstmcore.LSTM(I, H, L, dropout=0.4, bidirectional=bidirectional, proj_size=proj_size, dtype=np.float64,
                      seed=9)
    singles = split_layers(m)
    x = rng.standard_normal((T, N, I))
    go = rng.standard_normal((T, N, D * m.recurrent_size))
    out, (h, c) = m(x)
    gx = m.backward(go)
    masks = m._last["masks"]
    # forward: out_k = layer_k(out_{k-1} * mask_{k-1})
    inp, outs = x, []
    for k, one in enumerate(singles):
        o, (hk, ck) = one(inp)
        np.testing.assert_allclose(h[k * D:(k + 1) * D], hk, rtol=1e-13, atol=1e-14)
        outs.append(o)
        inp = o * masks[k] if k < L - 1 else o
    np.testing.assert_allclose(out, inp, rtol=1e-13, atol=1e-14)
    # backward: the gradient entering layer k-1's output is layer k's grad_x times mask_{k-1}
    g = go
    for k in reversed(range(L)):
        g = singles[k].backward(g)
        for name, v in singles[k].grads.items():
            np.testing.assert_allclose(m.grads[name.replace("_l0", f"_l{k}")], v, rtol=1e-12, atol=1e-13)
        if k:
            g = g * masks[k - 1]
    np.testing.assert_allclose(gx, g, rtol=1e-12, atol=1e-13)
    # a second forward draws new masks
    out2, _ = m(x)
    assert not np.array_equal(out, out2)


def test_same_seed_same_masks_and_thread_count_independence():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((7, 5, 3)).astype(np.float32)
    runs = []
    for threads in (1, 2, 3):
        m = lstmcore.LSTM(3, 6, 3, dropout=0.3, seed=11, num_threads=threads)
        outs = [m(x)[0] for _ in range(2)]
        runs.append((outs, m.backward(np.ones_like(outs[1])), {k: v.copy() for k, v in m.grads.items()}))
    for outs, gx, grads in runs[1:]:
        for a, b in zip(outs, runs[0][0]):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(gx, runs[0][1])
        for k in grads:
            np.testing.assert_array_equal(grads[k], runs[0][2][k])
    other = lstmcore.LSTM(3, 6, 3, dropout=0.3, seed=12)
    other.load_state_dict(lstmcore.LSTM(3, 6, 3, seed=11).state_dict())
    assert not np.array_equal(other(x)[0], runs[0][0][0])  # another seed, other masks


def test_dropout_seed_leaves_parameters_unchanged():
    a = lstmcore.LSTM(3, 4, 2, dropout=0.5, seed=3).state_dict()
    b = lstmcore.LSTM(3, 4, 2, seed=3).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_finite_differences_with_fixed_masks():
    rng = np.random.default_rng(12)
    T, N, I, H, L, D = 4, 2, 2, 3, 3, 2
    seed = 13
    base = lstmcore.LSTM(I, H, L, dropout=0.5, bidirectional=True, dtype=np.float64, seed=seed)
    sd = {k: v * 2.0 for k, v in base.state_dict().items()}
    x = rng.standard_normal((T, N, I))
    hx = (rng.standard_normal((L * D, N, H)), rng.standard_normal((L * D, N, H)))
    go = rng.standard_normal((T, N, D * H))
    gh = rng.standard_normal((L * D, N, H))

    def fresh(params):
        # the same seed: the first forward of every fresh layer draws the same masks
        m = lstmcore.LSTM(I, H, L, dropout=0.5, bidirectional=True, dtype=np.float64, seed=seed)
        m.load_state_dict(params)
        return m

    def loss(params=sd, x=x):
        o, (h, _) = fresh(params)(x, hx)
        return float((o * go).sum() + (h * gh).sum())

    m = fresh(sd)
    m(x, hx)
    assert m._last["masks"] and not m._last["masks"][0].all()  # some elements dropped
    gx = m.backward(go, gh)
    pick_rng = np.random.default_rng(14)
    for name in sd:
        p = {k: v.copy() for k, v in sd.items()}
        picks = {tuple(int(pick_rng.integers(s)) for s in p[name].shape) for _ in range(6)}
        for idx in picks:
            g = central_difference(lambda p=p: loss(params=p), p[name], idx)
            np.testing.assert_allclose(m.grads[name][idx], g, rtol=1e-6, atol=1e-8, err_msg=f"{name}{idx}")
    xx = x.copy()
    for idx in np.ndindex(xx.shape):
        g = central_difference(lambda: loss(x=xx), xx, idx)
        np.testing.assert_allclose(gx[idx], g, rtol=1e-6, atol=1e-8, err_msg=f"x{idx}")


class _Interrupted:
    """Stands in for a layer direction whose forward is interrupted (Ctrl-C)."""

    def forward(self, *args):
        raise KeyboardInterrupt


def test_interrupted_forward_with_dropout_makes_backward_refuse():
    m = lstmcore.LSTM(2, 3, 3, dropout=0.5, seed=0)
    x = np.ones((3, 2, 2), np.float32)
    m(x)
    m.backward(np.ones((3, 2, 3), np.float32))
    real = m._dirs[2]
    m._dirs[2] = _Interrupted()  # the third layer fails after two layers (and their masks) ran
    with pytest.raises(KeyboardInterrupt):
        m(x)
    m._dirs[2] = real
    with pytest.raises(RuntimeError, match="did not complete"):
        m.backward(np.ones((3, 2, 3), np.float32))
    m(x)
    m.backward(np.ones((3, 2, 3), np.float32))


def test_copies_keep_mode_dropout_and_generator():
    m = lstmcore.LSTM(3, 4, 2, dropout=0.5, seed=1)
    m(np.ones((2, 2, 3), np.float32))
    for twin in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert twin.dropout == 0.5 and twin.training
        x = np.ones((3, 2, 3), np.float32)
        np.testing.assert_array_equal(twin(x)[0], copy.deepcopy(m)(x)[0])  # the same next masks
    assert not pickle.loads(pickle.dumps(m.eval())).training


def test_save_load_keeps_dropout(tmp_path):
    m = lstmcore.LSTM(3, 4, 2, dropout=0.25, seed=1)
    m.save(tmp_path / "m.npz")
    assert lstmcore.LSTM.load(tmp_path / "m.npz").dropout == 0.25


def test_stream_refuses_training_mode_dropout_and_runs_in_eval_mode():
    m = lstmcore.LSTM(3, 4, 2, dropout=0.5, dtype=np.float64, seed=1)
    with pytest.raises(ValueError, match="dropout.*eval"):
        m.stream()
    x = np.random.default_rng(0).standard_normal((5, 3))
    s = m.eval().stream()
    np.testing.assert_allclose(s.run(x), m(x)[0], rtol=1e-12, atol=1e-14)
    one = lstmcore.LSTM(3, 4, 1, dropout=0.5, seed=1)  # one layer: nothing to drop, online works
    one.online()
    one.stream()
