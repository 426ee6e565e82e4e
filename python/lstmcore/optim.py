"""Optimizers and gradient clipping for NumPy parameters: ``torch.optim``'s maths, in place.

- :class:`SGD` and :class:`Adam` (AdamW with ``decoupled_weight_decay=True``) update a mapping of
  live parameter arrays, e.g. ``lstm.parameters()``, in place from a mapping of gradients with the
  same keys and shapes, e.g. ``lstm.grads``. Each step is the single-tensor (CPU) algorithm of
  ``torch.optim.SGD`` / ``torch.optim.Adam`` operation by operation, so both give the same numbers.
- :func:`clip_grad_norm` and :func:`clip_grad_value` are ``torch.nn.utils.clip_grad_norm_`` and
  ``clip_grad_value_`` for arrays, also in place.

A training step::

    out, (h_n, c_n) = lstm(x, lengths=lengths)
    ...                                      # loss and its gradient d_h
    lstm.backward(None, d_h)                 # fills lstm.grads
    clip_grad_norm(lstm.grads, 1.0)
    opt.step(lstm.grads)                     # opt = Adam(lstm.parameters(), lr=1e-2)

The state of an optimizer (step count, hyperparameters, moment buffers) is a flat mapping of
names to scalars and arrays (:meth:`SGD.state_dict`), so ``np.savez(path, **opt.state_dict())``
and ``opt.load_state_dict(np.load(path))`` checkpoint a run without pickle.

After the first step, a step allocates no array memory: every operation writes into the
optimizer's buffers or into two scratch arrays shared by all parameters.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Dict, List, Mapping, Tuple

import numpy as np

from ._validation import as_real_array, check_bool, check_keys, check_lr, check_real

__all__ = ["SGD", "Adam", "clip_grad_norm", "clip_grad_value"]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_CHUNK = 1 << 16  # elements per float64 temporary when a norm is taken in chunks


# ---- helpers ------------------------------------------------------------------------------------


def _check_params(params: Any) -> Dict[str, np.ndarray]:
    """params: a non-empty mapping of str names to writeable float32/float64 arrays, no two sharing memory."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params: expected a mapping of names to arrays (e.g. lstm.parameters()), "
                        f"got {type(params).__name__}")
    if len(params) == 0:
        raise ValueError("params: expected at least one parameter array, got an empty mapping")
    out: Dict[str, np.ndarray] = {}
    for name, arr in params.items():
        if not isinstance(name, str):
            raise TypeError(f"params: expected str keys, got {type(name).__name__} {name!r}")
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"params[{name!r}]: expected a numpy.ndarray (updated in place), got {type(arr).__name__}")
        if arr.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"params[{name!r}]: expected dtype float32 or float64, got {arr.dtype}")
        if not arr.flags.writeable:
            raise ValueError(f"params[{name!r}]: expected a writeable array, got a read-only one")
        out[name] = arr
    names = list(out)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if np.may_share_memory(out[a], out[b]) and np.shares_memory(out[a], out[b]):
                raise ValueError(f"params: expected separate arrays, got {a!r} and {b!r} sharing memory")
    return out


def _plain(value: Any) -> Any:
    """A 0-d array (as np.load returns scalars) -> its Python scalar; other arrays -> lists."""
    if isinstance(value, np.ndarray):
        return value.item() if value.ndim == 0 else value.tolist()
    return value


