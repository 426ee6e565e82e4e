"""lstmcore.baselines.RecurrentNet: the paper's weight counts, the core against the pure-NumPy
reference (forward, RTRL, BPTT, Elman, online updates), central finite differences in float64,
RTRL == BPTT, float32, persistence, bad input and a learning run."""
import numpy as np
import pytest

from lstmcore.baselines import RecurrentNet
from reference_baselines import ReferenceNet

LAYOUTS = [
    dict(n_in=3, n_hidden=2, n_out=2, recurrence="full"),
    dict(n_in=3, n_hidden=0, n_out=2, recurrence="full", bias=False),
    dict(n_in=2, n_hidden=3, n_out=2, recurrence="hidden"),
    dict(n_in=2, n_hidden=3, n_out=3, recurrence="hidden", shortcut=True, bias=False),
    dict(n_in=3, n_hidden=2, n_out=2, recurrence="self", shortcut=True),
    dict(n_in=3, n_hidden=1, n_out=3, recurrence="self", shortcut=True, bias=False, out_activation="linear"),
    dict(n_in=2, n_hidden=2, n_out=2, recurrence="full", out_activation="linear"),
]
IDS = [f"{k['recurrence']}-{k['n_hidden']}-{'sc' if k.get('shortcut') else ''}{'nb' if k.get('bias') is False else ''}"
       f"{'lin' if k.get('out_activation') == 'linear' else ''}" for k in LAYOUTS]


def make(kw, **extra):
    return RecurrentNet(**kw, init_range=1.0, seed=3, **extra)


def reference(net, kw):
    return ReferenceNet(net.get_weights(), kw["n_in"], kw["n_hidden"], kw["n_out"], recurrence=kw["recurrence"],
                        shortcut=kw.get("shortcut", False), bias=kw.get("bias", True),
                        linear=kw.get("out_activation") == "linear")


def data(kw, T=7, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(T, kw["n_in"]))
    target = rng.uniform(size=(T, kw["n_out"]))
    mask = rng.uniform(size=T) < 0.6
    mask[-1] = True
    return x, target, mask


@pytest.mark.parametrize("args, n_weights", [
    (dict(n_in=7, n_hidden=3, n_out=7, bias=False), 170),                      # Table 1 RTRL, 3 units
    (dict(n_in=7, n_hidden=12, n_out=7, bias=False), 494),                     # Table 1 RTRL, 12 units
    (dict(n_in=7, n_hidden=15, n_out=7, recurrence="hidden", bias=False), 435),  # Table 1 ELM
    (dict(n_in=5, n_hidden=1, n_out=5, recurrence="self", shortcut=True, bias=False), 36),      # Table 2 p=4
    (dict(n_in=11, n_hidden=1, n_out=11, recurrence="self", shortcut=True, bias=False), 144),   # p=10
    (dict(n_in=101, n_hidden=1, n_out=101, recurrence="self", shortcut=True, bias=False), 10404),  # p=100
])
def test_weight_counts_of_the_paper(args, n_weights):
    net = RecurrentNet(**args, seed=0)
    assert net.n_weights == n_weights
    assert sum(w.size for w in net.get_weights().values()) == n_weights


@pytest.mark.parametrize("kw", LAYOUTS, ids=IDS)
def test_forward_and_gradients_match_the_reference(kw):
    net = make(kw)
    ref = reference(net, kw)
    x, target, mask = data(kw)
    ys, loss, grads = ref.run(x, target, mask)
    np.testing.assert_allclose(net.forward(x), ys, rtol=0, atol=1e-12)
    for method in ("rtrl", "bptt"):
        L, g = net.gradient(x, target, mask, method=method)
        assert L == pytest.approx(loss, rel=1e-12)
        for k in g:
            np.testing.assert_allclose(g[k], grads[k], rtol=0, atol=1e-10, err_msg=f"{method} {k}")
    _, loss_e, grads_e = ref.run(x, target, mask, truncate_context=True)
    L, g = net.gradient(x, target, mask, method="elman")
    assert L == pytest.approx(loss_e, rel=1e-12)
    for k in g:
        np.testing.assert_allclose(g[k], grads_e[k], rtol=0, atol=1e-10, err_msg=f"elman {k}")


