"""The runner: trials of registry experiments on any executor, with resume and one results writer.

- :func:`run_trial` (experiment, trial index, seed, quick, overrides) -> result record: the trial
  engine's outcome (:mod:`.engine`) with the run's identity (key, fingerprint, version).
- :func:`run_experiments` / :func:`run_experiment` run trials in parallel (a process pool by
  default; any ``concurrent.futures.Executor``, e.g. a Dask ``Client.get_executor()``), append
  every finished trial to a JSONL results file at once (fsync; the only writer of results files)
  and, run again, resume without redoing finished trials.
- :func:`summarize` turns records into one row per milestone with published numbers, beside the
  paper's; :func:`estimate_cost` measures a trial's cost per training step.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import itertools
import json
import math
import multiprocessing
import os
import sys
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .._cpus import available_cpus
from .._environment import environment
from .._validation import check_bool, check_int
from .checks import MAX_TRIALS, check_experiment, check_override_values, check_trials
from .engine import MAX_CURVE_POINTS, run_trial_body
from .registry import _MILESTONE_PARAM_KEYS, Experiment, apply_overrides, get_experiment
from .results import append_record, check_file_path, load_records, locked_results

__all__ = ["run_trial", "run_experiment", "run_experiments", "resolve", "summarize", "trial_key", "fingerprint",
           "completed_trials", "estimate_cost", "MAX_CURVE_POINTS", "MAX_TRIALS"]

_SCHEMA = 1
#: How exemplars are drawn and trials are run (engine.py). Part of every fingerprint: records
#: of trials drawn differently never mix with new ones.
_STREAMS = "packed-blocks-1"


def resolve(experiment: Union[str, Experiment], *, quick: bool = False,
            overrides: Optional[Mapping[str, Any]] = None) -> Experiment:
    """The experiment as a trial runs it: its --quick form if asked, then the overrides."""
    exp = get_experiment(experiment)
    if check_bool("quick", quick):
        exp = apply_overrides(exp, exp.quick)
    if not overrides:
        return exp
    if not isinstance(overrides, Mapping):
        raise TypeError(f"overrides: expected a mapping of setting -> value, got {type(overrides).__name__}")
    for key in overrides:
        if not isinstance(key, str):
            raise TypeError(f"overrides: expected setting names (str) as keys, got {type(key).__name__} {key!r}")
    check_override_values(overrides)
    for key in overrides:
        if key in _MILESTONE_PARAM_KEYS and key not in exp.options \
                and not any(key in m.params for m in exp.milestones):
            raise ValueError(f"overrides: {key!r} is a setting of stopping rules that experiment {exp.name!r} does "
                             f"not use (its milestones: {', '.join(type(m).__name__ for m in exp.milestones)})")
    return check_experiment(apply_overrides(exp, overrides))


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
    fields["net"] = dict(fields["net"], family=type(exp.net).__name__)
    fields["milestones"] = [dict(dataclasses.asdict(m), rule=type(m).__name__) for m in exp.milestones]
    fields["streams"] = _STREAMS
    text = json.dumps(fields, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def trial_key(experiment: Union[str, Experiment], seed: int, quick: bool,
              overrides: Optional[Mapping[str, Any]]) -> str:
    """The resume key of a run: trials of one key are interchangeable with a rerun of it. It holds
    the :func:`fingerprint` of the resolved experiment, so trials run under an older definition
    (e.g. another budget, or exemplars drawn another way) are never mixed with new ones."""
    exp = resolve(experiment, quick=quick, overrides=overrides)
    return json.dumps([exp.name, int(seed), bool(quick), _canonical(overrides), fingerprint(exp)], sort_keys=True)


def run_trial(experiment: Union[str, Experiment], trial: int = 0, *, seed: int = 0, quick: bool = False,
              overrides: Optional[Mapping[str, Any]] = None, dtype: Any = np.float64, num_threads: int = 1,
              progress: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
    """Run one trial of a paper experiment.

    Parameters
    ----------
    experiment : str or Experiment
        A name of :data:`~lstmcore.experiments.registry.EXPERIMENTS` or an Experiment.
    trial : int >= 0
        Trial index; with ``seed`` it fixes every random number of the trial (initial weights,
        training exemplars, stopping and test sets).
    seed : int >= 0
        Seed of the run.
    quick : bool
        Use the experiment's --quick form (tiny budgets, small test sets).
    overrides : mapping, optional
        Field changes, see :func:`~lstmcore.experiments.registry.apply_overrides` (e.g.
        ``{"max_sequences": 10_000}`` or ``{"out_activation": "linear"}``).
    dtype : numpy.float64 or numpy.float32
    num_threads : int >= 1
        Threads of the batched checks and tests (1 when trials run side by side; the numbers are
        the same for any count).
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
    _check_callable("progress", progress)
    name = get_experiment(experiment).name
    exp = resolve(experiment, quick=quick, overrides=overrides)
    t0 = time.perf_counter()
    num_threads = check_int("num_threads", num_threads, minimum=1, maximum=4096)
    body = run_trial_body(exp, trial, seed, dtype, num_threads, progress)
    from .. import __version__

    out = dict(schema=_SCHEMA, experiment=name, trial=trial, seed=seed, quick=bool(quick),
               overrides=_canonical(overrides), key=trial_key(experiment, seed, quick, overrides),
               fingerprint=fingerprint(exp), version=__version__, max_sequences=int(exp.max_sequences),
               environment=dict(environment()))
    out.update(body)
    out["seconds"] = time.perf_counter() - t0
    return out


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


