"""Self-checks of the NumPy reference (tests/reference.py) by independent means.

- parameter counts against the published weight counts (docs/ENGINE.md, "Weight counts");
- the forward pass against hand-written scalar code for two small nets;
- the full BPTT gradient against central finite differences of the loss;
- truncated RTRL (forward traces) against truncated BPTT (backward pass);
- truncated == full where the truncation removes nothing;
- train_sequence against params - lr * grad.
"""

import itertools
import math
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from reference import (  # noqa: E402
    RefConfig,
    forward,
    forward_all,
    loss,
    loss_and_grad_full,
    loss_and_grad_truncated_bptt,
    loss_and_grad_truncated_rtrl,
    n_weights,
    param_shapes,
    random_params,
    train_sequence,
)

# ----------------------------------------------------------------------------------------------
# Published weight counts (docs/ENGINE.md, "Weight counts")
# ----------------------------------------------------------------------------------------------

PUBLISHED = [
    ((7, 7, 4, 1), dict(bias="gates"), 264),
    ((7, 7, 3, 2), dict(bias="gates"), 276),
    ((101, 101, 1, 1), dict(recurrent="none", shortcut=True, bias="none", output_gate=False,
                            g="logistic", h="identity"), 10504),
    ((54, 2, 2, 1), dict(bias="none"), 364),
    ((104, 2, 2, 1), dict(bias="none"), 664),
    ((204, 2, 2, 1), dict(bias="none"), 1264),
    ((504, 2, 2, 1), dict(bias="none"), 3064),
    ((1004, 2, 2, 1), dict(bias="none"), 6064),
    ((1, 1, 3, 1), dict(bias="hidden"), 102),
    ((2, 1, 2, 2), dict(bias="all"), 93),
    ((8, 4, 2, 2), dict(bias="all"), 156),
    ((8, 8, 3, 2), dict(bias="all"), 308),
    ((7, 7, 4, 2), dict(recurrent="cells", shortcut=True, forget_gate=True,
                        bias={"gates", "outputs"}), 424),
    ((1, 1, 1, 1), dict(recurrent="cells", forget_gate=True, peepholes=True, bias="all",
                        g="identity"), 17),
]


@pytest.mark.parametrize("args,kw,count", PUBLISHED)
def test_published_weight_counts(args, kw, count):
    cfg = RefConfig.from_api(*args, **kw)
    assert n_weights(cfg) == count
    params = random_params(cfg, np.random.default_rng(0))
    assert sum(a.size for a in params.values()) == count


def test_param_keys():
    cfg = RefConfig(2, 1, 2, 2, bias="all", forget_gate=True, peepholes=True)
    assert set(param_shapes(cfg)) == {
        "W_cell", "W_in", "W_out", "W_forget", "b_cell", "b_in", "b_out", "b_forget",
        "p_in", "p_forget", "p_out", "W_y", "b_y"}
    cfg = RefConfig(2, 1, 2, 2, bias="none", output_gate=False, peepholes=True)
    assert set(param_shapes(cfg)) == {"W_cell", "W_in", "p_in", "W_y"}
    cfg = RefConfig(3, 2, 2, 2, bias={"gates"}, forget_gate=True, shortcut=True,
                    recurrent="cells+gates")
    shapes = param_shapes(cfg)
    n_src = 3 + 4 + 2 + 2 + 2   # x, y_c, y_in, y_out, y_f
    assert shapes == {"W_cell": (4, n_src), "W_in": (2, n_src), "W_out": (2, n_src),
                      "W_forget": (2, n_src), "b_in": (2,), "b_out": (2,), "b_forget": (2,),
                      "W_y": (2, 4 + 3)}


# ----------------------------------------------------------------------------------------------
# Forward pass against hand-written scalar code
# ----------------------------------------------------------------------------------------------


