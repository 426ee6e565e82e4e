"""Noise and signal on the same channel: Bengio et al.'s "2-sequence problem" (Hochreiter &
Schmidhuber 1997, Experiment 3, section 5.3; variants 3a, 3b and 3c)."""

from __future__ import annotations

from typing import NamedTuple, Tuple

import numpy as np

from .._validation import check_choice, check_dtype, check_int, check_task_size
from .batch import PackedBatch, check_batch_size, check_rng, pack_offsets

__all__ = ["TwoSequence", "TwoSequenceSample"]

VARIANTS = ("3a", "3b", "3c")


class TwoSequenceSample(NamedTuple):
    """One sequence of :class:`TwoSequence` with what generated it (see :meth:`TwoSequence.sample_full`)."""

    x: np.ndarray             #: (L, 1) inputs
    target: np.ndarray        #: (L, 1) training target (noisy at the last step for 3c), 0 elsewhere
    mask: np.ndarray          #: (L,) bool, True only at the last step
    clean_target: np.ndarray  #: (L, 1) the noise-free target (equals ``target`` for 3a and 3b)
    sign: int                 #: +1 or -1: the class, as the sign of the information-carrying elements


def length_range(T: int) -> Tuple[int, int]:
    """Inclusive integer range ``(T, T + T // 10)`` of sequence lengths for parameter ``T``."""
    return T, T + T // 10


