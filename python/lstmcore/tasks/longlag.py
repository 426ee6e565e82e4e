"""Long-time-lag symbol sequences (Hochreiter & Schmidhuber 1997, Experiment 2, section 5.2).

Three tasks over locally coded (one-hot) symbols:

- :class:`NoiseFreeLongLag` (2a): two fixed sequences ``(y, a_1, ..., a_{p-1}, y)`` and
  ``(x, a_1, ..., a_{p-1}, x)``; predict the next symbol at every step.
- :class:`NoLocalRegularities` (2b): as 2a, but the middle is a random string over
  ``a_1..a_{p-1}``; every step is predicted but only the last symbol is fully predictable.
- :class:`VeryLongLag` (2c): ``(b, x|y, q+k random distractors, e, x|y)`` with a random number
  ``k`` of extra distractors; 2 outputs, a target only at the last step.

All three work on symbol index arrays (:meth:`sample_symbols`) that :meth:`encode` turns into one
training sequence ``(x, target, mask)``; :meth:`sample` does both.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .._validation import check_dtype, check_int, check_task_size
from .batch import PackedBatch, check_batch_size, check_rng, one_hot_rows, pack_offsets

__all__ = ["NoiseFreeLongLag", "NoLocalRegularities", "VeryLongLag"]

Sequence3 = Tuple[np.ndarray, np.ndarray, np.ndarray]


def _one_hot(indices: np.ndarray, n: int, dtype: np.dtype) -> np.ndarray:
    out = np.zeros((len(indices), n), dtype=dtype)
    out[np.arange(len(indices)), indices] = 1
    return out


def _check_symbols(symbols: object, n_symbols: int) -> np.ndarray:
    """A 1-D integer array with entries in [0, n_symbols); structure is checked by the caller."""
    arr = np.asarray(symbols)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"symbols: expected a 1-D array of integer symbol indices, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"symbols: expected a 1-D array, got shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_symbols):
        raise ValueError(f"symbols: expected indices in [0, {n_symbols - 1}], got values in "
                         f"[{arr.min()}, {arr.max()}]")
    return arr.astype(np.intp, copy=False)


class _NextSymbolTask:
    """Shared part of 2a and 2b: ``(c, middle of p-1 symbols, c)`` with ``c`` in {x, y},
    the next symbol predicted at every step."""

    experiment: str = ""
    name: str = ""
    #: ABS(0.25) of Table 11: success when the absolute error of every output unit stays below this.
    abs_error_threshold: float = 0.25
    #: Number of successive random test sequences that must all pass (Table 11 / section 5.2).
    success_sequences: int = 10_000
    final_only_success: bool = False

    def __init__(self, p: int, *, dtype=np.float64) -> None:
        self.p = check_int("p", p, minimum=1)
        self.dtype = check_dtype("dtype", dtype)
        #: Symbols ``a_1..a_{p-1}`` are units ``0..p-2``; ``x = a_p`` is unit ``p-1``, ``y = a_{p+1}`` unit ``p``.
        self.n_symbols = self.p + 1
        self.n_in = self.n_symbols
        self.n_out = self.n_symbols
        self.x_index = self.p - 1
        self.y_index = self.p
        #: Number of steps ``L`` of every sequence (the p+1 symbols minus the last, which is only a target).
        self.length = self.p
        self.min_length = self.max_length = self.p
        check_task_size("p", self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p}, dtype={self.dtype.name})"

    # --------------------------------------------------------------- generation
    def _middle(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def sample_symbols(self, rng: np.random.Generator) -> np.ndarray:
        """Draw one symbol sequence.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness: one ``rng.random()`` draw for the class (< 0.5 gives ``x``), then
            the middle (2b only).

        Returns
        -------
        ndarray of intp, shape (p + 1,)
            Unit indices: ``[c, middle..., c]`` with ``c`` in ``{x_index, y_index}``.
        """
        rng = check_rng(rng)
        c = self.x_index if rng.random() < 0.5 else self.y_index
        out = np.empty(self.p + 1, dtype=np.intp)
        out[0] = out[-1] = c
        out[1:-1] = self._middle(rng)
        return out

    def sample(self, rng: np.random.Generator) -> Sequence3:
        """Draw one training sequence: ``encode(sample_symbols(rng))``.

        Returns
        -------
        x : ndarray, shape (p, p + 1)
            One-hot inputs: every symbol but the last.
        target : ndarray, shape (p, p + 1)
            One-hot code of the next symbol at every step.
        mask : ndarray of bool, shape (p,)
            All True: every step carries a target (see ``final_only_success`` for where success is
            judged).
        """
        return self._encode(self.sample_symbols(rng))

    def _middle_batch(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError

    def sample_batch(self, rng: np.random.Generator, n: int) -> PackedBatch:
        """Draw n sequences at once, packed back to back (see :class:`~lstmcore.tasks.batch.PackedBatch`).

        Each sequence has the distribution of :meth:`sample`; ``info["symbols"]`` (n, p + 1) holds
        the symbol sequences.
        """
        rng = check_rng(rng)
        n = check_batch_size(n, 2 * self.n_symbols * self.dtype.itemsize, self.p)
        symbols = np.empty((n, self.p + 1), dtype=np.intp)
        symbols[:, 0] = symbols[:, -1] = np.where(rng.random(n) < 0.5, self.x_index, self.y_index)
        symbols[:, 1:-1] = self._middle_batch(rng, n)
        offsets = np.arange(n + 1, dtype=np.int64) * self.p
        x = one_hot_rows(symbols[:, :-1].ravel(), self.n_symbols, self.dtype)
        target = one_hot_rows(symbols[:, 1:].ravel(), self.n_symbols, self.dtype)
        return PackedBatch(x, target, np.ones(n * self.p, dtype=bool), offsets, target, dict(symbols=symbols))

    # --------------------------------------------------------------- coding
    def _encode(self, symbols: np.ndarray) -> Sequence3:
        x = _one_hot(symbols[:-1], self.n_symbols, self.dtype)
        target = _one_hot(symbols[1:], self.n_symbols, self.dtype)
        return x, target, np.ones(len(symbols) - 1, dtype=bool)

    def encode(self, symbols) -> Sequence3:
        """Turn a symbol sequence of this task into ``(x, target, mask)`` (see :meth:`sample`).

        Parameters
        ----------
        symbols : array_like of int, shape (p + 1,)
            As returned by :meth:`sample_symbols`; anything that is not a sequence of this task
            raises ValueError.
        """
        s = _check_symbols(symbols, self.n_symbols)
        if len(s) != self.p + 1:
            raise ValueError(f"symbols: expected {self.p + 1} symbols, got {len(s)}")
        if s[0] not in (self.x_index, self.y_index) or s[-1] != s[0]:
            raise ValueError("symbols: expected the first and the last symbol to be the same x or y "
                             f"(index {self.x_index} or {self.y_index}), got {s[0]} and {s[-1]}")
        self._check_middle(s[1:-1])
        return self._encode(s)

    def _check_middle(self, middle: np.ndarray) -> None:
        raise NotImplementedError


class NoiseFreeLongLag(_NextSymbolTask):
    """Noise-free sequences with long time lags (1997 paper, Experiment 2a).

    Recipe (the paper, section 5.2): ``p + 1`` symbols ``a_1..a_{p-1}``, ``a_p = x``,
    ``a_{p+1} = y``, coded locally (``p + 1`` inputs and outputs). The training set holds the two
    sequences ``(y, a_1, ..., a_{p-1}, y)`` and ``(x, a_1, ..., a_{p-1}, x)``; each presentation
    picks one with probability 0.5. The network reads one symbol per step and predicts the next
    one; only the last prediction needs the first symbol, stored for ``p`` steps.

    Choices where the paper leaves room:

    - A sequence of ``p + 1`` symbols is ``L = p`` steps: input ``t`` is symbol ``t`` and the target
      is the one-hot code of symbol ``t + 1`` (0-based); the last symbol is never an input.
    - Unit ``i - 1`` codes ``a_i`` (so ``x`` is unit ``p - 1`` and ``y`` unit ``p``).
    - Success (ABS(0.25), Table 11) is judged at every step: all next symbols are predictable.
      The paper uses no test set for 2a; success is "10,000 successive, randomly chosen input
      sequences" with the maximal absolute error of all outputs below 0.25.
    - Any ``p >= 1`` is accepted (``p = 1`` gives the two sequences ``(x, x)`` and ``(y, y)``);
      the paper uses 4, 10 and 100.

    Parameters
    ----------
    p : int >= 1
        Time lag / sequence length parameter (the paper's LSTM row uses 100).
    dtype : numpy.float32 or numpy.float64, keyword-only
        dtype of ``x`` and ``target``.

    Attributes
    ----------
    n_in, n_out : int
        ``p + 1``.
    x_index, y_index : int
        Units of ``x`` and ``y``: ``p - 1`` and ``p``.
    length : int
        Steps per sequence, ``p`` (also ``min_length`` and ``max_length``).
    abs_error_threshold : float
        0.25.
    final_only_success : bool
        False: every step is judged.
    success_sequences : int
        10000 successive sequences must pass.

    Examples
    --------
    >>> task = NoiseFreeLongLag(100)
    >>> x, target, mask = task.sample(np.random.default_rng(0))   # (100, 101), (100, 101), (100,)
    """

    experiment = "2a"
    name = "noise-free sequences with long time lags"
    test_size: Optional[int] = None  # Table 11: no test set

    def _middle(self, rng: np.random.Generator) -> np.ndarray:
        return np.arange(self.p - 1)

    def _middle_batch(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.arange(self.p - 1)

    def all_sequences(self) -> PackedBatch:
        """The only two sequences of the task (class x, then y), packed: n random sequences all
        pass a test exactly when these two do."""
        symbols = np.array([[c, *range(self.p - 1), c] for c in (self.x_index, self.y_index)], dtype=np.intp)
        x = one_hot_rows(symbols[:, :-1].ravel(), self.n_symbols, self.dtype)
        target = one_hot_rows(symbols[:, 1:].ravel(), self.n_symbols, self.dtype)
        return PackedBatch(x, target, np.ones(2 * self.p, dtype=bool), np.arange(3, dtype=np.int64) * self.p, target,
                           dict(symbols=symbols))

    def _check_middle(self, middle: np.ndarray) -> None:
        if not np.array_equal(middle, np.arange(self.p - 1)):
            raise ValueError(f"symbols: expected a_1..a_{self.p - 1} (indices 0..{self.p - 2}) in order "
                             "between the first and the last symbol")

    def describe(self) -> str:
        """One paragraph naming the task, its parameters and its success test."""
        return (f"Experiment 2a ({self.name}), p={self.p}: {self.n_in} one-hot inputs and outputs, "
                f"sequences (x, a_1..a_{self.p - 1}, x) or (y, a_1..a_{self.p - 1}, y) of {self.length} steps, "
                f"next symbol predicted at every step; success: absolute error of every output below "
                f"{self.abs_error_threshold} at every step for {self.success_sequences} successive sequences.")


class NoLocalRegularities(_NextSymbolTask):
    """Long time lags without local regularities (1997 paper, Experiment 2b).

    Recipe (the paper, section 5.2): as :class:`NoiseFreeLongLag`, but the middle is a
    random string: sequences come from ``{(y, a_i1, ..., a_i(p-1), y)}`` and
    ``{(x, a_i1, ..., a_i(p-1), x)}`` with ``1 <= i_1..i_(p-1) <= p - 1``. Every next symbol is a
    target, but only the last one (``x`` or ``y``, equal to the first) is fully predictable.

    Choices where the paper leaves room:

    - The class (x or y) has probability 0.5; each middle index is drawn independently and
      uniformly from ``a_1..a_{p-1}`` (the paper says "random string").
    - ``L = p`` steps, targets the one-hot next symbol at every step, ``mask`` all True (the paper
      trains on every prediction). Success is judged at the **last step only**:
      ``final_only_success = True`` (ABS(0.25) "at sequence end", 10,000 successive sequences;
      Table 11 also lists a 10,000-sequence test set chosen from the 2 classes).
    - Unit coding as in 2a; ``p = 1`` has an empty middle and ``p = 2`` equals 2a.

    Parameters
    ----------
    p : int >= 1
        Sequence length parameter (the paper uses 100).
    dtype : numpy.float32 or numpy.float64, keyword-only

    Attributes
    ----------
    n_in, n_out, x_index, y_index, length, abs_error_threshold, success_sequences
        As for :class:`NoiseFreeLongLag`.
    final_only_success : bool
        True: only the prediction of the last symbol (step ``p - 1``) is judged.
    test_size : int
        10000.
    """

    experiment = "2b"
    name = "long time lags without local regularities"
    final_only_success = True
    test_size: Optional[int] = 10_000

    def _middle(self, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, self.p - 1, size=self.p - 1) if self.p > 1 else np.empty(0, dtype=np.intp)

    def _middle_batch(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.integers(0, self.p - 1, size=(n, self.p - 1)) if self.p > 1 else np.empty((n, 0), dtype=np.intp)

    def _check_middle(self, middle: np.ndarray) -> None:
        if middle.size and middle.max() >= self.p - 1:
            raise ValueError(f"symbols: expected only a_1..a_{self.p - 1} (indices 0..{self.p - 2}) "
                             "between the first and the last symbol")

    def describe(self) -> str:
        """One paragraph naming the task, its parameters and its success test."""
        return (f"Experiment 2b ({self.name}), p={self.p}: {self.n_in} one-hot inputs and outputs, "
                f"sequences (c, {self.p - 1} random symbols from a_1..a_{self.p - 1}, c), c in {{x, y}}, "
                f"of {self.length} steps, next symbol predicted at every step; success: absolute error of "
                f"every output below {self.abs_error_threshold} at the last step for "
                f"{self.success_sequences} successive sequences.")


class VeryLongLag:
    """Very long time lags, no local regularities (1997 paper, Experiment 2c).

    Recipe (the paper, section 5.2): ``p + 4`` locally coded symbols: distractors
    ``a_1..a_p``, the trigger ``e = a_{p+1}``, ``b = a_{p+2}``, ``x = a_{p+3}``, ``y = a_{p+4}``.
    A sequence is ``(b, c, a_i1, ..., a_i(q+k), e, c)`` with ``c`` in ``{x, y}``:

    1. a prefix of ``q + 2`` symbols: ``b``, then ``x`` or ``y`` (probability 0.5 each), then ``q``
       distractors;
    2. then repeatedly a distractor with probability 9/10, or ``e`` with probability 1/10 (which
       ends the loop);
    3. after ``e``, the symbol ``c`` again.

    The network must predict the last symbol after seeing ``e``: a target only at the last step,
    on **2 output units** (unit 0 codes ``x``, unit 1 codes ``y``). The minimal lag is ``q + 1``.

    Choices where the paper leaves room (spec section 5.2):

    - **Distractor index bound.** The paper writes ``1 <= i_1..i_(q+k) <= q``; the distractors
      are ``a_1..a_p``, so this is read as ``<= p``: every distractor is uniform over
      ``a_1..a_p`` (units ``0..p-1``), independently.
    - **Number of extra distractors.** ``k`` (step 2) is drawn in one go as a geometric number of
      failures, ``P(k) = (1/10)(9/10)^k``, ``k >= 0``; this is the same distribution as the
      per-symbol coin flips.
    - **Expected length.** Symbols per sequence ``n = q + k + 4`` (minimum ``q + 4``), so
      ``E[n] = 4 + sum_k (1/10)(9/10)^k (q + k) = q + 13``. The paper writes this very sum but
      states its value as ``q + 14``; that is an arithmetic slip (``E[k] = 9``), the generator
      follows the recipe, not the stated total. Each distractor occurs ``(q + 9) / p`` times per
      sequence on average (the paper: "about q/p").
    - A sequence of ``n`` symbols is ``L = n - 1`` steps (the last symbol is only a target); the
      target row of the last step (where ``e`` is the input) is the one-hot code of ``c`` over
      the 2 outputs, other target rows are 0 and masked out.
    - Any ``p >= 1`` and ``q >= 0`` are accepted (the paper uses 50..1000 for both).

    Parameters
    ----------
    p : int >= 1
        Number of distractor symbols (input units ``p + 4``).
    q : int >= 0
        Number of distractors in the fixed prefix (the lag minus 1).
    dtype : numpy.float32 or numpy.float64, keyword-only

    Attributes
    ----------
    n_in : int
        ``p + 4``.
    n_out : int
        2 (``x``, ``y``).
    e_index, b_index, x_index, y_index : int
        Input units of ``e``, ``b``, ``x``, ``y``: ``p``, ``p + 1``, ``p + 2``, ``p + 3``.
    min_length : int
        Minimal number of steps, ``q + 3``; ``mean_length`` is ``q + 12`` steps; ``max_length`` is
        None (unbounded).
    abs_error_threshold : float
        0.2 (both outputs at the sequence end, 10000 successive sequences).
    final_only_success : bool
        True.
    test_size : int
        10000.
    """

    experiment = "2c"
    name = "very long time lags, no local regularities"
    abs_error_threshold: float = 0.2
    final_only_success: bool = True
    success_sequences: int = 10_000
    test_size: int = 10_000
    #: Probability that the next symbol after the prefix is the trigger ``e``.
    trigger_probability: float = 0.1
    n_out: int = 2

    def __init__(self, p: int, q: int, *, dtype=np.float64) -> None:
        self.p = check_int("p", p, minimum=1)
        self.q = check_int("q", q, minimum=0)
        self.dtype = check_dtype("dtype", dtype)
        self.n_in = self.p + 4
        self.e_index = self.p
        self.b_index = self.p + 1
        self.x_index = self.p + 2
        self.y_index = self.p + 3
        self.min_length = self.q + 3
        self.max_length: Optional[int] = None  # unbounded (geometric number of extra distractors)
        self.mean_length = self.q + 3 + (1 - self.trigger_probability) / self.trigger_probability
        check_task_size("p, q", self)

    def __repr__(self) -> str:
        return f"VeryLongLag(p={self.p}, q={self.q}, dtype={self.dtype.name})"

    def describe(self) -> str:
        """One paragraph naming the task, its parameters and its success test."""
        return (f"Experiment 2c ({self.name}), p={self.p}, q={self.q}: {self.n_in} one-hot inputs, 2 outputs "
                f"(x, y); sequences (b, c, {self.q}+k distractors from a_1..a_{self.p}, e, c), c in {{x, y}}, "
                f"P(k) = 0.1*0.9^k, at least {self.min_length} steps (mean {self.mean_length:g}), minimal lag "
                f"{self.q + 1}; target c at the last step only; success: absolute error of both outputs below "
                f"{self.abs_error_threshold} at the sequence end for {self.success_sequences} successive sequences.")

    def sample_symbols(self, rng: np.random.Generator) -> np.ndarray:
        """Draw one symbol sequence.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness: ``rng.random()`` for the class (< 0.5 gives ``x``),
            ``rng.geometric(0.1) - 1`` for ``k``, then ``rng.integers`` for the distractors.

        Returns
        -------
        ndarray of intp, shape (q + k + 4,)
            Unit indices ``[b, c, d_1..d_{q+k}, e, c]``.
        """
        rng = check_rng(rng)
        c = self.x_index if rng.random() < 0.5 else self.y_index
        k = int(rng.geometric(self.trigger_probability)) - 1
        n = self.q + k + 4
        out = np.empty(n, dtype=np.intp)
        out[0] = self.b_index
        out[1] = out[-1] = c
        out[-2] = self.e_index
        out[2:-2] = rng.integers(0, self.p, size=n - 4)
        return out

    def sample_batch(self, rng: np.random.Generator, n: int) -> PackedBatch:
        """Draw n sequences at once, packed back to back (see :class:`~lstmcore.tasks.batch.PackedBatch`).

        Each sequence has the distribution of :meth:`sample` (the random numbers are drawn in
        another order); ``info`` holds ``label`` (n,): 0 for x, 1 for y.
        """
        rng = check_rng(rng)
        n = check_batch_size(n, (self.n_in + 4) * self.dtype.itemsize, self.mean_length)
        c = np.where(rng.random(n) < 0.5, self.x_index, self.y_index)
        k = rng.geometric(self.trigger_probability, size=n) - 1
        # steps: b, c, q + k distractors, e (the final c is the target only)
        offsets, last = pack_offsets(self.q + k + 3)
        start = offsets[:-1]
        symbols = rng.integers(0, self.p, size=int(offsets[-1]))
        symbols[start] = self.b_index
        symbols[start + 1] = c
        symbols[last] = self.e_index
        x = one_hot_rows(symbols, self.n_in, self.dtype)
        label = (c != self.x_index).astype(np.int64)
        target = np.zeros((len(symbols), 2), dtype=self.dtype)
        target[last, label] = 1
        mask = np.zeros(len(symbols), dtype=bool)
        mask[last] = True
        return PackedBatch(x, target, mask, offsets, target, dict(label=label))

    def _encode(self, symbols: np.ndarray) -> Sequence3:
        L = len(symbols) - 1
        x = _one_hot(symbols[:-1], self.n_in, self.dtype)
        target = np.zeros((L, 2), dtype=self.dtype)
        target[-1, 0 if symbols[-1] == self.x_index else 1] = 1
        mask = np.zeros(L, dtype=bool)
        mask[-1] = True
        return x, target, mask

    def encode(self, symbols) -> Sequence3:
        """Turn a symbol sequence of this task into ``(x, target, mask)`` (see :meth:`sample`).

        Parameters
        ----------
        symbols : array_like of int, shape (n,), n >= q + 4
            As returned by :meth:`sample_symbols`; anything else raises ValueError.
        """
        s = _check_symbols(symbols, self.n_in)
        if len(s) < self.q + 4:
            raise ValueError(f"symbols: expected at least q + 4 = {self.q + 4} symbols, got {len(s)}")
        if s[0] != self.b_index:
            raise ValueError(f"symbols: expected b (index {self.b_index}) first, got {s[0]}")
        if s[1] not in (self.x_index, self.y_index) or s[-1] != s[1]:
            raise ValueError("symbols: expected the second and the last symbol to be the same x or y "
                             f"(index {self.x_index} or {self.y_index}), got {s[1]} and {s[-1]}")
        if s[-2] != self.e_index:
            raise ValueError(f"symbols: expected e (index {self.e_index}) before the last symbol, got {s[-2]}")
        if len(s) > 4 and s[2:-2].max() >= self.p:
            raise ValueError(f"symbols: expected only distractors (indices 0..{self.p - 1}) between the "
                             "second symbol and e")
        return self._encode(s)

    def sample(self, rng: np.random.Generator) -> Sequence3:
        """Draw one training sequence: ``encode(sample_symbols(rng))``.

        Returns
        -------
        x : ndarray, shape (L, p + 4)
            One-hot inputs: every symbol but the last (``L = q + k + 3``; the last input is ``e``).
        target : ndarray, shape (L, 2)
            Zero except the last row: one-hot ``(x, y)`` code of the last symbol.
        mask : ndarray of bool, shape (L,)
            True only at the last step.
        """
        return self._encode(self.sample_symbols(rng))
