"""The trial engine: one trial of any experiment of the registry, from seeds to a result record.

A trial, stage by stage:

1. **Seeds.** ``(seed, trial)`` alone fixes every random number: independent streams for the
   initial weights, the training exemplars, the stopping set, the test set and a cell added later
   (:func:`trial_seeds`). Exp. 1 follows the paper's grid instead: data set ``trial // 10`` and
   initialisation ``trial % 10`` (offset by ``1000 * seed``).
2. **Model.** ``exp.net.build(seed, dtype)``: any model family whose objects offer
   ``train_batch``, ``forward_batch``, ``get_weights``/``set_weights`` and ``n_weights``.
3. **Exemplars.** Drawn in fixed blocks (``task.sample_batch(rng, BLOCK)``, or indices into the
   rule's fixed training set), so the stream does not depend on how often anything is checked.
4. **Training.** Packed chunks of a block go to the core in one ``train_batch`` call, which returns
   each sequence's loss and last-step error. A chunk ends at the next periodic check.
5. **Stopping.** The pending milestones' rules (:mod:`.stopping`) judge the per-sequence statistics
   (stream rules) or check the model on fixed sets (check rules). When a stream rule holds inside
   a chunk, the engine restores the weights of the chunk's start and trains the chunk again up to
   that sequence (the same numbers), so a milestone and its test see exactly the weights after the
   sequence that reached it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple

import numpy as np

from ..tasks.batch import PackedBatch, slice_sequences, take_sequences
from .stopping import SequenceSet, SetEndErrors, StreamABS, StreamMonitor, measure_set

__all__ = ["BLOCK", "MAX_CURVE_POINTS", "Model", "TrialContext", "run_trial_body", "trial_seeds"]

#: Exemplars are drawn this many sequences at a time (fewer when a block would exceed BLOCK_BYTES).
BLOCK = 256
BLOCK_BYTES = 32 << 20
#: Learning curves are thinned (every other point dropped, stride doubled) beyond this many samples.
MAX_CURVE_POINTS = 256
#: Exp. 1's exemplar indices are drawn this many at a time from their own stream.
INDEX_BLOCK = 4096


class Model(Protocol):
    """What the engine asks of a model (``exp.net.build(seed, dtype)``): LSTM1997 is one; a
    registry row may name any other family that offers these."""

    n_weights: int

    def train_batch(self, x: np.ndarray, target: np.ndarray, mask: np.ndarray, offsets: np.ndarray, *,
                    lr: float, update: str, last_error: bool = False) -> Tuple[np.ndarray, Optional[np.ndarray]]: ...

    def forward_batch(self, x: np.ndarray, offsets: np.ndarray, *, num_threads: Optional[int] = None) -> np.ndarray: ...

    def get_weights(self) -> Dict[str, np.ndarray]: ...

    def set_weights(self, weights: Dict[str, np.ndarray]) -> None: ...


def trial_seeds(seed: int, trial: int) -> List[np.random.SeedSequence]:
    """Independent streams of one trial: initial weights, training exemplars, stopping set, test set,
    and the weights of a cell added later (sequential construction)."""
    return np.random.SeedSequence(entropy=int(seed), spawn_key=(int(trial),)).spawn(5)


def _int_seed(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, dtype=np.uint32)[0])


@dataclass
class TrialContext:
    """What the stopping rules of one trial may ask for."""

    exp: Any
    task: Any
    dtype: Any
    threads: int
    seeds: List[np.random.SeedSequence]
    data_seed: int
    init_seed: int
    sequences: int = 0
    _reber: Any = field(default=None, repr=False)
    _sets: Dict[Any, Any] = field(default_factory=dict, repr=False)
    _errors: Dict[Any, Optional[SetEndErrors]] = field(default_factory=dict, repr=False)

    @property
    def n_out(self) -> int:
        return int(self.task.n_out)

    @property
    def final_target_only(self) -> bool:
        """Whether the task's sequences have a target at their last step only (read off a few
        sequences drawn from a stream of their own)."""
        b = self.task.sample_batch(np.random.default_rng(0), 8)
        return int(b.mask.sum()) == b.n and bool(b.mask[b.offsets[1:] - 1].all())

    def sequences_so_far(self) -> int:
        return self.sequences

    def fixed_set(self, which: str, n: int, *, fixed: Optional[PackedBatch] = None) -> SequenceSet:
        """The trial's stopping ("stop") or test ("test") set of n sequences, drawn once per trial
        (rules on the same set, e.g. ST1 and ST2, share it)."""
        key = (which, int(n), None if fixed is None else id(fixed))
        if key not in self._sets:
            seed = self.seeds[2] if which == "stop" else self.seeds[3]
            self._sets[key] = (SequenceSet(self.task, seed, n, fixed=fixed), fixed)
        return self._sets[key][0]

    def end_errors(self, which: str, n: int) -> Optional[SetEndErrors]:
        """The shared lazy end-of-sequence errors of ``fixed_set(which, n)``, or None when the set
        is too large to keep in memory."""
        key = (which, int(n))
        if key not in self._errors:
            whole = self.fixed_set(which, n).whole()
            self._errors[key] = None if whole is None else SetEndErrors(whole, self.threads)
        return self._errors[key]

    def reber_sets(self) -> Any:
        """Exp. 1's training and test strings of this trial's data set."""
        if self._reber is None:
            from .reber import reber_sets

            o = self.exp.options
            self._reber = reber_sets(self.data_seed, train_size=o["train_size"], test_size=self.exp.test_size,
                                     distinct=o["distinct"], targets=o["targets"], dtype=self.dtype)
        return self._reber


class _Curve:
    """Mean loss per sequence over intervals of `every` sequences, at most MAX_CURVE_POINTS samples."""

    def __init__(self, every: int) -> None:
        self.every = max(1, int(every))
        self.points: List[List[float]] = []
        self.loss = 0.0
        self.n = 0

    def add(self, sequences_before: int, losses: np.ndarray) -> None:
        i = 0
        while i < len(losses):
            k = min(self.every - self.n, len(losses) - i)
            self.loss += float(losses[i:i + k].sum())
            self.n += k
            i += k
            if self.n >= self.every:
                self.flush(sequences_before + i)

    def flush(self, sequences: int) -> None:
        if self.n:
            self.points.append([int(sequences), self.loss / self.n])
            self.loss, self.n = 0.0, 0
            if len(self.points) > MAX_CURVE_POINTS:
                self.points = self.points[1::2]
                self.every *= 2


class _Exemplars:
    """The training stream: fixed-size blocks of sequences, handed out in chunks of any size."""

    def __init__(self, task: Any, rng: np.random.Generator, training_set: Optional[PackedBatch]) -> None:
        self.task, self.rng, self.training_set = task, rng, training_set
        if training_set is None:
            mean_len = getattr(task, "mean_length", None) or task.min_length
            row_bytes = (task.n_in + 2 * task.n_out) * np.dtype(task.dtype).itemsize
            self.block = int(max(1, min(BLOCK, BLOCK_BYTES // max(1, mean_len * row_bytes))))
        else:
            self.block = INDEX_BLOCK
        self.current: Optional[PackedBatch] = None
        self.cursor = 0

    def take(self, k: int) -> PackedBatch:
        """The next min(k, what is left of the current block) sequences."""
        if self.current is None or self.cursor >= self.current.n:
            if self.training_set is None:
                self.current = self.task.sample_batch(self.rng, self.block)
            else:  # uniformly with replacement from the training set
                index = self.rng.integers(0, self.training_set.n, size=self.block)
                self.current = take_sequences(self.training_set, index)
            self.cursor = 0
        stop = min(self.current.n, self.cursor + k)
        out = slice_sequences(self.current, self.cursor, stop)
        self.cursor = stop
        return out

    def give_back(self, k: int) -> None:
        """The last k sequences taken were not used: hand them out again next."""
        self.cursor -= k


def _train(model: Any, exp: Any, batch: PackedBatch, last_error: bool) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Train a packed chunk in order; per-sequence loss and (if asked) last-step error."""
    if exp.options.get("gradient", "truncated") == "full":  # Exp. 1 reading: exact gradient, per string
        loss = np.array([model.train_sequence(x, t, m, lr=exp.lr, update="sequence", mode="full")
                         for x, t, m in batch.sequences()])
        return loss, None
    return model.train_batch(batch.x, batch.target, batch.mask, batch.offsets, lr=exp.lr, update=exp.update,
                             last_error=last_error)


