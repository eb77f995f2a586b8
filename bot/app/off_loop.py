"""Blocking work run off the event loop, so chat commands are answered meanwhile.

A cycle's synchronous steps (reading the history, scoring, the diff, building messages,
the one transaction that stores it all) take tens of milliseconds for hundreds of symbols.
Run on the event loop, they would make every command arriving meanwhile wait as long.

Run in a thread, they still hold the GIL while they compute: each time the loop's thread
lets it go (every SQLite statement of a command) it waits up to the interpreter's switch
interval to get it back. So while any such work is in flight the interval is shortened
(``SWITCH_INTERVAL_S``) and put back when the last one ends: a command's few statements
then wait a fraction of a millisecond each, not 5 ms. The worker pays only when the loop's
thread asks for the GIL (an idle loop waits in ``select`` without it).

Writes asked on the loop (a command's setting, delivery's outbox claim and outcomes) go
through ``write_off_loop``: on a SQLite file a writer waits its turn in the process's write
queue (``bot.storage.write_queue``) behind a cycle's transaction, and on the loop's thread
that wait would stall every command and send. They run on a few threads of their own, not
the loop's default executor: that one carries the cycles' compute and store steps, the
aggregate's reads and backfills, and a write must not wait for a thread behind them before
it can even queue for the lock in the order it was asked.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from bot.write_patience import write_deadline

P = ParamSpec("P")
R = TypeVar("R")

SWITCH_INTERVAL_S = 0.0005
"""The switch interval while work runs off the loop (CPython's default is 0.005 s)."""


class _Switching:
    """Shortens the switch interval while at least one piece of work is in flight."""

    def __init__(self) -> None:
        self.in_flight = 0
        self._before = sys.getswitchinterval()

    def enter(self) -> None:
        if self.in_flight == 0:
            self._before = sys.getswitchinterval()
            sys.setswitchinterval(min(self._before, SWITCH_INTERVAL_S))
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            sys.setswitchinterval(self._before)


_switching = _Switching()


WRITERS = 4
"""Threads for ``write_off_loop``. On a SQLite file the write queue lets one write in at a
time anyway; a few threads keep a command's write from waiting for a thread behind a batch
of delivery's (16 chats are served at once), and let PostgreSQL run a few side by side."""

_writers: ThreadPoolExecutor | None = None
_writers_mutex = threading.Lock()


def _forget_writers() -> None:
    # A forked child has none of the parent's threads: it makes a pool of its own if it writes.
    global _writers
    _writers = None


os.register_at_fork(after_in_child=_forget_writers)


def _writer_pool() -> ThreadPoolExecutor:
    global _writers
    with _writers_mutex:
        if _writers is None:
            _writers = ThreadPoolExecutor(WRITERS, thread_name_prefix="dps-write")
        return _writers


async def off_loop(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``func(*args, **kwargs)`` in a worker thread; its result, or its exception raised here.

    A thread cannot be stopped. When the awaiting task is cancelled, this waits for ``func``
    to end before the cancellation goes on (its result or error is then dropped): whoever
    cancelled and awaits the task (a shutdown that closes the database next) never races a
    transaction still under way in the thread.
    """
    return await _run(None, functools.partial(func, *args, **kwargs))


async def write_off_loop(
    patience: float | None, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
) -> R:
    """``func(*args, **kwargs)``, a function that writes, on a writer thread (as ``off_loop``).

    Args:
        patience: seconds from now its writes may wait in the write queue in all (a
            command's: the user hears "busy" then); None: a worker thread's usual wait.
    """
    call = functools.partial(func, *args, **kwargs)
    if patience is not None:
        call = functools.partial(_within, time.monotonic() + patience, call)
    return await _run(_writer_pool(), call)


def _within(deadline: float, call: Callable[[], R]) -> R:
    with write_deadline(deadline):
        return call()


async def _run(executor: Executor | None, call: Callable[[], R]) -> R:
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()  # as asyncio.to_thread does
    work = loop.run_in_executor(executor, context.run, call)
    cancelled = False
    _switching.enter()
    try:
        while not work.done():
            try:
                await asyncio.wait((work,))
            except asyncio.CancelledError:
                cancelled = True
    finally:
        _switching.leave()
    if cancelled:
        work.exception()  # retrieved: the cancellation is the outcome now, not this
        raise asyncio.CancelledError
    return work.result()
