"""Property-based fuzzing (hypothesis) of every public function and constructor of LSTM1997, LSTM,
the task generators and save/load.

Every call either succeeds, and then gives finite outputs of the documented shape, or raises
ValueError, TypeError or MemoryError (sizes that could never fit in memory, refused before anything
is allocated) with a message naming the argument. Arrays come in every dtype kind (bool, ints,
floats with NaN/Inf, complex, object, strings, bytes), shape, memory layout (Fortran order,
non-contiguous, negative strides) and with zero-length axes. The profile is fixed in conftest.py
(derandomized, a bounded number of examples); each example is counted and the totals printed in
the terminal summary ("generated cases").
"""
import os
from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lstmcore
from lstmcore import _core, _validation, tasks
from casecount import tick

REJECT = (ValueError, TypeError, MemoryError)


@pytest.fixture(autouse=True, scope="module")
def same_memory_everywhere():
    """The enormous-size cases are judged against a fixed 16 GiB (or less) machine, so that they
    are refused (and never allocated) on any CI machine."""
    real = _validation.memory_limit
    _validation.memory_limit = lambda: min(real(), 16 * 2**30)
    yield
    _validation.memory_limit = real

# ---------------------------------------------------------------------------------------- helpers


def rejected_naming(fn, *names):
    """Call fn(); return (result, None) or (None, exception) for a rejection whose message names
    one of `names`. Any other exception type fails the test."""
    try:
        return fn(), None
    except REJECT as exc:
        msg = str(exc)
        assert any(n in msg for n in names), f"{type(exc).__name__} does not name {names}: {msg}"
        return None, exc


def as_valid(value, dtype, shape):
    """The array the API must accept for `value` (or None if it must be refused): real dtype kind,
    exactly `shape` (None: any length), finite once converted to `dtype`."""
    if isinstance(value, (str, bytes)) or value is None:
        return None
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):
        return None
    if arr.dtype.kind not in "biuf" or arr.ndim != len(shape):
        return None
    if any(e is not None and e != g for e, g in zip(shape, arr.shape)):
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(dtype)
    return out if np.isfinite(out).all() else None


ELEMENT_DTYPES = st.sampled_from([np.bool_, np.int8, np.int32, np.int64, np.uint16, np.uint64, np.float16,
                                  np.float32, np.float64, np.complex128, np.dtype("U3"), np.dtype("S2"),
                                  np.dtype(object)])


@st.composite
def layouts(draw, arr):
    """The same values in another memory layout: Fortran order, a strided view, reversed axes."""
    kind = draw(st.sampled_from(["c", "f", "strided", "reversed"]))
    if arr.ndim == 0 or kind == "c":
        return arr
    if kind == "f":
        return np.asfortranarray(arr)
    if kind == "strided":  # every other element of a twice longer array (non-contiguous)
        big = np.repeat(arr, 2, axis=-1)
        return big[..., ::2]
    return np.ascontiguousarray(arr[::-1])[::-1]  # a negative-stride view of the same values


@st.composite
def any_array(draw, shape, *, real_only=False, max_abs=1e6):
    """An array of `shape` in any dtype kind and layout, with finite values mostly in
    [-max_abs, max_abs] and sometimes NaN, Inf or numbers beyond float32."""
    dtype = np.dtype(draw(ELEMENT_DTYPES if not real_only else st.sampled_from([np.bool_, np.int16, np.float32,
                                                                                   np.float64])))
    if dtype.kind == "O":
        values = draw(st.lists(st.sampled_from([None, 1, 1.5, "a", (1,)]), min_size=1, max_size=3))
        arr = np.empty(shape, dtype=object)
        flat = arr.reshape(-1)
        for i in range(flat.size):
            flat[i] = values[i % len(values)]
        return arr
    if dtype.kind == "f":
        special = draw(st.sampled_from([None, None, None, np.nan, np.inf, -np.inf, 1e39, 1e300]))
        bound = min(max_abs, 6e4) if dtype.itemsize == 2 else max_abs
        elements = st.floats(-bound, bound, width=dtype.itemsize * 8)
        arr = draw(hnp.arrays(dtype, shape, elements=elements))
        if special is not None and arr.size:
            with np.errstate(over="ignore"):
                arr.reshape(-1)[draw(st.integers(0, arr.size - 1))] = special
    else:
        arr = draw(hnp.arrays(dtype, shape))
    return draw(layouts(arr))


def check_finite(*arrays):
    for a in arrays:
        assert np.isfinite(a).all()


