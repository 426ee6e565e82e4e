"""JSONL results files of experiment runs: one finished trial per line, appended as it finishes.

A run killed mid-write leaves a torn last line (no newline, not valid JSON). Reading skips such a
line with a :class:`ResultsFileWarning`; appending first ends it with a newline, so that new
records stay on lines of their own and the file remains one record per line.
"""
from __future__ import annotations

import json
import os
import warnings
from typing import Any, Dict, Iterable, List

__all__ = ["ResultsFileWarning", "append_record", "archive_records", "end_torn_line", "load_records"]


class ResultsFileWarning(UserWarning):
    """A line of a results file could not be read (a run was killed while writing it)."""


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


def load_records(path: Any) -> List[Dict[str, Any]]:
    """Every record of a results file, in file order; a missing file has none.

    Lines that are not a JSON object (a torn write) are skipped with a :class:`ResultsFileWarning`
    naming the file and the line number.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        return []
    rows: List[Dict[str, Any]] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if not isinstance(row, dict):
                warnings.warn(f"{path}: ignoring line {number}, which is not a complete record "
                              "(a torn line from an interrupted run)", ResultsFileWarning, stacklevel=2)
                continue
            rows.append(row)
    return rows


def append_record(path: Any, record: Dict[str, Any]) -> None:
    """Append one record as a JSON line and fsync it, so a finished trial survives a crash."""
    append_records(path, [record])


def append_records(path: Any, records: Iterable[Dict[str, Any]]) -> None:
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    end_torn_line(path)
    with open(path, "a", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, allow_nan=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


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
    dest = os.fspath(dest)
    tmp = dest + ".tmp"
    if os.path.dirname(os.path.abspath(dest)):
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    with open(tmp, "w", encoding="utf-8") as f:
        for r in out:
            f.write(json.dumps(r, allow_nan=True) + "\n")
    os.replace(tmp, dest)
    return len(out)
