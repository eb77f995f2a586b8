"""Blocking work run off the event loop, so chat commands are answered meanwhile.

A cycle's synchronous steps (reading the history, scoring, the diff, building messages,
the one transaction that stores it all) take tens of milliseconds for hundreds of symbols.
Run on the event loop, they would make every command arriving meanwhile wait as long.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


async def off_loop(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``func(*args, **kwargs)`` in a worker thread; its result, or its exception raised here.

    A thread cannot be stopped. When the awaiting task is cancelled, this waits for ``func``
    to end before the cancellation goes on (its result or error is then dropped): whoever
    cancelled and awaits the task (a shutdown that closes the database next) never races a
    transaction still under way in the thread.
    """
    work = asyncio.ensure_future(asyncio.to_thread(func, *args, **kwargs))
    cancelled = False
    while not work.done():
        try:
            await asyncio.wait((work,))
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        work.exception()  # retrieved: the cancellation is the outcome now, not this
        raise asyncio.CancelledError
    return work.result()
