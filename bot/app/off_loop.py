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

``lower_priority(n)`` (Linux) runs the work in threads of its own, niced by ``n``: on a
busy machine the other processes (the dashboard's) get the cores first. Off by default:
a niced thread still holds the GIL while it waits for a core, so the loop's commands can
wait for it too (bench/bench_web.py --worker-nice measures both).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

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
_niced: ThreadPoolExecutor | None = None


def can_lower_priority() -> bool:
    """Whether this system sets one thread's priority (Linux: a thread id is a process id)."""
    return sys.platform == "linux" and hasattr(os, "setpriority")


def _renice(by: int) -> None:
    tid = threading.get_native_id()
    os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + by)


def lower_priority(by: int) -> None:
    """Run later work in threads niced by ``by`` (0: back to asyncio's default threads).

    Raises:
        OSError: not Linux (``can_lower_priority``).
    """
    global _niced
    if by and not can_lower_priority():
        raise OSError("a thread's priority is set on Linux only")
    old, _niced = _niced, None
    if old is not None:
        old.shutdown(wait=False)
    if by:
        _niced = ThreadPoolExecutor(thread_name_prefix="off-loop", initializer=_renice, initargs=(by,))


def _start(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> asyncio.Future[R]:
    if _niced is None:
        return asyncio.ensure_future(asyncio.to_thread(func, *args, **kwargs))
    # As asyncio.to_thread does: the caller's context variables go with the call.
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    return asyncio.get_running_loop().run_in_executor(_niced, call)


async def off_loop(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``func(*args, **kwargs)`` in a worker thread; its result, or its exception raised here.

    A thread cannot be stopped. When the awaiting task is cancelled, this waits for ``func``
    to end before the cancellation goes on (its result or error is then dropped): whoever
    cancelled and awaits the task (a shutdown that closes the database next) never races a
    transaction still under way in the thread.
    """
    work = _start(func, *args, **kwargs)
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
