"""Argument checks shared by the public API: every message names the argument, what was expected
and what came (DyNet style: ``x: expected shape (T, 7), got (5, 6)``)."""
from __future__ import annotations

import numbers
import operator
from typing import Any, Collection, Optional

import numpy as np

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


def check_real(name: str, value: Any, *, minimum: Optional[float] = None) -> float:
    """A finite real number (not bool), optionally >= minimum."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected a number >= {minimum}, got {value}")
    return value


def check_choice(name: str, value: Any, choices: Collection[str]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected one of {sorted(choices)}, got {type(value).__name__} {value!r}")
    if value not in choices:
        raise ValueError(f"{name}: expected one of {sorted(choices)}, got {value!r}")
    return value


def check_dtype(name: str, value: Any) -> np.dtype:
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

    `shape` entries that are None match any length. Non-numeric data raises TypeError; wrong
    ndim/shape and NaN/Inf (when `finite`) raise ValueError.
    """
    if (type(value) is np.ndarray and value.dtype == dtype and value.flags.c_contiguous
            and value.ndim == len(shape) and all(e is None or e == g for e, g in zip(shape, value.shape))):
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
    if arr.ndim != len(shape) or any(e is not None and e != g for e, g in zip(shape, arr.shape)):
        raise ValueError(f"{name}: expected shape {_fmt(shape)}, got {arr.shape}")
    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows up as Inf, reported below
        out = np.ascontiguousarray(arr, dtype=dtype)
    if finite and not _all_finite(out):
        bad = "NaN or Inf" if arr.dtype.kind == "f" and not np.isfinite(arr).all() else f"values too large for {dtype}"
        raise ValueError(f"{name}: expected finite values, got {bad}")
    return out


def _all_finite(arr: np.ndarray, chunk: int = 1 << 16) -> bool:
    """np.isfinite(arr).all() without a temporary that grows with the data."""
    # A finite sum proves every element finite (NaN and Inf propagate); an overflowing sum of
    # finite values falls through to the exact check, in fixed-size chunks.
    if np.isfinite(arr.sum()):
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
    inner = ", ".join("T" if s is None else str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"
