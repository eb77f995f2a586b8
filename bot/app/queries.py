"""The read side of the command layer: what ``/top``, ``/score``, ``/chart`` and ``/status`` show.

"The market" is each symbol's newest score within two collection intervals of the newest
stored score: the latest cycle, tolerating a symbol that failed in it. It is read again
only when the store's ``ScoreMark`` moves (the newest score time and the count of scores
near it), so a cycle stored by another process shows at once, even when the exchange's
data clock did not advance; the mark is cheap to read on every command. Old scores are
still shown, marked STALE with their age, rather than hidden.

With several venues each one's market is kept the same way (one mark read per venue per
command), and the cross-venue aggregate is the exchange ``all``: ``/score`` shows its card
with one line per venue, built from those cached markets without further reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.app.arguments import TopArgs, TopFilter, echo
from bot.app.views import (
    ChartView,
    CrossVenue,
    ErrorKind,
    ErrorReply,
    RankedRow,
    RankedTable,
    ScoreCardReply,
    StatusReply,
    Summary,
    TableReply,
    VenueRow,
    VenueStatus,
    summarise,
)
from bot.core.aggregate import AGGREGATE_EXCHANGE, Aggregate, lone_stretch
from bot.core.aggregate_card import breakdown, venue_name
from bot.core.durations import age_text
from bot.core.models import Bias, ScoreResult
from bot.core.records import ScoreCard, ScoreMark, ScoreRecord
from bot.core.symbols import SymbolIndex
from bot.ports import OutboxStore, ScoreStore, SnapshotStore

_HOUR = timedelta(hours=1)
_DAY = timedelta(hours=24)

NO_DATA = "No scores yet: the first collection has not finished. Try again in a few minutes."

CycleLine = Callable[[], str | None]
"""Returns a line about the latest collection cycle this process ran (``None``: none yet)."""

VenueCycleLine = Callable[[str], str | None]
"""Returns a line about one venue's latest collection cycle this process ran (``None``: none yet)."""

Aggregates = Callable[[], Mapping[str, Aggregate]]
"""Each asset's last aggregate (members, OI shares), where this process computes it."""


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
    by_symbol: Mapping[str, ScoreRecord]


