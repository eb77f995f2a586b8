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
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
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


async def off_loop(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``func(*args, **kwargs)`` in a worker thread; its result, or its exception raised here.

    A thread cannot be stopped. When the awaiting task is cancelled, this waits for ``func``
    to end before the cancellation goes on (its result or error is then dropped): whoever
    cancelled and awaits the task (a shutdown that closes the database next) never races a
    transaction still under way in the thread.
    """
    work = asyncio.ensure_future(asyncio.to_thread(func, *args, **kwargs))
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
