"""lstmcore.LSTM (docs/ENGINE.md, part 2): torch parity, finite differences, the truncated gradient against an
independent NumPy implementation, thread-count invariance, lengths, and argument checks."""
import numpy as np
import pytest

import lstmcore
from finite_differences import central_differences
from reference import layer_stack as np_lstm

# ---- helpers ------------------------------------------------------------------------------------


def random_case(rng, L, D, batched, batch_first, T, N, I, H, dtype, with_hx, with_lengths, R=None):
    """x, hx, lengths; R: the width of h_0 (proj_size with a projection; None: H)."""
    x = rng.standard_normal((N, T, I) if batch_first else (T, N, I)) if batched else rng.standard_normal((T, I))
    x = x.astype(dtype)
    R = H if R is None else R
    h_state, c_state = ((L * D, N, R), (L * D, N, H)) if batched else ((L * D, R), (L * D, H))
    hx = (rng.standard_normal(h_state).astype(dtype), rng.standard_normal(c_state).astype(dtype)) if with_hx else None
    lengths = None
    if with_lengths:
        lengths = rng.integers(1, T + 1, N)
        lengths[rng.integers(N)] = T
    return x, hx, lengths


def loss_weights(rng, out, h, c):
    return (rng.standard_normal(out.shape).astype(out.dtype), rng.standard_normal(h.shape).astype(h.dtype),
            rng.standard_normal(c.shape).astype(c.dtype))


def torch_run(t, x, hx, lengths, batch_first, T, go, gh, gc):
    """torch.nn.LSTM t forward (lengths: as a packed sequence) and backward of the loss
    sum(out * go) + sum(h_n * gh) + sum(c_n * gc); returns the leaf tensors x, hx and out, h_n, c_n."""
    import torch
    xt = torch.tensor(x, requires_grad=True)
    hxt = None if hx is None else tuple(torch.tensor(a, requires_grad=True) for a in hx)
    if lengths is None:
        ot, (ht, ct) = t(xt, hxt)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first,
                                                         enforce_sorted=False)
        op, (ht, ct) = t(packed, hxt)
        ot, _ = torch.nn.utils.rnn.pad_packed_sequence(op, batch_first=batch_first, total_length=T)
    loss = (ot * torch.from_numpy(go)).sum() + (ht * torch.from_numpy(gh)).sum() + (ct * torch.from_numpy(gc)).sum()
    loss.backward()
    return xt, hxt, ot, ht, ct


def run_ours(m, x, hx, lengths, go, gh, gc, truncated=False):
    out, (h, c) = m(x, hx, lengths)
    gx = m.backward(go, gh, gc, truncated=truncated)
    return out, h, c, gx, {k: v.copy() for k, v in m.grads.items()}, m.grad_hx


# ---- torch parity -------------------------------------------------------------------------------

CONFIGS = []
_rng = np.random.default_rng(20261126)
for _k in range(28):
    _batched = bool(_rng.random() < 0.8)
    CONFIGS.append(dict(
        L=int(_rng.integers(1, 4)), bidirectional=bool(_rng.random() < 0.5), batched=_batched,
        batch_first=bool(_rng.random() < 0.5), bias=bool(_rng.random() < 0.75), with_hx=bool(_rng.random() < 0.5),
        with_lengths=_batched and bool(_rng.random() < 0.5), T=int(_rng.integers(1, 9)), N=int(_rng.integers(1, 21)),
        I=int(_rng.integers(1, 7)), H=int(_rng.integers(1, 9)), dtype=(np.float64, np.float32)[_k % 2], seed=_k))
# larger shapes: full GEMM panels and row groups, several batch chunks, a partial chunk
for _k, _dt in enumerate((np.float64, np.float32)):
    CONFIGS.append(dict(L=2, bidirectional=bool(_k), batched=True, batch_first=False, bias=True, with_hx=True,
                        with_lengths=True, T=7, N=37, I=33, H=40, dtype=_dt, seed=100 + _k))


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "L{L}-bi{bidirectional:d}-b{batched:d}-bf{batch_first:d}-"
                         "bias{bias:d}-hx{with_hx:d}-len{with_lengths:d}-T{T}N{N}I{I}H{H}-{d}".format(
                             d=np.dtype(c["dtype"]).name, **c))