def _check_callable(name: str, value: Any) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"{name}: expected a callable or None, got {type(value).__name__} {value!r}")


def _check_executor(executor: Any) -> None:
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError("executor: expected a concurrent.futures.Executor (an object with submit(), e.g. "
                        f"dask.distributed.Client(...).get_executor()), got {type(executor).__name__}")


def run_experiments(plan: Sequence[Tuple[Union[str, Experiment], Optional[int]]], results: Any = None, *,
                    executor: Optional[cf.Executor] = None, jobs: Optional[int] = None, seed: int = 0,
                    quick: bool = False, on_result: Optional[Callable[[Dict[str, Any]], None]] = None,
                    overrides: Optional[Mapping[str, Any]] = None) -> Dict[str, List[Dict[str, Any]]]:
    """Run (or resume) several experiments' trials on one executor.

    ``plan``: (experiment, trials) pairs, trials None for the paper's count (at most
    :data:`~lstmcore.experiments.checks.MAX_TRIALS`). Every finished trial is appended to
    ``results`` (JSONL, fsynced) as it finishes; trials of the same run key already there are
    reported (``on_result``, first) and not run again. The results file is locked for the run
    (:func:`~lstmcore.experiments.results.locked_results`): a second run on the same file is
    refused with :class:`~lstmcore.experiments.results.ResultsFileBusy`. Trials are submitted
    lazily, a few per worker at a time. Returns name -> records of trials 0..trials-1 in trial
    order. See :func:`run_experiment` for the arguments.
    """
    seed = check_int("seed", seed, minimum=0)
    quick = check_bool("quick", quick)
    _check_executor(executor)
    _check_callable("on_result", on_result)
    if jobs is not None:
        jobs = check_int("jobs", jobs, minimum=1, maximum=4096)
    if results is not None:
        results = check_file_path("results", results)
    checked = []
    for name_or_exp, trials in plan:
        exp = get_experiment(name_or_exp)
        n = check_trials("trials", exp.trials if trials is None else trials)
        resolve(exp, quick=quick, overrides=overrides)  # bad overrides fail here, not in a worker
        checked.append((exp, n))
    lock = locked_results(results) if results is not None else contextlib.nullcontext()
    with lock:
        return _run_locked(checked, results, executor, jobs, seed, quick, on_result, overrides)


