"""Embedded Reber grammar (Hochreiter & Schmidhuber 1997, Experiment 1, section 5.1).

The Reber graph (the paper, section 5.1), starting after the symbol ``B``::

    node 0: T -> 1 | P -> 5
    node 1: S -> 1 | X -> 2
    node 2: S -> end | X -> 5
    node 5: T -> 5 | V -> 4
    node 4: V -> end | P -> 2
    end   : E

An embedded Reber string is ``B, c, <Reber string B...E>, c, E`` with ``c`` in ``{T, P}``; the same
``c`` appears second and second-to-last, so predicting the symbol before last needs the second
symbol remembered across the whole inner string. Every choice is taken with probability 0.5. The
shortest string is ``BTBTXSETE`` (9 symbols); the mean length is exactly 12.

Symbols are coded locally (one-hot) in the order ``"BTPSXVE"``: 7 inputs and 7 outputs.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from .._validation import check_choice, check_dtype
from .batch import PackedBatch, check_batch_size, check_rng, one_hot_rows, pack_lengths

__all__ = ["EmbeddedReber"]

ALPHABET = "BTPSXVE"
_INDEX: Dict[str, int] = {s: i for i, s in enumerate(ALPHABET)}

_END = -1
# node -> ((symbol, next node), (symbol, next node)); each edge taken with probability 0.5.
_GRAPH: Dict[int, Tuple[Tuple[str, int], Tuple[str, int]]] = {
    0: (("T", 1), ("P", 5)),
    1: (("S", 1), ("X", 2)),
    2: (("S", _END), ("X", 5)),
    5: (("T", 5), ("V", 4)),
    4: (("V", _END), ("P", 2)),
}

_TARGET_MODES = ("next", "legal")

# The graph as tables for walks of many strings at once (sample_batch): node 6 is the end.
_END_NODE = 6
_EDGE_SYMBOL = np.zeros((7, 2), dtype=np.intp)
_EDGE_NEXT = np.full((7, 2), _END_NODE, dtype=np.intp)
for _node, _edges in _GRAPH.items():
    for _k, (_sym, _next) in enumerate(_edges):
        _EDGE_SYMBOL[_node, _k] = "BTPSXVE".index(_sym)
        _EDGE_NEXT[_node, _k] = _END_NODE if _next == _END else _next
#: node -> the legal next symbols there, as a 7-bit set (bit i: symbol i of "BTPSXVE"); the end: E
_NODE_LEGAL = np.array([(1 << _EDGE_SYMBOL[v, 0]) | (1 << _EDGE_SYMBOL[v, 1]) if v in _GRAPH else 0
                        for v in range(7)], dtype=np.int64)
_NODE_LEGAL[_END_NODE] = 1 << 6
del _node, _edges, _k, _sym, _next


def _check_string(string: object, name: str = "string") -> str:
    if not isinstance(string, str):
        raise TypeError(f"{name}: expected a str of symbols from {ALPHABET!r}, got {type(string).__name__}")
    bad = sorted(set(string) - set(ALPHABET))
    if bad:
        raise ValueError(f"{name}: symbols must be from {ALPHABET!r}, got {''.join(bad)!r} in {string!r}")
    return string


def _successor_sets(string: str) -> List[str]:
    """Legal successors after each prefix of a complete embedded Reber string.

    Returns a list of ``len(string) - 1`` strings; entry ``t`` holds the symbols the grammar allows
    at position ``t + 1`` given ``string[:t + 1]``. Raises ValueError (naming the first offending
    position) if ``string`` is not a complete embedded Reber string.
    """
    n = len(string)
    out: List[str] = []

    def fail(pos: int, allowed: str) -> None:
        if pos >= n:
            raise ValueError(
                f"string: {string!r} is not an embedded Reber string: it ends after {n} symbols, "
                f"expected one of {allowed!r} next"
            )
        raise ValueError(
            f"string: {string!r} is not an embedded Reber string: symbol {pos} is {string[pos]!r}, "
            f"expected one of {allowed!r}"
        )

    # Outer prefix: B, c, B
    if n < 1 or string[0] != "B":
        fail(0, "B")
    out.append("TP")
    if n < 2 or string[1] not in "TP":
        fail(1, "TP")
    c = string[1]
    out.append("B")
    if n < 3 or string[2] != "B":
        fail(2, "B")
    node = 0
    pos = 3
    out.append("".join(sym for sym, _ in _GRAPH[node]))
    # Inner Reber path.
    while node != _END:
        edges = dict(_GRAPH[node])
        allowed = "".join(edges)
        if pos >= n or string[pos] not in edges:
            fail(pos, allowed)
        node = edges[string[pos]]
        out.append("E" if node == _END else "".join(sym for sym, _ in _GRAPH[node]))
        pos += 1
    # Inner E, then c, then E.
    for expected, following in (("E", c), (c, "E"), ("E", None)):
        if pos >= n or string[pos] != expected:
            fail(pos, expected)
        if following is not None:
            out.append(following)
        pos += 1
    if pos != n:
        raise ValueError(
            f"string: {string!r} is not an embedded Reber string: it is complete after {pos} symbols "
            f"but has {n}"
        )
    return out


def _legal_rows(sets: List[str]) -> np.ndarray:
    legal = np.zeros((len(sets), len(ALPHABET)), dtype=bool)
    for t, allowed in enumerate(sets):
        for sym in allowed:
            legal[t, _INDEX[sym]] = True
    return legal


class EmbeddedReber:
    """Embedded Reber grammar task (1997 paper, Experiment 1).

    The network reads one symbol per step and predicts the next one. A sequence of a string of
    length ``n`` has ``L = n - 1`` steps: the input at step ``t`` is symbol ``t`` and the target is
    (a coding of) symbol ``t + 1``.

    Parameters
    ----------
    targets : {"next", "legal"}, default "next"
        Target coding. ``"next"``: one-hot code of the actual next symbol (the natural reading of
        "predict the next symbol"). ``"legal"``: every symbol the grammar allows next is 1, the
        others 0 (an alternative reading; the paper does not say which it used).
    dtype : numpy float dtype, default numpy.float64
        dtype of ``x`` and ``target`` returned by :meth:`sample` and :meth:`encode`.

    Attributes
    ----------
    n_in, n_out : int
        7 and 7 (local coding of ``alphabet``).
    alphabet : str
        ``"BTPSXVE"``; symbol ``alphabet[i]`` is input/output unit ``i``.
    targets : str
        The target coding chosen.

    Examples
    --------
    >>> task = EmbeddedReber()
    >>> rng = np.random.default_rng(0)
    >>> x, target, mask = task.sample(rng)          # x, target: (L, 7); mask: (L,) bool
    >>> task.legal_next("BTBTXSETE").shape
    (8, 7)
    """

    alphabet: str = ALPHABET
    n_in: int = len(ALPHABET)
    n_out: int = len(ALPHABET)
    #: Length of the shortest embedded Reber string ("BTBTXSETE").
    min_length: int = 9
    #: Exact mean length of an embedded Reber string.
    mean_length: float = 12.0

    def __init__(self, targets: str = "next", *, dtype=np.float64) -> None:
        self.targets = check_choice("targets", targets, _TARGET_MODES)
        self.dtype = check_dtype("dtype", dtype)

    def __repr__(self) -> str:
        return f"EmbeddedReber(targets={self.targets!r}, dtype={self.dtype.name})"

    # ------------------------------------------------------------------ generation
    def sample_string(self, rng: np.random.Generator) -> str:
        """Draw one embedded Reber string.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness; every binary choice uses one ``rng.random()`` draw (< 0.5 takes
            the first edge listed in the graph).

        Returns
        -------
        str
            A complete string ``"B" + c + "B...E" + c + "E"`` of length >= 9.
        """
        rng = check_rng(rng)
        c = "T" if rng.random() < 0.5 else "P"
        parts = ["B", c, "B"]
        node = 0
        while node != _END:
            sym, node = _GRAPH[node][0 if rng.random() < 0.5 else 1]
            parts.append(sym)
        parts += ["E", c, "E"]
        return "".join(parts)

    def sample_batch(self, rng: np.random.Generator, n: int) -> PackedBatch:
        """Draw n sequences at once, packed back to back (see :class:`~lstmcore.tasks.batch.PackedBatch`).

        All n strings walk the graph together, one ``rng.random(n)`` draw per step of the longest
        inner string, so each has the distribution of :meth:`sample_string` (the random numbers
        are used in another order). ``info`` holds ``second`` (n,), the index of the second symbol (T or
        P), and ``inner_length`` (n,), the symbols of the inner string after its B up to its E.
        """
        rng = check_rng(rng)
        n = check_batch_size(n, 3 * len(ALPHABET) * self.dtype.itemsize, 12)
        B, E = _INDEX["B"], _INDEX["E"]
        c = np.where(rng.random(n) < 0.5, _INDEX["T"], _INDEX["P"])
        # inner Reber strings after their B: symbols and the node reached after each
        node = np.zeros(n, dtype=np.intp)
        inner_symbols, inner_nodes = [], []
        active = np.ones(n, dtype=bool)
        while active.any():
            choice = (rng.random(n) >= 0.5).astype(np.intp)  # < 0.5 takes the first edge
            inner_symbols.append(np.where(active, _EDGE_SYMBOL[node, choice], -1))
            node = np.where(active, _EDGE_NEXT[node, choice], node)
            inner_nodes.append(node)
            active &= node != _END_NODE
        inner = np.stack(inner_symbols, axis=1)             # (n, longest inner), -1 past the end
        nodes = np.stack(inner_nodes, axis=1)
        m = (inner >= 0).sum(axis=1)                          # inner symbols after B, E excluded
        width = inner.shape[1] + 6
        # whole strings B c B inner E c E, padded with -1: (n, width)
        full = np.full((n, width), -1, dtype=np.intp)
        full[:, 0], full[:, 1], full[:, 2] = B, c, B
        full[:, 3:3 + inner.shape[1]] = inner
        rows = np.arange(n)
        full[rows, 3 + m], full[rows, 4 + m], full[rows, 5 + m] = E, c, E
        L = m + 5                                             # steps: every symbol but the last
        offsets, seq, pos, _ = pack_lengths(L)
        x = one_hot_rows(full[seq, pos], len(ALPHABET), self.dtype)
        if self.targets == "next":
            target = one_hot_rows(full[seq, pos + 1], len(ALPHABET), self.dtype)
        else:
            # legal next symbols after step j: {T,P} after B, {B} after c, the inner node's edges
            # after the inner B and every inner symbol (E at the end), {c} after the inner E, {E} after c
            legal = np.zeros((n, width), dtype=np.int64)
            legal[:, 0] = (1 << _INDEX["T"]) | (1 << _INDEX["P"])
            legal[:, 1] = 1 << B
            legal[:, 2] = _NODE_LEGAL[0]
            legal[:, 3:3 + inner.shape[1]] = _NODE_LEGAL[nodes]
            legal[rows, 3 + m] = 1 << c
            legal[rows, 4 + m] = 1 << E
            bits = legal[seq, pos]
            target = ((bits[:, None] >> np.arange(len(ALPHABET))) & 1).astype(self.dtype)
        return PackedBatch(x, target, np.ones(len(x), dtype=bool), offsets, target, dict(second=c, inner_length=m))

    def sample(self, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw one sequence: ``encode(sample_string(rng))``.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness.

        Returns
        -------
        x : ndarray, shape (L, 7)
            One-hot inputs: the string without its last symbol.
        target : ndarray, shape (L, 7)
            Targets for every step (see ``targets``).
        mask : ndarray of bool, shape (L,)
            All True: a prediction is scored at every step.
        """
        return self.encode(self.sample_string(rng))

    # ------------------------------------------------------------------ coding
    def one_hot(self, string: str) -> np.ndarray:
        """Local code of a string of symbols.

        Parameters
        ----------
        string : str, length n
            Symbols from ``alphabet`` (no grammar check).

        Returns
        -------
        ndarray, shape (n, 7), dtype ``self.dtype``
        """
        _check_string(string)
        out = np.zeros((len(string), len(ALPHABET)), dtype=self.dtype)
        if string:
            out[np.arange(len(string)), [_INDEX[s] for s in string]] = 1
        return out

    def encode(self, string: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Turn a complete embedded Reber string into one training sequence.

        Parameters
        ----------
        string : str, length n >= 9
            A complete embedded Reber string; anything else raises ValueError.

        Returns
        -------
        x : ndarray, shape (n - 1, 7)
            One-hot code of ``string[:-1]``.
        target : ndarray, shape (n - 1, 7)
            ``targets="next"``: one-hot code of ``string[1:]``; ``targets="legal"``: the rows of
            :meth:`legal_next` as 0/1.
        mask : ndarray of bool, shape (n - 1,)
            All True.
        """
        legal = self.legal_next(string)
        x = self.one_hot(string[:-1])
        if self.targets == "next":
            target = self.one_hot(string[1:])
        else:
            target = legal.astype(self.dtype)
        mask = np.ones(len(string) - 1, dtype=bool)
        return x, target, mask

    def legal_next(self, string: str) -> np.ndarray:
        """Symbols the grammar allows next, at every step of a string's sequence.

        Parameters
        ----------
        string : str, length n >= 9
            A complete embedded Reber string; anything else raises ValueError.

        Returns
        -------
        ndarray of bool, shape (n - 1, 7)
            Row ``t`` marks the symbols that may follow ``string[:t + 1]``; it always contains
            ``string[t + 1]``. Row ``n - 3`` (the step that predicts the symbol before last) holds a
            single symbol, the string's second symbol: the long-lag part of the task.
        """
        _check_string(string)
        return _legal_rows(_successor_sets(string))

    def is_valid(self, string: str) -> bool:
        """Whether ``string`` (a str) is a complete embedded Reber string."""
        if not isinstance(string, str):
            raise TypeError(f"string: expected a str, got {type(string).__name__}")
        try:
            _check_string(string)
            _successor_sets(string)
        except ValueError:
            return False
        return True
