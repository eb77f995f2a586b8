"""The cross-venue aggregate as a market source: a ``CollectionCycle`` scores it like a venue.

Its "exchange" is ``all`` and its symbols are canonical assets (``BTC``, ``SHIB``). It asks
no exchange for prices: each cycle reads every member venue's newest stored snapshot (no
older than ``fresh``) and sums them per asset (``bot.core.aggregate.combine``). Its OI
history for a cold start is derived from the member venues' stored points
(``bot.core.aggregate_history``), so the aggregate scores complete as soon as its venues do.

Membership (which venue's symbol counts as which asset, in what units) is read at each
universe load (hourly) from the venues' market metadata and checked against their stored
mark prices (``bot.core.instruments``). It is sticky: a member stays while its venue still
lists it, even when the venue is down at a reload, so a venue's outage leaves a gap in the
summed OI (cycles without it carry no OI) rather than a smaller sum read as positions closing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import datetime, timedelta

from bot.app.off_loop import off_loop
from bot.core import collection as reasons
from bot.core.aggregate import AGGREGATE_EXCHANGE, Aggregate, VenuePart, combine
from bot.core.aggregate_history import summed_history
from bot.core.collection import FetchReport, OiPoint, SymbolFailure
from bot.core.instruments import Listing, Mapped, VenueOnly, build
from bot.core.market import MarketSnapshot
from bot.errors import DpsError
from bot.ports import Clock, ListingSource, SnapshotStore

logger = logging.getLogger(__name__)

AGGREGATE_LABEL = "all venues (aggregate)"


def _absent(venue: str, symbol: str, ts: datetime) -> MarketSnapshot:
    """A member without a fresh snapshot: counted, so the sum knows it is incomplete."""
    return MarketSnapshot(venue, symbol, ts, None, None, None, None, None, None, None, None, None)


class AggregateSource:
    """``bot.ports.MarketSource`` over the stored snapshots of the venues in ``venues``.

    Args:
        venues: each venue's listing source, by ccxt id, in ``EXCHANGES`` order.
        snapshots: the store every venue's cycle writes.
        clock: the application's clock (a universe load has no ``now`` of its own).
        fresh: how old a venue's newest snapshot may be to count (two collection intervals).
        step: the collection interval: the grid a derived history is summed on.
    """

    exchange = AGGREGATE_EXCHANGE
    label = AGGREGATE_LABEL

    def __init__(
        self,
        venues: Mapping[str, ListingSource],
        snapshots: SnapshotStore,
        clock: Clock,
        *,
        fresh: timedelta,
        step: timedelta,
    ) -> None:
        self._venues = dict(venues)
        self._snapshots = snapshots
        self._clock = clock
        self._fresh = fresh
        self._step = step
        self._members: dict[tuple[str, str], Mapped] = {}
        self._logged: set[tuple[str, str]] = set()  # venue-only listings already logged
        self._deriving = asyncio.Lock()
        self._derived: tuple[tuple[datetime, datetime], dict[str, list[OiPoint]]] | None = None
        self.latest: dict[str, Aggregate] = {}
        """Each asset's last aggregate (shares, spreads): for a breakdown of the card."""

    def assets(self) -> dict[str, tuple[Mapped, ...]]:
        """The members of each asset, in ``EXCHANGES`` order."""
        order = {venue: i for i, venue in enumerate(self._venues)}
        grouped: dict[str, list[Mapped]] = {}
        for m in self._members.values():
            grouped.setdefault(m.asset, []).append(m)
        return {
            asset: tuple(sorted(ms, key=lambda m: (order[m.listing.venue], m.listing.symbol)))
            for asset, ms in sorted(grouped.items())
        }

    async def _read(self, venue: str, source: ListingSource) -> list[Listing | VenueOnly] | None:
        try:
            return await source.listings()
        except DpsError as exc:  # a venue down keeps its members (sticky), it does not drop them
            logger.warning("aggregate: %s markets not read (%s); its members are kept", venue, exc)
            return None

    async def load_universe(self) -> list[str]:
        """Read the venues' listings, join new members whose price agrees, drop delisted ones."""
        now = self._clock.now()
        read = await asyncio.gather(*(self._read(v, s) for v, s in self._venues.items()))
        fresh = {
            venue: await off_loop(self._snapshots.latest_snapshots, venue, now - self._fresh)
            for venue in self._venues
        }
        listed: dict[tuple[str, str], Listing] = {}
        skipped: list[VenueOnly] = []
        for venue, readings in zip(self._venues, read, strict=True):
            if readings is None:
                listed.update((k, m.listing) for k, m in self._members.items() if k[0] == venue)
                continue
            for r in readings:
                if isinstance(r, Listing):
                    listed[(r.venue, r.symbol)] = r
                elif r.listing.symbol in fresh[venue]:
                    skipped.append(r)  # only what the venue collects is worth a log line
        # Delisted (or no longer readable) members leave; the others stay as they are.
        members = {k: m for k, m in self._members.items() if k in listed}
        candidates = [x for k, x in listed.items() if k not in members and x.symbol in fresh[x.venue]]
        if candidates:
            # The price check sees the current members too: a newcomer must agree with them.
            marks = {(v, sym): snap.mark_price for v, snaps in fresh.items() for sym, snap in snaps.items()}
            mapped = build([*candidates, *(m.listing for m in members.values())], marks)
            for group in mapped.assets.values():
                for m in group:
                    members.setdefault((m.listing.venue, m.listing.symbol), m)
            skipped.extend(v for v in mapped.venue_only if (v.listing.venue, v.listing.symbol) not in members)
        before = {m.asset for m in self._members.values()}
        for key, m in members.items():
            if key not in self._members and m.asset in before:
                # Its stored sums so far lack this venue: the next day's OI changes mix both.
                logger.warning(
                    "aggregate: %s joins on %s (%s); its OI changes compare sums with and "
                    "without it for the next 24 h",
                    m.asset,
                    m.listing.venue,
                    m.listing.symbol,
                )
        self._members = members
        self._log_once(skipped)
        return list(self.assets())

    def _log_once(self, skipped: list[VenueOnly]) -> None:
        for v in skipped:
            key = (v.listing.venue, v.listing.symbol)
            if key not in self._logged:
                self._logged.add(key)
                logger.warning(
                    "aggregate: %s %s stays venue-only: %s", v.listing.venue, v.listing.symbol, v.reason
                )

    async def fetch_cycle(self, now: datetime) -> FetchReport:
        """One summed snapshot per asset at ``now``, from each member venue's newest snapshot."""
        started = time.perf_counter()
        self._derived = None  # a backfill's derived histories are served: let them go
        assets = self.assets()
        wanted: dict[str, set[str]] = {}
        for m in self._members.values():
            wanted.setdefault(m.listing.venue, set()).add(m.listing.symbol)
        latest = {
            venue: await off_loop(self._snapshots.latest_snapshots, venue, now - self._fresh, symbols)
            for venue, symbols in wanted.items()
        }
        snapshots: list[MarketSnapshot] = []
        failures: list[SymbolFailure] = []
        warnings: list[SymbolFailure] = []
        seen: dict[str, Aggregate] = {}
        for asset, members in assets.items():
            found = [latest[m.listing.venue].get(m.listing.symbol) for m in members]
            if all(s is None for s in found):
                failures.append(
                    SymbolFailure(asset, reasons.REASON_STALE, "no member venue has a fresh snapshot")
                )
                continue
            parts = [
                VenuePart(m.listing.venue, m.units, s or _absent(m.listing.venue, m.listing.symbol, now))
                for m, s in zip(members, found, strict=True)
            ]
            agg = combine(asset, parts, now)
            if not agg.complete:
                gone = ", ".join(p.venue for p, s in zip(parts, found, strict=True) if s is None) or "a venue"
                warnings.append(
                    SymbolFailure(
                        asset, reasons.REASON_MISSING, f"no open interest from {gone}: sum left out"
                    )
                )
            seen[asset] = agg
            snapshots.append(agg.snapshot)
        self.latest = seen
        return FetchReport(
            snapshots=tuple(snapshots),
            failures=tuple(failures),
            requests=0,
            weight_used=None,
            duration_s=time.perf_counter() - started,
            warnings=tuple(warnings),
        )

    async def fetch_oi_history(self, symbol: str, since: datetime, until: datetime) -> list[OiPoint]:
        """The asset's summed OI over ``[since, until]``, derived from its members' stored points.

        A backfill asks for every asset over the same window: the first call derives them
        all, with one read per venue (a read per member would scan the venue's whole window
        each time), and the others are served from that until the next cycle.
        """
        async with self._deriving:  # the backfill asks several at once: derive once
            if self._derived is None or self._derived[0] != (since, until):
                self._derived = ((since, until), await off_loop(self._derive_all, since, until))
            return list(self._derived[1].get(symbol, ()))

    def _derive_all(self, since: datetime, until: datetime) -> dict[str, list[OiPoint]]:
        assets = self.assets()
        wanted: dict[str, list[str]] = {}
        for members in assets.values():
            for m in members:
                wanted.setdefault(m.listing.venue, []).append(m.listing.symbol)
        oi = {
            venue: self._snapshots.market_history(venue, since, until, symbols).oi
            for venue, symbols in wanted.items()
        }
        return {
            asset: summed_history(
                [(m.units, oi[m.listing.venue].get(m.listing.symbol, [])) for m in members], self._step
            )
            for asset, members in assets.items()
        }

    async def close(self) -> None:
        """Nothing of its own to release: the venues' sources are closed by their collectors."""
