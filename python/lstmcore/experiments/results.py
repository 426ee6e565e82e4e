"""JSONL results files of experiment runs: one finished trial per line, appended as it finishes.

A run killed mid-write leaves a torn last line (no newline, not valid JSON). Reading checks every
line against the trial record's schema (:func:`record_problem`) and skips a line that fails (a
torn line, bytes that are not UTF-8, a missing or mistyped field) with a
:class:`ResultsFileWarning` naming the file and the line; appending first ends a torn line with a
newline, so that new records stay on lines of their own. A run holds the file's lock
(:func:`locked_results`) while it reads and appends it. docs/RUNS.md describes the whole contract.
"""
from __future__ import annotations

import contextlib
import json
import os
import stat
import warnings
from typing import Any, Dict, Iterable, Iterator, List, Optional

from .._atomic import atomic_write

__all__ = ["ResultsFileBusy", "ResultsFileWarning", "append_record", "archive_records", "check_file_path",
           "end_torn_line", "load_records", "locked_results", "record_problem"]


class ResultsFileWarning(UserWarning):
    """A line of a results file is not a trial record (a torn line of a killed run, bytes that are
    not UTF-8, or a record with a missing or mistyped field); it is skipped."""


def end_torn_line(path: Any) -> None:
    """If the file's last line has no newline (a torn write), end it so appends start a new line."""
    path = os.fspath(path)
    if os.path.exists(path) and os.path.getsize(path) > 0:
        with open(path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")
                f.flush()
                os.fsync(f.fileno())


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def record_problem(row: Any) -> Optional[str]:
    """Why ``row`` is not a trial record this package can use, or None when it is one.

    A trial record (see :func:`lstmcore.experiments.runner.run_trial`) is a JSON object with
    ``experiment`` and ``key`` (strings), ``trial``, ``seed``, ``sequences`` and ``max_sequences``
    (integers >= 0, not booleans), ``quick`` and ``success`` (booleans), ``seconds`` (a number),
    ``overrides`` (an object), ``milestones`` (milestone -> integer or null) and ``tests``
    (milestone -> object); ``curve`` (a list), ``details`` (an object), ``steps`` and
    ``n_weights`` (integers) when present.
    """
    if not isinstance(row, dict):
        return "not a JSON object"
    for k in ("experiment", "key"):
        if not isinstance(row.get(k), str):
            return f"{k!r}: expected a string, got {_shown(row, k)}"
    for k in ("trial", "seed", "sequences", "max_sequences"):
        if not (_is_int(row.get(k)) and row[k] >= 0):
            return f"{k!r}: expected an integer >= 0, got {_shown(row, k)}"
    for k in ("quick", "success"):
        if not isinstance(row.get(k), bool):
            return f"{k!r}: expected true or false, got {_shown(row, k)}"
    if not _is_real(row.get("seconds")):
        return f"'seconds': expected a number, got {_shown(row, 'seconds')}"
    for k in ("overrides", "milestones", "tests"):
        if not isinstance(row.get(k), dict):
            return f"{k!r}: expected an object, got {_shown(row, k)}"
    for name, v in row["milestones"].items():
        if v is not None and not (_is_int(v) and v >= 0):
            return f"'milestones': {name!r}: expected an integer >= 0 or null, got {v!r}"
    for name, v in row["tests"].items():
        if not isinstance(v, dict):
            return f"'tests': {name!r}: expected an object, got {type(v).__name__}"
    for k, kind, ok in (("curve", "a list", lambda v: isinstance(v, list)),
                        ("details", "an object", lambda v: isinstance(v, dict)),
                        ("steps", "an integer >= 0", lambda v: _is_int(v) and v >= 0),
                        ("n_weights", "an integer >= 0", lambda v: _is_int(v) and v >= 0)):
        if k in row and not ok(row[k]):
            return f"{k!r}: expected {kind}, got {_shown(row, k)}"
    return None


def _shown(row: Dict[str, Any], key: str) -> str:
    if key not in row:
        return "nothing (missing)"
    text = repr(row[key])
    return f"{type(row[key]).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def load_records(path: Any) -> List[Dict[str, Any]]:
    """Every trial record of a results file, in file order; a missing file has none.

    Lines that are not a trial record are skipped with a :class:`ResultsFileWarning` naming the
    file, the line number and what is wrong: a torn line (a killed run), bytes that are not UTF-8,
    text that is not JSON, or an object that fails :func:`record_problem` (a missing or mistyped
    field). The other records are read as usual.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        return []
    check_file_path("results", path, write=False)
    rows: List[Dict[str, Any]] = []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            problem: Optional[str] = None
            row: Any = None
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                problem = f"bytes that are not UTF-8 (at byte {exc.start} of the line)"
            except (json.JSONDecodeError, RecursionError):
                problem = "not a complete JSON record (a torn line from an interrupted run?)"
            if problem is None:
                problem = record_problem(row)
            if problem is not None:
                warnings.warn(f"{path}: ignoring line {number}: {problem}", ResultsFileWarning, stacklevel=2)
                continue
            rows.append(row)
    return rows


def check_file_path(name: str, path: Any, *, existing: bool = False, write: bool = True) -> str:
    """A path a file can be read from or (``write``) written to: str or os.PathLike, not a
    directory and not an existing non-regular file (a device, FIFO or socket: reading blocks or
    writing goes nowhere); ``existing``: the file must exist; ``write``: the file (if it exists)
    and its nearest existing directory are writable. Checked before any trial runs. Returns the
    path as str."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{name}: expected a file path (str or os.PathLike), got {type(path).__name__} {path!r}")
    path = os.fsdecode(os.fspath(path))
    if not path:
        raise ValueError(f"{name}: expected a file path, got an empty string")
    if os.path.isdir(path):
        raise ValueError(f"{name}: {path!r} is a directory, expected a file path")
    if os.path.exists(path):
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ValueError(f"{name}: {path!r} is not a regular file (a device, FIFO or socket), expected a file path")
    elif existing:
        raise ValueError(f"{name}: no such file: {path!r}")
    parent = os.path.dirname(os.path.abspath(path))
    probe = parent
    while not os.path.exists(probe):  # directories that do not exist yet are created on writing
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise ValueError(f"{name}: {path!r} is inside {probe!r}, which is not a directory")
    if write and not os.access(path if os.path.exists(path) else probe, os.W_OK):
        raise ValueError(f"{name}: {path!r} cannot be written (no write permission)")
    return path


