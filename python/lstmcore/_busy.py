"""One object, one thread at a time: the GIL is released while the core computes, so two Python
threads could otherwise enter the same network at once. A call that finds its object busy is
refused at once with a RuntimeError (it does not wait). Separate objects run in parallel.

The rule and its message live in the compiled core's bindings (cpp/bindings/common.hpp), which also
guard the stream and online steps; an object here holds a `_core.BusyFlag` and its public methods
take it for the whole call (a call of an LSTM spans several core calls)."""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

from . import _core

F = TypeVar("F", bound=Callable[..., Any])


def new_lock() -> _core.BusyFlag:
    return _core.BusyFlag()


def exclusive(method: F) -> F:
    """Run `method` holding the object's `_busy` flag; refuse if another thread holds it."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        flag = self._busy
        flag.enter(f"{type(self).__name__}.{method.__name__}")
        try:
            return method(self, *args, **kwargs)
        finally:
            flag.exit()

    return wrapper  # type: ignore[return-value]