def _train_judged_before(model: Any, exp: Any, batch: PackedBatch) -> Tuple[np.ndarray, np.ndarray]:
    """Train sequence by sequence, judging each on every step with a target with the weights it met."""
    loss = np.empty(batch.n)
    error = np.empty(batch.n)
    for i, (x, t, m) in enumerate(batch.sequences()):
        y = model.forward(x)
        error[i] = float(np.max(np.abs(y[m] - t[m]))) if m.any() else 0.0
        loss[i] = model.train_sequence(x, t, m, lr=exp.lr, update=exp.update)
    return loss, error


def _sequential_phase(exp: Any, ctx: TrialContext, stream: _Exemplars, curve: _Curve) -> Tuple[Any, int, int, Dict]:
    """Exp. 2a/2b: train the input->output connections alone until the error stops decreasing, then
    add the memory cell and its input gate (fresh random weights). Returns (model, sequences,
    steps, details)."""
    o = exp.options
    window, patience, tol = int(o["plateau_window"]), int(o["plateau_patience"]), float(o["plateau_tolerance"])
    inert = exp.net.build_inert(seed=ctx.init_seed, dtype=ctx.dtype)
    limit = max(1, int(exp.max_sequences) // 2)
    sequences = steps = 0
    best, stale = math.inf, 0
    acc, n = 0.0, 0
    while sequences < limit:
        chunk = stream.take(min(window - n, limit - sequences))
        loss, _ = _train(inert, exp, chunk, False)
        curve.add(sequences, loss)
        sequences += chunk.n
        steps += int(chunk.offsets[-1])
        acc += float(loss.sum())
        n += chunk.n
        if n == window:
            mean = acc / n
            acc, n = 0.0, 0
            if mean < best * (1 - tol):
                best, stale = mean, 0
            else:
                stale += 1
                if stale >= patience:
                    break
    model = exp.net.add_cell(inert, seed=_int_seed(ctx.seeds[4]), dtype=ctx.dtype,
                             zero_outputs=o.get("added_cell_output_weights", "random") == "zero")
    return model, sequences, steps, dict(cell_added_at=sequences, plateau_loss=best)


def run_trial_body(exp: Any, trial: int, seed: int, dtype: Any, threads: int = 1,
                   progress: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
    """One trial of a resolved experiment: success, sequences, milestones, tests, steps, curve,
    n_weights, details (see :func:`lstmcore.experiments.runner.run_trial`)."""
    seeds = trial_seeds(seed, trial)
    o = exp.options
    data_seed = o.get("data_seed")
    init_seed = o.get("init_seed")
    if "train_size" in o:  # Exp. 1: the paper's grid of 3 data sets x 10 initialisations
        data_seed = 1000 * seed + trial // 10 if data_seed is None else int(data_seed)
        init_seed = 1000 * seed + trial % 10 if init_seed is None else int(init_seed)
        order_seed = np.random.SeedSequence(entropy=init_seed, spawn_key=(1997, 1))
    else:
        data_seed = -1
        init_seed = _int_seed(seeds[0]) if init_seed is None else int(init_seed)
        order_seed = seeds[1]
    task = exp.make_task(dtype)
    ctx = TrialContext(exp, task, dtype, threads, seeds, data_seed, init_seed)
    rules = list(exp.milestones)
    training_set = rules[-1].training_set(ctx)
    stream = _Exemplars(task, np.random.default_rng(order_seed), training_set)
    budget = int(exp.max_sequences)
    t0 = time.perf_counter()
    stream_rule = rules[0].judged_on == "stream"
    curve = _Curve(exp.check_every if not stream_rule else max(1, min(1000, budget // 100)))
    details: Dict[str, Any] = {}
    if "train_size" in o:
        details.update(data_seed=data_seed, init_seed=init_seed)

    sequences = steps = 0
    if exp.construction == "sequential":
        model, sequences, steps, info = _sequential_phase(exp, ctx, stream, curve)
        details.update(info)
    else:
        model = exp.net.build(seed=init_seed, dtype=dtype)
    ctx.sequences = sequences

    monitors = [r.monitor(ctx) for r in rules]
    pending = list(range(len(rules)))
    reached: Dict[str, Optional[int]] = {r.name: None for r in rules}
    tests: Dict[str, Dict[str, Any]] = {}
    test_set = ctx.fixed_set("test", exp.test_size) if exp.test_size and training_set is None else None
    checks = 0
    if isinstance(rules[0], StreamABS):
        details["success_check"] = "stream"

    def reach(i: int) -> None:
        reached[rules[i].name] = sequences
        if rules[i].test and test_set is not None:
            tests[rules[i].name] = measure_set(model, test_set, exp.test_beta, threads=threads)

    def check_pending() -> None:
        while pending and monitors[pending[0]].check(model):
            reach(pending.pop(0))

    if not stream_rule and budget == sequences:
        checks += 1
        check_pending()
    while pending and sequences < budget:
        if stream_rule:
            chunk = stream.take(budget - sequences)
            mon: StreamMonitor = monitors[pending[0]]
            before = model.get_weights()
            if mon.judge == "before_pass":
                loss, error = _train_judged_before(model, exp, chunk)
            else:
                loss, last_error = _train(model, exp, chunk, True)
                # (no per-sequence error without the batched core, e.g. the exact-gradient reading: from the loss)
                error = last_error if last_error is not None else np.sqrt(2.0 * loss)
            hit = mon.first_satisfied(loss, error)
            used = chunk.n if hit is None else hit + 1
            if used < chunk.n:
                # the milestone holds after sequence `hit`: the weights of that moment, by training
                # the chunk again up to it from the chunk's start (the same numbers)
                model.set_weights(before)
                part = slice_sequences(chunk, 0, used)
                if mon.judge == "before_pass":
                    _train_judged_before(model, exp, part)
                else:
                    _train(model, exp, part, True)
                stream.give_back(chunk.n - used)
                chunk = part
            loss, error = loss[:used], error[:used]
            for i in pending:
                monitors[i].commit(loss, error)
            curve.add(sequences, loss)
            sequences += used
            steps += int(chunk.offsets[-1])
            ctx.sequences = sequences
            while pending and monitors[pending[0]].satisfied():
                reach(pending.pop(0))
        else:
            to_check = exp.check_every - sequences % exp.check_every
            chunk = stream.take(min(to_check, budget - sequences))
            loss, _ = _train(model, exp, chunk, False)
            curve.add(sequences, loss)
            sequences += chunk.n
            steps += int(chunk.offsets[-1])
            ctx.sequences = sequences
            if sequences % exp.check_every == 0 or sequences >= budget:
                checks += 1  # every check_every sequences, and a last one at the end of the budget
                check_pending()
        if progress is not None and curve.points:
            progress(dict(sequences=sequences, mean_loss=curve.points[-1][1], seconds=time.perf_counter() - t0))
    curve.flush(sequences)
    if checks:
        details["checks"] = checks
    final_details = getattr(monitors[-1], "final_details", None)
    if final_details is not None:  # e.g. Exp. 1: how close the final network came
        details.update(final_details(model))
    final = rules[-1].name
    at_final = reached[final]
    return dict(success=at_final is not None, sequences=sequences if at_final is None else int(at_final),
                milestones=reached,
                tests=tests, steps=int(steps), curve=curve.points, n_weights=int(model.n_weights), details=details)
