"""One read of the store's mark for every request already waiting on the web's event loop.

Each request asks the store whether a cycle was stored since (``ScoreStore.score_mark``,
through ``Queries``), so that a page never shows an older market than the store holds.
That read costs about a millisecond of the interpreter; under a burst, hundreds of them a
second were most of the server's work. A read is now shared by the requests whose
handlers were already queued on the loop when it was made: those requests had arrived
before it began, so the mark it returned is one the store held while each of them was
open — the same guarantee as a read of their own. A request queued after it reads again.

The thread preparing the common views (``bot.web.prepared``) pins the marks instead
(``pinned``): one read per market for the whole preparation, so every body it makes shows
the same market.

Score cards (``/api/v1/score``, the symbol page) are kept while the mark stays put, as
``Queries`` keeps the market: a card is read again once a cycle moved the mark. Only a
mark read for the request asking is trusted for that, never one left from earlier.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta

from bot.core.models import Bias, Regime
from bot.core.records import ScoreCard, ScoreMark, ScoreRecord
from bot.ports import BandSeries, ScoreAt, ScoreStore


class SharedMarkReads:
    """``inner`` with ``score_mark`` shared as the module docstring says; the rest passed on."""

    def __init__(self, inner: ScoreStore) -> None:
        self._inner = inner
        self._kept: tuple[asyncio.AbstractEventLoop, tuple[str, timedelta], ScoreMark | None] | None = None
        self._cards_mark: ScoreMark | None = None
        self._cards: dict[tuple[str, str, timedelta], ScoreCard | None] = {}
        self._pinned: dict[tuple[str, timedelta], ScoreMark | None] | None = None
        self.reads = 0
        """How many marks were read from the store (for tests and benches)."""

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """Within it, off any event loop, each market's mark is read once and then reused.

        For the one thread that prepares views with this instance (never shared with a loop's
        requests): its views then all come from one mark, one read each.
        """
        self._pinned = {}
        try:
            yield
        finally:
            self._pinned = None

    def score_mark(self, exchange: str, window: timedelta) -> ScoreMark | None:
        """The store's mark: the one read for the requests queued with this one, or read now."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not serving: nothing to share with, unless pinned
            pinned = self._pinned
            if pinned is None:
                return self._read(exchange, window)
            if (exchange, window) not in pinned:
                pinned[exchange, window] = self._read(exchange, window)
            return pinned[exchange, window]
        kept = self._kept
        if kept is not None and kept[0] is loop and kept[1] == (exchange, window):
            return kept[2]
        mark = self._read(exchange, window)
        self._kept = (loop, (exchange, window), mark)
        # Runs after every callback queued so far (the handlers of requests already read
        # off their sockets) and before any queued later.
        loop.call_soon(self._forget, self._kept)
        return mark

    def _read(self, exchange: str, window: timedelta) -> ScoreMark | None:
        self.reads += 1
        return self._inner.score_mark(exchange, window)

    def _forget(self, kept: object) -> None:
        if self._kept is kept:
            self._kept = None

    def latest_scores(
        self,
        exchange: str,
        *,
        since: datetime,
        bias: Bias | None = None,
        regimes: Collection[Regime] | None = None,
        limit: int | None = None,
    ) -> list[ScoreRecord]:
        """As ``ScoreStore.latest_scores``."""
        return self._inner.latest_scores(exchange, since=since, bias=bias, regimes=regimes, limit=limit)

    def score_at_many(
        self,
        exchange: str,
        at: datetime,
        tolerance: timedelta,
        symbols: Collection[str] | None = None,
    ) -> dict[str, ScoreRecord]:
        """As ``ScoreStore.score_at_many``."""
        return self._inner.score_at_many(exchange, at, tolerance, symbols)

    def score_card(self, exchange: str, symbol: str, *, tolerance: timedelta) -> ScoreCard | None:
        """As ``ScoreStore.score_card``; kept while the mark read for this request stays put."""
        kept = self._kept
        if kept is None or kept[2] is None or kept[1][0] != exchange or not _running(kept[0]):
            return self._inner.score_card(exchange, symbol, tolerance=tolerance)
        if kept[2] != self._cards_mark:
            self._cards_mark, self._cards = kept[2], {}
        key = (exchange, symbol, tolerance)
        if key not in self._cards:
            self._cards[key] = self._inner.score_card(exchange, symbol, tolerance=tolerance)
        return self._cards[key]

    def scores_at(self, wanted: Sequence[ScoreAt], tolerance: timedelta) -> list[ScoreRecord | None]:
        """As ``ScoreStore.scores_at``."""
        return self._inner.scores_at(wanted, tolerance)

    def past_scores(
        self,
        exchange: str,
        newest: Mapping[str, datetime],
        ago: Sequence[timedelta],
        tolerance: timedelta,
    ) -> dict[str, tuple[ScoreRecord | None, ...]]:
        """As ``ScoreStore.past_scores``."""
        return self._inner.past_scores(exchange, newest, ago, tolerance)

    def score_history(self, exchange: str, symbol: str, start: datetime, end: datetime) -> list[ScoreRecord]:
        """As ``ScoreStore.score_history``."""
        return self._inner.score_history(exchange, symbol, start, end)

    def band_history(
        self,
        exchange: str,
        start: datetime,
        end: datetime,
        symbols: Collection[str] | None = None,
        *,
        every: timedelta,
        slot: timedelta,
    ) -> BandSeries:
        """As ``ScoreStore.band_history``."""
        return self._inner.band_history(exchange, start, end, symbols, every=every, slot=slot)


def _running(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
