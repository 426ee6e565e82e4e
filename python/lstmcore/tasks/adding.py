"""The adding and multiplication problems (Hochreiter & Schmidhuber 1997, Experiments 4 and 5,
sections 5.4 and 5.5).

Both read a sequence of (value, marker) pairs in which two pairs are marked and output a function
of the two marked values at the end; they differ only in the value range, the stand-in for a
marked first pair and the function, so they share one generator (:class:`_MarkedPairs`).
"""

from __future__ import annotations

from typing import NamedTuple, Tuple

import numpy as np

from .._validation import check_dtype, check_int, check_task_size
from .batch import PackedBatch, check_batch_size, check_rng, pack_offsets
from .twosequence import length_range

__all__ = ["Adding", "Multiplication", "MarkedPairSample"]

#: Candidates for the first mark: the first ten pairs (0-based positions 0..9).
FIRST_MARK_CANDIDATES = 10


class MarkedPairSample(NamedTuple):
    """One sequence of :class:`Adding` / :class:`Multiplication` with what generated it."""

    x: np.ndarray            #: (L, 2) pairs (value, marker)
    target: np.ndarray       #: (L, 1) target in the last row, 0 elsewhere
    mask: np.ndarray         #: (L,) bool, True only at the last step
    positions: Tuple[int, int]     #: 0-based positions of the two marked pairs, ascending
    operands: Tuple[float, float]  #: (X1, X2) as used in the target, in sequence order


_SHARED_CHOICES = """
    Choices where the paper leaves room (the paper, sections 5.4 and 5.5):

    - **Length range.** ``L`` is uniform over the integers ``T, ..., T + T // 10``, both ends
      included (``T = 100``: 100..110).
    - **Positions** are 0-based rows of ``x``. The first mark is uniform over rows ``0..9`` ("one of
      the first ten pairs"); the second is uniform over the ``T // 2 - 1`` rows of ``0..T//2 - 1``
      other than the first mark ("one of the first T/2 - 1 still unmarked pairs"), so it may lie
      before the first. The later marked row is at most ``T // 2 - 1``, the last row at least
      ``T - 1``: minimal lag ``T - T // 2`` (50 for ``T = 100``, as in Table 7).
    - **X1, X2** name the two marked values in sequence order (X1 the earlier).
    - **Marked first pair.** Row 0 is marked with probability ``1/10 + (9/10) / (T//2 - 1)``
      (0.118 for ``T = 100``; the paper calls it rare). Its marker then stays **-1.0** (the
      start-of-sequence marker wins), so only one pair shows the marker 1.0, and X1 is replaced
      by ``first_pair_operand`` in the target, as the paper prescribes. Its input value is left as
      drawn (it is not visibly marked, so it does not matter). Thus the target is always the
      paper's function of the visibly marked values, with the missing one at its neutral value.
    - ``T >= 20`` is required so that the first ten rows lie inside the second mark's window;
      the paper uses 100, 500 and 1000.
"""