def _sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def test_forward_by_hand_peephole_timing_net():
    """(1,1,1,1) recurrent="cells", forget gate, peepholes, bias="all", g=identity, h=h1."""
    cfg = RefConfig(1, 1, 1, 1, recurrent="cells", forget_gate=True, peepholes=True,
                    bias="all", g="identity")
    rng = np.random.default_rng(5)
    p = random_params(cfg, rng, scale=1.0)
    x = rng.uniform(-1, 1, size=(4, 1))
    W = {k: v.ravel().tolist() for k, v in p.items()}
    s, yc = 0.0, 0.0
    ys = []
    for t in range(4):
        u = [x[t, 0], yc]
        dot = lambda w: w[0] * u[0] + w[1] * u[1]  # noqa: E731
        y_in = _sig(dot(W["W_in"]) + W["b_in"][0] + W["p_in"][0] * s)
        y_f = _sig(dot(W["W_forget"]) + W["b_forget"][0] + W["p_forget"][0] * s)
        s = y_f * s + y_in * (dot(W["W_cell"]) + W["b_cell"][0])
        y_out = _sig(dot(W["W_out"]) + W["b_out"][0] + W["p_out"][0] * s)   # current state
        yc = y_out * (2.0 * _sig(s) - 1.0)
        ys.append(_sig(W["W_y"][0] * yc + W["b_y"][0]))                      # current y_c
    np.testing.assert_allclose(forward(cfg, p, x)[:, 0], ys, rtol=1e-14, atol=1e-15)


def test_forward_by_hand_cells_gates_two_cells():
    """(1,2,1,2) recurrent="cells+gates", bias="gates", shortcut, tanh/tanh, linear outputs:
    checks the layout u = [x, y_c(t-1), y_in(t-1), y_out(t-1)] and z = [y_c(t), x(t)]."""
    cfg = RefConfig(1, 2, 1, 2, recurrent="cells+gates", shortcut=True, bias="gates",
                    g="tanh", h="tanh", out_activation="linear")
    rng = np.random.default_rng(6)
    p = random_params(cfg, rng, scale=1.0)
    x = rng.uniform(-1, 1, size=(4, 1))
    s = [0.0, 0.0]
    yc = [0.0, 0.0]
    y_in = y_out = 0.0
    ys = []
    for t in range(4):
        u = [x[t, 0], yc[0], yc[1], y_in, y_out]
        dot = lambda w: sum(wi * ui for wi, ui in zip(w, u))  # noqa: E731
        y_in = _sig(dot(p["W_in"][0]) + p["b_in"][0])
        for v in range(2):
            s[v] = s[v] + y_in * math.tanh(dot(p["W_cell"][v]))
        y_out = _sig(dot(p["W_out"][0]) + p["b_out"][0])
        yc = [y_out * math.tanh(s[0]), y_out * math.tanh(s[1])]
        z = [yc[0], yc[1], x[t, 0]]
        ys.append([sum(p["W_y"][k][i] * z[i] for i in range(3)) for k in range(2)])
    np.testing.assert_allclose(forward(cfg, p, x), ys, rtol=1e-14, atol=1e-15)
    allv = forward_all(cfg, p, x)
    np.testing.assert_allclose(allv["y"], ys, rtol=1e-14, atol=1e-15)
    assert allv["u"].shape == (4, 5)


# ----------------------------------------------------------------------------------------------
# Random configurations covering every option
# ----------------------------------------------------------------------------------------------

BIAS_SUBSETS = [frozenset(c) for r in range(4)
                for c in itertools.combinations(("gates", "cells", "outputs"), r)]


def _balanced(rng, values, n):
    """n entries that use every value about equally often, in random order."""
    vals = [values[i % len(values)] for i in range(n)]
    return [vals[i] for i in rng.permutation(n)]


