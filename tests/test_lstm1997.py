"""LSTM1997 (the C++ engine) against the NumPy reference, finite differences, the paper's weight
counts, invariances, and bad input."""
import itertools

import numpy as np
import pytest

import lstmcore
import reference as R

RECURRENT = ["cells+gates", "cells", "none"]
G = ["g2", "logistic", "tanh", "identity"]  # the g squashers; h1/g2 swapped ranges are tested separately
H = ["h1", "tanh", "identity"]
OUT = ["logistic", "linear"]
BIAS_SUBSETS = [frozenset(c) for r in range(4) for c in itertools.combinations(["gates", "cells", "outputs"], r)]


def random_config(rng):
    """Sizes and options of one random network; every option is drawn independently."""
    sizes = tuple(int(v) for v in rng.integers(1, 4, size=4))
    options = dict(recurrent=str(rng.choice(RECURRENT)), shortcut=bool(rng.integers(2)),
                   output_gate=bool(rng.integers(2)), forget_gate=bool(rng.integers(2)),
                   peepholes=bool(rng.integers(2)), g=str(rng.choice(G)), h=str(rng.choice(H)),
                   out_activation=str(rng.choice(OUT)))
    bias = BIAS_SUBSETS[int(rng.integers(len(BIAS_SUBSETS)))]
    return sizes, options, bias


def random_case(seed, dtype=np.float64, init_range=0.6):
    rng = np.random.default_rng(seed)
    sizes, options, bias = random_config(rng)
    net = lstmcore.LSTM1997(*sizes, bias=sorted(bias), init_range=init_range, dtype=dtype, seed=seed, **options)
    cfg = R.RefConfig.from_api(*sizes, bias=bias, **options)
    T = int(rng.integers(1, 9))
    x = rng.normal(size=(T, sizes[0]))
    target = rng.uniform(size=(T, sizes[1]))
    mask = rng.integers(0, 2, size=T).astype(bool)
    return net, cfg, x, target, mask


def max_diff(a, b):
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


CASES = range(120)


@pytest.mark.parametrize("seed", CASES)
def test_engine_matches_reference(seed):
    net, cfg, x, target, mask = random_case(seed)
    w = net.get_weights()
    assert net.n_weights == R.n_weights(cfg)
    np.testing.assert_allclose(net.forward(x), R.forward(cfg, w, x), rtol=0, atol=1e-10)
    for mode, method, ref in [("full", "bptt", R.loss_and_grad_full),
                              ("truncated", "bptt", R.loss_and_grad_truncated_bptt),
                              ("truncated", "rtrl", R.loss_and_grad_truncated_rtrl)]:
        loss, grads = net.gradient(x, target, mask, mode=mode, method=method)
        ref_loss, ref_grads = ref(cfg, w, x, target, mask)
        assert abs(loss - ref_loss) <= 1e-10
        assert max_diff(grads, ref_grads) <= 1e-10, (mode, method)
    for update in ["step", "sequence"]:
        net.set_weights(w)
        loss = net.train_sequence(x, target, mask, lr=0.4, update=update)
        ref_loss, ref_w = R.train_sequence(cfg, w, x, target, mask, 0.4, update)
        assert abs(loss - ref_loss) <= 1e-10
        assert max_diff(net.get_weights(), ref_w) <= 1e-10, update


@pytest.mark.parametrize("seed", range(10))
def test_full_gradient_training_step(seed):
    net, _, x, target, mask = random_case(5000 + seed)
    w = net.get_weights()
    loss, grads = net.gradient(x, target, mask, mode="full")
    assert net.train_sequence(x, target, mask, lr=0.3, update="sequence", mode="full") == loss
    assert max_diff(net.get_weights(), {k: w[k] - 0.3 * grads[k] for k in w}) <= 1e-14
    with pytest.raises(ValueError, match="mode"):
        net.train_sequence(x, target, mask, lr=0.3, mode="full")


