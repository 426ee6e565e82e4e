"""Pure-NumPy float64 reference implementation of the LSTM1997 engine.

This is an executable specification, written for clarity rather than speed: explicit loops over
time steps, blocks and cells, with the maths of docs/ENGINE.md as comments over the lines that
compute it.  Everything here is float64.

Notation (docs/ENGINE.md):
  n_in inputs, n_out outputs, B blocks of S cells, C = B*S cells; cell c = j*S + v is cell v of
  block j and blk(c) = c // S.
  a(t) = [y_c(t) (C), y_in(t) (B), y_out(t) (B, if output gate), y_f(t) (B, if forget gate)]
  u(t) = [x(t), a(t-1)]  ("cells+gates"),  [x(t), y_c(t-1)]  ("cells"),  x(t)  ("none")
  z(t) = [y_c(t), x(t) if shortcut]   (sources of the output units)
  a(-1) = 0, s(-1) = 0.
  A parameter that does not exist is the constant 0; a gate that does not exist has activation 1.

Loss: L = 1/2 sum_t mask[t] sum_k (target[t,k] - y_k(t))^2; every gradient is dL/dw.

Public functions:
  RefConfig, RefConfig.from_api
  param_shapes(cfg), n_weights(cfg), random_params(cfg, rng, scale)
  forward(cfg, params, x), forward_all(cfg, params, x), loss(cfg, params, x, target, mask)
  loss_and_grad_full(cfg, params, x, target, mask)
  loss_and_grad_truncated_bptt(cfg, params, x, target, mask)
  loss_and_grad_truncated_rtrl(cfg, params, x, target, mask)
  train_sequence(cfg, params, x, target, mask, lr, update)

The torch-style layer (lstmcore.LSTM, docs/ENGINE.md part 2) has its own plain reference at the
end of this file: layer_direction (one direction, forward and exact or truncated backward, with
peepholes, lengths and the recurrent projection proj_size) and layer_stack (stacked and
bidirectional, by state-dict names).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, FrozenSet, Tuple

import numpy as np

__all__ = [
    "RefConfig",
    "ALL_KEYS",
    "param_shapes",
    "n_weights",
    "random_params",
    "forward",
    "forward_all",
    "loss",
    "loss_and_grad_full",
    "loss_and_grad_truncated_bptt",
    "loss_and_grad_truncated_rtrl",
    "train_sequence",
    "layer_direction",
    "layer_stack",
]

RECURRENT_MODES = ("cells+gates", "cells", "none")
G_KINDS = ("g2", "logistic", "tanh", "identity", "h1")
H_KINDS = ("h1", "tanh", "identity", "g2")
OUT_KINDS = ("logistic", "linear")
BIAS_KINDS = frozenset({"gates", "cells", "outputs"})
# the named bias settings (docs/ENGINE.md, "Sizes and parameters")
BIAS_NAMES = {
    "gates": frozenset({"gates"}),
    "hidden": frozenset({"gates", "cells"}),
    "all": frozenset({"gates", "cells", "outputs"}),
    "none": frozenset(),
}

# Every parameter name, in the order of docs/ENGINE.md's parameter list.
ALL_KEYS = (
    "W_cell", "W_in", "W_out", "W_forget",
    "b_cell", "b_in", "b_out", "b_forget",
    "p_in", "p_forget", "p_out",
    "W_y", "b_y",
)


# ----------------------------------------------------------------------------------------------
# Configuration and parameters
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RefConfig:
    n_in: int
    n_out: int
    blocks: int
    cells_per_block: int = 1
    recurrent: str = "cells+gates"
    shortcut: bool = False
    bias: FrozenSet[str] = frozenset({"gates"})
    output_gate: bool = True
    forget_gate: bool = False
    peepholes: bool = False
    g: str = "g2"
    h: str = "h1"
    out_activation: str = "logistic"

    def __post_init__(self):
        bias = self.bias
        if isinstance(bias, str):
            if bias not in BIAS_NAMES:
                raise ValueError(f"bias: unknown name {bias!r}")
            bias = BIAS_NAMES[bias]
        bias = frozenset(bias)
        if not bias <= BIAS_KINDS:
            raise ValueError(f"bias: expected a subset of {sorted(BIAS_KINDS)}, got {sorted(bias)}")
        object.__setattr__(self, "bias", bias)
        for name in ("n_in", "n_out", "blocks", "cells_per_block"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: expected >= 1, got {getattr(self, name)}")
        if self.recurrent not in RECURRENT_MODES:
            raise ValueError(f"recurrent: expected one of {RECURRENT_MODES}, got {self.recurrent!r}")
        if self.g not in G_KINDS:
            raise ValueError(f"g: expected one of {G_KINDS}, got {self.g!r}")
        if self.h not in H_KINDS:
            raise ValueError(f"h: expected one of {H_KINDS}, got {self.h!r}")
        if self.out_activation not in OUT_KINDS:
            raise ValueError(f"out_activation: expected one of {OUT_KINDS}, got {self.out_activation!r}")

    @classmethod
    def from_api(cls, n_in, n_out, blocks, cells_per_block=1, **kw) -> "RefConfig":
        """Same argument names as lstmcore.LSTM1997 (bias may be "gates"/"hidden"/"all"/"none")."""
        return cls(n_in, n_out, blocks, cells_per_block, **kw)

    # derived sizes
    @property
    def S(self) -> int:
        return self.cells_per_block

    @property
    def B(self) -> int:
        return self.blocks

    @property
    def C(self) -> int:
        return self.blocks * self.cells_per_block

    @property
    def n_a(self) -> int:
        """Length of a(t) = [y_c, y_in, y_out?, y_f?]."""
        return self.C + self.B * (1 + int(self.output_gate) + int(self.forget_gate))

    @property
    def n_rec(self) -> int:
        """Number of columns of u(t) that hold activations of step t-1."""
        if self.recurrent == "cells+gates":
            return self.n_a
        if self.recurrent == "cells":
            return self.C
        return 0

    @property
    def n_src(self) -> int:
        return self.n_in + self.n_rec

    @property
    def n_z(self) -> int:
        return self.C + (self.n_in if self.shortcut else 0)


def param_shapes(cfg: RefConfig) -> Dict[str, Tuple[int, ...]]:
    """Keys and shapes of the parameters (docs/ENGINE.md); a key is present only when the config has it."""
    C, B, n_src = cfg.C, cfg.B, cfg.n_src
    gates_bias = "gates" in cfg.bias
    shapes: Dict[str, Tuple[int, ...]] = {}
    shapes["W_cell"] = (C, n_src)
    shapes["W_in"] = (B, n_src)
    if cfg.output_gate:
        shapes["W_out"] = (B, n_src)
    if cfg.forget_gate:
        shapes["W_forget"] = (B, n_src)
    if "cells" in cfg.bias:
        shapes["b_cell"] = (C,)
    if gates_bias:
        shapes["b_in"] = (B,)
        if cfg.output_gate:
            shapes["b_out"] = (B,)
        if cfg.forget_gate:
            shapes["b_forget"] = (B,)
    if cfg.peepholes:
        shapes["p_in"] = (C,)
        if cfg.forget_gate:
            shapes["p_forget"] = (C,)
        if cfg.output_gate:
            shapes["p_out"] = (C,)
    shapes["W_y"] = (cfg.n_out, cfg.n_z)
    if "outputs" in cfg.bias:
        shapes["b_y"] = (cfg.n_out,)
    return shapes


def _all_shapes(cfg: RefConfig) -> Dict[str, Tuple[int, ...]]:
    """Shapes of every parameter name, whether the config has it or not."""
    C, B, n_src = cfg.C, cfg.B, cfg.n_src
    return {
        "W_cell": (C, n_src), "W_in": (B, n_src), "W_out": (B, n_src), "W_forget": (B, n_src),
        "b_cell": (C,), "b_in": (B,), "b_out": (B,), "b_forget": (B,),
        "p_in": (C,), "p_forget": (C,), "p_out": (C,),
        "W_y": (cfg.n_out, cfg.n_z), "b_y": (cfg.n_out,),
    }


def n_weights(cfg: RefConfig) -> int:
    return int(sum(int(np.prod(s)) for s in param_shapes(cfg).values()))


def random_params(cfg: RefConfig, rng: np.random.Generator, scale: float = 0.5) -> Dict[str, np.ndarray]:
    """Every parameter uniform in [-scale, scale] (float64), for tests."""
    return {k: rng.uniform(-scale, scale, size=s) for k, s in param_shapes(cfg).items()}


def _complete(cfg: RefConfig, params: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Check params against param_shapes and return float64 copies of ALL keys (absent ones = 0)."""
    shapes = param_shapes(cfg)
    if set(params) != set(shapes):
        raise ValueError(f"params: expected keys {sorted(shapes)}, got {sorted(params)}")
    P = {}
    for k, s in _all_shapes(cfg).items():
        if k in shapes:
            a = np.array(params[k], dtype=np.float64)
            if a.shape != s:
                raise ValueError(f"params[{k!r}]: expected shape {s}, got {a.shape}")
            P[k] = a
        else:
            P[k] = np.zeros(s)
    return P


