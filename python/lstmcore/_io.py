"""Model files: a NumPy .npz archive of plain numeric arrays and one JSON metadata record.

Never pickle: files are written without object arrays, and the reader parses each member's .npy
header itself (no ``np.load``), so loading a file cannot execute code. The metadata names the
format, its version, the model kind and its configuration, and carries a SHA-256 checksum over
every array's name, dtype, shape and bytes; a truncated, corrupted, foreign or version-mismatched
file is refused with a ValueError.

Writing goes through :func:`lstmcore._atomic.atomic_write`: a kill or an error during a save
leaves the previous file whole, and concurrent saves to one path leave one complete file.
Only finite arrays are written (a model with NaN or Inf weights is refused at save, as it would
be at load).

Reading is bounded before any data is read: the path must be a regular file (a FIFO or a device
would block or never end); every member must be stored uncompressed (as ``np.savez`` writes
them), so no member can inflate beyond the bytes the file really has; the metadata record is
read first, and every array's name, declared shape and dtype (from its .npy header) are checked
against what the model's configuration expects before its bytes are read. The checksum is
computed while the bytes stream in, each array read straight into its final buffer.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import zipfile
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, TypeVar

import numpy as np

from ._atomic import atomic_write

FORMAT = "lstmcore-model"
FORMAT_VERSION = 1
_META = "__lstmcore_meta__"
_Model = TypeVar("_Model")
_MAX_META_BYTES = 1 << 20  # the metadata record is a small JSON object
_CHUNK = 1 << 20  # bytes per read while an array streams in

#: shapes_for(config) -> {array name: shape}: what a configuration expects in the file
ShapesFor = Callable[[Dict[str, Any]], Mapping[str, Tuple[int, ...]]]


def _array_digest_header(name: str, dtype: np.dtype, shape: Tuple[int, ...]) -> bytes:
    return json.dumps([name, dtype.str, list(shape)]).encode()


def _checksum(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over, per array in name order: JSON [name, dtype, shape], then its C-order bytes."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(_array_digest_header(name, a.dtype, a.shape))
        h.update(a.tobytes())
    return h.hexdigest()


def _path(path: Any) -> str:
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__} {path!r}") from None


def save_model(path: Any, kind: str, config: Dict[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Write `arrays` (name -> finite numeric array) and the model's `config` to `path` (.npz),
    atomically (the previous file stays whole until the new one is complete on disk)."""
    path = _path(path)
    for name, a in arrays.items():
        if name == _META or a.dtype.kind not in "biuf":
            raise ValueError(f"arrays: {name!r} cannot be saved (dtype {a.dtype})")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"{name}: holds NaN or Inf; a model with non-finite parameters cannot be saved "
                             "(it could not be loaded either: has the training diverged?)")
    meta = dict(format=FORMAT, format_version=FORMAT_VERSION, kind=kind, config=config,
                checksum=_checksum(arrays))
    payload = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
    payload[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    # exactly this path (np.savez would append ".npz" to a bare name), replaced whole
    with atomic_write(path, "wb") as f:
        np.savez(f, **payload)  # type: ignore[arg-type]  # numpy's stub reads **payload as allow_pickle


def open_regular_file(path: str) -> io.BufferedReader:
    """Open `path` for reading if it is a regular file; a FIFO, device, socket or directory is
    refused (ValueError naming the path) before it is opened, so nothing blocks or has side
    effects. A missing file raises FileNotFoundError."""
    st = os.stat(path)  # follows symlinks: a link to a regular file is fine
    if not stat.S_ISREG(st.st_mode):
        kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise ValueError(f"path: {path!r} is {kind}, expected a regular file")
    # Non-blocking open, then the same check on what was opened: a file swapped for a FIFO between
    # the two calls cannot block the open either.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"path: {path!r} is not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class _Refused(ValueError):
    """A file refused for a reason already phrased for the user ("path: ...")."""


def _member_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> Tuple[Any, Tuple[int, ...], np.dtype]:
    """Open a member and parse its .npy header only: (open member stream, shape, dtype)."""
    name = info.filename[:-4]
    member = zf.open(info)
    try:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise _Refused(f"path: {path!r} has array {name!r} in .npy version {version}, expected 1.0 or 2.0")
    except _Refused:
        member.close()
        raise
    except Exception as exc:
        member.close()
        raise _Refused(f"path: {path!r} is not a valid lstmcore model file (array {name!r}: {exc})") from exc
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        member.close()
        raise _Refused(f"path: {path!r} is not a valid lstmcore model file (array {name!r} has dtype {dtype}; "
                       "only plain numbers are allowed, never objects)")
    if fortran and len(shape) > 1:
        member.close()
        raise _Refused(f"path: {path!r} is not a valid lstmcore model file (array {name!r} is in Fortran order)")
    header_len = member.tell()
    n_bytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if header_len + n_bytes != info.file_size:
        member.close()
        raise _Refused(f"path: {path!r} is not a valid lstmcore model file (array {name!r} declares shape "
                       f"{tuple(shape)} of {dtype}, {n_bytes} bytes, but its member holds "
                       f"{info.file_size - header_len})")
    return member, tuple(shape), dtype


def _read_into(member: Any, arr: np.ndarray, digest: Any) -> None:
    """Fill `arr` from `member` in chunks, feeding every chunk to `digest`."""
    buf = memoryview(arr.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
    pos, n = 0, buf.nbytes
    while pos < n:
        data = member.read(min(_CHUNK, n - pos))
        if not data:
            raise EOFError(f"{n - pos} bytes missing")
        buf[pos:pos + len(data)] = data
        digest.update(data)
        pos += len(data)


def load_model(path: Any, kind: str,
               shapes_for: Optional[ShapesFor] = None) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """Read and verify a file written by :func:`save_model` for a model of `kind`.

    Parameters
    ----------
    path : str or os.PathLike
        A regular file.
    kind : str
        The model kind the file must hold ("LSTM", "LSTM1997", ...).
    shapes_for : callable, optional
        ``shapes_for(config) -> {name: shape}``: the arrays a model of this configuration has. When
        given, the file's array names and declared shapes must be exactly these before any array
        data is read; it may raise ValueError for an invalid configuration (passed on as is).

    Returns
    -------
    config : dict
    arrays : dict of name -> ndarray
    """
    path = _path(path)
    try:
        with open_regular_file(path) as f:
            file_bytes = os.fstat(f.fileno()).st_size
            return _read_archive(f, path, kind, shapes_for, file_bytes)
    except _Refused:
        raise
    except ValueError as exc:
        if str(exc).startswith("path:"):
            raise
        raise ValueError(f"path: {path!r} is not a valid lstmcore model file ({exc})") from exc
    except MemoryError as exc:
        raise ValueError(f"path: {path!r} is not a valid lstmcore model file (an array larger than memory: {exc})") \
            from exc
    except FileNotFoundError:
        raise
    except Exception as exc:  # BadZipFile, EOFError, OSError, JSON errors, an unknown zip method, ...
        raise ValueError(f"path: {path!r} is not a valid lstmcore model file (truncated or corrupted: {exc})") from exc


def _read_archive(f: Any, path: str, kind: str, shapes_for: Optional[ShapesFor],
                  file_bytes: int) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    if f.read(4) != b"PK\x03\x04":
        f.seek(0)
        if f.read(6) == b"\x93NUMPY":
            raise _Refused(f"path: {path!r} is not an lstmcore model file (not an .npz archive)")
        raise _Refused(f"path: {path!r} is not a valid lstmcore model file (not a zip archive)")
    f.seek(0)
    with zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise _Refused(f"path: {path!r} is not a valid lstmcore model file (duplicate members)")
        if _META + ".npy" not in names:
            raise _Refused(f"path: {path!r} is not an lstmcore model file (no metadata record)")
        # Members are stored, never compressed: the bytes a member declares are bytes the file has.
        for info in infos:
            if not info.filename.endswith(".npy") or "/" in info.filename:
                raise _Refused(f"path: {path!r} is not a valid lstmcore model file (member {info.filename!r})")
            if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
                raise _Refused(f"path: {path!r} is not a valid lstmcore model file (member {info.filename!r} is "
                               "compressed; model files store their arrays uncompressed)")
        if sum(info.compress_size for info in infos) > file_bytes:
            raise _Refused(f"path: {path!r} is truncated (its members declare more bytes than the file has)")
        by_name = {info.filename[:-4]: info for info in infos}

        # 1. the metadata record: a small uint8 vector of JSON
        meta_info = by_name.pop(_META)
        if meta_info.file_size > _MAX_META_BYTES:
            raise _Refused(f"path: {path!r} is not a valid lstmcore model file (metadata of {meta_info.file_size} "
                           "bytes)")
        member, shape, dtype = _member_header(zf, meta_info, path)
        with member:
            if dtype != np.uint8 or len(shape) != 1:
                raise _Refused(f"path: {path!r} is not a valid lstmcore model file (metadata record of {dtype} "
                               f"{shape})")
            meta = json.loads(member.read(shape[0]).decode())
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise _Refused(f"path: {path!r} is not an lstmcore model file")
        if meta.get("format_version") != FORMAT_VERSION:
            raise _Refused(f"path: {path!r} has format version {meta.get('format_version')!r}; "
                           f"this lstmcore reads version {FORMAT_VERSION}")
        if meta.get("kind") != kind:
            raise _Refused(f"path: {path!r} holds a {meta.get('kind')!r} model, expected {kind!r}")
        config = meta.get("config")
        if not isinstance(config, dict):
            raise _Refused(f"path: {path!r} has no model configuration")
        if not isinstance(meta.get("checksum"), str):
            raise _Refused(f"path: {path!r} has no checksum")

        # 2. every array's name, shape and dtype from its header, checked before any data is read
        expected = None if shapes_for is None else {k: tuple(v) for k, v in shapes_for(config).items()}
        if expected is not None and set(expected) != set(by_name):
            missing = sorted(set(expected) - set(by_name))
            unexpected = sorted(set(by_name) - set(expected))
            raise _Refused(f"path: {path!r} does not hold the arrays of its configuration (missing {missing}, "
                           f"unexpected {unexpected})")
        headers = {}
        try:
            for name in sorted(by_name):
                headers[name] = _member_header(zf, by_name[name], path)
                if expected is not None and headers[name][1] != expected[name]:
                    raise _Refused(f"path: {path!r} has array {name!r} of shape {headers[name][1]}, its "
                                   f"configuration expects {expected[name]}")

            # 3. the data, streamed into its arrays and through the checksum, in name order
            digest = hashlib.sha256()
            arrays: Dict[str, np.ndarray] = {}
            for name in sorted(headers):
                member, shape, dtype = headers[name]
                arr = np.empty(shape, dtype)
                digest.update(_array_digest_header(name, arr.dtype, arr.shape))
                _read_into(member, arr, digest)
                if member.read(1):  # also reaches the end, where zipfile checks the member's CRC
                    raise _Refused(f"path: {path!r} is corrupted (array {name!r} is longer than declared)")
                arrays[name] = arr
        finally:
            for member, _, _ in headers.values():
                member.close()
        if meta["checksum"] != digest.hexdigest():
            raise _Refused(f"path: {path!r} is corrupted (checksum mismatch)")
    return config, arrays


def build_from_config(build: Callable[[], _Model], path: Any) -> _Model:
    """``build()``, the model of a file's configuration; a configuration its constructor refuses
    becomes a ValueError naming the file (the file was written by another version, or edited)."""
    try:
        return build()
    except (KeyError, TypeError, ValueError, MemoryError) as exc:
        raise ValueError(f"path: the model configuration in {os.fspath(path)!r} is invalid ({exc})") from exc
