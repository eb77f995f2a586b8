"""How long a write asked for by a user may wait for the database, across threads.

``bot.app`` may not import storage, and storage knows nothing of commands: the deadline
travels in a context variable that ``bot.app.off_loop.write_off_loop`` sets around the
write in its thread and the SQLite write queue (``bot.storage.write_queue``) reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("dps_write_deadline", default=None)


@contextmanager
def write_deadline(deadline: float) -> Iterator[None]:
    """Writes begun in the block wait in the queue at most until ``deadline``
    (``time.monotonic()``), whatever longer wait their transaction allows.

    A chat command's write runs in a worker thread (``bot.app.off_loop.write_off_loop``), where
    ``write_transaction`` would allow the worker's long wait: the user is answered
    "busy" within the command's patience instead, counted from when the command asked.
    """
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def write_deadline_now() -> float | None:
    """The deadline (``time.monotonic()``) of the ``write_deadline`` block around the caller."""
    return _deadline.get()
