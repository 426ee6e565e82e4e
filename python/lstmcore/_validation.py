"""Argument checks shared by the public API: every message names the argument, what was expected
and what came (DyNet style: ``x: expected shape (T, 7), got (5, 6)``)."""
from __future__ import annotations

import functools
import numbers
import operator
import os
from typing import Any, Collection, Optional

import numpy as np

from . import _core

_REAL_KINDS = "biuf"  # bool, signed and unsigned integers, floats


def check_int(name: str, value: Any, *, minimum: int = 1, maximum: Optional[int] = None) -> int:
    """An integer (Python or NumPy, not bool) in [minimum, maximum]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__} {value!r}")
    value = operator.index(value)
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise ValueError(f"{name}: expected an integer >= {minimum}{upper}, got {value}")
    return value


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_dropout(name: str, value: Any) -> float:
    """A dropout probability: a real number p with 0 <= p < 1 (p = 1 would scale by 1/(1-p) = inf)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number in [0, 1), got {type(value).__name__} {value!r}")
    p = float(value)
    if not 0.0 <= p < 1.0:  # also refuses nan
        raise ValueError(f"{name}: expected a probability in [0, 1), got {value!r}")
    return p


def check_real(name: str, value: Any, *, minimum: Optional[float] = None,
               maximum: Optional[float] = None) -> float:
    """A finite real number (not bool), optionally in [minimum, maximum]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"{name}: expected a finite number, got an integer too large for a float") from None
    if not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected a number >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: expected a number <= {maximum:g}, got {value:g}")
    return value


def check_lr(name: str, value: Any, dtypes: Collection[np.dtype]) -> float:
    """A learning rate (or another step factor) that is finite and >= 0 as a double and stays
    finite in every one of `dtypes` (an lr of 1e39 is Inf in float32 and turns every weight NaN)."""
    value = check_real(name, value, minimum=0.0)
    for dt in dtypes:
        largest = float(np.finfo(dt).max)
        if value > largest:
            raise ValueError(f"{name}: expected a number <= {largest:g} (the largest {np.dtype(dt).name}, the "
                             f"precision of the weights), got {value:g}")
    return value


def check_choice(name: str, value: Any, choices: Collection[str]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected one of {sorted(choices)}, got {type(value).__name__} {value!r}")
    if value not in choices:
        raise ValueError(f"{name}: expected one of {sorted(choices)}, got {value!r}")
    return value


def check_seed(seed: Any) -> Optional[int]:
    """A seed of the package's random draws: None (fresh entropy) or a non-negative int."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed: expected an int or None, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"seed: expected a non-negative int or None, got {seed}")
    return int(seed)


@functools.lru_cache(maxsize=None)
def memory_limit() -> int:
    """Bytes of physical memory of this machine (2^40 where the platform does not tell); asked
    once per process (it does not change, and every forward call checks against it)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - platforms without sysconf
        return 1 << 40


def check_memory(name: str, n_bytes: float, what: str) -> None:
    """Refuse, before anything is allocated, work whose arrays could never fit in this machine's
    physical memory (a MemoryError naming the argument(s) that make it so large)."""
    limit = memory_limit()
    if n_bytes > limit:
        raise MemoryError(f"{name}: {what} would need about {n_bytes / 2**30:.3g} GiB, more than the "
                          f"{limit / 2**30:.3g} GiB of memory of this machine")


def check_task_size(name: str, task: Any) -> None:
    """A task generator whose single sequence (x, target, mask at its longest, or at its shortest
    when the length is unbounded) could never fit in memory is refused at construction."""
    length = task.max_length if getattr(task, "max_length", None) is not None else task.min_length
    per_step = (task.n_in + task.n_out) * task.dtype.itemsize + 1
    check_memory(name, 3.0 * length * per_step, f"one sequence of {length} steps with {task.n_in} inputs")


def check_threads(name: str, value: Any) -> int:
    """A thread count in [1, max_threads()]: at most 4 threads per core of the machine (more only
    cost memory and switching, and thousands of threads can exhaust a process's limits)."""
    limit = _core.max_threads()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__} {value!r}")
    value = operator.index(value)
    if value < 1 or value > limit:
        raise ValueError(f"{name}: expected an integer in [1, {limit}] (at most 4 threads per core; this machine "
                         f"has {_core.hardware_cores()} cores), got {value}")
    return value


