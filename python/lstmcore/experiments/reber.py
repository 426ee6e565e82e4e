"""Experiment 1 of Hochreiter & Schmidhuber (1997): the embedded Reber grammar (section 5.1).

Protocol (spec ``lstm1997.md`` section 3.1): 256 training strings and 256 separate test strings; no
test string is in the training set. Training exemplars are picked at random from the training set
and presented one symbol per step, with activations reset to zero for every string. The trial
succeeds when "all string symbols of all sequences in both test set and training set are
predicted correctly - that is, if the output unit(s) corresponding to the possible next symbol(s)
is(are) always the most active ones". Network: 3 blocks of 2 cells (276 weights) or 4 blocks of 1
cell (264), gates biased, recurrence from cells and gates, weights in [-0.2, 0.2], output-gate
biases -1, -2, -3 (, -4), g in [-2, 2], h in [-1, 1], learning rate 0.1, 0.2 or 0.5.

Public functions: :func:`run_reber_trial` (one trial), :func:`make_reber_sets` (the data sets of
one ``data_seed``) and :func:`reber_correct` (the per-step success test).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .._validation import check_bool as _check_bool
from .._validation import check_choice as _check_choice
from .._validation import check_dtype, check_int, check_real
from ..tasks.reber import EmbeddedReber

__all__ = ["ReberTrialResult", "make_reber_sets", "reber_correct", "run_reber_trial"]

_TESTS = ("strict", "argmax")
_UPDATES = ("step", "sequence")
_SQUASH = {
    "text": {"g": "g2", "h": "h1"},  # paper text and eqs. 4-5: g in [-2, 2], h in [-1, 1]
    "legend": {"g": "h1", "h": "g2"},  # Table 10's legend: g in [-1, 1], h in [-2, 2]
}
_GRADIENTS = ("truncated", "full")
_TARGETS = ("next", "legal")
# Spawn key that separates the exemplar-order stream from anything else seeded with init_seed.
_ORDER_STREAM = (1997, 1)
_INDEX_BLOCK = 4096


def _check_int(name: str, value: object, minimum: int) -> int:
    return check_int(name, value, minimum=minimum)


def _check_dtype(dtype: object) -> np.dtype:
    return check_dtype("dtype", dtype)


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
    data_seed = _check_int("data_seed", data_seed, 0)
    train_size = _check_int("train_size", train_size, 1)
    test_size = _check_int("test_size", test_size, 1)
    distinct = _check_bool("distinct", distinct)
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
    test = _check_choice("test", test, _TESTS)
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


class _ReberEvaluator:
    """Success test over a fixed list of strings, vectorised over steps.

    xs: list of (L_i, 7) inputs; legal: list of (L_i, 7) bool.
    """

    def __init__(self, xs: Sequence[np.ndarray], legal: Sequence[np.ndarray], test: str) -> None:
        self.xs = list(xs)
        self.legal_list = list(legal)
        self.test = test
        self.lens = np.array([len(a) for a in self.legal_list], dtype=np.int64)
        self.offsets = np.concatenate(([0], np.cumsum(self.lens)[:-1])).astype(np.int64)
        self.legal = np.concatenate(self.legal_list)
        # Strings that failed the last check are tried first, so a failing check is cheap.
        self.order: List[int] = list(range(len(self.xs)))

    def step_correct(self, net: Any) -> np.ndarray:
        """(sum L_i,) bool: every step of every string, in string order."""
        out = np.concatenate([np.asarray(net.forward(x)) for x in self.xs])
        if out.shape != self.legal.shape:
            raise RuntimeError(f"net.forward: expected outputs of total shape {self.legal.shape}, got {out.shape}")
        return reber_correct(out, self.legal, self.test)

    def string_correct(self, ok: np.ndarray) -> np.ndarray:
        return np.logical_and.reduceat(ok, self.offsets)

    def long_lag_correct(self, ok: np.ndarray) -> np.ndarray:
        """Per string: is the symbol before last (step L-2) predicted correctly?"""
        return ok[self.offsets + self.lens - 2]

    def all_correct(self, net: Any, chunk: int = 32) -> bool:
        """Same answer as ``step_correct(net).all()``, stopping at the first failing chunk."""
        order = self.order
        for start in range(0, len(order), chunk):
            idx = order[start:start + chunk]
            out = np.concatenate([np.asarray(net.forward(self.xs[i])) for i in idx])
            legal = np.concatenate([self.legal_list[i] for i in idx])
            if out.shape != legal.shape:
                raise RuntimeError(f"net.forward: expected outputs of total shape {legal.shape}, got {out.shape}")
            ok = reber_correct(out, legal, self.test)
            if ok.all():
                continue
            lens = self.lens[idx]
            offs = np.concatenate(([0], np.cumsum(lens)[:-1]))
            bad = [idx[k] for k in np.flatnonzero(~np.logical_and.reduceat(ok, offs))]
            bad_set = set(bad)
            self.order = bad + [i for i in order if i not in bad_set]
            return False
        return True


# ---------------------------------------------------------------------------- one trial
@dataclasses.dataclass
class ReberTrialResult:
    """Outcome of one Experiment-1 trial (see :func:`run_reber_trial`).

    Attributes
    ----------
    success : bool
        Whether every step of every training and test string passed the test at some check.
    sequences : int
        Training sequences presented when success was first detected, else ``max_sequences``.
        Resolution: ``check_every``.
    steps : int
        Training steps (symbols with a target) presented in those sequences.
    mean_train_len, mean_test_len : float
        Mean string length (symbols, B...E) of the training and test strings; a string of length
        n is a sequence of n - 1 steps.
    step_accuracy : float
        Fraction of all steps of both sets passing the test, for the final network.
    train_step_accuracy, test_step_accuracy : float
        The same per set.
    string_accuracy : float
        Fraction of the strings of both sets with every step passing.
    long_lag_correct : bool
        Whether the symbol before last (the second symbol, to be remembered across the inner
        string) passes the test in every string of both sets.
    long_lag_accuracy : float
        Fraction of strings whose symbol before last passes.
    final_loss : float
        Mean training loss per sequence over the last check interval (loss convention of api.md).
    seconds : float
        Wall time of the trial, data generation included.
    n_weights : int
        ``net.n_weights``.
    checks : int
        Number of success checks made.
    loss_history : list of (int, float)
        ``(sequences, mean loss per sequence in the interval)`` at every check.
    config : dict
        The arguments of the trial (JSON-serialisable).
    """

    success: bool
    sequences: int
    steps: int
    mean_train_len: float
    mean_test_len: float
    step_accuracy: float
    train_step_accuracy: float
    test_step_accuracy: float
    string_accuracy: float
    long_lag_correct: bool
    long_lag_accuracy: float
    final_loss: float
    seconds: float
    n_weights: int
    checks: int
    loss_history: List[Tuple[int, float]]
    config: Dict[str, Any]

    def to_dict(self) -> Dict[str, Any]:
        """Plain-Python dict of all fields (JSON-serialisable)."""
        d = dataclasses.asdict(self)
        d["loss_history"] = [list(p) for p in self.loss_history]
        return d


def _index_stream(rng: np.random.Generator, n: int) -> Iterator[int]:
    # Fixed-size blocks, so the exemplar order does not depend on check_every.
    while True:
        yield from rng.integers(0, n, size=_INDEX_BLOCK).tolist()


def run_reber_trial(
    *,
    blocks: int = 3,
    cells_per_block: int = 2,
    lr: float = 0.5,
    data_seed: int,
    init_seed: int,
    max_sequences: int = 100_000,
    check_every: int = 100,
    train_size: int = 256,
    test_size: int = 256,
    distinct: bool = True,
    targets: str = "next",
    update: str = "step",
    test: str = "strict",
    squash: str = "text",
    gradient: str = "truncated",
    input_gate_bias: Optional[Sequence[float]] = None,
    dtype=np.float64,
    progress: Optional[Callable[[Dict[str, Any]], None]] = None,
    net_factory: Optional[Callable[..., Any]] = None,
) -> ReberTrialResult:
    """Run one trial of Experiment 1 (embedded Reber grammar) as the 1997 paper describes it.

    Parameters
    ----------
    blocks, cells_per_block : int >= 1
        Memory blocks and cells per block (paper: 3 x 2 or 4 x 1).
    lr : float > 0
        Learning rate alpha (paper: 0.1, 0.2, 0.5).
    data_seed : int >= 0
        Seed of the training/test strings (:func:`make_reber_sets`). The paper used 3 data sets.
    init_seed : int >= 0
        Seed of the weight initialisation (``LSTM1997(seed=init_seed)``) and of the exemplar
        order (a separate stream derived from it). The paper used 10 initialisations per data set.
    max_sequences : int >= 0
        Training budget in sequences (strings).
    check_every : int >= 1, default 100
        Sequences between success checks. The paper does not say how often it tested; this sets
        the resolution of ``sequences``. A check runs the network over all train and test strings
        (about 6,000 steps); checks that fail usually stop after the first few strings.
    train_size, test_size : int >= 1
        Set sizes (paper: 256 and 256).
    distinct : bool
        Whether strings are distinct within each set (see :func:`make_reber_sets`).
    targets : {"next", "legal"}
        Target coding (see :class:`lstmcore.tasks.EmbeddedReber`); the test always uses the legal
        next symbols.
    update : {"step", "sequence"}
        Weight update after every step or once per string (``LSTM1997.train_sequence``).
    test : {"strict", "argmax"}
        Success test (see :func:`reber_correct`).
    squash : {"text", "legend"}
        Squashing ranges: ``"text"`` = paper text and eqs. 4-5, g = "g2" in [-2, 2], h = "h1" in
        [-1, 1]; ``"legend"`` = Table 10's legend, g in [-1, 1] ("h1"), h in [-2, 2] ("g2").
    gradient : {"truncated", "full"}
        ``"truncated"``: the 1997 learning rule (paper). ``"full"``: exact BPTT gradient, one
        update per string (needs ``update="sequence"``); §6 of the paper reports "no significant
        difference" from a few such runs.
    input_gate_bias : sequence of float, optional
        Initial input-gate biases, one per block. Paper (Exp. 1): None, i.e. random like every
        other weight; e.g. ``[-1, -2, -3]`` is the drift remedy of the other experiments.
    dtype : numpy.float32 or numpy.float64
        Network dtype.
    progress : callable, optional
        Called after every check with a dict: ``sequences``, ``steps``, ``mean_loss`` (per sequence
        over the interval), ``success``, ``seconds`` and ``step_accuracy`` (fraction of steps of
        both sets passing; computed only when ``progress`` is given).
    net_factory : callable, optional
        Builds the network instead of ``lstmcore.LSTM1997``, with the same arguments; it must
        provide ``forward``, ``train_sequence`` and ``n_weights``. For tests and other engines.

    Returns
    -------
    ReberTrialResult

    Notes
    -----
    Network: ``LSTM1997(7, 7, blocks, cells_per_block, recurrent="cells+gates", bias="gates",
    init_range=0.2, output_gate_bias=[-1, -2, ..., -blocks], input_gate_bias=None, g, h,
    out_activation="logistic", seed=init_seed)``. Exemplars are drawn uniformly with replacement
    from the training set. Success: at every step of every string of both sets, the outputs of
    the legal next symbols are the most active ones (``test``).
    """
    blocks = _check_int("blocks", blocks, 1)
    cells_per_block = _check_int("cells_per_block", cells_per_block, 1)
    lr = check_real("lr", lr, minimum=0.0)
    if lr == 0:
        raise ValueError("lr: expected a positive number, got 0.0")
    data_seed = _check_int("data_seed", data_seed, 0)
    init_seed = _check_int("init_seed", init_seed, 0)
    max_sequences = _check_int("max_sequences", max_sequences, 0)
    check_every = _check_int("check_every", check_every, 1)
    train_size = _check_int("train_size", train_size, 1)
    test_size = _check_int("test_size", test_size, 1)
    distinct = _check_bool("distinct", distinct)
    targets = _check_choice("targets", targets, _TARGETS)
    update = _check_choice("update", update, _UPDATES)
    test = _check_choice("test", test, _TESTS)
    squash = _check_choice("squash", squash, tuple(_SQUASH))
    gradient = _check_choice("gradient", gradient, _GRADIENTS)
    if gradient == "full" and update != "sequence":
        raise ValueError(f"gradient: 'full' needs update='sequence', got update={update!r}")
    if input_gate_bias is not None:
        input_gate_bias = [check_real("input_gate_bias", v) for v in input_gate_bias]
        if len(input_gate_bias) != blocks:
            raise ValueError(f"input_gate_bias: expected {blocks} values (one per block), got {len(input_gate_bias)}")
    dt = _check_dtype(dtype)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress: expected a callable or None, got {type(progress).__name__}")
    if net_factory is None:
        from .. import LSTM1997 as net_factory  # deferred: the compiled core is needed only here
    elif not callable(net_factory):
        raise TypeError(f"net_factory: expected a callable or None, got {type(net_factory).__name__}")

    config: Dict[str, Any] = dict(
        blocks=blocks, cells_per_block=cells_per_block, lr=lr, data_seed=data_seed,
        init_seed=init_seed, max_sequences=max_sequences, check_every=check_every,
        train_size=train_size, test_size=test_size, distinct=distinct, targets=targets,
        update=update, test=test, squash=squash, gradient=gradient, input_gate_bias=input_gate_bias,
        dtype=dt.name,
    )
    t0 = time.perf_counter()

    # Data.
    train, test_strings = make_reber_sets(data_seed, train_size, test_size, distinct)
    task = EmbeddedReber(targets, dtype=dt)
    enc = [task.encode(s) for s in train]
    xs_train = [e[0] for e in enc]
    ts_train = [e[1] for e in enc]
    lens_train = [len(s) - 1 for s in train]
    all_strings = train + test_strings
    evaluator = _ReberEvaluator(
        xs_train + [task.one_hot(s[:-1]) for s in test_strings],
        [task.legal_next(s) for s in all_strings],
        test,
    )
    n_train_steps = int(sum(lens_train))

    # Network.
    net = net_factory(
        EmbeddedReber.n_in, EmbeddedReber.n_out, blocks, cells_per_block,
        recurrent="cells+gates", shortcut=False, bias="gates",
        output_gate=True, forget_gate=False, peepholes=False,
        g=_SQUASH[squash]["g"], h=_SQUASH[squash]["h"], out_activation="logistic",
        init_range=0.2, input_gate_bias=input_gate_bias,
        output_gate_bias=[-float(j + 1) for j in range(blocks)],
        dtype=dt, seed=init_seed,
    )
    order_rng = np.random.default_rng(np.random.SeedSequence(entropy=init_seed, spawn_key=_ORDER_STREAM))
    indices = _index_stream(order_rng, train_size)

    # Train, checking every check_every sequences (and at the end of the budget).
    sequences = 0
    steps = 0
    checks = 0
    success = False
    final_loss = float("nan")
    loss_history: List[Tuple[int, float]] = []
    train_sequence = net.train_sequence
    while True:
        n = min(check_every, max_sequences - sequences)
        loss = 0.0
        for _ in range(n):
            i = next(indices)
            loss += float(train_sequence(xs_train[i], ts_train[i], lr=lr, update=update, mode=gradient))
            steps += lens_train[i]
        sequences += n
        if n:
            final_loss = loss / n
            loss_history.append((sequences, final_loss))
        if n or checks == 0:
            checks += 1
            success = evaluator.all_correct(net)
            if progress is not None:
                ok = evaluator.step_correct(net)
                progress(dict(
                    sequences=sequences, steps=steps, mean_loss=final_loss if n else float("nan"),
                    success=success, seconds=time.perf_counter() - t0,
                    step_accuracy=float(ok.mean()),
                ))
        if success or sequences >= max_sequences:
            break

    # Final figures.
    ok = evaluator.step_correct(net)
    string_ok = evaluator.string_correct(ok)
    long_ok = evaluator.long_lag_correct(ok)
    return ReberTrialResult(
        success=bool(success),
        sequences=int(sequences),
        steps=int(steps),
        mean_train_len=float(np.mean([len(s) for s in train])),
        mean_test_len=float(np.mean([len(s) for s in test_strings])),
        step_accuracy=float(ok.mean()),
        train_step_accuracy=float(ok[:n_train_steps].mean()),
        test_step_accuracy=float(ok[n_train_steps:].mean()),
        string_accuracy=float(string_ok.mean()),
        long_lag_correct=bool(long_ok.all()),
        long_lag_accuracy=float(long_ok.mean()),
        final_loss=float(final_loss),
        seconds=float(time.perf_counter() - t0),
        n_weights=int(net.n_weights),
        checks=int(checks),
        loss_history=loss_history,
        config=config,
    )


# ---------------------------------------------------------------------------- the paper's protocol
#: Table 1 of the paper, LSTM rows: (blocks, cells_per_block, lr) -> (% success, mean sequences to success)
PAPER_TABLE_1: Dict[Tuple[int, int, float], Tuple[float, float]] = {
    (4, 1, 0.1): (100.0, 39_740),
    (3, 2, 0.1): (100.0, 21_730),
    (3, 2, 0.2): (97.0, 14_060),
    (4, 1, 0.5): (97.0, 9_500),
    (3, 2, 0.5): (100.0, 8_440),
}


def _trial_worker(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    return run_reber_trial(**kwargs).to_dict()


def run_reber_experiment(
    *,
    data_seeds: Sequence[int] = (0, 1, 2),
    init_seeds: Sequence[int] = tuple(range(10)),
    jobs: Optional[int] = None,
    executor: Optional[Any] = None,
    on_result: Optional[Callable[[Dict[str, Any]], None]] = None,
    **trial_kwargs: Any,
) -> List[Dict[str, Any]]:
    """Experiment 1 as the paper ran it: every training/test set pair times every initialisation.

    The paper used 3 set pairs x 10 initialisations = 30 trials per row of Table 1.

    Parameters
    ----------
    data_seeds, init_seeds : sequences of int
        One trial per (data_seed, init_seed) pair.
    jobs : int, optional
        Worker processes (default: the number of cores). Ignored when ``executor`` is given.
    executor : concurrent.futures.Executor, optional
        Runs the trials (e.g. a Dask ``distributed`` client's executor); default: a process pool.
    on_result : callable, optional
        Called with each trial's result dict as it finishes (progress, saving).
    **trial_kwargs
        Passed to :func:`run_reber_trial` (blocks, cells_per_block, lr, max_sequences, readings).

    Returns
    -------
    list of dict
        :meth:`ReberTrialResult.to_dict` of every trial, ordered by (data_seed, init_seed).
    """
    import concurrent.futures as cf
    import os

    if "progress" in trial_kwargs:
        raise TypeError("progress: not supported across processes; use on_result")
    tasks = [dict(trial_kwargs, data_seed=d, init_seed=i) for d in data_seeds for i in init_seeds]
    if not tasks:
        raise ValueError("data_seeds, init_seeds: expected at least one trial, got none")
    own = executor is None
    if own:
        jobs = check_int("jobs", jobs if jobs is not None else (os.cpu_count() or 1), minimum=1)
        executor = cf.ProcessPoolExecutor(max_workers=min(jobs, len(tasks)))
    results = []
    try:
        futures = [executor.submit(_trial_worker, t) for t in tasks]
        for future in cf.as_completed(futures):
            result = future.result()
            results.append(result)
            if on_result is not None:
                on_result(result)
    finally:
        if own:
            executor.shutdown(cancel_futures=True)
    results.sort(key=lambda r: (r["config"]["data_seed"], r["config"]["init_seed"]))
    return results


def summarize_reber(results: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Success rate and sequences-to-success (mean, min, max over successful trials)."""
    wins = [r["sequences"] for r in results if r["success"]]
    return dict(
        trials=len(results),
        successes=len(wins),
        success_percent=100.0 * len(wins) / len(results) if results else float("nan"),
        mean_sequences=float(np.mean(wins)) if wins else float("nan"),
        min_sequences=min(wins) if wins else None,
        max_sequences=max(wins) if wins else None,
        mean_train_len=float(np.mean([r["mean_train_len"] for r in results])) if results else float("nan"),
        long_lag_learned=sum(bool(r["long_lag_correct"]) for r in results),
        mean_step_accuracy=float(np.mean([r["step_accuracy"] for r in results])) if results else float("nan"),
        seconds=float(sum(r["seconds"] for r in results)),
    )