class _MarkedPairs:
    """Shared generator of Experiments 4 and 5; subclasses set the value range, the stand-in for a
    marked first pair and :meth:`combine`."""

    experiment: str = ""
    name: str = ""
    formula: str = ""
    value_range: Tuple[float, float] = (0.0, 0.0)
    first_pair_operand: float = 0.0
    n_in: int = 2
    n_out: int = 1
    #: ABS(0.04) of Table 11: correct if the absolute error at the sequence end is below this.
    abs_error_threshold: float = 0.04
    final_only_success: bool = True
    test_size: int = 2560
    #: Marker values: a marked pair, an unmarked pair, the first and the last pair.
    MARKED, UNMARKED, ENDS = 1.0, 0.0, -1.0

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__doc__:  # None under python -OO
            cls.__doc__ = cls.__doc__.replace("    {shared_choices}\n", _SHARED_CHOICES.lstrip("\n"))

    def __init__(self, T: int, *, dtype=np.float64) -> None:
        self.T = check_int("T", T, minimum=2 * FIRST_MARK_CANDIDATES)
        self.dtype = check_dtype("dtype", dtype)
        self.min_length, self.max_length = length_range(self.T)
        #: The second mark falls on one of the first ``T // 2 - 1`` still unmarked pairs, i.e. on a
        #: 0-based position in ``0..T // 2 - 1`` other than the first mark.
        self.second_mark_window = self.T // 2
        #: Minimal number of steps from the later marked pair to the last step.
        self.min_lag = self.min_length - self.second_mark_window
        check_task_size("T", self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(T={self.T}, dtype={self.dtype.name})"

    def describe(self) -> str:
        """One paragraph naming the task, its parameters and its success test."""
        lo, hi = self.value_range
        return (f"Experiment {self.experiment} ({self.name}), T={self.T}: 2 inputs (value, marker), 1 output, "
                f"{self.min_length}..{self.max_length} steps, values uniform in [{lo:g}, {hi:g}], one marked pair "
                f"among the first {FIRST_MARK_CANDIDATES}, another among the first {self.second_mark_window - 1} "
                f"unmarked ones, minimal lag {self.min_lag}; target {self.formula} at the last step "
                f"(X1 := {self.first_pair_operand:g} if the first pair is drawn); success: absolute error below "
                f"{self.abs_error_threshold} at the sequence end.")

    @staticmethod
    def combine(x1, x2):
        """The target as a function of the two marked values (NumPy broadcasting)."""
        raise NotImplementedError

    def sample_full(self, rng: np.random.Generator) -> MarkedPairSample:
        """Draw one sequence with its marked positions and operands.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness, in this order: ``rng.integers`` for the length, ``rng.uniform``
            for the ``L`` values, ``rng.integers`` for the first mark, then for the second.

        Returns
        -------
        MarkedPairSample
            ``(x (L, 2), target (L, 1), mask (L,) bool, positions, operands)``.
        """
        rng = check_rng(rng)
        L = int(rng.integers(self.min_length, self.max_length + 1))
        values = rng.uniform(self.value_range[0], self.value_range[1], size=L)
        m1 = int(rng.integers(0, FIRST_MARK_CANDIDATES))
        # j-th (0-based) of the first T//2 - 1 pairs other than m1; m1 < 10 <= T//2 always.
        j = int(rng.integers(0, self.second_mark_window - 1))
        m2 = j if j < m1 else j + 1
        first, second = sorted((m1, m2))
        x = np.zeros((L, 2), dtype=self.dtype)
        x[:, 0] = values
        x[first, 1] = x[second, 1] = self.MARKED
        x[0, 1] = x[L - 1, 1] = self.ENDS        # the first pair keeps -1 even when it is marked
        x1 = self.first_pair_operand if first == 0 else float(values[first])
        x2 = float(values[second])
        target = np.zeros((L, 1), dtype=self.dtype)
        target[-1, 0] = self.combine(x1, x2)
        mask = np.zeros(L, dtype=bool)
        mask[-1] = True
        return MarkedPairSample(x, target, mask, (first, second), (x1, x2))

    def sample(self, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw one training sequence (the first three fields of :meth:`sample_full`).

        Returns
        -------
        x : ndarray, shape (L, 2)
            Column 0 the values, column 1 the markers; ``T <= L <= T + T // 10``.
        target : ndarray, shape (L, 1)
            The target in the last row, 0 elsewhere.
        mask : ndarray of bool, shape (L,)
            True only at the last step.
        """
        s = self.sample_full(rng)
        return s.x, s.target, s.mask


    def sample_batch(self, rng: np.random.Generator, n: int) -> PackedBatch:
        """Draw n sequences at once, packed back to back (see :class:`~lstmcore.tasks.batch.PackedBatch`).

        Each sequence has the distribution of :meth:`sample` (the random numbers are drawn in
        another order, so the sequences differ from n calls of :meth:`sample`). ``info`` holds
        ``positions`` (n, 2) and ``operands`` (n, 2) as in :meth:`sample_full`.
        """
        rng = check_rng(rng)
        n = check_batch_size(n, 4 * self.dtype.itemsize, self.max_length)
        L = rng.integers(self.min_length, self.max_length + 1, size=n)
        offsets, last = pack_offsets(L)
        start = offsets[:-1]
        values = rng.uniform(self.value_range[0], self.value_range[1], size=int(offsets[-1]))
        m1 = rng.integers(0, FIRST_MARK_CANDIDATES, size=n)
        # j-th (0-based) of the first T//2 - 1 pairs other than m1
        j = rng.integers(0, self.second_mark_window - 1, size=n)
        m2 = np.where(j < m1, j, j + 1)
        first, second = np.minimum(m1, m2), np.maximum(m1, m2)
        x = np.zeros((len(values), 2), dtype=self.dtype)
        x[:, 0] = values
        x[start + first, 1] = x[start + second, 1] = self.MARKED
        x[start, 1] = x[last, 1] = self.ENDS        # the first pair keeps -1 even when it is marked
        x1 = np.where(first == 0, self.first_pair_operand, values[start + first])
        x2 = values[start + second]
        target = np.zeros((len(values), 1), dtype=self.dtype)
        target[last, 0] = self.combine(x1, x2)
        mask = np.zeros(len(values), dtype=bool)
        mask[last] = True
        return PackedBatch(x, target, mask, offsets, target,
                           dict(positions=np.stack([first, second], axis=1), operands=np.stack([x1, x2], axis=1)))


class Adding(_MarkedPairs):
    """The adding problem (1997 paper, Experiment 4).

    Recipe (the paper, section 5.4): each step is a pair (value, marker). Values are
    uniform in ``[-1, 1]``. Markers are 0.0, except 1.0 on exactly two pairs -- one of the first
    ten pairs, then one of the first ``T/2 - 1`` still unmarked pairs -- and -1.0 on the first and
    the last pair. The length is uniform in ``[T, T + T/10]``. Only the last step has a target:
    ``0.5 + (X1 + X2) / 4.0``, the sum of the marked values scaled to ``[0, 1]``. If the first
    pair of the sequence is marked, ``X1 := 0``. Correct if the absolute error at the end is
    below 0.04 (``abs_error_threshold``); training stops by ST3(0.01): average training error
    below 0.01 and the 2000 most recent sequences correct (``stop_mean_error``).

    {shared_choices}

    Parameters
    ----------
    T : int >= 20
        Minimal sequence length.
    dtype : numpy.float32 or numpy.float64, keyword-only

    Attributes
    ----------
    n_in, n_out : int
        2 (value, marker) and 1.
    value_range : (float, float)
        ``(-1.0, 1.0)``.
    first_pair_operand : float
        0.0: X1 when the first pair is marked.
    min_length, max_length, min_lag : int
        ``T``, ``T + T // 10`` and ``T - T // 2``.
    abs_error_threshold : float
        0.04.
    final_only_success : bool
        True.

    Examples
    --------
    >>> task = Adding(100)
    >>> x, target, mask = task.sample(np.random.default_rng(0))   # (L, 2), (L, 1), (L,)
    """

    experiment = "4"
    name = "adding problem"
    formula = "0.5 + (X1 + X2) / 4"
    value_range = (-1.0, 1.0)
    first_pair_operand = 0.0
    stop_mean_error: float = 0.01

    @staticmethod
    def combine(x1, x2):
        """``0.5 + (x1 + x2) / 4``."""
        return 0.5 + (x1 + x2) / 4.0


class Multiplication(_MarkedPairs):
    """The multiplication problem (1997 paper, Experiment 5).

    Recipe (the paper, section 5.5): as :class:`Adding`, but values are uniform in
    ``[0, 1]``, the target is ``X1 * X2``, and ``X1 := 1.0`` if the first pair is marked. Correct
    if the absolute error at the end is below 0.04 (``abs_error_threshold``). The paper tests as
    soon as fewer than ``n_seq`` of the 2000 most recent training sequences have an absolute error
    above 0.04, with ``n_seq`` in ``stop_n_seq = (140, 13)``.

    {shared_choices}

    Parameters
    ----------
    T : int >= 20
        Minimal sequence length (the paper uses 100).
    dtype : numpy.float32 or numpy.float64, keyword-only

    Attributes
    ----------
    n_in, n_out : int
        2 (value, marker) and 1.
    value_range : (float, float)
        ``(0.0, 1.0)``.
    first_pair_operand : float
        1.0: X1 when the first pair is marked.
    min_length, max_length, min_lag : int
        ``T``, ``T + T // 10`` and ``T - T // 2``.
    abs_error_threshold : float
        0.04.
    final_only_success : bool
        True.
    """

    experiment = "5"
    name = "multiplication problem"
    formula = "X1 * X2"
    value_range = (0.0, 1.0)
    first_pair_operand = 1.0
    stop_n_seq: Tuple[int, int] = (140, 13)

    @staticmethod
    def combine(x1, x2):
        """``x1 * x2``."""
        return x1 * x2
