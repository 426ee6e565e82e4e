"""lstmcore.LSTM: the modern LSTM layer, compatible with torch.nn.LSTM (maths: docs/ENGINE.md, part 2)."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from . import _core
from ._busy import exclusive, new_lock
from ._cpus import default_threads
from ._io import build_from_config, load_model, save_model
from ._live import LiveArrays
from ._validation import (as_real_array, check_bool, check_dtype, check_dropout, check_int, check_keys,
                          check_memory, check_seed, check_threads, memory_limit)

# The classes LSTM.stream() and LSTM.online() build, registered by lstmcore._stream when it is
# imported (lstmcore's __init__ imports it): _stream builds on this module, never the reverse.
_ON_LAYER: Dict[str, Any] = {}



def _default_threads() -> int:
    """The default num_threads: OMP_NUM_THREADS, else the CPUs this process may use (lstmcore._cpus)."""
    return default_threads()


# The state of a forward that started running its layers and did not finish (see forward).
_INCOMPLETE: dict = {"incomplete": True}


class LSTM:
    """A multi-layer LSTM with the interface, parameters and maths of ``torch.nn.LSTM``.

    Per layer and direction, with gate order (i, f, g, o)::

        i = sigmoid(W_ii x + b_ii + W_hi h(t-1) + b_hi [+ w_ci * c(t-1)])
        f = sigmoid(W_if x + b_if + W_hf h(t-1) + b_hf [+ w_cf * c(t-1)])
        g = tanh(W_ig x + b_ig + W_hg h(t-1) + b_hg)
        c(t) = f * c(t-1) + i * g
        o = sigmoid(W_io x + b_io + W_ho h(t-1) + b_ho [+ w_co * c(t)])
        h(t) = o * tanh(c(t))                      (proj_size = 0)
        h(t) = W_hr (o * tanh(c(t)))               (proj_size = P > 0)

    (the bracketed peephole terms only with ``peepholes=True``, an extension torch lacks). With
    ``proj_size`` P > 0 (an LSTM with a recurrent projection layer, Sak et al. 2014, exactly as
    torch's ``proj_size``) the output and the state fed back are the projected h(t) of size P, so
    ``weight_hh`` is (4H, P), layer k > 0 reads D*P inputs, outputs are (..., D*P), h_0 and h_n are
    (L*D, N, P), while c_0 and c_n stay (L*D, N, H). Below, R = P with a projection, else H.

    Parameters
    ----------
    input_size, hidden_size : int
        I and H.
    num_layers : int, default 1
        Stacked layers; layer k > 0 reads the (concatenated) outputs of layer k-1.
    bias : bool, default True
        Whether the layers have ``bias_ih`` and ``bias_hh``.
    batch_first : bool, default False
        Batched input and output are (N, T, features) instead of (T, N, features).
    bidirectional : bool, default False
        A reverse direction per layer; outputs are concatenated [forward, reverse] on the last axis.
    peepholes : bool, default False
        Peephole weights ``weight_ci``, ``weight_cf``, ``weight_co`` (H,) per layer and direction.
    proj_size : int, default 0
        0 (no projection) or 0 < P < hidden_size: a projection ``weight_hr_l{k}[_reverse]`` (P, H)
        per layer and direction, h(t) = W_hr (o * tanh(c(t))). Works everywhere the layer does:
        stacked, bidirectional, with ``lengths``, exact and truncated backward, :meth:`stream`
        and :meth:`online`.
    dropout : float in [0, 1), default 0
        As torch: in training mode (see :meth:`train`), each element of the output of every layer
        except the last is zeroed with probability ``dropout`` and the kept ones scaled by
        1/(1 - dropout) before the next layer reads it. The masks come from the layer's own
        generator (seeded by `seed`), so they are reproducible and independent of num_threads, and
        backward uses the masks of its forward. In eval mode, and with one layer, dropout does
        nothing (torch warns for one layer; this layer accepts it silently).
    dtype : numpy.float32 or numpy.float64 (or None: float32), default numpy.float32
    seed : int or None
        Every parameter is drawn uniformly from [-1/sqrt(H), 1/sqrt(H)], in state-dict order; the
        dropout masks come from a second generator seeded from the same seed.
    num_threads : int or None
        Threads of each call (None: the cores available to the process), at most
        ``lstmcore.max_threads()`` (4 per core of the machine). Results are bitwise identical for
        any thread count.

    Parameter names and shapes are torch's: ``weight_ih_l{k}[_reverse]`` (4H, I or D*R),
    ``weight_hh_l{k}[_reverse]`` (4H, R), ``bias_ih_l{k}[_reverse]``, ``bias_hh_l{k}[_reverse]`` (4H,),
    ``weight_hr_l{k}[_reverse]`` (P, H) with a projection (in torch's order: after the biases),
    so a state dict moves between the two unchanged. With peepholes and a projection, the
    peephole weights come before ``weight_hr``.

    Input arrays of another dtype (e.g. float64 input to a float32 layer) are cast to the layer's
    dtype silently, where torch would raise; outputs and gradients always have the layer's dtype.

    An empty batch (N = 0) gives empty outputs (T, 0, D*R) and states (L*D, 0, R), (L*D, 0, H), and its
    backward gives zero parameter gradients, as torch; T = 0 is an error, as in torch.

    Threads: the GIL is released while the core computes, so separate layers used from separate
    threads run in parallel (and give exactly the results of sequential use). One layer is used by
    one thread at a time: forward, backward or load_state_dict finding the layer busy in another
    thread raise RuntimeError at once ("in use by another thread"). Do not change the arrays of
    ``parameters()`` (e.g. an optimizer step) while another thread runs the layer.

    Copies and pickles: ``copy.copy``, ``copy.deepcopy`` and ``pickle`` give an independent layer
    with the same configuration, parameters and gradients (the state of the last forward is not
    carried: backward needs a forward of the copy); a pickle holds the configuration and arrays only.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *, bias: bool = True,
                 batch_first: bool = False, bidirectional: bool = False, peepholes: bool = False,
                 dropout: float = 0.0, proj_size: int = 0, dtype: Any = np.float32, seed: Optional[int] = None,
                 num_threads: Optional[int] = None) -> None:
        self._busy = new_lock()  # one thread at a time (see lstmcore._busy)
        self._input_size = check_int("input_size", input_size, minimum=1, maximum=_core.MAX_SIZE)
        self._hidden_size = check_int("hidden_size", hidden_size, minimum=1, maximum=_core.MAX_SIZE)
        self._num_layers = check_int("num_layers", num_layers, minimum=1, maximum=_core.MAX_LAYERS)
        self._bias = check_bool("bias", bias)
        self._batch_first = check_bool("batch_first", batch_first)
        self._bidirectional = check_bool("bidirectional", bidirectional)
        self._peepholes = check_bool("peepholes", peepholes)
        self._proj_size = check_int("proj_size", proj_size, minimum=0, maximum=_core.MAX_SIZE)
        if self._proj_size >= self._hidden_size:
            raise ValueError(f"proj_size: expected 0 (no projection) or 0 < proj_size < hidden_size = "
                             f"{self._hidden_size}, got {self._proj_size}")
        self._dropout = check_dropout("dropout", dropout)
        self._training = True  # torch's default mode
        self._dtype = check_dtype("dtype", dtype, default=np.float32)
        seed = check_seed(seed)
        self.num_threads = num_threads  # validated by the setter

        H, D, P = self._hidden_size, self.num_directions, self._proj_size
        R = self.recurrent_size  # the width of h: P with a projection, else H
        # Refuse a layer that could never fit in memory before anything is allocated: parameters,
        # gradients and the packed weight panels of a call (in the dtype) plus the float64 draw.
        I, L = self._input_size, self._num_layers
        # per layer: (parameter values, values a forward keeps per step and sequence) of one direction
        sizes = [_core.layer_sizes(I if k == 0 else D * R, H, self._bias, self._peepholes, P) for k in range(L)]
        n_params = int(D * sum(p for p, _ in sizes))
        check_memory("input_size, hidden_size, num_layers", n_params * (3.0 * self._dtype.itemsize + 8),
                     f"a layer of {n_params} parameters")
        core = _core.LstmLayerF32 if self._dtype == np.float32 else _core.LstmLayerF64
        self._shapes: Dict[str, Tuple[int, ...]] = {}
        self._dir_keys: List[List[str]] = []  # per (layer, direction): parameter names in core order
        self._dirs = []  # core objects, index k * D + d
        for k in range(self._num_layers):
            n_in = self._input_size if k == 0 else D * R
            for d in range(D):
                sfx = f"_l{k}" + ("_reverse" if d == 1 else "")
                keys = [f"weight_ih{sfx}", f"weight_hh{sfx}"]
                self._shapes[keys[0]] = (4 * H, n_in)
                self._shapes[keys[1]] = (4 * H, R)
                if self._bias:
                    keys += [f"bias_ih{sfx}", f"bias_hh{sfx}"]
                    self._shapes[keys[2]] = (4 * H,)
                    self._shapes[keys[3]] = (4 * H,)
                if self._peepholes:
                    for gate in ("ci", "cf", "co"):
                        keys.append(f"weight_{gate}{sfx}")
                        self._shapes[keys[-1]] = (H,)
                if P:
                    keys.append(f"weight_hr{sfx}")
                    self._shapes[keys[-1]] = (P, H)
                self._dir_keys.append(keys)
                self._dirs.append(core(n_in, H, self._bias, self._peepholes, d == 1, P))
        # What a forward keeps for its backward, per step and sequence, in values (all layers and directions).
        self._kept_per_item = D * sum(kept for _, kept in sizes)
        # torch's state-dict order: per layer, per direction, ih/hh weights, biases, then weight_hr
        self._order = [name for keys in self._dir_keys for name in keys]
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(H)
        self._params: Dict[str, np.ndarray] = {
            name: np.ascontiguousarray(rng.uniform(-bound, bound, self._shapes[name]), dtype=self._dtype)
            for name in self._order}
        self._grads: Dict[str, np.ndarray] = {name: np.zeros(self._shapes[name], self._dtype) for name in self._order}
        # The dropout masks' generator: its own stream, so the parameters of a seed do not depend
        # on dropout, and the masks do not depend on the thread count (they are drawn here, in Python).
        self._dropout_rng = np.random.default_rng(None if seed is None else [seed, 0x64726F70])
        self._live = LiveArrays(self._params, "parameters()")
        self._last: Optional[dict] = None  # what backward needs to know about the last forward
        self._version = 0  # bumped by load_state_dict: a backward refuses a forward of older parameters
        self.grad_hx: Optional[Tuple[np.ndarray, np.ndarray]] = None

    # ---- configuration --------------------------------------------------------------------------
    input_size = property(lambda self: self._input_size)
    hidden_size = property(lambda self: self._hidden_size)
    num_layers = property(lambda self: self._num_layers)
    bias = property(lambda self: self._bias)
    batch_first = property(lambda self: self._batch_first)
    bidirectional = property(lambda self: self._bidirectional)
    peepholes = property(lambda self: self._peepholes)
    dropout = property(lambda self: self._dropout)
    proj_size = property(lambda self: self._proj_size)
    dtype = property(lambda self: self._dtype)

    @property
    def recurrent_size(self) -> int:
        """The width of h (outputs per direction, h_0 and h_n): proj_size with a projection, else hidden_size."""
        return self._proj_size if self._proj_size else self._hidden_size

    @property
    def training(self) -> bool:
        """True in training mode (dropout applies), False in eval mode; set by train() / eval()."""
        return self._training

    def train(self, mode: bool = True) -> "LSTM":
        """Set training mode (`mode` True) or eval mode (False), as torch's Module.train; returns self."""
        self._training = check_bool("mode", mode)
        return self

    def eval(self) -> "LSTM":
        """Eval mode: no dropout, deterministic, equal to dropout=0 (as torch's Module.eval); returns self."""
        return self.train(False)

    @property
    def num_directions(self) -> int:
        return 2 if self._bidirectional else 1

    @property
    def num_threads(self) -> int:
        return self._num_threads

    @num_threads.setter
    def num_threads(self, value: Optional[int]) -> None:
        self._num_threads = _default_threads() if value is None else check_threads("num_threads", value)

    def __repr__(self) -> str:
        return (f"LSTM({self._input_size}, {self._hidden_size}, num_layers={self._num_layers}, bias={self._bias}, "
                f"batch_first={self._batch_first}, bidirectional={self._bidirectional}, "
                f"peepholes={self._peepholes}, dropout={self._dropout}, "
                + (f"proj_size={self._proj_size}, " if self._proj_size else "") + f"dtype={self._dtype.name})")

    # ---- parameters -----------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, np.ndarray]:
        """Copies of every parameter, by torch's names, in torch's order."""
        return {name: self._params[name].copy() for name in self._order}

    @exclusive
    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Validate and copy in a full state dict (NumPy arrays, or anything np.asarray accepts,
        e.g. the CPU tensors of ``torch.nn.LSTM.state_dict()``)."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict: expected a mapping of names to arrays, got {type(state_dict).__name__}")
        check_keys("state_dict", state_dict, self._order)
        new = {}
        for name in self._order:
            value = state_dict[name]
            if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
                value = value.detach().cpu().numpy()
            new[name] = as_real_array(f"state_dict[{name!r}]", value, self._dtype, self._shapes[name]).copy()
        # Copied into the live arrays (so parameters() views, optimizers and streams stay bound to
        # them), all or nothing: every array is checked writeable first, and an interrupt between
        # two copies puts the old values back. The last forward can no longer be differentiated.
        for name in self._order:
            if not self._params[name].flags.writeable:
                raise ValueError(f"parameters()[{name!r}]: the live array is read-only (its writeable flag was "
                                 "cleared); nothing was loaded")
        old = {name: self._params[name].copy() for name in self._order}
        try:
            for name in self._order:
                np.copyto(self._params[name], new[name])
        except BaseException:
            for name in self._order:
                np.copyto(self._params[name], old[name])
            raise
        self._version += 1

    def parameters(self) -> Mapping[str, np.ndarray]:
        """The live parameter arrays, by torch's names (not copies), as a read-only mapping.

        Forward, every stream and online trainer of this layer and every optimizer built on this
        mapping read these very arrays, so changes must be made in place: ``p[k] -= lr * g``,
        ``p[k][...] = new``, ``np.copyto(p[k], new)``, an optimizer step
        (``lstmcore.optim.Adam(lstm.parameters())``) or :meth:`load_state_dict` reach all of them
        at their next call. Rebinding an entry (``p[k] = p[k] - lr * g``) would give the layer an
        array its streams and optimizers never see, and raises TypeError. Change the parameters
        between a forward and its backward and the backward differentiates the changed ones.
        """
        return self._live

    @property
    def grads(self) -> Dict[str, np.ndarray]:
        """Gradients of the most recent backward (same keys and shapes as state_dict())."""
        return self._grads

    # ---- copies and pickles ---------------------------------------------------------------------
    def __getstate__(self) -> Dict[str, Any]:
        """Configuration and arrays only: no lock, no core object, not the last forward."""
        return {"config": self._config(), "num_threads": self._num_threads, "training": self._training,
                "dropout_rng": self._dropout_rng.bit_generator.state,
                "params": {name: self._params[name] for name in self._order},
                "grads": {name: self._grads[name] for name in self._order if name in self._grads}}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        # A new layer of the configuration (its own cores and lock), on at most this machine's threads.
        threads = min(check_int("num_threads", state["num_threads"], minimum=1), _core.max_threads())
        self.__dict__.update(type(self)(**state["config"], num_threads=threads, seed=0).__dict__)
        self._training = check_bool("training", state.get("training", True))
        if "dropout_rng" in state:  # the copy draws the masks the original would draw next
            self._dropout_rng.bit_generator.state = state["dropout_rng"]
        for name in self._order:
            # The given arrays become the live ones when they can be (copy.copy shares the
            # parameters, as a shallow copy does; deepcopy and pickle give new arrays, shared with
            # whatever else was copied along, e.g. an optimizer), else their values are copied in.
            arr = state["params"][name]
            if (type(arr) is np.ndarray and arr.dtype == self._dtype and arr.shape == self._shapes[name]
                    and arr.flags.c_contiguous and arr.flags.aligned and arr.flags.writeable):
                self._params[name] = arr
            else:
                np.copyto(self._params[name], as_real_array(f"params[{name!r}]", arr, self._dtype,
                                                            self._shapes[name], finite=False))
            if name in state["grads"]:
                np.copyto(self._grads[name], as_real_array(f"grads[{name!r}]", state["grads"][name], self._dtype,
                                                           self._shapes[name], finite=False))

    # ---- persistence and torch interop ----------------------------------------------------------
    def _config(self) -> Dict[str, Any]:
        return dict(input_size=self._input_size, hidden_size=self._hidden_size, num_layers=self._num_layers,
                    bias=self._bias, batch_first=self._batch_first, bidirectional=self._bidirectional,
                    peepholes=self._peepholes, dropout=self._dropout, proj_size=self._proj_size,
                    dtype=self._dtype.name)

    def save(self, path: Any) -> None:
        """Write the configuration and parameters to `path` (.npz, no pickle, format version and
        checksum; see :func:`LSTM.load`). The round trip is exact."""
        save_model(path, "LSTM", self._config(), {name: self._params[name] for name in self._order})

    @classmethod
    def load(cls, path: Any, *, num_threads: Optional[int] = None) -> "LSTM":
        """Read a layer written by :meth:`save`. Truncated, corrupted, foreign, version-mismatched
        or pickle-bearing files raise ValueError; nothing in a file is ever executed."""
        if num_threads is not None:
            check_threads("num_threads", num_threads)  # an argument of load, not of the file
        built: List["LSTM"] = []

        def shapes_for(config: Dict[str, Any]) -> Dict[str, Tuple[int, ...]]:
            # the layer of the file's configuration, built before any array is read
            built.append(build_from_config(lambda: cls(**config, num_threads=num_threads), path))
            return dict(built[0]._shapes)

        _, arrays = load_model(path, "LSTM", shapes_for)
        built[0].load_state_dict(arrays)
        return built[0]

    @classmethod
    def from_torch(cls, module: Any, *, num_threads: Optional[int] = None) -> "LSTM":
        """A layer with the configuration, dtype and parameters of a ``torch.nn.LSTM``.

        The module's dropout, proj_size and training mode are carried over.
        """
        import torch

        if not isinstance(module, torch.nn.LSTM):
            raise TypeError(f"module: expected a torch.nn.LSTM, got {type(module).__name__}")
        dtype = {torch.float32: np.float32, torch.float64: np.float64}.get(module.weight_ih_l0.dtype)  # type: ignore[arg-type]
        if dtype is None:
            raise ValueError(f"module: expected float32 or float64 parameters, got {module.weight_ih_l0.dtype}")
        layer = cls(module.input_size, module.hidden_size, module.num_layers, bias=module.bias,
                    batch_first=module.batch_first, bidirectional=module.bidirectional,
                    dropout=float(module.dropout), proj_size=int(getattr(module, "proj_size", 0)), dtype=dtype,
                    num_threads=num_threads)
        layer.load_state_dict(module.state_dict())
        return layer.train(bool(module.training))

    def to_torch(self) -> Any:
        """A ``torch.nn.LSTM`` (CPU) with this layer's configuration, dtype and parameters."""
        import torch

        if self._peepholes:
            raise ValueError("peepholes: torch.nn.LSTM has no peephole connections; this layer has them")
        module = torch.nn.LSTM(self._input_size, self._hidden_size, self._num_layers, bias=self._bias,
                               batch_first=self._batch_first, bidirectional=self._bidirectional,
                               dropout=self._dropout, proj_size=self._proj_size,
                               dtype=torch.float32 if self._dtype == np.float32 else torch.float64)
        module.load_state_dict({name: torch.from_numpy(a.copy()) for name, a in self._params.items()})
        return module.train(self._training)

    # ---- computation ----------------------------------------------------------------------------
    def __call__(self, x: Any, hx: Optional[Tuple[Any, Any]] = None,
                 lengths: Any = None) -> Tuple[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
        return self.forward(x, hx, lengths)

    @exclusive
    def forward(self, x: Any, hx: Optional[Tuple[Any, Any]] = None,
                lengths: Any = None) -> Tuple[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
        """Run the layers over a sequence.

        Parameters
        ----------
        x : array (T, I), or (T, N, I) ((N, T, I) with batch_first)
        hx : (h_0, c_0) or None
            Initial states, h_0 (L*D, N, R) and c_0 (L*D, N, H) ((L*D, R), (L*D, H) for unbatched x;
            R = proj_size with a projection, else H); None: zeros.
        lengths : array (N,) of int in [0, T], or None
            Valid steps of each sequence of a padded batch; outputs past a sequence's end are 0
            and h_n, c_n are its state at its own last step (a packed sequence in torch).

        Returns
        -------
        output : (T, N, D*R) ((N, T, D*R) with batch_first, (T, D*R) unbatched)
        (h_n, c_n) : (L*D, N, R) and (L*D, N, H) ((L*D, R), (L*D, H) unbatched)
        """
        if type(x) is np.ndarray and x.ndim == 3:
            # before the conversion, which would materialise a broadcast view
            self._check_forward_memory(*((x.shape[1], x.shape[0]) if self._batch_first else x.shape[:2]))
        arr = self._as_input(x)
        batched = arr.ndim == 3
        if batched and self._batch_first:
            arr = arr.transpose(1, 0, 2)
        xs = np.ascontiguousarray(arr if batched else arr[:, None, :])  # (T, N, I)
        T, N = xs.shape[0], xs.shape[1]
        if T < 1:
            raise ValueError(f"x: expected at least one step, got shape {np.shape(x)}")
        LD, H, R = self._num_layers * self.num_directions, self._hidden_size, self.recurrent_size
        h0 = c0 = None
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"hx: expected a tuple (h_0, c_0) or None, got {type(hx).__name__}")
            h0 = as_real_array("hx[0]", hx[0], self._dtype, (LD, N, R) if batched else (LD, R)).reshape(LD, N, R)
            c0 = as_real_array("hx[1]", hx[1], self._dtype, (LD, N, H) if batched else (LD, H)).reshape(LD, N, H)
        lens = None if lengths is None else self._as_lengths(lengths, T, N)
        self._check_forward_memory(T, N)

        D = self.num_directions
        h_n = np.empty((LD, N, R), self._dtype)
        c_n = np.empty((LD, N, H), self._dtype)
        if N == 0:  # an empty batch: nothing to compute, and a backward of zero gradients
            self._last = {"T": T, "N": N, "batched": batched, "shape": xs.shape, "version": self._version,
                          "masks": []}
            output = np.empty((N, T, D * R) if self._batch_first else (T, N, D * R), self._dtype)
            return output, (h_n, c_n)
        # Dropout between layers (training mode only): masks[k] scales layer k's output, 0 with
        # probability p, else 1/(1-p); drawn before any layer runs, in the layer's dtype.
        masks = self._draw_masks(T, N)
        # Until every layer and direction has run, the directions' caches hold two different
        # forwards: a forward that raises or is interrupted (Ctrl-C) from here on leaves a marker
        # that backward refuses.
        self._last = _INCOMPLETE
        inp = xs
        for k in range(self._num_layers):
            outs = []
            for d in range(D):
                j = k * D + d
                plist = [self._params[name] for name in self._dir_keys[j]]
                out, hn, cn = self._dirs[j].forward(plist, inp, None if h0 is None else h0[j],
                                                    None if c0 is None else c0[j], lens, self._num_threads)
                outs.append(out)
                h_n[j], c_n[j] = hn, cn
            inp = outs[0] if D == 1 else np.concatenate(outs, axis=2)
            if k < len(masks):
                inp = inp * masks[k]  # the next layer reads the dropped-out output
        self._last = {"T": T, "N": N, "batched": batched, "shape": xs.shape, "version": self._version,
                      "masks": masks}
        output = inp
        if not batched:
            return output[:, 0, :].copy(), (h_n[:, 0, :].copy(), c_n[:, 0, :].copy())
        if self._batch_first:
            output = np.ascontiguousarray(output.transpose(1, 0, 2))
        return output, (h_n, c_n)

    @exclusive
    def backward(self, grad_output: Any, grad_h_n: Any = None, grad_c_n: Any = None, *,
                 truncated: bool = False) -> np.ndarray:
        """Gradients of the most recent forward; fills :attr:`grads` (overwritten) and returns grad_x.

        Parameters
        ----------
        grad_output : array shaped like forward's output, or None (zeros)
        grad_h_n, grad_c_n : arrays shaped like h_n, c_n, or None (zeros)
        truncated : bool, default False
            False: the exact gradient (backpropagation through time). True: the 1997 truncated
            gradient of the same layers: no error flows back in time through the recurrent weights
            W_hh or the peepholes; only the cell state path c(t-1) -> c(t) (through f) carries
            error across steps. Errors still flow from each layer into the one below it (through
            W_ih), and grad_h_n enters at each direction's last step. :attr:`grad_hx` then has
            grad h_0 = 0.

        Returns
        -------
        grad_x : array shaped like forward's x
        """
        truncated = check_bool("truncated", truncated)
        if self._last is None:
            raise RuntimeError("backward: call forward first")
        if self._last is _INCOMPLETE:
            raise RuntimeError("backward: the last forward did not complete (it raised or was interrupted after "
                               "some layers had run, so their saved activations belong to different forwards); "
                               "call forward again")
        if self._last["version"] != self._version:
            raise RuntimeError("backward: load_state_dict was called after the last forward; call forward again")
        T, N, batched = self._last["T"], self._last["N"], self._last["batched"]
        D, H, LD = self.num_directions, self._hidden_size, self._num_layers * self.num_directions
        R = self.recurrent_size
        out_shape: Tuple[int, ...]
        h_shape: Tuple[int, ...]
        c_shape: Tuple[int, ...]
        if batched:
            out_shape = (N, T, D * R) if self._batch_first else (T, N, D * R)
            h_shape, c_shape = (LD, N, R), (LD, N, H)
        else:
            out_shape, h_shape, c_shape = (T, D * R), (LD, R), (LD, H)
        g_out = None
        if grad_output is not None:
            g_out = as_real_array("grad_output", grad_output, self._dtype, out_shape)
            if batched and self._batch_first:
                g_out = g_out.transpose(1, 0, 2)
            g_out = g_out.reshape(T, N, D * R)
        g_hn = None if grad_h_n is None else as_real_array("grad_h_n", grad_h_n, self._dtype,
                                                           h_shape).reshape(LD, N, R)
        g_cn = None if grad_c_n is None else as_real_array("grad_c_n", grad_c_n, self._dtype,
                                                           c_shape).reshape(LD, N, H)
        masks = self._last["masks"]
        grads: Dict[str, np.ndarray] = {}
        grad_h0 = np.empty((LD, N, R), self._dtype)
        grad_c0 = np.empty((LD, N, H), self._dtype)
        if N == 0:  # an empty batch: every gradient is an empty sum, 0
            self._grads = {name: np.zeros(self._shapes[name], self._dtype) for name in self._order}
            self.grad_hx = (grad_h0, grad_c0)
            return np.empty(self._last["shape"] if not self._batch_first else (0, T, self._input_size), self._dtype)
        g_above = g_out  # gradient w.r.t. the current layer's output, (T, N, D*H) or None
        for k in reversed(range(self._num_layers)):
            g_below = None
            for d in range(D):
                j = k * D + d
                g_slice = None
                if g_above is not None:
                    g_slice = g_above if D == 1 else np.ascontiguousarray(g_above[:, :, d * R:(d + 1) * R])
                gx, gh0, gc0, gw = self._dirs[j].backward(
                    g_slice, None if g_hn is None else g_hn[j], None if g_cn is None else g_cn[j], truncated,
                    self._num_threads)
                grad_h0[j], grad_c0[j] = gh0, gc0
                for name, g in zip(self._dir_keys[j], gw):
                    grads[name] = g
                g_below = gx if g_below is None else g_below + gx
            if k >= 1 and k - 1 < len(masks):
                # d/d(out_{k-1}) of (out_{k-1} * mask): the mask of the forward
                assert g_below is not None
                g_below = g_below * masks[k - 1]
            g_above = g_below
        self._grads = {name: grads[name] for name in self._order}
        grad_x = g_above
        assert grad_x is not None  # the first layer's directions set it
        if not batched:
            self.grad_hx = (grad_h0[:, 0, :].copy(), grad_c0[:, 0, :].copy())
            return np.ascontiguousarray(grad_x[:, 0, :])
        self.grad_hx = (grad_h0, grad_c0)
        if self._batch_first:
            grad_x = np.ascontiguousarray(grad_x.transpose(1, 0, 2))
        return grad_x

    # ---- streaming and online training ----------------------------------------------------------
    def stream(self, batch_size: Optional[int] = None) -> Any:
        """An :class:`lstmcore.LSTMStream` over this layer: one time step per call from a carried
        state (zero), for `batch_size` streams (None: unbatched steps). Unidirectional layers only."""
        return _ON_LAYER["stream"](self, batch_size)

    def online(self, batch_size: Optional[int] = None) -> Any:
        """An :class:`lstmcore.LSTMOnline` over this layer: online, constant-memory training with the
        1997 truncated gradient computed forward in time. One unidirectional layer only."""
        return _ON_LAYER["online"](self, batch_size)

    # ---- helpers --------------------------------------------------------------------------------
    def _draw_masks(self, T: int, N: int) -> List[np.ndarray]:
        """The dropout masks of one forward, [] in eval mode or without dropout: for each layer
        k < L-1, an array (T, N, D*R) of 0 (probability p) or 1/(1-p) (probability 1-p)."""
        p = self._dropout
        if not self._training or p == 0.0 or self._num_layers == 1:
            return []
        shape = (T, N, self.num_directions * self.recurrent_size)
        scale = self._dtype.type(1.0 / (1.0 - p))
        masks = []
        for _ in range(self._num_layers - 1):
            keep = self._dropout_rng.random(shape) >= p  # P(keep) = 1 - p
            masks.append(np.where(keep, scale, self._dtype.type(0)).astype(self._dtype, copy=False))
        return masks

    def _check_forward_memory(self, T: int, N: int) -> None:
        per_item = self._kept_per_item
        if self._training and self._dropout > 0.0:  # the dropout masks, D*R per layer but the last
            per_item += (self._num_layers - 1) * self.num_directions * self.recurrent_size
        n_bytes = float(T) * N * per_item * self._dtype.itemsize
        if n_bytes > memory_limit():  # the message only when it is needed (this runs every call)
            check_memory("x", n_bytes, f"the forward pass over {T} steps of {N} sequences")

    def _as_input(self, x: Any) -> np.ndarray:
        if isinstance(x, (str, bytes)) or x is None:
            raise TypeError(f"x: expected a real numeric array, got {type(x).__name__}")
        try:
            ndim = np.ndim(x)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"x: expected a real numeric array, got {exc}") from exc
        if ndim == 2:
            return as_real_array("x", x, self._dtype, (None, self._input_size))
        if ndim == 3:
            batch_time = ("N", "T") if self._batch_first else ("T", "N")
            return as_real_array("x", x, self._dtype, (*batch_time, self._input_size))
        layout = f"(N, T, {self._input_size})" if self._batch_first else f"(T, N, {self._input_size})"
        raise ValueError(f"x: expected shape (T, {self._input_size}) or {layout}, "
                         f"got {np.shape(x)}")

    @staticmethod
    def _as_lengths(lengths: Any, T: int, N: int) -> np.ndarray:
        arr = np.asarray(lengths)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"lengths: expected an integer array, got dtype {arr.dtype}")
        if arr.shape != (N,):
            raise ValueError(f"lengths: expected shape ({N},), got {arr.shape}")
        if arr.size and (arr.min() < 0 or arr.max() > T):
            raise ValueError(f"lengths: expected values in [0, {T}], got min {arr.min()}, max {arr.max()}")
        return np.ascontiguousarray(arr, dtype=np.int64)
