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
import time
from collections import deque

from bot.errors import StorageBusyError
from bot.write_patience import write_deadline_now


class FairLock:
    """A FIFO lock: released, it goes to the thread that has waited longest.

    Not reentrant: a thread already holding it that asks again is refused at once
    (a nested write transaction would wait for itself until the timeout).
    """

    _event = threading.Event
    """What a waiter waits on (a test makes its wait interrupted)."""

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
        """Take the lock, waiting behind earlier askers at most ``timeout`` seconds
        (less when a ``bot.write_patience.write_deadline`` comes sooner).

        A wait that ends otherwise (a timeout, KeyboardInterrupt, any exception) leaves the
        queue, and hands the lock on if it was handed over meanwhile: later waiters are
        never stuck behind an entry nobody waits on.

        Raises:
            StorageBusyError: the wait timed out, or this thread holds the lock already.
        """
        deadline = write_deadline_now()
        if deadline is not None:
            timeout = max(0.0, min(timeout, deadline - time.monotonic()))
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                raise StorageBusyError("a write transaction was begun inside another one on the same thread")
            if self._owner is None and not self._waiters:
                self._owner = me
                return
            handed = self._event()
            self._waiters.append((me, handed))
        try:
            got = handed.wait(timeout)
        except BaseException:
            self._abandon(me, handed)
            raise
        if got:
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
            self._hand_on()

    def _abandon(self, me: int, handed: threading.Event) -> None:
        """A wait interrupted by an exception: out of the queue, or, if the lock was
        handed over meanwhile, on to the next waiter (the caller will never release it)."""
        with self._mutex:
            if handed.is_set():
                self._hand_on()
            else:
                self._waiters.remove((me, handed))

    def _hand_on(self) -> None:
        # Called with the mutex held.
        if self._waiters:
            self._owner, handed = self._waiters.popleft()
            handed.set()
        else:
            self._owner = None
