"""The read side of the command layer: what ``/top``, ``/score``, ``/chart`` and ``/status`` show.

"The market" is each symbol's newest score within two collection intervals of the newest
stored score: the latest cycle, tolerating a symbol that failed in it. It is read again
only when the store's ``ScoreMark`` moves (the newest score time and the count of scores
near it), so a cycle stored by another process shows at once, even when the exchange's
data clock did not advance; the mark is cheap to read on every command. Old scores are
still shown, marked STALE with their age, rather than hidden.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.app.arguments import TopArgs, TopFilter, echo
from bot.app.views import (
    ChartView,
    ErrorKind,
    ErrorReply,
    RankedRow,
    RankedTable,
    ScoreCardReply,
    StatusReply,
    Summary,
    TableReply,
    VenueStatus,
    summarise,
)
from bot.core.durations import age_text
from bot.core.models import Bias
from bot.core.records import ScoreMark, ScoreRecord
from bot.core.symbols import SymbolIndex
from bot.ports import OutboxStore, ScoreStore, SnapshotStore

NO_DATA = "No scores yet: the first collection has not finished. Try again in a few minutes."

CycleLine = Callable[[], str | None]
"""Returns a line about the latest collection cycle this process ran (``None``: none yet)."""

VenueCycleLine = Callable[[str], str | None]
"""Returns a line about one venue's latest collection cycle this process ran (``None``: none yet)."""


@dataclass(frozen=True, slots=True)
class LatestMarket:
    """The latest collection as stored.

    Attributes:
        as_of: the newest score time.
        records: each symbol's newest score, highest first (never empty).
        index: resolves typed names to the symbols in ``records``.
        mark: the store's mark this was read at.
        summary: average and bias counts over every record.
    """

    as_of: datetime
    records: tuple[ScoreRecord, ...]
    index: SymbolIndex
    mark: ScoreMark
    summary: Summary


def _matches(record: ScoreRecord, wanted: TopFilter | None) -> bool:
    result = record.result
    match wanted:
        case None:
            return True
        case TopFilter.LONG:
            return result.bias is Bias.LONG
        case TopFilter.SHORT:
            return result.bias is Bias.SHORT
        case TopFilter.SQUEEZE:
            return result.regime.is_squeeze_risk


_FILTER_TITLES = {
    TopFilter.LONG: "LONG bias",
    TopFilter.SHORT: "SHORT bias",
    TopFilter.SQUEEZE: "squeeze risk",
}


