"""The temporal order problem (Hochreiter & Schmidhuber 1997, Experiment 6, section 5.6;
variants 6a and 6b)."""

from __future__ import annotations

from typing import Dict, NamedTuple, Tuple

import numpy as np

from .._validation import check_choice, check_dtype
from .batch import PackedBatch, check_batch_size, check_rng, one_hot_rows, pack_offsets

__all__ = ["TemporalOrder", "TemporalOrderSample"]

ALPHABET: Tuple[str, ...] = ("a", "b", "c", "d", "B", "E", "X", "Y")
_INDEX: Dict[str, int] = {s: i for i, s in enumerate(ALPHABET)}
N_DISTRACTORS = 4  # a, b, c, d are units 0..3

#: Per variant: 1-based, inclusive position ranges of the relevant symbols, and class names.
_VARIANTS: Dict[str, Tuple[Tuple[Tuple[int, int], ...], str]] = {
    "6a": (((10, 20), (50, 60)), "QRSU"),
    "6b": (((10, 20), (33, 43), (66, 76)), "QRSUVABC"),
}


class TemporalOrderSample(NamedTuple):
    """One sequence of :class:`TemporalOrder` with what generated it (see :meth:`TemporalOrder.sample_full`)."""

    x: np.ndarray            #: (L, 8) one-hot inputs
    target: np.ndarray       #: (L, n_out) one-hot class code in the last row, 0 elsewhere
    mask: np.ndarray         #: (L,) bool, True only at the last step
    rows: Tuple[int, ...]    #: 0-based rows of the relevant X/Y symbols (1-based positions minus 1)
    label: int               #: output unit of the class, 0 .. n_out - 1


