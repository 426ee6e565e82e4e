"""lstmcore.LSTMStream and lstmcore.LSTMOnline: streaming inference and online, constant-memory
training (the 1997 truncated gradient computed forward in time) of an :class:`lstmcore.LSTM`.
Create them with ``lstm.stream(batch_size)`` and ``lstm.online(batch_size)``; docs/STREAMING.md
has the maths."""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

from . import _core
from ._live import LiveArrays
from . import _lstm
from ._lstm import LSTM
from ._validation import as_real_array, check_int, check_memory, check_threads

_MAX_BATCH = 1 << 31
_ROW_BLOCK = 8  # sequences per block of the core's step loops (detail::kStepRowBlock)


def stream_bytes(layer: LSTM, batch: int) -> int:
    """Bytes an LSTMStream of `batch` streams over `layer` allocates in the core: per layer the
    carried h (R) and c (H) and, shared by the layers, the preactivations, tanh(c) and (with a
    projection) o * tanh(c) of one step; the weights packed for the step products (independent of
    the batch). R = proj_size with a projection, else H."""
    I, H, L, N = layer.input_size, layer.hidden_size, layer.num_layers, batch
    P, R = layer.proj_size, layer.recurrent_size
    packed = 4 * H * (I + R) + (L - 1) * 4 * H * 2 * R + L * P * H
    values = L * N * (R + H) + N * 4 * H + N * H + (N * H if P else 0) + packed
    return values * layer.dtype.itemsize


