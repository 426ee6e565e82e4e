"""lstmcore.optim: SGD and Adam/AdamW against torch.optim, gradient clipping against
torch.nn.utils, in-place and allocation-free updates of live parameters, state round trips, and
argument checks."""
import math
import tracemalloc

import numpy as np
import pytest

import lstmcore
from lstmcore.optim import SGD, Adam, clip_grad_norm, clip_grad_value

SHAPES = {"weight": (5, 3), "bias": (5,), "gain": (1,), "scale": (), "kernel": (2, 3, 4)}
TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=1e-6, atol=1e-6)}
DTYPES = [np.float64, np.float32]


def make_params(rng, dtype):
    return {k: np.asarray(rng.standard_normal(s), dtype=dtype) for k, s in SHAPES.items()}


def make_grads(rng, params):
    return {k: np.asarray(rng.standard_normal(p.shape), dtype=p.dtype) for k, p in params.items()}


def run_parity(torch, ours_cls, torch_cls, kwargs, torch_kwargs, dtype, steps=10, lr_change=None):
    """Both optimizers over the same parameters and random gradients; compare after every step."""
    rng = np.random.default_rng(7)
    params = make_params(rng, dtype)
    tparams = {k: torch.nn.Parameter(torch.from_numpy(p.copy())) for k, p in params.items()}
    opt = ours_cls(params, **kwargs)
    topt = torch_cls(list(tparams.values()), foreach=False, **torch_kwargs)
    for step in range(steps):
        if lr_change is not None and step == steps // 2:
            opt.lr = lr_change
            topt.param_groups[0]["lr"] = lr_change
        grads = make_grads(rng, params)
        for k, t in tparams.items():
            t.grad = torch.from_numpy(grads[k].copy())
        opt.step(grads)
        topt.step()
        for k, p in params.items():
            assert p.dtype == dtype
            np.testing.assert_allclose(p, tparams[k].detach().numpy(), **TOL[dtype], err_msg=f"step {step + 1}, {k}")
    return opt


# ---- parity with torch.optim --------------------------------------------------------------------

SGD_CONFIGS = {
    "plain": dict(lr=0.1),
    "momentum": dict(lr=0.05, momentum=0.9),
    "dampening": dict(lr=0.05, momentum=0.8, dampening=0.3),
    "nesterov": dict(lr=0.05, momentum=0.9, nesterov=True),
    "weight_decay": dict(lr=0.1, weight_decay=0.05),
    "maximize": dict(lr=0.1, maximize=True),
    "all": dict(lr=0.02, momentum=0.7, dampening=0.1, weight_decay=0.01, maximize=True),
    "nesterov_wd_max": dict(lr=0.03, momentum=0.5, nesterov=True, weight_decay=0.2, maximize=True),
    "lr0": dict(lr=0.0, momentum=0.9),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(SGD_CONFIGS))
def test_sgd_matches_torch(name, dtype):
    torch = pytest.importorskip("torch")
    cfg = SGD_CONFIGS[name]
    run_parity(torch, SGD, torch.optim.SGD, cfg, cfg, dtype, lr_change=0.01)


ADAM_CONFIGS = {
    "default": dict(),
    "lr": dict(lr=0.05),
    "amsgrad": dict(lr=0.01, amsgrad=True),
    "weight_decay": dict(lr=0.01, weight_decay=0.1),
    "weight_decay_amsgrad": dict(lr=0.01, weight_decay=0.1, amsgrad=True),
    "adamw": dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    "adamw_amsgrad": dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True),
    "betas_eps": dict(lr=0.02, betas=(0.3, 0.5), eps=1e-3),  # lerp weight 0.7: torch's other branch
    "beta1_0": dict(lr=0.02, betas=(0.0, 0.0)),
    "maximize": dict(lr=0.01, maximize=True, weight_decay=0.05, amsgrad=True),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(ADAM_CONFIGS))
def test_adam_matches_torch(name, dtype):
    torch = pytest.importorskip("torch")
    cfg = ADAM_CONFIGS[name]
    run_parity(torch, Adam, torch.optim.Adam, cfg, cfg, dtype, lr_change=0.003)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("amsgrad", [False, True])
