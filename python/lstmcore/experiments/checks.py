"""Value checks of a resolved experiment: every setting a trial will use, checked before it runs.

:func:`check_experiment` runs on the experiment as a trial sees it (the registry row, its --quick
form and the user's overrides applied), so a bad ``--set``/``overrides`` value is refused in the
caller's process with a message naming the setting, what was expected and what came, instead of a
traceback in a worker or a recorded trial with a meaningless number (``lr=-1``, ``lr=nan``).

The checks are the public API's own (:mod:`lstmcore._validation`); the net is checked by building
it once (its constructor checks sizes, choices and memory), the task by constructing it (its
constructor checks its sizes and the memory of one sequence).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional

import numpy as np

from .._validation import check_bool, check_choice, check_int, check_real

__all__ = ["MAX_BUDGET", "MAX_TRIALS", "check_experiment", "check_trials", "check_override_values", "as_int"]

#: Largest training budget (sequences) of a trial: far beyond any run that could finish, and exact
#: as a float (learning curves and summaries hold sequence counts as floats).
MAX_BUDGET = 10 ** 15
#: Largest number of trials of one experiment in one run (the paper runs at most 30; every result
#: record is kept in memory for the summary).
MAX_TRIALS = 100_000


def as_int(name: str, value: Any, *, minimum: int, maximum: Optional[int] = None) -> int:
    """An integer setting; a float is accepted only when it is a whole number (``1e5`` from
    ``--set``), never rounded (``12.7`` is refused)."""
    if isinstance(value, (float, np.floating)) and not isinstance(value, bool):
        if not np.isfinite(value) or float(value) != int(value):
            raise ValueError(f"{name}: expected a whole number, got {value!r}")
        value = int(value)
    return check_int(name, value, minimum=minimum, maximum=maximum)


def check_trials(name: str, value: Any) -> int:
    """A trial count, bounded by :data:`MAX_TRIALS` before anything is built for the trials."""
    return as_int(name, value, minimum=1, maximum=MAX_TRIALS)


def _optional(check: Callable[..., Any]) -> Callable[..., Any]:
    def checked(name: str, value: Any, **kw: Any) -> Any:
        return None if value is None else check(name, value, **kw)
    return checked


def _positive_real(name: str, value: Any) -> float:
    v = check_real(name, value)
    if v <= 0:
        raise ValueError(f"{name}: expected a number > 0, got {v:g}")
    return v


def _non_negative_real(name: str, value: Any) -> float:
    return check_real(name, value, minimum=0.0)


# setting -> check(name, value) returning the normalised value
_EXPERIMENT_CHECKS: Dict[str, Callable[[str, Any], Any]] = {
    "lr": _positive_real,
    "max_sequences": lambda n, v: as_int(n, v, minimum=1, maximum=MAX_BUDGET),
    "trials": check_trials,
    "update": lambda n, v: check_choice(n, v, ("step", "sequence")),
    "selection": lambda n, v: check_choice(n, v, ("t1", "t2", "t3")),
    "check_every": lambda n, v: as_int(n, v, minimum=1, maximum=MAX_BUDGET),
    "test_size": lambda n, v: as_int(n, v, minimum=0, maximum=1 << 24),
    "test_beta": lambda n, v: check_real(n, v, minimum=0.0),
    "construction": lambda n, v: check_choice(n, v, ("fixed", "sequential")),
}
_OPTION_CHECKS: Dict[str, Callable[[str, Any], Any]] = {
    "targets": lambda n, v: check_choice(n, v, ("next", "legal")),
    "distinct": check_bool,
    "train_size": lambda n, v: as_int(n, v, minimum=1, maximum=1 << 20),
    "gradient": lambda n, v: check_choice(n, v, ("truncated", "full")),
    "data_seed": _optional(lambda n, v: as_int(n, v, minimum=0)),
    "init_seed": _optional(lambda n, v: as_int(n, v, minimum=0)),
    "plateau_window": lambda n, v: as_int(n, v, minimum=1, maximum=MAX_BUDGET),
    "plateau_patience": lambda n, v: as_int(n, v, minimum=1, maximum=MAX_BUDGET),
    "plateau_tolerance": lambda n, v: check_real(n, v, minimum=0.0),
    "added_cell_output_weights": lambda n, v: check_choice(n, v, ("random", "zero")),
    "success_check": lambda n, v: check_choice(n, v, ("stream", "test_set")),
}
_MILESTONE_CHECKS: Dict[str, Callable[[str, Any], Any]] = {
    "window": lambda n, v: as_int(n, v, minimum=1, maximum=1 << 24),
    "sequences": lambda n, v: as_int(n, v, minimum=1, maximum=1 << 24),
    "size": lambda n, v: as_int(n, v, minimum=1, maximum=1 << 24),
    "criterion": lambda n, v: check_choice(n, v, ("strict", "argmax")),
    "beta": lambda n, v: check_real(n, v, minimum=0.0),
    "fail_below": lambda n, v: as_int(n, v, minimum=1, maximum=1 << 24),
    "max_wrong": lambda n, v: as_int(n, v, minimum=0, maximum=1 << 24),
    "max_mean_abs": _optional(_positive_real),
    "max_mean_error": _optional(_positive_real),
    "final_only": check_bool,
}


def _is_net(net: Any) -> bool:
    from .registry import Net

    return isinstance(net, Net)


def _normalised(original: Any, checked: Any) -> bool:
    """Whether a checked value replaces the original: only a whole-number float that an integer
    setting turned into an int (other values are kept as given, so fingerprints do not change)."""
    return isinstance(original, (float, np.floating)) and type(checked) is int


def check_override_values(overrides: Any) -> None:
    """Checks of override values that the registry converts before the experiment exists (the
    per-block gate biases: a number or one number per block)."""
    for key in ("input_gate_bias", "output_gate_bias"):
        value = overrides.get(key)
        if value is None:
            continue
        values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
        for v in values:
            check_real(f"overrides: {key}", v)


def check_experiment(exp: Any, source: str = "overrides") -> Any:
    """``exp`` with every setting checked (whole-number floats of integer settings become ints);
    a bad value raises ValueError/TypeError (MemoryError for a net or task too large for this
    machine) whose message starts with ``source`` and names the setting."""
    changes: Dict[str, Any] = {}
    for key, check in _EXPERIMENT_CHECKS.items():
        if key == "lr" and not getattr(exp.net, "uses_lr", True):
            check = _non_negative_real  # a model that ignores lr (Rprop, guessing): 0 is its value
        value = check(f"{source}: {key}", getattr(exp, key))
        if _normalised(getattr(exp, key), value):
            changes[key] = value
    options = dict(exp.options)
    for key, value in exp.options.items():
        if key in _OPTION_CHECKS:
            checked = _OPTION_CHECKS[key](f"{source}: {key}", value)
            if _normalised(value, checked):
                options[key] = checked
    if options != exp.options or any(type(options[k]) is not type(exp.options[k]) for k in options):
        changes["options"] = options
    milestones = []
    for m in exp.milestones:
        fixes = {}
        for key, value in m.params.items():
            if key in _MILESTONE_CHECKS:
                checked = _MILESTONE_CHECKS[key](f"{source}: {key}", value)
                if _normalised(value, checked):
                    fixes[key] = checked
        milestones.append(dataclasses.replace(m, **fixes) if fixes else m)
    if any(a is not b for a, b in zip(milestones, exp.milestones)):
        changes["milestones"] = tuple(milestones)
    if exp.options.get("gradient", "truncated") == "full" and exp.update != "sequence":
        raise ValueError(f"{source}: gradient: 'full' needs update 'sequence', got update {exp.update!r}")
    if not isinstance(exp.task_args, dict):
        raise TypeError(f"{source}: task_args: expected a dict, got {type(exp.task_args).__name__}")
    if _is_net(exp.net):
        for key in ("init_range", "input_gate_input_offset"):
            check_real(f"{source}: {key}", getattr(exp.net, key))
        for key in ("input_gate_bias", "output_gate_bias"):
            value = getattr(exp.net, key)
            if value is not None:
                for v in value:
                    check_real(f"{source}: {key}", v)
    if changes:
        exp = dataclasses.replace(exp, **changes)
    try:
        exp.make_task()
        if _is_net(exp.net):
            exp.net.build(seed=0)
    except (ValueError, TypeError, MemoryError) as exc:
        raise type(exc)(f"{source}: {exc}") from None
    return exp
