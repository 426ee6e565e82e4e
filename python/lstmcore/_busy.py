"""One object, one thread at a time: the GIL is released while the core computes, so two Python
threads could otherwise enter the same network at once. A call that finds its object busy is
refused at once with a RuntimeError (it does not wait). Separate objects run in parallel."""
from __future__ import annotations

import functools
import threading
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def new_lock() -> threading.Lock:
    return threading.Lock()


def exclusive(method: F) -> F:
    """Run `method` holding the object's `_busy` lock; refuse if another thread holds it."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        lock = self._busy
        if not lock.acquire(blocking=False):
            raise RuntimeError(f"{type(self).__name__}.{method.__name__}: this object is in use by another thread; "
                               "use one object per thread (or serialize the calls with a lock of your own)")
        try:
            return method(self, *args, **kwargs)
        finally:
            lock.release()

    return wrapper  # type: ignore[return-value]