@pytest.mark.parametrize("kw", LAYOUTS, ids=IDS)
def test_exact_gradient_matches_central_finite_differences(kw):
    net = make(kw)
    x, target, mask = data(kw, T=9, seed=1)
    _, g = net.gradient(x, target, mask, method="bptt")
    w = net.get_weights()
    eps = 1e-6

    def loss(weights):
        net.set_weights(weights)
        y = net.forward(x)
        return 0.5 * float((mask[:, None] * (y - target) ** 2).sum())

    for name in w:
        for idx in np.ndindex(w[name].shape):
            plus = {k: v.copy() for k, v in w.items()}
            plus[name][idx] += eps
            minus = {k: v.copy() for k, v in w.items()}
            minus[name][idx] -= eps
            fd = (loss(plus) - loss(minus)) / (2 * eps)
            assert abs(fd - g[name][idx]) < 1e-8 * max(1.0, abs(fd)), (name, idx, fd, g[name][idx])
    net.set_weights(w)


@pytest.mark.parametrize("kw", LAYOUTS, ids=IDS)
def test_rtrl_equals_bptt_on_long_sequences(kw):
    net = make(kw)
    x, target, mask = data(kw, T=60, seed=2)
    L1, g1 = net.gradient(x, target, mask, method="rtrl")
    L2, g2 = net.gradient(x, target, mask, method="bptt")
    assert L1 == L2
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-9, atol=1e-12, err_msg=k)


def test_elman_gradient_stops_after_one_step():
    # Error only at the last step: the Elman gradient of an input weight sees only x(T-1); the exact
    # one also sees earlier inputs through the context.
    kw = dict(n_in=1, n_hidden=2, n_out=1, recurrence="hidden", bias=False)
    net = make(kw)
    x = np.zeros((5, 1))
    x[0, 0] = 1.0  # the only nonzero input is at t = 0
    target = np.ones((5, 1))
    mask = np.zeros(5, bool)
    mask[-1] = True
    _, ge = net.gradient(x, target, mask, method="elman")
    _, gb = net.gradient(x, target, mask, method="bptt")
    assert np.all(ge["W_hx"] == 0)
    assert np.any(gb["W_hx"] != 0)


@pytest.mark.parametrize("kw", LAYOUTS, ids=IDS)
@pytest.mark.parametrize("method", ["rtrl", "elman"])
def test_online_step_updates_match_the_reference(kw, method):
    net = make(kw)
    ref = reference(net, kw)
    x, target, mask = data(kw, T=8, seed=4)
    _, loss, _ = ref.run(x, target, mask, truncate_context=method == "elman", lr=0.3)
    L = net.train_sequence(x, target, mask, lr=0.3, method=method, update="step")
    assert L == pytest.approx(loss, rel=1e-12)
    for k, v in net.get_weights().items():
        np.testing.assert_allclose(v, ref.w[k], rtol=0, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("method", ["rtrl", "bptt", "elman"])
def test_sequence_update_is_one_gradient_step(method):
    kw = LAYOUTS[2]
    net = make(kw)
    x, target, mask = data(kw)
    w0 = net.get_weights()
    L0, g = net.gradient(x, target, mask, method=method)
    L = net.train_sequence(x, target, mask, lr=0.5, method=method, update="sequence")
    assert L == L0
    for k, v in net.get_weights().items():
        np.testing.assert_allclose(v, w0[k] - 0.5 * g[k], rtol=0, atol=1e-15)


def test_bptt_defaults_to_sequence_update_and_refuses_step():
    kw = LAYOUTS[0]
    net = make(kw)
    x, target, mask = data(kw)
    net.train_sequence(x, target, mask, lr=0.1, method="bptt")
    with pytest.raises(ValueError, match="update: method 'bptt'"):
        net.train_sequence(x, target, mask, lr=0.1, method="bptt", update="step")


@pytest.mark.parametrize("kw", LAYOUTS[:5], ids=IDS[:5])
def test_float32_is_close_to_float64(kw):
    n64 = make(kw)
    n32 = make(kw, dtype=np.float32)
    x, target, mask = data(kw)
    y32 = n32.forward(x)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, n64.forward(x), atol=1e-5)
    for method in ("rtrl", "bptt"):
        _, g32 = n32.gradient(x, target, mask, method=method)
        _, g64 = n64.gradient(x, target, mask, method=method)
        for k in g32:
            assert g32[k].dtype == np.float32
            np.testing.assert_allclose(g32[k], g64[k], atol=2e-4, err_msg=k)