@pytest.mark.parametrize("seed", range(40))
def test_rtrl_traces_equal_truncated_bptt(seed):
    net, _, x, target, mask = random_case(1000 + seed)
    loss_r, g_r = net.gradient(x, target, mask, mode="truncated", method="rtrl")
    loss_b, g_b = net.gradient(x, target, mask, mode="truncated", method="bptt")
    assert abs(loss_r - loss_b) <= 1e-12
    assert max_diff(g_r, g_b) <= 1e-12


@pytest.mark.parametrize("seed", range(25))
def test_full_gradient_equals_finite_differences(seed):
    net, _, x, target, mask = random_case(2000 + seed)
    mask[-1] = True
    w = net.get_weights()
    _, grads = net.gradient(x, target, mask, mode="full")
    eps = 1e-6
    scale = max(1.0, max(float(np.abs(g).max()) for g in grads.values()))
    for name, arr in w.items():
        for idx in np.ndindex(arr.shape):
            values = []
            for sign in (1, -1):
                shifted = {k: v.copy() for k, v in w.items()}
                shifted[name][idx] += sign * eps
                net.set_weights(shifted)
                values.append(net.gradient(x, target, mask, mode="full")[0])
            fd = (values[0] - values[1]) / (2 * eps)
            assert abs(fd - grads[name][idx]) <= 1e-7 * scale, (name, idx, fd, grads[name][idx])
    net.set_weights(w)


@pytest.mark.parametrize("seed", range(10))
def test_table10_legend_squashing_ranges(seed):
    """g in [-1, 1] and h in [-2, 2] (Table 10's legend) is an extension; checked like the rest."""
    rng = np.random.default_rng(4000 + seed)
    sizes = tuple(int(v) for v in rng.integers(1, 4, size=4))
    options = dict(g="h1", h="g2", forget_gate=bool(rng.integers(2)), peepholes=bool(rng.integers(2)))
    net = lstmcore.LSTM1997(*sizes, bias="all", init_range=0.6, seed=seed, **options)
    cfg = R.RefConfig.from_api(*sizes, bias=frozenset({"gates", "cells", "outputs"}), **options)
    x, target = rng.normal(size=(5, sizes[0])), rng.uniform(size=(5, sizes[1]))
    w = net.get_weights()
    np.testing.assert_allclose(net.forward(x), R.forward(cfg, w, x), rtol=0, atol=1e-10)
    for mode, ref in [("full", R.loss_and_grad_full), ("truncated", R.loss_and_grad_truncated_rtrl)]:
        assert max_diff(net.gradient(x, target, mode=mode)[1], ref(cfg, w, x, target)[1]) <= 1e-10


def test_truncated_differs_from_full_when_recurrent():
    net = lstmcore.LSTM1997(2, 1, 2, 2, bias="all", init_range=0.5, seed=3)
    rng = np.random.default_rng(0)
    x, target = rng.normal(size=(6, 2)), rng.uniform(size=(6, 1))
    _, g_full = net.gradient(x, target, mode="full")
    _, g_trunc = net.gradient(x, target, mode="truncated")
    assert max_diff(g_full, g_trunc) > 1e-6
    np.testing.assert_allclose(g_full["W_y"], g_trunc["W_y"], atol=1e-14)  # output layer is never truncated


@pytest.mark.parametrize("seed", range(30))
def test_float32_agrees_with_float64(seed):
    net64, _, x, target, mask = random_case(3000 + seed, init_range=0.3)
    net32, _, _, _, _ = random_case(3000 + seed, dtype=np.float32, init_range=0.3)
    net32.set_weights(net64.get_weights())
    y64, y32 = net64.forward(x), net32.forward(x)
    assert y32.dtype == np.float32 and y64.dtype == np.float64
    np.testing.assert_allclose(y32, y64, rtol=0, atol=2e-5)
    for mode in ["full", "truncated"]:
        l64, g64 = net64.gradient(x, target, mask, mode=mode)
        l32, g32 = net32.gradient(x, target, mask, mode=mode)
        assert abs(l32 - l64) <= 1e-4 * max(1.0, l64)
        scale = max(1.0, max(float(np.abs(g).max()) for g in g64.values()))
        assert max_diff(g32, g64) <= 1e-4 * scale


