"""Cycles that store only the alert states that changed materially, for the exactness tests.

``run_plan`` drives the diff engine and ``CycleStore.save_cycle`` the way
``CollectionCycle`` does (accepted scores, ``material_changes``) and checks after every
cycle that ``load_alert_states`` gives back the states held in memory. A plan is plain
data, so Hypothesis and a seeded ``random.Random`` can both make one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from hypothesis import strategies as st

from bot.core.bands import band_for
from bot.core.diff import DiffParams, accepted_points, diff, material_changes
from bot.core.events import ScoredPoint, SymbolState
from bot.core.models import Bias, Components, Regime, ScoreInputs, ScoreResult
from bot.core.records import ScoreRecord
from bot.core.regimes import REGIME_LABELS
from bot.ports import AlertStateStore, CycleStore
from tests.fakes.market_stores import reading_of_record

# 10:50 UTC: the first cycles cross an hour.
START = datetime(2026, 11, 30, 10, 50, tzinfo=UTC)
SYMBOLS = ("AUSDT", "BUSDT", "CUSDT")
STEPS = (timedelta(minutes=5), timedelta(minutes=1), timedelta(minutes=17), timedelta(minutes=55))
"""Between cycles: the cadence, a quick retry, a gap past ``stale_after``, nearly an hour."""
LAGS = ("now", "now", "stale", "repeat")
"""A reading's data time: the cycle's, older than ``stale_after``, or its previous one again."""
REGIMES = (Regime.LONG_BIAS, Regime.LONG_SQUEEZE_RISK, Regime.SHORT_SQUEEZE_RISK, Regime.BALANCED)


@dataclass(frozen=True, slots=True)
class Seen:
    """One symbol's score in a planned cycle."""

    symbol: str
    lag: str
    partial: bool
    score: int
    bias: Bias
    regime: Regime


@dataclass(frozen=True, slots=True)
class Planned:
    """One planned cycle: how long after the previous one, and what it scored."""

    step: timedelta
    seen: tuple[Seen, ...]


class Stores(Protocol):
    alert_states: AlertStateStore
    cycles: CycleStore


def random_plan(rng: random.Random, cycles: int) -> list[Planned]:
    """A plan of ``cycles`` cycles; scores jump across the band floors often."""
    return [
        Planned(
            rng.choice(STEPS),
            tuple(
                Seen(
                    symbol,
                    rng.choice(LAGS),
                    rng.random() < 0.15,
                    rng.choice((5, 14, 16, 30, 36, 50, 61, 80)),
                    rng.choice((Bias.LONG, Bias.SHORT, Bias.NEUTRAL)),
                    rng.choice(REGIMES),
                )
                for symbol in SYMBOLS
                if rng.random() < 0.85
            ),
        )
        for _ in range(cycles)
    ]


def _record(exchange: str, seen: Seen, ts: datetime, params: DiffParams) -> ScoreRecord:
    """A score whose rates need all 64 bits and differ per reading (a rebuilt ``last`` must
    come back bit-exact, not merely close)."""
    x = seen.score + ts.timestamp() / 1e9
    regime = seen.regime
    return ScoreRecord(
        exchange=exchange,
        symbol=seen.symbol,
        ts=ts,
        inputs=ScoreInputs(
            oi_1h_pct=x / 3,
            oi_4h_pct=None if seen.partial else -x / 7,
            oi_24h_pct=x * 0.1,
            funding_pct=0.01,
            funding_interval_h=8,
            basis_pct=-x / 11,
        ),
        result=ScoreResult(
            score=seen.score,
            band=band_for(seen.score, params.band_floors),
            bias=seen.bias,
            regime=regime,
            label=REGIME_LABELS[regime],
            partial=seen.partial,
            components=fixed_components(funding_8h_pct=x / 13),
        ),
    )


def fixed_components(
    funding_8h_pct: float | None = None,
    funding_excess_pct: float | None = None,
    funding_annualised_pct: float | None = None,
) -> Components:
    """Components with every value set (each exact in binary) but the funding figures given."""
    return Components(
        funding_8h_pct=funding_8h_pct,
        funding_excess_pct=funding_excess_pct,
        funding_annualised_pct=funding_annualised_pct,
        funding=0.25,
        basis=-0.125,
        oi_build=0.5,
        oi_unwind=0.0,
        positioning=0.375,
        direction=0.0625,
    )


def run_plan(s: Stores, exchange: str, plan: list[Planned], params: DiffParams | None = None) -> int:
    """Run ``plan``; after each cycle ``load_alert_states`` must equal the memory.

    Returns:
        How many cycles stored fewer states than changed (the rebuild was needed).
    """
    p = params or DiffParams()
    memory: dict[str, SymbolState] = {}
    data_ts: dict[str, datetime] = {}  # each symbol's last data time, for "repeat"
    now = START
    skipped = 0
    for planned in plan:
        now += planned.step
        records = []
        for seen in planned.seen:
            lag = {"now": now, "stale": now - p.stale_after - timedelta(minutes=1)}
            ts = data_ts.get(seen.symbol, now) if seen.lag == "repeat" else lag[seen.lag]
            data_ts[seen.symbol] = ts
            records.append(_record(exchange, seen, ts, p))
        points = [ScoredPoint(r.symbol, reading_of_record(r), r.result.partial) for r in records]
        outcome = diff(exchange, memory, points, now, p)
        accepted = accepted_points(points, outcome.states)  # as ``CollectionCycle._diff_states``
        written = material_changes(memory, outcome.states)
        changed = sum(1 for symbol, state in outcome.states.items() if memory.get(symbol) != state)
        skipped += len(written) < changed
        s.cycles.save_cycle(
            exchange=exchange,
            scores=[
                ScoreRecord(r.exchange, r.symbol, r.ts, r.inputs, r.result, took)
                for r, took in zip(records, accepted, strict=True)
            ],
            alert_states=written,
        )
        memory = outcome.states
        assert s.alert_states.load_alert_states(exchange) == memory, f"after the cycle at {now}"
        # One symbol read alone is that symbol's state of the whole load (none: ``None``).
        for symbol in {*memory, *(r.symbol for r in records), "NEVERUSDT"}:
            assert s.alert_states.load_alert_state(exchange, symbol) == memory.get(symbol), (symbol, now)
    return skipped


_seen = st.builds(
    Seen,
    st.sampled_from(SYMBOLS),
    st.sampled_from(LAGS),
    st.booleans(),
    st.one_of(st.integers(0, 100), st.sampled_from((14, 15, 34, 35, 59, 60))),
    st.sampled_from(Bias),
    st.sampled_from(REGIMES),
)
plans = st.lists(
    st.builds(
        Planned, st.sampled_from(STEPS), st.lists(_seen, max_size=3, unique_by=lambda s: s.symbol).map(tuple)
    ),
    min_size=1,
    max_size=25,
)
"""Plans for Hypothesis: scores near the band floors often."""