def check_dtype(name: str, value: Any, default: Any = np.float64) -> np.dtype:
    """numpy.float32 or numpy.float64 (anything np.dtype maps to them); None means `default`."""
    if value is None:
        return np.dtype(default)
    try:
        dt = np.dtype(value)
    except TypeError as exc:
        raise TypeError(f"{name}: expected numpy.float32 or numpy.float64, got {value!r}") from exc
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{name}: expected numpy.float32 or numpy.float64, got {dt}")
    return dt


def check_keys(name: str, given: Collection[str], expected: Collection[str]) -> None:
    """`given` must hold exactly the names in `expected` (a state dict, a weights mapping)."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    if missing or unexpected:
        raise ValueError(f"{name}: expected keys {list(expected)}; missing {missing}, unexpected {unexpected}")


def as_real_array(name: str, value: Any, dtype: np.dtype, shape: tuple, *, finite: bool = True) -> np.ndarray:
    """Convert once to a C-contiguous array of `dtype` with exactly `shape`.

    `shape` entries that are None or a str (its name in messages, e.g. "T") match any length. Non-numeric data raises TypeError; wrong
    ndim/shape and NaN/Inf (when `finite`) raise ValueError.
    """
    if (type(value) is np.ndarray and value.dtype == dtype and value.flags.c_contiguous
            and _shape_matches(value.shape, shape)):
        # Fast path (the common case in training loops): already the right array; only finiteness.
        if finite and not _all_finite(value):
            raise ValueError(f"{name}: expected finite values, got NaN or Inf")
        return value
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name}: expected a real numeric array, got {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested sequences and the like
        raise ValueError(f"{name}: expected a real numeric array of shape {_fmt(shape)}, got {exc}") from exc
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    if not _shape_matches(arr.shape, shape):
        raise ValueError(f"{name}: expected shape {_fmt(shape)}, got {arr.shape}")
    if (not arr.flags.c_contiguous or arr.dtype != dtype) and float(arr.size) * dtype.itemsize > memory_limit():
        # a broadcast view (np.broadcast_to) or a strided one is materialised by the conversion below
        check_memory(name, float(arr.size) * dtype.itemsize, f"a contiguous {dtype} copy of shape {arr.shape}")
    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows up as Inf, reported below
        out = np.ascontiguousarray(arr, dtype=dtype)
    if finite and not _all_finite(out):
        bad = "NaN or Inf" if arr.dtype.kind == "f" and not np.isfinite(arr).all() else f"values too large for {dtype}"
        raise ValueError(f"{name}: expected finite values, got {bad}")
    return out


def _shape_matches(got: tuple, expected: tuple) -> bool:
    """`got` has the entries of `expected`, None or a name in `expected` matching any length."""
    if len(got) != len(expected):
        return False
    for e, g in zip(expected, got):  # a plain loop: a generator costs a microsecond per call
        if e is not None and e.__class__ is not str and e != g:
            return False
    return True


def _all_finite(arr: np.ndarray, chunk: int = 1 << 16) -> bool:
    """np.isfinite(arr).all() without a temporary that grows with the data."""
    # float32/float64, C-contiguous (nearly every call): one vectorised pass in the core, no
    # temporary, about a microsecond for small arrays (NumPy's route costs several).
    verdict = _core.all_finite(arr)
    if verdict is not None:
        return bool(verdict)
    # A finite sum proves every element finite (NaN and Inf propagate); an overflowing sum of
    # finite values falls through to the exact check, in fixed-size chunks.
    with np.errstate(over="ignore", invalid="ignore"):  # huge finite values may overflow the sum
        total = arr.sum()
    if np.isfinite(total):
        return True
    flat = arr.reshape(-1)
    return all(np.isfinite(flat[i:i + chunk]).all() for i in range(0, flat.size, chunk))


def as_mask(value: Any, length: int) -> Optional[np.ndarray]:
    """None, or a (length,) array of booleans (or of 0/1 integers) -> uint8 array."""
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.dtype.kind not in "biu":
        raise TypeError(f"mask: expected a boolean array, got dtype {arr.dtype}")
    if arr.shape != (length,):
        raise ValueError(f"mask: expected shape ({length},), got {arr.shape}")
    if arr.dtype.kind != "b" and arr.size and ((arr != 0) & (arr != 1)).any():
        raise ValueError("mask: expected booleans or 0/1 integers, got other integers")
    return np.ascontiguousarray(arr != 0, dtype=np.uint8)


def _fmt(shape: tuple) -> str:
    inner = ", ".join("T" if s is None else str(s) for s in shape)  # a str entry is its own name
    return f"({inner},)" if len(shape) == 1 else f"({inner})"