SIZES = st.integers(1, 4)


# ------------------------------------------------------------------------------------- LSTM1997
NET_KWARGS = dict(recurrent="cells+gates", shortcut=False, bias="gates", output_gate=True, forget_gate=False,
                  peepholes=False, g="g2", h="h1", out_activation="logistic", init_range=0.1, input_gate_bias=None,
                  output_gate_bias=None, forget_gate_bias=None, dtype=np.float64, seed=0)
WEIRD = st.sampled_from([None, True, 0, -1, 2, 2**70, 1.5, float("nan"), float("inf"), 1e308, 1 + 2j, "", "g2",
                         "cells", "gates", "float64", b"x", [], ["gates"], [None], {}, {"gates": 1}, object(),
                         np.float32, np.int64(3), np.bool_(True), np.zeros(2), np.array(["a"]), -1e308])


@given(sizes=st.tuples(st.integers(-2, 6), st.integers(-2, 6), st.integers(-2, 6), st.integers(-2, 6)),
       key=st.sampled_from(sorted(NET_KWARGS)), value=WEIRD)
def test_lstm1997_constructor_any_keyword(sizes, key, value):
    tick("fuzz:LSTM1997()")
    kwargs = dict(NET_KWARGS, **{key: value})
    net, exc = rejected_naming(lambda: lstmcore.LSTM1997(*sizes, **kwargs),
                               key, "n_in", "n_out", "blocks", "cells_per_block")
    if net is not None:
        assert all(1 <= s <= 6 for s in sizes)
        y = net.forward(np.ones((3, net.n_in)))
        assert y.shape == (3, net.n_out) and y.dtype == net.dtype
        check_finite(y, *net.get_weights().values())


# The enormous-size properties run on a pretend machine of 64 MiB, so that every example is decided
# here: a network small enough is built, any other is refused before anything is allocated.
SMALL_MACHINE = 2**26


