"""lstmcore.LSTMStream (LSTM.stream()): step-by-step inference equals the layer's forward pass over the
whole sequence, live parameters, the out= fast path, thread-count invariance, and argument checks."""
import numpy as np
import pytest

import lstmcore

CONFIGS = [  # (L, peepholes, bias, N, with_hx)
    (1, False, True, 1, False), (1, True, True, 4, True), (2, False, False, 5, True), (3, True, False, 3, False),
    (2, True, True, 17, True),  # several blocks of rows, a partial one
]


def make(L, peepholes, bias, dtype, I=4, H=6, seed=1):
    return lstmcore.LSTM(I, H, L, peepholes=peepholes, bias=bias, dtype=dtype, seed=seed, num_threads=2)


def case(rng, T, N, L, I, H, dtype, with_hx):
    x = rng.standard_normal((T, N, I)).astype(dtype)
    hx = None
    if with_hx:
        hx = (rng.standard_normal((L, N, H)).astype(dtype), rng.standard_normal((L, N, H)).astype(dtype))
    return x, hx


def tol(dtype):
    return dict(rtol=0, atol=1e-12) if dtype == np.float64 else dict(rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("L,peepholes,bias,N,with_hx", CONFIGS)
def test_steps_equal_forward(dtype, L, peepholes, bias, N, with_hx):
    rng = np.random.default_rng(L * 10 + N)
    m = make(L, peepholes, bias, dtype)
    x, hx = case(rng, 12, N, L, 4, 6, dtype, with_hx)
    out, (h_n, c_n) = m(x, hx)
    s = m.stream(N)
    s.reset(hx)
    steps = np.stack([s.step(x[t]) for t in range(len(x))])
    assert steps.dtype == dtype and steps.shape == out.shape
    np.testing.assert_allclose(steps, out, **tol(dtype))
    h, c = s.state
    np.testing.assert_allclose(h, h_n, **tol(dtype))
    np.testing.assert_allclose(c, c_n, **tol(dtype))
    # run() over chunks continues from the carried state: the same outputs
    s.reset(hx)
    chunks = np.concatenate([s.run(x[:5]), s.run(x[5:6]), s.run(x[6:])])
    np.testing.assert_allclose(chunks, out, **tol(dtype))
    # and out= fills the given array and returns it
    s.reset(hx)
    buf = np.empty((N, 6), dtype)
    for t in range(len(x)):
        assert s.step(x[t], out=buf) is buf
        np.testing.assert_allclose(buf, out[t], **tol(dtype))


def test_unbatched_stream():
    rng = np.random.default_rng(2)
    m = make(2, True, True, np.float64)
    x = rng.standard_normal((7, 4))
    hx = (rng.standard_normal((2, 6)), rng.standard_normal((2, 6)))
    out, (h_n, c_n) = m(x, hx)
    s = m.stream()
    assert s.batch_size is None
    s.reset(hx)
    steps = np.stack([s.step(x[t]) for t in range(7)])
    assert steps.shape == (7, 6)
    np.testing.assert_allclose(steps, out, rtol=0, atol=1e-12)
    assert s.state[0].shape == (2, 6)
    np.testing.assert_allclose(s.state[0], h_n, rtol=0, atol=1e-12)
    np.testing.assert_allclose(s.state[1], c_n, rtol=0, atol=1e-12)
    s.reset(hx)
    np.testing.assert_allclose(s.run(x), out, rtol=0, atol=1e-12)
    s.reset()
    assert not np.any(s.state[0]) and not np.any(s.state[1])


def test_inputs_are_converted_when_not_the_fast_path():
    m = make(1, False, True, np.float32)
    x = np.random.default_rng(3).standard_normal((3, 2, 4))
    out, _ = m(x.astype(np.float32))
    s = m.stream(2)
    results = [s.step(x[0]), s.step(x[1].tolist()), s.step(np.asfortranarray(x[2]))]  # float64, list, F-order
    np.testing.assert_allclose(np.stack(results), out, rtol=0, atol=1e-5)
    s.reset()
    assert s.step(np.zeros((2, 4), dtype=np.int64)).dtype == np.float32


def test_steps_return_fresh_arrays():
    m = make(1, False, True, np.float64)
    s = m.stream(1)
    x = np.ones((1, 4))
    a = s.step(x)
    b = s.step(x)
    assert a is not b and not np.shares_memory(a, b)
    assert not np.array_equal(a, b)  # the state moved on


def test_parameters_are_live():
    rng = np.random.default_rng(4)
    m = make(2, True, True, np.float64)
    x = rng.standard_normal((6, 3, 4))
    s = m.stream(3)
    for t in range(3):
        s.step(x[t])
    state = s.state
    # in-place updates (an optimizer, load_state_dict) reach the next step
    for p in m.parameters().values():
        p *= 1.5
    m.load_state_dict({k: v + 0.01 for k, v in m.state_dict().items()})
    expected, _ = m(x[3:], state)
    np.testing.assert_allclose(s.run(x[3:]), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bitwise_identical_for_thread_counts(dtype):
    rng = np.random.default_rng(5)
    N, I, H = 37, 16, 32  # enough work per step for the thread team, several blocks and a partial one
    x = rng.standard_normal((6, N, I)).astype(dtype)
    results = []
    for threads in (1, 2, 3):
        m = lstmcore.LSTM(I, H, 2, peepholes=True, dtype=dtype, seed=3, num_threads=threads)
        s = m.stream(N)
        assert s.num_threads == threads
        steps = np.stack([s.step(x[t]) for t in range(3)])
        results.append((steps, s.run(x[3:]), *s.state))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)


def test_bidirectional_layers_cannot_stream():
    m = lstmcore.LSTM(3, 4, bidirectional=True)
    with pytest.raises(ValueError, match="bidirectional.*future"):
        m.stream(2)


def test_bad_arguments():
    m = make(2, False, True, np.float32)
    for kwargs, exc, name in [(dict(batch_size=0), ValueError, "batch_size"),
                              (dict(batch_size=1.5), TypeError, "batch_size"),
                              (dict(batch_size=True), TypeError, "batch_size")]:
        with pytest.raises(exc, match=name):
            m.stream(**kwargs)
    with pytest.raises(TypeError, match="layer"):
        lstmcore.LSTMStream("not a layer")
    s = m.stream(3)
    good = np.zeros((3, 4), np.float32)
    for x_t, exc in [(np.zeros((3, 5), np.float32), ValueError), (np.zeros((2, 4), np.float32), ValueError),
                     (np.zeros(4, np.float32), ValueError), (np.zeros((1, 3, 4), np.float32), ValueError),
                     ("abc", TypeError), (None, TypeError), (np.zeros((3, 4), complex), TypeError),
                     (np.full((3, 4), np.nan, np.float32), ValueError), (np.full((3, 4), np.inf), ValueError),
                     ([[1, 2], [3]], TypeError)]:
        with pytest.raises(exc, match="x_t"):
            s.step(x_t)
    for out, exc in [(np.zeros((3, 5), np.float32), ValueError), (np.zeros((3, 6)), ValueError),
                     (np.zeros((3, 6), np.float32)[:, ::2], ValueError), ([0.0] * 18, TypeError)]:
        with pytest.raises(exc, match="out"):
            s.step(good, out=out)
    readonly = np.zeros((3, 6), np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="out"):
        s.step(good, out=readonly)
    for x, exc in [(np.zeros((2, 3, 5)), ValueError), (np.zeros((0, 3, 4)), ValueError), (np.zeros((3, 4)), ValueError),
                   ("abc", TypeError), (np.full((2, 3, 4), np.nan), ValueError)]:
        with pytest.raises(exc, match="x"):
            s.run(x)
    for hx, exc, name in [(np.zeros((2, 3, 6)), TypeError, "hx"),
                          ((np.zeros((2, 3, 6)), np.zeros((1, 3, 6))), ValueError, r"hx\[1\]"),
                          ((np.zeros((2, 3, 5)), np.zeros((2, 3, 6))), ValueError, r"hx\[0\]")]:
        with pytest.raises(exc, match=name):
            s.reset(hx)
    for value, exc in [(0, ValueError), ("2", TypeError)]:
        with pytest.raises(exc, match="num_threads"):
            s.num_threads = value
    # nothing above changed the state
    assert not np.any(s.state[0])


# ---- bad input never crashes (hypothesis) -------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

_ANY_ARRAY = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.int64, np.bool_, np.complex128, np.uint8]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6),
    elements=None)


_FUZZ_LAYER = lstmcore.LSTM(4, 6, dtype=np.float32, seed=0)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x_t=st.one_of(_ANY_ARRAY, st.none(), st.text(max_size=3), st.lists(st.floats(), max_size=5)),
       out=st.one_of(st.none(), _ANY_ARRAY))
def test_any_step_input_returns_or_raises_a_named_error(x_t, out):
    for obj in (_FUZZ_LAYER.stream(2), _FUZZ_LAYER.online(2)):
        try:
            h = obj.step(x_t, out=out)
        except (ValueError, TypeError) as exc:
            assert "x_t" in str(exc) or "out" in str(exc)
        else:
            assert h.shape == (2, 6) and h.dtype == np.float32 and np.isfinite(h).all()
            assert out is None or h is out
