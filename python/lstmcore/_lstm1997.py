"""lstmcore.LSTM1997: the 1997 network and its online learning rule (maths: docs/ENGINE.md, part 1)."""
from __future__ import annotations

from typing import Any, Collection, Dict, Mapping, Optional, Tuple, Union

import numpy as np

from . import _core
from ._busy import exclusive, new_lock
from ._cpus import default_threads
from ._io import build_from_config, load_model, save_model
from ._validation import (as_mask, as_real_array, check_bool, check_choice, check_dtype, check_int, check_keys,
                          check_lr, check_memory, check_real, check_seed)

_RECURRENT = {"cells+gates": _core.Recurrence.cells_and_gates, "cells": _core.Recurrence.cells,
              "none": _core.Recurrence.none}
_G = {"g2": _core.Squash.g2, "logistic": _core.Squash.logistic, "tanh": _core.Squash.tanh,
      "identity": _core.Squash.identity, "h1": _core.Squash.h1}
_H = {"h1": _core.Squash.h1, "tanh": _core.Squash.tanh, "identity": _core.Squash.identity,
      "g2": _core.Squash.g2}
_OUT = {"logistic": _core.Squash.logistic, "linear": _core.Squash.identity}
_BIAS_PRESETS = {"gates": {"gates"}, "hidden": {"gates", "cells"}, "all": {"gates", "cells", "outputs"},
                 "none": set()}
_BIAS_KINDS = {"gates", "cells", "outputs"}
_MODES = {"truncated", "full"}
_METHODS = {"rtrl", "bptt"}
_UPDATES = {"step": _core.UpdateSchedule.step, "sequence": _core.UpdateSchedule.sequence}
#: (mode, method) -> core mode, for gradient()'s fast path (method is ignored with mode "full")
_FAST_GRADIENT = {("truncated", "rtrl"): _core.GradientMode.truncated_rtrl}



def _parse_bias(bias: Any) -> frozenset:
    if isinstance(bias, str):
        if bias not in _BIAS_PRESETS:
            raise ValueError(f"bias: expected one of {sorted(_BIAS_PRESETS)} or a collection of "
                             f"{sorted(_BIAS_KINDS)}, got {bias!r}")
        return frozenset(_BIAS_PRESETS[bias])
    try:
        kinds = list(bias)
    except TypeError:
        raise TypeError(f"bias: expected a string or a collection of {sorted(_BIAS_KINDS)}, "
                        f"got {type(bias).__name__}") from None
    for k in kinds:
        if not isinstance(k, str) or k not in _BIAS_KINDS:
            raise ValueError(f"bias: expected members of {sorted(_BIAS_KINDS)}, got {k!r}")
    return frozenset(kinds)


