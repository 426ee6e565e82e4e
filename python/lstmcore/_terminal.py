"""Markdown tables as aligned text that fits the terminal, for the CLI's output.

``terminal_tables(text, width)``: every markdown table in ``text`` (consecutive lines that start
with ``|``) becomes aligned columns separated by two spaces, without the ``|---|`` line; when a
table is wider than ``width`` (default: the terminal's width, 100 when it is not a terminal), the
widest columns are cut, their cells ending in ``~``, down to at least 6 characters each. Other
lines pass unchanged. The markdown reports written to files keep their markdown.
"""
import shutil
from typing import List, Optional

MIN_COLUMN = 6


def _cells(line: str) -> List[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _is_separator(cells: List[str]) -> bool:
    return all(c and set(c) <= set("-:") for c in cells)


def _format(rows: List[List[str]], width: int) -> List[str]:
    n = max(len(r) for r in rows)
    rows = [r + [""] * (n - len(r)) for r in rows]
    widths = [max(len(r[j]) for r in rows) for j in range(n)]
    # total = sum(widths) + 2 * (n - 1); cut the widest column by one until it fits or none can shrink
    while sum(widths) + 2 * (n - 1) > width:
        j = max(range(n), key=lambda k: widths[k])
        if widths[j] <= MIN_COLUMN:
            break
        widths[j] -= 1

    def cut(text: str, w: int) -> str:
        return text if len(text) <= w else text[: w - 1] + "~"

    return ["  ".join(cut(c, widths[j]).ljust(widths[j]) for j, c in enumerate(r)).rstrip() for r in rows]


def terminal_tables(text: str, width: Optional[int] = None) -> str:
    """``text`` with its markdown tables aligned to fit ``width`` columns (see the module doc)."""
    if width is None:
        width = shutil.get_terminal_size((100, 24)).columns
    out: List[str] = []
    table: List[List[str]] = []
    for line in text.split("\n") + [""]:
        if line.lstrip().startswith("|"):
            cells = _cells(line)
            if not _is_separator(cells):
                table.append(cells)
            continue
        if table:
            out += _format(table, width)
            table = []
        out.append(line)
    return "\n".join(out[:-1])
