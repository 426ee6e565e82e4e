"""Experiment 1 of Hochreiter & Schmidhuber (1997): the embedded Reber grammar (section 5.1).

Protocol (the paper, section 5.1): 256 training strings and 256 separate test strings; no
test string is in the training set. Training exemplars are picked at random from the training set
and presented one symbol per step, with activations reset to zero for every string. The trial
succeeds when "all string symbols of all sequences in both test set and training set are
predicted correctly - that is, if the output unit(s) corresponding to the possible next symbol(s)
is(are) always the most active ones". Network: 3 blocks of 2 cells (276 weights) or 4 blocks of 1
cell (264), gates biased, recurrence from cells and gates, weights in [-0.2, 0.2], output-gate
biases -1, -2, -3 (, -4), g in [-2, 2], h in [-1, 1], learning rate 0.1, 0.2 or 0.5.

This module holds what is particular to Exp. 1: its data sets (:func:`make_reber_sets`,
:class:`ReberSets`) and its success test (:func:`reber_correct`, :class:`ReberCheck`, used by the
stopping rule :class:`~lstmcore.experiments.stopping.ReberStrict`). Trials run in the one trial
engine (:mod:`.engine`) like every other experiment.
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Tuple

import numpy as np

from .._validation import check_bool, check_choice, check_int
from ..tasks.batch import PackedBatch, concat_sequences, take_sequences
from ..tasks.reber import EmbeddedReber

__all__ = ["ReberCheck", "ReberSets", "make_reber_sets", "reber_correct", "reber_sets"]

_TESTS = ("strict", "argmax")


# ---------------------------------------------------------------------------- data sets
def make_reber_sets(
    data_seed: int,
    train_size: int = 256,
    test_size: int = 256,
    distinct: bool = True,
) -> Tuple[List[str], List[str]]:
    """Draw the training and test strings of one Experiment-1 data set.

    The training strings are drawn first, then the test strings, from
    ``numpy.random.default_rng(data_seed)``; a test string that is in the training set is redrawn.

    Parameters
    ----------
    data_seed : int >= 0
        Seed of the data set; the same seed gives the same two lists.
    train_size, test_size : int >= 1
        Number of strings in each set (the paper: 256 and 256).
    distinct : bool, default True
        True: no string occurs twice within a set (redraw duplicates). False: strings are drawn
        independently, so a set may contain repeats. In both cases no test string is in the
        training set.

    Returns
    -------
    train, test : list of str, lengths ``train_size`` and ``test_size``
        Complete embedded Reber strings, in the order drawn.

    Raises
    ------
    RuntimeError
        If the sets cannot be filled within ``1000 * (train_size + test_size) + 100000`` draws
        (only for sizes far beyond the paper's).
    """
    data_seed = check_int("data_seed", data_seed, minimum=0)
    train_size = check_int("train_size", train_size, minimum=1)
    test_size = check_int("test_size", test_size, minimum=1)
    distinct = check_bool("distinct", distinct)
    rng = np.random.default_rng(data_seed)
    task = EmbeddedReber()
    budget = [1000 * (train_size + test_size) + 100_000]

    def draw(size: int, exclude: set, what: str) -> List[str]:
        out: List[str] = []
        seen: set = set()
        while len(out) < size:
            if budget[0] <= 0:
                raise RuntimeError(
                    f"make_reber_sets: could not draw {size} {what} strings "
                    f"(distinct={distinct}) within the draw budget; got {len(out)}"
                )
            budget[0] -= 1
            s = task.sample_string(rng)
            if s in exclude or (distinct and s in seen):
                continue
            seen.add(s)
            out.append(s)
        return out

    train = draw(train_size, set(), "training")
    test = draw(test_size, set(train), "test")
    return train, test


# ---------------------------------------------------------------------------- success test
def reber_correct(outputs: np.ndarray, legal: np.ndarray, test: str = "strict") -> np.ndarray:
    """Per-step success test: are the legal next symbols the most active outputs?

    Parameters
    ----------
    outputs : array_like of float, shape (N, K)
        Network outputs, one row per step (steps of several strings may be concatenated).
    legal : array_like of bool, shape (N, K)
        Legal next symbols per step (e.g. rows of ``EmbeddedReber.legal_next``); every row must
        mark at least one symbol.
    test : {"strict", "argmax"}, default "strict"
        ``"strict"``: with k legal symbols, the k largest outputs are exactly the legal ones, i.e.
        the smallest legal output is larger than the largest illegal one (the paper's "the output
        unit(s) corresponding to the possible next symbol(s) is(are) always the most active
        ones"). ``"argmax"``: the single most active output is a legal one, i.e. the largest legal
        output is larger than the largest illegal one. Ties and NaN count as wrong.

    Returns
    -------
    ndarray of bool, shape (N,)
        True where the step is predicted correctly.
    """
    test = check_choice("test", test, _TESTS)
    outputs = np.asarray(outputs)
    legal = np.asarray(legal)
    if outputs.ndim != 2:
        raise ValueError(f"outputs: expected a 2-d array (N, K), got shape {outputs.shape}")
    if not (np.issubdtype(outputs.dtype, np.floating) or np.issubdtype(outputs.dtype, np.integer)):
        raise TypeError(f"outputs: expected a real numeric array, got dtype {outputs.dtype}")
    if legal.shape != outputs.shape:
        raise ValueError(f"legal: expected shape {outputs.shape} (that of outputs), got {legal.shape}")
    if legal.dtype != np.bool_:
        raise TypeError(f"legal: expected a bool array, got dtype {legal.dtype}")
    if legal.shape[0] and not legal.any(axis=1).all():
        row = int(np.flatnonzero(~legal.any(axis=1))[0])
        raise ValueError(f"legal: every row must mark at least one legal symbol; row {row} marks none")
    outputs = outputs.astype(np.float64, copy=False)
    top_illegal = np.where(legal, -np.inf, outputs).max(axis=1, initial=-np.inf)
    if test == "strict":
        low_legal = np.where(legal, outputs, np.inf).min(axis=1, initial=np.inf)
        # NaN propagates through min/max and every comparison with it is False: NaN fails.
        return low_legal > top_illegal
    top_legal = np.where(legal, outputs, -np.inf).max(axis=1, initial=-np.inf)
    return top_legal > top_illegal


class ReberSets(NamedTuple):
    """The training and test strings of one Exp. 1 data set, packed (see :func:`reber_sets`)."""

    train: PackedBatch         #: the training strings as sequences (targets as the trial trains them)
    both: PackedBatch          #: the training strings, then the test strings
    legal: np.ndarray          #: (rows of both,) x 7 bool: the legal next symbols at every step
    n_train: int               #: number of training strings
    mean_train_len: float      #: mean length of the training strings (symbols, B...E)


def _pack(task: EmbeddedReber, strings: List[str]) -> Tuple[PackedBatch, np.ndarray]:
    enc = [task.encode(s) for s in strings]
    lengths = np.array([len(e[0]) for e in enc], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    target = np.concatenate([e[1] for e in enc])
    batch = PackedBatch(np.concatenate([e[0] for e in enc]), target, np.concatenate([e[2] for e in enc]), offsets,
                        target, {})
    return batch, np.concatenate([task.legal_next(s) for s in strings])


def reber_sets(data_seed: int, *, train_size: int = 256, test_size: int = 256, distinct: bool = True,
               targets: str = "next", dtype: Any = np.float64) -> ReberSets:
    """The strings of :func:`make_reber_sets` as packed sequences for training and checks."""
    train, test = make_reber_sets(data_seed, train_size, test_size, distinct)
    task = EmbeddedReber(targets, dtype=dtype)
    train_batch, legal_train = _pack(task, train)
    test_batch, legal_test = _pack(task, test)
    return ReberSets(train_batch, concat_sequences([train_batch, test_batch]),
                     np.concatenate([legal_train, legal_test]), len(train),
                     float(np.mean([len(s) for s in train])))


class ReberCheck:
    """The success test of Exp. 1 over every step of every string of both sets: one batched forward
    call. Strings that failed the last check are tried first (one small call), so a failing check
    is cheap; the answer is that of the whole test."""

    def __init__(self, sets: ReberSets, criterion: str, threads: int) -> None:
        self.sets, self.criterion, self.threads = sets, check_choice("test", criterion, _TESTS), threads
        self.hard: np.ndarray = np.zeros(0, dtype=np.int64)

    def step_correct(self, model: Any) -> np.ndarray:
        """(rows,) bool: every step of every string, training strings first."""
        both = self.sets.both
        y = model.forward_batch(both.x, both.offsets, num_threads=self.threads)
        return reber_correct(y, self.sets.legal, self.criterion)

    def check(self, model: Any) -> bool:
        both = self.sets.both
        if len(self.hard):
            sub = take_sequences(both, self.hard)
            rows = _rows(both.offsets, self.hard)
            y = model.forward_batch(sub.x, sub.offsets, num_threads=self.threads)
            if not reber_correct(y, self.sets.legal[rows], self.criterion).all():
                return False
        ok = self.step_correct(model)
        if ok.all():
            return True
        bad = np.flatnonzero(~np.logical_and.reduceat(ok, both.offsets[:-1]))
        self.hard = bad[:32]
        return False

    def final_details(self, model: Any) -> Dict[str, Any]:
        """How close the final network came: fraction of steps and strings passing, per set, and
        whether the symbol before last (the long-lag prediction) passes in every string."""
        both, n_train = self.sets.both, self.sets.n_train
        ok = self.step_correct(model)
        split = int(both.offsets[n_train])
        string_ok = np.logical_and.reduceat(ok, both.offsets[:-1])
        long_ok = ok[both.offsets[1:] - 2]
        return dict(long_lag_correct=bool(long_ok.all()), mean_train_len=self.sets.mean_train_len,
                    final=dict(step_accuracy=float(ok.mean()), string_accuracy=float(string_ok.mean()),
                               test_step_accuracy=float(ok[split:].mean()),
                               train_step_accuracy=float(ok[:split].mean()),
                               long_lag_accuracy=float(long_ok.mean())))


def _rows(offsets: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Row numbers of the sequences `index` of a packed batch with these offsets, in order."""
    starts, ends = offsets[:-1][index], offsets[1:][index]
    lengths = ends - starts
    return np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(lengths.sum())
