"""lstmcore.baselines.RecurrentNet: the conventional recurrent nets of the 1997 paper's comparisons
(fully recurrent, Elman, self-recurrent hidden units) with exact RTRL, exact BPTT and Elman's
truncated gradient. The maths: docs/BASELINES.md; the core: cpp/include/lstmcore/recurrent_net.hpp."""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from .. import _core
from .._busy import exclusive, new_lock
from .._io import build_from_config, load_model, save_model
from .._validation import (as_mask, as_real_array, check_bool, check_choice, check_dtype, check_int, check_keys,
                           check_lr, check_memory, check_real, check_seed)

__all__ = ["RecurrentNet"]

_RECURRENCES = ("full", "hidden", "self")
_OUT = ("logistic", "linear")
_METHODS = ("rtrl", "bptt", "elman")
_UPDATES = ("step", "sequence")


class RecurrentNet:
    """A conventional recurrent net of logistic units, as the 1997 paper's competitors used them.

    Parameters
    ----------
    n_in, n_hidden, n_out : int
        Input units, non-output (hidden) units and output units.
    recurrence : {"full", "hidden", "self"}, default "full"
        "full": Williams & Zipser's fully recurrent net. n_hidden + n_out units, each fed by every
        input and every unit at t-1; the last n_out units are the outputs. Weights ``W_x``
        (n_hidden + n_out, n_in), ``W_r`` (n_hidden + n_out, n_hidden + n_out), ``b``.
        "hidden": Elman's net. Hidden units fed by the inputs and every hidden unit at t-1 (the
        context layer); outputs fed by the hidden units at t. Weights ``W_hx``, ``W_hh``, ``b_h``,
        ``W_yh``, ``W_yx`` (with shortcut), ``b_y``.
        "self": as "hidden", but each hidden unit sees only its own activation at t-1
        (``w_hh`` has shape (n_hidden,)).
    shortcut : bool, default False
        Input-to-output connections ("hidden" and "self" only).
    bias : bool, default True
        A bias weight on every non-input unit.
    init_range : float, default 0.1
        Every weight drawn uniformly from [-init_range, init_range].
    out_activation : {"logistic", "linear"}, default "logistic"
    dtype : numpy.float32 or numpy.float64, default numpy.float64
    seed : int or None
        Seed of the initial weights; None draws from OS entropy.

    The paper's nets (``n_weights``): Table 1 RTRL ``RecurrentNet(7, 3, 7, bias=False)`` (170) and
    ``RecurrentNet(7, 12, 7, bias=False)`` (494); Table 1 ELM ``RecurrentNet(7, 15, 7,
    recurrence="hidden", bias=False)`` (435); Table 2 RTRL/BPTT ``RecurrentNet(p + 1, 1, p + 1,
    recurrence="self", shortcut=True, bias=False)`` (36, 144, 10404 for p = 4, 10, 100).

    Loss convention: ``L = 1/2 sum_t mask[t] sum_k (y_k(t) - target_k(t))^2``; gradients are dL/dw,
    so a step is ``w -= lr * grad``.

    Threads: the GIL is released while the core computes; one object is used by one thread at a
    time (a second thread gets a RuntimeError at once).
    """

    def __init__(self, n_in: int, n_hidden: int, n_out: int, *, recurrence: str = "full", shortcut: bool = False,
                 bias: bool = True, init_range: float = 0.1, out_activation: str = "logistic",
                 dtype: Any = np.float64, seed: Optional[int] = None) -> None:
        self._busy = new_lock()
        n_in = check_int("n_in", n_in, maximum=_core.MAX_SIZE)
        recurrence = check_choice("recurrence", recurrence, _RECURRENCES)
        n_hidden = check_int("n_hidden", n_hidden, minimum=0 if recurrence == "full" else 1, maximum=_core.MAX_SIZE)
        n_out = check_int("n_out", n_out, maximum=_core.MAX_SIZE)
        shortcut = check_bool("shortcut", shortcut)
        if shortcut and recurrence == "full":
            raise ValueError("shortcut: recurrence 'full' has no separate output layer (every unit already sees "
                             "the inputs); expected shortcut=False, got True")
        bias = check_bool("bias", bias)
        out_activation = check_choice("out_activation", out_activation, _OUT)
        self._dtype = check_dtype("dtype", dtype)
        init_range = check_real("init_range", init_range, minimum=0.0,
                                maximum=float(np.finfo(self._dtype).max) / 2)
        seed = check_seed(seed)
        # Refuse a net that could never fit in memory before the core allocates it: weights and
        # gradients (2 copies in the dtype), plus the float64 initial draw.
        m = n_hidden + n_out if recurrence == "full" else n_hidden
        ns = n_in + 1 + (0 if recurrence == "self" else m)
        nz = 0 if recurrence == "full" else m + (n_in if shortcut else 0) + 1
        n_total = float(m) * ns + float(n_out) * nz + m
        check_memory("n_in, n_hidden, n_out", n_total * (2.0 * self._dtype.itemsize + 8),
                     f"a network of {n_total:.0f} weights")
        self._units, self._sources = m, ns
        # RTRL sensitivities: M^2 ns values (dense recurrence) or M (ns + 1) (Self), exact in Python ints
        self._trace_values = m * m * ns if recurrence != "self" else m * (ns + 1)
        self._sizes = (n_in, n_hidden, n_out)

        cls = _core.RecurrentNetF64 if self._dtype == np.float64 else _core.RecurrentNetF32
        self._net = cls(n_in, n_hidden, n_out, recurrence, shortcut, bias, out_activation == "linear")
        self._shapes: Dict[str, Tuple[int, ...]] = {name: tuple(shape) for name, shape in self._net.param_shapes()}
        self._config = dict(n_in=n_in, n_hidden=n_hidden, n_out=n_out, recurrence=recurrence, shortcut=shortcut,
                            bias=bias, init_range=init_range, out_activation=out_activation,
                            dtype=self._dtype.name)
        rng = np.random.default_rng(seed)
        self.set_weights({name: rng.uniform(-init_range, init_range, size=shape)
                          for name, shape in self._shapes.items()})

    # ---- description -------------------------------------------------------------------------
    @property
    def n_in(self) -> int:
        return self._sizes[0]

    @property
    def n_hidden(self) -> int:
        return self._sizes[1]

    @property
    def n_out(self) -> int:
        return self._sizes[2]

    @property
    def recurrence(self) -> str:
        return str(self._config["recurrence"])

    @property
    def n_weights(self) -> int:
        """Number of trainable weights (biases included when present)."""
        return int(self._net.n_weights)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def weight_shapes(self) -> Dict[str, Tuple[int, ...]]:
        """Names and shapes of the weight arrays (the keys of get_weights())."""
        return dict(self._shapes)

    @property
    def config(self) -> Dict[str, Any]:
        """The constructor arguments (without seed)."""
        return dict(self._config)

    def __repr__(self) -> str:
        c = self._config
        return (f"RecurrentNet({c['n_in']}, {c['n_hidden']}, {c['n_out']}, recurrence={c['recurrence']!r}, "
                f"shortcut={c['shortcut']}, bias={c['bias']}, out_activation={c['out_activation']!r}, "
                f"dtype={c['dtype']}; {self.n_weights} weights)")

    # ---- weights -----------------------------------------------------------------------------
    @exclusive
    def get_weights(self) -> Dict[str, np.ndarray]:
        """Copies of all weight arrays (names and shapes: ``weight_shapes``)."""
        return self._net.get_params()

    @exclusive
    def set_weights(self, weights: Mapping[str, Any]) -> None:
        """Validate and copy in all weight arrays: exactly the keys of get_weights(), each with its
        shape and finite values. Nothing changes unless every array is valid."""
        if not isinstance(weights, Mapping):
            raise TypeError(f"weights: expected a mapping of name -> array, got {type(weights).__name__}")
        check_keys("weights", weights, self._shapes)
        checked = {name: as_real_array(f"weights[{name!r}]", weights[name], self._dtype, shape)
                   for name, shape in self._shapes.items()}
        for name, arr in checked.items():
            self._net.set_param(name, arr)

    def get_flat(self) -> np.ndarray:
        """All weights as one vector (n_weights,), in the order of ``weight_shapes``."""
        w = self.get_weights()
        return np.concatenate([w[name].ravel() for name in self._shapes]) if w else np.zeros(0, self._dtype)

    def set_flat(self, flat: Any) -> None:
        """Set all weights from one vector (n_weights,) in the order of ``weight_shapes``."""
        flat = as_real_array("flat", flat, self._dtype, (self.n_weights,))
        out, k = {}, 0
        for name, shape in self._shapes.items():
            n = int(np.prod(shape))
            out[name] = flat[k:k + n].reshape(shape)
            k += n
        self.set_weights(out)

    # ---- persistence -------------------------------------------------------------------------
    def save(self, path: Any) -> None:
        """Write the configuration and weights to `path` in lstmcore's model format (.npz, no
        pickle, checksum; the format of LSTM1997.save). The round trip is exact."""
        save_model(path, "RecurrentNet", self.config, self.get_weights())

    @classmethod
    def load(cls, path: Any) -> "RecurrentNet":
        """Read a net written by :meth:`save`; invalid files raise ValueError."""
        config, arrays = load_model(path, "RecurrentNet")
        net = build_from_config(lambda: cls(**config, seed=0), path)
        net.set_weights(arrays)
        return net

    # ---- computation -------------------------------------------------------------------------
    def _x(self, x: Any) -> np.ndarray:
        return as_real_array("x", x, self._dtype, (None, self.n_in))

    def _target_mask(self, target: Any, mask: Any, length: int) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        return as_real_array("target", target, self._dtype, (length, self.n_out)), as_mask(mask, length)

    def _check_method_memory(self, method: str, length: int) -> None:
        itemsize = self._dtype.itemsize
        if method == "rtrl":
            check_memory("n_hidden", 2.0 * self._trace_values * itemsize,
                         f"the RTRL sensitivities of {self._units} units (use method='bptt' for large fully "
                         f"recurrent nets)")
        elif method == "bptt":
            check_memory("x", float(length) * (self._sources + 3 * self._units) * itemsize,
                         f"the backward pass over {length} steps")

    @exclusive
    def forward(self, x: Any) -> np.ndarray:
        """Run one sequence from the zero state: x (T, n_in) -> y (T, n_out)."""
        return self._net.forward(self._x(x))

    @exclusive
    def forward_batch(self, x: Any, lengths: Any = None) -> np.ndarray:
        """Run N sequences, each from the zero state (test sets in one call).

        Parameters
        ----------
        x : array_like, shape (T, N, n_in), time-major, padded
        lengths : array_like of int, shape (N,), optional
            Each sequence's length (<= T); outputs past it are 0. Default: all T.

        Returns
        -------
        y : ndarray, shape (T, N, n_out)
        """
        x = as_real_array("x", x, self._dtype, (None, None, self.n_in))
        if lengths is not None:
            arr = np.asarray(lengths)
            if arr.dtype.kind not in "iu":
                raise TypeError(f"lengths: expected an integer array, got dtype {arr.dtype}")
            lengths = np.ascontiguousarray(arr, dtype=np.int64)
        return self._net.forward_batch(x, lengths)

    def forward_many(self, sequences: Sequence[Any]) -> list:
        """Outputs of several sequences of any lengths: a list of x (T_i, n_in) -> list of y (T_i, n_out)."""
        xs = [self._x(x) for x in sequences]
        if not xs:
            return []
        T = max(x.shape[0] for x in xs)
        batch = np.zeros((T, len(xs), self.n_in), dtype=self._dtype)
        for n, x in enumerate(xs):
            batch[:x.shape[0], n] = x
        y = self.forward_batch(batch, np.array([x.shape[0] for x in xs], dtype=np.int64))
        return [np.ascontiguousarray(y[:x.shape[0], n]) for n, x in enumerate(xs)]

    @exclusive
    def gradient(self, x: Any, target: Any, mask: Any = None, method: str = "rtrl"
                 ) -> Tuple[float, Dict[str, np.ndarray]]:
        """Loss and gradient dL/dw on one sequence, L = 1/2 sum_t mask[t] sum_k (y_k - target_k)^2.

        Parameters
        ----------
        x : array_like, shape (T, n_in)
        target : array_like, shape (T, n_out)
        mask : array_like of bool, shape (T,), optional
            Steps that have a target (default: all).
        method : {"rtrl", "bptt", "elman"}
            "rtrl": exact, by sensitivities carried forward in time (memory independent of T,
            O(n^3) for full recurrence); "bptt": exact, by a backward pass (the same numbers);
            "elman": Elman's truncated gradient, the activations of t-1 treated as inputs.

        Returns
        -------
        loss : float
        grads : dict, same keys and shapes as get_weights()
        """
        check_choice("method", method, _METHODS)
        x = self._x(x)
        target, mask = self._target_mask(target, mask, x.shape[0])
        self._check_method_memory(method, x.shape[0])
        loss, grads = self._net.gradient(x, target, mask, method)
        return float(loss), grads

    @exclusive
    def train_sequence(self, x: Any, target: Any, mask: Any = None, *, lr: float, method: str = "rtrl",
                       update: Optional[str] = None) -> float:
        """One training pass over a sequence; updates the weights in place.

        Parameters
        ----------
        x, target, mask : as in :meth:`gradient`
        lr : float
            Learning rate (>= 0): ``w -= lr * g``.
        method : {"rtrl", "bptt", "elman"}
        update : {"step", "sequence"}, optional
            "step" (default for rtrl and elman): ``w -= lr * g(t)`` right after every step t with
            a target, the sensitivities carrying on (Williams & Zipser's online RTRL, as the
            paper's RTRL runs used it). "sequence" (default, and the only choice, for bptt):
            ``w -= lr * dL/dw`` once at the end.

        Returns
        -------
        loss : float
            The loss of the pass, each step's loss as it was computed.
        """
        lr = check_lr("lr", lr, (self._dtype,))
        check_choice("method", method, _METHODS)
        if update is None:
            update = "sequence" if method == "bptt" else "step"
        check_choice("update", update, _UPDATES)
        if method == "bptt" and update == "step":
            raise ValueError("update: method 'bptt' computes the gradient of the whole sequence; expected "
                             "update='sequence', got 'step'")
        x = self._x(x)
        target, mask = self._target_mask(target, mask, x.shape[0])
        self._check_method_memory(method, x.shape[0])
        return float(self._net.train_sequence(x, target, mask, lr, method, update))
