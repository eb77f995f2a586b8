"""One lock around every in-memory store, as a database serialises its transactions.

The collection cycle calls its ports from a worker thread (``bot.app.off_loop``) while the
event loop's thread may call them too (a command, a delivery). A fake store's method is
several dict and list operations, and ``FakeCycleStore.save_cycle`` checkpoints and
restores four stores: interleaved with another thread's call, either would see or leave a
half-done state that no SQL transaction can show.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

C = TypeVar("C", bound=type)

# Re-entrant: a fake's method calls other fakes' (save_cycle stores through all of them).
LOCK = threading.RLock()


def serialised(cls: C) -> C:
    """Make every public method of ``cls`` hold ``LOCK`` while it runs."""
    for name, attr in list(vars(cls).items()):
        if name.startswith("_") or not inspect.isfunction(attr):  # plain methods only
            continue
        setattr(cls, name, _locked(attr))
    return cls


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with LOCK:
            return method(*args, **kwargs)

    return locked