def _grad_items(grads: Any) -> List[Tuple[str, np.ndarray]]:
    """grads for in-place clipping: a mapping, a sequence of arrays or one array; writeable float arrays."""
    if isinstance(grads, np.ndarray):
        items = [("grads", grads)]
    elif isinstance(grads, Mapping):
        items = [(f"grads[{k!r}]", g) for k, g in grads.items()]
    elif isinstance(grads, (list, tuple)):
        items = [(f"grads[{i}]", g) for i, g in enumerate(grads)]
    else:
        raise TypeError(f"grads: expected a mapping of names to arrays (e.g. lstm.grads), a list of arrays or "
                        f"an array, got {type(grads).__name__}")
    for name, g in items:
        if not isinstance(g, np.ndarray):
            raise TypeError(f"{name}: expected a numpy.ndarray (changed in place), got {type(g).__name__}")
        if g.dtype.kind != "f":
            raise TypeError(f"{name}: expected a floating-point array, got dtype {g.dtype}")
        if not g.flags.writeable:
            raise ValueError(f"{name}: expected a writeable array, got a read-only one")
    return items


# ---- optimizers ---------------------------------------------------------------------------------


class _Optimizer:
    """Shared machinery: parameters, gradient checks, step count, buffers, scratch, state dicts.

    Subclasses define ``_HYPER`` (hyperparameter names in state-dict order), ``_check_hyper``,
    ``_buffer_kinds`` and ``_update``.
    """

    _HYPER: Tuple[str, ...] = ()

    def __init__(self, params: Any, hyper: Dict[str, Any]) -> None:
        self._params = _check_params(params)
        self._hyper = self._check_precision(self._check_hyper(hyper, ""), "")
        self._step = 0
        self._buffers: Dict[str, Dict[str, np.ndarray]] = {}
        self._allocate_buffers()
        # Two scratch arrays per dtype, as large as the largest parameter of that dtype; every
        # parameter gets views of them (a step handles one parameter at a time).
        sizes: Dict[np.dtype, int] = {}
        for p in self._params.values():
            sizes[p.dtype] = max(sizes.get(p.dtype, 0), p.size)
        flat = {dt: (np.empty(n, dt), np.empty(n, dt)) for dt, n in sizes.items()}
        self._scratch = {name: (flat[p.dtype][0][:p.size].reshape(p.shape), flat[p.dtype][1][:p.size].reshape(p.shape))
                         for name, p in self._params.items()}

    # ---- copies and pickles ---------------------------------------------------------------------
    # copy.copy shares the parameter arrays and copies nothing else deeply; copy.deepcopy and
    # pickle copy parameters and buffers (shared with a layer copied along, e.g.
    # ``copy.deepcopy((lstm, opt))``). The scratch arrays are not part of the state.
    def __getstate__(self) -> Dict[str, Any]:
        return {"params": self._params, "hyper": dict(self._hyper), "step": self._step,
                "buffers": {kind: dict(bufs) for kind, bufs in self._buffers.items()}}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        type(self).__init__(self, state["params"], **state["hyper"])
        self._step = state["step"]
        for kind, bufs in state["buffers"].items():
            for name, b in bufs.items():
                np.copyto(self._buffers[kind][name], b)

    # ---- hyperparameters ------------------------------------------------------------------------
    @staticmethod
    def _arg(prefix: str, key: str) -> str:
        return f"{prefix}[{key!r}]" if prefix else key

    def _check_hyper(self, hyper: Dict[str, Any], prefix: str) -> Dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    # Factors that multiply the parameters' arrays in their own precision: a value finite as a
    # double but Inf in float32 (lr = 1e39) would turn every float32 parameter into NaN or Inf.
    _SCALED = ("lr", "eps", "weight_decay", "momentum")

    def _check_precision(self, hyper: Dict[str, Any], prefix: str) -> Dict[str, Any]:
        dtypes = {p.dtype for p in self._params.values()}
        for key in self._SCALED:
            if key in hyper:
                check_lr(self._arg(prefix, key), hyper[key], dtypes)
        return hyper

    @property
    def lr(self) -> float:
        """Learning rate; may be changed between steps (validated: a number >= 0, finite in the
        parameters' dtype)."""
        return self._hyper["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        self._hyper["lr"] = check_lr("lr", value, {p.dtype for p in self._params.values()})

    @property
    def params(self) -> Dict[str, np.ndarray]:
        """The parameter arrays this optimizer updates (the caller's arrays, not copies)."""
        return dict(self._params)

    @property
    def step_count(self) -> int:
        """Steps taken since construction, :meth:`zero_state` or the loaded state."""
        return self._step

    def __repr__(self) -> str:
        n = sum(p.size for p in self._params.values())
        hyper = ", ".join(f"{k}={v!r}" for k, v in self._hyper.items())
        return f"{type(self).__name__}({len(self._params)} arrays, {n} parameters, {hyper})"

    # ---- buffers --------------------------------------------------------------------------------
    def _buffer_kinds(self, hyper: Dict[str, Any]) -> Tuple[str, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _allocate_buffers(self) -> None:
        kinds = self._buffer_kinds(self._hyper)
        self._buffers = {kind: self._buffers.get(kind) or {name: np.zeros_like(p) for name, p in self._params.items()}
                         for kind in kinds}

    def zero_state(self) -> None:
        """Forget the optimizer's history: step count 0, moment buffers 0 (the state at construction)."""
        self._step = 0
        for bufs in self._buffers.values():
            for b in bufs.values():
                b.fill(0)

    def state_dict(self) -> Dict[str, Any]:
        """The optimizer's state as a flat mapping (copies): ``"optimizer"`` (the class name),
        ``"step"``, every hyperparameter by its argument name, and one array per buffer and parameter
        under ``"<buffer>.<parameter name>"`` (e.g. ``"exp_avg.weight_ih_l0"``).

        Every value is a str, a number, a tuple of numbers or an array, so
        ``np.savez(path, **opt.state_dict())`` writes it without pickle.
        """
        state: Dict[str, Any] = {"optimizer": type(self).__name__, "step": self._step}
        state.update(self._hyper)
        for kind, bufs in self._buffers.items():
            for name, b in bufs.items():
                state[f"{kind}.{name}"] = b.copy()
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a state written by :meth:`state_dict` of the same optimizer class over parameters
        with the same names and shapes: step count, hyperparameters (including ``lr``) and buffers.

        Accepts what ``np.load`` returns for an ``np.savez`` of the state (0-d arrays for scalars).
        Everything is validated before anything changes; buffers are copied into this optimizer's
        arrays. Buffers are taken as they are, NaN and Inf included (as torch keeps them: an Adam
        second moment can overflow to Inf in float32), so whatever :meth:`state_dict` gave loads.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict: expected a mapping (from state_dict()), got {type(state_dict).__name__}")
        kind = _plain(state_dict["optimizer"]) if "optimizer" in state_dict else None
        if kind != type(self).__name__:
            raise ValueError(f"state_dict['optimizer']: expected {type(self).__name__!r}, got {kind!r}")
        missing = [k for k in ("step",) + self._HYPER if k not in state_dict]
        if missing:
            raise ValueError(f"state_dict: expected keys {['optimizer', 'step', *self._HYPER]}; missing {missing}")
        hyper = self._check_precision(self._check_hyper({k: _plain(state_dict[k]) for k in self._HYPER},
                                                        "state_dict"), "state_dict")
        kinds = self._buffer_kinds(hyper)
        check_keys("state_dict", state_dict, ["optimizer", "step", *self._HYPER,
                                              *[f"{kind}.{name}" for kind in kinds for name in self._params]])
        step = _plain(state_dict["step"])
        if isinstance(step, float) and step.is_integer():  # a step count stored as a float
            step = int(step)
        if isinstance(step, (bool, np.bool_)) or not isinstance(step, numbers.Integral):
            raise TypeError(f"state_dict['step']: expected an integer, got {type(step).__name__} {step!r}")
        if step < 0:
            raise ValueError(f"state_dict['step']: expected an integer >= 0, got {step}")
        new = {kind: {name: as_real_array(f"state_dict['{kind}.{name}']", state_dict[f"{kind}.{name}"], p.dtype,
                                          p.shape, finite=False)
                      for name, p in self._params.items()}
               for kind in kinds}
        self._hyper, self._step = hyper, int(step)
        self._allocate_buffers()
        for kind, bufs in new.items():
            for name, b in bufs.items():
                np.copyto(self._buffers[kind][name], b)

    # ---- the step -------------------------------------------------------------------------------
    def _check_grads(self, grads: Any) -> List[Tuple[str, np.ndarray]]:
        if not isinstance(grads, Mapping):
            raise TypeError(f"grads: expected a mapping of names to arrays (e.g. lstm.grads), "
                            f"got {type(grads).__name__}")
        check_keys("grads", grads, list(self._params))
        # all checked before any parameter changes
        return [(name, as_real_array(f"grads[{name!r}]", grads[name], p.dtype, p.shape))
                for name, p in self._params.items()]

    def step(self, grads: Mapping[str, Any]) -> None:
        """Update every parameter in place from its gradient.

        Parameters
        ----------
        grads : mapping of str to array
            dL/dparam for exactly the parameters' keys, each of its parameter's shape and finite
            (other real dtypes are converted, at the cost of a copy). Nothing changes unless
            every gradient passes.
        """
        checked = self._check_grads(grads)
        self._step += 1
        for name, g in checked:
            self._update(name, self._params[name], g)

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class SGD(_Optimizer):
    """Stochastic gradient descent with momentum, as ``torch.optim.SGD``.

    Per parameter p with gradient g, at step t (``b`` the momentum buffer)::

        g = -g if maximize
        g = g + weight_decay * p
        b = g                                    if t == 1
        b = momentum * b + (1 - dampening) * g   otherwise
        d = g + momentum * b  if nesterov  else  b      (d = g without momentum)
        p = p - lr * d

    Parameters
    ----------
    params : mapping of str to numpy.ndarray
        The live parameter arrays (float32 or float64, writeable), e.g. ``lstm.parameters()``;
        updated in place.
    lr : float >= 0
        Learning rate (settable between steps: ``opt.lr = ...``). Like ``momentum`` and
        ``weight_decay``, at most the largest value of the parameters' dtype (3.4e38 for float32).
    momentum : float >= 0, default 0.0
    dampening : float in [0, 1], default 0.0
    nesterov : bool, default False
        Nesterov momentum; requires ``momentum > 0`` and ``dampening == 0``.
    weight_decay : float >= 0, default 0.0
        L2 penalty added to the gradient.
    maximize : bool, default False
        Ascend instead of descend.
    """

    _HYPER = ("lr", "momentum", "dampening", "nesterov", "weight_decay", "maximize")

    def __init__(self, params: Any, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                                      weight_decay=weight_decay, maximize=maximize))

    def _check_hyper(self, hyper: Dict[str, Any], prefix: str) -> Dict[str, Any]:
        a = self._arg
        out = dict(lr=check_real(a(prefix, "lr"), hyper["lr"], minimum=0.0),
                   momentum=check_real(a(prefix, "momentum"), hyper["momentum"], minimum=0.0),
                   dampening=check_real(a(prefix, "dampening"), hyper["dampening"], minimum=0.0),
                   nesterov=check_bool(a(prefix, "nesterov"), hyper["nesterov"]),
                   weight_decay=check_real(a(prefix, "weight_decay"), hyper["weight_decay"], minimum=0.0),
                   maximize=check_bool(a(prefix, "maximize"), hyper["maximize"]))
        if out["dampening"] > 1.0:
            raise ValueError(f"{a(prefix, 'dampening')}: expected a number in [0, 1], got {out['dampening']}")
        if out["nesterov"] and (out["momentum"] <= 0.0 or out["dampening"] != 0.0):
            raise ValueError(f"{a(prefix, 'nesterov')}: Nesterov momentum requires momentum > 0 and dampening == 0, "
                             f"got momentum={out['momentum']}, dampening={out['dampening']}")
        return out

    momentum = property(lambda self: self._hyper["momentum"])
    dampening = property(lambda self: self._hyper["dampening"])
    nesterov = property(lambda self: self._hyper["nesterov"])
    weight_decay = property(lambda self: self._hyper["weight_decay"])
    maximize = property(lambda self: self._hyper["maximize"])

    def _buffer_kinds(self, hyper: Dict[str, Any]) -> Tuple[str, ...]:
        return ("momentum_buffer",) if hyper["momentum"] != 0.0 else ()

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        h = self._hyper
        a, b = self._scratch[name]
        d = g
        if h["maximize"]:
            # d = -g
            np.negative(g, out=a)
            d = a
        if h["weight_decay"] != 0.0:
            # d = d + weight_decay * p
            np.multiply(p, h["weight_decay"], out=b)
            np.add(d, b, out=a)
            d = a
        if h["momentum"] != 0.0:
            buf = self._buffers["momentum_buffer"][name]
            if self._step == 1:
                # buf = d (the first step: no dampening)
                np.copyto(buf, d)
            else:
                # buf = momentum * buf + (1 - dampening) * d
                buf *= h["momentum"]
                np.multiply(d, 1.0 - h["dampening"], out=b)
                buf += b
            if h["nesterov"]:
                # d = d + momentum * buf
                np.multiply(buf, h["momentum"], out=b)
                np.add(d, b, out=a)
                d = a
            else:
                d = buf
        # p = p - lr * d
        np.multiply(d, -h["lr"], out=b)
        p += b


class Adam(_Optimizer):
    """Adam, and AdamW with ``decoupled_weight_decay=True``, as ``torch.optim.Adam``/``AdamW``.

    Per parameter p with gradient g, at step t (m, v the moment buffers, v_max for AMSGrad)::

        g = -g if maximize
        p = p * (1 - lr * weight_decay)       if decoupled_weight_decay (AdamW)
        g = g + weight_decay * p              otherwise (L2 penalty)
        m = m + (1 - beta1) * (g - m)         (torch's lerp)
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                 (amsgrad; then v_max replaces v below)
        denom = sqrt(v) / sqrt(1 - beta2**t) + eps
        p = p - lr / (1 - beta1**t) * m / denom

    Parameters
    ----------
    params : mapping of str to numpy.ndarray
        The live parameter arrays (float32 or float64, writeable), e.g. ``lstm.parameters()``;
        updated in place.
    lr : float >= 0, default 1e-3
        Learning rate (settable between steps: ``opt.lr = ...``). Like ``eps`` and
        ``weight_decay``, at most the largest value of the parameters' dtype (3.4e38 for float32).
    betas : (float, float), each in [0, 1), default (0.9, 0.999)
        Decay rates of the first and second moment estimates.
    eps : float >= 0, default 1e-8
    weight_decay : float >= 0, default 0.0
    amsgrad : bool, default False
        Normalise by the running maximum of the second moment (AMSGrad).
    decoupled_weight_decay : bool, default False
        Shrink the parameters directly instead of adding an L2 gradient (AdamW; note that torch's
        ``AdamW`` defaults to ``weight_decay=0.01``, this class to 0).
    maximize : bool, default False
        Ascend instead of descend.
    """

    _HYPER = ("lr", "betas", "eps", "weight_decay", "amsgrad", "decoupled_weight_decay", "maximize")

    def __init__(self, params: Any, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, decoupled_weight_decay: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))

    def _check_hyper(self, hyper: Dict[str, Any], prefix: str) -> Dict[str, Any]:
        a = self._arg
        betas = hyper["betas"]
        name = a(prefix, "betas")
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{name}: expected a pair (beta1, beta2), got {type(betas).__name__} {betas!r}")
        checked = []
        for i, beta in enumerate(betas):
            beta = check_real(f"{name}[{i}]", beta, minimum=0.0)
            if beta >= 1.0:
                raise ValueError(f"{name}[{i}]: expected a number in [0, 1), got {beta}")
            checked.append(beta)
        return dict(lr=check_real(a(prefix, "lr"), hyper["lr"], minimum=0.0),
                    betas=(checked[0], checked[1]),
                    eps=check_real(a(prefix, "eps"), hyper["eps"], minimum=0.0),
                    weight_decay=check_real(a(prefix, "weight_decay"), hyper["weight_decay"], minimum=0.0),
                    amsgrad=check_bool(a(prefix, "amsgrad"), hyper["amsgrad"]),
                    decoupled_weight_decay=check_bool(a(prefix, "decoupled_weight_decay"),
                                                      hyper["decoupled_weight_decay"]),
                    maximize=check_bool(a(prefix, "maximize"), hyper["maximize"]))

    betas = property(lambda self: self._hyper["betas"])
    eps = property(lambda self: self._hyper["eps"])
    weight_decay = property(lambda self: self._hyper["weight_decay"])
    amsgrad = property(lambda self: self._hyper["amsgrad"])
    decoupled_weight_decay = property(lambda self: self._hyper["decoupled_weight_decay"])
    maximize = property(lambda self: self._hyper["maximize"])

    def _buffer_kinds(self, hyper: Dict[str, Any]) -> Tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if hyper["amsgrad"] else ())

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        h = self._hyper
        lr, (beta1, beta2), eps, wd = h["lr"], h["betas"], h["eps"], h["weight_decay"]
        a, b = self._scratch[name]
        m, v = self._buffers["exp_avg"][name], self._buffers["exp_avg_sq"][name]
        t = float(self._step)
        d = g
        if h["maximize"]:
            # d = -g
            np.negative(g, out=a)
            d = a
        if wd != 0.0:
            if h["decoupled_weight_decay"]:
                # p = p * (1 - lr * weight_decay)
                p *= 1.0 - lr * wd
            else:
                # d = d + weight_decay * p
                np.multiply(p, wd, out=b)
                np.add(d, b, out=a)
                d = a
        # m = lerp(m, d, w), w = 1 - beta1, as torch computes it:
        # m + w * (d - m) for |w| < 0.5, else d - (d - m) * (1 - w)
        w = 1.0 - beta1
        np.subtract(d, m, out=b)
        if abs(w) < 0.5:
            b *= w
            m += b
        else:
            b *= 1.0 - w
            np.subtract(d, b, out=m)
        # v = beta2 * v + ((1 - beta2) * d) * d
        np.multiply(d, 1.0 - beta2, out=b)
        b *= d
        v *= beta2
        v += b
        # bias corrections: 1 - beta1**t, sqrt(1 - beta2**t)
        step_size = lr / (1.0 - beta1 ** t)
        bc2_sqrt = (1.0 - beta2 ** t) ** 0.5
        if h["amsgrad"]:
            # v_max = max(v_max, v)
            v_max = self._buffers["max_exp_avg_sq"][name]
            np.maximum(v_max, v, out=v_max)
            v = v_max
        # denom = sqrt(v) / sqrt(1 - beta2**t) + eps   (d is no longer needed: a is free)
        np.sqrt(v, out=a)
        a /= bc2_sqrt
        a += eps
        # p = p + (-step_size * m) / denom
        np.multiply(m, -step_size, out=b)
        b /= a
        p += b