@dataclass(frozen=True, slots=True)
class Resolved:
    """A symbol ``Queries.find`` resolved, with its newest score in the market it just
    checked: ``Queries.card`` builds the card on that score instead of checking again."""

    exchange: str
    symbol: str
    latest: ScoreRecord


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
    """Read models over the score, snapshot and outbox stores for one exchange (the first
    venue), its sibling venues and their aggregate ``all``."""

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
        aggregates: Aggregates | None = None,
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
        self._aggregates = aggregates
        self._cached: dict[str, LatestMarket] = {}
        # /top's filtered records of each cached market, computed once per market and filter:
        # a command then ranks at most its limit, not every symbol. Kept with the market they
        # came from: ``refresh`` may replace a market from another thread meanwhile.
        self._filtered: dict[tuple[str, TopFilter | None], tuple[LatestMarket, tuple[ScoreRecord, ...]]] = {}

    @property
    def exchange(self) -> str:
        """The first venue: what a command shows when it names none and there is no aggregate."""
        return self._exchange

    @property
    def venues(self) -> tuple[str, ...]:
        """Every venue collected, the first one first (empty with a single venue)."""
        return self._venues

    def _age(self, moment: datetime, now: datetime) -> tuple[timedelta, bool]:
        # A data time a little ahead of our clock (skew) is fresh, not negative-aged.
        age = max(now - moment, timedelta(0))
        return age, age > self._stale_after

    def market(self, exchange: str | None = None) -> LatestMarket | None:
        """The latest scored collection of ``exchange`` (default: the first venue), or ``None``
        while nothing is scored there."""
        exchange = exchange or self._exchange
        # The mark is read before the scores: a cycle committing in between is then in the
        # records but not in the mark, and the next call reads again (never the reverse).
        mark = self._scores.score_mark(exchange, self._stale_after)
        if mark is None:
            self._cached.pop(exchange, None)
            return None
        cached = self._cached.get(exchange)
        if cached is None or cached.mark != mark:
            records = self._scores.latest_scores(exchange, since=mark.newest - self._stale_after)
            if not records:  # removed meanwhile (retention); nothing to keep
                return None
            ordered = tuple(sorted(records, key=lambda r: (-r.result.score, r.symbol)))
            cached = self._cached[exchange] = LatestMarket(
                as_of=mark.newest,
                records=ordered,
                index=SymbolIndex.of(r.symbol for r in records),
                mark=mark,
                summary=summarise([r.result for r in records]),
                by_symbol={r.symbol: r for r in records},
            )
            # ``refresh`` runs this in a worker thread while ``top`` may add an entry on the
            # loop's: iterate over a copy, never the live dict.
            self._filtered = {k: v for k, v in list(self._filtered.items()) if k[0] != exchange}
        return cached

    def refresh(self, exchange: str) -> None:
        """Read ``exchange``'s market again now if the store's mark moved (and it was shown
        before: a process that answers no command never reads it).

        Called off the event loop right after this process stored a cycle, so the command
        that follows finds the market read instead of reading it itself: on the loop's
        thread each of its hundreds of rows would hand the interpreter to whatever other
        cycle (another venue's) is computing meanwhile.
        """
        if exchange in self._cached:
            self.market(exchange)

    def find(self, text: str, exchange: str | None = None) -> Resolved | ErrorReply:
        """The symbol of ``exchange``'s latest collection (default: the first venue) that
        ``text`` names, with its newest score, or the reply saying why not."""
        exchange = exchange or self._exchange
        market = self.market(exchange)
        if market is None:
            return ErrorReply(ErrorKind.NO_DATA, NO_DATA)
        found = market.index.resolve(text)
        if found.symbol is not None:
            return Resolved(exchange, found.symbol, market.by_symbol[found.symbol])
        return ErrorReply(
            ErrorKind.UNKNOWN_SYMBOL,
            f"I don't know the symbol {echo(text)!r} on {exchange}.",
            suggestions=found.suggestions,
        )

    def resolve(self, text: str, exchange: str | None = None) -> str | ErrorReply:
        """``find``'s symbol alone."""
        found = self.find(text, exchange)
        return found if isinstance(found, ErrorReply) else found.symbol

    def top(self, args: TopArgs, now: datetime) -> TableReply | ErrorReply:
        """The ranked table of ``args.venue`` (default: the first venue); the summary covers
        every symbol of its latest collection."""
        exchange = args.venue or self._exchange
        market = self.market(exchange)
        if market is None:
            return ErrorReply(ErrorKind.NO_DATA, NO_DATA)
        key = (exchange, args.filter)
        kept = self._filtered.get(key)
        if kept is not None and kept[0] is market:
            chosen = kept[1]
        else:
            chosen = tuple(r for r in market.records if _matches(r, args.filter))
            self._filtered[key] = (market, chosen)
        # The records are ranked already (highest first, ties by symbol) and the market is
        # summarised once per read: the first ``limit`` records are the table's rows.
        rows = tuple(
            RankedRow(i + 1, r.symbol, r.inputs, r.result) for i, r in enumerate(chosen[: args.limit])
        )
        table = RankedTable(rows=rows, summary=market.summary, source_label=self._label)
        title = f"Top {args.limit}"
        if args.filter is not None:
            title += f" · {_FILTER_TITLES[args.filter]}"
        if self._venues:  # several venues: say which one (a single venue's title is unchanged)
            title += f" · {_venue_title(exchange)}"
        notes: list[str] = []
        if args.capped:
            notes.append(f"Showing at most {args.limit} rows.")
        if not chosen:
            notes.append("No symbol matches this filter right now.")
        age, stale = self._age(market.as_of, now)
        if stale:
            notes.append(f"These scores are {age_text(age)} old.")
        return TableReply(table=table, title=title, as_of=market.as_of, stale=stale, notes=tuple(notes))

    def card(
        self, symbol: str | Resolved, now: datetime, exchange: str | None = None
    ) -> ScoreCardReply | None:
        """The score card of a known symbol of ``exchange`` (default: the first venue), or of
        what ``find`` resolved; ``None`` when it has no stored score. The aggregate's card
        carries one line per venue.

        Each statement run here lets a cycle's worker thread take the interpreter for up to
        the switch interval (``bot.app.off_loop``), so the card costs one: its newest score
        comes from the market (``find`` hands it over; a symbol named here costs a mark
        check), and the scores 1h and 24h before it, with each venue's score of the
        aggregate's asset, from one ``scores_at``.
        """
        if isinstance(symbol, Resolved):
            found: Resolved | None = symbol
        else:
            place = exchange or self._exchange
            market = self.market(place)
            latest = None if market is None else market.by_symbol.get(symbol)
            found = None if latest is None else Resolved(place, symbol, latest)
        if found is None:  # not in the latest collection: whatever the store last holds
            return self._stored_card(symbol if isinstance(symbol, str) else symbol.symbol, now, exchange)
        latest = found.latest
        members = self._members(found.symbol) if found.exchange == AGGREGATE_EXCHANGE else None
        wanted = [
            (found.exchange, found.symbol, latest.ts - _HOUR),
            (found.exchange, found.symbol, latest.ts - _DAY),
            *((part.venue, part.symbol, now) for part in (members.venues if members else ())),
        ]
        hour_ago, day_ago, *venues = self._scores.scores_at(wanted, self._stale_after)
        card = ScoreCard(latest=latest, hour_ago=hour_ago, day_ago=day_ago)
        cross = None
        if found.exchange == AGGREGATE_EXCHANGE:
            cross = (
                self._cross_from_markets(found.symbol)
                if members is None
                else _cross_from_aggregate(members, latest.result, venues)
            )
        return self._card_reply(card, now, cross)

    def _stored_card(self, symbol: str, now: datetime, exchange: str | None) -> ScoreCardReply | None:
        exchange = exchange or self._exchange
        card = self._scores.score_card(exchange, symbol, tolerance=self._stale_after)
        if card is None:
            return None
        cross = self.cross_venue(symbol, card.latest.result, now) if exchange == AGGREGATE_EXCHANGE else None
        return self._card_reply(card, now, cross)

    def _card_reply(self, card: ScoreCard, now: datetime, cross: CrossVenue | None) -> ScoreCardReply:
        age, stale = self._age(card.latest.ts, now)
        return ScoreCardReply(card=card, age=age, stale=stale, source_label=self._label, venues=cross)

    def _members(self, asset: str) -> Aggregate | None:
        """The asset's last aggregate where this process computes it (``None`` with a single
        venue, or elsewhere)."""
        if not self._venues or self._aggregates is None:
            return None
        return self._aggregates().get(asset)

    def cross_venue(self, asset: str, own: ScoreResult, now: datetime) -> CrossVenue | None:
        """``asset`` on each venue: its own score, band and bias, and OI share, funding and basis
        from the aggregate (``None`` with a single venue).

        The members are the aggregate's (the instrument map: ``PEPE`` is ``1000PEPEUSDT``) where
        this process computes it: one read of the members' scores. Elsewhere each venue's
        cached market resolves the asset (its whole market is read again once per cycle), and
        the OI shares are unknown (a dash).
        """
        members = self._members(asset)
        if members is None:
            return self._cross_from_markets(asset)
        wanted = [(part.venue, part.symbol, now) for part in members.venues]
        return _cross_from_aggregate(members, own, self._scores.scores_at(wanted, self._stale_after))

    def _cross_from_markets(self, asset: str) -> CrossVenue | None:
        if not self._venues:
            return None
        found_rows: list[VenueRow] = []
        for venue in self._venues:
            market = self.market(venue)
            symbol = None if market is None else market.index.resolve(asset).symbol
            if market is None or symbol is None:
                continue
            found_rows.append(_venue_only_row(venue, symbol, market.by_symbol.get(symbol)))
        scored = [(r.venue, r.band, r.oi_share) for r in found_rows if r.band is not None]
        return CrossVenue(tuple(found_rows), lone=lone_stretch(scored))

    def chart(
        self, symbol: str, window_label: str, window: timedelta, now: datetime, exchange: str | None = None
    ) -> ChartView | None:
        """The symbol's scores on ``exchange`` (default: the first venue) over ``window`` up to
        now (``None`` when there are none)."""
        exchange = exchange or self._exchange
        market = self.market(exchange)
        end = now if market is None else max(now, market.as_of)
        records = self._scores.score_history(exchange, symbol, end - window, end)
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


