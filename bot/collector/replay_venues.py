"""Synthetic Bybit and OKX venues for the demo, derived deterministically from the replay market.

The bundled replay is one made-up venue (``replay``, Binance-style names). The demo shows
the cross-venue aggregate too, so it adds two more venues computed from it, row by row:

- ``replay-bybit`` lists about three quarters of the symbols (a fixed hash of the name
  decides; BTC, SHIB and BONK are everywhere), under Bybit's names where they differ
  (``1000SHIBUSDT`` is ``SHIB1000USDT``);
- ``replay-okx`` lists about half of them, as OKX names them: the token itself
  (``1000BONKUSDT`` is ``BONK-USDT-SWAP``), its price per token and its OI in tokens;
- each holds a fixed share of the replay's open interest and pays a fixed offset of its
  funding and basis (``SyntheticBook``): the index stays the replay's.

So the aggregate sums three books that move together but are not one book three times.
Nothing here is market data: these venues are as synthetic as the replay, and their labels
say so.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bot.collector.replay import REPLAY_EXCHANGE, SYNTHETIC_LABEL, ReplayMarket
from bot.collector.replay_source import ReplaySource
from bot.core.collection import OiPoint
from bot.core.instruments import Listing, VenueOnly, canonical
from bot.core.market import MarketSnapshot

EVERYWHERE = frozenset({"BTCUSDT", "1000SHIBUSDT", "1000BONKUSDT"})
"""Listed on every venue, whatever the hash says: Bitcoin, and two tokens each venue names
its own way (so the demo shows ``SHIB1000USDT`` and ``SHIB-USDT-SWAP`` summed as SHIB)."""


@dataclass(frozen=True, slots=True)
class SyntheticBook:
    """How a synthetic venue's book differs from the replay's.

    Attributes:
        exchange: the venue's id in the database (never a real venue's id).
        label: shown wherever its numbers are.
        naming: ``bybit`` or ``okx`` (whose symbol names it uses).
        oi_share: its open interest as a share of the replay's (in the same tokens).
        funding_add: added to the funding rate per interval (a fraction).
        basis_add: added to the basis (a fraction).
        listed_of: a symbol is listed when ``crc32(symbol) % listed_of[1] < listed_of[0]``.
    """

    exchange: str
    label: str
    naming: str
    oi_share: float
    funding_add: float
    basis_add: float
    listed_of: tuple[int, int]

    def lists(self, symbol: str) -> bool:
        """Whether this venue lists the replay's ``symbol`` (fixed by its name alone)."""
        if symbol in EVERYWHERE:
            return True
        part, whole = self.listed_of
        return zlib.crc32(symbol.encode()) % whole < part


SYNTHETIC_BOOKS = (
    SyntheticBook(
        f"{REPLAY_EXCHANGE}-bybit",
        f"{SYNTHETIC_LABEL}, Bybit-style venue derived from it",
        "bybit",
        oi_share=0.45,
        funding_add=0.00004,
        basis_add=0.0003,
        listed_of=(3, 4),
    ),
    SyntheticBook(
        f"{REPLAY_EXCHANGE}-okx",
        f"{SYNTHETIC_LABEL}, OKX-style venue derived from it",
        "okx",
        oi_share=0.3,
        funding_add=-0.00003,
        basis_add=-0.0004,
        listed_of=(1, 2),
    ),
)

_BYBIT_NAMES = {"1000SHIB": "SHIB1000"}
"""Bybit's names where they differ from Binance's."""


def venue_base(base: str, naming: str) -> tuple[str, float]:
    """``(the venue's base name, replay units per venue unit)`` of a replay base."""
    if naming == "bybit":
        return _BYBIT_NAMES.get(base, base), 1.0
    read = canonical(base)
    if read is None:
        return base, 1.0
    token, units = read
    return token, 1.0 / units  # OKX quotes the token: one of its units is 1/1000 of 1000BONK


