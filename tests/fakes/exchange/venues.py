"""One scenario market, as each venue would list it: its names, contract sizes and its own book.

The three venues trade the same assets against the same spot index, but each names some of
them its own way and holds its own positions. ``venue_market(scenario, venue)`` derives a
venue's ``FakeMarket`` from the scenario (Binance's view of it) so that a ``FakeExchange``
per venue serves one market three ways:

- names: Binance's ``1000PEPE`` and ``1000SHIB`` (one unit is 1,000 tokens); Bybit keeps
  ``1000PEPE`` but calls SHIB ``SHIB1000``; OKX lists the token itself (``PEPE-USDT-SWAP``,
  ``SHIB-USDT-SWAP``) with a large contract value (``ctVal`` 10,000,000 PEPE, 1,000,000 SHIB),
  so its price is per token and its open interest counts tokens;
- the book (``VenueBook``): each venue's open interest is a fixed share of the scenario's,
  its funding and basis are offset from it (the index stays the same), some assets settle
  funding on another interval, and its OI history's daily wave is shifted. The aggregate of
  three venues is then never one venue times three.

Pure functions of the scenario: a test computes every figure a venue serves from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from tests.fakes.exchange.market import FakeInstrument, FakeMarket, usual_listings

VENUES = ("binanceusdm", "bybit", "okx")


@dataclass(frozen=True)
class VenueBook:
    """How one venue's book differs from the scenario's.

    Attributes:
        oi_share: its open interest, as a multiple of the scenario's (in the same tokens).
        funding_add: added to the funding rate per interval (a fraction).
        basis_add: added to the basis (a fraction); the index is the scenario's.
        wave_shift: radians added to the phase of the OI history's daily wave.
        interval_h: per scenario base, the venue's own funding interval in hours.
    """

    oi_share: float = 1.0
    funding_add: float = 0.0
    basis_add: float = 0.0
    wave_shift: float = 0.0
    interval_h: Mapping[str, int] = field(default_factory=dict)


BOOKS: dict[str, VenueBook] = {
    "binanceusdm": VenueBook(),
    # Half Binance's positions, paying more and on a higher premium, SOL settling every 8 h.
    "bybit": VenueBook(
        oi_share=0.5, funding_add=0.0002, basis_add=0.0003, wave_shift=0.9, interval_h={"SOL": 8}
    ),
    # A quarter, paying less and at a discount to Binance, DOGE settling every 4 h.
    "okx": VenueBook(
        oi_share=0.25, funding_add=-0.00005, basis_add=-0.0006, wave_shift=-1.3, interval_h={"DOGE": 4}
    ),
}

_MULTIPLIERS = (("1000", 1000.0),)
"""The scenario's multiplied names (Binance's): ``1000PEPE`` is 1,000 PEPE."""

BYBIT_NAMES = {"1000SHIB": "SHIB1000"}
"""Bybit's names where they differ from Binance's (it lists ``1000PEPEUSDT`` like Binance)."""

OKX_CONTRACT_VALUES = {"PEPE": 10_000_000.0, "SHIB": 1_000_000.0}
"""OKX's ``ctVal`` of the tokens that other venues quote in thousands."""


def token_name(base: str) -> tuple[str, float]:
    """``(token, tokens per unit)`` of a scenario base: ``1000PEPE`` → ``('PEPE', 1000.0)``."""
    for prefix, units in _MULTIPLIERS:
        if base.startswith(prefix) and base[len(prefix) :].isalpha():
            return base[len(prefix) :], units
    return base, 1.0


def _named(inst: FakeInstrument, venue: str) -> FakeInstrument:
    """``inst`` under the venue's name, in the venue's units (prices and OI rescaled)."""
    if venue == "bybit":
        return replace(inst, base=BYBIT_NAMES.get(inst.base, inst.base))
    if venue == "okx":
        token, units = token_name(inst.base)
        if units == 1.0:
            return inst
        return replace(
            inst,
            base=token,
            mark=inst.mark / units,
            oi_base=inst.oi_base * units,
            volume_usd=inst.volume_usd,
            contract_size=OKX_CONTRACT_VALUES.get(token, inst.contract_size * units),
        )
    return inst


def venue_instrument(inst: FakeInstrument, venue: str) -> FakeInstrument:
    """One scenario instrument as ``venue`` lists it (see the module docstring)."""
    book = BOOKS[venue]
    basis = inst.basis + book.basis_add
    own = replace(
        inst,
        mark=inst.index * (1.0 + basis),  # the same spot index, the venue's own premium
        basis=basis,
        funding_rate=inst.funding_rate + book.funding_add,
        interval_h=book.interval_h.get(inst.base, inst.interval_h),
        oi_base=inst.oi_base * book.oi_share,
        phase_rad=inst.phase() + book.wave_shift,
    )
    return _named(own, venue)


def venue_market(scenario: FakeMarket, venue: str) -> FakeMarket:
    """The scenario as ``venue`` serves it: its names, units and book; the usual other listings."""
    if venue not in BOOKS:
        raise ValueError(f"no book for venue {venue!r}; known: {', '.join(BOOKS)}")
    instruments = {v.base: v for v in (venue_instrument(i, venue) for i in scenario.instruments.values())}
    return FakeMarket(instruments, clock_ms=scenario.clock_ms, others=list(scenario.others))


def priced(
    base: str, index: float, basis: float, funding: float, interval_h: int, oi: float, ct: float
) -> FakeInstrument:
    """An instrument quoted from its index: round index prices go over every venue's wire
    (OKX sends 8 significant digits) without losing a digit."""
    return FakeInstrument(base, index * (1.0 + basis), basis, funding, interval_h, oi, 1e9, ct)


def scenario() -> FakeMarket:
    """The three-venue scenario: the default market's assets (sizes, funding, intervals) on
    round index prices, plus ``1000SHIB`` (Bybit's ``SHIB1000``)."""
    return FakeMarket(
        {
            i.base: i
            for i in (
                priced("BTC", 91_200.0, 0.0004, 0.0001, 8, 80_000.0, 0.01),
                priced("ETH", 3_050.0, -0.0002, -0.00005, 8, 1_900_000.0, 0.1),
                priced("SOL", 140.0, 0.0010, 0.0003, 4, 7_000_000.0, 1.0),
                priced("XRP", 2.2, 0.0001, 0.0001, 8, 400_000_000.0, 100.0),
                priced("DOGE", 0.15, -0.0008, -0.0004, 1, 2_000_000_000.0, 1000.0),
                priced("1000PEPE", 0.011, 0.0020, 0.0005, 4, 9_000_000_000.0, 10.0),
                priced("1000SHIB", 0.0089, 0.0007, 0.00015, 8, 60_000_000_000.0, 1.0),
            )
        },
        others=usual_listings(),
    )
