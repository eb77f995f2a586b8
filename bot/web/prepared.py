"""A value prepared ahead of the requests that want it, off the event loop, swapped in whole.

Bodies kept per store mark (``bot.web.render_cache``) all went stale at once when a cycle
was stored: the next requests for every view waited behind the store's re-read and the
re-rendering, tens of milliseconds while the cycle itself held a core. The views asked
most are prepared here instead, in a worker thread, as soon as a poll of the store (not a
request) shows a change; until the new value is complete, requests keep getting the
previous one. A value is one object assigned in one step on the loop's thread, so a
request sees the old one or the new one, never a mix.

Staleness: after a cycle is stored, requests get the previous value for at most one poll
interval plus one preparation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from bot.app.off_loop import off_loop
from bot.gc_policy import collector_paused

logger = logging.getLogger(__name__)

T = TypeVar("T")

POLL_S = 0.5
"""How often the store is asked whether something changed: one mark read in a thread."""


class Prepared(Generic[T]):
    """The latest value ``prepare`` made (see the module docstring).

    ``prepare(previous)`` runs in a worker thread: it returns a new value, or ``None`` when
    ``previous`` still holds (nothing changed, or nothing to show yet). ``first()`` runs once,
    on the loop's thread, when the first value is in.
    """

    def __init__(
        self,
        prepare: Callable[[T | None], T | None],
        *,
        every_s: float = POLL_S,
        first: Callable[[], None] | None = None,
    ) -> None:
        self._prepare = prepare
        self._every_s = every_s
        self._first = first
        self.current: T | None = None
        self.prepared = 0
        """How many values were made (for tests and benches)."""
        self._failing = False

    async def refresh(self) -> None:
        """Prepare once in a worker thread; the new value, if any, replaces the current one.

        A failure (the store did not answer) is logged once until a refresh succeeds again;
        the current value stays.
        """
        previous = self.current
        try:
            # off_loop: while it renders, the loop's thread gets the GIL back within half a
            # millisecond rather than CPython's 5 ms, so requests answered meanwhile do not
            # wait for the rendering a switch interval at a time.
            made = await off_loop(_without_collections, self._prepare, previous)
        except Exception:
            if not self._failing:
                logger.warning("preparing the dashboard's common views failed", exc_info=True)
            self._failing = True
            return
        self._failing = False
        if made is not None:
            self.current = made
            self.prepared += 1
            if self.prepared == 1 and self._first is not None:
                self._first()

    async def run(self) -> None:
        """Refresh every ``every_s`` seconds until cancelled."""
        while True:
            await self.refresh()
            await asyncio.sleep(self._every_s)


def _without_collections(prepare: Callable[[T | None], T | None], previous: T | None) -> T | None:
    """``prepare(previous)`` with the cyclic garbage collector held off (as a cycle holds it,
    ``collector_paused``): a preparation allocates thousands of rows and records, most alive
    until it ends, and the collections their counts set off would traverse them again and
    again, each holding the interpreter from the requests meanwhile (measured: young ones up
    to 15 ms, full ones 8 ms median under the bench). One collection after it takes them."""
    with collector_paused():
        return prepare(previous)
