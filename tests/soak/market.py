"""The bundled replay market served by the fake exchange, following a simulated clock.

Each replay symbol becomes a fake instrument whose mark, basis, funding and open interest
are set from the replay step at the simulated time, so the real collector sees the demo's
episodes (SUI turning stressed, ARB's squeeze risk) through real HTTP and ccxt. The
open-interest history endpoint (the cold-start backfill) reads the replay's own history.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.collector.replay import ReplayMarket
from bot.core.market import MarketSnapshot
from tests.fakes.exchange import FakeInstrument, FakeMarket

STEP = timedelta(minutes=5)


@dataclass
class ReplayInstrument(FakeInstrument):
    """A fake instrument whose OI history is the replay's (``oi_at``)."""

    history_ms: list[int] = field(default_factory=list)
    history_oi: list[float] = field(default_factory=list)

    def oi_at(self, ts_ms: int) -> float:
        k = bisect.bisect_right(self.history_ms, ts_ms) - 1
        return self.history_oi[max(k, 0)] if self.history_oi else self.oi_base


def _base(symbol: str) -> str:
    return symbol.removesuffix("USDT")


def _apply(inst: FakeInstrument, snap: MarketSnapshot) -> None:
    if snap.mark_price:
        inst.mark = snap.mark_price
        if snap.index_price:
            inst.basis = snap.mark_price / snap.index_price - 1.0
    if snap.funding_rate is not None:
        inst.funding_rate = snap.funding_rate
    if snap.funding_interval_h:
        inst.interval_h = round(snap.funding_interval_h)
    if snap.oi_contracts:
        inst.oi_base = snap.oi_contracts
    if snap.volume_24h_usd:
        inst.volume_usd = snap.volume_24h_usd


class ReplayDrivenMarket:
    """A ``FakeMarket`` whose instruments follow the replay at the simulated time.

    Args:
        replay: the replay market (the bundled demo market by default).
        held_back: symbols listed only when ``list_held_back`` is called (a new listing).
    """

    def __init__(self, replay: ReplayMarket | None = None, held_back: tuple[str, ...] = ()) -> None:
        self.replay = replay or ReplayMarket.bundled()
        self.times = self.replay.times()
        self.market = FakeMarket({})
        self._held: dict[str, ReplayInstrument] = {}
        first = self.replay.snapshots_at(self.times[0])
        last_time = self.times[-1]
        for snap in first:
            history = self.replay.oi_history(snap.symbol, last_time)
            inst = ReplayInstrument(
                _base(snap.symbol),
                snap.mark_price or 1.0,
                history_ms=[int(ts.timestamp() * 1000) for ts, _ in history],
                history_oi=[oi for _, oi in history],
            )
            _apply(inst, snap)
            if snap.symbol in held_back:
                self._held[inst.base] = inst
            else:
                self.market.add(inst)
        self._step: datetime | None = None

    def update(self, now: datetime) -> None:
        """Set every instrument from the replay step at or before ``now``."""
        k = bisect.bisect_right(self.times, now) - 1
        step = self.times[max(k, 0)]
        if step == self._step:
            return
        self._step = step
        for snap in self.replay.snapshots_at(step):
            inst = self.market.instruments.get(_base(snap.symbol)) or self._held.get(_base(snap.symbol))
            if inst is not None:
                _apply(inst, snap)

    def list_held_back(self) -> list[str]:
        """List the held-back symbols now (as a new listing the universe reload finds)."""
        listed = []
        for inst in self._held.values():
            self.market.add(inst)
            listed.append(inst.binance_id)
        self._held.clear()
        return listed

    def delist(self, symbol: str) -> None:
        self.market.delist(_base(symbol))


def utc(text: str) -> datetime:
    """``2026-11-17 18:00`` as aware UTC."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