class TwoSequence:
    """Bengio et al.'s 2-sequence problem (1997 paper, Experiments 3a, 3b, 3c).

    Recipe (the paper, section 5.3): one real-valued input line, two classes with
    probability 0.5 each. The first ``N`` elements carry the class: all ``+1.0`` (class 1) or all
    ``-1.0`` (class 2). Every later element is Gaussian noise with mean 0 and **variance 0.2**
    (standard deviation ``sqrt(0.2)``). The length ``L`` is uniform in ``[T, T + T/10]``. A target
    is given only at the end:

    - **3a**: target 1.0 (class 1) or 0.0 (class 2); correct if the absolute error at the end is
      below 0.2.
    - **3b**: as 3a, plus Gaussian noise of mean 0 and variance 0.2 on the ``N``
      information-carrying elements too.
    - **3c**: as 3a (no noise on the first ``N`` elements), but targets **0.2 (class 1) and 0.8
      (class 2)**, with Gaussian target noise of mean 0 and variance 0.1 added. A sequence is
      misclassified if ``|output - noise-free target| > 0.1``.

    Choices where the paper leaves room:

    - **Length range.** ``L`` is uniform over the integers ``T, T+1, ..., T + T // 10``, both ends
      included (``T = 100``: 100..110, 11 lengths); see :func:`length_range`.
    - **Positions.** "The first N elements" are 1-based positions ``1..N``, i.e. 0-based rows
      ``0..N-1`` of ``x``; the noise elements are rows ``N..L-1``.
    - **Noisy and clean targets (3c).** :meth:`sample` returns the noisy training target;
      :meth:`sample_full` returns the same draw (same random numbers, so the same seed gives the
      same ``x`` and ``target``) together with the noise-free ``clean_target`` and the class. The
      target noise is drawn afresh for every sequence; it is not clipped to [0, 1].
    - **Success thresholds.** ``abs_error_threshold`` is 0.2 for 3a/3b (ABS(0.2), Table 11) and
      0.1 for 3c, where the error is measured against the noise-free target
      (``success_uses_clean_target``). Stopping rules: ST1 = at most ``stop_max_misclassified``
      of 256 test sequences misclassified (0 for 3a and 3c, "fewer than 6" = 5 for 3b); ST2 =
      ST1 and mean absolute test error below ``stop_mean_abs_error`` (0.01, 0.04, and 0.015 for
      3c, against the clean target); then a test on ``test_size = 2560`` new sequences.
    - ``N`` may be anything in ``1..T-1`` so that at least one noise element follows; the paper
      uses ``N`` in {1, 3} and ``T`` in {100, 1000}.

    Parameters
    ----------
    T : int >= 2
        Minimal sequence length.
    N : int, 1 <= N <= T - 1
        Number of information-carrying elements at the start.
    variant : {"3a", "3b", "3c"}
    dtype : numpy.float32 or numpy.float64, keyword-only
        dtype of ``x`` and the targets.

    Attributes
    ----------
    n_in, n_out : int
        1 and 1.
    class_targets : tuple of float
        Noise-free targets ``(for class 1 / sign +1, for class 2 / sign -1)``: ``(1.0, 0.0)`` or,
        for 3c, ``(0.2, 0.8)``.
    input_noise_variance : float
        0.2.
    info_noise : bool
        Whether the first ``N`` elements are noisy too (3b).
    target_noise_variance : float
        0.1 for 3c, else 0.0.
    min_length, max_length : int
        ``T`` and ``T + T // 10``.
    abs_error_threshold : float
        0.2 (3a, 3b) or 0.1 (3c).
    final_only_success : bool
        True.

    Examples
    --------
    >>> task = TwoSequence(100, 3, "3c")
    >>> s = task.sample_full(np.random.default_rng(0))   # s.x: (L, 1), 100 <= L <= 110
    >>> s.target[-1], s.clean_target[-1]     # noisy training target, 0.2 or 0.8  # doctest: +SKIP
    """

    name = "2-sequence problem: noise and signal on the same channel"
    n_in: int = 1
    n_out: int = 1
    input_noise_variance: float = 0.2
    final_only_success: bool = True
    test_size: int = 2560
    stop_test_size: int = 256

    def __init__(self, T: int, N: int, variant: str, *, dtype=np.float64) -> None:
        self.T = check_int("T", T, minimum=2)
        self.N = check_int("N", N, minimum=1, maximum=self.T - 1)
        self.variant = check_choice("variant", variant, VARIANTS)
        self.dtype = check_dtype("dtype", dtype)
        self.experiment = self.variant
        self.min_length, self.max_length = length_range(self.T)
        self.info_noise = self.variant == "3b"
        if self.variant == "3c":
            self.class_targets = (0.2, 0.8)
            self.target_noise_variance = 0.1
            self.abs_error_threshold = 0.1
            self.success_uses_clean_target = True
            self.stop_max_misclassified = 0
            self.stop_mean_abs_error = 0.015
        else:
            self.class_targets = (1.0, 0.0)
            self.target_noise_variance = 0.0
            self.abs_error_threshold = 0.2
            self.success_uses_clean_target = False
            self.stop_max_misclassified = 0 if self.variant == "3a" else 5
            self.stop_mean_abs_error = 0.01 if self.variant == "3a" else 0.04
        check_task_size("T", self)

    def __repr__(self) -> str:
        return f"TwoSequence(T={self.T}, N={self.N}, variant={self.variant!r}, dtype={self.dtype.name})"

    def describe(self) -> str:
        """One paragraph naming the task, its parameters and its success test."""
        noise = "all elements after the first N" if not self.info_noise else "all elements (3b)"
        tn = f" plus N(0, {self.target_noise_variance}) target noise" if self.target_noise_variance else ""
        against = " noise-free" if self.success_uses_clean_target else ""
        return (f"Experiment {self.variant} ({self.name}), T={self.T}, N={self.N}: 1 input, 1 output, "
                f"{self.min_length}..{self.max_length} steps; first N elements +1 (class 1) or -1 (class 2), "
                f"N(0, {self.input_noise_variance}) noise on {noise}; target at the last step "
                f"{self.class_targets[0]} (class 1) or {self.class_targets[1]} (class 2){tn}; success: "
                f"absolute error to the{against} target below {self.abs_error_threshold} at the sequence end.")

    def sample_full(self, rng: np.random.Generator) -> TwoSequenceSample:
        """Draw one sequence with its noise-free target and class.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness, used in this order: ``rng.random()`` for the class (< 0.5 gives
            class 1), ``rng.integers`` for the length, ``rng.normal`` for the input noise
            (``L - N`` values, or ``L`` for 3b), ``rng.normal`` for the target noise (3c only).

        Returns
        -------
        TwoSequenceSample
            ``(x (L, 1), target (L, 1), mask (L,) bool, clean_target (L, 1), sign)``; ``target``
            and ``clean_target`` are 0 except in the last row; ``mask`` is True only there.
        """
        rng = check_rng(rng)
        sign = 1 if rng.random() < 0.5 else -1
        L = int(rng.integers(self.min_length, self.max_length + 1))
        std = np.sqrt(self.input_noise_variance)
        x = np.zeros((L, 1), dtype=np.float64)
        x[: self.N, 0] = float(sign)
        if self.info_noise:             # 3b: noise on every element, the information ones included
            x[:, 0] += rng.normal(0.0, std, size=L)
        else:
            x[self.N:, 0] = rng.normal(0.0, std, size=L - self.N)
        clean = np.zeros((L, 1), dtype=self.dtype)
        clean[-1, 0] = self.class_targets[0] if sign > 0 else self.class_targets[1]
        if self.target_noise_variance:
            target = clean.copy()
            target[-1, 0] += rng.normal(0.0, np.sqrt(self.target_noise_variance))
        else:
            target = clean
        mask = np.zeros(L, dtype=bool)
        mask[-1] = True
        return TwoSequenceSample(x.astype(self.dtype, copy=False), target, mask, clean, sign)

    def sample_batch(self, rng: np.random.Generator, n: int) -> PackedBatch:
        """Draw n sequences at once, packed back to back (see :class:`~lstmcore.tasks.batch.PackedBatch`).

        Each sequence has the distribution of :meth:`sample_full` (the random numbers are drawn in
        another order); ``clean_target`` holds the noise-free targets, ``info["sign"]`` (n,) the classes.
        """
        rng = check_rng(rng)
        n = check_batch_size(n, 3 * self.dtype.itemsize, self.max_length)
        sign = np.where(rng.random(n) < 0.5, 1, -1)
        L = rng.integers(self.min_length, self.max_length + 1, size=n)
        offsets, last = pack_offsets(L)
        R = int(offsets[-1])
        std = np.sqrt(self.input_noise_variance)
        # rows of the information-carrying elements: the first N of every sequence, (n, N)
        info = offsets[:-1, None] + np.arange(self.N)
        if self.info_noise:             # 3b: noise on every element, the information ones included
            x = rng.normal(0.0, std, size=R)
            x[info] += sign[:, None]
        else:
            x = np.empty(R, dtype=np.float64)
            x[info] = sign[:, None]
            noise = np.ones(R, dtype=bool)
            noise[info] = False
            x[noise] = rng.normal(0.0, std, size=R - info.size)   # in row order
        clean = np.zeros((R, 1), dtype=self.dtype)
        clean[last, 0] = np.where(sign > 0, self.class_targets[0], self.class_targets[1])
        if self.target_noise_variance:
            target = clean.copy()
            target[last, 0] += rng.normal(0.0, np.sqrt(self.target_noise_variance), size=n)
        else:
            target = clean
        mask = np.zeros(R, dtype=bool)
        mask[last] = True
        return PackedBatch(x.astype(self.dtype, copy=False)[:, None], target, mask, offsets, clean, dict(sign=sign))

    def sample(self, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw one training sequence (the first three fields of :meth:`sample_full`).

        Returns
        -------
        x : ndarray, shape (L, 1)
            ``T <= L <= T + T // 10``.
        target : ndarray, shape (L, 1)
            Training target in the last row (noisy for 3c), 0 elsewhere.
        mask : ndarray of bool, shape (L,)
            True only at the last step.
        """
        s = self.sample_full(rng)
        return s.x, s.target, s.mask
