"""Stopping rules: when a trial reaches a milestone. One typed class per rule of the paper.

A rule is frozen data (its name, its thresholds, and whether the final test runs when it is
reached); the thresholds live here and nowhere else. :meth:`StoppingRule.monitor` builds the
object that watches one trial:

- a :class:`StreamMonitor` judges the training sequences themselves, from the per-sequence
  statistics the core returns with every trained batch (the loss and the largest absolute error at
  the last step, both from the pass itself);
- a :class:`CheckMonitor` is asked every ``check_every`` sequences and runs the model over a fixed
  set of sequences (one batched, multi-threaded forward call per set).

The rules:

=========================  =============================================================  =========
class                      reached when                                                   paper
=========================  =============================================================  =========
:class:`ReberStrict`       every step of every training and test string is predicted      Exp. 1
:class:`SetABS`            all sequences of a fixed set pass ABS(beta)                    Exp. 2
:class:`StreamABS`         the last ``sequences`` training sequences all passed ABS(beta)  Exp. 2 *
:class:`StopSet`           at most ``max_wrong`` of a stopping set wrong (ST1), and the     Exp. 3
                           mean absolute error below ``max_mean_abs`` (ST2)
:class:`RecentWindow`      fewer than ``fail_below`` of the ``window`` most recent          Exp. 4-6
                           training sequences failed ABS(beta), and their mean squared
                           error below ``max_mean_error`` (ST3(beta), n_seq)
:class:`Budget`            ``sequences`` training sequences have been trained               --
=========================  =============================================================  =========

(* the "stream" reading of Exp. 2's success criterion, an option.)

The monitors see the model only through its public methods (``forward_batch``), so a rule works
for any model family of the registry.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Dict, Optional

import numpy as np

from ..tasks.batch import PackedBatch, concat_sequences, take_sequences

__all__ = ["StoppingRule", "ReberStrict", "SetABS", "StreamABS", "StopSet", "RecentWindow", "Budget",
           "StreamMonitor", "CheckMonitor", "SequenceSet", "SetEndErrors", "set_errors"]


# ----------------------------------------------------------------------------------------- sets
class SequenceSet:
    """A fixed set of n sequences of a task, drawn from its own seed in chunks of ``chunk``.

    Sets up to ``cache_bytes`` are kept; larger ones (Exp. 2c at q = 1000: 10,000 sequences of
    1,000 one-hot steps) are drawn again from the same seed at every pass, so every pass sees the
    same sequences either way. ``fixed`` (a PackedBatch) replaces the draw, e.g. the two
    sequences of Exp. 2a or the strings of Exp. 1.
    """

    cache_bytes = 64 << 20
    chunk_bytes = 32 << 20

    def __init__(self, task: Any, seed: Optional[np.random.SeedSequence], n: int, *,
                 fixed: Optional[PackedBatch] = None, chunk: int = 256) -> None:
        self.task, self.seed = task, seed
        self.n = int(n) if fixed is None else fixed.n
        self._cache: Optional[list] = [fixed] if fixed is not None else None
        mean_len = getattr(task, "mean_length", None) or task.min_length
        row_bytes = (task.n_in + 2 * task.n_out) * np.dtype(task.dtype).itemsize
        # chunks of at most `chunk` sequences and about chunk_bytes (Exp. 2c, q = 1000: a few)
        self.chunk = int(max(1, min(int(chunk), self.n, self.chunk_bytes // max(1, mean_len * row_bytes))))
        if fixed is None:
            if self.n * mean_len * row_bytes <= self.cache_bytes:
                self._cache = list(self._draw())

    def _draw(self):
        rng = np.random.default_rng(self.seed)
        left = self.n
        while left > 0:
            k = min(self.chunk, left)
            yield self.task.sample_batch(rng, k)
            left -= k

    def chunks(self):
        """The set as PackedBatches, in order."""
        return iter(self._cache) if self._cache is not None else self._draw()

    def whole(self) -> Optional[PackedBatch]:
        """The whole set as one PackedBatch if it is kept in memory, else None."""
        if self._cache is None:
            return None
        if len(self._cache) > 1:
            self._cache = [concat_sequences(self._cache)]
        return self._cache[0]


def set_errors(model: Any, batch: PackedBatch, *, final_only: bool, threads: int) -> Dict[str, np.ndarray]:
    """Per sequence of `batch`, from one forward_batch call: ``max_error`` (n,), the largest
    |y - noise-free target| at the judged steps (the last step, or every step with a target),
    and ``last_se``, ``last_ae`` (n,): the mean squared and mean absolute error over the outputs
    at the last step. A NaN output gives a NaN error (which fails every threshold)."""
    y = model.forward_batch(batch.x, batch.offsets, num_threads=threads)
    err = np.abs(y - batch.clean_target)                     # (R, n_out)
    last = batch.offsets[1:] - 1
    if final_only:
        max_error = err[last].max(axis=1)
    else:
        # rows without a target count 0; np.maximum propagates NaN
        per_row = np.where(batch.mask, err.max(axis=1), 0.0)
        max_error = np.maximum.reduceat(per_row, batch.offsets[:-1])
    e_last = err[last]
    return dict(max_error=max_error, last_se=np.mean(e_last ** 2, axis=1), last_ae=np.mean(e_last, axis=1))


def measure_set(model: Any, sset: SequenceSet, beta: float, *, threads: int) -> Dict[str, Any]:
    """The final test: wrong sequences (max error at the end >= beta), fraction wrong, mean squared
    and mean absolute error at the end, over the whole set."""
    n = wrong = 0
    se = ae = 0.0
    for chunk in sset.chunks():
        e = set_errors(model, chunk, final_only=True, threads=threads)
        n += chunk.n
        wrong += int(np.count_nonzero(~(e["max_error"] < beta)))
        se += float(e["last_se"].sum())
        ae += float(e["last_ae"].sum())
    return dict(n=n, wrong=wrong, fraction_wrong=wrong / n, mse=se / n, mean_abs_error=ae / n)


# ----------------------------------------------------------------------------------------- monitors
class StreamMonitor:
    """Judges the training sequences: a window of the ``window`` most recent ones.

    ``judge``: "last_step" (the core's largest absolute error at the last step, from the pass) or
    "before_pass" (every step with a target, outputs of the weights before the sequence's pass:
    the engine computes them with one forward call per sequence).
    """

    def __init__(self, window: int, beta: float, fail_below: int, max_mean_error: Optional[float], n_out: int,
                 judge: str) -> None:
        self.window, self.beta, self.fail_below = int(window), float(beta), int(fail_below)
        self.max_mean_error, self.n_out, self.judge = max_mean_error, int(n_out), judge
        self.failed = np.zeros(0, dtype=bool)   # the most recent sequences, oldest first
        self.mse = np.zeros(0)

    def _windows(self, loss: np.ndarray, error: np.ndarray):
        # a sequence fails ABS(beta) unless its error is below beta (NaN fails); its mean squared
        # error over the outputs is 2 * loss / n_out (its only target is at the end)
        failed = np.concatenate([self.failed, ~(error < self.beta)])
        mse = np.concatenate([self.mse, 2.0 * loss / self.n_out])
        return failed, mse

    def first_satisfied(self, loss: np.ndarray, error: np.ndarray) -> Optional[int]:
        """Index (in this chunk) of the first sequence after which the rule holds, or None."""
        failed, mse = self._windows(loss, error)
        h, w = len(self.failed), self.window
        end = np.arange(h + 1, len(failed) + 1)            # window ends (exclusive), one per new sequence
        begin = np.maximum(end - w, 0)
        cs_f = np.concatenate([[0], np.cumsum(failed)])
        ok = (end - begin == w) & (cs_f[end] - cs_f[begin] < self.fail_below)
        if self.max_mean_error is not None:
            # a window with a NaN or infinite error never holds; the others by their sums (the
            # non-finite values are kept out of the running sum so they spoil only their windows)
            bad = ~np.isfinite(mse)
            cs_bad = np.concatenate([[0], np.cumsum(bad)])
            cs_m = np.concatenate([[0.0], np.cumsum(np.where(bad, 0.0, mse))])
            ok &= (cs_bad[end] == cs_bad[begin]) & ((cs_m[end] - cs_m[begin]) / w < self.max_mean_error)
        hits = np.flatnonzero(ok)
        return int(hits[0]) if len(hits) else None

    def commit(self, loss: np.ndarray, error: np.ndarray) -> None:
        """Add these sequences (in order) to the window."""
        failed, mse = self._windows(loss, error)
        self.failed, self.mse = failed[-self.window:], mse[-self.window:]

    def satisfied(self) -> bool:
        """Does the rule hold after the sequences committed so far?"""
        if len(self.failed) < self.window or int(self.failed.sum()) >= self.fail_below:
            return False
        return self.max_mean_error is None or float(self.mse.sum()) / self.window < self.max_mean_error


class CheckMonitor:
    """Asked every ``check_every`` sequences: ``check(model) -> bool``."""

    def check(self, model: Any) -> bool:  # pragma: no cover - interface
        raise NotImplementedError


class _AllPass(CheckMonitor):
    """Every sequence of a set passes ABS(beta). Sequences that failed a check are tried first, so
    a failing check usually costs one small batch."""

    def __init__(self, sset: SequenceSet, beta: float, final_only: bool, threads: int) -> None:
        self.sset, self.beta, self.final_only, self.threads = sset, beta, final_only, threads
        self.hard: Optional[PackedBatch] = None

    def check(self, model: Any) -> bool:
        if self.hard is not None:
            e = set_errors(model, self.hard, final_only=self.final_only, threads=self.threads)
            if not (e["max_error"] < self.beta).all():
                return False
        for chunk in self.sset.chunks():
            e = set_errors(model, chunk, final_only=self.final_only, threads=self.threads)
            bad = np.flatnonzero(~(e["max_error"] < self.beta))
            if len(bad):
                self.hard = take_sequences(chunk, bad[:min(32, self.sset.chunk)])
                return False
        return True


class SetEndErrors:
    """The errors at the end of every sequence of a fixed set for the model of one moment,
    computed lazily: hardest sequences first, in chunks that double in size.

    ``moment`` names the model's state (the engine's count of trained sequences): the errors of
    one moment are computed at most once, so ST1 and ST2 on the same set share one pass. Per
    sequence ``i`` (in the set's order): ``max_error[i]`` = max_k |y_k - noise-free target_k| at
    the last step, ``last_ae[i]`` = the mean over k of the same; ``done[i]`` says whether it has
    been computed for this moment. Order: by the latest error seen of each sequence, largest
    first (never seen: first, in the set's order), so a check that fails usually fails on its
    first small chunk. Each sequence's numbers do not depend on which chunk it is computed in
    (every sequence runs from the zero state), so any order gives the same values.
    """

    first_chunk = 8

    def __init__(self, batch: PackedBatch, threads: int) -> None:
        self.batch, self.threads = batch, threads
        n = batch.n
        self.max_error = np.zeros(n)
        self.last_ae = np.zeros(n)
        self.done = np.zeros(n, dtype=bool)
        self._seen = np.full(n, np.inf)     # latest max_error of each sequence (inf: never computed)
        self._order = np.arange(n)
        self._cursor = 0
        self._chunk = self.first_chunk
        self._moment: Any = None
        self._model: Any = None

    @property
    def n(self) -> int:
        return self.batch.n

    def at(self, model: Any, moment: Any) -> "SetEndErrors":
        """Start (or continue) the errors of `model` at `moment`."""
        if moment != self._moment or model is not self._model:
            self._moment, self._model = moment, model
            self.done[:] = False
            # hardest first: descending latest error, NaN counted as the largest; stable for ties
            seen = np.where(np.isnan(self._seen), np.inf, self._seen)
            self._order = np.argsort(-seen, kind="stable")
            self._cursor, self._chunk = 0, self.first_chunk
        return self

    def more(self, at_least: int = 1) -> bool:
        """Compute the next chunk (at least `at_least` sequences); False when all are done."""
        n = self.n
        if self._cursor >= n:
            return False
        k = max(self._chunk, int(at_least))
        index = self._order[self._cursor:self._cursor + k]
        e = set_errors(self._model, take_sequences(self.batch, index), final_only=True, threads=self.threads)
        self.max_error[index] = e["max_error"]
        self.last_ae[index] = e["last_ae"]
        self.done[index] = True
        self._seen[index] = e["max_error"]
        self._cursor += len(index)
        self._chunk *= 2
        return True


class _StopSetCheck(CheckMonitor):
    """ST1/ST2 on a fixed set, decided as soon as the verdict is certain.

    The check fails once more than ``max_wrong`` of the sequences computed so far are wrong, or
    once the absolute errors computed so far add up to ``max_mean_abs`` times the set size or
    more (errors are never negative, so the mean over the whole set can only be larger; a margin
    of 1e-9 keeps rounding of the partial sum from deciding). Otherwise every sequence is
    computed and the verdict is that of the whole set: at most ``max_wrong`` wrong and
    ``mean(last_ae) < max_mean_abs``, the mean taken over the set in its order. The verdict is
    the same as one pass over the whole set; only the work differs.
    """

    def __init__(self, rule: "StopSet", errors: SetEndErrors, moment: Any) -> None:
        self.rule, self.errors, self.moment = rule, errors, moment

    def check(self, model: Any) -> bool:
        r, ev = self.rule, self.errors.at(model, self.moment())
        limit = None if r.max_mean_abs is None else r.max_mean_abs * ev.n * (1.0 + 1e-9)
        want = r.max_wrong + 1   # a chunk that can fail the check on its own
        while True:
            done = ev.done
            if int(np.count_nonzero(~(ev.max_error[done] < r.beta))) > r.max_wrong:
                return False
            if limit is not None and float(ev.last_ae[done].sum()) >= limit:
                return False
            if not ev.more(want):
                break
        return r.max_mean_abs is None or float(ev.last_ae.mean()) < r.max_mean_abs


class _StopSetStream(CheckMonitor):
    """ST1/ST2 on a set too large to keep in memory: drawn again chunk by chunk at every check."""

    def __init__(self, rule: "StopSet", sset: SequenceSet, threads: int) -> None:
        self.rule, self.sset, self.threads = rule, sset, threads

    def check(self, model: Any) -> bool:
        r = self.rule
        wrong, ae, n = 0, 0.0, 0
        for chunk in self.sset.chunks():
            e = set_errors(model, chunk, final_only=True, threads=self.threads)
            wrong += int(np.count_nonzero(~(e["max_error"] < r.beta)))
            if wrong > r.max_wrong:
                return False
            ae += float(e["last_ae"].sum())
            n += chunk.n
        return r.max_mean_abs is None or ae / n < r.max_mean_abs


class _BudgetCheck(CheckMonitor):
    def __init__(self, sequences: int, counter) -> None:
        self.sequences, self.counter = sequences, counter

    def check(self, model: Any) -> bool:
        return self.counter() >= self.sequences


# ----------------------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class StoppingRule:
    """A milestone of a trial: ``name`` (as the paper's tables call it) and ``test`` (measure the
    final test set when it is reached)."""

    name: str
    test: bool = False
    #: "stream" (judged on the training sequences) or "check" (a periodic check of the model)
    judged_on: ClassVar[str] = "check"

    @property
    def params(self) -> Dict[str, Any]:
        """The thresholds (every field but ``name`` and ``test``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("name", "test")}

    def monitor(self, ctx: Any) -> Any:  # pragma: no cover - interface
        """A StreamMonitor or CheckMonitor for one trial; ``ctx`` is the engine's TrialContext."""
        raise NotImplementedError

    def training_set(self, ctx: Any) -> Optional[PackedBatch]:
        """The fixed training set the rule is defined on (exemplars are drawn from it), or None:
        exemplars are generated online."""
        return None


@dataclass(frozen=True)
class ReberStrict(StoppingRule):
    """Exp. 1: at every step of every training and test string, the outputs of the legal next
    symbols are the most active ones (``criterion="strict"``; ``"argmax"``: the most active
    output is a legal one). The training set is the rule's own (see ``reber.ReberSets``)."""

    criterion: str = "strict"

    def monitor(self, ctx: Any) -> Any:
        from .reber import ReberCheck

        return ReberCheck(ctx.reber_sets(), self.criterion, ctx.threads)

    def training_set(self, ctx: Any) -> Optional[PackedBatch]:
        return ctx.reber_sets().train


@dataclass(frozen=True)
class SetABS(StoppingRule):
    """Exp. 2: ``sequences`` random sequences (a fixed set per trial) all pass ABS(``beta``): the
    absolute error of every output below beta at the last step (``final_only``) or at every step
    with a target."""

    beta: float = 0.25
    final_only: bool = True
    sequences: int = 10_000

    def monitor(self, ctx: Any) -> CheckMonitor:
        fixed = ctx.task.all_sequences() if hasattr(ctx.task, "all_sequences") else None
        return _AllPass(ctx.fixed_set("stop", self.sequences, fixed=fixed), self.beta, self.final_only, ctx.threads)


@dataclass(frozen=True)
class StreamABS(StoppingRule):
    """Exp. 2, the stream reading: the last ``sequences`` training sequences all passed
    ABS(``beta``), each judged with the weights it met."""

    judged_on: ClassVar[str] = "stream"
    beta: float = 0.25
    final_only: bool = True
    sequences: int = 10_000

    def monitor(self, ctx: Any) -> StreamMonitor:
        judge = "last_step" if self.final_only and ctx.final_target_only else "before_pass"
        return StreamMonitor(self.sequences, self.beta, 1, None, ctx.n_out, judge)


@dataclass(frozen=True)
class StopSet(StoppingRule):
    """Exp. 3, ST1 / ST2 on a fixed stopping set of ``size`` sequences: at most ``max_wrong``
    sequences with an absolute error >= ``beta`` at the end, and (ST2) a mean absolute error at the
    end below ``max_mean_abs``."""

    size: int = 256
    beta: float = 0.2
    max_wrong: int = 0
    max_mean_abs: Optional[float] = None

    def monitor(self, ctx: Any) -> CheckMonitor:
        sset = ctx.fixed_set("stop", self.size)
        errors = ctx.end_errors("stop", self.size)
        if errors is None:
            return _StopSetStream(self, sset, ctx.threads)
        return _StopSetCheck(self, errors, ctx.sequences_so_far)


@dataclass(frozen=True)
class RecentWindow(StoppingRule):
    """Exp. 4-6: of the ``window`` most recent training sequences (a full window), fewer than
    ``fail_below`` failed ABS(``beta``) at the end, and (ST3) their mean squared error at the end
    is below ``max_mean_error``. ST3(0.01): ``fail_below=1, max_mean_error=0.01``; n_seq = 140:
    ``fail_below=140``."""

    judged_on: ClassVar[str] = "stream"
    window: int = 2000
    beta: float = 0.04
    fail_below: int = 1
    max_mean_error: Optional[float] = None

    def monitor(self, ctx: Any) -> StreamMonitor:
        judge = "last_step" if ctx.final_target_only else "before_pass"
        return StreamMonitor(self.window, self.beta, self.fail_below, self.max_mean_error, ctx.n_out, judge)


@dataclass(frozen=True)
class Budget(StoppingRule):
    """Reached once ``sequences`` training sequences have been trained (rows whose only stopping
    rule is a fixed amount of training)."""

    sequences: int = 1

    def monitor(self, ctx: Any) -> CheckMonitor:
        return _BudgetCheck(self.sequences, ctx.sequences_so_far)