def venue_symbol(base: str, naming: str) -> str:
    return f"{base}-USDT-SWAP" if naming == "okx" else f"{base}USDT"


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def derive(snap: MarketSnapshot, book: SyntheticBook) -> MarketSnapshot | None:
    """The replay's ``snap`` as ``book``'s venue would have it (``None``: not listed there)."""
    if not snap.symbol.endswith("USDT") or not book.lists(snap.symbol):
        return None
    base, per_unit = venue_base(snap.symbol.removesuffix("USDT"), book.naming)
    index = _scaled(snap.index_price, per_unit)
    mark = _scaled(snap.mark_price, per_unit)
    if mark is not None and index is not None and index > 0:
        mark = index * (mark / index + book.basis_add)  # the same index, its own premium
    oi = _scaled(snap.oi_contracts, book.oi_share / per_unit)
    last = _scaled(snap.last_price, per_unit)
    if last is not None and mark is not None and snap.mark_price:
        last = last * mark / (snap.mark_price * per_unit)  # trades where its mark is
    return replace(
        snap,
        exchange=book.exchange,
        symbol=venue_symbol(base, book.naming),
        oi_contracts=oi,
        oi_usd=None if oi is None or mark is None else oi * mark,
        mark_price=mark,
        index_price=index,
        last_price=last,
        funding_rate=None if snap.funding_rate is None else snap.funding_rate + book.funding_add,
        volume_24h_usd=_scaled(snap.volume_24h_usd, book.oi_share),
    )


def derived_market(market: ReplayMarket, book: SyntheticBook) -> ReplayMarket:
    """Every step of ``market`` as ``book``'s venue would have recorded it."""
    listed = {s for s in market.symbols() if s.endswith("USDT") and book.lists(s)}
    rows = (
        derive(s, book)
        for ts in market.times()
        for s in market.snapshots_at(ts)
        if s.symbol in listed  # the hash once per symbol, not per row
    )
    return ReplayMarket.from_snapshots(s for s in rows if s is not None)


class VenueReplaySource(ReplaySource):
    """A ``ReplaySource`` under a venue id of its own that also lists its markets for the
    aggregate (``bot.ports.ListingSource``), as the live ccxt source does."""

    def __init__(
        self,
        market: ReplayMarket,
        *,
        exchange: str,
        label: str,
        naming: str | None = None,
        symbols: Sequence[str] = (),
        cycle_interval_s: float = 300.0,
    ) -> None:
        super().__init__(market, symbols=symbols, cycle_interval_s=cycle_interval_s)
        self.exchange = exchange
        self.label = label
        self._naming = naming

    async def fetch_oi_history(self, symbol: str, since: datetime, until: datetime) -> list[OiPoint]:
        """The recorded OI before ``until``: the step at ``until`` is the cycle's to store.

        Replayed cycles fall on the history's own 5-minute grid; a backfilled OI-only point at
        the cycle's time would take its place in the store, and the aggregate reads a venue's
        newest full snapshot (live cycles never land on the grid).
        """
        return [p for p in await super().fetch_oi_history(symbol, since, until) if p.ts < until]

    async def listings(self) -> list[Listing | VenueOnly]:
        """Every replayed symbol with its base name as the venue writes it."""
        return [Listing(self.exchange, s, self._base(s)) for s in await self.load_universe()]

    def _base(self, symbol: str) -> str:
        if self._naming == "okx":
            return symbol.removesuffix("-USDT-SWAP")
        return symbol.removesuffix("USDT")


def demo_venues(
    market: ReplayMarket, *, symbols: Iterable[str] = (), cycle_interval_s: float = 300.0
) -> tuple[VenueReplaySource, ...]:
    """The replay itself (as ``replay``) and its synthetic Bybit and OKX venues, as sources.

    ``symbols`` (``SYMBOLS``) picks replay symbols; the synthetic venues follow that pick.
    """
    wanted = tuple(s.strip().upper() for s in symbols)
    out = [
        VenueReplaySource(
            market,
            exchange=REPLAY_EXCHANGE,
            label=SYNTHETIC_LABEL,
            symbols=wanted,
            cycle_interval_s=cycle_interval_s,
        )
    ]
    for book in SYNTHETIC_BOOKS:
        derived = derived_market(market, book)
        picked = []
        for symbol in wanted:
            base, _ = venue_base(symbol.removesuffix("USDT"), book.naming)
            if book.lists(symbol):
                picked.append(venue_symbol(base, book.naming))
        if wanted and not picked:
            continue  # none of the chosen symbols is listed there
        out.append(
            VenueReplaySource(
                derived,
                exchange=book.exchange,
                label=book.label,
                naming=book.naming,
                symbols=picked,
                cycle_interval_s=cycle_interval_s,
            )
        )
    return tuple(out)
