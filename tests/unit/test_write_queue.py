"""``FairLock``: the FIFO lock a process's SQLite writers queue in."""

from __future__ import annotations

import threading
import time

import pytest

from bot.errors import StorageBusyError
from bot.storage.write_queue import FairLock
from bot.write_patience import write_deadline


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


class _Interrupt(BaseException):
    """Stands for KeyboardInterrupt, which pytest itself would take as the user's."""


class _InterruptedWait(threading.Event):
    """A waiter's event whose wait ends in an interrupt: at once, or once handed over."""

    queued = threading.Event()  # set when a waiter starts waiting (it is in the queue then)
    after_handover = False

    def wait(self, timeout: float | None = None) -> bool:
        type(self).queued.set()
        if self.after_handover:
            super().wait(60)
        raise _Interrupt


def _interrupted_lock(*, after_handover: bool) -> tuple[FairLock, threading.Event]:
    class Wait(_InterruptedWait):
        queued = threading.Event()

    Wait.after_handover = after_handover

    class Lock(FairLock):
        _event = Wait

    return Lock(), Wait.queued


def _holder(lock: FairLock) -> tuple[threading.Thread, threading.Event]:
    """A thread holding ``lock`` until the returned event is set."""
    taken, done = threading.Event(), threading.Event()

    def hold() -> None:
        lock.acquire(1)
        taken.set()
        done.wait(60)
        lock.release()

    thread = threading.Thread(target=hold)
    thread.start()
    assert taken.wait(60)
    return thread, done


def test_a_waiter_interrupted_while_queued_leaves_the_queue() -> None:
    lock, _ = _interrupted_lock(after_handover=False)
    thread, done = _holder(lock)
    with pytest.raises(_Interrupt):
        lock.acquire(60)
    assert lock.waiting == 0
    done.set()
    thread.join(60)
    assert _in_thread(lock, 0) is None  # free: no dead entry ahead of a new asker


def test_a_waiter_interrupted_as_the_lock_reaches_it_hands_it_on() -> None:
    lock, queued = _interrupted_lock(after_handover=True)
    thread, done = _holder(lock)
    outcome: list[BaseException] = []

    def interrupted() -> None:
        try:
            lock.acquire(60)
        except _Interrupt as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=interrupted)
    waiter.start()
    assert queued.wait(60)
    done.set()  # hands the lock to the waiter, whose wait then ends in the interrupt
    thread.join(60)
    waiter.join(60)
    assert len(outcome) == 1
    assert _in_thread(lock, 0) is None  # handed on and freed, not owned by the dead waiter


def test_a_deadline_shortens_the_wait() -> None:
    lock = FairLock()
    lock.acquire(1)
    outcome: list[BaseException] = []

    def run() -> None:
        with write_deadline(time.monotonic() - 1):  # already past: refused at once
            try:
                lock.acquire(300)
            except StorageBusyError as exc:
                outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert lock.waiting == 0
    lock.release()