def test_torch_parity(cfg):
    check_torch_parity(cfg)


def check_torch_parity(cfg):
    """lstmcore.LSTM and torch.nn.LSTM of cfg (proj_size cfg["P"], default 0) with the same weights:
    state dicts (names, shapes, order) move both ways unchanged; outputs, h_n, c_n, grad_x, grad
    h_0 and c_0 and every parameter gradient agree (1e-9 in float64, 1e-4 in float32)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(cfg["seed"])
    L, D, H, P, dtype = cfg["L"], 2 if cfg["bidirectional"] else 1, cfg["H"], cfg.get("P", 0), cfg["dtype"]
    m = lstmcore.LSTM(cfg["I"], H, L, bias=cfg["bias"], batch_first=cfg["batch_first"],
                      bidirectional=cfg["bidirectional"], proj_size=P, dtype=dtype, seed=cfg["seed"], num_threads=2)
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    t = torch.nn.LSTM(cfg["I"], H, L, bias=cfg["bias"], batch_first=cfg["batch_first"],
                      bidirectional=cfg["bidirectional"], proj_size=P).to(tdtype)
    # the same names, shapes and order; state dicts move both ways unchanged
    assert list(m.state_dict()) == list(t.state_dict())
    assert {k: v.shape for k, v in m.state_dict().items()} == {k: tuple(v.shape) for k, v in t.state_dict().items()}
    t.load_state_dict({k: torch.from_numpy(v) for k, v in m.state_dict().items()})
    m.load_state_dict(t.state_dict())
    x, hx, lengths = random_case(rng, L, D, cfg["batched"], cfg["batch_first"], cfg["T"], cfg["N"], cfg["I"], H,
                                 dtype, cfg["with_hx"], cfg["with_lengths"], R=m.recurrent_size)
    out, (h, c) = m(x, hx, lengths)
    go, gh, gc = loss_weights(rng, out, h, c)
    gx = m.backward(go, gh, gc)

    xt, hxt, ot, ht, ct = torch_run(t, x, hx, lengths, cfg["batch_first"], cfg["T"], go, gh, gc)

    tol = dict(rtol=1e-9, atol=1e-9) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
    for name, a, b in [("output", out, ot), ("h_n", h, ht), ("c_n", c, ct), ("grad_x", gx, xt.grad)]:
        assert a.dtype == dtype and a.shape == tuple(b.shape), name
        np.testing.assert_allclose(a, b.detach().numpy(), **tol, err_msg=name)
    assert out.shape[-1] == D * m.recurrent_size and h.shape[-1] == m.recurrent_size and c.shape[-1] == H
    if hx is not None:
        np.testing.assert_allclose(m.grad_hx[0], hxt[0].grad.numpy(), **tol, err_msg="grad h_0")
        np.testing.assert_allclose(m.grad_hx[1], hxt[1].grad.numpy(), **tol, err_msg="grad c_0")
    tgrads = dict(t.named_parameters())
    assert list(m.grads) == list(t.state_dict())
    for name, g in m.grads.items():
        np.testing.assert_allclose(g, tgrads[name].grad.numpy(), **tol, err_msg=name)
    return m


def test_initialisation_matches_torch_range_and_seed():
    m = lstmcore.LSTM(3, 16, 2, bidirectional=True, seed=5)
    sd = m.state_dict()
    assert all(v.dtype == np.float32 for v in sd.values())
    assert max(np.abs(v).max() for v in sd.values()) <= 1 / 4
    assert min(np.abs(v).max() for v in sd.values()) > 0.2
    again = lstmcore.LSTM(3, 16, 2, bidirectional=True, seed=5).state_dict()
    assert all(np.array_equal(sd[k], again[k]) for k in sd)
    torch = pytest.importorskip("torch")
    t = torch.nn.LSTM(3, 16, 2, bidirectional=True)
    assert {k: tuple(v.shape) for k, v in t.state_dict().items()} == {k: v.shape for k, v in sd.items()}
    assert list(t.state_dict()) == list(sd)


# ---- finite differences (float64, full gradient) --------------------------------------------------


@pytest.mark.parametrize("bidirectional,peepholes,batch_first,proj_size", [
    (True, True, False, 0), (False, True, True, 0), (True, False, True, 0),
    (True, True, False, 2), (False, False, True, 1)])  # with a projection: H = 4 below
def test_full_gradient_finite_differences(bidirectional, peepholes, batch_first, proj_size):
    rng = np.random.default_rng(3)
    L, D, T, N, I, H = 2, 2 if bidirectional else 1, 5, 3, 3, 4 if proj_size else 2
    m = lstmcore.LSTM(I, H, L, bidirectional=bidirectional, peepholes=peepholes, batch_first=batch_first,
                      proj_size=proj_size, dtype=np.float64, seed=4)
    sd = {k: v * 2.0 for k, v in m.state_dict().items()}  # larger weights: stronger nonlinearity
    m.load_state_dict(sd)
    x, hx, _ = random_case(rng, L, D, True, batch_first, T, N, I, H, np.float64, True, False, R=m.recurrent_size)
    lengths = np.array([T, 2, 0])
    out, (h, c) = m(x, hx, lengths)
    go, gh, gc = loss_weights(rng, out, h, c)

    def loss(params=sd, x=x, hx=hx):
        m.load_state_dict(params)
        o, (hh, cc) = m(x, hx, lengths)
        return float((o * go).sum() + (hh * gh).sum() + (cc * gc).sum())

    loss()
    gx = m.backward(go, gh, gc)
    grads = {k: v.copy() for k, v in m.grads.items()}
    g_h0, g_c0 = (a.copy() for a in m.grad_hx)
    for name in sd:
        p = {k: v.copy() for k, v in sd.items()}
        np.testing.assert_allclose(grads[name], central_differences(lambda p=p: loss(params=p), p[name]), rtol=1e-6, atol=1e-8,
                                   err_msg=name)
    xx = x.copy()
    np.testing.assert_allclose(gx, central_differences(lambda: loss(x=xx), xx), rtol=1e-6, atol=1e-8, err_msg="grad_x")
    h0, c0 = hx[0].copy(), hx[1].copy()
    np.testing.assert_allclose(g_h0, central_differences(lambda: loss(hx=(h0, c0)), h0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g_c0, central_differences(lambda: loss(hx=(h0, c0)), c0), rtol=1e-6, atol=1e-8)


# ---- truncated gradient vs an independent NumPy implementation (tests/reference.py) ---------------


@pytest.mark.parametrize("truncated", [True, False])
@pytest.mark.parametrize("L,bidirectional,peepholes,bias,H,P", [
    (1, False, False, True, 4, 0), (2, True, True, True, 4, 0), (3, False, True, False, 4, 0),
    (2, True, False, True, 4, 0),
    # with a projection (proj_size P)
    (1, False, False, True, 4, 2), (2, True, True, True, 5, 3), (3, False, True, False, 4, 1),
    (2, True, False, True, 6, 5)])
def test_against_numpy_implementation(truncated, L, bidirectional, peepholes, bias, H, P):
    rng = np.random.default_rng(11 + L + 20 * P)
    D, T, N, I = 2 if bidirectional else 1, 7, 5, 3
    m = lstmcore.LSTM(I, H, L, bias=bias, bidirectional=bidirectional, peepholes=peepholes, proj_size=P,
                      dtype=np.float64, seed=L)
    x = rng.standard_normal((T, N, I))
    h0, c0 = rng.standard_normal((L * D, N, P or H)), rng.standard_normal((L * D, N, H))
    lens = np.array([7, 3, 0, 5, 1])
    out, (h, c) = m(x, (h0, c0), lens)
    go, gh, gc = loss_weights(rng, out, h, c)
    gx = m.backward(go, gh, gc, truncated=truncated)
    ref = np_lstm(m.state_dict(), L, D, bias, peepholes, x, h0, c0, lens, go, gh, gc, truncated, proj_size=P)
    for name, a, b in zip(["output", "h_n", "c_n", "grad_x", "grad_h0", "grad_c0"],
                          (out, h, c, gx) + m.grad_hx, ref[:6]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=name)
    assert set(ref[6]) == set(m.grads)
    for name, g in ref[6].items():
        np.testing.assert_allclose(m.grads[name], g, rtol=1e-10, atol=1e-12, err_msg=name)
    if truncated:  # no error reaches h_0 through W_hh (a sequence of length 0 passes grad_h_n through)
        assert not np.any(m.grad_hx[0][:, lens > 0])
    elif P:  # the projection's gradient is not trivially zero
        assert min(np.abs(g).max() for k, g in m.grads.items() if k.startswith("weight_hr")) > 1e-3


def test_truncated_differs_from_full_and_equals_it_for_one_step():
    rng = np.random.default_rng(1)
    m = lstmcore.LSTM(3, 4, dtype=np.float64, seed=1, peepholes=True)
    x = rng.standard_normal((6, 2, 3))
    out, _ = m(x)
    go = rng.standard_normal(out.shape)
    m.backward(go)
    full = m.grads["weight_hh_l0"].copy()
    m.backward(go, truncated=True)
    assert not np.allclose(full, m.grads["weight_hh_l0"])
    # one step without peepholes: nothing flows back in time, both gradients agree (h_n, c_n
    # errors included). (With peepholes they differ: truncation also cuts c(t) -> o(t) -> h(t).)
    m = lstmcore.LSTM(3, 4, dtype=np.float64, seed=1)
    out, (h, c) = m(x[:1])
    gx_full = m.backward(go[:1], h, c)
    g_full = {k: v.copy() for k, v in m.grads.items()}
    gx_tr = m.backward(go[:1], h, c, truncated=True)
    np.testing.assert_array_equal(gx_full, gx_tr)
    for k in g_full:
        np.testing.assert_allclose(g_full[k], m.grads[k], rtol=1e-14, atol=1e-15)


# ---- invariances --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("truncated", [False, True])
@pytest.mark.parametrize("with_lengths", [True, False])
@pytest.mark.parametrize("T,N,I,H", [(40, 37, 9, 40), (8, 150, 5, 33), (30, 2, 7, 200), (12, 17, 5, 200),
                                     (50, 1, 3, 200)])
def test_bitwise_identical_for_thread_counts(dtype, truncated, with_lengths, T, N, I, H):
    # (40, 37): several batch chunks and a partial one, several blocks of steps;
    # (8, 150): more chunks than one wave of partial weight gradients. All are large enough
    # (> 3 * 2^20 multiply-adds) for the layer to use all 3 threads. The H = 200 shapes: with N = 2
    # and 3 threads a one-sequence share of the batch must not take a single-row GEMM kernel that
    # rounds differently; N = 17 has the input projection per step at 1 thread (17 rows per thread) and
    # hoisted at 2 and 3 (9 and 6 rows, weights beyond L2), N = 1 the one-row kernels. Without
    # lengths the forward reads h(t-1), c(t-1) from the previous step's rows; with them it
    # carries the state (a row past its end keeps it).
    assert T * N * 4 * H * (I + H) > 3 * 2 ** 20
    rng = np.random.default_rng(7)
    x = rng.standard_normal((T, N, I)).astype(dtype)
    lens = rng.integers(0, T + 1, N) if with_lengths else None
    results = []
    for threads in (1, 2, 3):
        m = lstmcore.LSTM(I, H, 2, bidirectional=True, peepholes=True, dtype=dtype, seed=3, num_threads=threads)
        out, (h, c) = m(x, None, lens)
        g = np.random.default_rng(8)
        go, gh, gc = loss_weights(g, out, h, c)
        results.append(run_ours(m, x, None, lens, go, gh, gc, truncated))
    for other in results[1:]:
        for a, b in zip(results[0][:4], other[:4]):
            assert np.array_equal(a, b)
        for k in results[0][4]:
            assert np.array_equal(results[0][4][k], other[4][k]), k


def test_lengths_equal_each_sequence_alone():
    rng = np.random.default_rng(9)
    T, N, I, H, L = 9, 6, 4, 5, 2
    m = lstmcore.LSTM(I, H, L, bidirectional=True, peepholes=True, dtype=np.float64, seed=2)
    x = rng.standard_normal((T, N, I))
    hx = (rng.standard_normal((2 * L, N, H)), rng.standard_normal((2 * L, N, H)))
    lens = np.array([9, 1, 4, 0, 7, 9])
    out, (h, c) = m(x, hx, lens)
    go, gh, gc = loss_weights(rng, out, h, c)
    gx = m.backward(go, gh, gc)
    total = {k: v.copy() for k, v in m.grads.items()}
    summed = {k: np.zeros_like(v) for k, v in total.items()}
    for n in range(N):
        ln = lens[n]
        assert not np.any(out[ln:, n]) and not np.any(gx[ln:, n])
        if ln == 0:
            np.testing.assert_array_equal(h[:, n], hx[0][:, n])
            np.testing.assert_array_equal(c[:, n], hx[1][:, n])
            continue
        o1, (h1, c1) = m(x[:ln, n], (hx[0][:, n], hx[1][:, n]))  # unbatched
        g1 = m.backward(go[:ln, n], gh[:, n], gc[:, n])
        for a, b in [(out[:ln, n], o1), (h[:, n], h1), (c[:, n], c1), (gx[:ln, n], g1)]:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
        for k in summed:
            summed[k] += m.grads[k]
    for k in total:
        np.testing.assert_allclose(total[k], summed[k], rtol=1e-11, atol=1e-13, err_msg=k)


def test_state_dict_round_trip_and_copies():
    m = lstmcore.LSTM(3, 4, 2, bidirectional=True, peepholes=True, dtype=np.float64, seed=1)
    sd = m.state_dict()
    assert "weight_ci_l1_reverse" in sd and sd["weight_co_l0"].shape == (4,)
    sd["weight_ih_l0"][:] = 0  # a copy: the layer is unchanged
    assert np.any(m.state_dict()["weight_ih_l0"])
    m2 = lstmcore.LSTM(3, 4, 2, bidirectional=True, peepholes=True, dtype=np.float64, seed=2)
    m2.load_state_dict(m.state_dict())
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    assert np.array_equal(m(x)[0], m2(x)[0])
    assert set(m.grads) == set(sd) and all(m.grads[k].shape == sd[k].shape for k in sd)


def test_backward_refuses_a_forward_of_replaced_parameters():
    m = lstmcore.LSTM(2, 3, dtype=np.float64, seed=1)
    x = np.random.default_rng(0).standard_normal((4, 2))
    out, _ = m(x)
    live = m.parameters()["weight_hh_l0"]
    m.load_state_dict({k: v + 1 for k, v in m.state_dict().items()})
    assert m.parameters()["weight_hh_l0"] is live  # loaded in place: parameter views stay bound
    with pytest.raises(RuntimeError, match="load_state_dict"):
        m.backward(np.ones_like(out))
    out2, _ = m(x)
    assert not np.allclose(out2, out)
    assert m.backward(np.ones_like(out2)).shape == x.shape


# ---- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,exc,name", [
    (dict(input_size=0), ValueError, "input_size"), (dict(input_size=2.0), TypeError, "input_size"),
    (dict(hidden_size=-1), ValueError, "hidden_size"), (dict(hidden_size=True), TypeError, "hidden_size"),
    (dict(num_layers=0), ValueError, "num_layers"), (dict(bias=1), TypeError, "bias"),
    (dict(batch_first="yes"), TypeError, "batch_first"), (dict(bidirectional=None), TypeError, "bidirectional"),
    (dict(peepholes=0), TypeError, "peepholes"), (dict(dtype=np.int32), ValueError, "dtype"),
    (dict(dtype="nonsense"), TypeError, "dtype"), (dict(seed=-1), ValueError, "seed"),
    (dict(seed=1.5), TypeError, "seed"), (dict(num_threads=0), ValueError, "num_threads"),
    (dict(num_threads="2"), TypeError, "num_threads"),
])
def test_bad_constructor_arguments(kwargs, exc, name):
    args = dict(input_size=2, hidden_size=3)
    args.update(kwargs)
    with pytest.raises(exc, match=name):
        lstmcore.LSTM(**args)


def test_bad_call_arguments():
    m = lstmcore.LSTM(2, 3, 2, bidirectional=True, dtype=np.float64, seed=0)
    x = np.zeros((4, 5, 2))
    with pytest.raises(RuntimeError, match="forward"):
        m.backward(np.zeros((4, 5, 6)))
    bad_forward = [
        (dict(x=np.zeros((4, 5, 3))), ValueError, "x"), (dict(x=np.zeros((4,))), ValueError, "x"),
        (dict(x=np.zeros((1, 2, 3, 2))), ValueError, "x"), (dict(x="abc"), TypeError, "x"),
        (dict(x=np.zeros((0, 5, 2))), ValueError, "x"), (dict(x=np.full((4, 5, 2), np.nan)), ValueError, "x"),
        (dict(x=np.zeros((4, 5, 2), dtype=complex)), TypeError, "x"),
        (dict(hx=np.zeros((4, 5, 3))), TypeError, "hx"),
        (dict(hx=(np.zeros((4, 5, 3)), np.zeros((4, 5, 2)))), ValueError, r"hx\[1\]"),
        (dict(hx=(np.zeros((2, 5, 3)), np.zeros((4, 5, 3)))), ValueError, r"hx\[0\]"),
        (dict(lengths=np.array([1.0] * 5)), TypeError, "lengths"),
        (dict(lengths=np.array([1] * 4)), ValueError, "lengths"),
        (dict(lengths=np.array([1, 2, 3, 4, 5])), ValueError, "lengths"),
        (dict(lengths=np.array([-1, 2, 3, 4, 4])), ValueError, "lengths"),
    ]
    for kwargs, exc, name in bad_forward:
        args = dict(x=x)
        args.update(kwargs)
        with pytest.raises(exc, match=name):
            m(**args)
    out, (h, c) = m(x)
    for kwargs, exc, name in [
        (dict(grad_output=np.zeros((4, 5, 3))), ValueError, "grad_output"),
        (dict(grad_output=out, grad_h_n=np.zeros((4, 5))), ValueError, "grad_h_n"),
        (dict(grad_output=out, grad_c_n=np.zeros((4, 5, 3, 1))), ValueError, "grad_c_n"),
        (dict(grad_output=np.full(out.shape, np.inf)), ValueError, "grad_output"),
        (dict(grad_output=out, truncated="no"), TypeError, "truncated"),
    ]:
        with pytest.raises(exc, match=name):
            m.backward(**kwargs)
    sd = m.state_dict()
    for d, exc, name in [
        ({k: v for k, v in sd.items() if k != "bias_hh_l1"}, ValueError, "bias_hh_l1"),
        (dict(sd, extra=np.zeros(3)), ValueError, "extra"),
        (dict(sd, weight_ih_l1=np.zeros((12, 3))), ValueError, "weight_ih_l1"),
        (dict(sd, weight_hh_l0=np.full((12, 3), np.nan)), ValueError, "weight_hh_l0"),
        ([1, 2], TypeError, "state_dict"),
    ]:
        with pytest.raises(exc, match=name):
            m.load_state_dict(d)
    m.load_state_dict(sd)
    with pytest.raises(ValueError, match="num_threads"):
        m.num_threads = 0
