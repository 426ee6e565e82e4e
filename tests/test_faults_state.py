"""State under faults: a stacked or bidirectional forward that does not complete leaves the layer
so that backward refuses; parameters() cannot be rebound (only changed in place, which every
stream, online trainer and optimizer sees); load_state_dict is all or nothing; dtype=None means
the class default; shape messages name T and N."""
import numpy as np
import pytest

import lstmcore
from lstmcore import optim


class Interrupted:
    """A layer direction whose forward is interrupted (as Ctrl-C between two layers would)."""

    def __init__(self, inner, exc):
        self.inner, self.exc = inner, exc

    def forward(self, *args):
        raise self.exc

    def backward(self, *args):
        return self.inner.backward(*args)


def data(layer, T=5, N=3):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(T, N, layer.input_size)).astype(layer.dtype)
    g = rng.normal(size=(T, N, layer.num_directions * layer.hidden_size)).astype(layer.dtype)
    return x, g


@pytest.mark.parametrize("kind,index", [("stacked", 1), ("bidirectional", 1), ("stacked", 2)])
@pytest.mark.parametrize("exc", [KeyboardInterrupt(), MemoryError("no room")])
def test_backward_refuses_after_an_incomplete_forward(kind, index, exc):
    layer = lstmcore.LSTM(3, 4, 3 if kind == "stacked" else 1, bidirectional=kind == "bidirectional",
                          dtype=np.float64, seed=0)
    x, g = data(layer)
    layer(x)
    layer.backward(g)  # a complete forward: fine
    real = layer._dirs[index]
    layer._dirs[index] = Interrupted(real, exc)
    with pytest.raises(type(exc)):
        layer(x * 2)  # the directions before `index` ran on the new input, the others did not
    layer._dirs[index] = real
    with pytest.raises(RuntimeError, match="the last forward did not complete"):
        layer.backward(g)
    # a complete forward makes backward work again, with the gradients of that forward alone
    layer(x * 2)
    grad_x = layer.backward(g)
    fresh = lstmcore.LSTM(3, 4, 3 if kind == "stacked" else 1, bidirectional=kind == "bidirectional",
                          dtype=np.float64, seed=0)
    fresh(x * 2)
    np.testing.assert_array_equal(grad_x, fresh.backward(g))
    for k in layer.grads:
        np.testing.assert_array_equal(layer.grads[k], fresh.grads[k])


def test_a_forward_refused_before_running_keeps_nothing_half_done():
    layer = lstmcore.LSTM(3, 4, 2, seed=0)
    x, g = data(layer)
    layer(x)
    with pytest.raises(ValueError, match="x"):
        layer(np.zeros((5, 3, 7)))  # refused before any layer runs
    layer.backward(g)  # still the gradients of the last complete forward


# ---- parameters() -----------------------------------------------------------------------------------

def test_parameters_cannot_be_rebound_and_in_place_changes_reach_every_consumer():
    layer = lstmcore.LSTM(3, 4, seed=0, dtype=np.float64)
    p = layer.parameters()
    stream = layer.stream(2)
    online = layer.online(2)
    opt = optim.SGD(p, lr=0.1)
    before = {k: v.copy() for k, v in p.items()}
    with pytest.raises(TypeError, match=r"parameters\(\)\['weight_hh_l0'\]: the entries are the live arrays .* "
                                        r"cannot be rebound"):
        p["weight_hh_l0"] = p["weight_hh_l0"] - 0.1
    with pytest.raises(TypeError, match="cannot be rebound"):
        p["extra"] = np.zeros(3)  # no new keys either (a save would write what load refuses)
    with pytest.raises(TypeError, match="cannot be removed"):
        del p["bias_ih_l0"]
    assert list(p) == list(layer.state_dict()) and "extra" not in p
    for k in p:
        np.testing.assert_array_equal(p[k], before[k])
    # in place: augmented assignment stores the same array back, which is allowed
    p["weight_hh_l0"] -= 0.5
    p["bias_ih_l0"][...] = 0.25
    opt.step({k: np.ones_like(v) for k, v in p.items()})
    x = np.random.default_rng(1).normal(size=(4, 2, 3))
    expected = layer(x)[0]
    np.testing.assert_array_equal(stream.run(x), expected)  # the stream sees the changes
    g = np.zeros((4, 2, 4))
    np.testing.assert_array_equal(online.run(x, g), expected)  # so does the online trainer
    assert layer.state_dict()["bias_ih_l0"][0] == 0.25 - 0.1


