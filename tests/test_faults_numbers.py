"""Numbers under faults: a learning rate finite as a double but Inf in float32 is refused wherever it
would meet float32 weights (LSTM1997 training, its core entry point, the optimizers); optimizer
states with non-finite moments load as they were saved (as torch keeps them)."""
import io

import numpy as np
import pytest

import lstmcore
from lstmcore import _core
from lstmcore.optim import SGD, Adam

F32_MAX = r"3.40282e\+38"


def test_lstm1997_refuses_an_lr_that_overflows_float32():
    net = lstmcore.LSTM1997(2, 1, 1, dtype=np.float32, seed=0)
    before = net.get_weights()
    x, target = np.ones((3, 2)), np.full((3, 1), 0.5)
    for update in ("step", "sequence"):
        with pytest.raises(ValueError, match=rf"lr: expected a number <= {F32_MAX} \(the largest float32"):
            net.train_sequence(x, target, lr=1e39, update=update)
    with pytest.raises(ValueError, match="lr"):
        net.train_sequence(x, target, lr=1e39, update="sequence", mode="full")
    for k, v in net.get_weights().items():
        np.testing.assert_array_equal(v, before[k])
    # the core refuses it too (the experiment runner calls it directly)
    xs, ts = x.astype(np.float32), target.astype(np.float32)
    with pytest.raises(ValueError, match="lr: expected a finite number >= 0 in the network's precision"):
        net._net.train_sequence(xs, ts, None, 1e39, _core.UpdateSchedule.step)
    with pytest.raises(ValueError, match="lr"):
        net._net.train_sequence_full(xs, ts, None, 1e39)
    for k, v in net.get_weights().items():
        np.testing.assert_array_equal(v, before[k])
    # the largest float32 itself is finite: accepted (the weights may diverge, as with any huge lr)
    net.train_sequence(x, target, lr=float(np.finfo(np.float32).max))
    # float64 networks take it
    lstmcore.LSTM1997(2, 1, 1, seed=0).train_sequence(x, target, lr=1e39)


@pytest.mark.parametrize("make", [lambda p, lr: SGD(p, lr=lr), lambda p, lr: Adam(p, lr=lr)])
def test_optimizers_refuse_factors_that_overflow_the_parameters_dtype(make):
    params32 = lstmcore.LSTM(2, 3, seed=0).parameters()
    with pytest.raises(ValueError, match=rf"lr: expected a number <= {F32_MAX} \(the largest float32"):
        make(params32, 1e39)
    opt = make(params32, 0.1)
    with pytest.raises(ValueError, match="lr: expected a number <="):
        opt.lr = 1e39
    assert opt.lr == 0.1
    before = {k: v.copy() for k, v in params32.items()}
    opt.step({k: np.ones_like(v) for k, v in params32.items()})
    assert all(np.isfinite(v).all() for v in params32.values())
    assert any((params32[k] != before[k]).any() for k in before)
    make(lstmcore.LSTM(2, 3, dtype=np.float64).parameters(), 1e39)  # fine for float64 parameters
    with pytest.raises(ValueError, match="weight_decay: expected a number <="):
        SGD(params32, lr=0.1, weight_decay=1e39)
    with pytest.raises(ValueError, match="eps: expected a number <="):
        Adam(params32, eps=1e39)


def savez_round_trip(state):
    buf = io.BytesIO()
    np.savez(buf, **state)
    buf.seek(0)
    return dict(np.load(buf, allow_pickle=False))


def test_adam_state_with_infinite_moments_loads_as_saved():
    params = lstmcore.LSTM(2, 3, seed=0).parameters()
    opt = Adam(params, lr=1e-3)
    grads = {k: np.full_like(v, 1e30) for k, v in params.items()}  # g*g overflows float32
    with np.errstate(over="ignore"):
        opt.step(grads)
    state = opt.state_dict()
    assert np.isinf(state["exp_avg_sq.weight_ih_l0"]).all()
    loaded = savez_round_trip(state)
    other = Adam(lstmcore.LSTM(2, 3, seed=0).parameters(), lr=1e-3)
    other.load_state_dict(loaded)  # save and load agree
    for k, v in other.state_dict().items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(v, state[k])


def test_moments_are_kept_as_torch_keeps_them():
    torch = pytest.importorskip("torch")
    w = np.array([[0.5, -0.25, 1.0]], np.float32)
    g = np.array([[0.1, -0.2, 0.3]], np.float32)
    state = {"optimizer": "Adam", "step": 3, "lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8,
             "weight_decay": 0.0, "amsgrad": False, "decoupled_weight_decay": False, "maximize": False,
             "exp_avg.w": np.array([[0.1, np.inf, 0.2]], np.float32),
             "exp_avg_sq.w": np.array([[np.inf, 0.5, np.nan]], np.float32)}
    ours = {"w": w.copy()}
    opt = Adam(ours)
    opt.load_state_dict(savez_round_trip(state))
    with np.errstate(invalid="ignore"):
        opt.step({"w": g})

    tw = torch.nn.Parameter(torch.from_numpy(w.copy()))
    topt = torch.optim.Adam([tw], lr=0.1, foreach=False)
    tw.grad = torch.from_numpy(g.copy())
    topt.step()  # creates the state, then replaced by the same moments
    topt.load_state_dict({"state": {0: {"step": torch.tensor(3.0),
                                        "exp_avg": torch.from_numpy(state["exp_avg.w"].copy()),
                                        "exp_avg_sq": torch.from_numpy(state["exp_avg_sq.w"].copy())}},
                          "param_groups": topt.state_dict()["param_groups"]})
    with torch.no_grad():
        tw.copy_(torch.from_numpy(w.copy()))
    topt.step()
    np.testing.assert_array_equal(ours["w"], tw.detach().numpy())
    np.testing.assert_array_equal(opt.state_dict()["exp_avg_sq.w"], topt.state_dict()["state"][0]["exp_avg_sq"].numpy())