@given(sizes=st.tuples(*[st.sampled_from([1, 7, 2**10, 2**20, 2**24, 2**24 + 1, 2**40])] * 4),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_lstm1997_enormous_sizes_refused_before_allocating(sizes, dtype):
    tick("fuzz:LSTM1997(enormous)")
    cfg = _core.Lstm1997Config()
    cfg.n_in, cfg.n_out, cfg.blocks, cfg.cells_per_block = (min(v, 2**63) for v in sizes)
    values, _ = _core.lstm1997_sizes(cfg)  # the core's size of the parameter buffer
    with mock.patch.object(_validation, "memory_limit", lambda: SMALL_MACHINE):
        net, exc = rejected_naming(lambda: lstmcore.LSTM1997(*sizes, dtype=dtype),
                                   "n_in", "n_out", "blocks", "cells_per_block")
    too_large = max(sizes) > _core.MAX_SIZE or sizes[2] * sizes[3] > _core.MAX_SIZE
    needs = values * (4.0 * np.dtype(dtype).itemsize + 9)  # weights, gradients, traces, the draw
    if net is not None:
        assert not too_large and needs <= SMALL_MACHINE
        assert 0 < net.n_weights <= values
    else:
        assert too_large or needs > SMALL_MACHINE, exc


def small_net(draw_options, dtype):
    return lstmcore.LSTM1997(*draw_options[0], dtype=dtype, seed=1, **draw_options[1])


NET_OPTIONS = st.tuples(
    st.tuples(SIZES, SIZES, SIZES, SIZES),
    st.fixed_dictionaries(dict(recurrent=st.sampled_from(["cells+gates", "cells", "none"]), shortcut=st.booleans(),
                               bias=st.sampled_from(["gates", "hidden", "all", "none"]),
                               forget_gate=st.booleans(), peepholes=st.booleans(),
                               g=st.sampled_from(["g2", "logistic", "tanh", "identity", "h1"]),
                               h=st.sampled_from(["h1", "tanh", "identity", "g2"]),
                               out_activation=st.sampled_from(["logistic", "linear"]))))


@st.composite
def x_for(draw, n_in, *, min_len=0, batch=False):
    """A value for x: mostly of the right width (any length, 0 included), sometimes not."""
    T = draw(st.integers(min_len, 6))
    width = draw(st.sampled_from([n_in, n_in, n_in, n_in + 1, max(0, n_in - 1)]))
    shape = (T, draw(st.integers(0 if not batch else 1, 3)), width) if batch else (T, width)
    if draw(st.integers(0, 9)) == 0:
        shape = draw(st.sampled_from([(), (width,), (1, 1, 1, width)]))
    return draw(any_array(shape))


@given(options=NET_OPTIONS, dtype=st.sampled_from([np.float32, np.float64]), data=st.data())
def test_lstm1997_forward(options, dtype, data):
    tick("fuzz:LSTM1997.forward")
    net = small_net(options, dtype)
    x = data.draw(x_for(net.n_in))
    y, exc = rejected_naming(lambda: net.forward(x), "x")
    valid = as_valid(x, dtype, (None, net.n_in))
    assert (exc is None) == (valid is not None), (exc, x)
    if y is not None:
        assert y.shape == (valid.shape[0], net.n_out) and y.dtype == dtype and y.flags.c_contiguous
        check_finite(y)
        np.testing.assert_array_equal(y, net.forward(np.ascontiguousarray(valid)))


@given(options=NET_OPTIONS, data=st.data(),
       mode=st.sampled_from(["truncated", "full", "bad"]), method=st.sampled_from(["rtrl", "bptt", 3]))
def test_lstm1997_gradient_and_train(options, data, mode, method):
    tick("fuzz:LSTM1997.gradient/train_sequence")
    net = small_net(options, np.float64)
    T = data.draw(st.integers(0, 5))
    x = data.draw(st.one_of(any_array((T, net.n_in), real_only=True, max_abs=10.0), x_for(net.n_in)))
    target = data.draw(st.one_of(any_array((T, net.n_out), real_only=True, max_abs=2.0),
                                 any_array((max(0, T + data.draw(st.integers(-1, 1))), net.n_out))))
    mask = data.draw(st.one_of(st.none(), any_array((T,)), any_array((T + 1,)), st.just("abc"),
                               st.just([0, 1, 2] * T)))
    names = ("x", "target", "mask", "mode", "method")
    out, exc = rejected_naming(lambda: net.gradient(x, target, mask, mode=mode, method=method), *names)
    if out is not None:
        loss, grads = out
        assert np.isfinite(loss) and loss >= 0
        assert {k: g.shape for k, g in grads.items()} == net.weight_shapes
        check_finite(*grads.values())
    lr = data.draw(st.sampled_from([0.1, 0.0, -1.0, float("nan"), "0.1", None, 10**400]))
    update = data.draw(st.sampled_from(["step", "sequence", "epoch", None]))
    before = net.get_weights()
    loss, exc2 = rejected_naming(lambda: net.train_sequence(x, target, mask, lr=lr, update=update, mode=mode),
                                 *names, "lr", "update")
    if exc2 is not None:  # a refused call changes nothing
        for k, w in net.get_weights().items():
            np.testing.assert_array_equal(w, before[k])
    else:
        assert np.isfinite(loss)
        check_finite(*net.get_weights().values())


@given(options=NET_OPTIONS, dtype=st.sampled_from([np.float32, np.float64]), data=st.data())
def test_lstm1997_set_weights(options, dtype, data):
    tick("fuzz:LSTM1997.set_weights")
    net = small_net(options, dtype)
    before = net.get_weights()
    new = {k: data.draw(st.one_of(any_array(v.shape, max_abs=1e3),
                                  any_array((v.shape[0] + 1,) + v.shape[1:], real_only=True)))
           for k, v in before.items()}
    change = data.draw(st.sampled_from(["none", "drop", "extra", "list", "not a mapping"]))
    if change == "drop":
        new.pop(sorted(new)[0])
    elif change == "extra":
        new["W_extra"] = np.zeros(1)
    elif change == "list":
        new = {k: np.asarray(v).tolist() for k, v in new.items()}
    elif change == "not a mapping":
        new = list(new.values())
    _, exc = rejected_naming(lambda: net.set_weights(new), "weights")
    after = net.get_weights()
    if exc is not None:
        for k in before:
            np.testing.assert_array_equal(after[k], before[k])
    else:
        for k in before:
            np.testing.assert_array_equal(after[k], as_valid(new[k], dtype, before[k].shape))
        check_finite(net.forward(np.ones((2, net.n_in))))


# ----------------------------------------------------------------------------------------- LSTM
LAYER_KWARGS = dict(num_layers=1, bias=True, batch_first=False, bidirectional=False, peepholes=False,
                    dtype=np.float32, seed=0, num_threads=1)


@given(sizes=st.tuples(st.integers(-1, 5), st.integers(-1, 5)), key=st.sampled_from(sorted(LAYER_KWARGS)),
       value=WEIRD)
def test_lstm_constructor_any_keyword(sizes, key, value):
    tick("fuzz:LSTM()")
    kwargs = dict(LAYER_KWARGS, **{key: value})
    layer, _ = rejected_naming(lambda: lstmcore.LSTM(*sizes, **kwargs), key, "input_size", "hidden_size")
    if layer is not None:
        out, (h, c) = layer(np.ones((2, 3, layer.input_size)))
        check_finite(out, h, c)


@given(sizes=st.tuples(*[st.sampled_from([1, 2**12, 2**16, 2**20, 2**24, 2**24 + 1, 2**62])] * 2),
       layers=st.sampled_from([1, 2, 1024, 1025]))
def test_lstm_enormous_sizes_refused_before_allocating(sizes, layers):
    tick("fuzz:LSTM(enormous)")
    I, H = sizes
    with mock.patch.object(_validation, "memory_limit", lambda: SMALL_MACHINE):
        layer, exc = rejected_naming(lambda: lstmcore.LSTM(I, H, layers, num_threads=1),
                                     "input_size", "hidden_size", "num_layers")
    too_large = max(sizes) > _core.MAX_SIZE or layers > _core.MAX_LAYERS
    if layer is not None:
        # built: the parameters the core counts, within the pretend machine
        n_params = sum(_core.layer_sizes(I if k == 0 else H, H, True, False)[0] for k in range(layers))
        assert not too_large and n_params * (3.0 * 4 + 8) <= SMALL_MACHINE
        assert sum(p.size for p in layer.parameters().values()) == n_params
    else:
        assert too_large or isinstance(exc, MemoryError), exc


def test_work_too_large_for_memory_is_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(_validation, "memory_limit", lambda: 2**30)  # a 1 GiB machine
    layer = lstmcore.LSTM(1, 1024, num_threads=1, seed=0)
    x = np.zeros((10**4, 200, 1), np.float32)  # 8 MB of input, 49 GB kept for the backward
    with pytest.raises(MemoryError, match="x: the forward pass over 10000 steps of 200 sequences"):
        layer(x)
    net = lstmcore.LSTM1997(1, 1, 256, seed=0)
    with pytest.raises(MemoryError, match="x: the backward pass over 100000 steps"):
        net.gradient(np.zeros((10**5, 1)), np.zeros((10**5, 1)), method="bptt")
    with pytest.raises(MemoryError, match="x: the backward pass"):
        net.train_sequence(np.zeros((10**5, 1)), np.zeros((10**5, 1)), lr=0.1, update="sequence", mode="full")
    with pytest.raises(MemoryError, match="input_size, hidden_size"):
        lstmcore.LSTM(10**4, 10**4)
    with pytest.raises(MemoryError, match="n_in, n_out, blocks"):
        lstmcore.LSTM1997(10**4, 1, 10**3)
    with pytest.raises(MemoryError, match="T: one sequence"):
        tasks.Adding(10**9)


LAYER_OPTIONS = st.fixed_dictionaries(dict(
    input_size=SIZES, hidden_size=SIZES, num_layers=st.integers(1, 2), bias=st.booleans(),
    batch_first=st.booleans(), bidirectional=st.booleans(), peepholes=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]), num_threads=st.integers(1, 2)))


