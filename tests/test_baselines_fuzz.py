"""Property-based fuzzing (hypothesis) of RecurrentNet's constructor and calls: every call either
succeeds with finite outputs of the documented shape, or raises ValueError / TypeError /
MemoryError naming the argument."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from casecount import tick
from lstmcore import _validation
from lstmcore.baselines import RecurrentNet

REJECT = (ValueError, TypeError, MemoryError)


@pytest.fixture(autouse=True, scope="module")
def same_memory_everywhere():
    """Enormous sizes are judged against a fixed 16 GiB machine, so they are refused everywhere."""
    real = _validation.memory_limit
    _validation.memory_limit = lambda: min(real(), 16 * 2**30)
    yield
    _validation.memory_limit = real


def rejected_naming(fn, *names):
    try:
        return fn(), None
    except REJECT as exc:
        assert any(n in str(exc) for n in names), f"{type(exc).__name__} does not name {names}: {exc}"
        return None, exc


sizes = st.one_of(st.integers(-2, 6), st.just(1 << 30), st.floats(0, 3), st.none(), st.text(max_size=2),
                  st.booleans())


@given(n_in=sizes, n_hidden=sizes, n_out=sizes,
       recurrence=st.sampled_from(["full", "hidden", "self", "elman", 3]),
       shortcut=st.one_of(st.booleans(), st.just(1)), bias=st.one_of(st.booleans(), st.just("no")),
       init_range=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.1)),
       out_activation=st.sampled_from(["logistic", "linear", "tanh"]),
       dtype=st.sampled_from([np.float32, np.float64, np.int32, "float16", None]))
def test_constructor(n_in, n_hidden, n_out, recurrence, shortcut, bias, init_range, out_activation, dtype):
    tick("fuzz:RecurrentNet()")
    net, exc = rejected_naming(
        lambda: RecurrentNet(n_in, n_hidden, n_out, recurrence=recurrence, shortcut=shortcut, bias=bias,
                             init_range=init_range, out_activation=out_activation, dtype=dtype, seed=0),
        "n_in", "n_hidden", "n_out", "recurrence", "shortcut", "bias", "init_range", "out_activation", "dtype")
    if net is not None:
        assert net.n_weights == sum(w.size for w in net.get_weights().values())


NET = RecurrentNet(3, 2, 2, recurrence="hidden", shortcut=True, seed=0)
arrays = st.one_of(
    hnp.arrays(dtype=st.sampled_from([np.float64, np.float32, np.int8, np.bool_, np.complex64, np.uint16]),
               shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
               elements=None),
    st.none(), st.text(max_size=3), st.lists(st.floats(), max_size=4))


@given(x=arrays, target=arrays, mask=arrays, method=st.sampled_from(["rtrl", "bptt", "elman", "adam"]),
       lr=st.one_of(st.floats(allow_nan=True), st.just(0.1)))
def test_calls(x, target, mask, method, lr):
    tick("fuzz:RecurrentNet calls")
    y, _ = rejected_naming(lambda: NET.forward(x), "x")
    if y is not None:
        assert y.shape == (np.asarray(x).shape[0], 2) and np.all(np.isfinite(y))
    out, _ = rejected_naming(lambda: NET.gradient(x, target, mask, method=method), "x", "target", "mask", "method")
    if out is not None:
        loss, grads = out
        assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())
    w = NET.get_weights()
    loss, _ = rejected_naming(lambda: NET.train_sequence(x, target, mask, lr=lr, method=method),
                              "x", "target", "mask", "method", "lr", "update")
    NET.set_weights(w)
