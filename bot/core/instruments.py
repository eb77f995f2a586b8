"""One asset across venues: map each venue's perpetual to a canonical base asset.

Venues name the same asset differently and quote some in multiples of it: Binance lists
``1000SHIBUSDT`` (base ``1000SHIB``: one unit is 1,000 SHIB) and ``1MBABYDOGEUSDT``, Bybit
``SHIB1000USDT`` (base ``SHIB1000``) next to ``1000PEPEUSDT``, OKX ``SHIB-USDT-SWAP`` (base
``SHIB``; its contract value is applied by the collector, so its open interest already
counts SHIB). A listing's open interest in canonical units is its OI in the venue's base
units times ``Listing.units``.

Names alone are not proof: two venues may use one ticker for different tokens, or a
multiplier may be part of a name. ``verify`` therefore checks that the mark prices per
canonical unit agree across venues before a listing joins an aggregate; a listing whose
name cannot be read safely or whose price disagrees stays venue-only, with the reason.
Pure and standard-library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from statistics import median

# Multipliers venues put before (1000SHIB, 1MBABYDOGE) or after (SHIB1000) the asset's name.
# Longest first, so 1000000MOG reads as 1,000,000 × MOG and not 1,000 × "000MOG".
_PREFIXES = (("1000000", 1e6), ("100000", 1e5), ("10000", 1e4), ("1000", 1e3), ("1M", 1e6))
_SUFFIXES = (("1000000", 1e6), ("100000", 1e5), ("10000", 1e4), ("1000", 1e3))
# Upper-case letters and digits, starting with a letter or digit: every listed base so far.
_NAME = re.compile(r"[A-Z0-9]{1,30}")
# The rest of a name after a multiplier must read as a name: starts with a letter, two or more
# characters ("1INCH" is one asset, not 1 × "INCH"; "1000X" would leave a one-letter name).
_REST = re.compile(r"[A-Z][A-Z0-9]+")

PRICE_TOLERANCE = 0.05
"""Largest relative distance of a venue's price per canonical unit from the others' median."""


@dataclass(frozen=True, slots=True)
class Listing:
    """One venue's perpetual as the collector sees it.

    Attributes:
        venue: ccxt exchange id.
        symbol: the venue's own id (``1000SHIBUSDT``, ``SHIB-USDT-SWAP``).
        base: the venue's base asset name (ccxt's ``base``: ``1000SHIB``, ``SHIB1000``).
    """

    venue: str
    symbol: str
    base: str


@dataclass(frozen=True, slots=True)
class Mapped:
    """A listing read as ``units`` canonical units of ``asset`` per venue base unit."""

    listing: Listing
    asset: str
    units: float


@dataclass(frozen=True, slots=True)
class VenueOnly:
    """A listing left out of every aggregate, and why (logged once)."""

    listing: Listing
    reason: str


def canonical(base: str) -> tuple[str, float] | None:
    """``(asset, units)`` of a venue's base name: ``1000SHIB`` → ``('SHIB', 1000.0)``.

    ``None`` when the name is not one a venue lists (empty, punctuation, too long).
    """
    name = base.strip().upper()
    if not _NAME.fullmatch(name):
        return None
    for prefix, units in _PREFIXES:
        rest = name[len(prefix) :]
        if name.startswith(prefix) and _REST.fullmatch(rest):
            return rest, units
    for suffix, units in _SUFFIXES:
        rest = name[: -len(suffix)]
        # SHIB1000, but not a name that merely ends in digits after digits (A10000 is kept).
        if name.endswith(suffix) and _REST.fullmatch(rest) and not rest[-1].isdigit():
            return rest, units
    return name, 1.0


@dataclass(frozen=True, slots=True)
class InstrumentMap:
    """Which listings aggregate as which asset, and which stay venue-only."""

    assets: Mapping[str, tuple[Mapped, ...]]
    venue_only: tuple[VenueOnly, ...]

    def asset_of(self, venue: str, symbol: str) -> Mapped | None:
        """The mapping of one venue's symbol, if it joins an aggregate."""
        for members in self.assets.values():
            for m in members:
                if m.listing.venue == venue and m.listing.symbol == symbol:
                    return m
        return None


def build(listings: Iterable[Listing], mark_prices: Mapping[tuple[str, str], float | None]) -> InstrumentMap:
    """Group listings by canonical asset, keeping only those whose prices agree.

    Args:
        listings: every venue's collected perpetuals.
        mark_prices: mark price by (venue, symbol), in the quote currency per venue base unit.

    A listing joins its asset's group when its name reads safely and its price per canonical
    unit lies within ``PRICE_TOLERANCE`` of the median of the other venues' prices. An asset
    listed on one venue only needs no price: it is its own aggregate. When only two venues
    disagree there is no majority to trust, and both stay venue-only.
    """
    groups: dict[str, list[Mapped]] = {}
    left_out: list[VenueOnly] = []
    for listing in listings:
        read = canonical(listing.base)
        if read is None:
            left_out.append(VenueOnly(listing, f"base {listing.base!r} is not a name a venue lists"))
            continue
        asset, units = read
        groups.setdefault(asset, []).append(Mapped(listing, asset, units))
    assets: dict[str, tuple[Mapped, ...]] = {}
    for asset, members in sorted(groups.items()):
        kept, dropped = _agreeing(members, mark_prices)
        left_out.extend(dropped)
        if kept:
            assets[asset] = tuple(kept)
    return InstrumentMap(assets=assets, venue_only=tuple(left_out))


def _agreeing(
    members: list[Mapped], mark_prices: Mapping[tuple[str, str], float | None]
) -> tuple[list[Mapped], list[VenueOnly]]:
    if len({m.listing.venue for m in members}) < 2:
        return members, []
    priced: list[tuple[Mapped, float]] = []
    dropped: list[VenueOnly] = []
    for m in members:
        price = mark_prices.get((m.listing.venue, m.listing.symbol))
        if price is None or not 0 < price < float("inf"):
            dropped.append(VenueOnly(m.listing, f"no mark price to check it is the same {m.asset}"))
        else:
            priced.append((m, price / m.units))
    if len({m.listing.venue for m, _ in priced}) < 2:
        return [m for m, _ in priced], dropped  # one venue left: nothing contradicts it
    # The median of all prices: with three venues one stray price cannot move it, with two
    # it is their midpoint, so two venues more than twice the tolerance apart both stay out.
    ref = median(p for _, p in priced)
    kept = []
    for m, price in priced:
        if abs(price - ref) <= PRICE_TOLERANCE * ref:
            kept.append(m)
        else:
            dropped.append(
                VenueOnly(
                    m.listing,
                    f"price per {m.asset} {price:.6g} is more than {PRICE_TOLERANCE:.0%} "
                    f"from the venues' median {ref:.6g}",
                )
            )
    return kept, dropped
