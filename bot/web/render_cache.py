"""Rendered bodies kept per view of one stored market, rendered once and off the event loop.

A 500-row table takes tens of milliseconds to render; rendering it for every request made
the server fall behind at a few dozen requests a second. A body depends only on the market
(``Queries``' mark: it moves when a cycle is stored, by this process or another), the view
(filter, search, sort) and what the clock adds (the STALE line and its age), so the key is
exactly those: a new cycle or a staleness step is a new key, never a stale hit.

Bounded by bytes, least recently used first out: one entry per view asked since the last
cycle, a few hundred kilobytes each.
"""

from __future__ import annotations

import asyncio
import gzip
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from bot.app.off_loop import off_loop
from bot.web.http_cache import etag_of, gzip_etag

MAX_BYTES = 16 * 1024 * 1024
"""Dozens of full 500-symbol tables; many more filtered or searched ones."""


GZIP_MIN_BYTES = 1024
"""Smaller bodies are sent as they are: the saving would not pay for the header."""
GZIP_LEVEL = 6
"""zlib's default: a 200 KB table in a few milliseconds, about a tenth of its size."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A body, its strong validator and its gzip encoding, each made once (in the rendering
    thread), never per request. ``gzipped`` is ``None`` for a body too small to compress."""

    body: bytes
    etag: str
    gzipped: bytes | None = None
    gzip_etag: str = ""

    @staticmethod
    def of(body: bytes) -> Rendered:
        """``body`` with its ETag, and gzipped when it is worth it."""
        tag = etag_of(body)
        if len(body) < GZIP_MIN_BYTES:
            return Rendered(body, tag)
        # mtime=0: the same body always compresses to the same bytes (one ETag per encoding).
        return Rendered(body, tag, gzip.compress(body, GZIP_LEVEL, mtime=0), gzip_etag(tag))


class RenderCache:
    """Bodies by key, each rendered once in a worker thread (see the module docstring).

    Used from one event loop. Requests that miss the same key while it renders wait for that
    one rendering rather than starting their own.
    """

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._done: OrderedDict[Hashable, Rendered] = OrderedDict()
        self._pending: dict[Hashable, asyncio.Future[Rendered]] = {}
        self.renders = 0
        """How many bodies were rendered (misses), for tests and benches."""

    def peek(self, key: Hashable) -> Rendered | None:
        """The body kept for ``key``, if any (what a request can answer without reading more)."""
        found = self._done.get(key)
        if found is not None:
            self._done.move_to_end(key)
        return found

    async def get(self, key: Hashable, render: Callable[[], bytes]) -> Rendered:
        """The body for ``key``: kept, being rendered, or ``render()`` run off the loop now.

        ``render``'s exception reaches every request waiting on it; nothing is kept then.
        """
        found = self.peek(key)
        if found is not None:
            return found
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        # off_loop: the switch interval is shortened while it renders (see bot.web.prepared).
        work = asyncio.ensure_future(off_loop(_rendered, render))
        self._pending[key] = work
        work.add_done_callback(lambda done: self._finish(key, done))
        # shield: one waiter's cancellation (a client gone) must not cancel the others'.
        return await asyncio.shield(work)

    def _finish(self, key: Hashable, work: asyncio.Future[Rendered]) -> None:
        del self._pending[key]
        if work.cancelled() or work.exception() is not None:
            return
        self.renders += 1
        self._keep(key, work.result())

    def _keep(self, key: Hashable, rendered: Rendered) -> None:
        size = len(rendered.body)
        if size > self._max_bytes:
            return
        old = self._done.pop(key, None)
        self._bytes += size - (0 if old is None else len(old.body))
        self._done[key] = rendered
        while self._bytes > self._max_bytes:
            _, dropped = self._done.popitem(last=False)
            self._bytes -= len(dropped.body)


def _rendered(render: Callable[[], bytes]) -> Rendered:
    return Rendered.of(render())
