"""One generic trial and one generic runner for every experiment of :mod:`lstmcore.experiments.paper`.

- :func:`run_trial` (experiment, trial index, seed, quick, overrides) -> result dict: success,
  sequences to success, the sequences at every milestone, test errors, learning-curve samples,
  training steps, wall time.
- :func:`run_experiment` runs trials in parallel (a process pool by default; any
  ``concurrent.futures.Executor``, e.g. a Dask ``Client.get_executor()``), appends every finished
  trial to a JSONL results file at once (fsync) and, run again, resumes without redoing finished
  trials.
- :func:`summarize` turns result dicts into one row per milestone with published numbers, beside
  the paper's.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import math
import os
import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .._validation import check_int
from .paper import Experiment, Milestone, apply_overrides, get_experiment
from .results import append_record, load_records

__all__ = ["run_trial", "run_experiment", "resolve", "summarize", "trial_key", "fingerprint", "completed_trials",
           "estimate_cost", "MAX_CURVE_POINTS"]

#: Learning curves are thinned (every other point dropped, stride doubled) beyond this many samples.
MAX_CURVE_POINTS = 256
_SCHEMA = 1


def resolve(experiment: Union[str, Experiment], *, quick: bool = False,
            overrides: Optional[Mapping[str, Any]] = None) -> Experiment:
    """The experiment as a trial runs it: its --quick form if asked, then the overrides."""
    exp = get_experiment(experiment)
    if quick:
        exp = apply_overrides(exp, exp.quick)
    return apply_overrides(exp, overrides)


def _canonical(overrides: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    if not overrides:
        return {}
    return json.loads(json.dumps(dict(sorted(overrides.items())), default=list))


def fingerprint(exp: Experiment) -> str:
    """Short hash of everything that decides a trial's numbers (net, task, learning rate, schedule,
    milestones, budget, checks, test set, options); the paper's numbers, notes and titles are left
    out. It changes when the registry's definition of an experiment changes."""
    import hashlib

    fields = {k: v for k, v in dataclasses.asdict(exp).items()
              if k not in ("name", "table", "group", "title", "paper", "notes", "quick", "stopping", "trials", "weights")}
    if not fields["net"].get("input_gate_input_offset"):
        del fields["net"]["input_gate_input_offset"]  # a later field: definitions without it keep their hash
    text = json.dumps(fields, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def trial_key(name: str, seed: int, quick: bool, overrides: Optional[Mapping[str, Any]]) -> str:
    """The resume key of a run: trials of one key are interchangeable with a rerun of it. It holds
    the :func:`fingerprint` of the resolved experiment, so trials run under an older definition
    (e.g. another budget) are never mixed with new ones."""
    exp = resolve(name, quick=quick, overrides=overrides)
    return json.dumps([name, int(seed), bool(quick), _canonical(overrides), fingerprint(exp)], sort_keys=True)


# ----------------------------------------------------------------------------------------- pieces
class _Curve:
    """Mean loss per sequence over intervals of `every` sequences, at most MAX_CURVE_POINTS samples."""

    def __init__(self, every: int) -> None:
        self.every = max(1, int(every))
        self.points: List[List[float]] = []
        self.loss = 0.0
        self.n = 0

    def add(self, sequences: int, loss: float) -> None:
        self.loss += loss
        self.n += 1
        if self.n >= self.every:
            self.flush(sequences)

    def flush(self, sequences: int) -> None:
        if self.n:
            self.points.append([int(sequences), self.loss / self.n])
            self.loss, self.n = 0.0, 0
            if len(self.points) > MAX_CURVE_POINTS:
                self.points = self.points[1::2]
                self.every *= 2


def _draw(task: Any, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, training target, mask, noise-free target): they differ only for Exp. 3c."""
    if hasattr(task, "sample_full") and type(task).__name__ == "TwoSequence":
        s = task.sample_full(rng)
        return s.x, s.target, s.mask, s.clean_target
    x, target, mask = task.sample(rng)
    return x, target, mask, target


class _SequenceSet:
    """A fixed set of `n` sequences drawn from `seed`, cached up to a memory cap and redrawn from
    the same seed beyond it (so every pass sees the same sequences)."""

    _CACHE_BYTES = 64 << 20

    def __init__(self, task: Any, seed: np.random.SeedSequence, n: int) -> None:
        self.task, self.seed, self.n = task, seed, int(n)
        self.cache: List[Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.bytes = 0
        self.cache_full = False
        if type(task).__name__ == "NoiseFreeLongLag":
            # Only two distinct sequences exist (x... and y...): n successive random ones pass iff both pass.
            for c in (task.x_index, task.y_index):
                x, t, m = task.encode(np.r_[c, np.arange(task.p - 1), c])
                self.cache.append((x, t, m, t))
            self.n = 2
            self.cache_full = True

    def __iter__(self) -> Iterator[Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        yield from self.cache
        if len(self.cache) >= self.n:
            return
        rng = np.random.default_rng(self.seed)
        for i in range(self.n):
            s = _draw(self.task, rng)
            if i < len(self.cache):
                continue
            if not self.cache_full:
                size = s[0].nbytes + s[1].nbytes
                if self.bytes + size <= self._CACHE_BYTES:
                    self.cache.append(s)
                    self.bytes += size
                else:
                    self.cache_full = True
            yield s


def _final_errors(forward: Callable[[np.ndarray], np.ndarray], seqs, beta: float, *, final_only: bool = True,
                  stop_after_wrong: Optional[int] = None) -> Dict[str, Any]:
    """Count wrong sequences (max |y - noise-free target| >= beta at the judged steps) and the mean
    squared / absolute error at the sequence end. Stops early once more than `stop_after_wrong`
    sequences are wrong (the figures are then partial: ``complete`` False)."""
    n = wrong = 0
    se = ae = 0.0
    for x, _, mask, clean in seqs:
        y = forward(x)
        if final_only:
            err = np.abs(y[-1] - clean[-1])
            se += float(np.mean(err ** 2))
            ae += float(np.mean(err))
            bad = not bool(np.max(err) < beta)
        else:
            err = np.abs(y[mask] - clean[mask])
            bad = not bool(np.max(err) < beta)
            se += float(np.mean(err[-1] ** 2))
            ae += float(np.mean(err[-1]))
        n += 1
        wrong += bad
        if stop_after_wrong is not None and wrong > stop_after_wrong:
            return dict(n=n, wrong=wrong, complete=False)
    return dict(n=n, wrong=wrong, fraction_wrong=wrong / n if n else float("nan"),
                mse=se / n if n else float("nan"), mean_abs_error=ae / n if n else float("nan"), complete=True)


class _Recent:
    """The `window` most recent training sequences: failures of ABS(beta) and mean squared errors."""

    def __init__(self, window: int) -> None:
        self.window = int(window)
        self.failed = np.zeros(self.window, dtype=bool)
        self.mse = np.zeros(self.window)
        self.i = 0
        self.count = 0
        self.n_failed = 0
        self.sum_mse = 0.0

    def add(self, failed: bool, mse: float) -> None:
        j = self.i
        if self.count >= self.window:
            self.n_failed -= int(self.failed[j])
            self.sum_mse -= self.mse[j]
        else:
            self.count += 1
        self.failed[j] = failed
        self.mse[j] = mse
        self.n_failed += int(failed)
        self.sum_mse += mse
        self.i = (j + 1) % self.window
        if self.i == 0:  # re-sum once per window against rounding drift
            self.sum_mse = float(self.mse.sum())

    def satisfied(self, params: Mapping[str, Any]) -> bool:
        if self.count < self.window:
            return False
        if self.n_failed >= params["fail_below"]:
            return False
        limit = params.get("max_mean_error")
        return limit is None or self.sum_mse / self.window < limit


# ----------------------------------------------------------------------------------------- trials
def _engine(net: Any, lr: float, update: str) -> Tuple[Callable[..., float], Callable[[np.ndarray], np.ndarray]]:
    """(train(x, target, mask) -> loss, forward(x) -> y) of a network, calling the compiled core
    directly: the task generators already give C-contiguous arrays of the net's dtype and shapes,
    so the per-call checks of the public methods (tens of microseconds, more than the training
    itself for the paper's small nets) are skipped. Same numbers as net.train_sequence/forward."""
    core = getattr(net, "_net", None)
    if core is None or not hasattr(core, "train_sequence"):
        return (lambda x, t, m: net.train_sequence(x, t, m, lr=lr, update=update)), net.forward
    from .. import _core

    schedule = {"step": _core.UpdateSchedule.step, "sequence": _core.UpdateSchedule.sequence}[update]
    dtype = net.dtype
    core_train, core_forward = core.train_sequence, core.forward

    def train(x: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
        if x.dtype != dtype or target.dtype != dtype or mask.dtype != np.bool_:
            return float(net.train_sequence(x, target, mask, lr=lr, update=update))
        return float(core_train(x, target, mask.view(np.uint8), lr, schedule))

    def forward(x: np.ndarray) -> np.ndarray:
        return core_forward(x) if x.dtype == dtype else net.forward(x)

    return train, forward


def _seeds(seed: int, trial: int) -> List[np.random.SeedSequence]:
    """Independent streams of one trial: initial weights, training exemplars, stopping set, test set,
    and the weights of a cell added later (sequential construction)."""
    return np.random.SeedSequence(entropy=int(seed), spawn_key=(int(trial),)).spawn(5)


def _int_seed(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def run_trial(experiment: Union[str, Experiment], trial: int = 0, *, seed: int = 0, quick: bool = False,
              overrides: Optional[Mapping[str, Any]] = None, dtype: Any = np.float64,
              progress: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
    """Run one trial of a paper experiment.

    Parameters
    ----------
    experiment : str or Experiment
        A name of :data:`~lstmcore.experiments.paper.EXPERIMENTS` or an Experiment.
    trial : int >= 0
        Trial index; with ``seed`` it fixes every random number of the trial (initial weights,
        training exemplars, stopping and test sets).
    seed : int >= 0
        Seed of the run.
    quick : bool
        Use the experiment's --quick form (tiny budgets, small test sets).
    overrides : mapping, optional
        Field changes, see :func:`~lstmcore.experiments.paper.apply_overrides` (e.g.
        ``{"max_sequences": 10_000}`` or ``{"out_activation": "linear"}``).
    dtype : numpy.float64 or numpy.float32
    progress : callable, optional
        Called with ``{"sequences", "mean_loss", "seconds"}`` at every learning-curve sample.

    Returns
    -------
    dict
        ``experiment``, ``trial``, ``seed``, ``quick``, ``overrides``, ``key`` (resume key);
        ``success`` (the last milestone reached within the budget); ``sequences`` (training
        sequences at success, else at the end of the budget); ``milestones`` {name: sequences or
        None}; ``tests`` {milestone: {n, wrong, fraction_wrong, mse, mean_abs_error}};
        ``steps`` (training steps); ``curve`` [[sequences, mean loss per sequence], ...];
        ``seconds``; ``n_weights``; ``max_sequences``; ``details`` (experiment-specific).
    """
    trial = check_int("trial", trial, minimum=0)
    seed = check_int("seed", seed, minimum=0)
    name = get_experiment(experiment).name
    exp = resolve(experiment, quick=quick, overrides=overrides)
    t0 = time.perf_counter()
    if exp.final_milestone.rule == "reber":
        body = _reber_trial(exp, trial, seed, dtype)
    else:
        body = _generic_trial(exp, trial, seed, dtype, progress)
    from .. import __version__

    out = dict(schema=_SCHEMA, experiment=name, trial=trial, seed=seed, quick=bool(quick),
               overrides=_canonical(overrides), key=trial_key(name, seed, quick, overrides),
               fingerprint=fingerprint(exp), version=__version__, max_sequences=int(exp.max_sequences))
    out.update(body)
    out["seconds"] = time.perf_counter() - t0
    return out


def _reber_trial(exp: Experiment, trial: int, seed: int, dtype: Any) -> Dict[str, Any]:
    from .reber import run_reber_trial

    net = exp.net
    squash = {("g2", "h1"): "text", ("h1", "g2"): "legend"}.get((net.g, net.h))
    if squash is None or net.out_activation != "logistic" or net.bias != "gates" or net.recurrent != "cells+gates":
        raise ValueError(f"{exp.name}: the Exp. 1 protocol supports the squash pairs (g2, h1) and (h1, g2) with a "
                         f"logistic output, gate biases and cells+gates recurrence, got {net.describe()}")
    o = exp.options
    r = run_reber_trial(
        blocks=net.blocks, cells_per_block=net.cells_per_block, lr=exp.lr,
        data_seed=1000 * seed + trial // 10, init_seed=1000 * seed + trial % 10,
        max_sequences=exp.max_sequences, check_every=exp.check_every, train_size=o["train_size"],
        test_size=exp.test_size, distinct=o["distinct"], targets=o["targets"], update=exp.update, test=o["test"],
        squash=squash, gradient=o["gradient"],
        input_gate_bias=list(net.input_gate_bias) if net.input_gate_bias is not None else None, dtype=dtype,
    ).to_dict()
    name = exp.final_milestone.name
    return dict(
        success=r["success"], sequences=r["sequences"], milestones={name: r["sequences"] if r["success"] else None},
        tests={},
        steps=r["steps"], curve=_thin([list(p) for p in r["loss_history"]]),
        n_weights=r["n_weights"],
        details=dict(data_seed=r["config"]["data_seed"], init_seed=r["config"]["init_seed"],
                     long_lag_correct=r["long_lag_correct"], mean_train_len=r["mean_train_len"],
                     final=dict(step_accuracy=r["step_accuracy"], string_accuracy=r["string_accuracy"],
                                test_step_accuracy=r["test_step_accuracy"])),
    )


def _thin(points: List[List[float]]) -> List[List[float]]:
    """Every k-th point (the last one kept) so that at most MAX_CURVE_POINTS remain."""
    if len(points) <= MAX_CURVE_POINTS:
        return points
    k = math.ceil(len(points) / MAX_CURVE_POINTS)
    return [points[i] for i in range(len(points) - 1, -1, -k)][:MAX_CURVE_POINTS][::-1]


def _sequential_phase(exp: Experiment, task: Any, train_rng: np.random.Generator, init_seed: int, cell_seed: int,
                      dtype: Any, curve: _Curve, budget: int) -> Tuple[Any, int, int, Dict[str, Any]]:
    """Exp. 2a/2b: train the input->output connections alone until the error stops decreasing, then
    add the memory cell and its input gate (fresh random weights). Returns (net, sequences, steps, info)."""
    o = exp.options
    window, patience, tol = int(o["plateau_window"]), int(o["plateau_patience"]), float(o["plateau_tolerance"])
    # The cell and gate exist but are inert: y_in = logistic(-1e4) = 0, so the cell outputs 0 and no
    # gradient reaches its weights; the output units see exactly the input->output net.
    inert = exp.net.build(seed=init_seed, dtype=dtype, bias="gates", input_gate_bias=[-1e4] * exp.net.blocks)
    limit = max(1, budget // 2)
    sequences = steps = 0
    best = math.inf
    stale = 0
    acc, n = 0.0, 0
    train, _ = _engine(inert, exp.lr, exp.update)
    while sequences < limit:
        x, target, mask = task.sample(train_rng)
        loss = train(x, target, mask)
        sequences += 1
        steps += len(x)
        curve.add(sequences, loss)
        acc += loss
        n += 1
        if n == window:
            mean = acc / n
            acc, n = 0.0, 0
            if mean < best * (1 - tol):
                best, stale = mean, 0
            else:
                stale += 1
                if stale >= patience:
                    break
    w_inert = inert.get_weights()
    net = exp.net.build(seed=cell_seed, dtype=dtype)
    w = net.get_weights()
    n_cells = exp.net.blocks * exp.net.cells_per_block
    w["W_y"][:, n_cells:] = w_inert["W_y"][:, n_cells:]      # keep the trained input->output weights
    if o.get("added_cell_output_weights", "random") == "zero":
        w["W_y"][:, :n_cells] = 0.0
    if "b_y" in w and "b_y" in w_inert:
        w["b_y"] = w_inert["b_y"]
    net.set_weights(w)
    return net, sequences, steps, dict(cell_added_at=sequences, plateau_loss=best)


def _generic_trial(exp: Experiment, trial: int, seed: int, dtype: Any,
                   progress: Optional[Callable[[Dict[str, Any]], None]]) -> Dict[str, Any]:
    init_ss, train_ss, stop_ss, test_ss, cell_ss = _seeds(seed, trial)
    init_seed = _int_seed(init_ss)
    task = exp.make_task(dtype)
    train_rng = np.random.default_rng(train_ss)
    rule = exp.final_milestone.rule
    if any(m.rule != rule for m in exp.milestones):
        raise ValueError(f"{exp.name}: all milestones of an experiment must share one rule")
    if rule not in ("abs_stream", "stop_set", "recent"):
        raise ValueError(f"{exp.name}: unknown milestone rule {rule!r}")
    budget = int(exp.max_sequences)
    t0 = time.perf_counter()
    online = rule == "recent" or (rule == "abs_stream" and exp.options.get("success_check", "test_set") == "stream")
    curve_every = exp.check_every if not online else max(1, min(1000, budget // 100))
    curve = _Curve(curve_every)
    details: Dict[str, Any] = {}

    sequences = steps = 0
    if exp.construction == "sequential":
        net, sequences, steps, info = _sequential_phase(exp, task, train_rng, init_seed, _int_seed(cell_ss), dtype,
                                                        curve, budget)
        details.update(info)
    else:
        net = exp.net.build(seed=init_seed, dtype=dtype)

    pending: List[Milestone] = list(exp.milestones)
    reached: Dict[str, Optional[int]] = {m.name: None for m in exp.milestones}
    tests: Dict[str, Dict[str, Any]] = {}
    test_set = _SequenceSet(task, test_ss, exp.test_size) if exp.test_size else None
    stop_set = None
    p0 = pending[0].params
    # Exp. 2 "stream" reading: the successive sequences of the success criterion are the training
    # sequences themselves (each judged before its weight update), not a separate test set.
    stream = rule == "abs_stream" and exp.options.get("success_check", "test_set") == "stream"
    if rule == "stop_set" or (rule == "abs_stream" and not stream):
        stop_set = _SequenceSet(task, stop_ss, p0["sequences"] if rule == "abs_stream" else p0["size"])
    recent = None
    if rule == "recent":
        recent = _Recent(p0["window"])
    elif stream:
        recent = _Recent(p0["sequences"])
        details["success_check"] = "stream"
    final_only = p0.get("final_only", True)
    n_out = exp.net.n_out
    train, forward = _engine(net, exp.lr, exp.update)
    flat_get = getattr(getattr(net, "_net", None), "get_flat", None)
    flat_set = getattr(getattr(net, "_net", None), "set_flat", None)
    checks = 0

    hard: List[Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # sequences that failed a check

    def check(m: Milestone) -> bool:
        p = m.params
        if stream:
            return recent.satisfied(dict(fail_below=1))
        if m.rule == "abs_stream":
            # All must pass, so the order only changes the cost: sequences that failed before go first
            # (near convergence a failing check then costs one or two sequences, not thousands).
            for i, s in enumerate(hard):
                if not _final_errors(forward, [s], p["beta"], final_only=p["final_only"])["wrong"] == 0:
                    hard.insert(0, hard.pop(i))
                    return False
            failed: List[Any] = []

            def watch(seqs):
                for s in seqs:
                    failed[:] = [s]
                    yield s

            r = _final_errors(forward, watch(stop_set), p["beta"], final_only=p["final_only"], stop_after_wrong=0)
            if r["complete"] and r["wrong"] == 0:
                return True
            if failed and not any(failed[0] is h for h in hard):
                hard.insert(0, failed[0])
                del hard[32:]
            return False
        if m.rule == "stop_set":
            need_mean = p.get("max_mean_abs") is not None
            r = _final_errors(forward, stop_set, p["beta"], stop_after_wrong=p["max_wrong"])
            if not r["complete"] or r["wrong"] > p["max_wrong"]:
                return False
            return not need_mean or r["mean_abs_error"] < p["max_mean_abs"]
        return recent.satisfied(p)

    def reach_pending() -> None:
        while pending and check(pending[0]):
            m = pending.pop(0)
            reached[m.name] = sequences
            if m.test and test_set is not None:
                tests[m.name] = _final_errors(forward, test_set, exp.test_beta)
                tests[m.name].pop("complete", None)

    beta = p0.get("beta", 0.0)
    while pending and sequences < budget:
        x, target, mask = task.sample(train_rng)
        y_before = before = None
        if recent is not None and (n_out > 1 or not final_only):
            before = flat_get() if flat_get is not None else None
            if before is None:
                y_before = forward(x)
        loss = train(x, target, mask)
        sequences += 1
        steps += len(x)
        curve.add(sequences, loss)
        if progress is not None and curve.n == 0:
            progress(dict(sequences=sequences, mean_loss=curve.points[-1][1], seconds=time.perf_counter() - t0))
        if recent is not None:
            if final_only and (n_out == 1 or 2.0 * loss < beta * beta):
                # a target at the end only, so the pass's loss is that of the weights before the update:
                # one output: |e| = sqrt(2 loss) exactly; several: every |e_k| <= sqrt(2 loss) < beta
                failed = not (math.sqrt(2.0 * loss) < beta)
            else:
                if y_before is None:  # judge the outputs of the weights before this sequence's updates
                    after = flat_get()
                    flat_set(before)
                    y_before = forward(x)
                    flat_set(after)
                if final_only:
                    failed = not bool(np.max(np.abs(y_before[-1] - target[-1])) < beta)
                else:
                    failed = not bool(np.max(np.abs(y_before[mask] - target[mask])) < beta)
            recent.add(failed, 2.0 * loss / n_out)
            if recent.satisfied(dict(fail_below=1) if stream else pending[0].params):
                reach_pending()
        elif sequences % exp.check_every == 0:
            checks += 1
            reach_pending()
    if pending and recent is None and sequences % exp.check_every != 0:
        checks += 1
        reach_pending()  # a last check at the end of the budget
    curve.flush(sequences)
    if checks:
        details["checks"] = checks
    success = not pending
    return dict(success=success, sequences=int(reached[exp.final_milestone.name] or sequences) if success else sequences,
                milestones=reached, tests=tests, steps=int(steps), curve=curve.points,
                n_weights=int(net.n_weights), details=details)


# ----------------------------------------------------------------------------------------- runner
def _trial_task(experiment: Experiment, name: str, trial: int, seed: int, quick: bool,
                overrides: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    r = run_trial(experiment, trial, seed=seed, quick=quick, overrides=overrides)
    r["experiment"] = name
    return r


def completed_trials(records: Sequence[Dict[str, Any]], key: str) -> Dict[int, Dict[str, Any]]:
    """trial index -> the first record of that run key (later duplicates are ignored)."""
    done: Dict[int, Dict[str, Any]] = {}
    for r in records:
        if r.get("key") == key and isinstance(r.get("trial"), int) and r["trial"] not in done:
            done[r["trial"]] = r
    return done


def run_experiment(name_or_exp: Union[str, Experiment], trials: Optional[int] = None, results: Any = None, *,
                   executor: Optional[cf.Executor] = None, jobs: Optional[int] = None, seed: int = 0,
                   quick: bool = False, on_result: Optional[Callable[[Dict[str, Any]], None]] = None,
                   overrides: Optional[Mapping[str, Any]] = None) -> List[Dict[str, Any]]:
    """Run (or resume) trials 0..trials-1 of one experiment.

    Parameters
    ----------
    name_or_exp : str or Experiment
    trials : int, optional
        Number of trials (default: the paper's count).
    results : path, optional
        JSONL file: every finished trial is appended (and fsynced) as it finishes; trials of the
        same (experiment, seed, quick, overrides) already in it are not run again. A torn last
        line (a killed run) is ignored with a :class:`~lstmcore.experiments.results.ResultsFileWarning`.
    executor : concurrent.futures.Executor, optional
        Runs the trials, e.g. ``dask.distributed.Client(...).get_executor()``; it is not shut
        down. Default: a process pool of ``jobs`` workers.
    jobs : int, optional
        Worker processes of the default pool (default: the number of cores).
    seed : int
        Seed of the run; trial i is seeded by (seed, i) alone, so results do not depend on the
        executor, the number of workers or the order in which trials finish.
    quick : bool
        The --quick form of the experiment.
    on_result : callable, optional
        Called with each result dict as it is available (finished trials from the file first).
    overrides : mapping, optional
        See :func:`run_trial`.

    Returns
    -------
    list of dict
        The result dicts of trials 0..trials-1, in trial order.
    """
    exp = get_experiment(name_or_exp)
    name = exp.name
    trials = check_int("trials", exp.trials if trials is None else trials, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    resolve(exp, quick=quick, overrides=overrides)  # bad overrides fail here, not in a worker
    key = trial_key(name, seed, quick, overrides)
    done = completed_trials(load_records(results), key) if results is not None else {}
    out: Dict[int, Dict[str, Any]] = {i: done[i] for i in range(trials) if i in done}
    if on_result is not None:
        for i in sorted(out):
            on_result(out[i])
    todo = [i for i in range(trials) if i not in out]
    if todo:
        own = executor is None
        if own:
            jobs = check_int("jobs", jobs if jobs is not None else (os.cpu_count() or 1), minimum=1)
            executor = cf.ProcessPoolExecutor(max_workers=min(jobs, len(todo)))
        over = _canonical(overrides) or None
        futures = []
        try:
            futures = [executor.submit(_trial_task, exp, name, i, seed, bool(quick), over) for i in todo]
            for future in cf.as_completed(futures):
                r = future.result()
                if results is not None:
                    append_record(results, r)
                out[r["trial"]] = r
                if on_result is not None:
                    on_result(r)
        except BaseException:
            for f in futures:
                f.cancel()
            if own:
                _stop_pool(executor)
            raise
        if own:
            executor.shutdown(wait=True)
    return [out[i] for i in range(trials)]


def _stop_pool(pool: cf.Executor) -> None:
    """Interrupted: drop queued trials and end the pool's own worker processes (running trials are
    lost; finished ones are already in the results file)."""
    procs = list(getattr(pool, "_processes", {}).values()) if isinstance(pool, cf.ProcessPoolExecutor) else []
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)


# ----------------------------------------------------------------------------------------- summary
def _mean(xs: Sequence[float]) -> Optional[float]:
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return float(np.mean(xs)) if xs else None


def summarize(experiment: Union[str, Experiment], records: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per milestone of the experiment that the paper reports, ours beside the paper's.

    Each row: ``experiment``, ``milestone``, ``label``, ``trials``, ``reached`` (trials that reached
    the milestone), ``success_percent``, ``mean_sequences``, ``min_sequences``, ``max_sequences``
    (over the trials that reached it), ``test`` (means of the test figures), ``seconds`` (summed
    trial wall time), ``budget`` and ``paper`` (the :class:`PaperRow` as a dict, or None).
    """
    exp = get_experiment(experiment)
    rows = []
    records = [r for r in records if r.get("experiment") == exp.name]
    papers = {p.milestone: p for p in exp.paper}
    for m in exp.milestones:
        if m.name not in papers:
            continue
        seqs = [r["milestones"].get(m.name) for r in records]
        hit = [s for s in seqs if s is not None]
        tests = [r["tests"][m.name] for r in records if m.name in r.get("tests", {})]
        test: Dict[str, Any] = {}
        for k in ("wrong", "fraction_wrong", "mse", "mean_abs_error"):
            v = _mean([t.get(k) for t in tests])
            if v is not None:
                test[k] = v
        if tests:
            test["n"] = tests[0].get("n")
        finals = [r.get("details", {}).get("final") for r in records]
        if m is exp.final_milestone and any(finals):
            # Exp. 1: how close the final networks came (fraction of steps passing the success test)
            test["step_accuracy"] = _mean([f.get("step_accuracy") for f in finals if f])
        p = papers[m.name]
        rows.append(dict(
            experiment=exp.name, table=exp.table, milestone=m.name, label=p.label, trials=len(records),
            reached=len(hit), success_percent=100.0 * len(hit) / len(records) if records else None,
            mean_sequences=_mean(hit), min_sequences=min(hit) if hit else None, max_sequences=max(hit) if hit else None,
            test=test, seconds=float(sum(r.get("seconds", 0.0) for r in records)),
            budget=sorted({r.get("max_sequences") for r in records if r.get("max_sequences") is not None}),
            paper=dict(trials=exp.trials, success_percent=p.success_percent, mean_sequences=p.mean_sequences,
                       range_sequences=p.range_sequences, test=dict(p.test), test_size=exp.test_size),
        ))
    return rows


# ----------------------------------------------------------------------------------------- cost
def estimate_cost(experiment: Union[str, Experiment], *, target_seconds: float = 0.5) -> Dict[str, Any]:
    """Measure the cost of one training step of an experiment on this machine and extrapolate a trial.

    Runs the experiment's --quick form with a growing budget until it takes ``target_seconds``;
    the microseconds per step include everything a trial does per sequence (exemplar generation,
    training, the milestone checks at the quick form's rate). Returns ``us_per_step``,
    ``steps_per_sequence``, ``expected_sequences`` (the paper's mean for the last milestone, or
    None), ``expected_seconds`` (one trial at the paper's pace) and ``budget_seconds`` (one trial
    that uses its whole budget).
    """
    exp = get_experiment(experiment)
    n = 20
    while True:
        r = run_trial(exp, 0, quick=True, overrides={"max_sequences": n})
        if r["seconds"] >= target_seconds or n >= 1_000_000 or r["sequences"] < n:
            break
        n = int(n * max(2.0, min(10.0, target_seconds / max(r["seconds"], 1e-3))))
    steps = max(1, r["steps"])
    us = 1e6 * r["seconds"] / steps
    per_seq = steps / max(1, r["sequences"])
    paper = {p.milestone: p for p in exp.paper}.get(exp.final_milestone.name)
    expected = paper.mean_sequences if paper is not None else None
    return dict(experiment=exp.name, us_per_step=us, steps_per_sequence=per_seq, expected_sequences=expected,
                expected_seconds=us * 1e-6 * per_seq * expected if expected else None,
                budget_seconds=us * 1e-6 * per_seq * exp.max_sequences, measured_sequences=r["sequences"])
