"""Model files: a NumPy .npz archive of plain numeric arrays and one JSON metadata record.

Never pickle: files are written without object arrays and read with ``allow_pickle=False``, so
loading a file cannot execute code. The metadata names the format, its version, the model kind
and its configuration, and carries a SHA-256 checksum over every array's name, dtype, shape and
bytes; a truncated, corrupted, foreign or version-mismatched file is refused with a ValueError.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, Mapping, Tuple

import numpy as np

FORMAT = "lstmcore-model"
FORMAT_VERSION = 1
_META = "__lstmcore_meta__"


def _checksum(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _path(path: Any) -> str:
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__} {path!r}") from None


def save_model(path: Any, kind: str, config: Dict[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Write `arrays` (name -> numeric array) and the model's `config` to `path` (.npz)."""
    path = _path(path)
    for name, a in arrays.items():
        if name == _META or a.dtype.kind not in "biuf":
            raise ValueError(f"arrays: {name!r} cannot be saved (dtype {a.dtype})")
    meta = dict(format=FORMAT, format_version=FORMAT_VERSION, kind=kind, config=config,
                checksum=_checksum(arrays))
    payload = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
    payload[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as f:  # exactly this path: np.savez would append ".npz" to a bare name
        np.savez(f, **payload)  # type: ignore[arg-type]  # numpy's stub reads **payload as allow_pickle


def load_model(path: Any, kind: str) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """Read and verify a file written by :func:`save_model` for a model of `kind`.

    Returns
    -------
    config : dict
    arrays : dict of name -> ndarray
    """
    path = _path(path)
    try:
        # our own file object: closed even when np.load fails half-way (it leaks its own then)
        with open(path, "rb") as f:
            z = np.load(f, allow_pickle=False)
            if not hasattr(z, "files"):  # a single .npy array, not an archive
                raise ValueError(f"path: {path!r} is not an lstmcore model file (not an .npz archive)")
            names = list(z.files)
            if _META not in names:
                raise ValueError(f"path: {path!r} is not an lstmcore model file (no metadata record)")
            meta = json.loads(bytes(z[_META]).decode())
            arrays = {name: z[name] for name in names if name != _META}
    except ValueError as exc:
        if str(exc).startswith("path:"):
            raise
        # np.load refuses object arrays (pickle) with a ValueError
        raise ValueError(f"path: {path!r} is not a valid lstmcore model file ({exc})") from exc
    except MemoryError as exc:  # an array header that declares an impossible size
        raise ValueError(f"path: {path!r} is not a valid lstmcore model file (an array larger than memory: {exc})") from exc
    except Exception as exc:  # BadZipFile, EOFError, OSError, KeyError, JSON errors, an unknown zip method, ...
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"path: {path!r} is not a valid lstmcore model file (truncated or corrupted: {exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"path: {path!r} is not an lstmcore model file")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"path: {path!r} has format version {meta.get('format_version')!r}; "
                         f"this lstmcore reads version {FORMAT_VERSION}")
    if meta.get("kind") != kind:
        raise ValueError(f"path: {path!r} holds a {meta.get('kind')!r} model, expected {kind!r}")
    if meta.get("checksum") != _checksum(arrays):
        raise ValueError(f"path: {path!r} is corrupted (checksum mismatch)")
    if not isinstance(meta.get("config"), dict):
        raise ValueError(f"path: {path!r} has no model configuration")
    return meta["config"], arrays