def test_decoupled_adam_matches_torch_adamw(amsgrad, dtype):
    torch = pytest.importorskip("torch")
    ours = dict(lr=0.01, weight_decay=0.05, amsgrad=amsgrad, decoupled_weight_decay=True)
    theirs = dict(lr=0.01, weight_decay=0.05, amsgrad=amsgrad)
    run_parity(torch, Adam, torch.optim.AdamW, ours, theirs, dtype)


def test_long_run_bias_correction_matches_torch():
    torch = pytest.importorskip("torch")
    cfg = dict(lr=0.001, amsgrad=True, weight_decay=0.01)
    run_parity(torch, Adam, torch.optim.Adam, cfg, cfg, np.float64, steps=200)


# ---- gradient clipping --------------------------------------------------------------------------

def clip_case(rng, dtype):
    return {k: np.asarray(rng.standard_normal(s) * 3, dtype=dtype) for k, s in SHAPES.items()}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, math.inf, "inf", 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e3, 0.0])
def test_clip_grad_norm_matches_torch(max_norm, norm_type, dtype):
    torch = pytest.importorskip("torch")
    grads = clip_case(np.random.default_rng(3), dtype)
    tgrads = [torch.from_numpy(g.copy()) for g in grads.values()]
    before = {k: g.copy() for k, g in grads.items()}
    total = clip_grad_norm(grads, max_norm, norm_type)
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in tgrads]
    for p, g in zip(params, tgrads):
        p.grad = g
    ttotal = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type, foreach=False)
    assert isinstance(total, float)
    np.testing.assert_allclose(total, float(ttotal), **TOL[dtype])
    for (k, g), p in zip(grads.items(), params):
        np.testing.assert_allclose(g, p.grad.numpy(), **TOL[dtype], err_msg=k)
    if total < max_norm:  # below the threshold: untouched
        for k, g in grads.items():
            np.testing.assert_array_equal(g, before[k])


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_clip_grad_norm_nonfinite_matches_torch(bad):
    torch = pytest.importorskip("torch")
    grads = clip_case(np.random.default_rng(4), np.float64)
    grads["bias"][1] = bad
    tparams = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads.values()]
    for p, g in zip(tparams, grads.values()):
        p.grad = torch.from_numpy(g.copy())
    before = {k: g.copy() for k, g in grads.items()}
    with pytest.raises(ValueError, match="grads: the total norm"):
        clip_grad_norm(grads, 1.0, error_if_nonfinite=True)
    for k, g in grads.items():  # nothing changed
        np.testing.assert_array_equal(g, before[k])
    total = clip_grad_norm(grads, 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, 1.0, foreach=False)
    np.testing.assert_equal(total, float(ttotal))
    for g, p in zip(grads.values(), tparams):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-12, atol=1e-12)  # NaN where torch has NaN


def test_clip_grad_norm_inputs():
    rng = np.random.default_rng(5)
    g = rng.standard_normal((4, 4))
    total = np.linalg.norm(g)
    assert clip_grad_norm(g, 1.0) == pytest.approx(total, rel=1e-12)  # one array
    assert np.linalg.norm(g) == pytest.approx(1.0, rel=1e-5)
    gs = [rng.standard_normal(3), rng.standard_normal((2, 2)).astype(np.float32)]  # a list, mixed dtypes
    total = math.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in gs))
    assert clip_grad_norm(gs, 0.1) == pytest.approx(total, rel=1e-6)
    assert clip_grad_norm({}, 1.0) == 0.0
    assert clip_grad_norm({"empty": np.zeros((0, 3))}, 1.0) == 0.0
    strided = np.arange(12.0).reshape(3, 4)[:, ::2]  # a non-contiguous view is clipped in place
    clip_grad_norm([strided], 1.0, 1)
    assert np.abs(strided).sum() == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_float32_big_values_no_overflow():
    g = np.full(10, 1e30, np.float32)  # squares overflow float32; the norm is taken in float64
    total = clip_grad_norm([g], 1.0)
    assert total == pytest.approx(math.sqrt(10) * 1e30, rel=1e-6)
    assert np.linalg.norm(g.astype(np.float64)) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("clip_value", [0.5, 0.0, 10.0])