@given(options=LAYER_OPTIONS, data=st.data())
def test_lstm_forward_backward(options, data):
    tick("fuzz:LSTM.forward/backward")
    proj_size = data.draw(st.integers(0, options["hidden_size"] - 1))
    layer = lstmcore.LSTM(seed=2, proj_size=proj_size, **options)
    I, H, dt = layer.input_size, layer.hidden_size, layer.dtype
    R = proj_size or H  # the width of h (and of each direction's output)
    LD, D = layer.num_layers * layer.num_directions, layer.num_directions
    batched = data.draw(st.booleans())
    x = data.draw(x_for(I, batch=batched))
    N = (np.shape(x)[0 if layer.batch_first else 1] if batched and np.ndim(x) == 3 else 1)
    hx = data.draw(st.sampled_from([None, "given", "wrong", "str"]))
    c_shape = (LD, N, H) if batched else (LD, H)
    h_shape = c_shape[:-1] + (R,)
    if hx == "given":
        hx = (data.draw(any_array(h_shape, real_only=True, max_abs=3.0)),
              data.draw(any_array(c_shape, real_only=True, max_abs=3.0)))
    elif hx == "wrong":
        hx = (np.zeros(h_shape), np.zeros((LD + 1,) + c_shape[1:]))
    lengths = data.draw(st.sampled_from([None, "valid", "float", "too long", "wrong shape"])) if batched else None
    if lengths is not None:
        steps = (np.shape(x)[1] if layer.batch_first else np.shape(x)[0]) if np.ndim(x) == 3 else 1
        lengths = {"valid": np.arange(N) % (steps + 1), "float": np.ones(N), "too long": np.full(N, steps + 1),
                   "wrong shape": np.ones(N + 1, int)}[lengths]
    out, exc = rejected_naming(lambda: layer(x, hx, lengths), "x", "hx", "lengths")
    valid = as_valid(x, dt, (None, None, I) if np.ndim(x) == 3 else (None, I))
    # T = 0 is refused (as in torch); an empty batch (N = 0) is valid and gives empty outputs
    no_steps = valid is not None and valid.shape[1 if batched and np.ndim(x) == 3 and layer.batch_first else 0] == 0
    bad_hx = hx == "str" or isinstance(hx, tuple) and any(as_valid(v, dt, shape) is None
                                                          for v, shape in zip(hx, (h_shape, c_shape)))
    bad_lengths = lengths is not None and (lengths.dtype.kind != "i" or lengths.shape != (N,)
                                           or lengths.size > 0 and lengths.max() > steps)
    # refused exactly when some argument is invalid
    assert (exc is not None) == (valid is None or no_steps or bad_hx or bad_lengths), (exc, x, hx, lengths)
    if out is None:
        return  # refused as it must be (checked above)
    output, (h_n, c_n) = out
    if batched:
        T = valid.shape[1] if layer.batch_first else valid.shape[0]
        assert output.shape == ((N, T, D * R) if layer.batch_first else (T, N, D * R))
        assert h_n.shape == (LD, N, R) and c_n.shape == (LD, N, H)
    else:
        assert output.shape == (valid.shape[0], D * R) and h_n.shape == (LD, R) and c_n.shape == (LD, H)
    assert output.dtype == h_n.dtype == dt
    check_finite(output, h_n, c_n)
    grad_out = data.draw(st.one_of(st.none(), any_array(output.shape, max_abs=10.0),
                                   any_array(output.shape[:-1] + (output.shape[-1] + 1,), real_only=True)))
    grad_h = data.draw(st.one_of(st.none(), any_array(h_n.shape, real_only=True, max_abs=10.0)))
    grad_c = data.draw(st.one_of(st.none(), any_array(c_n.shape, max_abs=10.0), any_array(c_n.shape[1:])))
    truncated = data.draw(st.sampled_from([False, True, 1, "yes"]))
    gx, exc = rejected_naming(lambda: layer.backward(grad_out, grad_h, grad_c, truncated=truncated),
                              "grad_output", "grad_h_n", "grad_c_n", "truncated")
    bad_grads = any(g is not None and as_valid(g, dt, shape) is None
                    for g, shape in ((grad_out, output.shape), (grad_h, h_n.shape), (grad_c, c_n.shape)))
    assert (exc is not None) == (bad_grads or not isinstance(truncated, bool)), (exc, truncated)
    if gx is not None:
        assert gx.shape == valid.shape and gx.dtype == dt
        check_finite(gx, *layer.grads.values())
        assert {k: g.shape for k, g in layer.grads.items()} == {k: v.shape for k, v in layer.state_dict().items()}


