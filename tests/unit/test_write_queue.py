"""``FairLock``: the FIFO lock a process's SQLite writers queue in."""

from __future__ import annotations

import threading

import pytest

from bot.errors import StorageBusyError
from bot.storage.write_queue import FairLock


def _in_thread(lock: FairLock, timeout: float) -> BaseException | None:
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            lock.acquire(timeout)
        except StorageBusyError as exc:
            outcome.append(exc)
        else:
            outcome.append(None)
            lock.release()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    return outcome[0]


def test_a_waiter_whose_time_runs_out_is_refused_and_leaves_the_queue() -> None:
    lock = FairLock()
    lock.acquire(1)
    refused = _in_thread(lock, 0)
    assert isinstance(refused, StorageBusyError)
    assert "database is locked" in str(refused)
    assert lock.waiting == 0
    lock.release()
    assert _in_thread(lock, 0) is None  # free again


def test_only_the_holder_releases() -> None:
    lock = FairLock()
    with pytest.raises(RuntimeError):
        lock.release()
    lock.acquire(1)
    refused: list[bool] = []

    def stranger() -> None:
        try:
            lock.release()
        except RuntimeError:
            refused.append(True)

    thread = threading.Thread(target=stranger)
    thread.start()
    thread.join(60)
    assert refused == [True]
    lock.release()
    assert _in_thread(lock, 0) is None