def _make_configs():
    rng = np.random.default_rng(20240611)
    n = 26
    opts = {
        "recurrent": _balanced(rng, ["cells+gates", "cells", "none"], n),
        "shortcut": _balanced(rng, [False, True], n),
        "bias": _balanced(rng, BIAS_SUBSETS, n),
        "output_gate": _balanced(rng, [True, False], n),
        "forget_gate": _balanced(rng, [False, True], n),
        "peepholes": _balanced(rng, [False, True], n),
        "g": _balanced(rng, ["g2", "logistic", "tanh", "identity"], n),
        "h": _balanced(rng, ["h1", "tanh", "identity"], n),
        "out_activation": _balanced(rng, ["logistic", "linear"], n),
        "cells_per_block": _balanced(rng, [1, 2], n),
    }
    cfgs = []
    for i in range(n):
        cfgs.append(RefConfig(
            n_in=int(rng.integers(1, 4)), n_out=int(rng.integers(1, 3)),
            blocks=int(rng.integers(1, 4)),
            **{k: v[i] for k, v in opts.items()}))
    # hand-picked: everything on with S=2; the timing net; an Exp. 2 net; an Exp. 4 net
    cfgs.append(RefConfig(2, 2, 2, 2, recurrent="cells+gates", shortcut=True, bias="all",
                          forget_gate=True, peepholes=True))
    cfgs.append(RefConfig(1, 1, 1, 1, recurrent="cells", forget_gate=True, peepholes=True,
                          bias="all", g="identity"))
    cfgs.append(RefConfig(3, 3, 1, 1, recurrent="none", shortcut=True, bias="none",
                          output_gate=False, g="logistic", h="identity"))
    cfgs.append(RefConfig(2, 1, 2, 2, bias="all", peepholes=True, out_activation="linear"))
    return cfgs


CONFIGS = _make_configs()


def _case(cfg, seed):
    """Params, x, target and a random mask (at least one True) for one configuration."""
    rng = np.random.default_rng(1000 + seed)
    T = int(rng.integers(3, 7))
    params = random_params(cfg, rng, scale=0.7)
    x = rng.uniform(-1, 1, size=(T, cfg.n_in))
    lo = 0.0 if cfg.out_activation == "logistic" else -1.0
    target = rng.uniform(lo, 1.0, size=(T, cfg.n_out))
    mask = rng.random(T) < 0.7
    mask[int(rng.integers(T))] = True
    return params, x, target, mask


def test_configs_cover_every_option():
    seen = {}
    for cfg in CONFIGS:
        for f in ("recurrent", "shortcut", "bias", "output_gate", "forget_gate", "peepholes",
                  "g", "h", "out_activation", "cells_per_block"):
            seen.setdefault(f, set()).add(getattr(cfg, f))
    assert seen["recurrent"] == {"cells+gates", "cells", "none"}
    assert seen["bias"] == set(BIAS_SUBSETS)
    assert seen["g"] == {"g2", "logistic", "tanh", "identity"}
    assert seen["h"] == {"h1", "tanh", "identity"}
    assert seen["out_activation"] == {"logistic", "linear"}
    assert seen["cells_per_block"] == {1, 2}
    for f in ("shortcut", "output_gate", "forget_gate", "peepholes"):
        assert seen[f] == {False, True}
    # the interacting combinations are present
    assert any(c.peepholes and c.forget_gate and c.output_gate and c.S == 2 for c in CONFIGS)
    assert any(c.peepholes and not c.output_gate for c in CONFIGS)
    assert any(c.peepholes and c.recurrent == "cells+gates" and c.forget_gate for c in CONFIGS)
    assert any(not c.output_gate and c.recurrent == "cells+gates" for c in CONFIGS)
    assert any(c.S == 2 and c.B >= 2 for c in CONFIGS)


def _ids(cfgs):
    return [f"{i}-{c.recurrent}-S{c.S}-B{c.B}-og{int(c.output_gate)}fg{int(c.forget_gate)}"
            f"pp{int(c.peepholes)}sc{int(c.shortcut)}-{'+'.join(sorted(c.bias)) or 'nobias'}"
            f"-{c.g}-{c.h}-{c.out_activation}" for i, c in enumerate(cfgs)]


def _fd_grads(cfg, params, x, target, mask, eps=1e-6):
    grads = {}
    for k, a in params.items():
        gk = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            p_plus = {kk: vv.copy() for kk, vv in params.items()}
            p_minus = {kk: vv.copy() for kk, vv in params.items()}
            p_plus[k][idx] += eps
            p_minus[k][idx] -= eps
            gk[idx] = (loss(cfg, p_plus, x, target, mask)
                       - loss(cfg, p_minus, x, target, mask)) / (2 * eps)
        grads[k] = gk
    return grads