# (sizes, options, published count): Table 10 of the paper, GSC00 and GSS02 (docs/ENGINE.md, "Weight counts")
PUBLISHED_COUNTS = [
    ((7, 7, 4, 1), dict(bias="gates"), 264),
    ((7, 7, 3, 2), dict(bias="gates"), 276),
    ((101, 101, 1, 1), dict(recurrent="none", shortcut=True, bias="none", output_gate=False, g="logistic",
                            h="identity"), 10504),
    *[((p + 4, 2, 2, 1), dict(bias="none"), w) for p, w in [(50, 364), (100, 664), (200, 1264), (500, 3064),
                                                             (1000, 6064)]],
    ((1, 1, 3, 1), dict(bias="hidden"), 102),
    ((2, 1, 2, 2), dict(bias="all"), 93),
    ((8, 4, 2, 2), dict(bias="all"), 156),
    ((8, 8, 3, 2), dict(bias="all"), 308),
    ((7, 7, 4, 2), dict(recurrent="cells", shortcut=True, forget_gate=True, bias={"gates", "outputs"}), 424),
    ((1, 1, 1, 1), dict(recurrent="cells", forget_gate=True, peepholes=True, bias="all", g="identity"), 17),
]


@pytest.mark.parametrize("sizes,options,count", PUBLISHED_COUNTS)
def test_published_weight_counts(sizes, options, count):
    net = lstmcore.LSTM1997(*sizes, **options, seed=0)
    assert net.n_weights == count
    assert sum(a.size for a in net.get_weights().values()) == count


def test_initialisation_range_gate_biases_and_seed():
    kw = dict(bias="all", init_range=0.2, input_gate_bias=[-3, -6], output_gate_bias=-1.5, seed=11)
    net = lstmcore.LSTM1997(2, 1, 2, 2, **kw)
    w = net.get_weights()
    np.testing.assert_array_equal(w["b_in"], [-3, -6])
    np.testing.assert_array_equal(w["b_out"], [-1.5, -1.5])
    for name, arr in w.items():
        if name not in ("b_in", "b_out"):
            assert np.abs(arr).max() <= 0.2 and (arr.size == 1 or arr.std() > 0.01), name
    same = lstmcore.LSTM1997(2, 1, 2, 2, **kw).get_weights()
    assert max_diff(w, same) == 0
    other = lstmcore.LSTM1997(2, 1, 2, 2, **{**kw, "seed": 12}).get_weights()
    assert max_diff(w, other) > 0
    entropy = [lstmcore.LSTM1997(2, 1, 2, 2, bias="all").get_weights()["W_cell"] for _ in range(2)]
    assert not np.array_equal(*entropy)


def test_weights_round_trip_and_are_copies():
    net = lstmcore.LSTM1997(3, 2, 2, 2, bias="all", forget_gate=True, peepholes=True, seed=1)
    w = net.get_weights()
    w["W_cell"][:] = 7.0  # a copy: the network must not change
    assert not np.any(net.get_weights()["W_cell"] == 7.0)
    w2 = {k: v * 0.5 for k, v in net.get_weights().items()}
    net.set_weights(w2)
    assert max_diff(net.get_weights(), w2) == 0
    assert set(net.weight_shapes) == set(w2)


def test_zero_length_sequence():
    net = lstmcore.LSTM1997(2, 3, 1, seed=0)
    x, target = np.zeros((0, 2)), np.zeros((0, 3))
    assert net.forward(x).shape == (0, 3)
    loss, grads = net.gradient(x, target)
    assert loss == 0 and all(not g.any() for g in grads.values())
    assert net.train_sequence(x, target, lr=0.1) == 0


def test_inputs_of_any_layout_and_dtype_are_converted_once():
    net = lstmcore.LSTM1997(3, 2, 2, seed=0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 5))
    y_ref = net.forward(np.ascontiguousarray(x.T))
    np.testing.assert_array_equal(net.forward(x.T), y_ref)  # non-contiguous
    np.testing.assert_array_equal(net.forward(x.T.tolist()), y_ref)  # nested lists
    xi = np.array([[1, 0, 1]] * 4, dtype=np.int64)
    np.testing.assert_array_equal(net.forward(xi), net.forward(xi.astype(np.float64)))
    np.testing.assert_array_equal(net.forward(np.asfortranarray(xi[::-1])), net.forward(xi[::-1].copy()))