class Queries:
    """Read models over the score, snapshot and outbox stores for one exchange."""

    def __init__(
        self,
        scores: ScoreStore,
        snapshots: SnapshotStore,
        outbox: OutboxStore,
        *,
        exchange: str,
        source_label: str | None,
        band_floors: tuple[int, int, int],
        stale_after: timedelta,
        venues: Sequence[str] = (),
        venue_cycle: VenueCycleLine | None = None,
    ) -> None:
        self._scores = scores
        self._snapshots = snapshots
        self._outbox = outbox
        self._exchange = exchange
        self._label = source_label
        self._floors = band_floors
        self._stale_after = stale_after
        # Every venue the bot collects; ``/status`` lists each when there are several.
        self._venues = tuple(venues) if len(venues) > 1 else ()
        self._venue_cycle = venue_cycle
        self._cached: LatestMarket | None = None
        # /top's filtered records of the cached market, computed once per market and filter:
        # a command then ranks at most its limit, not every symbol.
        self._filtered: dict[TopFilter | None, tuple[ScoreRecord, ...]] = {}

    def _age(self, moment: datetime, now: datetime) -> tuple[timedelta, bool]:
        # A data time a little ahead of our clock (skew) is fresh, not negative-aged.
        age = max(now - moment, timedelta(0))
        return age, age > self._stale_after

    def market(self) -> LatestMarket | None:
        """The latest scored collection, or ``None`` while nothing is scored."""
        # The mark is read before the scores: a cycle committing in between is then in the
        # records but not in the mark, and the next call reads again (never the reverse).
        mark = self._scores.score_mark(self._exchange, self._stale_after)
        if mark is None:
            self._cached = None
            return None
        if self._cached is None or self._cached.mark != mark:
            records = self._scores.latest_scores(self._exchange, since=mark.newest - self._stale_after)
            if not records:  # removed meanwhile (retention); nothing to keep
                return None
            ordered = tuple(sorted(records, key=lambda r: (-r.result.score, r.symbol)))
            self._cached = LatestMarket(
                as_of=mark.newest,
                records=ordered,
                index=SymbolIndex.of(r.symbol for r in records),
                mark=mark,
                summary=summarise([r.result for r in records]),
            )
            self._filtered = {}
        return self._cached

    def resolve(self, text: str) -> str | ErrorReply:
        """The symbol of the latest collection that ``text`` names, or the reply saying why not."""
        market = self.market()
        if market is None:
            return ErrorReply(ErrorKind.NO_DATA, NO_DATA)
        found = market.index.resolve(text)
        if found.symbol is not None:
            return found.symbol
        return ErrorReply(
            ErrorKind.UNKNOWN_SYMBOL,
            f"I don't know the symbol {echo(text)!r} on {self._exchange}.",
            suggestions=found.suggestions,
        )

    def top(self, args: TopArgs, now: datetime) -> TableReply | ErrorReply:
        """The ranked table; the summary covers every symbol of the latest collection."""
        market = self.market()
        if market is None:
            return ErrorReply(ErrorKind.NO_DATA, NO_DATA)
        chosen = self._filtered.get(args.filter)
        if chosen is None:
            chosen = self._filtered[args.filter] = tuple(
                r for r in market.records if _matches(r, args.filter)
            )
        # The records are ranked already (highest first, ties by symbol) and the market is
        # summarised once per read: the first ``limit`` records are the table's rows.
        rows = tuple(
            RankedRow(i + 1, r.symbol, r.inputs, r.result) for i, r in enumerate(chosen[: args.limit])
        )
        table = RankedTable(rows=rows, summary=market.summary, source_label=self._label)
        title = f"Top {args.limit}"
        if args.filter is not None:
            title += f" · {_FILTER_TITLES[args.filter]}"
        notes: list[str] = []
        if args.capped:
            notes.append(f"Showing at most {args.limit} rows.")
        if not chosen:
            notes.append("No symbol matches this filter right now.")
        age, stale = self._age(market.as_of, now)
        if stale:
            notes.append(f"These scores are {age_text(age)} old.")
        return TableReply(table=table, title=title, as_of=market.as_of, stale=stale, notes=tuple(notes))

    def card(self, symbol: str, now: datetime) -> ScoreCardReply | None:
        """The score card of a known symbol (``None`` when it has no stored score)."""
        card = self._scores.score_card(self._exchange, symbol, tolerance=self._stale_after)
        if card is None:
            return None
        age, stale = self._age(card.latest.ts, now)
        return ScoreCardReply(card=card, age=age, stale=stale, source_label=self._label)

    def chart(self, symbol: str, window_label: str, window: timedelta, now: datetime) -> ChartView | None:
        """The symbol's scores over ``window`` up to now (``None`` when there are none)."""
        market = self.market()
        end = now if market is None else max(now, market.as_of)
        records = self._scores.score_history(self._exchange, symbol, end - window, end)
        if not records:
            return None
        return ChartView(
            symbol=symbol,
            window=window_label,
            records=tuple(records),
            band_floors=self._floors,
            source_label=self._label,
        )

    def status(self, now: datetime, last_cycle: str | None) -> StatusReply:
        """Exchange, symbols tracked, the latest collection's age (STALE or not), outbox counts."""
        market = self.market()
        collected = self._snapshots.latest_snapshot_time(self._exchange)
        counts = self._outbox.status_counts()
        outbox = tuple(sorted((status.value, n) for status, n in counts.items()))
        if collected is None:
            age, stale = None, True
        else:
            age, stale = self._age(collected, now)
        return StatusReply(
            exchange=self._exchange,
            symbols=0 if market is None else len(market.records),
            last_collection=collected,
            age=age,
            stale=stale,
            stale_after=self._stale_after,
            outbox=outbox,
            last_cycle=last_cycle,
            source_label=self._label,
            venues=tuple(self._venue_status(venue, now) for venue in self._venues),
        )

    def _venue_status(self, exchange: str, now: datetime) -> VenueStatus:
        collected = self._snapshots.latest_snapshot_time(exchange)
        age, stale = (None, True) if collected is None else self._age(collected, now)
        line = None if self._venue_cycle is None else self._venue_cycle(exchange)
        return VenueStatus(exchange, collected, age, stale, line)
