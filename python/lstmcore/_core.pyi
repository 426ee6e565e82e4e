"""Type stubs of lstmcore._core, the compiled core (bindings in cpp/bindings). Use the lstmcore
package (lstmcore.LSTM1997), which validates and converts arguments, rather than this module."""
from typing import Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

class Squash:
    logistic: "Squash"
    g2: "Squash"
    h1: "Squash"
    tanh: "Squash"
    identity: "Squash"

class Recurrence:
    cells_and_gates: "Recurrence"
    cells: "Recurrence"
    none: "Recurrence"

class GradientMode:
    full: "GradientMode"
    truncated_bptt: "GradientMode"
    truncated_rtrl: "GradientMode"

class UpdateSchedule:
    step: "UpdateSchedule"
    sequence: "UpdateSchedule"

class Lstm1997Config:
    n_in: int
    n_out: int
    blocks: int
    cells_per_block: int
    recurrent: Recurrence
    shortcut: bool
    bias_gates: bool
    bias_cells: bool
    bias_outputs: bool
    output_gate: bool
    forget_gate: bool
    peepholes: bool
    g: Squash
    h: Squash
    out: Squash
    def __init__(self) -> None: ...
    def validate(self) -> None: ...
    @property
    def n_src(self) -> int: ...

class _Lstm1997Network:
    def __init__(self, config: Lstm1997Config) -> None: ...
    @property
    def config(self) -> Lstm1997Config: ...
    @property
    def n_weights(self) -> int: ...
    def param_shapes(self) -> List[Tuple[str, Tuple[int, ...]]]: ...
    def get_params(self) -> Dict[str, np.ndarray]: ...
    def set_param(self, name: str, value: npt.ArrayLike) -> None: ...
    def get_flat(self) -> np.ndarray: ...
    def set_flat(self, flat: npt.ArrayLike) -> None: ...
    # x: (T, n_in) -> y: (T, n_out)
    def forward(self, x: npt.ArrayLike) -> np.ndarray: ...
    # x: (T, n_in), target: (T, n_out), mask: (T,) uint8 or None -> (loss, grads by name)
    def gradient(self, x: npt.ArrayLike, target: npt.ArrayLike, mask: Optional[npt.ArrayLike],
                 mode: GradientMode) -> Tuple[float, Dict[str, np.ndarray]]: ...
    def train_sequence(self, x: npt.ArrayLike, target: npt.ArrayLike, mask: Optional[npt.ArrayLike], lr: float,
                       update: UpdateSchedule) -> float: ...
    def train_sequence_full(self, x: npt.ArrayLike, target: npt.ArrayLike, mask: Optional[npt.ArrayLike],
                            lr: float) -> float: ...

class Lstm1997F64(_Lstm1997Network): ...
class Lstm1997F32(_Lstm1997Network): ...

# One direction of one torch-style LSTM layer (cpp/include/lstmcore/lstm_layer.hpp).
# params: [W_ih (4H, I), W_hh (4H, H), (b_ih, b_hh (4H,) if bias), (w_ci, w_cf, w_co (H,) if peepholes)]
class _LstmLayer:
    def __init__(self, input_size: int, hidden_size: int, bias: bool, peepholes: bool, reverse: bool) -> None: ...
    # x: (T, N, I), h0, c0: (N, H) or None, lengths: (N,) int64 or None -> (out (T, N, H), h_n, c_n)
    def forward(self, params: List[np.ndarray], x: npt.ArrayLike, h0: Optional[npt.ArrayLike],
                c0: Optional[npt.ArrayLike], lengths: Optional[npt.ArrayLike],
                num_threads: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    # -> (grad_x (T, N, I), grad_h0 (N, H), grad_c0 (N, H), grads in the order of params)
    def backward(self, grad_output: Optional[npt.ArrayLike], grad_h_n: Optional[npt.ArrayLike],
                 grad_c_n: Optional[npt.ArrayLike], truncated: bool,
                 num_threads: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray, List[np.ndarray]]: ...

class LstmLayerF64(_LstmLayer): ...
class LstmLayerF32(_LstmLayer): ...

# Streaming inference of a stack of unidirectional torch-style layers (cpp/include/lstmcore/lstm_stream.hpp).
# params: per layer, the arrays of _LstmLayer (used in place: the core reads them at every call).
class _LstmStream:
    num_threads: int
    def __init__(self, input_size: int, hidden_size: int, num_layers: int, bias: bool, peepholes: bool, batch: int,
                 unbatched: bool, params: List[List[np.ndarray]], num_threads: int) -> None: ...
    # x_t: (N, I) ((I,) unbatched) -> h of the top layer (N, H) ((H,)); out: filled and returned
    def step(self, x_t: npt.ArrayLike, out: Optional[np.ndarray] = None) -> np.ndarray: ...
    # x: (T, N, I) -> (T, N, H)
    def run(self, x: npt.ArrayLike) -> np.ndarray: ...
    # h0, c0: (L, N, H) or None
    def reset(self, h0: Optional[npt.ArrayLike], c0: Optional[npt.ArrayLike]) -> None: ...
    # copies of (h, c), each (L, N, H)
    def state(self) -> Tuple[np.ndarray, np.ndarray]: ...

class LstmStreamF64(_LstmStream): ...
class LstmStreamF32(_LstmStream): ...

# Online truncated-gradient training of one layer, forward in time (cpp/include/lstmcore/lstm_online.hpp).
# params, grads: the arrays of _LstmLayer (used in place; grads accumulated into).
class _LstmOnline:
    num_threads: int
    def __init__(self, input_size: int, hidden_size: int, bias: bool, peepholes: bool, batch: int, unbatched: bool,
                 params: List[np.ndarray], grads: List[np.ndarray], num_threads: int) -> None: ...
    # x_t: (N, I) ((I,) unbatched) -> h (N, H) ((H,)); advances state and traces
    def step(self, x_t: npt.ArrayLike, out: Optional[np.ndarray] = None) -> np.ndarray: ...
    # grad_h: dL/dh(t), (N, H) ((H,) unbatched); grads += this step's truncated gradient
    def accumulate(self, grad_h: npt.ArrayLike) -> None: ...
    # x: (T, N, I), grad_output: (T, N, H) -> output (T, N, H)
    def run(self, x: npt.ArrayLike, grad_output: npt.ArrayLike) -> np.ndarray: ...
    # h0, c0: (N, H) or None; traces to zero
    def reset(self, h0: Optional[npt.ArrayLike], c0: Optional[npt.ArrayLike]) -> None: ...
    # copies of (h, c), each (N, H)
    def state(self) -> Tuple[np.ndarray, np.ndarray]: ...
    @property
    def stepped(self) -> bool: ...
    @property
    def trace_size(self) -> int: ...

class LstmOnlineF64(_LstmOnline): ...
class LstmOnlineF32(_LstmOnline): ...