@given(options=LAYER_OPTIONS, data=st.data())
def test_lstm_load_state_dict(options, data):
    tick("fuzz:LSTM.load_state_dict")
    layer = lstmcore.LSTM(seed=3, **options)
    before = layer.state_dict()
    new = {k: data.draw(st.one_of(any_array(v.shape, max_abs=5.0), any_array(v.shape[:-1] + (v.shape[-1] + 1,))))
           for k, v in before.items()}
    if data.draw(st.booleans()):
        new.pop(sorted(new)[-1])
    _, exc = rejected_naming(lambda: layer.load_state_dict(new), "state_dict")
    after = layer.state_dict()
    for k in before:
        if exc is not None:
            np.testing.assert_array_equal(after[k], before[k])
        else:
            np.testing.assert_array_equal(after[k], as_valid(new[k], layer.dtype, before[k].shape))


@given(value=WEIRD)
def test_lstm_num_threads_and_seed(value):
    tick("fuzz:LSTM.num_threads")
    layer = lstmcore.LSTM(2, 2, seed=0)
    rejected_naming(lambda: setattr(layer, "num_threads", value), "num_threads")
    assert isinstance(layer.num_threads, int) and layer.num_threads >= 1


# ---------------------------------------------------------------------------------------- tasks
TASK_ARGS = {
    tasks.EmbeddedReber: dict(targets=st.sampled_from(["next", "legal"])),
    tasks.NoiseFreeLongLag: dict(p=st.integers(1, 30)),
    tasks.NoLocalRegularities: dict(p=st.integers(1, 30)),
    tasks.VeryLongLag: dict(p=st.integers(1, 30), q=st.integers(0, 30)),
    tasks.TwoSequence: dict(T=st.integers(4, 60), N=st.integers(1, 3), variant=st.sampled_from(["3a", "3b", "3c"])),
    tasks.Adding: dict(T=st.integers(20, 60)),
    tasks.Multiplication: dict(T=st.integers(20, 60)),
    tasks.TemporalOrder: dict(variant=st.sampled_from(["6a", "6b"])),
}
ENORMOUS = st.sampled_from([2**31, 2**40, 2**62, 10**30])


