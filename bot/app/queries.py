"""The read side of the command layer: what ``/top``, ``/score``, ``/chart`` and ``/status`` show.

"The market" is each symbol's newest score within two collection intervals of the newest
stored score: the latest cycle, tolerating a symbol that failed in it. Old scores are still
shown, marked STALE with their age, rather than hidden.

Each exchange's market is *prepared* whole, off the event loop where it can be: the
records ranked for every ``/top`` filter, and each symbol's scores 1h and 24h before its
newest (one read per exchange, ``ScoreStore.past_scores``), so ``/top``, ``/score`` and
the aggregate's card (its venues' lines come from their own prepared markets) are answered
from memory. On the loop's thread every statement, every row stepped, hands the
interpreter to whatever thread computes meanwhile (a cycle's worker step, the exchange
clients' loops) for up to a switch interval: a command that read convoyed behind a cycle.

A prepared market is swapped in whole, under a lock, and never replaced by one read
before it (``_check``'s tickets): a command reads one consistent snapshot.

How fresh: the store's ``ScoreMark`` (the newest score time and the count of scores near
it) tells whether a new cycle was stored, by this process or another. The process that
collects calls ``refresh`` off the loop right after storing a cycle, so its commands see
it at once. Otherwise a command (``current``) finding a market last checked ``recheck``
ago or more (2 s by default) starts a check in a worker thread, one at a time, and answers
from the market as it is; only when the last check is ``WAIT_AFTER`` rechecks old (10 s),
or there was none, does it wait for the check. A synchronous reader (the dashboard, the
autocompletion) checks in place then. So an answer shows the
store as it was at most 10 s before (2 s while commands keep coming), plus the check's
own time; a collector's answers follow its own cycles at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.app.arguments import TopArgs, TopFilter, echo
from bot.app.off_loop import off_loop
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
_PAST = (_HOUR, _DAY)
"""What a score card shows besides the newest score: the scores this long before it."""

RECHECK = timedelta(seconds=2)
"""How long a prepared market is trusted without asking the store whether it moved."""

WAIT_AFTER = 5
"""In rechecks: a market last checked this long ago is checked before a command answers
(younger, the command answers at once and the check runs beside it)."""

logger = logging.getLogger(__name__)

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


Past = tuple[ScoreRecord | None, ScoreRecord | None]
"""A symbol's scores 1h and 24h before its newest (``None``: none within the tolerance)."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything a command shows of one exchange's latest collection, read at once.

    Attributes:
        market: the latest collection.
        ranked: ``market.records`` kept by each ``/top`` filter (``None``: all), in rank order.
        past: each symbol's ``Past``, relative to its own newest score.
        ticket: the order its read began in (``Queries._check``): a later one is newer.
    """

    market: LatestMarket
    ranked: Mapping[TopFilter | None, tuple[ScoreRecord, ...]]
    past: Mapping[str, Past]
    ticket: int


@dataclass(frozen=True, slots=True)
class Resolved:
    """A symbol ``Queries.find`` resolved, with its newest score and past scores in the
    market it just checked: ``Queries.card`` builds the card on them, whatever was
    prepared meanwhile."""

    exchange: str
    symbol: str
    latest: ScoreRecord
    past: Past | None = None


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
    venue), its sibling venues and their aggregate ``all``.

    ``recheck`` and ``monotonic`` (seconds) say when a prepared market is checked against
    the store again (see the module's docstring).
    """

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
        recheck: timedelta = RECHECK,
        monotonic: Callable[[], float] = time.monotonic,
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
        self._recheck = recheck.total_seconds()
        self._wait_after = WAIT_AFTER * self._recheck
        self._monotonic = monotonic
        self._checking: asyncio.Future[None] | None = None  # the check ``current`` started
        # What each exchange's latest check found (absent: nothing scored), when that check
        # ended, and its ticket. Written only under ``_lock``, by whichever thread checked;
        # read without it (one dict lookup each).
        self._lock = threading.Lock()
        self._tickets = 0
        self._prepared: dict[str, Prepared] = {}
        self._checked: dict[str, tuple[int, float]] = {}

    @property
    def exchange(self) -> str:
        """The first venue: what a command shows when it names none and there is no aggregate."""
        return self._exchange

    @property
    def venues(self) -> tuple[str, ...]:
        """Every venue collected, the first one first (empty with a single venue)."""
        return self._venues

    @property
    def shown(self) -> tuple[str, ...]:
        """Every exchange a command may show: the venues and, with several, the aggregate."""
        return (*self._venues, AGGREGATE_EXCHANGE) if self._venues else (self._exchange,)

    def _age(self, moment: datetime, now: datetime) -> tuple[timedelta, bool]:
        # A data time a little ahead of our clock (skew) is fresh, not negative-aged.
        age = max(now - moment, timedelta(0))
        return age, age > self._stale_after

    # --- preparing -----------------------------------------------------------------------

    def _due(self, exchange: str, after: float | None = None) -> bool:
        """Whether ``exchange``'s last check is ``after`` (default: ``recheck``) seconds old."""
        checked = self._checked.get(exchange)
        limit = self._recheck if after is None else after
        return checked is None or self._monotonic() - checked[1] >= limit

    def _check(self, exchange: str) -> Prepared | None:
        """Ask the store whether ``exchange``'s market moved; prepare it again if it did.

        The read runs outside the lock (it may take a while, in any thread); only the swap
        takes it, and keeps whichever check began last: a slow check that began before a
        cycle was stored never replaces what a later one prepared from that cycle.
        """
        with self._lock:
            self._tickets += 1
            ticket = self._tickets
        # The mark is read before the scores: a cycle committing in between is then in the
        # records but not in the mark, and the next check reads again (never the reverse).
        mark = self._scores.score_mark(exchange, self._stale_after)
        held = self._prepared.get(exchange)
        found: Prepared | None = None
        if mark is not None:
            found = (
                held
                if held is not None and held.market.mark == mark
                else self._prepare(exchange, mark, ticket)
            )
        with self._lock:
            if ticket > self._checked.get(exchange, (0, 0.0))[0]:
                self._checked[exchange] = (ticket, self._monotonic())
                if found is None:
                    self._prepared.pop(exchange, None)
                else:
                    self._prepared[exchange] = found
            return self._prepared.get(exchange)

    def _prepare(self, exchange: str, mark: ScoreMark, ticket: int) -> Prepared | None:
        records = self._scores.latest_scores(exchange, since=mark.newest - self._stale_after)
        if not records:  # removed meanwhile (retention); nothing to keep
            return None
        ordered = tuple(sorted(records, key=lambda r: (-r.result.score, r.symbol)))
        market = LatestMarket(
            as_of=mark.newest,
            records=ordered,
            index=SymbolIndex.of(r.symbol for r in records),
            mark=mark,
            summary=summarise([r.result for r in records]),
            by_symbol={r.symbol: r for r in records},
        )
        past = self._scores.past_scores(exchange, {r.symbol: r.ts for r in ordered}, _PAST, self._stale_after)
        return Prepared(
            market=market,
            ranked={f: tuple(r for r in ordered if _matches(r, f)) for f in (None, *TopFilter)},
            past={symbol: (found[0], found[1]) for symbol, found in past.items()},
            ticket=ticket,
        )

    def _view(self, exchange: str | None = None) -> Prepared | None:
        """``exchange``'s prepared market (default: the first venue), checked in place when
        its last check is ``WAIT_AFTER`` rechecks old (``current`` checks it sooner, off
        the loop)."""
        exchange = exchange or self._exchange
        if self._due(exchange, self._wait_after):
            return self._check(exchange)
        return self._prepared.get(exchange)

    async def current(self) -> None:
        """Check the exchanges shown here whose markets are due, in a worker thread, one
        check at a time: the command that awaits this then answers without a statement on
        the loop's thread. It waits for the check only when a market was never checked or
        not for ``WAIT_AFTER`` rechecks; otherwise the check lands for the next command
        (waiting, every command arriving during a check would wait for it)."""
        for _ in range(2):  # a check already under way may not cover every market due
            due = [exchange for exchange in self.shown if self._due(exchange)]
            if not due:
                return
            checking = self._checking
            if checking is None or checking.done():
                checking = self._checking = asyncio.ensure_future(off_loop(self._check_all, due))
                checking.add_done_callback(_check_ended)
            if not any(self._due(exchange, self._wait_after) for exchange in due):
                return
            # Shielded: a command cancelled meanwhile leaves the check to the others.
            await asyncio.shield(checking)

    def _check_all(self, exchanges: Sequence[str]) -> None:
        for exchange in exchanges:
            self._check(exchange)

    def refresh(self, exchange: str) -> None:
        """Prepare ``exchange``'s market again now if the store's mark moved (and it was shown
        before: a process that answers no command never reads it).

        Called off the event loop right after this process stored a cycle, so the commands
        that follow find everything they show prepared, and the new cycle at once.
        """
        if exchange in self._checked:
            self._check(exchange)

    def market(self, exchange: str | None = None) -> LatestMarket | None:
        """The latest scored collection of ``exchange`` (default: the first venue), or ``None``
        while nothing is scored there (checked against the store when due)."""
        view = self._view(exchange)
        return None if view is None else view.market

    def cards(self, exchange: str | None = None) -> tuple[LatestMarket, dict[str, ScoreCard]] | None:
        """Every symbol's score card of ``exchange``'s market (default: the first venue), with
        that market, from what is prepared (checked against the store when due), or ``None``
        while nothing is scored there. The dashboard serialises them ahead of requests."""
        view = self._view(exchange)
        if view is None:
            return None
        empty: Past = (None, None)
        return view.market, {
            r.symbol: ScoreCard(r, *view.past.get(r.symbol, empty)) for r in view.market.records
        }

    def held(self, exchange: str | None = None) -> LatestMarket | None:
        """The market last prepared for ``exchange`` (default: the first venue), without
        asking the store anything."""
        view = self._prepared.get(exchange or self._exchange)
        return None if view is None else view.market

    # --- answers -------------------------------------------------------------------------

    def find(self, text: str, exchange: str | None = None) -> Resolved | ErrorReply:
        """The symbol of ``exchange``'s latest collection (default: the first venue) that
        ``text`` names, with its newest score, or the reply saying why not."""
        exchange = exchange or self._exchange
        view = self._view(exchange)
        if view is None:
            return ErrorReply(ErrorKind.NO_DATA, NO_DATA)
        found = view.market.index.resolve(text)
        if found.symbol is not None:
            symbol = found.symbol
            return Resolved(exchange, symbol, view.market.by_symbol[symbol], view.past.get(symbol))
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
        view = self._view(exchange)
        if view is None:
            return ErrorReply(ErrorKind.NO_DATA, NO_DATA)
        market = view.market
        chosen = view.ranked[args.filter]
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

        From the prepared markets alone (its newest and past scores, each venue's score of
        the aggregate's asset); a symbol not in the latest collection reads the store.
        """
        found: Resolved | None
        if isinstance(symbol, Resolved):
            found = symbol
        else:
            found = self._find_exact(symbol, exchange or self._exchange)
        if found is None:  # not in the latest collection: whatever the store last holds
            return self._stored_card(symbol if isinstance(symbol, str) else symbol.symbol, now, exchange)
        latest = found.latest
        if found.past is None:  # not prepared with it (built by hand): as the store has it
            hour_ago, day_ago = self._scores.scores_at(
                [
                    (found.exchange, found.symbol, latest.ts - _HOUR),
                    (found.exchange, found.symbol, latest.ts - _DAY),
                ],
                self._stale_after,
            )
        else:
            hour_ago, day_ago = found.past
        card = ScoreCard(latest=latest, hour_ago=hour_ago, day_ago=day_ago)
        cross = (
            self.cross_venue(found.symbol, latest.result, now)
            if found.exchange == AGGREGATE_EXCHANGE
            else None
        )
        return self._card_reply(card, now, cross)

    def _find_exact(self, symbol: str, exchange: str) -> Resolved | None:
        view = self._view(exchange)
        latest = None if view is None else view.market.by_symbol.get(symbol)
        if view is None or latest is None:
            return None
        return Resolved(exchange, symbol, latest, view.past.get(symbol))

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
        this process computes it, each member's score its venue's newest within the tolerance
        of ``now``, from the venue's prepared market. Elsewhere each venue's market resolves
        the asset, and the OI shares are unknown (a dash).
        """
        members = self._members(asset)
        if members is None:
            return self._cross_from_markets(asset)
        return _cross_from_aggregate(
            members, own, [self._score_at(p.venue, p.symbol, now) for p in members.venues]
        )

    def _score_at(self, exchange: str, symbol: str, now: datetime) -> ScoreRecord | None:
        """``scores_at``'s answer for ``(exchange, symbol, now)``, from the prepared market.

        A symbol's newest score is in its market unless older than the tolerance before the
        newest stored (then older than ``now`` less the tolerance too: none). Only data
        ahead of ``now`` (clock skew) sends the question to the store.
        """
        view = self._view(exchange)
        if view is None:
            return None
        latest = view.market.by_symbol.get(symbol)
        if latest is None and view.market.as_of <= now:
            return None
        if latest is not None and latest.ts < now - self._stale_after:
            return None
        if latest is not None and latest.ts <= now:
            return latest
        return self._scores.scores_at([(exchange, symbol, now)], self._stale_after)[0]

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


def _check_ended(check: asyncio.Future[None]) -> None:
    # A command waiting for it was told; a check no one waited for is only logged, and
    # the next command due checks again.
    if not check.cancelled() and (exc := check.exception()) is not None:
        logger.warning("the market check failed: %s", exc)


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
