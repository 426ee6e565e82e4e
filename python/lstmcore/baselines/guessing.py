"""Random weight guessing: draw all weights at random, test, repeat until solved or out of budget.

The 1997 paper (section 5.3) notes that some benchmark problems of the time, Bengio et al.'s
2-sequence problem (its Experiments 3a/3b) and parity among them, are solved faster by this
"algorithm" than by the gradient methods proposed for them (Schmidhuber & Hochreiter 1996); a
task worth its name must not be. :func:`random_guessing` works on any model with
``get_weights()`` / ``set_weights(dict)`` (every array is redrawn with its own shape) or with
``n_weights`` and ``set_flat(vector)``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from .._validation import check_int, check_real

__all__ = ["GuessingResult", "SequenceTest", "random_guessing"]


@dataclass
class GuessingResult:
    """Outcome of :func:`random_guessing`."""

    solved: bool    #: whether a guess passed the test
    guesses: int    #: guesses made (the successful one included)
    weights: Optional[Union[Dict[str, np.ndarray], np.ndarray]]  #: the solving weights (None if not solved)
    seconds: float  #: wall-clock time of the search


def _drawer(model: Any, init_range: float, rng: np.random.Generator) -> Callable[[], Any]:
    """A function that draws and sets one random guess, returning what it set."""
    if hasattr(model, "get_weights") and hasattr(model, "set_weights"):
        shapes = {name: np.shape(w) for name, w in model.get_weights().items()}

        def draw_dict() -> Dict[str, np.ndarray]:
            w = {name: rng.uniform(-init_range, init_range, size=shape) for name, shape in shapes.items()}
            model.set_weights(w)
            return w

        return draw_dict
    if hasattr(model, "n_weights") and hasattr(model, "set_flat"):
        n = check_int("model.n_weights", int(model.n_weights), minimum=1)

        def draw_flat() -> np.ndarray:
            w = rng.uniform(-init_range, init_range, size=n)
            model.set_flat(w)
            return w

        return draw_flat
    raise TypeError(f"model: expected an object with get_weights()/set_weights(dict) or n_weights/set_flat(vector), "
                    f"got {type(model).__name__}")


def random_guessing(model: Any, solved: Callable[[Any], bool], *, init_range: float, max_guesses: int,
                    seed: Optional[int] = None,
                    callback: Optional[Callable[[int], None]] = None) -> GuessingResult:
    """Search by random weight guessing.

    Parameters
    ----------
    model : object
        With ``get_weights()``/``set_weights(dict)`` (each array redrawn with its shape) or
        ``n_weights``/``set_flat(vector)``. Its weights are overwritten; on success it keeps the
        solving weights, otherwise the last guess.
    solved : callable(model) -> bool
        The test of one guess, e.g. a :class:`SequenceTest`.
    init_range : float > 0
        Every weight is drawn uniformly from [-init_range, init_range].
    max_guesses : int >= 1
        The budget.
    seed : int or None
    callback : callable(guesses_so_far), optional
        Called after every guess (progress, cancellation by raising).

    Returns
    -------
    GuessingResult
    """
    init_range = check_real("init_range", init_range, minimum=0.0)
    if init_range == 0.0:
        raise ValueError("init_range: expected a number > 0, got 0.0")
    max_guesses = check_int("max_guesses", max_guesses)
    if not callable(solved):
        raise TypeError(f"solved: expected a callable(model) -> bool, got {type(solved).__name__}")
    rng = np.random.default_rng(seed)
    draw = _drawer(model, init_range, rng)
    start = time.perf_counter()
    for guess in range(1, max_guesses + 1):
        weights = draw()
        ok = bool(solved(model))
        if callback is not None:
            callback(guess)
        if ok:
            return GuessingResult(True, guess, weights, time.perf_counter() - start)
    return GuessingResult(False, max_guesses, None, time.perf_counter() - start)


class SequenceTest:
    """The test "every output is within `threshold` of its target at every masked step of every
    sequence" on a fixed set of sequences, the success criterion ABS(threshold) of the paper.

    Parameters
    ----------
    sequences : sequence of (x, target, mask)
        x (T_i, n_in), target (T_i, n_out), mask (T_i,) bool (None: every step).
    threshold : float > 0
    first : int, default 16
        Sequences tried first; the rest only if these all pass (most guesses fail on the first
        few, so a failing guess costs little).

    Calling it on a model with ``forward_many(list of x)`` or ``forward(x)`` returns a bool.
    ``test.sequences_run`` counts the sequences evaluated so far.
    """

    def __init__(self, sequences: Sequence[Tuple[Any, Any, Any]], threshold: float, *, first: int = 16) -> None:
        self.threshold = check_real("threshold", threshold, minimum=0.0)
        self.first = check_int("first", first)
        self.sequences = []
        for i, item in enumerate(sequences):
            if not isinstance(item, tuple) or len(item) != 3:
                raise TypeError(f"sequences[{i}]: expected an (x, target, mask) tuple, got {type(item).__name__}")
            x, target = np.asarray(item[0]), np.asarray(item[1])
            if x.ndim != 2 or target.ndim != 2 or x.shape[0] != target.shape[0]:
                raise ValueError(f"sequences[{i}]: expected x (T, n_in) and target (T, n_out), got {x.shape} and "
                                 f"{target.shape}")
            mask = np.ones(x.shape[0], bool) if item[2] is None else np.asarray(item[2], bool)
            if mask.shape != (x.shape[0],):
                raise ValueError(f"sequences[{i}]: expected mask ({x.shape[0]},), got {mask.shape}")
            self.sequences.append((x, target, mask))
        if not self.sequences:
            raise ValueError("sequences: expected at least one sequence, got none")
        self.sequences_run = 0

    def _passes(self, model: Any, chunk: list) -> bool:
        xs = [x for x, _, _ in chunk]
        ys = model.forward_many(xs) if hasattr(model, "forward_many") else [model.forward(x) for x in xs]
        self.sequences_run += len(chunk)
        for y, (_, target, mask) in zip(ys, chunk):
            if not np.all(np.abs(y[mask] - target[mask]) < self.threshold):
                return False
        return True

    def __call__(self, model: Any) -> bool:
        head, rest = self.sequences[:self.first], self.sequences[self.first:]
        return self._passes(model, head) and (not rest or self._passes(model, rest))