def online_bytes(layer: LSTM, batch: int) -> int:
    """Bytes an LSTMOnline of `batch` streams over the one-layer `layer` allocates: the traces
    (3H rows of K = I + R + 1 values per stream, K rounded up to whole 64-byte vectors: Kp), the
    input row u(t) (Kp), the gradient sums of each block of 8 streams (4H x Kp per block), gates,
    states and scratch (8H per stream), peephole traces and sums, with a projection its scratch
    (2H per stream) and gradient sums (P x H per block), the packed weights and the gradients the
    trainer accumulates into. R = proj_size with a projection, else H."""
    I, H, N, item = layer.input_size, layer.hidden_size, batch, layer.dtype.itemsize
    P, R = layer.proj_size, layer.recurrent_size
    lanes = 64 // item
    K = I + R + (1 if layer.bias else 0)
    Kp = -(-K // lanes) * lanes
    blocks = -(-N // _ROW_BLOCK)
    values = (3 * N * H * Kp          # traces s_q[n, j, :], q = i, f, g
              + N * Kp                # u(t) = [x(t), h(t-1), 1]
              + blocks * 4 * H * Kp   # per block: gradient of [W_ih | W_hh | b] summed during a call
              + N * 4 * H             # activated gates
              + 4 * N * H)            # c(t-1), h, c, tanh(c)
    if layer.peepholes:
        values += 2 * N * H + blocks * 3 * H + 3 * H
    if P:
        values += 2 * N * H + blocks * P * H + 3 * P * H  # m, e_m; W_hr sums; W_hr packed twice, its gradient
    values += 4 * H * (I + R) + 4 * H * (I + R + 2)  # packed weights, accumulated gradients
    return values * item


def _check_layer(layer: Any) -> LSTM:
    if not isinstance(layer, LSTM):
        raise TypeError(f"layer: expected an lstmcore.LSTM, got {type(layer).__name__}")
    return layer


def _check_batch(batch_size: Any) -> Tuple[int, bool]:
    """(N, batched): batch_size None means unbatched steps (one stream, no batch axis)."""
    if batch_size is None:
        return 1, False
    return check_int("batch_size", batch_size, minimum=1, maximum=_MAX_BATCH), True


def _as_chunk(name: str, value: Any, dtype: np.dtype, T: Optional[int], N: int, width: int,
              batched: bool) -> np.ndarray:
    """A (T, N, width) chunk ((T, width) unbatched) as a C-contiguous (T, N, width) array."""
    arr = as_real_array(name, value, dtype, (T, N, width) if batched else (T, width))
    if arr.shape[0] < 1:
        raise ValueError(f"{name}: expected at least one step, got shape {arr.shape}")
    return arr if batched else arr.reshape(arr.shape[0], 1, width)


def _as_state(hx: Any, dtype: np.dtype, L: int, N: int, R: int, H: int, batched: bool):
    """(h_0 (L, N, R), c_0 (L, N, H)) from hx, or (None, None); R: the width of h."""
    if hx is None:
        return None, None
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise TypeError(f"hx: expected a tuple (h_0, c_0) or None, got {type(hx).__name__}")
    h0 = as_real_array("hx[0]", hx[0], dtype, (L, N, R) if batched else (L, R)).reshape(L, N, R)
    c0 = as_real_array("hx[1]", hx[1], dtype, (L, N, H) if batched else (L, H)).reshape(L, N, H)
    return h0, c0


class _OnLayer:
    """What LSTMStream and LSTMOnline share: the layer they step, their batch size and threads.
    Subclasses set _layer, _N, _batched and _core."""

    _layer: LSTM
    _N: int
    _batched: bool
    _core: Any

    @property
    def layer(self) -> LSTM:
        return self._layer

    @property
    def batch_size(self) -> Optional[int]:
        return self._N if self._batched else None

    @property
    def num_threads(self) -> int:
        """Threads of each call (the layer's at creation); small steps run on one thread. Results are
        bitwise identical for any value."""
        return self._core.num_threads

    @num_threads.setter
    def num_threads(self, value: int) -> None:
        self._core.num_threads = check_threads("num_threads", value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._layer!r}, batch_size={self.batch_size})"

    # copy.copy (the same layer), copy.deepcopy and pickle (a copy of the layer): the layer, the
    # batch size, the thread count and the carried arrays; never the core object.
    def __getstate__(self) -> Dict[str, Any]:
        return {"layer": self._layer, "batch_size": self.batch_size, "num_threads": self.num_threads}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        type(self).__init__(self, state["layer"], state["batch_size"])  # type: ignore[call-arg]
        self.num_threads = min(check_int("num_threads", state["num_threads"], minimum=1), _core.max_threads())


class LSTMStream(_OnLayer):
    """Streaming inference: a stacked, unidirectional :class:`LSTM` advanced one time step per call
    from a carried state, for N streams at once (memory independent of the streams' length).

    ``stream.step(x_t)`` from a zero (or :meth:`reset`) state, repeated over a sequence, gives the
    same outputs as ``layer.forward`` over the whole sequence. The stream reads the layer's live
    parameter arrays at every step: in-place updates (``load_state_dict``, an optimizer on
    ``layer.parameters()``) take effect at the next step.

    Parameters
    ----------
    layer : LSTM
        Unidirectional (a stream cannot see the future); any number of layers, bias, peepholes,
        proj_size (then h, the steps' outputs and h_0 have proj_size values per layer, c_0 hidden_size).
        A stream never applies dropout: it computes as the layer in eval mode, and a layer in
        training mode with dropout between layers is refused (ValueError naming dropout).
    batch_size : int or None, default None
        N streams: steps take (N, I) and return (N, R). None: one stream without a batch axis,
        steps take (I,) and return (R,). R = proj_size with a projection, else H.
    """

    def __init__(self, layer: LSTM, batch_size: Optional[int] = None) -> None:
        layer = _check_layer(layer)
        if layer.bidirectional:
            raise ValueError("bidirectional: a stream cannot see the future, and the reverse direction of a "
                             "bidirectional layer reads the whole sequence from its end; use a unidirectional LSTM")
        if layer.training and layer.dropout > 0 and layer.num_layers > 1:
            raise ValueError(f"dropout: a stream runs the layer without dropout, and this layer is in training mode "
                             f"with dropout={layer.dropout} between its {layer.num_layers} layers; call "
                             "layer.eval() first (or use dropout=0)")
        self._layer = layer  # keeps the live parameter arrays alive
        self._N, self._batched = _check_batch(batch_size)
        check_memory("batch_size", float(stream_bytes(layer, self._N)), f"a stream of {self._N} sequences")
        core = _core.LstmStreamF32 if layer.dtype == np.float32 else _core.LstmStreamF64
        params = [[layer._params[name] for name in keys] for keys in layer._dir_keys]
        self._core = core(layer.input_size, layer.hidden_size, layer.num_layers, layer.bias, layer.peepholes,
                          self._N, not self._batched, params, layer.num_threads, layer.proj_size)
        # The hot path: the bound C++ method itself, no Python frame in between.
        self.step = self._core.step  # type: ignore[method-assign]

    def step(self, x_t: Any, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Advance every stream by one time step.

        Parameters
        ----------
        x_t : array (N, I), or (I,) with batch_size None
            Fastest as a C-contiguous array of the layer's dtype; anything else is converted.
        out : array or None
            A writeable C-contiguous array of the layer's dtype shaped like the result, filled and
            returned (no allocation per step).

        Returns
        -------
        h : (N, R), or (R,) with batch_size None: the top layer's output at this step.
        """
        return self._core.step(x_t, out)  # pragma: no cover - replaced by the bound method in __init__

    def run(self, x: Any) -> np.ndarray:
        """Advance by the T steps of a chunk x (T, N, I) ((T, I) with batch_size None); returns the
        top layer's outputs (T, N, R) ((T, R)), equal to the layer's forward pass continuing from
        the carried state. Time-major whatever the layer's batch_first."""
        xs = _as_chunk("x", x, self._layer.dtype, None, self._N, self._layer.input_size, self._batched)
        out = self._core.run(xs)
        return out if self._batched else out.reshape(out.shape[0], out.shape[2])

    def reset(self, hx: Optional[Tuple[Any, Any]] = None) -> None:
        """Set the carried state: hx = (h_0, c_0), (L, N, R) and (L, N, H) ((L, R), (L, H) with
        batch_size None), or None for zeros."""
        L, H = self._layer.num_layers, self._layer.hidden_size
        h0, c0 = _as_state(hx, self._layer.dtype, L, self._N, self._layer.recurrent_size, H, self._batched)
        self._core.reset(h0, c0)

    def __getstate__(self) -> Dict[str, Any]:
        h, c = self._core.state()
        return {**super().__getstate__(), "h": h, "c": c}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        super().__setstate__(state)
        dtype, L, N = self._layer.dtype, self._layer.num_layers, self._N
        self._core.reset(as_real_array("h", state["h"], dtype, (L, N, self._layer.recurrent_size), finite=False),
                         as_real_array("c", state["c"], dtype, (L, N, self._layer.hidden_size), finite=False))

    @property
    def state(self) -> Tuple[np.ndarray, np.ndarray]:
        """Copies of the carried state (h, c): (L, N, R) and (L, N, H) ((L, R), (L, H) with batch_size None)."""
        h, c = self._core.state()
        if self._batched:
            return h, c
        return h[:, 0, :].copy(), c[:, 0, :].copy()



class LSTMOnline(_OnLayer):
    """Online, constant-memory training of a one-layer unidirectional :class:`LSTM` with the 1997
    truncated gradient, computed forward in time (RTRL-style traces) for N streams at once.

    Memory is independent of the sequence length: per stream 3H x Kp trace values plus
    Kp x (1 + H/2) of input row and gradient sums and 8H of gates and states, where Kp is
    K = I + H + 1 rounded up to whole 64-byte vectors (16 float32 or 8 float64 values): about
    3.5 H Kp values per stream for a batch of a multiple of 8 streams (1.83 times the trace values
    alone for I = H = 16 in float32; :func:`online_bytes` is the exact figure). A batch whose
    trainer could never fit in memory is refused with a MemoryError naming ``batch_size``.

    The gradient over a sequence equals ``layer.backward(grad_output, truncated=True)`` after
    ``layer.forward``: no error flows back in time through the recurrent weights or the peepholes,
    only along the cell state (through the forget gate). With a projection (proj_size P) the error
    of each step's output reaches the cell through W_hr within the step, and W_hr gets its
    gradient; h, the outputs, dL/dh and h_0 then have P values per stream. Per step::

        h = online.step(x_t)          # advances state and traces
        online.accumulate(dL_dh)      # grads += this step's contribution

    or ``online.run(x, grad_output)`` for a chunk of steps in one call. Parameters are the layer's
    live arrays, read at every step: an optimizer may update them in place between steps (the
    traces carry on, as in the 1997 online rule).

    Parameters
    ----------
    layer : LSTM
        One layer (num_layers=1) and unidirectional: the truncated error entering a lower layer at
        step t depends on future errors of the layer above, and a reverse direction on future
        inputs, so neither can be computed online. Dropout acts only between layers, so it never
        applies here.
    batch_size : int or None, default None
        N streams ((N, I) steps); None: one stream without a batch axis ((I,) steps).
    """

    def __init__(self, layer: LSTM, batch_size: Optional[int] = None) -> None:
        layer = _check_layer(layer)
        if layer.num_layers != 1:
            raise ValueError(f"num_layers: online training needs a one-layer LSTM, got num_layers={layer.num_layers}: "
                             "the truncated error entering a lower layer at step t depends on future errors of the "
                             "layer above (carried back along its cell state), so it cannot be computed online")
        if layer.bidirectional:
            raise ValueError("bidirectional: online training runs forward in time; the reverse direction's state at "
                             "step t depends on future inputs")
        self._layer = layer
        self._N, self._batched = _check_batch(batch_size)
        check_memory("batch_size", float(online_bytes(layer, self._N)),
                     f"online training of {self._N} sequences (traces and buffers)")
        keys = layer._dir_keys[0]
        self._grads: Dict[str, np.ndarray] = {name: np.zeros(layer._params[name].shape, layer.dtype)
                                              for name in keys}
        core = _core.LstmOnlineF32 if layer.dtype == np.float32 else _core.LstmOnlineF64
        self._core = core(layer.input_size, layer.hidden_size, layer.bias, layer.peepholes, self._N,
                          not self._batched, [layer._params[name] for name in keys],
                          [self._grads[name] for name in keys], layer.num_threads, layer.proj_size)
        self._live_grads = LiveArrays(self._grads, "grads")
        # The hot path: the bound C++ methods themselves.
        self.step = self._core.step  # type: ignore[method-assign]
        self.accumulate = self._core.accumulate  # type: ignore[method-assign]

    def step(self, x_t: Any, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Advance state and traces by one step; x_t (N, I) ((I,) with batch_size None) -> h(t)
        (N, R) ((R,)), R = proj_size with a projection, else H. ``out``: an array to fill and return
        instead of a new one."""
        return self._core.step(x_t, out)  # pragma: no cover - replaced by the bound method in __init__

    def accumulate(self, grad_h: Any) -> None:
        """grads += the truncated gradient of this step's loss term, given grad_h = dL_t/dh(t) (N, R)
        ((R,) with batch_size None). Needs a step since the last reset (else RuntimeError); calling it
        twice adds twice."""
        self._core.accumulate(grad_h)  # pragma: no cover - replaced by the bound method in __init__

    def run(self, x: Any, grad_output: Any) -> np.ndarray:
        """T steps of step + accumulate in one call: x (T, N, I), grad_output = dL/dh (T, N, R)
        ((T, I), (T, R) with batch_size None), time-major. Returns the outputs h (T, N, R) ((T, R))."""
        dtype, N, b = self._layer.dtype, self._N, self._batched
        xs = _as_chunk("x", x, dtype, None, N, self._layer.input_size, b)
        gs = _as_chunk("grad_output", grad_output, dtype, xs.shape[0], N, self._layer.recurrent_size, b)
        out = self._core.run(xs, gs)
        return out if b else out.reshape(out.shape[0], out.shape[2])

    @property
    def grads(self) -> Mapping[str, np.ndarray]:
        """Accumulated gradients (same keys and shapes as ``layer.state_dict()``): the live arrays the
        core adds into, as a read-only mapping (an entry cannot be rebound; change values in place,
        e.g. ``online.grads[k] *= 0.5``), cleared only by :meth:`zero_grad`."""
        return self._live_grads

    def __getstate__(self) -> Dict[str, Any]:
        # the accumulated gradients and everything a step carries to the next (state, traces)
        return {**super().__getstate__(), "grads": dict(self._grads), "carried": self._core.carried()}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        super().__setstate__(state)
        dtype = self._layer.dtype
        for name, g in self._grads.items():
            np.copyto(g, as_real_array(f"grads[{name!r}]", state["grads"][name], dtype, g.shape, finite=False))
        self._core.set_carried(as_real_array("carried", state["carried"], dtype, (None,), finite=False))

    def zero_grad(self) -> None:
        """Set every accumulated gradient to 0 (in place)."""
        for g in self._grads.values():
            g.fill(0)

    def reset(self, hx: Optional[Tuple[Any, Any]] = None) -> None:
        """Start new sequences: state hx = (h_0, c_0), (1, N, R) and (1, N, H) ((1, R), (1, H) with
        batch_size None), or None for zeros; traces to zero. Gradients are kept (see :meth:`zero_grad`)."""
        h0, c0 = _as_state(hx, self._layer.dtype, 1, self._N, self._layer.recurrent_size,
                           self._layer.hidden_size, self._batched)
        self._core.reset(None if h0 is None else h0[0], None if c0 is None else c0[0])

    @property
    def state(self) -> Tuple[np.ndarray, np.ndarray]:
        """Copies of the carried state (h, c): (1, N, R) and (1, N, H) ((1, R), (1, H) with batch_size None)."""
        h, c = self._core.state()
        if self._batched:
            return h[None], c[None]
        return h.copy(), c.copy()


_lstm._ON_LAYER.update(stream=LSTMStream, online=LSTMOnline)