def _run_locked(plan: List[Tuple[Experiment, int]], results: Optional[str], executor: Optional[cf.Executor],
                jobs: Optional[int], seed: int, quick: bool, on_result: Optional[Callable[[Dict[str, Any]], None]],
                overrides: Optional[Mapping[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
    out: Dict[str, Dict[int, Dict[str, Any]]] = {}
    counts: Dict[str, int] = {}
    records = load_records(results) if results is not None else []
    n_todo = 0
    for exp, n in plan:
        done = completed_trials(records, trial_key(exp, seed, quick, overrides)) if results is not None else {}
        out[exp.name] = {i: r for i, r in sorted(done.items()) if i < n}
        counts[exp.name] = n
        if on_result is not None:
            for i in sorted(out[exp.name]):
                on_result(out[exp.name][i])
        n_todo += n - len(out[exp.name])
    del records
    if n_todo:
        # the trials to run, generated as they are submitted (never a list of all of them)
        todo = ((exp, i) for exp, n in plan for i in range(n) if i not in out[exp.name])
        own = executor is None
        before = set(multiprocessing.active_children())
        pool: cf.Executor
        if executor is None:
            workers = min(jobs if jobs is not None else available_cpus(), n_todo)
            pool = cf.ProcessPoolExecutor(max_workers=workers, initializer=_worker_init, initargs=(os.getpid(),))
        else:
            workers = jobs if jobs is not None else _executor_workers(executor)
            pool = executor
        over = _canonical(overrides) or None
        running: set = set()
        try:
            for exp, i in itertools.islice(todo, 2 * workers):
                running.add(pool.submit(_trial_task, exp, exp.name, i, seed, quick, over))
            while running:
                finished, running = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for future in finished:
                    r = future.result()
                    if results is not None:
                        append_record(results, r)
                    out[r["experiment"]][r["trial"]] = r
                    if on_result is not None:
                        on_result(r)
                    for exp, i in itertools.islice(todo, 1):
                        running.add(pool.submit(_trial_task, exp, exp.name, i, seed, quick, over))
        except BaseException:
            for f in running:
                f.cancel()
            if own:
                _stop_pool(pool, before)
            raise
        if own:
            pool.shutdown(wait=True)
    return {name: [out[name][i] for i in range(counts[name])] for name in counts}


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
        same (experiment, seed, quick, overrides, definition) already in it are not run again. A
        torn last line (a killed run) is ignored with a
        :class:`~lstmcore.experiments.results.ResultsFileWarning`.
    executor : concurrent.futures.Executor, optional
        Runs the trials, e.g. ``dask.distributed.Client(...).get_executor()``; it is not shut
        down. Default: a process pool of ``jobs`` workers.
    jobs : int, optional
        Worker processes of the default pool (default: the number of cores). With ``executor``:
        how many trials it runs at once (default: what the executor tells, else 32); twice as
        many are submitted at a time, the rest as trials finish.
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
    return run_experiments([(exp, trials)], results, executor=executor, jobs=jobs, seed=seed, quick=quick,
                           on_result=on_result, overrides=overrides)[exp.name]


def _executor_workers(executor: Any) -> int:
    """How many trials an executor runs at once, where it tells (a concurrent.futures pool, a Dask
    client's executor); else 32. Twice as many trials are kept in flight."""
    n = getattr(executor, "_max_workers", None)
    if isinstance(n, int) and n >= 1:
        return n
    client = getattr(executor, "_client", None)
    try:
        n = sum(client.nthreads().values()) if client is not None else None
    except Exception:  # a client that cannot tell: the default below
        n = None
    return n if isinstance(n, int) and n >= 1 else 32


def _worker_init(parent: int) -> None:
    """Set up a worker process of the default pool: it ends when the process that started it
    dies (even by SIGKILL), so no worker outlives a killed run holding its caller's pipes; and it
    ignores SIGINT, which a terminal sends to the whole process group (the run's process stops its
    pool itself, ending the workers with SIGTERM, whose default action is restored here)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker inherits the parent's handler
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watchdog below remains
            pass
    try:
        os.kill(parent, 0)
    except ProcessLookupError:  # the run's process died before the lines above took effect
        os._exit(1)
    except PermissionError:  # pragma: no cover - exists, another user's (cannot happen for a parent)
        pass
    import threading

    start = os.getppid()

    def watchdog() -> None:  # portable fallback: the process that started this one is gone
        while os.getppid() == start:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watchdog, name="lstmcore-parent-watchdog", daemon=True).start()


def _stop_pool(pool: cf.Executor, before: set) -> None:
    """Interrupted: drop queued trials and end the worker processes the pool started (the children
    of this process that were not there before it; running trials are lost, finished ones are
    already in the results file)."""
    pool.shutdown(wait=False, cancel_futures=True)
    procs = [p for p in multiprocessing.active_children() if p not in before]
    for p in procs:
        p.terminate()
    for p in procs:
        p.join(timeout=5)


# ----------------------------------------------------------------------------------------- summary
def _mean(xs: Sequence[float]) -> Optional[float]:
    xs = [x for x in xs if isinstance(x, (int, float)) and not isinstance(x, bool) and not math.isnan(x)]
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
        tests = [r["tests"][m.name] for r in records if isinstance(r["tests"].get(m.name), dict)]
        test: Dict[str, Any] = {}
        for k in ("wrong", "fraction_wrong", "mse", "mean_abs_error"):
            v = _mean([t.get(k) for t in tests])
            if v is not None:
                test[k] = v
        if tests and isinstance(tests[0].get("n"), int):
            test["n"] = tests[0]["n"]
        finals = [r.get("details", {}).get("final") for r in records]
        finals = [f if isinstance(f, dict) else None for f in finals]
        if m is exp.final_milestone and any(finals):
            # Exp. 1: how close the final networks came (fraction of steps passing the success test)
            test["step_accuracy"] = _mean([f.get("step_accuracy") for f in finals if f])
        p = papers[m.name]
        rows.append(dict(
            experiment=exp.name, table=exp.table, milestone=m.name, label=p.label, trials=len(records),
            reached=len(hit), success_percent=100.0 * len(hit) / len(records) if records else None,
            mean_sequences=_mean(hit), min_sequences=min(hit) if hit else None, max_sequences=max(hit) if hit else None,
            test=test, seconds=float(sum(r.get("seconds", 0.0) for r in records)),
            budget=sorted({int(r["max_sequences"]) for r in records if r.get("max_sequences") is not None}),
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