def _venue_title(exchange: str) -> str:
    return "all venues" if exchange == AGGREGATE_EXCHANGE else venue_name(exchange)


def _cross_from_aggregate(
    agg: Aggregate, own: ScoreResult, scored: Sequence[ScoreRecord | None]
) -> CrossVenue:
    """The lines of the aggregate's members, ``scored`` being each member's score, in order."""
    results = {
        (part.venue, part.symbol): record.result
        for part, record in zip(agg.venues, scored, strict=True)
        if record is not None
    }
    b = breakdown(agg, own, results)
    rows = tuple(
        VenueRow(
            v.venue,
            v.symbol,
            v.score,
            v.band,
            None if (found := results.get((v.venue, v.symbol))) is None else found.bias,
            v.oi_share,
            v.funding_8h_pct,
            v.basis_pct,
        )
        for v in b.venues
    )
    return CrossVenue(rows, b.funding_spread_pct, b.basis_spread_pct, b.lone)


def _venue_only_row(venue: str, symbol: str, record: ScoreRecord | None) -> VenueRow:
    # Without the aggregate (another process computes it) the venue's own score inputs give
    # its funding and basis; its share of OI is unknown.
    if record is None:
        return VenueRow(venue, symbol, None, None, None, None, None, None)
    r = record.result
    return VenueRow(
        venue, symbol, r.score, r.band, r.bias, None, r.components.funding_8h_pct, record.inputs.basis_pct
    )
