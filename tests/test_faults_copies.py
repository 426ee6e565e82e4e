"""copy.copy, copy.deepcopy and pickle of every model class (LSTM1997, LSTM, LSTMStream, LSTMOnline)
and of the optimizers: the state holds configuration and arrays, never a lock or a core object;
copies behave exactly like their originals and are independent of them (copy.copy of a layer
shares its parameter arrays, as a shallow copy does, but nothing of the core)."""
import copy
import io
import multiprocessing
import operator
import pickle

import numpy as np
import pytest

import lstmcore
from lstmcore.optim import SGD, Adam


class RecordingUnpickler(pickle.Unpickler):
    """Loads a pickle and records every module.name it imports."""

    def __init__(self, data):
        super().__init__(io.BytesIO(data))
        self.names = []

    def find_class(self, module, name):
        self.names.append(f"{module}.{name}")
        return super().find_class(module, name)


def check_pickle_is_plain(obj):
    loader = RecordingUnpickler(pickle.dumps(obj))
    copy_ = loader.load()
    assert loader.names and any(n.startswith("lstmcore.") for n in loader.names)
    for name in loader.names:
        assert not name.startswith(("lstmcore._core", "_thread", "threading")), name
    return copy_


COPIES = {"pickle": check_pickle_is_plain, "deepcopy": copy.deepcopy}


