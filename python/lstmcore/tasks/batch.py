"""Packed batches of sequences: what every task's ``sample_batch(rng, n)`` returns.

n sequences of different lengths stored back to back, the layout that
:meth:`lstmcore.LSTM1997.train_batch` and :meth:`~lstmcore.LSTM1997.forward_batch` take:
sequence i is rows ``offsets[i]:offsets[i + 1]`` of ``x``, ``target``, ``mask`` and
``clean_target``.
"""
from __future__ import annotations

from typing import Dict, Iterator, NamedTuple, Tuple

import numpy as np

from .._validation import check_int, check_memory

__all__ = ["PackedBatch", "pack_lengths", "check_batch_size"]

#: Most sequences one sample_batch call draws (the caller splits larger draws).
MAX_BATCH = 1 << 24


class PackedBatch(NamedTuple):
    """n sequences back to back (R rows in all)."""

    x: np.ndarray             #: (R, n_in) inputs
    target: np.ndarray        #: (R, n_out) training targets (0 where mask is False)
    mask: np.ndarray          #: (R,) bool, the steps that have a target
    offsets: np.ndarray       #: (n + 1,) int64: 0 = offsets[0] < ... < offsets[n] = R
    clean_target: np.ndarray  #: (R, n_out) noise-free targets (the same array as target except in Exp. 3c)
    info: Dict[str, np.ndarray]  #: per-sequence facts of the draw, arrays with n rows (e.g. "positions", "label")

    @property
    def n(self) -> int:
        """Number of sequences."""
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """(n,) steps per sequence."""
        return np.diff(self.offsets)

    def sequence(self, i: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, target, mask) of sequence i, views into the batch."""
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.x[a:b], self.target[a:b], self.mask[a:b]

    def sequences(self) -> Iterator[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for i in range(self.n):
            yield self.sequence(i)


def check_batch_size(n: object, row_bytes: float, mean_rows: float) -> int:
    """n: an int in [1, MAX_BATCH] whose batch (about n * mean_rows rows of row_bytes) fits in memory."""
    n = check_int("n", n, minimum=1, maximum=MAX_BATCH)
    check_memory("n", float(n) * mean_rows * row_bytes, f"a batch of {n} sequences")
    return n


def pack_lengths(lengths: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row bookkeeping of sequences with these lengths (n,), each >= 1.

    Returns ``offsets`` (n + 1,) int64, ``seq`` (R,) the sequence of every row, ``pos`` (R,) the
    row's step within its sequence, and ``last`` (n,) the row of every sequence's last step.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    seq = np.repeat(np.arange(len(lengths)), lengths)
    pos = np.arange(offsets[-1], dtype=np.int64) - offsets[seq]
    return offsets, seq, pos, offsets[1:] - 1


def one_hot_rows(indices: np.ndarray, n: int, dtype: np.dtype) -> np.ndarray:
    """(len(indices), n) one-hot rows."""
    out = np.zeros((len(indices), n), dtype=dtype)
    out[np.arange(len(indices)), indices] = 1
    return out