def test_mask_selects_steps():
    net = lstmcore.LSTM1997(2, 1, 2, 2, bias="all", seed=5)
    rng = np.random.default_rng(2)
    x, target = rng.normal(size=(7, 2)), rng.uniform(size=(7, 1))
    mask = np.zeros(7, bool)
    mask[[2, 6]] = True
    loss, g = net.gradient(x, target, mask)
    y = net.forward(x)
    assert abs(loss - 0.5 * ((target - y)[mask] ** 2).sum()) < 1e-14
    loss_i, g_i = net.gradient(x, target, mask.astype(int))
    assert loss_i == loss and max_diff(g, g_i) == 0
    loss_none, _ = net.gradient(x, target, np.zeros(7, bool))
    assert loss_none == 0


# ---- bad input: a clear ValueError/TypeError naming the argument, never a crash ----------------

BAD_CONSTRUCTOR = [
    (dict(n_in=0), ValueError, "n_in"), (dict(n_in=-2), ValueError, "n_in"), (dict(n_in=1.5), TypeError, "n_in"),
    (dict(n_in="3"), TypeError, "n_in"), (dict(n_in=True), TypeError, "n_in"), (dict(n_out=0), ValueError, "n_out"),
    (dict(blocks=0), ValueError, "blocks"), (dict(cells_per_block=-1), ValueError, "cells_per_block"),
    (dict(n_in=2**40), ValueError, "n_in"), (dict(recurrent="all"), ValueError, "recurrent"),
    (dict(recurrent=None), TypeError, "recurrent"), (dict(shortcut="yes"), TypeError, "shortcut"),
    (dict(bias="some"), ValueError, "bias"), (dict(bias={"gates", "inputs"}), ValueError, "bias"),
    (dict(bias=3), TypeError, "bias"), (dict(output_gate=1), TypeError, "output_gate"),
    (dict(forget_gate=None), TypeError, "forget_gate"), (dict(peepholes="no"), TypeError, "peepholes"),
    (dict(g="h2"), ValueError, "g"), (dict(h="logistic"), ValueError, "h"), (dict(out_activation="tanh"), ValueError, "out_activation"),
    (dict(init_range=-0.1), ValueError, "init_range"), (dict(init_range=float("nan")), ValueError, "init_range"),
    (dict(init_range="0.1"), TypeError, "init_range"), (dict(dtype=np.int32), ValueError, "dtype"),
    (dict(dtype="float16"), ValueError, "dtype"), (dict(dtype="nonsense"), TypeError, "dtype"),
    (dict(input_gate_bias=[-1, -2, -3]), ValueError, "input_gate_bias"),
    (dict(input_gate_bias=[-1, float("inf")]), ValueError, "input_gate_bias"),
    (dict(input_gate_bias="a"), TypeError, "input_gate_bias"),
    (dict(output_gate=False, output_gate_bias=[-1, -2]), ValueError, "output_gate_bias"),
    (dict(forget_gate_bias=[1, 2]), ValueError, "forget_gate_bias"),
    (dict(bias="none", input_gate_bias=[-1, -2]), ValueError, "input_gate_bias"),
    (dict(seed="abc"), TypeError, "seed"), (dict(seed=-1), ValueError, "seed"), (dict(seed=1.5), TypeError, "seed"),
]


@pytest.mark.parametrize("change,error,name", BAD_CONSTRUCTOR)
def test_bad_constructor_arguments_raise(change, error, name):
    args = dict(n_in=2, n_out=1, blocks=2, cells_per_block=1)
    args.update(change)
    with pytest.raises(error, match=name):
        lstmcore.LSTM1997(args.pop("n_in"), args.pop("n_out"), args.pop("blocks"), args.pop("cells_per_block"), **args)


def test_unknown_keyword_raises_type_error():
    with pytest.raises(TypeError, match="forget"):
        lstmcore.LSTM1997(2, 1, 2, forget=True)


@pytest.fixture
def net():
    return lstmcore.LSTM1997(3, 2, 2, 2, seed=0)


