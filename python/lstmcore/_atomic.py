"""Atomic file replacement: a file is either its old version or its complete new one, never torn.

Every writer that replaces a whole file (model files, reports, results archives, CSV tables) goes
through :func:`atomic_write`:

1. the new content is written to a temporary file in the destination's own directory (so the
   final rename never crosses a file system),
2. the temporary file is flushed and fsync'ed (its bytes are on disk before it gets the name),
3. ``os.replace`` moves it over the destination (atomic on POSIX and Windows),
4. the directory is fsync'ed (the rename itself survives a power loss; POSIX only).

A kill at any point leaves the previous destination intact; at worst a temporary file named
``.<name>.<random>.tmp`` stays behind. Two concurrent writers to one path each replace the file
whole: the last rename wins and the file is always one complete version.

Append-only files (the JSONL results of experiment runs) are not replaced; they are appended to and
fsync'ed record by record instead (see ``lstmcore.experiments.results``).
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from typing import IO, Any, Iterator

__all__ = ["atomic_write", "fsync_directory"]


def fsync_directory(directory: str) -> None:
    """fsync a directory so that a rename inside it is durable (no-op where unsupported)."""
    if not hasattr(os, "O_DIRECTORY"):  # Windows: directories cannot be opened for fsync
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on directories; the rename is still atomic
        pass
    finally:
        os.close(fd)


def _current_umask() -> int:
    """The process's umask, read without changing it where the system tells it (Linux: a
    set-and-restore would leave other threads a window of umask 0, creating world-writable files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        umask = os.umask(0o077)  # the restrictive side while it is read
        os.umask(umask)
    return umask


_UMASK_LOCK = threading.Lock()


@contextlib.contextmanager
def atomic_write(path: Any, mode: str = "wb", encoding: str | None = None,
                 newline: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file that replaces `path` atomically when the ``with`` block ends cleanly.

    Parameters
    ----------
    path : str or os.PathLike
        Destination. Its directory must exist. An existing destination is kept untouched until the
        new content is complete and on disk; if the block raises, the destination is unchanged and
        the temporary file is removed.
    mode : {"wb", "w"}
        Binary or text.
    encoding, newline : str, optional
        As for :func:`open`, text mode only (``encoding`` defaults to UTF-8 there).

    Raises
    ------
    ValueError
        If `mode` is not "wb" or "w", or `path` names a directory, a FIFO, a device or a socket
        (a symbolic link is followed: its target is replaced, the link stays).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode: expected 'wb' or 'w', got {mode!r}")
    # A symbolic link stays a link: its target is the file replaced.
    dest = os.path.realpath(os.fspath(path))
    if os.path.isdir(dest):
        raise ValueError(f"path: {os.fspath(path)!r} is a directory, expected a file path")
    if os.path.exists(dest) and not stat.S_ISREG(os.stat(dest).st_mode):
        # a rename would replace the FIFO or device node itself (/dev/null, say) by a plain file
        raise ValueError(f"path: {os.fspath(path)!r} is not a regular file (a FIFO, device or socket); "
                         "expected a regular file or a new path")
    directory, name = os.path.split(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        if mode == "w":
            f = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline=newline)
        else:
            f = os.fdopen(fd, "wb")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file 0600; give it the permissions a plain open() would have
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(directory)
