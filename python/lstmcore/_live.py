"""LiveArrays: a read-only mapping of names to the live arrays a layer, its streams, online trainers
and optimizers share.

The arrays are the ones the core reads (and, for gradients, writes) at every call; a stream or an
online trainer holds them from its creation. Rebinding a name (``p[k] = p[k] - lr * g``) would
give the owner a new array that nobody else sees, so the mapping refuses it and says how to
change the values in place instead (augmented assignment, ``p[k] -= d``, changes the array in
place and stores the same object back, which is allowed). The arrays themselves are writeable: ``p[k] -= lr * g``,
``p[k][...] = new`` and ``np.copyto(p[k], new)`` reach every consumer at its next call.
"""
from __future__ import annotations

from typing import Dict, Iterator, Mapping

import numpy as np


class LiveArrays(Mapping[str, np.ndarray]):
    """A read-only view of name -> live array (the arrays themselves are not copies)."""

    __slots__ = ("_arrays", "_what")

    def __init__(self, arrays: Dict[str, np.ndarray], what: str) -> None:
        self._arrays = arrays
        self._what = what  # e.g. "parameters()", for the messages

    def __getitem__(self, name: str) -> np.ndarray:
        return self._arrays[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    def __contains__(self, name: object) -> bool:
        return name in self._arrays

    def __setitem__(self, name: str, value: object) -> None:
        # ``p[k] -= d`` changes the array in place and then stores the same object back: allowed.
        if name in self._arrays and value is self._arrays[name]:
            return
        raise TypeError(f"{self._what}[{name!r}]: the entries are the live arrays that forward, streams, online "
                        "trainers and optimizers share, and cannot be rebound (a new array would be seen by none "
                        f"of them); change the values in place instead: {self._what}[{name!r}] -= lr * grad, "
                        f"{self._what}[{name!r}][...] = new, or load_state_dict")

    def __delitem__(self, name: str) -> None:
        raise TypeError(f"{self._what}[{name!r}]: entries cannot be removed")

    def __repr__(self) -> str:
        return f"LiveArrays({self._what}: {', '.join(f'{k} {v.shape}' for k, v in self._arrays.items())})"