def test_batched_forward_equals_one_by_one():
    kw = LAYOUTS[4]
    net = make(kw)
    rng = np.random.default_rng(5)
    xs = [rng.normal(size=(n, kw["n_in"])) for n in (4, 9, 1, 6)]
    for y, x in zip(net.forward_many(xs), xs):
        np.testing.assert_array_equal(y, net.forward(x))
    batch = np.zeros((9, 4, kw["n_in"]))
    for n, x in enumerate(xs):
        batch[:len(x), n] = x
    y = net.forward_batch(batch, [4, 9, 1, 6])
    assert y.shape == (9, 4, kw["n_out"]) and np.all(y[4:, 0] == 0)
    with pytest.raises(ValueError, match="lengths: expected values in"):
        net.forward_batch(batch, [4, 10, 1, 6])


def test_seed_reproducible_and_init_range():
    a = RecurrentNet(4, 3, 2, seed=7, init_range=0.2)
    b = RecurrentNet(4, 3, 2, seed=7, init_range=0.2)
    for k, v in a.get_weights().items():
        assert np.array_equal(v, b.get_weights()[k])
        assert np.all(np.abs(v) <= 0.2)
    assert not np.array_equal(a.get_flat(), RecurrentNet(4, 3, 2, seed=8, init_range=0.2).get_flat())


def test_flat_round_trip():
    net = make(LAYOUTS[4])
    flat = net.get_flat()
    assert flat.shape == (net.n_weights,)
    net.set_flat(flat * 2)
    np.testing.assert_array_equal(net.get_flat(), flat * 2)


@pytest.mark.parametrize("kw", LAYOUTS, ids=IDS)
def test_save_load_round_trip(kw, tmp_path):
    net = make(kw, dtype=np.float32)
    path = tmp_path / "rnn.npz"
    net.save(path)
    loaded = RecurrentNet.load(path)
    assert repr(loaded) == repr(net)
    for k, v in net.get_weights().items():
        assert loaded.get_weights()[k].dtype == v.dtype and np.array_equal(loaded.get_weights()[k], v)
    x = np.random.default_rng(0).normal(size=(5, kw["n_in"]))
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))


def test_load_refuses_other_models(tmp_path):
    import lstmcore
    path = tmp_path / "lstm.npz"
    lstmcore.LSTM1997(2, 2, 1, seed=0).save(path)
    with pytest.raises(ValueError, match="expected 'RecurrentNet'"):
        RecurrentNet.load(path)


def test_zero_length_sequence():
    net = make(LAYOUTS[0])
    assert net.forward(np.zeros((0, 3))).shape == (0, 2)
    for method in ("rtrl", "bptt", "elman"):
        L, g = net.gradient(np.zeros((0, 3)), np.zeros((0, 2)), method=method)
        assert L == 0 and all(np.all(v == 0) for v in g.values())


