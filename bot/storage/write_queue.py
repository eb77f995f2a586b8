"""One SQLite file's writers of one process, queued in Python rather than in SQLite.

SQLite's busy handler polls with growing sleeps and serves nobody in order: with three
venues' cycles and their backfills writing through one engine, a writer could lose every
poll to the others and fail with "database is locked" once its busy timeout ran out.
``write_transaction`` (``bot.storage.db``) takes this lock before BEGIN IMMEDIATE and
gives it back after the COMMIT or ROLLBACK, so the process's writers reach SQLite one
at a time, in the order they asked. Readers never take it (WAL serves them meanwhile);
writers of other processes still meet at SQLite's own lock, under ``BUSY_TIMEOUT_S``.
"""

from __future__ import annotations

import threading
from collections import deque

from bot.errors import StorageBusyError


class FairLock:
    """A FIFO lock: released, it goes to the thread that has waited longest.

    Not reentrant: a thread already holding it that asks again is refused at once
    (a nested write transaction would wait for itself until the timeout).
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._waiters: deque[tuple[int, threading.Event]] = deque()

    @property
    def waiting(self) -> int:
        """Threads queued for the lock now."""
        with self._mutex:
            return len(self._waiters)

    def acquire(self, timeout: float) -> None:
        """Take the lock, waiting behind earlier askers at most ``timeout`` seconds.

        Raises:
            StorageBusyError: the wait timed out, or this thread holds the lock already.
        """
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                raise StorageBusyError("a write transaction was begun inside another one on the same thread")
            if self._owner is None and not self._waiters:
                self._owner = me
                return
            handed = threading.Event()
            self._waiters.append((me, handed))
        if handed.wait(timeout):
            return
        with self._mutex:
            if handed.is_set():  # handed over just as the wait gave up: it is ours
                return
            self._waiters.remove((me, handed))
        raise StorageBusyError(f"database is locked: waited {timeout:g} s for this process's other writers")

    def release(self) -> None:
        """Hand the lock to the longest waiter, or free it."""
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("FairLock released by a thread that does not hold it")
            if self._waiters:
                self._owner, handed = self._waiters.popleft()
                handed.set()
            else:
                self._owner = None