@pytest.mark.parametrize("i", range(len(CONFIGS)), ids=_ids(CONFIGS))
def test_full_gradient_equals_finite_differences(i):
    cfg = CONFIGS[i]
    params, x, target, mask = _case(cfg, i)
    L, grads = loss_and_grad_full(cfg, params, x, target, mask)
    assert L == pytest.approx(loss(cfg, params, x, target, mask), rel=1e-14, abs=1e-15)
    assert set(grads) == set(params)
    fd = _fd_grads(cfg, params, x, target, mask)
    scale = max(float(np.max(np.abs(g))) for g in grads.values())
    assert scale > 1e-4
    for k in params:
        assert grads[k].shape == params[k].shape
        err = float(np.max(np.abs(grads[k] - fd[k])))
        assert err <= 1e-7 * scale, (k, err, scale)


@pytest.mark.parametrize("i", range(len(CONFIGS)), ids=_ids(CONFIGS))
def test_truncated_rtrl_equals_truncated_bptt(i):
    cfg = CONFIGS[i]
    params, x, target, mask = _case(cfg, i)
    L1, g1 = loss_and_grad_truncated_bptt(cfg, params, x, target, mask)
    L2, g2 = loss_and_grad_truncated_rtrl(cfg, params, x, target, mask)
    assert abs(L1 - L2) <= 1e-12 * max(1.0, abs(L1))
    assert set(g1) == set(g2) == set(params)
    scale = max(1.0, max(float(np.max(np.abs(g))) for g in g1.values()))
    for k in params:
        assert g1[k].shape == params[k].shape
        assert float(np.max(np.abs(g1[k] - g2[k]))) <= 1e-12 * scale, k
    # the output layer always gets its exact gradient
    _, gf = loss_and_grad_full(cfg, params, x, target, mask)
    for k in ("W_y", "b_y"):
        if k in params:
            np.testing.assert_allclose(g1[k], gf[k], rtol=1e-13, atol=1e-15)


NO_RECURRENCE = [
    RefConfig(2, 2, 2, 2, recurrent="none", bias="all", forget_gate=True),
    RefConfig(3, 1, 3, 1, recurrent="none", shortcut=True, bias="gates"),
    RefConfig(1, 2, 1, 2, recurrent="none", bias={"cells", "outputs"}, output_gate=False,
              forget_gate=True, g="tanh", h="tanh", out_activation="linear"),
    RefConfig(2, 1, 2, 1, recurrent="none", bias="none", g="identity", h="identity"),
]


@pytest.mark.parametrize("i", range(len(NO_RECURRENCE)))
def test_truncated_equals_full_without_recurrence_or_peepholes(i):
    """recurrent="none", no peepholes: the carousel is the only path in time, so nothing is cut."""
    cfg = NO_RECURRENCE[i]
    params, x, target, mask = _case(cfg, 100 + i)
    Lf, gf = loss_and_grad_full(cfg, params, x, target, mask)
    for fn in (loss_and_grad_truncated_bptt, loss_and_grad_truncated_rtrl):
        Lt, gt = fn(cfg, params, x, target, mask)
        assert abs(Lt - Lf) <= 1e-13 * max(1.0, abs(Lf))
        for k in params:
            np.testing.assert_allclose(gt[k], gf[k], rtol=1e-11, atol=1e-13, err_msg=k)


def test_truncated_differs_from_full_with_recurrence():
    """Sanity: the truncation does cut something when there are recurrent connections."""
    cfg = RefConfig(2, 1, 2, 2, bias="all", forget_gate=True, peepholes=True)
    params, x, target, _ = _case(cfg, 7)
    mask = np.ones(x.shape[0], bool)
    _, gf = loss_and_grad_full(cfg, params, x, target, mask)
    _, gt = loss_and_grad_truncated_rtrl(cfg, params, x, target, mask)
    assert float(np.max(np.abs(gf["W_in"] - gt["W_in"]))) > 1e-6


# ----------------------------------------------------------------------------------------------
# Online training
# ----------------------------------------------------------------------------------------------

TRAIN_CONFIGS = CONFIGS[::3]