@pytest.mark.parametrize("call, exc, match", [
    (lambda: RecurrentNet(0, 1, 1), ValueError, "n_in: expected an integer >= 1"),
    (lambda: RecurrentNet(2, 0, 1, recurrence="hidden"), ValueError, "n_hidden: expected an integer >= 1"),
    (lambda: RecurrentNet(2, 1, 1, recurrence="elman"), ValueError, "recurrence: expected one of"),
    (lambda: RecurrentNet(2, 1, 1, shortcut=True), ValueError, "shortcut: recurrence 'full'"),
    (lambda: RecurrentNet(2, 1, 1, dtype=np.int32), ValueError, "dtype"),
    (lambda: RecurrentNet(2, 1, 1, out_activation="tanh"), ValueError, "out_activation"),
    (lambda: RecurrentNet(2, 1, 1, init_range=-1), ValueError, "init_range"),
    (lambda: RecurrentNet(2, 1, 1, seed=-1), ValueError, "seed"),
    (lambda: RecurrentNet(2, 1, 1, bias=1), TypeError, "bias: expected True or False"),
    (lambda: RecurrentNet(2, 1.5, 1), TypeError, "n_hidden: expected an integer"),
])
def test_bad_construction_is_refused(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_bad_call_arguments_are_refused():
    net = RecurrentNet(3, 2, 2, seed=0)
    x, t = np.zeros((4, 3)), np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"x: expected shape \(T, 3\), got \(4, 2\)"):
        net.forward(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="x: expected finite values"):
        net.forward(np.full((4, 3), np.nan))
    with pytest.raises(ValueError, match=r"target: expected shape \(4, 2\)"):
        net.gradient(x, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"mask: expected shape \(4,\)"):
        net.gradient(x, t, np.ones(3, bool))
    with pytest.raises(ValueError, match="method: expected one of"):
        net.gradient(x, t, method="adam")
    with pytest.raises(ValueError, match="update: expected one of"):
        net.train_sequence(x, t, lr=0.1, update="epoch")
    with pytest.raises(ValueError, match="lr: expected a number >= 0"):
        net.train_sequence(x, t, lr=-1.0)
    with pytest.raises(TypeError, match="lr: expected a real number"):
        net.train_sequence(x, t, lr="0.1")
    with pytest.raises(ValueError, match="weights: expected keys"):
        net.set_weights({"W_x": np.zeros((5, 3))})
    w = net.get_weights()
    w["W_r"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"weights\['W_r'\]: expected shape \(4, 4\)"):
        net.set_weights(w)


def test_rtrl_memory_is_bounded_before_allocation():
    # 4000 fully recurrent units: 16 M weights, but M^2 * ns = 6.4e10 sensitivities (256 GB)
    net = RecurrentNet(1, 4000, 1, seed=0, init_range=0.0, dtype=np.float32)
    x, t = np.zeros((1, 1)), np.zeros((1, 1))
    with pytest.raises(MemoryError, match="n_hidden: the RTRL sensitivities"):
        net.gradient(x, t, method="rtrl")
    with pytest.raises(MemoryError, match="n_hidden: the RTRL sensitivities"):
        net.train_sequence(x, t, lr=0.1)


def test_online_rtrl_learns_a_one_step_delay():
    # Output at t the input symbol of t-1 (two symbols, one-hot): needs the recurrent connections.
    rng = np.random.default_rng(0)
    net = RecurrentNet(2, 3, 2, seed=1, init_range=0.2)

    def sample():
        s = rng.integers(0, 2, size=12)
        x = np.eye(2)[s]
        target = np.zeros_like(x)
        target[1:] = x[:-1]
        mask = np.ones(12, bool)
        mask[0] = False
        return x, target, mask

    for _ in range(1500):
        net.train_sequence(*sample(), lr=1.0)
    errors = 0
    for _ in range(50):
        x, target, mask = sample()
        y = net.forward(x)
        errors += int(np.sum(np.abs(y - target)[mask] > 0.4))
    assert errors == 0