# ---- gradient clipping --------------------------------------------------------------------------


def _check_norm_type(norm_type: Any) -> float:
    if isinstance(norm_type, str) and norm_type.lower() == "inf":
        return math.inf
    if isinstance(norm_type, (bool, np.bool_)) or not isinstance(norm_type, numbers.Real):
        raise TypeError(f"norm_type: expected a number > 0 or inf, got {type(norm_type).__name__} {norm_type!r}")
    value = float(norm_type)
    if not value > 0.0:  # also NaN
        raise ValueError(f"norm_type: expected a number > 0 or inf, got {value}")
    return value


def _array_norm(g: np.ndarray, p: float) -> float:
    """The p-norm of one array as a float64 number; float64 temporaries of at most _CHUNK elements."""
    if g.size == 0:
        return 0.0
    if p == math.inf:
        # max |g|
        return float(max(abs(float(g.max())), abs(float(g.min()))))
    flat = g.reshape(-1)
    if p == 2.0 and g.dtype == np.float64:
        # sqrt(sum g^2)
        return math.sqrt(float(np.dot(flat, flat)))
    total = 0.0
    for i in range(0, flat.size, _CHUNK):
        c = np.array(flat[i:i + _CHUNK], dtype=np.float64)  # a copy: changed in place below
        np.abs(c, out=c)
        if p == 2.0:
            total += float(np.dot(c, c))
        elif p == 1.0:
            total += float(c.sum())
        else:
            np.power(c, p, out=c)
            total += float(c.sum())
    # (sum |g|^p)^(1/p)
    return math.sqrt(total) if p == 2.0 else total if p == 1.0 else total ** (1.0 / p)