@pytest.mark.parametrize("i", range(len(TRAIN_CONFIGS)), ids=_ids(TRAIN_CONFIGS))
def test_train_sequence_updates(i):
    cfg = TRAIN_CONFIGS[i]
    params, x, target, mask = _case(cfg, 200 + i)
    before = {k: v.copy() for k, v in params.items()}
    lr = 0.3
    L, g = loss_and_grad_truncated_rtrl(cfg, params, x, target, mask)

    # update="sequence": w - lr * (summed truncated gradient)
    Ls, ps = train_sequence(cfg, params, x, target, mask, lr=lr, update="sequence")
    assert Ls == pytest.approx(L, rel=1e-14, abs=1e-15)
    assert set(ps) == set(params)
    for k in params:
        np.testing.assert_allclose(ps[k], params[k] - lr * g[k], rtol=1e-13, atol=1e-15)

    # update="step" with a single target at the last step: the same single update
    T = x.shape[0]
    last = np.zeros(T, bool)
    last[-1] = True
    L_last, g_last = loss_and_grad_truncated_rtrl(cfg, params, x, target, last)
    Lst, pst = train_sequence(cfg, params, x, target, last, lr=lr, update="step")
    Lsq, psq = train_sequence(cfg, params, x, target, last, lr=lr, update="sequence")
    assert Lst == pytest.approx(L_last, rel=1e-14, abs=1e-15)
    assert Lsq == pytest.approx(L_last, rel=1e-14, abs=1e-15)
    for k in params:
        np.testing.assert_allclose(pst[k], params[k] - lr * g_last[k], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(pst[k], psq[k], rtol=1e-13, atol=1e-15)

    # update="step" with a single earlier target t0: one update, equal to the truncated gradient
    # of the prefix x[:t0+1]; later steps (no target) change nothing
    t0 = T // 2
    one = np.zeros(T, bool)
    one[t0] = True
    L0, g0 = loss_and_grad_truncated_rtrl(cfg, params, x[:t0 + 1], target[:t0 + 1], one[:t0 + 1])
    L1, p1 = train_sequence(cfg, params, x, target, one, lr=lr, update="step")
    assert L1 == pytest.approx(L0, rel=1e-14, abs=1e-15)
    for k in params:
        np.testing.assert_allclose(p1[k], params[k] - lr * g0[k], rtol=1e-13, atol=1e-15)

    # lr = 0 changes nothing, and the loss is the forward loss
    L_zero, p_zero = train_sequence(cfg, params, x, target, mask, lr=0.0, update="step")
    assert L_zero == pytest.approx(L, rel=1e-14, abs=1e-15)
    for k in params:
        np.testing.assert_array_equal(p_zero[k], params[k])

    # the caller's params are untouched
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


def test_train_sequence_step_differs_from_sequence():
    """With targets at several steps, per-step updates change later steps' computation."""
    cfg = RefConfig(2, 1, 2, 2, bias="all", forget_gate=True, peepholes=True)
    params, x, target, _ = _case(cfg, 11)
    mask = np.ones(x.shape[0], bool)
    L, _ = loss_and_grad_truncated_rtrl(cfg, params, x, target, mask)
    Lst, pst = train_sequence(cfg, params, x, target, mask, lr=0.5, update="step")
    Lsq, psq = train_sequence(cfg, params, x, target, mask, lr=0.5, update="sequence")
    assert Lsq == pytest.approx(L, rel=1e-14)
    assert abs(Lst - Lsq) > 1e-8
    assert max(float(np.max(np.abs(pst[k] - psq[k]))) for k in params) > 1e-6


@pytest.mark.parametrize("i", range(len(TRAIN_CONFIGS)), ids=_ids(TRAIN_CONFIGS))
def test_train_sequence_step_first_order(i):
    """Per-step updates with several targets: to first order in lr the total change is
    -lr * (summed truncated gradient), and the returned loss tends to the forward loss."""
    cfg = TRAIN_CONFIGS[i]
    params, x, target, mask = _case(cfg, 300 + i)
    L, g = loss_and_grad_truncated_rtrl(cfg, params, x, target, mask)
    lr = 1e-6
    Lst, pst = train_sequence(cfg, params, x, target, mask, lr=lr, update="step")
    assert set(pst) == set(params)
    scale = max(float(np.max(np.abs(v))) for v in g.values())
    for k in params:
        slope = (pst[k] - params[k]) / lr
        assert float(np.max(np.abs(slope + g[k]))) <= 1e-4 * max(scale, 1e-3), k
    assert abs(Lst - L) <= 1e-4 * max(L, 1e-3)