def _restrict(cfg: RefConfig, G: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Keep only the keys the config has."""
    return {k: G[k].copy() for k in param_shapes(cfg)}


def _check_data(cfg, x, target=None, mask=None):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != cfg.n_in:
        raise ValueError(f"x: expected shape (T, {cfg.n_in}), got {x.shape}")
    T = x.shape[0]
    if target is not None:
        target = np.asarray(target, dtype=np.float64)
        if target.shape != (T, cfg.n_out):
            raise ValueError(f"target: expected shape {(T, cfg.n_out)}, got {target.shape}")
    if mask is None:
        mask = np.ones(T, dtype=bool)
    else:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (T,):
            raise ValueError(f"mask: expected shape {(T,)}, got {mask.shape}")
    return x, target, mask


# ----------------------------------------------------------------------------------------------
# Squashing functions
# ----------------------------------------------------------------------------------------------


def sigma(x):
    # sigma(x) = 1 / (1 + exp(-x)), written so that it never overflows
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def dsigma(x):
    # sigma' = sigma (1 - sigma)
    s = sigma(x)
    return s * (1.0 - s)


def squash(kind, x):
    """Every squash of the engine: g and h draw from the same set (Table 10's legend swaps them)."""
    if kind == "g2":
        return 4.0 * sigma(x) - 2.0          # 4 sigma(x) - 2, range [-2, 2]
    if kind == "h1":
        return 2.0 * sigma(x) - 1.0          # 2 sigma(x) - 1, range [-1, 1]
    if kind == "logistic":
        return sigma(x)
    if kind == "tanh":
        return np.tanh(x)
    return np.asarray(x, dtype=np.float64)   # identity


def dsquash(kind, x):
    if kind == "g2":
        return 4.0 * dsigma(x)
    if kind == "h1":
        return 2.0 * dsigma(x)
    if kind == "logistic":
        return dsigma(x)
    if kind == "tanh":
        return 1.0 - np.tanh(x) ** 2
    return np.ones_like(np.asarray(x, dtype=np.float64))


g_fn = h_fn = squash
dg_fn = dh_fn = dsquash


def f_out(kind, x):
    return sigma(x) if kind == "logistic" else np.asarray(x, dtype=np.float64)


def df_out(kind, x):
    return dsigma(x) if kind == "logistic" else np.ones_like(np.asarray(x, dtype=np.float64))


# ----------------------------------------------------------------------------------------------
# Forward pass
# ----------------------------------------------------------------------------------------------


def _zero_state(cfg: RefConfig):
    """s(-1) = 0 and a(-1) = 0: every sequence starts from the zero state."""
    C, B = cfg.C, cfg.B
    return {"s": np.zeros(C), "y_c": np.zeros(C), "y_in": np.zeros(B),
            "y_out": np.zeros(B), "y_f": np.zeros(B)}


def _source(cfg: RefConfig, x_t, prev):
    """u(t) from x(t) and the activations of step t-1."""
    parts = [x_t]
    if cfg.recurrent in ("cells+gates", "cells"):
        parts.append(prev["y_c"])                 # y_c(t-1)
    if cfg.recurrent == "cells+gates":
        parts.append(prev["y_in"])                # y_in(t-1)
        if cfg.output_gate:
            parts.append(prev["y_out"])           # y_out(t-1)
        if cfg.forget_gate:
            parts.append(prev["y_f"])             # y_f(t-1)
    return np.concatenate(parts)


def _step(cfg: RefConfig, P, x_t, prev):
    """One forward step (paper §5 order). P holds all keys (absent parameters are 0).

    Returns a dict with every quantity of the step; prev is the dict of step t-1 (or _zero_state)."""
    C, B, S = cfg.C, cfg.B, cfg.S
    u = _source(cfg, x_t, prev)
    s_prev = prev["s"]

    # net_c[c] = W_cell[c] . u(t) + b_cell[c]
    net_c = np.zeros(C)
    for c in range(C):
        net_c[c] = P["W_cell"][c] @ u + P["b_cell"][c]

    # net_in[j] = W_in[j] . u(t) + b_in[j] + sum_v p_in[jS+v] s[jS+v](t-1);  y_in = sigma(net_in)
    net_in = np.zeros(B)
    for j in range(B):
        net_in[j] = P["W_in"][j] @ u + P["b_in"][j]
        for v in range(S):
            net_in[j] += P["p_in"][j * S + v] * s_prev[j * S + v]
    y_in = sigma(net_in)

    # net_f[j] = W_forget[j] . u(t) + b_forget[j] + sum_v p_forget[jS+v] s[jS+v](t-1)
    # y_f = sigma(net_f), or 1 without a forget gate
    net_f = np.zeros(B)
    if cfg.forget_gate:
        for j in range(B):
            net_f[j] = P["W_forget"][j] @ u + P["b_forget"][j]
            for v in range(S):
                net_f[j] += P["p_forget"][j * S + v] * s_prev[j * S + v]
        y_f = sigma(net_f)
    else:
        y_f = np.ones(B)

    # s[c](t) = y_f[blk c] s[c](t-1) + y_in[blk c] g(net_c[c])
    g_c = g_fn(cfg.g, net_c)
    s = np.zeros(C)
    for c in range(C):
        j = c // S
        s[c] = y_f[j] * s_prev[c] + y_in[j] * g_c[c]

    # net_out[j] = W_out[j] . u(t) + b_out[j] + sum_v p_out[jS+v] s[jS+v](t)   <- CURRENT state
    # y_out = sigma(net_out), or 1 without an output gate
    net_out = np.zeros(B)
    if cfg.output_gate:
        for j in range(B):
            net_out[j] = P["W_out"][j] @ u + P["b_out"][j]
            for v in range(S):
                net_out[j] += P["p_out"][j * S + v] * s[j * S + v]
        y_out = sigma(net_out)
    else:
        y_out = np.ones(B)

    # y_c[c] = y_out[blk c] h(s[c](t))
    h_s = h_fn(cfg.h, s)
    y_c = np.zeros(C)
    for c in range(C):
        y_c[c] = y_out[c // S] * h_s[c]

    # z(t) = [y_c(t), x(t) if shortcut];  net_k = W_y . z(t) + b_y;  y_k = f_k(net_k)
    z = np.concatenate([y_c, x_t]) if cfg.shortcut else y_c.copy()
    net_k = P["W_y"] @ z + P["b_y"]
    y = f_out(cfg.out_activation, net_k)

    return {"u": u, "s_prev": s_prev.copy(), "net_c": net_c, "g_c": g_c,
            "net_in": net_in, "y_in": y_in, "net_f": net_f, "y_f": y_f,
            "s": s, "h_s": h_s, "net_out": net_out, "y_out": y_out, "y_c": y_c,
            "z": z, "net_k": net_k, "y": y}


def _run(cfg: RefConfig, P, x):
    """Per-step dicts of a forward pass from the zero state."""
    steps = []
    prev = _zero_state(cfg)
    for t in range(x.shape[0]):
        st = _step(cfg, P, x[t], prev)
        steps.append(st)
        prev = st
    return steps


def forward_all(cfg: RefConfig, params, x) -> Dict[str, np.ndarray]:
    """Every intermediate of the forward pass, stacked over time: arrays of shape (T, ...).

    Keys: u, s_prev, net_c, g_c, net_in, y_in, net_f, y_f, s, h_s, net_out, y_out, y_c, z, net_k, y.
    For an absent gate net_* is 0 and y_* is 1."""
    x, _, _ = _check_data(cfg, x)
    steps = _run(cfg, _complete(cfg, params), x)
    keys = ("u", "s_prev", "net_c", "g_c", "net_in", "y_in", "net_f", "y_f", "s", "h_s",
            "net_out", "y_out", "y_c", "z", "net_k", "y")
    if not steps:   # T = 0: empty arrays of the right trailing shapes
        dummy = _step(cfg, _complete(cfg, params), np.zeros(cfg.n_in), _zero_state(cfg))
        return {k: np.zeros((0,) + dummy[k].shape) for k in keys}
    return {k: np.stack([st[k] for st in steps]) for k in keys}


def forward(cfg: RefConfig, params, x) -> np.ndarray:
    """y (T, n_out) from the zero state."""
    x, _, _ = _check_data(cfg, x)
    steps = _run(cfg, _complete(cfg, params), x)
    y = np.zeros((x.shape[0], cfg.n_out))
    for t, st in enumerate(steps):
        y[t] = st["y"]
    return y


def _step_loss(st, target_t, m):
    # L(t) = 1/2 mask[t] sum_k (target[t,k] - y_k(t))^2
    return 0.5 * float(m) * float(np.sum((target_t - st["y"]) ** 2))


def loss(cfg: RefConfig, params, x, target, mask=None) -> float:
    x, target, mask = _check_data(cfg, x, target, mask)
    steps = _run(cfg, _complete(cfg, params), x)
    return float(sum(_step_loss(st, target[t], mask[t]) for t, st in enumerate(steps)))


# ----------------------------------------------------------------------------------------------
# Backward pass (full BPTT and truncated BPTT)
# ----------------------------------------------------------------------------------------------


def _zero_grads(cfg):
    return {k: np.zeros(s) for k, s in _all_shapes(cfg).items()}


def _output_layer_grad(cfg, G, st, target_t, m):
    """Output error and the output-layer gradients of one step. Returns dnet_k = dL/dnet_k."""
    # e_k(t) = mask[t] f_k'(net_k) (target - y_k)   (= -dL/dnet_k, eq. 19)
    e_k = float(m) * df_out(cfg.out_activation, st["net_k"]) * (target_t - st["y"])
    dnet_k = -e_k
    # dW_y += dnet_k z(t)^T;  db_y += dnet_k
    G["W_y"] += np.outer(dnet_k, st["z"])
    G["b_y"] += dnet_k
    return dnet_k


def _backward(cfg: RefConfig, params, x, target, mask, truncated: bool):
    """BPTT, exact (truncated=False) or with the 1997 truncation (truncated=True)."""
    x, target, mask = _check_data(cfg, x, target, mask)
    P = _complete(cfg, params)
    steps = _run(cfg, P, x)
    C, B, S, n_in = cfg.C, cfg.B, cfg.S, cfg.n_in
    G = _zero_grads(cfg)
    L = 0.0

    # layout of the recurrent part of u (= a(t-1) or y_c(t-1)), as offsets into dA
    o_in = C
    o_out = C + B
    o_f = C + B + (B if cfg.output_gate else 0)

    dA = np.zeros(cfg.n_rec)   # dL/d(recurrent part of u(t+1)), i.e. dL/da(t) via step t+1
    dS = np.zeros(C)           # dL/ds(t) via step t+1
    for t in range(x.shape[0] - 1, -1, -1):
        st = steps[t]
        L += _step_loss(st, target[t], mask[t])
        dnet_k = _output_layer_grad(cfg, G, st, target[t], mask[t])

        # dy_c = W_y[:, :C]^T dnet_k (+ dA[cells] in full mode)
        dy_c = P["W_y"][:, :C].T @ dnet_k
        dy_in = np.zeros(B)
        dy_out = np.zeros(B)
        dy_f = np.zeros(B)
        if not truncated:
            if cfg.recurrent != "none":
                dy_c = dy_c + dA[:C]
            if cfg.recurrent == "cells+gates":
                dy_in = dA[o_in:o_in + B]
                if cfg.output_gate:
                    dy_out = dA[o_out:o_out + B]
                if cfg.forget_gate:
                    dy_f = dA[o_f:o_f + B]

        # dnet_out[j] = sigma'(net_out[j]) (dy_out[j] + sum_v h(s[jS+v]) dy_c[jS+v])   (eq. 21)
        dnet_out = np.zeros(B)
        if cfg.output_gate:
            for j in range(B):
                acc = dy_out[j]
                for v in range(S):
                    acc += st["h_s"][j * S + v] * dy_c[j * S + v]
                dnet_out[j] = dsigma(st["net_out"][j]) * acc

        # ds[c] = dy_c[c] y_out[blk c] h'(s[c]) (+ p_out[c] dnet_out[blk c] in full mode) + dS[c]
        dh_s = dh_fn(cfg.h, st["s"])
        ds = np.zeros(C)
        for c in range(C):
            j = c // S
            ds[c] = dy_c[c] * st["y_out"][j] * dh_s[c] + dS[c]
            if not truncated:
                ds[c] += P["p_out"][c] * dnet_out[j]

        # dnet_c[c] = ds[c] y_in[blk c] g'(net_c[c])
        dg_c = dg_fn(cfg.g, st["net_c"])
        dnet_c = np.zeros(C)
        for c in range(C):
            dnet_c[c] = ds[c] * st["y_in"][c // S] * dg_c[c]

        # dnet_in[j] = sigma'(net_in[j]) (dy_in[j] + sum_v ds[jS+v] g(net_c[jS+v]))
        # dnet_f[j]  = sigma'(net_f[j])  (dy_f[j]  + sum_v ds[jS+v] s[jS+v](t-1))
        dnet_in = np.zeros(B)
        dnet_f = np.zeros(B)
        for j in range(B):
            acc_in = dy_in[j]
            acc_f = dy_f[j]
            for v in range(S):
                c = j * S + v
                acc_in += ds[c] * st["g_c"][c]
                acc_f += ds[c] * st["s_prev"][c]
            dnet_in[j] = dsigma(st["net_in"][j]) * acc_in
            if cfg.forget_gate:
                dnet_f[j] = dsigma(st["net_f"][j]) * acc_f

        # dW_kind += dnet_kind u(t)^T;  db_kind += dnet_kind
        u = st["u"]
        G["W_cell"] += np.outer(dnet_c, u)
        G["W_in"] += np.outer(dnet_in, u)
        G["W_out"] += np.outer(dnet_out, u)
        G["W_forget"] += np.outer(dnet_f, u)
        G["b_cell"] += dnet_c
        G["b_in"] += dnet_in
        G["b_out"] += dnet_out
        G["b_forget"] += dnet_f
        # dp_in[c] += dnet_in[blk c] s[c](t-1);  dp_f[c] += dnet_f[blk c] s[c](t-1);
        # dp_out[c] += dnet_out[blk c] s[c](t)
        for c in range(C):
            j = c // S
            G["p_in"][c] += dnet_in[j] * st["s_prev"][c]
            G["p_forget"][c] += dnet_f[j] * st["s_prev"][c]
            G["p_out"][c] += dnet_out[j] * st["s"][c]

        # carry to t-1:
        # dS[c] = ds[c] y_f[blk c] (+ p_in[c] dnet_in[blk c] + p_forget[c] dnet_f[blk c] in full mode)
        dS = np.zeros(C)
        for c in range(C):
            j = c // S
            dS[c] = ds[c] * st["y_f"][j]
            if not truncated:
                dS[c] += P["p_in"][c] * dnet_in[j] + P["p_forget"][c] * dnet_f[j]
        # dA = recurrent columns of sum_kind W_kind^T dnet_kind (truncated mode: nothing)
        if truncated:
            dA = np.zeros(cfg.n_rec)
        else:
            dU = (P["W_cell"].T @ dnet_c + P["W_in"].T @ dnet_in
                  + P["W_out"].T @ dnet_out + P["W_forget"].T @ dnet_f)
            dA = dU[n_in:]

    return float(L), _restrict(cfg, G)


def loss_and_grad_full(cfg: RefConfig, params, x, target, mask=None):
    """(L, dL/dw): exact gradient by backpropagation through time through every connection."""
    return _backward(cfg, params, x, target, mask, truncated=False)


def loss_and_grad_truncated_bptt(cfg: RefConfig, params, x, target, mask=None):
    """(L, truncated gradient) by a backward pass: error crosses time only through s(t-1) -> s(t)."""
    return _backward(cfg, params, x, target, mask, truncated=True)


# ----------------------------------------------------------------------------------------------
# Truncated RTRL (forward traces, eqs. 19-28 extended to forget gates and peepholes)
# ----------------------------------------------------------------------------------------------


def _zero_traces(cfg):
    """Tc[c, :] = ds[c]/d[W_cell[c], b_cell[c]]                        (n_src + 1 columns)
    Tin[c, :]   = ds[c]/d[W_in[j], b_in[j], p_in[jS..jS+S-1]]          (n_src + 1 + S columns)
    Tf[c, :]    = ds[c]/d[W_forget[j], b_forget[j], p_forget[jS..]]    (n_src + 1 + S columns)"""
    C, S, n_src = cfg.C, cfg.S, cfg.n_src
    return {"Tc": np.zeros((C, n_src + 1)), "Tin": np.zeros((C, n_src + 1 + S)),
            "Tf": np.zeros((C, n_src + 1 + S))}


def _rtrl_step(cfg: RefConfig, P, st, tr, target_t, m):
    """Update the traces with step st (in place) and return the step's truncated gradient g(t).

    g(t) has every key of ALL_KEYS; the entries of parameters the config lacks are 0."""
    C, B, S, n_src = cfg.C, cfg.B, cfg.S, cfg.n_src
    u1 = np.concatenate([st["u"], [1.0]])      # [u(t), 1]: the 1 is the bias source
    dg_c = dg_fn(cfg.g, st["net_c"])
    dsig_in = dsigma(st["net_in"])
    dsig_f = dsigma(st["net_f"])

    # --- traces -------------------------------------------------------------------------
    for c in range(C):
        j = c // S
        # peephole sources of the block: s[jS..jS+S-1](t-1)
        s_blk_prev = st["s_prev"][j * S:(j + 1) * S]
        src_gate = np.concatenate([u1, s_blk_prev])
        # Tc[c]  = y_f[j] Tc[c]  + g'(net_c[c]) y_in[j] [u(t), 1]                          (eq. 27)
        tr["Tc"][c] = st["y_f"][j] * tr["Tc"][c] + dg_c[c] * st["y_in"][j] * u1
        # Tin[c] = y_f[j] Tin[c] + g(net_c[c]) sigma'(net_in[j]) [u(t), 1, s_blk(t-1)]     (eq. 25)
        tr["Tin"][c] = st["y_f"][j] * tr["Tin"][c] + st["g_c"][c] * dsig_in[j] * src_gate
        # Tf[c]  = y_f[j] Tf[c]  + s[c](t-1) sigma'(net_f[j]) [u(t), 1, s_blk(t-1)]       (GSC00 3.12)
        if cfg.forget_gate:
            tr["Tf"][c] = st["y_f"][j] * tr["Tf"][c] + st["s_prev"][c] * dsig_f[j] * src_gate

    # --- gradient of this step ----------------------------------------------------------
    G = _zero_grads(cfg)
    dnet_k = _output_layer_grad(cfg, G, st, target_t, m)          # dW_y, db_y
    # dy_c = W_y[:, :C]^T dnet_k: dL/dy_c from this step's output error only
    dy_c = P["W_y"][:, :C].T @ dnet_k

    # output gate (no trace): dnet_out[j] = sigma'(net_out[j]) sum_v h(s[jS+v]) dy_c[jS+v]  (eq. 21)
    if cfg.output_gate:
        for j in range(B):
            acc = 0.0
            for v in range(S):
                acc += st["h_s"][j * S + v] * dy_c[j * S + v]
            dnet_out = dsigma(st["net_out"][j]) * acc
            G["W_out"][j] += dnet_out * st["u"]                     # eq. 22
            G["b_out"][j] += dnet_out
            for v in range(S):
                G["p_out"][j * S + v] += dnet_out * st["s"][j * S + v]

    # e_s[c] = y_out[j] h'(s[c]) dy_c[c]   (dL/ds(t) from this step, eq. 23)
    dh_s = dh_fn(cfg.h, st["s"])
    for c in range(C):
        j = c // S
        e_s = st["y_out"][j] * dh_s[c] * dy_c[c]
        # dW_cell[c] += e_s[c] Tc[c, :n_src];  db_cell[c] += e_s[c] Tc[c, n_src]     (eq. 28)
        G["W_cell"][c] += e_s * tr["Tc"][c, :n_src]
        G["b_cell"][c] += e_s * tr["Tc"][c, n_src]
        # dW_in[j] += sum_v e_s[jS+v] Tin[jS+v, :n_src]; bias: column n_src;          (eq. 26)
        # p_in[jS+v']: column n_src+1+v'
        G["W_in"][j] += e_s * tr["Tin"][c, :n_src]
        G["b_in"][j] += e_s * tr["Tin"][c, n_src]
        for v2 in range(S):
            G["p_in"][j * S + v2] += e_s * tr["Tin"][c, n_src + 1 + v2]
        # dW_forget likewise with Tf
        if cfg.forget_gate:
            G["W_forget"][j] += e_s * tr["Tf"][c, :n_src]
            G["b_forget"][j] += e_s * tr["Tf"][c, n_src]
            for v2 in range(S):
                G["p_forget"][j * S + v2] += e_s * tr["Tf"][c, n_src + 1 + v2]

    # the traces carry bias and peephole columns whether or not the config has those parameters:
    # zero the gradient of every parameter the config lacks (it is the constant 0)
    present = param_shapes(cfg)
    for k in G:
        if k not in present:
            G[k][...] = 0.0
    return G


def loss_and_grad_truncated_rtrl(cfg: RefConfig, params, x, target, mask=None):
    """(L, truncated gradient) computed forward in time with the paper's traces."""
    x, target, mask = _check_data(cfg, x, target, mask)
    P = _complete(cfg, params)
    G = _zero_grads(cfg)
    tr = _zero_traces(cfg)           # traces reset to 0 at t = 0
    prev = _zero_state(cfg)
    L = 0.0
    for t in range(x.shape[0]):
        st = _step(cfg, P, x[t], prev)
        L += _step_loss(st, target[t], mask[t])
        g_t = _rtrl_step(cfg, P, st, tr, target[t], mask[t])
        for k in G:
            G[k] += g_t[k]           # each weight's total gradient is the sum over steps
        prev = st
    return float(L), _restrict(cfg, G)


# ----------------------------------------------------------------------------------------------
# Online training
# ----------------------------------------------------------------------------------------------


def train_sequence(cfg: RefConfig, params, x, target, mask, lr: float, update: str = "step"):
    """One online pass with the truncated RTRL rule. Returns (loss, new_params); params is unchanged.
    mask may be None (every step has a target).

    update="step":     after each step t with mask[t], w -= lr * g(t) (g(t): that step's truncated
                       gradient); the pass continues with the new weights while states, activations
                       and traces carry on unchanged.
    update="sequence": the summed gradient is applied once at the end.
    The returned loss is the sum of each step's loss as it was computed during the pass."""
    if update not in ("step", "sequence"):
        raise ValueError(f"update: expected 'step' or 'sequence', got {update!r}")
    x, target, mask = _check_data(cfg, x, target, mask)
    P = _complete(cfg, params)       # a copy: the caller's params are not modified
    present = param_shapes(cfg)
    G = _zero_grads(cfg)
    tr = _zero_traces(cfg)
    prev = _zero_state(cfg)
    L = 0.0
    for t in range(x.shape[0]):
        st = _step(cfg, P, x[t], prev)
        L += _step_loss(st, target[t], mask[t])
        g_t = _rtrl_step(cfg, P, st, tr, target[t], mask[t])
        if update == "step":
            if mask[t]:
                # w -= lr * g(t)   (only the parameters the config has; absent ones stay 0)
                for k in present:
                    P[k] -= lr * g_t[k]
        else:
            for k in G:
                G[k] += g_t[k]
        prev = st
    if update == "sequence":
        # w -= lr * sum_t g(t)
        for k in present:
            P[k] -= lr * G[k]
    return float(L), _restrict(cfg, P)


# ----------------------------------------------------------------------------------------------
# The torch-style layer (lstmcore.LSTM): one sequence at a time, plain NumPy, float64
# ----------------------------------------------------------------------------------------------


def layer_direction(x, p, h0, c0, lens, reverse, gout, ghn, gcn, truncated):
    """One layer direction, forward then backward, one sequence at a time.

    x (T, N, I); p: W_ih (4H, I), W_hh (4H, R), optional b_ih, b_hh (4H,), w_ci, w_cf, w_co (H,),
    W_hr (P, H) (with a projection: R = P, else R = H); h0 (N, R), c0 (N, H); lens (N,);
    gout (T, N, R), ghn (N, R), gcn (N, H): the loss is sum(gout*out) + sum(ghn*h_n) + sum(gcn*c_n).
    truncated: no error back in time through W_hh or the peepholes (the projection is inside the
    step and differentiated in both modes).
    Returns out (T, N, R), h_n, c_n, grad_x, grad_h0, grad_c0, {name: gradient}.
    """
    T, N, _ = x.shape
    H = p["W_ih"].shape[0] // 4
    R = p["W_hh"].shape[1]
    W_hr = p.get("W_hr")
    out = np.zeros((T, N, R))
    hn, cn = np.zeros((N, R)), np.zeros((N, H))
    gx = np.zeros_like(x)
    gw = {k: np.zeros_like(v) for k, v in p.items()}
    gh0, gc0 = np.zeros((N, R)), np.zeros((N, H))
    b = p["b_ih"] + p["b_hh"] if "b_ih" in p else np.zeros(4 * H)
    zero = np.zeros(H)
    for n in range(N):
        steps = list(range(lens[n]))
        if reverse:
            steps = steps[::-1]
        h, c = h0[n].copy(), c0[n].copy()
        tape = []
        for t in steps:
            # a = W_ih x + W_hh h(t-1) + b_ih + b_hh
            a = p["W_ih"] @ x[t, n] + p["W_hh"] @ h + b
            i = _layer_sig(a[:H] + p.get("w_ci", zero) * c)
            f = _layer_sig(a[H:2 * H] + p.get("w_cf", zero) * c)
            g = np.tanh(a[2 * H:3 * H])
            c_new = f * c + i * g
            o = _layer_sig(a[3 * H:] + p.get("w_co", zero) * c_new)
            # m = o tanh(c);  h = m, or h = W_hr m with a projection
            m = o * np.tanh(c_new)
            h_new = m if W_hr is None else W_hr @ m
            tape.append((t, h, c, i, f, g, o, c_new, m))
            h, c = h_new, c_new
            out[t, n] = h
        hn[n], cn[n] = h, c
        dh_next, dc = ghn[n].copy(), gcn[n].copy()
        for t, hp, cp, i, f, g, o, cc, m in reversed(tape):
            # dL/dh(t) = grad_out(t) + error from step t+1
            dh = gout[t, n] + dh_next
            if W_hr is not None:
                # h = W_hr m:  dW_hr += dh m^T,  dL/dm = W_hr^T dh
                gw["W_hr"] += np.outer(dh, m)
                dm = W_hr.T @ dh
            else:
                dm = dh
            tc = np.tanh(cc)
            dao = dm * tc * o * (1 - o)
            dc = dc + dm * o * (1 - tc ** 2)
            if not truncated:
                dc = dc + dao * p.get("w_co", zero)
            dai, daf, dag = dc * g * i * (1 - i), dc * cp * f * (1 - f), dc * i * (1 - g ** 2)
            da = np.concatenate([dai, daf, dag, dao])
            gw["W_ih"] += np.outer(da, x[t, n])
            gw["W_hh"] += np.outer(da, hp)
            if "b_ih" in p:
                gw["b_ih"] += da
                gw["b_hh"] += da
            if "w_ci" in p:
                gw["w_ci"] += dai * cp
                gw["w_cf"] += daf * cp
                gw["w_co"] += dao * cc
            gx[t, n] = p["W_ih"].T @ da
            dc_prev = dc * f
            if truncated:
                dh_next = np.zeros(R)
            else:
                dc_prev = dc_prev + dai * p.get("w_ci", zero) + daf * p.get("w_cf", zero)
                dh_next = p["W_hh"].T @ da
            dc = dc_prev
        gh0[n], gc0[n] = dh_next, dc
    return out, hn, cn, gx, gh0, gc0, gw


def _layer_sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def layer_stack(sd, L, D, bias, peepholes, x, h0, c0, lens, gout, ghn, gcn, truncated, proj_size=0):
    """Stacked, bidirectional layers from layer_direction, parameters by state-dict name (sd).

    x (T, N, I), h0 (L*D, N, R), c0 (L*D, N, H), gout (T, N, D*R), ghn (L*D, N, R), gcn (L*D, N, H)
    with R = proj_size or H. Returns out, h_n, c_n, grad_x, grad_h0, grad_c0, {state-dict name: gradient}.
    """
    R = h0.shape[2]
    inputs, grads = [], {}
    h_n, c_n = np.zeros_like(h0), np.zeros_like(c0)
    inp = x
    per = {}
    for k in range(L):
        inputs.append(inp)
        layer_out = []
        for d in range(D):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            names = {"W_ih": "weight_ih", "W_hh": "weight_hh"}
            if bias:
                names.update(b_ih="bias_ih", b_hh="bias_hh")
            if peepholes:
                names.update(w_ci="weight_ci", w_cf="weight_cf", w_co="weight_co")
            if proj_size:
                names.update(W_hr="weight_hr")
            per[(k, d)] = ({short: sd[long + sfx] for short, long in names.items()}, names, sfx)
            T, N = inp.shape[:2]
            res = layer_direction(inp, per[(k, d)][0], h0[k * D + d], c0[k * D + d], lens, d == 1,
                                  np.zeros((T, N, R)), np.zeros((N, R)), np.zeros(c0.shape[1:]), truncated)
            layer_out.append(res[0])
            h_n[k * D + d], c_n[k * D + d] = res[1], res[2]
        inp = np.concatenate(layer_out, axis=2)
    out = inp
    g_above = gout
    gh0, gc0 = np.zeros_like(h0), np.zeros_like(c0)
    for k in reversed(range(L)):
        g_below = 0
        for d in range(D):
            p, names, sfx = per[(k, d)]
            _, _, _, gx, a, b, gw = layer_direction(inputs[k], p, h0[k * D + d], c0[k * D + d], lens, d == 1,
                                                    g_above[:, :, d * R:(d + 1) * R], ghn[k * D + d],
                                                    gcn[k * D + d], truncated)
            gh0[k * D + d], gc0[k * D + d] = a, b
            for short, long in names.items():
                grads[long + sfx] = gw[short]
            g_below = g_below + gx
        g_above = g_below
    return out, h_n, c_n, g_above, gh0, gc0, grads