def test_clip_grad_value_matches_torch(clip_value, dtype):
    torch = pytest.importorskip("torch")
    grads = clip_case(np.random.default_rng(6), dtype)
    grads["weight"][0, 0] = np.nan
    expected = [torch.from_numpy(g.copy()) for g in grads.values()]
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in expected]
    for p, g in zip(params, expected):
        p.grad = g
    torch.nn.utils.clip_grad_value_(params, clip_value, foreach=False)
    ids = {k: id(g) for k, g in grads.items()}
    assert clip_grad_value(grads, clip_value) is None
    for (k, g), p in zip(grads.items(), params):
        assert id(g) == ids[k]
        np.testing.assert_array_equal(g, p.grad.numpy(), err_msg=k)


# ---- in place, allocation-free, on an LSTM's live parameters ------------------------------------

@pytest.mark.parametrize("make_opt", [lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                                      lambda p: Adam(p, lr=0.01, amsgrad=True)], ids=["sgd", "adam"])
def test_step_updates_lstm_parameters_in_place(make_opt):
    rng = np.random.default_rng(8)
    lstm = lstmcore.LSTM(3, 4, num_layers=2, dtype=np.float32, seed=1, num_threads=1)
    live = lstm.parameters()
    arrays = {k: (v, v.__array_interface__["data"][0]) for k, v in live.items()}
    before = lstm.state_dict()
    opt = make_opt(live)
    x = rng.standard_normal((6, 2, 3)).astype(np.float32)
    for _ in range(3):
        out, _ = lstm(x)
        lstm.backward(np.ones_like(out))
        opt.step(lstm.grads)
    for k, v in lstm.parameters().items():
        assert v is arrays[k][0] and v.__array_interface__["data"][0] == arrays[k][1], k
        assert v.dtype == np.float32 and v.flags.c_contiguous
        assert not np.array_equal(v, before[k]), k
        assert opt.params[k] is v
    # the layer computes with the updated arrays
    fresh = lstmcore.LSTM(3, 4, num_layers=2, dtype=np.float32, seed=2, num_threads=1)
    fresh.load_state_dict(lstm.state_dict())
    np.testing.assert_array_equal(fresh(x)[0], lstm(x)[0])


@pytest.mark.parametrize("make_opt", [
    lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True),
    lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.5),
    lambda p: Adam(p, lr=0.01, amsgrad=True, weight_decay=0.1, maximize=True),
    lambda p: Adam(p, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)],
    ids=["sgd-nesterov", "sgd-dampening", "adam", "adamw"])