class ResultsFileBusy(RuntimeError):
    """Another run holds the lock of a results file."""


@contextlib.contextmanager
def locked_results(path: Any) -> Iterator[None]:
    """Hold an exclusive lock (``fcntl.flock``) on a results file while a run reads and appends
    it, so that two runs on one file never both do the same trials: the second one is refused
    with :class:`ResultsFileBusy` at once. The file is created if needed. Where ``fcntl`` does
    not exist (Windows) nothing is locked."""
    path = check_file_path("results", path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path, "ab") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResultsFileBusy(f"results: {path!r} is in use by another run (it holds the file's lock); wait "
                                  "for that run to finish, or use another results file") from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def append_record(path: Any, record: Dict[str, Any]) -> None:
    """Append one record as a JSON line and fsync it, so a finished trial survives a crash."""
    append_records(path, [record])


def append_records(path: Any, records: Iterable[Dict[str, Any]]) -> None:
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    end_torn_line(path)
    # one write call for all the lines, so that a kill tears at most the last one (and only when
    # it lands inside the call)
    data = "".join(json.dumps(record, allow_nan=True) + "\n" for record in records).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def archive_records(sources: Iterable[Any], dest: Any) -> int:
    """Gather the records of several results files into one (replaced), without their learning
    curves, one record per (run key, trial) (the first found); returns the number written. The
    archive is what a report needs and small enough to keep with the report."""
    seen = set()
    out: List[Dict[str, Any]] = []
    for src in sources:
        for r in load_records(src):
            ident = (r.get("key"), r.get("trial"))
            if ident in seen:
                continue
            seen.add(ident)
            out.append({k: v for k, v in r.items() if k != "curve"})
    dest = check_file_path("archive", dest)
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    with atomic_write(dest, "w") as f:
        for r in out:
            f.write(json.dumps(r, allow_nan=True) + "\n")
    return len(out)