class TemporalOrder:
    """The temporal order problem (1997 paper, Experiments 6a and 6b).

    Recipe (the paper, section 5.6): symbols ``{a, b, c, d, B, E, X, Y}``, coded locally
    (8 inputs, units in that order). Each sequence starts with ``E`` and ends with the trigger
    ``B``; every other element is drawn from ``{a, b, c, d}``, except at the relevant positions,
    which hold ``X`` or ``Y``. The length is uniform in 100..110.

    - **6a**: two relevant positions ``t1 in [10, 20]``, ``t2 in [50, 60]``; 4 classes
      ``XX -> Q, XY -> R, YX -> S, YY -> U``; 4 outputs.
    - **6b**: three relevant positions ``t1 in [10, 20]``, ``t2 in [33, 43]``, ``t3 in [66, 76]``;
      8 classes ``XXX -> Q, XXY -> R, XYX -> S, XYY -> U, YXX -> V, YXY -> A, YYX -> B,
      YYY -> C``; 8 outputs.

    Only the last step (input ``B``) has a target: the local (one-hot) code of the class.
    Correct if the absolute error of **all** outputs at the end is below 0.3
    (``abs_error_threshold``); training stops by ST3(0.1) (``stop_mean_error``).

    Choices where the paper leaves room:

    - **Positions are 1-based**: ``E`` is element 1, and ``t1 in [10, 20]`` means 0-based rows
      ``9..19`` of ``x`` (6a ``t2``: rows 49..59; 6b: rows 9..19, 32..42, 65..75). This reading
      reproduces the minimal lags of Table 10: 40 (6a, ``t2 = 60`` to the last element 100) and
      24 (6b, ``t3 = 76``).
    - Lengths, positions and symbols are uniform over the integers of the stated ranges, both
      ends included (length 100..110: 11 values; each ``t`` 11 values), all independent; each
      relevant symbol is ``X`` or ``Y`` with probability 0.5, so the classes are equally likely;
      distractors are uniform over ``{a, b, c, d}``.
    - ``x`` holds all ``L`` elements, ``B`` included (the target is given while ``B`` is the
      input). Output unit ``k`` codes class ``class_names[k]``: with ``X = 0``, ``Y = 1`` and the
      first relevant symbol most significant, ``k`` is the binary number the symbols spell.

    Parameters
    ----------
    variant : {"6a", "6b"}
    dtype : numpy.float32 or numpy.float64, keyword-only

    Attributes
    ----------
    n_in : int
        8.
    n_out : int
        4 (6a) or 8 (6b).
    alphabet : tuple of str
        ``("a", "b", "c", "d", "B", "E", "X", "Y")``: symbol ``alphabet[i]`` is input unit ``i``.
    class_names : str
        ``"QRSU"`` or ``"QRSUVABC"``: output unit ``k`` is class ``class_names[k]``.
    positions : tuple of (int, int)
        1-based inclusive ranges of the relevant positions.
    min_length, max_length : int
        100 and 110.
    abs_error_threshold : float
        0.3.
    final_only_success : bool
        True.

    Examples
    --------
    >>> task = TemporalOrder("6a")
    >>> x, target, mask = task.sample(np.random.default_rng(0))   # (L, 8), (L, 4), (L,)
    """

    name = "temporal order"
    alphabet = ALPHABET
    n_in: int = len(ALPHABET)
    min_length: int = 100
    max_length: int = 110
    abs_error_threshold: float = 0.3
    final_only_success: bool = True
    stop_mean_error: float = 0.1
    test_size: int = 2560

    def __init__(self, variant: str, *, dtype=np.float64) -> None:
        self.variant = check_choice("variant", variant, tuple(_VARIANTS))
        self.dtype = check_dtype("dtype", dtype)
        self.experiment = self.variant
        self.positions, self.class_names = _VARIANTS[self.variant]
        self.n_relevant = len(self.positions)
        self.n_out = 2 ** self.n_relevant
        #: Minimal number of steps from the last relevant symbol to the last step (Table 10 "lag").
        self.min_lag = self.min_length - self.positions[-1][1]

    def __repr__(self) -> str:
        return f"TemporalOrder(variant={self.variant!r}, dtype={self.dtype.name})"

    def describe(self) -> str:
        """One paragraph naming the task, its parameters and its success test."""
        pos = ", ".join(f"t{i + 1} in [{lo}, {hi}]" for i, (lo, hi) in enumerate(self.positions))
        return (f"Experiment {self.variant} ({self.name}): 8 one-hot inputs (a b c d B E X Y), {self.n_out} "
                f"outputs (classes {' '.join(self.class_names)}), {self.min_length}..{self.max_length} steps, "
                f"E first, B last, X or Y at 1-based positions {pos}, a-d elsewhere, minimal lag "
                f"{self.min_lag}; class target at the last step; success: absolute error of all outputs below "
                f"{self.abs_error_threshold} at the sequence end.")

    def sample_full(self, rng: np.random.Generator) -> TemporalOrderSample:
        """Draw one sequence with its relevant positions and class.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness, in this order: ``rng.integers`` for the length, the relevant
            positions, the X/Y choices and the distractors.

        Returns
        -------
        TemporalOrderSample
            ``(x (L, 8), target (L, n_out), mask (L,) bool, rows, label)``: ``rows`` are the 0-based
            rows of the relevant symbols, ``label`` the output unit of the class.
        """
        rng = check_rng(rng)
        L = int(rng.integers(self.min_length, self.max_length + 1))
        rows = tuple(int(rng.integers(lo, hi + 1)) - 1 for lo, hi in self.positions)
        bits = rng.integers(0, 2, size=self.n_relevant)           # 0 = X, 1 = Y
        symbols = rng.integers(0, N_DISTRACTORS, size=L)
        symbols[0] = _INDEX["E"]
        symbols[-1] = _INDEX["B"]
        symbols[list(rows)] = _INDEX["X"] + bits
        label = int(np.dot(bits, 1 << np.arange(self.n_relevant - 1, -1, -1)))
        x = np.zeros((L, self.n_in), dtype=self.dtype)
        x[np.arange(L), symbols] = 1
        target = np.zeros((L, self.n_out), dtype=self.dtype)
        target[-1, label] = 1
        mask = np.zeros(L, dtype=bool)
        mask[-1] = True
        return TemporalOrderSample(x, target, mask, rows, label)

    def sample_batch(self, rng: np.random.Generator, n: int) -> PackedBatch:
        """Draw n sequences at once, packed back to back (see :class:`~lstmcore.tasks.batch.PackedBatch`).

        Each sequence has the distribution of :meth:`sample` (the random numbers are drawn in
        another order). ``info`` holds ``rows`` (n, n_relevant) and ``label`` (n,).
        """
        rng = check_rng(rng)
        n = check_batch_size(n, (self.n_in + 2 * self.n_out) * self.dtype.itemsize, self.max_length)
        L = rng.integers(self.min_length, self.max_length + 1, size=n)
        offsets, last = pack_offsets(L)
        start = offsets[:-1]
        rows = np.stack([rng.integers(lo, hi + 1, size=n) - 1 for lo, hi in self.positions], axis=1)
        bits = rng.integers(0, 2, size=(n, self.n_relevant))           # 0 = X, 1 = Y
        symbols = rng.integers(0, N_DISTRACTORS, size=int(offsets[-1]))
        symbols[start] = _INDEX["E"]
        symbols[last] = _INDEX["B"]
        symbols[start[:, None] + rows] = _INDEX["X"] + bits
        label = bits @ (1 << np.arange(self.n_relevant - 1, -1, -1))
        x = one_hot_rows(symbols, self.n_in, self.dtype)
        target = np.zeros((len(symbols), self.n_out), dtype=self.dtype)
        target[last, label] = 1
        mask = np.zeros(len(symbols), dtype=bool)
        mask[last] = True
        return PackedBatch(x, target, mask, offsets, target, dict(rows=rows, label=label))

    def sample(self, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw one training sequence.

        Returns
        -------
        x : ndarray, shape (L, 8)
            One-hot inputs, ``E`` first and ``B`` last; ``100 <= L <= 110``.
        target : ndarray, shape (L, n_out)
            Zero except the last row: the one-hot class code.
        mask : ndarray of bool, shape (L,)
            True only at the last step.
        """
        s = self.sample_full(rng)
        return s.x, s.target, s.mask