GOOD_X = np.zeros((4, 3))
GOOD_T = np.zeros((4, 2))
BAD_X = [
    (np.zeros(4), ValueError), (np.zeros((4, 2)), ValueError), (np.zeros((4, 3, 1)), ValueError),
    (np.full((4, 3), np.nan), ValueError), (np.full((4, 3), np.inf), ValueError),
    (np.array([["a"] * 3] * 4), TypeError), (np.zeros((4, 3), complex), TypeError),
    (np.array([[object()] * 3] * 4), TypeError), (None, TypeError), ("abc", TypeError),
    ([[1, 2, 3], [1, 2]], ValueError), (np.full((4, 3), 1e300), None),
]


@pytest.mark.parametrize("x,error", BAD_X)
def test_bad_x_raises(net, x, error):
    if error is None:  # finite in float64: accepted
        net.forward(x)
        return
    with pytest.raises(error, match="x"):
        net.forward(x)
    with pytest.raises(error, match="x"):
        net.gradient(x, GOOD_T)
    with pytest.raises(error, match="x"):
        net.train_sequence(x, GOOD_T, lr=0.1)


def test_values_too_large_for_float32_raise():
    net32 = lstmcore.LSTM1997(3, 2, 2, dtype=np.float32, seed=0)
    with pytest.raises(ValueError, match="x"):
        net32.forward(np.full((2, 3), 1e300))


@pytest.mark.parametrize("target,mask,error,name", [
    (np.zeros((3, 2)), None, ValueError, "target"), (np.zeros((4, 3)), None, ValueError, "target"),
    (np.zeros(4), None, ValueError, "target"), (np.full((4, 2), np.nan), None, ValueError, "target"),
    (np.zeros((4, 2), complex), None, TypeError, "target"),
    (GOOD_T, np.ones(3, bool), ValueError, "mask"), (GOOD_T, np.ones((4, 1), bool), ValueError, "mask"),
    (GOOD_T, np.ones(4), TypeError, "mask"), (GOOD_T, np.full(4, 2), ValueError, "mask"),
    (GOOD_T, "yes", TypeError, "mask"),
])
def test_bad_target_or_mask_raise(net, target, mask, error, name):
    with pytest.raises(error, match=name):
        net.gradient(GOOD_X, target, mask)
    with pytest.raises(error, match=name):
        net.train_sequence(GOOD_X, target, mask, lr=0.1)


@pytest.mark.parametrize("kwargs,error,name", [
    (dict(mode="exact"), ValueError, "mode"), (dict(method="adjoint"), ValueError, "method"),
    (dict(mode=1), TypeError, "mode"),
])
def test_bad_gradient_options_raise(net, kwargs, error, name):
    with pytest.raises(error, match=name):
        net.gradient(GOOD_X, GOOD_T, **kwargs)


@pytest.mark.parametrize("kwargs,error,name", [
    (dict(lr=-0.1), ValueError, "lr"), (dict(lr=float("nan")), ValueError, "lr"), (dict(lr="0.1"), TypeError, "lr"),
    (dict(lr=0.1, update="batch"), ValueError, "update"), (dict(), TypeError, "lr"),
])
def test_bad_training_options_raise(net, kwargs, error, name):
    with pytest.raises(error, match=name):
        net.train_sequence(GOOD_X, GOOD_T, **kwargs)


def test_bad_set_weights_raise_and_change_nothing(net):
    w = net.get_weights()
    cases = [
        ({k: v for k, v in w.items() if k != "W_in"}, ValueError, "W_in"),
        ({**w, "W_forget": np.zeros((2, 15))}, ValueError, "W_forget"),
        ({**w, "W_y": np.zeros((2, 3))}, ValueError, "W_y"),
        ({**w, "W_cell": np.full(w["W_cell"].shape, np.nan)}, ValueError, "W_cell"),
        ({**w, "b_in": np.array(["a", "b"])}, TypeError, "b_in"),
        ([("W_cell", w["W_cell"])], TypeError, "weights"),
    ]
    for weights, error, name in cases:
        with pytest.raises(error, match=name):
            net.set_weights(weights)
        assert max_diff(net.get_weights(), w) == 0
