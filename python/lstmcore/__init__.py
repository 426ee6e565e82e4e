"""lstmcore: Long Short-Term Memory as Hochreiter & Schmidhuber defined it in 1997, and fast.

- :class:`LSTM1997`: the 1997 network (memory cell blocks, constant error carousels, input and
  output gates; forget gates and peepholes as options) with its truncated, RTRL-style online
  learning rule, the same truncated gradient by a backward pass, and the full BPTT gradient.
- :class:`LSTM`: the modern layer (stacked, bidirectional, variable lengths, peepholes), compatible
  with ``torch.nn.LSTM`` (same state dict, outputs and gradients), plus the 1997 truncated gradient.
- :class:`LSTMStream` (``LSTM.stream()``): streaming inference, one time step per call.
- :class:`LSTMOnline` (``LSTM.online()``): online, constant-memory training with the truncated
  gradient computed forward in time, for streams of any length.
- :mod:`lstmcore.tasks`: generators of the 1997 paper's benchmark tasks.
- :mod:`lstmcore.experiments`: the paper's experiments, runnable.
- :mod:`lstmcore.optim`: SGD, Adam/AdamW and gradient clipping with ``torch.optim``'s maths, updating
  NumPy parameters (e.g. ``LSTM.parameters()``) in place.
"""
from ._load_core import load_core as _load_core

_load_core()  # lstmcore._core: the compiled core for this CPU's instruction-set level (_load_core.py)

from ._lstm import LSTM
from ._lstm1997 import LSTM1997
from ._stream import LSTMOnline, LSTMStream
from . import optim
from ._core import max_threads
from ._version import __version__


def _warn_if_lstmcore_gemm_cannot_apply() -> None:
    import os
    import warnings

    from ._core import gemm_kernel
    from ._gemm_env import gemm_env_problem

    problem = gemm_env_problem(os.environ, gemm_kernel())
    if problem:
        warnings.warn(problem, RuntimeWarning, stacklevel=3)


_warn_if_lstmcore_gemm_cannot_apply()

__all__ = ["LSTM", "LSTM1997", "LSTMOnline", "LSTMStream", "max_threads", "optim", "__version__"]
