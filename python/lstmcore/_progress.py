"""A dependency-free progress line: redrawn in place on a terminal, a line per tenth otherwise."""
from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


class Progress:
    """Progress of `total` units of work, with rate and ETA.

    Parameters
    ----------
    total : int
        Units of work expected (e.g. training sequences).
    label : str
        Shown before the bar.
    stream : file, optional
        Default: sys.stderr.
    """

    def __init__(self, total: int, label: str = "", stream: Optional[TextIO] = None) -> None:
        self.total = max(1, int(total))
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_tenth = -1

    def update(self, done: int, info: str = "", *, force: bool = False, final: bool = False) -> None:
        """Draw `done` of `total` (at most every 0.1 s on a terminal, every tenth otherwise, always
        with `force`); `final`: the work ended at `done` (perhaps early), drawn without an ETA."""
        force = force or final
        now = time.perf_counter()
        fraction = min(1.0, done / self.total)
        tenth = int(fraction * 10)
        if self.tty:
            if not force and now - self._last_draw < 0.1:
                return
        elif not force and tenth == self._last_tenth:
            return
        self._last_draw, self._last_tenth = now, tenth
        elapsed = now - self.start
        eta = elapsed / fraction - elapsed if fraction > 0 else float("nan")
        width = 24
        bar = "#" * int(fraction * width) + "." * (width - int(fraction * width))
        text = (f"{self.label} [{bar}] {done:,}/{self.total:,} {info}  {elapsed:5.1f} s"
                + (f", ETA {eta:4.0f} s" if fraction < 1 and eta == eta and not final else ""))
        if self.tty:
            self.stream.write("\r" + text.ljust(100))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self, done: Optional[int] = None, info: str = "") -> None:
        """End the line; with `done`, first draw where the work ended (no ETA: nothing is left)."""
        if done is not None:
            self.update(done, info, final=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