def clip_grad_norm(grads: Any, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    """Scale gradients in place so that their total norm is at most about `max_norm`, as
    ``torch.nn.utils.clip_grad_norm_``.

    The total norm is the `norm_type`-norm of all gradients together (of the vector of each
    array's norm). When ``coef = max_norm / (total + 1e-6)`` is below 1, every gradient is
    multiplied by `coef`; otherwise nothing changes. A NaN total makes every gradient NaN, as in
    torch (unless `error_if_nonfinite`).

    Parameters
    ----------
    grads : mapping of str to numpy.ndarray, list of arrays, or one array
        Writeable floating-point arrays, e.g. ``lstm.grads``; changed in place.
    max_norm : float >= 0
    norm_type : float > 0 or inf (also the string ``"inf"``), default 2.0
    error_if_nonfinite : bool, default False
        Raise ValueError (and change nothing) when the total norm is NaN or infinite.

    Returns
    -------
    float
        The total norm before clipping (0.0 for no gradients).
    """
    items = _grad_items(grads)
    max_norm = check_real("max_norm", max_norm, minimum=0.0)
    p = _check_norm_type(norm_type)
    error_if_nonfinite = check_bool("error_if_nonfinite", error_if_nonfinite)
    if not items:
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):  # Inf/NaN gradients give an Inf/NaN norm, as in torch
        norms = [_array_norm(g, p) for _, g in items]
        # total = max_i norm_i (p = inf), else (sum_i norm_i^p)^(1/p)
        total = max(norms) if p == math.inf else float(np.sum(np.power(norms, p)) ** (1.0 / p))
        if any(math.isnan(n) for n in norms):  # max() does not propagate NaN
            total = math.nan
        if error_if_nonfinite and not math.isfinite(total):
            raise ValueError(f"grads: the total norm of order {p} is {total}; expected a finite norm "
                             f"(error_if_nonfinite=True)")
        # coef = min(max_norm / (total + 1e-6), 1); NaN when the total is NaN
        coef = max_norm / (total + 1e-6)
        if not coef >= 1.0:
            for _, g in items:
                g *= coef
    return total


def clip_grad_value(grads: Any, clip_value: float) -> None:
    """Clamp every gradient element into [-clip_value, clip_value] in place, as
    ``torch.nn.utils.clip_grad_value_`` (NaN stays NaN).

    Parameters
    ----------
    grads : mapping of str to numpy.ndarray, list of arrays, or one array
        Writeable floating-point arrays, e.g. ``lstm.grads``; changed in place.
    clip_value : float >= 0
    """
    items = _grad_items(grads)
    clip_value = check_real("clip_value", clip_value, minimum=0.0)
    for _, g in items:
        # g = min(max(g, -clip_value), clip_value)
        np.clip(g, -clip_value, clip_value, out=g)