def test_online_grads_cannot_be_rebound():
    layer = lstmcore.LSTM(3, 4, seed=0, dtype=np.float64)
    online = layer.online(2)
    grads = online.grads
    with pytest.raises(TypeError, match=r"grads\['weight_ih_l0'\]: .*cannot be rebound"):
        grads["weight_ih_l0"] = np.zeros((16, 3))
    x = np.ones((3, 2, 3))
    online.run(x, np.ones((3, 2, 4)))
    grads["weight_ih_l0"] *= 0.5  # in place: fine
    kept = grads["weight_ih_l0"].copy()
    assert np.abs(kept).sum() > 0
    online.zero_grad()
    assert not grads["weight_ih_l0"].any()


# ---- load_state_dict: all or nothing ----------------------------------------------------------------

def test_load_state_dict_is_all_or_nothing():
    layer = lstmcore.LSTM(3, 4, 2, seed=0)
    x, g = data(layer)
    layer(x)
    before = layer.state_dict()
    new = lstmcore.LSTM(3, 4, 2, seed=1).state_dict()
    layer.parameters()["weight_hh_l1"].flags.writeable = False  # the last array of the order
    with pytest.raises(ValueError, match=r"parameters\(\)\['weight_hh_l1'\]: the live array is read-only"):
        layer.load_state_dict(new)
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    layer.backward(g)  # nothing changed: the last forward can still be differentiated
    layer.parameters()["weight_hh_l1"].flags.writeable = True
    layer.load_state_dict(new)
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(v, new[k])
    with pytest.raises(RuntimeError, match="load_state_dict was called after the last forward"):
        layer.backward(g)


def test_load_state_dict_interrupted_between_two_copies_restores_the_old_values(monkeypatch):
    layer = lstmcore.LSTM(3, 4, 2, seed=0)
    before = layer.state_dict()
    new = lstmcore.LSTM(3, 4, 2, seed=1).state_dict()
    real_copyto = np.copyto
    calls = []

    def copyto(dst, src, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_copyto(dst, src, **kwargs)

    monkeypatch.setattr(np, "copyto", copyto)
    with pytest.raises(KeyboardInterrupt):
        layer.load_state_dict(new)
    monkeypatch.undo()
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


# ---- small ones --------------------------------------------------------------------------------------

def test_dtype_none_means_the_class_default():
    assert lstmcore.LSTM(2, 3, dtype=None).dtype == np.float32
    assert lstmcore.LSTM(2, 3).dtype == np.float32
    assert lstmcore.LSTM1997(2, 1, 1, dtype=None).dtype == np.float64
    assert lstmcore.LSTM1997(2, 1, 1).dtype == np.float64


def test_shape_messages_name_the_time_and_batch_axes():
    layer = lstmcore.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"x: expected shape \(T, N, 3\), got \(5, 2, 4\)"):
        layer(np.zeros((5, 2, 4)))
    first = lstmcore.LSTM(3, 4, batch_first=True)
    with pytest.raises(ValueError, match=r"x: expected shape \(N, T, 3\), got \(5, 2, 4\)"):
        first(np.zeros((5, 2, 4)))
    with pytest.raises(ValueError, match=r"x: expected shape \(T, 3\) or \(N, T, 3\), got \(5,\)"):
        first(np.zeros(5))
