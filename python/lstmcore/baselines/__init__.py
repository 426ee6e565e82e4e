"""The competitors of the 1997 paper's comparisons (Tables 1 and 2), runnable beside LSTM.

- :class:`RecurrentNet`: conventional recurrent nets of logistic units (Williams & Zipser's fully
  recurrent net, Elman's net, self-recurrent hidden units) with exact RTRL, exact BPTT and Elman's
  truncated gradient.
- :class:`NeuralSequenceChunker`: Schmidhuber's two-net sequence chunker (automatizer + chunker).
- :func:`random_guessing` and :class:`SequenceTest`: random weight guessing on any model.

The facts these rely on (the paper's nets, weight counts, learning rates, and the choices made
where the paper is silent) are in docs/BASELINES.md.
"""
from ._recurrent_net import RecurrentNet
from .cascade import CascadeHistory, RecurrentCascadeCorrelation
from .chunker import NeuralSequenceChunker
from .guessing import GuessingResult, SequenceTest, random_guessing

__all__ = ["CascadeHistory", "GuessingResult", "RecurrentCascadeCorrelation", "NeuralSequenceChunker", "RecurrentNet", "SequenceTest", "random_guessing"]
