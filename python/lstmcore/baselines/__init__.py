"""The competitors of the 1997 paper's comparisons (Tables 1 and 2), runnable beside LSTM.

- :class:`RecurrentNet`: conventional recurrent nets of logistic units (Williams & Zipser's fully
  recurrent net, Elman's net, self-recurrent hidden units) with exact RTRL, exact BPTT and Elman's
  truncated gradient.

The facts these rely on (the paper's nets, weight counts, learning rates, and the choices made
where the paper is silent) are in docs/BASELINES.md.
"""
from ._recurrent_net import RecurrentNet

__all__ = ["RecurrentNet"]