def test_steady_state_step_allocates_no_arrays(make_opt):
    rng = np.random.default_rng(9)
    params = {"a": rng.standard_normal((200, 250)), "b": rng.standard_normal(300).astype(np.float32)}
    grads = {k: rng.standard_normal(p.shape).astype(p.dtype) for k, p in params.items()}
    opt = make_opt(params)
    opt.step(grads)
    opt.step(grads)
    tracemalloc.start()
    try:
        opt.step(grads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16_000, peak  # the arrays are 400 kB and 1.2 kB; a copy of either would show


# ---- optimizer state ----------------------------------------------------------------------------

@pytest.mark.parametrize("make_opt", [lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.2),
                                      lambda p: Adam(p, lr=0.01, amsgrad=True, weight_decay=0.01)],
                         ids=["sgd", "adam"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_state_dict_round_trip_through_npz(make_opt, dtype, tmp_path):
    rng = np.random.default_rng(10)
    params = make_params(rng, dtype)
    grads = [make_grads(rng, params) for _ in range(8)]
    reference = {k: p.copy() for k, p in params.items()}
    ref_opt = make_opt(reference)
    for g in grads:
        ref_opt.step(g)

    opt = make_opt(params)
    for g in grads[:4]:
        opt.step(g)
    opt.lr = 0.02
    state = opt.state_dict()
    assert state["optimizer"] == type(opt).__name__ and state["step"] == 4
    for k, v in state.items():  # copies
        if isinstance(v, np.ndarray):
            v += 1.0
    state = opt.state_dict()
    np.savez(tmp_path / "opt.npz", **state)
    checkpoint = {k: p.copy() for k, p in params.items()}

    resumed_params = {k: p.copy() for k, p in checkpoint.items()}
    resumed = make_opt(resumed_params)
    with np.load(tmp_path / "opt.npz") as f:  # no pickle needed
        resumed.load_state_dict(f)
    assert resumed.step_count == 4 and resumed.lr == 0.02
    resumed.lr = opt.lr = ref_opt.lr = 0.01  # same lr on all three from here on
    for g in grads[4:]:
        opt.step(g)
        resumed.step(g)
    for k in params:
        np.testing.assert_array_equal(resumed_params[k], params[k])
    if isinstance(opt, Adam):
        assert set(state) >= {f"max_exp_avg_sq.{k}" for k in params}


def test_state_dict_contents_and_zero_state():
    rng = np.random.default_rng(11)
    params = make_params(rng, np.float64)
    opt = SGD(params, lr=0.1, momentum=0.9)
    assert set(opt.state_dict()) == {"optimizer", "step", "lr", "momentum", "dampening", "nesterov", "weight_decay",
                                     "maximize", *[f"momentum_buffer.{k}" for k in params]}
    assert set(SGD(params, lr=0.1).state_dict()) == {"optimizer", "step", "lr", "momentum", "dampening", "nesterov",
                                                     "weight_decay", "maximize"}
    adam = Adam(params)
    assert {k for k in adam.state_dict() if "." in k} == {f"{b}.{k}" for b in ("exp_avg", "exp_avg_sq") for k in params}
    # zero_state: the next steps are those of a fresh optimizer
    grads = [make_grads(rng, params) for _ in range(3)]
    for g in grads:
        opt.step(g)
    opt.zero_state()
    assert opt.step_count == 0
    a = {k: p.copy() for k, p in params.items()}
    fresh = SGD(a, lr=0.1, momentum=0.9)
    for g in grads:
        opt.step(g)
        fresh.step(g)
    for k in params:
        np.testing.assert_array_equal(params[k], a[k])


def test_load_state_dict_switches_amsgrad_buffers():
    rng = np.random.default_rng(12)
    params = make_params(rng, np.float64)
    src = Adam({k: p.copy() for k, p in params.items()}, amsgrad=True)
    src.step(make_grads(rng, params))
    dst = Adam(params)
    dst.load_state_dict(src.state_dict())
    assert dst.amsgrad and dst.step_count == 1
    assert set(dst.state_dict()) == set(src.state_dict())


# ---- bad input ----------------------------------------------------------------------------------

def good_params():
    return {"w": np.zeros((2, 3)), "b": np.zeros(2, np.float32)}


def shared_params():
    buf = np.zeros(10)
    return {"x": buf[:6], "y": buf[4:]}


def read_only():
    a = np.zeros(3)
    a.flags.writeable = False
    return {"a": a}


BAD_PARAMS = [
    (lambda: [np.zeros(3)], TypeError, "params: expected a mapping"),
    (lambda: {}, ValueError, "params: expected at least one"),
    (lambda: {1: np.zeros(3)}, TypeError, "params: expected str keys"),
    (lambda: {"a": [1.0, 2.0]}, TypeError, r"params\['a'\]: expected a numpy.ndarray"),
    (lambda: {"a": np.zeros(3, int)}, TypeError, r"params\['a'\]: expected dtype float32 or float64, got int64"),
    (lambda: {"a": np.zeros(3, np.float16)}, TypeError, r"params\['a'\]: expected dtype"),
    (read_only, ValueError, r"params\['a'\]: expected a writeable"),
    (shared_params, ValueError, "params: expected separate arrays, got 'x' and 'y'"),
    (lambda: {"a": np.zeros(3), "b": None}, TypeError, r"params\['b'\]"),
]


@pytest.mark.parametrize("cls", [SGD, Adam])
@pytest.mark.parametrize("make, exc, match", BAD_PARAMS)
def test_bad_params(cls, make, exc, match):
    with pytest.raises(exc, match=match):
        cls(make(), lr=0.1)


BAD_SGD = [
    (dict(lr=-0.1), ValueError, "lr: expected a number >= 0"),
    (dict(lr="0.1"), TypeError, "lr: expected a real number"),
    (dict(lr=True), TypeError, "lr"),
    (dict(lr=float("nan")), ValueError, "lr: expected a finite"),
    (dict(lr=0.1, momentum=-0.5), ValueError, "momentum"),
    (dict(lr=0.1, momentum=None), TypeError, "momentum"),
    (dict(lr=0.1, momentum=0.9, dampening=-0.1), ValueError, "dampening"),
    (dict(lr=0.1, momentum=0.9, dampening=1.5), ValueError, r"dampening: expected a number in \[0, 1\]"),
    (dict(lr=0.1, nesterov=True), ValueError, "nesterov: Nesterov momentum requires momentum > 0"),
    (dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "nesterov"),
    (dict(lr=0.1, momentum=0.9, nesterov="yes"), TypeError, "nesterov: expected True or False"),
    (dict(lr=0.1, weight_decay=-1e-4), ValueError, "weight_decay"),
    (dict(lr=0.1, weight_decay=float("inf")), ValueError, "weight_decay"),
    (dict(lr=0.1, maximize=1), TypeError, "maximize: expected True or False"),
]


@pytest.mark.parametrize("kwargs, exc, match", BAD_SGD)
def test_bad_sgd_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        SGD(good_params(), **kwargs)


def test_sgd_requires_lr():
    with pytest.raises(TypeError):
        SGD(good_params())


BAD_ADAM = [
    (dict(lr=-1e-3), ValueError, "lr"),
    (dict(lr=[1e-3]), TypeError, "lr"),
    (dict(betas=(1.0, 0.999)), ValueError, r"betas\[0\]: expected a number in \[0, 1\), got 1.0"),
    (dict(betas=(0.9, -0.1)), ValueError, r"betas\[1\]: expected a number >= 0"),
    (dict(betas=(0.9, 1.5)), ValueError, r"betas\[1\]"),
    (dict(betas=(0.9,)), TypeError, "betas: expected a pair"),
    (dict(betas=0.9), TypeError, "betas: expected a pair"),
    (dict(betas=(0.9, "x")), TypeError, r"betas\[1\]"),
    (dict(betas=(float("nan"), 0.9)), ValueError, r"betas\[0\]"),
    (dict(eps=-1e-8), ValueError, "eps"),
    (dict(eps=None), TypeError, "eps"),
    (dict(weight_decay=-0.1), ValueError, "weight_decay"),
    (dict(amsgrad=None), TypeError, "amsgrad"),
    (dict(decoupled_weight_decay="yes"), TypeError, "decoupled_weight_decay"),
    (dict(maximize=0), TypeError, "maximize"),
]


@pytest.mark.parametrize("kwargs, exc, match", BAD_ADAM)
def test_bad_adam_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Adam(good_params(), **kwargs)


@pytest.mark.parametrize("cls", [SGD, Adam])
@pytest.mark.parametrize("value, exc", [(-1.0, ValueError), ("fast", TypeError), (float("inf"), ValueError)])
def test_bad_lr_setter(cls, value, exc):
    opt = cls(good_params(), lr=0.1)
    with pytest.raises(exc, match="lr"):
        opt.lr = value
    assert opt.lr == 0.1
    opt.lr = 0.5
    assert opt.lr == 0.5 and opt.state_dict()["lr"] == 0.5


def bad_grads():
    g = {"w": np.ones((2, 3)), "b": np.ones(2, np.float32)}
    return [
        ([g["w"], g["b"]], TypeError, "grads: expected a mapping"),
        ({"w": g["w"]}, ValueError, r"grads: expected keys \['w', 'b'\]; missing \['b'\], unexpected \[\]"),
        ({**g, "extra": np.ones(1)}, ValueError, r"missing \[\], unexpected \['extra'\]"),
        ({**g, "w": np.ones((3, 2))}, ValueError, r"grads\['w'\]: expected shape \(2, 3\), got \(3, 2\)"),
        ({**g, "b": np.ones((2, 1), np.float32)}, ValueError, r"grads\['b'\]: expected shape \(2,\)"),
        ({**g, "b": np.array([1.0, np.nan], np.float32)}, ValueError, r"grads\['b'\]: expected finite"),
        ({**g, "w": np.full((2, 3), np.inf)}, ValueError, r"grads\['w'\]: expected finite"),
        ({**g, "w": np.full((2, 3), "a")}, TypeError, r"grads\['w'\]"),
        ({**g, "w": None}, TypeError, r"grads\['w'\]"),
    ]


@pytest.mark.parametrize("cls", [SGD, Adam])
@pytest.mark.parametrize("case", range(len(bad_grads())))
def test_bad_grads_change_nothing(cls, case):
    grads, exc, match = bad_grads()[case]
    params = good_params()
    opt = cls(params, lr=0.1)
    opt.step({"w": np.ones((2, 3)), "b": np.ones(2, np.float32)})
    before = ({k: p.copy() for k, p in params.items()}, opt.state_dict())
    with pytest.raises(exc, match=match):
        opt.step(grads)
    after = opt.state_dict()
    assert after["step"] == before[1]["step"] == 1
    for k, p in params.items():
        np.testing.assert_array_equal(p, before[0][k])
    for k, v in before[1].items():
        np.testing.assert_array_equal(after[k], v)


def test_grads_of_other_real_dtypes_are_converted():
    params = good_params()
    opt = SGD(params, lr=0.5)
    opt.step({"w": np.ones((2, 3), np.float32), "b": [1, 2]})
    np.testing.assert_array_equal(params["w"], -0.5)
    np.testing.assert_array_equal(params["b"], np.array([-0.5, -1.0], np.float32))


def bad_states():
    params = good_params()
    state = Adam(params, amsgrad=True).state_dict()
    drop = dict(state)
    del drop["exp_avg.w"]
    return [
        ([1, 2], TypeError, "state_dict: expected a mapping"),
        ({**state, "optimizer": "SGD"}, ValueError, r"state_dict\['optimizer'\]: expected 'Adam', got 'SGD'"),
        ({k: v for k, v in state.items() if k != "optimizer"}, ValueError, r"state_dict\['optimizer'\]"),
        ({k: v for k, v in state.items() if k != "step"}, ValueError,
         r"state_dict: expected keys .*missing \['step'\]"),
        ({k: v for k, v in state.items() if k != "eps"}, ValueError, r"missing \['eps'\]"),
        (drop, ValueError, r"state_dict: expected keys .*missing \['exp_avg.w'\]"),
        ({**state, "exp_avg.z": np.zeros(2)}, ValueError, r"unexpected \['exp_avg.z'\]"),
        ({**state, "amsgrad": False}, ValueError, r"unexpected \[.*'max_exp_avg_sq.w'"),
        ({**state, "step": -1}, ValueError, r"state_dict\['step'\]: expected an integer >= 0"),
        ({**state, "step": 1.5}, TypeError, r"state_dict\['step'\]: expected an integer"),
        ({**state, "step": "3"}, TypeError, r"state_dict\['step'\]"),
        ({**state, "lr": -0.1}, ValueError, r"state_dict\['lr'\]: expected a number >= 0"),
        ({**state, "betas": (0.9, 1.0)}, ValueError, r"state_dict\['betas'\]\[1\]"),
        ({**state, "amsgrad": "no"}, TypeError, r"state_dict\['amsgrad'\]"),
        ({**state, "exp_avg.w": np.zeros((3, 2))}, ValueError, r"state_dict\['exp_avg.w'\]: expected shape \(2, 3\)"),
        # finite as a double, Inf in float32 (the dtype of "b")
        ({**state, "lr": 1e39}, ValueError, r"state_dict\['lr'\]: expected a number <= 3.40282e\+38 \(the largest "
                                            r"float32"),
    ]


@pytest.mark.parametrize("case", range(len(bad_states())))
def test_bad_state_dict_changes_nothing(case):
    state, exc, match = bad_states()[case]
    params = good_params()
    opt = Adam(params, lr=0.1, amsgrad=True)
    opt.step({"w": np.ones((2, 3)), "b": np.ones(2, np.float32)})
    before = opt.state_dict()
    with pytest.raises(exc, match=match):
        opt.load_state_dict(state)
    after = opt.state_dict()
    assert set(after) == set(before)
    for k, v in before.items():
        np.testing.assert_array_equal(after[k], v)


def test_sgd_state_dict_checks():
    opt = SGD(good_params(), lr=0.1, momentum=0.9)
    state = opt.state_dict()
    with pytest.raises(ValueError, match=r"state_dict\['nesterov'\]"):
        opt.load_state_dict({**state, "nesterov": True, "dampening": 0.5})
    with pytest.raises(ValueError, match=r"state_dict\['optimizer'\]: expected 'SGD'"):
        opt.load_state_dict(Adam(good_params()).state_dict())


BAD_CLIP = [
    (lambda g: clip_grad_norm(g, -1.0), ValueError, "max_norm: expected a number >= 0"),
    (lambda g: clip_grad_norm(g, "1"), TypeError, "max_norm"),
    (lambda g: clip_grad_norm(g, float("nan")), ValueError, "max_norm"),
    (lambda g: clip_grad_norm(g, 1.0, 0), ValueError, "norm_type: expected a number > 0 or inf, got 0.0"),
    (lambda g: clip_grad_norm(g, 1.0, -2.0), ValueError, "norm_type"),
    (lambda g: clip_grad_norm(g, 1.0, float("nan")), ValueError, "norm_type"),
    (lambda g: clip_grad_norm(g, 1.0, "two"), TypeError, "norm_type"),
    (lambda g: clip_grad_norm(g, 1.0, True), TypeError, "norm_type"),
    (lambda g: clip_grad_norm(g, 1.0, error_if_nonfinite="yes"), TypeError, "error_if_nonfinite"),
    (lambda g: clip_grad_norm({**g, "i": np.ones(3, int)}, 1.0), TypeError, r"grads\['i'\]: expected a floating"),
    (lambda g: clip_grad_norm([g["w"], [1.0]], 1.0), TypeError, r"grads\[1\]: expected a numpy.ndarray"),
    (lambda g: clip_grad_norm({1.0, 2.0}, 1.0), TypeError, "grads: expected a mapping"),
    (lambda g: clip_grad_norm(None, 1.0), TypeError, "grads"),
    (lambda g: clip_grad_value(g, -0.5), ValueError, "clip_value: expected a number >= 0"),
    (lambda g: clip_grad_value(g, None), TypeError, "clip_value"),
    (lambda g: clip_grad_value(g, float("nan")), ValueError, "clip_value"),
    (lambda g: clip_grad_value({**g, "r": read_only()["a"]}, 1.0), ValueError, r"grads\['r'\]: expected a writeable"),
    (lambda g: clip_grad_value("abc", 1.0), TypeError, "grads"),
]


@pytest.mark.parametrize("call, exc, match", BAD_CLIP)
def test_bad_clip_arguments_change_nothing(call, exc, match):
    grads = {"w": np.full((2, 3), 5.0), "b": np.full(2, -5.0, np.float32)}
    with pytest.raises(exc, match=match):
        call(grads)
    np.testing.assert_array_equal(grads["w"], 5.0)
    np.testing.assert_array_equal(grads["b"], -5.0)


def test_exported():
    assert lstmcore.optim.Adam is Adam and "optim" in lstmcore.__all__
    assert set(lstmcore.optim.__all__) == {"SGD", "Adam", "clip_grad_norm", "clip_grad_value"}
    assert "Adam(2 arrays, 8 parameters, lr=0.001" in repr(Adam(good_params()))
