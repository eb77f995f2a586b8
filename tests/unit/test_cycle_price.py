"""The collection cycle reads the stored mark price with the OI and lets it name the regime."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app.cycle import CollectionCycle, CycleDeps
from bot.app.market_memory import disjoint_spans as _disjoint
from bot.app.snapshot_scoring import ScoredSymbol
from bot.core.collection import FetchReport, OiPoint
from bot.core.diff import DiffParams
from bot.core.market import MarketSnapshot
from bot.core.models import Bias, Regime
from bot.core.params import DEFAULT_PARAMS
from bot.core.scoring import score
from bot.render.documents import alert_document
from tests.fakes import FakeStorage

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
EX = "fakex"
FUNDING = 0.0005  # 0.05 %/8h: longs pay
PREMIUM = 1.002  # mark 0.2 % over the index
# OI falls 3 % in 1h, 8 % in 4h, 20 % in a day: fast enough to be an unwind or covering.
OI_CHANGE_PCT = {1: -3.0, 4: -8.0, 24: -20.0}
RISING_PCT = {1: 1.5, 4: 4.0, 24: 8.0}


def snap(symbol: str, ts: datetime, oi: float, mark: float | None) -> MarketSnapshot:
    index = None if mark is None else mark / PREMIUM
    return MarketSnapshot(EX, symbol, ts, oi, oi * 100.0, mark, index, mark, FUNDING, 8.0, None, 1e6)


def history(symbol: str, price_pct: dict[int, float] | None) -> list[MarketSnapshot]:
    """Stored points at each horizon's past time; ``None``: OI only, as a backfill stores it."""
    points = []
    for hours, oi_pct in OI_CHANGE_PCT.items():
        mark = None if price_pct is None else 100.0 / (1 + price_pct[hours] / 100)
        points.append(snap(symbol, NOW - timedelta(hours=hours), 1000.0 / (1 + oi_pct / 100), mark))
    return points


@dataclass
class OneCycleSource:
    """Serves the current snapshots of the given symbols: OI 1000, mark 100."""

    symbols: list[str]

    async def load_universe(self) -> list[str]:
        return list(self.symbols)

    async def fetch_cycle(self, now: datetime) -> FetchReport:
        return FetchReport(
            snapshots=tuple(snap(s, now, 1000.0, 100.0) for s in self.symbols),
            failures=(),
            requests=1,
            weight_used=None,
            duration_s=0.0,
        )

    async def fetch_oi_history(self, symbol: str, since: datetime, until: datetime) -> list[OiPoint]:
        raise AssertionError(f"{symbol} has its day of history: no backfill expected")

    async def close(self) -> None:
        return None


async def scored_by_symbol(stored: list[MarketSnapshot], symbols: list[str]) -> dict[str, ScoredSymbol]:
    storage = FakeStorage()
    storage.snapshots.add_snapshots(stored)
    deps = CycleDeps(
        EX,
        OneCycleSource(symbols),
        storage.snapshots,
        storage.alert_states,
        storage.chats,
        storage.outbox,
        storage.cycles,
    )
    report = await CollectionCycle(deps, DEFAULT_PARAMS, DiffParams(), alert_document).run(NOW)
    assert report.scored == len(symbols)
    stored_regimes = {r.symbol: r.result.regime for r in storage.scores.latest_scores(EX, since=NOW)}
    assert stored_regimes == {s.snapshot.symbol: s.result.regime for s in report.top}
    return {s.snapshot.symbol: s for s in report.top}


async def test_price_decides_covering_from_unwind_in_the_cycle() -> None:
    falling = {hours: -pct for hours, pct in RISING_PCT.items()}
    stored = [*history("UPUSDT", RISING_PCT), *history("DOWNUSDT", falling), *history("OLDUSDT", None)]
    scored = await scored_by_symbol(stored, ["UPUSDT", "DOWNUSDT", "OLDUSDT"])

    up, down, old = scored["UPUSDT"], scored["DOWNUSDT"], scored["OLDUSDT"]
    moves = (up.inputs.price_1h_pct, up.inputs.price_4h_pct, up.inputs.price_24h_pct)
    assert moves == pytest.approx((1.5, 4.0, 8.0))
    assert up.inputs.oi_24h_pct == pytest.approx(-20.0)
    # Longs pay in all three books; the price says who is closing.
    assert (up.result.regime, up.result.bias) == (Regime.SHORT_COVERING, Bias.SHORT)
    assert (down.result.regime, down.result.bias) == (Regime.LONG_UNWIND, Bias.LONG)
    # Stored history without a mark price (a backfill): no price moves, the lean decides.
    assert (old.inputs.price_1h_pct, old.inputs.price_24h_pct) == (None, None)
    assert (old.result.regime, old.result.bias) == (Regime.LONG_UNWIND, Bias.LONG)
    # The price never moves the score nor makes it partial.
    assert up.result.score == down.result.score == old.result.score
    unpriced = dataclasses.replace(up.inputs, price_1h_pct=None, price_4h_pct=None, price_24h_pct=None)
    assert score(unpriced).score == up.result.score
    assert not any(s.result.partial for s in scored.values())


async def test_only_the_current_price_is_known_until_history_builds_up() -> None:
    # A fresh store: the snapshot's own mark price is one point, no change can be measured.
    scored = await scored_by_symbol([snap("NEWUSDT", NOW - timedelta(hours=24), 1250.0, None)], ["NEWUSDT"])
    new = scored["NEWUSDT"].inputs
    assert (new.price_1h_pct, new.price_4h_pct, new.price_24h_pct) == (None, None, None)


minutes = st.integers(min_value=0, max_value=200)


@given(st.lists(st.tuples(minutes, minutes), max_size=6), st.lists(minutes, max_size=30))
def test_the_cycle_reads_each_point_once_in_time_order(
    spans: list[tuple[int, int]], points: list[int]
) -> None:
    # The windows are read as disjoint spans, oldest first: a point in several windows is
    # read once, and concatenating the reads keeps time order.
    windows = [(NOW + timedelta(minutes=a), NOW + timedelta(minutes=a + b)) for a, b in spans]
    times = sorted({NOW + timedelta(minutes=m) for m in points})
    read = [t for start, end in _disjoint(windows) for t in times if start <= t <= end]
    assert read == [t for t in times if any(start <= t <= end for start, end in windows)]