@given(cls=st.sampled_from(sorted(TASK_ARGS, key=lambda c: c.__name__)), data=st.data())
def test_task_constructors_and_sample(cls, data):
    tick("fuzz:tasks")
    kwargs = {k: data.draw(s) for k, s in TASK_ARGS[cls].items()}
    kwargs["dtype"] = data.draw(st.sampled_from([np.float32, np.float64]))
    bad = data.draw(st.sampled_from([None, "weird", "enormous"]))
    if bad is not None:
        key = data.draw(st.sampled_from(sorted(kwargs)))
        kwargs[key] = data.draw(ENORMOUS if bad == "enormous" and key in ("p", "q", "T", "N") else WEIRD)
    task, exc = rejected_naming(lambda: cls(**kwargs), *kwargs)
    if task is None:
        assert bad is not None, exc  # valid arguments are accepted
        return
    rng = data.draw(st.sampled_from(["generator", "generator", 0, None, np.random.RandomState(0)]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32))) if rng == "generator" else rng
    out, exc = rejected_naming(lambda: task.sample(rng), "rng")
    # only a numpy.random.Generator is an rng
    assert (out is None) == (not isinstance(rng, np.random.Generator)), exc
    if out is None:
        return
    x, target, mask = out
    L = x.shape[0]
    assert x.shape == (L, task.n_in) and target.shape == (L, task.n_out) and mask.shape == (L,)
    assert x.dtype == target.dtype == task.dtype and mask.dtype == bool and mask.any()
    check_finite(x, target)


# ------------------------------------------------------------------------------------ save/load
@given(kind=st.sampled_from(["LSTM1997", "LSTM"]), path=WEIRD, data=st.data())
def test_save_load_paths_and_bytes(kind, path, data, tmp_path_factory):
    tick("fuzz:save/load")
    d = tmp_path_factory.mktemp("fuzz")
    model = lstmcore.LSTM1997(2, 1, 2, seed=0) if kind == "LSTM1997" else lstmcore.LSTM(2, 2, seed=0)
    cls = type(model)
    if isinstance(path, (str, bytes)) and path:  # never write outside the temporary folder
        path = os.path.join(d, "m.npz")
    try:
        rejected_naming(lambda: model.save(path), "path")
    except OSError:  # "" and the like: the file system refuses, as open() would
        assert path == ""
    good = os.path.join(d, "good.npz")
    model.save(good)
    with open(good, "rb") as f:
        data_bytes = f.read()
    # random damage: truncation, one flipped byte, or appended garbage
    how = data.draw(st.sampled_from(["truncate", "flip", "append"]))
    i = data.draw(st.integers(0, len(data_bytes) - 1))
    if how == "truncate":
        damaged = data_bytes[:i]
    elif how == "flip":
        damaged = data_bytes[:i] + bytes([data_bytes[i] ^ 0xFF]) + data_bytes[i + 1:]
    else:
        damaged = data_bytes + data.draw(st.binary(min_size=1, max_size=64))
    bad = os.path.join(d, "bad.npz")
    with open(bad, "wb") as f:
        f.write(damaged)
    loaded, exc = rejected_naming(lambda: cls.load(bad), "path")
    if loaded is not None:  # damage the checksum cannot see (zip padding, trailing bytes): same model
        w = model.get_weights() if kind == "LSTM1997" else model.state_dict()
        w2 = loaded.get_weights() if kind == "LSTM1997" else loaded.state_dict()
        assert repr(loaded) == repr(model)
        for k in w:
            np.testing.assert_array_equal(w2[k], w[k])