def rng_x(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


@pytest.mark.parametrize("how", list(COPIES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm1997_copies(how, dtype):
    net = lstmcore.LSTM1997(3, 2, 2, 2, forget_gate=True, peepholes=True, bias="all", dtype=dtype, seed=1)
    x, target = rng_x((6, 3)), np.full((6, 2), 0.5)
    twin = COPIES[how](net)
    assert repr(twin) == repr(net)
    np.testing.assert_array_equal(twin.forward(x), net.forward(x))
    loss, grads = net.gradient(x, target)
    loss2, grads2 = twin.gradient(x, target)
    assert loss == loss2 and all(np.array_equal(grads[k], grads2[k]) for k in grads)
    net.train_sequence(x, target, lr=0.5)  # the copy is independent
    assert not np.array_equal(twin.forward(x), net.forward(x))
    shallow = copy.copy(twin)  # the core cannot share weights: also an independent network
    twin.train_sequence(x, target, lr=0.5)
    np.testing.assert_array_equal(shallow.forward(x), COPIES[how](shallow).forward(x))
    assert not np.array_equal(shallow.forward(x), twin.forward(x))


LAYERS = [dict(num_layers=2, bidirectional=True, peepholes=True, dtype=np.float64),
          dict(num_layers=1, bias=False, batch_first=True, dtype=np.float32)]


@pytest.mark.parametrize("how", list(COPIES))
@pytest.mark.parametrize("cfg", LAYERS, ids=str)
def test_lstm_copies(how, cfg):
    layer = lstmcore.LSTM(3, 4, seed=2, num_threads=2, **cfg)
    x = rng_x((5, 2, 3), cfg["dtype"])
    out, _ = layer(x)
    layer.backward(np.ones_like(out))
    twin = COPIES[how](layer)
    assert repr(twin) == repr(layer) and twin.num_threads == 2
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(twin.state_dict()[k], v)
        np.testing.assert_array_equal(twin.grads[k], layer.grads[k])
    with pytest.raises(RuntimeError, match="call forward first"):  # the last forward is not copied
        twin.backward(np.ones_like(out))
    out2, _ = twin(x)
    np.testing.assert_array_equal(out2, out)
    for p in layer.parameters().values():  # independent parameters
        p += 1
    assert not np.array_equal(twin(x)[0], layer(x)[0])
    with pytest.raises(TypeError, match="cannot be rebound"):
        twin.parameters()["weight_ih_l0"] = np.zeros((16, 3))


def test_shallow_copy_of_a_layer_shares_parameters_not_caches():
    layer = lstmcore.LSTM(3, 4, 2, seed=0, dtype=np.float64)
    shallow = copy.copy(layer)
    for k in layer.parameters():
        assert shallow.parameters()[k] is layer.parameters()[k]
    x1, x2 = rng_x((5, 2, 3), seed=1), rng_x((5, 2, 3), seed=2)
    out1, _ = layer(x1)
    shallow(x2)  # its own cores: the original's saved forward is untouched
    grad_x = layer.backward(np.ones_like(out1))
    fresh = lstmcore.LSTM(3, 4, 2, seed=0, dtype=np.float64)
    fresh(x1)
    np.testing.assert_array_equal(grad_x, fresh.backward(np.ones_like(out1)))


@pytest.mark.parametrize("how", list(COPIES))
def test_layer_and_optimizer_copied_together_stay_bound(how):
    layer = lstmcore.LSTM(3, 4, seed=0)
    opt = Adam(layer.parameters(), lr=0.01)
    grads = {k: np.ones_like(v) for k, v in layer.parameters().items()}
    opt.step(grads)
    layer2, opt2 = COPIES[how]((layer, opt))
    assert opt2.step_count == 1
    for k in layer2.parameters():
        assert opt2.params[k] is layer2.parameters()[k]  # the copy's optimizer updates the copy's layer
    opt.step(grads)
    opt2.step(grads)
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(layer2.state_dict()[k], v)
    before = layer.state_dict()
    opt2.step(grads)
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(v, before[k])  # the original is untouched


@pytest.mark.parametrize("how", list(COPIES) + ["copy"])
@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                                  lambda p: Adam(p, lr=0.01, amsgrad=True)], ids=["SGD", "Adam"])
def test_optimizer_copies_continue_identically(how, make):
    copier = copy.copy if how == "copy" else COPIES[how]
    params = {"w": rng_x((2, 3)), "b": rng_x((2,), np.float32)}
    opt = make(params)
    g = {"w": np.ones((2, 3)), "b": np.ones(2, np.float32)}
    opt.step(g)
    twin = copier(opt)
    state, state2 = opt.state_dict(), twin.state_dict()
    assert state.keys() == state2.keys()
    for k in state:
        np.testing.assert_array_equal(state2[k], state[k])
    if how == "copy":
        assert twin.params["w"] is params["w"]  # shallow: the same parameters
    else:
        before = {k: v.copy() for k, v in params.items()}
        twin.step(g)
        for k in params:
            np.testing.assert_array_equal(params[k], before[k])


@pytest.mark.parametrize("how", list(COPIES) + ["copy"])
@pytest.mark.parametrize("batch", [None, 3])
def test_stream_copies_continue_from_the_same_state(how, batch):
    copier = copy.copy if how == "copy" else COPIES[how]
    layer = lstmcore.LSTM(3, 4, 2, peepholes=True, seed=0, dtype=np.float64)
    stream = layer.stream(batch)
    shape = (6, 3) if batch is None else (6, batch, 3)
    x = rng_x(shape)
    stream.run(x[:3])
    twin = copier(stream)
    assert twin.batch_size == batch
    assert (twin.layer is layer) == (how == "copy")
    np.testing.assert_array_equal(twin.run(x[3:]), stream.run(x[3:]))
    for a, b in zip(twin.state, stream.state):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("how", list(COPIES) + ["copy"])
@pytest.mark.parametrize("batch", [None, 9])
def test_online_copies_continue_from_the_same_traces(how, batch):
    copier = copy.copy if how == "copy" else COPIES[how]
    layer = lstmcore.LSTM(3, 4, peepholes=True, seed=0, dtype=np.float64)
    online = layer.online(batch)
    shape_x = (5, 3) if batch is None else (5, batch, 3)
    shape_h = (5, 4) if batch is None else (5, batch, 4)
    x, g = rng_x(shape_x, seed=1), rng_x(shape_h, seed=2)
    online.run(x[:2], g[:2])
    online.step(x[2])  # mid-step: accumulate still to come
    twin = copier(online)
    for k in online.grads:
        np.testing.assert_array_equal(twin.grads[k], online.grads[k])
    twin.accumulate(g[2])
    online.accumulate(g[2])
    np.testing.assert_array_equal(twin.run(x[3:], g[3:]), online.run(x[3:], g[3:]))
    for k in online.grads:
        np.testing.assert_array_equal(twin.grads[k], online.grads[k])
        assert twin.grads[k] is not online.grads[k]
    # and equal to the truncated backward pass over the whole sequence
    ref = lstmcore.LSTM(3, 4, peepholes=True, seed=0, dtype=np.float64)
    ref(x)
    ref.backward(g, truncated=True)
    for k in online.grads:
        np.testing.assert_allclose(twin.grads[k], ref.grads[k], rtol=1e-10, atol=1e-12)


def test_models_travel_to_spawned_worker_processes():
    layer = lstmcore.LSTM(3, 4, 2, seed=0)
    net = lstmcore.LSTM1997(3, 2, 2, seed=0)
    x = rng_x((5, 2, 3), np.float32)
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: everything goes by pickle
    with ctx.Pool(1) as pool:
        out, _ = pool.apply_async(operator.methodcaller("forward", x), (layer,)).get(timeout=300)
        y = pool.apply_async(operator.methodcaller("forward", x[:, 0]), (net,)).get(timeout=300)
    np.testing.assert_array_equal(out, layer(x)[0])
    np.testing.assert_array_equal(y, net.forward(x[:, 0]))