class LSTM1997:
    """The Long Short-Term Memory network of Hochreiter & Schmidhuber (1997).

    One input layer, one hidden layer of memory cell blocks (``blocks`` blocks of
    ``cells_per_block`` cells sharing an input gate and an output gate, each cell built around a
    constant error carousel) and one output layer. Options add the forget gate (Gers et al. 2000)
    and peephole connections (Gers et al. 2002). The exact maths is in ``docs/ENGINE.md``.

    Parameters
    ----------
    n_in, n_out : int
        Number of input and output units.
    blocks : int
        Number of memory cell blocks.
    cells_per_block : int, default 1
        Cells per block (the paper's block size S).
    recurrent : {"cells+gates", "cells", "none"}, default "cells+gates"
        Hidden activations of step t-1 fed to gates and cells at step t: cells and gates (the
        1997 topology "F"), cells only (1999+ and modern LSTMs), or none (topology "B").
    shortcut : bool, default False
        Input-to-output connections (Exp. 2a/2b, Gers et al. 2000).
    bias : str or collection of str, default "gates"
        Unit kinds with a bias: "gates" (paper "ga"), "hidden" (gates and cells, paper "b1"),
        "all" (gates, cells and outputs), "none", or any collection of
        {"gates", "cells", "outputs"}.
    output_gate, forget_gate, peepholes : bool
        Which gates exist, and peepholes from each cell's state to its own block's gates.
    g : {"g2", "logistic", "tanh", "identity", "h1"}, default "g2"
        Cell-input squash; "g2" is 4*sigmoid-2 in [-2, 2]. "h1" (2*sigmoid-1 in [-1, 1]) is an
        extension: with h="g2" it gives the squashing ranges of Table 10's legend.
    h : {"h1", "tanh", "identity", "g2"}, default "h1"
        Cell-output squash; "h1" is 2*sigmoid-1 in [-1, 1]; "g2" (extension) is 4*sigmoid-2.
    out_activation : {"logistic", "linear"}, default "logistic"
    init_range : float, default 0.1
        Every weight is drawn uniformly from [-init_range, init_range] ...
    input_gate_bias, output_gate_bias, forget_gate_bias : float or sequence of float, optional
        ... except these gate biases: one value per block (or one value for all blocks), e.g.
        ``output_gate_bias=[-1, -2, -3]`` as in Exp. 1. Require ``bias`` to include "gates".
    dtype : numpy.float32 or numpy.float64, default numpy.float64
    seed : int or None
        Seed of the initial weights; None draws from OS entropy.

    Attributes
    ----------
    n_weights : int
        Number of trainable weights; reproduces the paper's Table 10 counts.

    Notes
    -----
    Threads: the GIL is released while the core computes, so separate networks used from separate
    threads run in parallel (and give exactly the results of sequential use). One network is used
    by one thread at a time: a call that finds the network busy in another thread raises
    RuntimeError at once ("in use by another thread") and changes nothing.

    ``copy.copy``, ``copy.deepcopy`` and ``pickle`` give an independent network with the same
    configuration and weights (the pickle holds them as plain arrays; model files never pickle).
    """

    def __init__(self, n_in: int, n_out: int, blocks: int, cells_per_block: int = 1, *,
                 recurrent: str = "cells+gates", shortcut: bool = False,
                 bias: Union[str, Collection[str]] = "gates", output_gate: bool = True,
                 forget_gate: bool = False, peepholes: bool = False, g: str = "g2", h: str = "h1",
                 out_activation: str = "logistic", init_range: float = 0.1,
                 input_gate_bias: Any = None, output_gate_bias: Any = None,
                 forget_gate_bias: Any = None, dtype: Any = np.float64,
                 seed: Optional[int] = None) -> None:
        self._busy = new_lock()  # one thread at a time (see lstmcore._busy)
        cfg = _core.Lstm1997Config()
        cfg.n_in = check_int("n_in", n_in, maximum=_core.MAX_SIZE)
        cfg.n_out = check_int("n_out", n_out, maximum=_core.MAX_SIZE)
        cfg.blocks = check_int("blocks", blocks, maximum=_core.MAX_SIZE)
        cfg.cells_per_block = check_int("cells_per_block", cells_per_block, maximum=_core.MAX_SIZE)
        cfg.recurrent = _RECURRENT[check_choice("recurrent", recurrent, _RECURRENT)]
        cfg.shortcut = check_bool("shortcut", shortcut)
        kinds = _parse_bias(bias)
        cfg.bias_gates, cfg.bias_cells, cfg.bias_outputs = ("gates" in kinds, "cells" in kinds,
                                                            "outputs" in kinds)
        cfg.output_gate = check_bool("output_gate", output_gate)
        cfg.forget_gate = check_bool("forget_gate", forget_gate)
        cfg.peepholes = check_bool("peepholes", peepholes)
        cfg.g = _G[check_choice("g", g, _G)]
        cfg.h = _H[check_choice("h", h, _H)]
        cfg.out = _OUT[check_choice("out_activation", out_activation, _OUT)]
        self._dtype = check_dtype("dtype", dtype)
        # weights must stay finite in the network's dtype (and high - low finite in the draw)
        init_range = check_real("init_range", init_range, minimum=0.0,
                                maximum=float(np.finfo(self._dtype).max) / 2)
        # Refuse a network that could never fit in memory before the core allocates it: the core
        # holds the weights, a gradient accumulator and the RTRL traces (about 4 copies of the
        # weights in the network's dtype, one byte per weight of layout); the initial draw makes
        # a float64 copy.
        # n_total: values of the parameter buffer; history: values per step a backward pass
        # (gradient(..., method="bptt"), mode="full") records. Both from the core.
        n_total_values, self._history_per_step = _core.lstm1997_sizes(cfg)
        n_total = int(n_total_values)
        check_memory("n_in, n_out, blocks, cells_per_block", n_total * (4.0 * self._dtype.itemsize + 8 + 1),
                     f"a network of {n_total} weights")
        seed = check_seed(seed)
        gate_biases = {}
        for name, value, exists in (("input_gate_bias", input_gate_bias, True),
                                    ("output_gate_bias", output_gate_bias, cfg.output_gate),
                                    ("forget_gate_bias", forget_gate_bias, cfg.forget_gate)):
            if value is None:
                continue
            if not exists:
                raise ValueError(f"{name}: the network has no such gate, got {value!r}")
            if not cfg.bias_gates:
                raise ValueError(f"{name}: the network has no gate biases (bias={bias!r}), got {value!r}")
            arr = np.asarray(value, dtype=object if isinstance(value, str) else None)
            if arr.ndim == 0:
                arr = np.full(cfg.blocks, arr)
            gate_biases[name] = as_real_array(name, arr, self._dtype, (cfg.blocks,))

        cfg.validate()
        cls = _core.Lstm1997F64 if self._dtype == np.float64 else _core.Lstm1997F32
        self._net = cls(cfg)
        self._shapes: Dict[str, Tuple[int, ...]] = {name: tuple(shape) for name, shape in self._net.param_shapes()}
        self._options = dict(recurrent=recurrent, shortcut=bool(shortcut), bias=sorted(kinds),
                             output_gate=bool(output_gate), forget_gate=bool(forget_gate),
                             peepholes=bool(peepholes), g=g, h=h, out_activation=out_activation)

        # Initial weights: uniform in [-init_range, init_range], drawn per array in layout order.
        rng = np.random.default_rng(seed)
        weights = {name: rng.uniform(-init_range, init_range, size=shape) for name, shape in self._shapes.items()}
        for name, key in (("input_gate_bias", "b_in"), ("output_gate_bias", "b_out"),
                          ("forget_gate_bias", "b_forget")):
            if name in gate_biases:
                weights[key] = gate_biases[name]
        self.set_weights(weights)

    # ---- description -------------------------------------------------------------------------
    @property
    def n_in(self) -> int:
        return int(self._net.config.n_in)

    @property
    def n_out(self) -> int:
        return int(self._net.config.n_out)

    @property
    def blocks(self) -> int:
        return int(self._net.config.blocks)

    @property
    def cells_per_block(self) -> int:
        return int(self._net.config.cells_per_block)

    @property
    def n_weights(self) -> int:
        """Number of trainable weights (Table 10's "w")."""
        return int(self._net.n_weights)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def weight_shapes(self) -> Dict[str, Tuple[int, ...]]:
        """Names and shapes of the weight arrays (the keys of get_weights())."""
        return dict(self._shapes)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self._options.items())
        return (f"LSTM1997({self.n_in}, {self.n_out}, {self.blocks}, {self.cells_per_block}, {opts}, "
                f"dtype={self._dtype.name}; {self.n_weights} weights)")

    # ---- weights -----------------------------------------------------------------------------
    @exclusive
    def get_weights(self) -> Dict[str, np.ndarray]:
        """Copies of all weight arrays, keyed as in docs/ENGINE.md "Sizes and parameters" (W_cell, W_in, ..., W_y, b_y)."""
        return self._net.get_params()

    @exclusive
    def set_weights(self, weights: Mapping[str, Any]) -> None:
        """Validate and copy in all weight arrays.

        Parameters
        ----------
        weights : mapping str -> array_like
            Exactly the keys of ``get_weights()``, each with its shape and finite values.
            Nothing is changed unless every array is valid.
        """
        if not isinstance(weights, Mapping):
            raise TypeError(f"weights: expected a mapping of name -> array, got {type(weights).__name__}")
        check_keys("weights", weights, self._shapes)
        checked = {name: as_real_array(f"weights[{name!r}]", weights[name], self._dtype, shape)
                   for name, shape in self._shapes.items()}
        for name, arr in checked.items():
            self._net.set_param(name, arr)

    # ---- persistence -------------------------------------------------------------------------
    def _config(self) -> Dict[str, Any]:
        return dict(n_in=self.n_in, n_out=self.n_out, blocks=self.blocks, cells_per_block=self.cells_per_block,
                    dtype=self._dtype.name, **self._options)

    def __getstate__(self) -> Dict[str, Any]:
        """copy.copy, copy.deepcopy and pickle: the configuration and the weights (copies), never the
        lock or the core object; every copy is an independent network."""
        return {"config": self._config(), "weights": self._net.get_params()}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(type(self)(**state["config"], seed=0).__dict__)
        for name, shape in self._shapes.items():  # as they were, NaN and Inf included
            self._net.set_param(name, as_real_array(f"weights[{name!r}]", state["weights"][name], self._dtype, shape,
                                                    finite=False))

    def save(self, path: Any) -> None:
        """Write the configuration and weights to `path` (.npz, no pickle, format version and
        checksum; see :meth:`LSTM1997.load`). The round trip is exact."""
        save_model(path, "LSTM1997", self._config(), self.get_weights())

    @classmethod
    def load(cls, path: Any) -> "LSTM1997":
        """Read a network written by :meth:`save`. Truncated, corrupted, foreign,
        version-mismatched or pickle-bearing files raise ValueError; nothing in a file is executed."""
        built = []

        def shapes_for(config: Dict[str, Any]) -> Dict[str, Tuple[int, ...]]:
            # the network of the file's configuration, built before any array is read
            built.append(build_from_config(lambda: cls(**config, seed=0), path))
            return built[0].weight_shapes

        _, arrays = load_model(path, "LSTM1997", shapes_for)
        built[0].set_weights(arrays)
        return built[0]

    # ---- computation -------------------------------------------------------------------------
    def _x(self, x: Any) -> np.ndarray:
        return as_real_array("x", x, self._dtype, (None, self.n_in))

    def _target_mask(self, target: Any, mask: Any, length: int) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        target = as_real_array("target", target, self._dtype, (length, self.n_out))
        return target, as_mask(mask, length)

    def _check_history(self, length: int) -> None:
        check_memory("x", float(length) * self._history_per_step * self._dtype.itemsize,
                     f"the backward pass over {length} steps")

    @exclusive
    def forward(self, x: Any) -> np.ndarray:
        """Run one sequence from the zero state.

        Parameters
        ----------
        x : array_like, shape (T, n_in)

        Returns
        -------
        y : ndarray, shape (T, n_out), the network's dtype
        """
        y = self._net.forward_fast(x)  # None unless x is already a finite C-contiguous array of the dtype
        return y if y is not None else self._net.forward(self._x(x))

    @exclusive
    def gradient(self, x: Any, target: Any, mask: Any = None, *, mode: str = "truncated",
                 method: str = "rtrl") -> Tuple[float, Dict[str, np.ndarray]]:
        """Loss and gradient dL/dw on one sequence, L = 1/2 sum_t mask[t] sum_k (target - y)^2.

        Parameters
        ----------
        x : array_like, shape (T, n_in)
        target : array_like, shape (T, n_out)
        mask : array_like of bool, shape (T,), optional
            Steps that have a target (default: all).
        mode : {"truncated", "full"}
            "truncated" is the 1997 truncated gradient (error flows back in time only through the
            cell states); "full" is the exact gradient (BPTT through every connection).
        method : {"rtrl", "bptt"}
            How the truncated gradient is computed: forward traces (memory independent of T) or a
            backward pass. Both give the same numbers. Ignored for mode="full".

        Returns
        -------
        loss : float
        grads : dict, same keys and shapes as get_weights()
        """
        core_mode = _FAST_GRADIENT.get((mode, method)) if type(mode) is str and type(method) is str else None
        if core_mode is not None:
            fast = self._net.gradient_fast(x, target, mask, core_mode)
            if fast is not None:  # the arguments were already finite C-contiguous arrays of the dtype
                return fast
        check_choice("mode", mode, _MODES)
        check_choice("method", method, _METHODS)
        x = self._x(x)
        target, mask = self._target_mask(target, mask, x.shape[0])
        if mode == "full" or method == "bptt":
            self._check_history(x.shape[0])
        if mode == "full":
            core_mode = _core.GradientMode.full
        elif method == "rtrl":
            core_mode = _core.GradientMode.truncated_rtrl
        else:
            core_mode = _core.GradientMode.truncated_bptt
        loss, grads = self._net.gradient(x, target, mask, core_mode)
        return float(loss), grads

    @exclusive
    def train_sequence(self, x: Any, target: Any, mask: Any = None, *, lr: float,
                       update: str = "step", mode: str = "truncated") -> float:
        """One online pass over a sequence with the 1997 truncated RTRL rule.

        Parameters
        ----------
        x : array_like, shape (T, n_in)
        target : array_like, shape (T, n_out)
        mask : array_like of bool, shape (T,), optional
        lr : float
            Learning rate (the paper's alpha), >= 0.
        update : {"step", "sequence"}
            "step": ``w -= lr * g(t)`` right after every step t with a target, and the pass goes
            on with the new weights (states and traces carry on); "sequence": the summed gradient
            once at the end.
        mode : {"truncated", "full"}
            "truncated" (default): the 1997 rule above. "full" (extension): one step of gradient
            descent with the exact BPTT gradient of the whole sequence; needs update="sequence".

        Returns
        -------
        loss : float
            The loss accumulated during the pass, each step's loss as it was computed.
        """
        if mode == "truncated" and type(update) is str and update in _UPDATES:
            loss = self._net.train_sequence_fast(x, target, mask, lr, _UPDATES[update])
            if loss is not None:  # x, target, mask, lr were already what the core takes
                return loss
        lr = check_lr("lr", lr, (self._dtype,))
        update_kind = _UPDATES[check_choice("update", update, _UPDATES)]
        check_choice("mode", mode, _MODES)
        if mode == "full" and update != "sequence":
            raise ValueError(f"mode: 'full' needs update='sequence' (the exact gradient exists only "
                             f"for the whole sequence), got update={update!r}")
        x = self._x(x)
        target, mask = self._target_mask(target, mask, x.shape[0])
        if mode == "full":
            self._check_history(x.shape[0])
            return float(self._net.train_sequence_full(x, target, mask, lr))
        return float(self._net.train_sequence(x, target, mask, lr, update_kind))

    # ---- packed batches ----------------------------------------------------------------------
    def _offsets(self, offsets: Any) -> np.ndarray:
        """offsets -> C-contiguous int64 (n + 1,) with 0 = o[0] < o[1] < ... (checked in the core too)."""
        arr = np.asarray(offsets)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"offsets: expected an integer array, got dtype {arr.dtype}")
        if arr.ndim != 1 or arr.shape[0] < 1:
            raise ValueError(f"offsets: expected a 1-d array (n + 1,), got shape {arr.shape}")
        return np.ascontiguousarray(arr, dtype=np.int64)

    @exclusive
    def train_batch(self, x: Any, target: Any, mask: Any, offsets: Any, *, lr: float, update: str = "step",
                    last_error: bool = False) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Train n packed sequences one after the other, online: the same numbers as n calls of
        :meth:`train_sequence` (truncated mode), in one call.

        Parameters
        ----------
        x : array_like, shape (R, n_in)
            The sequences back to back: sequence i is rows ``offsets[i]:offsets[i + 1]``.
        target : array_like, shape (R, n_out)
        mask : array_like of bool, shape (R,), or None (every step has a target)
        offsets : array_like of int, shape (n + 1,)
            ``0 = offsets[0] < offsets[1] < ... < offsets[n] = R`` (every sequence at least one step),
            as returned by the tasks' ``sample_batch``.
        lr : float >= 0
        update : {"step", "sequence"}
        last_error : bool, default False
            Also return each sequence's largest absolute output error at its last step, with the
            outputs computed during its pass (before that step's update).

        Returns
        -------
        loss : ndarray of float64, shape (n,)
            Each sequence's loss as accumulated during its pass.
        last_abs_error : ndarray of float64, shape (n,), or None
            ``max_k |target[last, k] - y[last, k]|`` per sequence if ``last_error``.
        """
        lr = check_lr("lr", lr, (self._dtype,))
        update_kind = _UPDATES[check_choice("update", update, _UPDATES)]
        offsets = self._offsets(offsets)
        x = self._x(x)
        target, mask = self._target_mask(target, mask, x.shape[0])
        loss, err = self._net.train_batch(x, target, mask, offsets, lr, update_kind, check_bool("last_error", last_error))
        return loss, err

    @exclusive
    def forward_batch(self, x: Any, offsets: Any, *, num_threads: Optional[int] = None) -> np.ndarray:
        """Forward passes of n packed sequences, each from the zero state, parallel over sequences.

        Parameters
        ----------
        x : array_like, shape (R, n_in)
            Sequence i is rows ``offsets[i]:offsets[i + 1]``.
        offsets : array_like of int, shape (n + 1,)
            ``0 = offsets[0] < ... < offsets[n] = R``.
        num_threads : int >= 1, optional
            Threads (default: the cores this process may use). The outputs are bitwise the same
            for any number of threads.

        Returns
        -------
        y : ndarray, shape (R, n_out), the network's dtype
            Row r is the output at that step: the same as :meth:`forward` of each sequence.
        """
        threads = _default_threads() if num_threads is None else check_int("num_threads", num_threads, minimum=1,
                                                                            maximum=4096)
        return self._net.forward_batch(self._x(x), self._offsets(offsets), threads)


def _default_threads() -> int:
    """The default num_threads: OMP_NUM_THREADS, else the CPUs this process may use (lstmcore._cpus)."""
    return default_threads()
