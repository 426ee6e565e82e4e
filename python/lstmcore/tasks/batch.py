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

__all__ = ["PackedBatch", "check_batch_size", "check_rng", "concat_sequences", "one_hot_rows", "pack_lengths",
           "pack_offsets", "slice_sequences", "take_sequences"]

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


def check_rng(rng: object) -> np.random.Generator:
    """rng itself if it is a numpy.random.Generator, else TypeError naming the argument."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "rng: expected a numpy.random.Generator (e.g. numpy.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    return rng


def check_batch_size(n: object, row_bytes: float, mean_rows: float) -> int:
    """n: an int in [1, MAX_BATCH] whose batch (about n * mean_rows rows of row_bytes) fits in memory."""
    n = check_int("n", n, minimum=1, maximum=MAX_BATCH)
    check_memory("n", float(n) * mean_rows * row_bytes, f"a batch of {n} sequences")
    return n


def pack_offsets(lengths: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Offsets of sequences with these lengths (n,), each >= 1, stored back to back.

    Returns ``offsets`` (n + 1,) int64 (sequence i is rows ``offsets[i]:offsets[i + 1]``) and
    ``last`` (n,) the row of every sequence's last step.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets, offsets[1:] - 1


def pack_lengths(lengths: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row bookkeeping of sequences with these lengths (n,), each >= 1.

    Returns ``offsets`` (n + 1,) int64, ``seq`` (R,) the sequence of every row, ``pos`` (R,) the
    row's step within its sequence, and ``last`` (n,) the row of every sequence's last step.
    (:func:`pack_offsets` when only ``offsets`` and ``last`` are needed.)
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets, last = pack_offsets(lengths)
    seq = np.repeat(np.arange(len(lengths)), lengths)
    # pos = r - offsets[seq[r]]: the row minus its sequence's first row
    pos = np.arange(offsets[-1], dtype=np.int64)
    pos -= np.repeat(offsets[:-1], lengths)
    return offsets, seq, pos, last


def one_hot_rows(indices: np.ndarray, n: int, dtype: np.dtype) -> np.ndarray:
    """(len(indices), n) one-hot rows."""
    out = np.zeros((len(indices), n), dtype=dtype)
    out[np.arange(len(indices)), indices] = 1
    return out


def take_sequences(batch: PackedBatch, index: np.ndarray) -> PackedBatch:
    """A new PackedBatch of the sequences ``index`` (n_out,) of `batch`, in that order (repeats allowed)."""
    index = np.asarray(index, dtype=np.int64)
    starts = batch.offsets[:-1][index]
    lengths = batch.offsets[1:][index] - starts
    offsets, seq, pos, _ = pack_lengths(lengths)
    rows = starts[seq] + pos
    target = batch.target[rows]
    clean = target if batch.clean_target is batch.target else batch.clean_target[rows]
    info = {k: v[index] for k, v in batch.info.items()}
    return PackedBatch(batch.x[rows], target, batch.mask[rows], offsets, clean, info)


def slice_sequences(batch: PackedBatch, start: int, stop: int) -> PackedBatch:
    """Sequences start..stop-1 of `batch` as a PackedBatch of views (offsets rebased to 0)."""
    a, b = int(batch.offsets[start]), int(batch.offsets[stop])
    clean = batch.clean_target[a:b]
    target = batch.target[a:b]
    if batch.clean_target is batch.target:
        clean = target
    return PackedBatch(batch.x[a:b], target, batch.mask[a:b], batch.offsets[start:stop + 1] - a, clean,
                       {k: v[start:stop] for k, v in batch.info.items()})


def concat_sequences(batches: "list[PackedBatch]") -> PackedBatch:
    """One PackedBatch of several, in order."""
    if len(batches) == 1:
        return batches[0]
    lengths = np.concatenate([np.diff(b.offsets) for b in batches])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    target = np.concatenate([b.target for b in batches])
    same = all(b.clean_target is b.target for b in batches)
    clean = target if same else np.concatenate([b.clean_target for b in batches])
    keys = set.intersection(*(set(b.info) for b in batches))
    return PackedBatch(np.concatenate([b.x for b in batches]), target, np.concatenate([b.mask for b in batches]),
                       offsets, clean, {k: np.concatenate([b.info[k] for b in batches]) for k in keys})
