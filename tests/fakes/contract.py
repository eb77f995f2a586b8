"""Behaviour every store implementation shares: the SQL stores and the in-memory fakes.

Each ``check_*`` function takes a fresh ``Stores`` bundle and asserts one behaviour of the
ports. ``tests/unit/test_fake_stores.py`` runs them on the fakes and
``tests/integration/test_storage_contract.py`` on SQLite after the real migrations, so a
fake can never drift from the store it stands in for.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Protocol

import pytest

from bot.app.fanout import Audience, wants
from bot.core.bands import band_for
from bot.core.collection import OiPoint
from bot.core.diff import DiffParams, diff
from bot.core.document import (
    BulletList,
    ChartRef,
    Column,
    ColumnKind,
    Document,
    Footnote,
    Heading,
    KeyValues,
    Paragraph,
    Table,
    Tone,
)
from bot.core.events import AlertEvent, EventKind, LastAlert, Reading, ScoredPoint, SymbolState
from bot.core.market import MarketSnapshot
from bot.core.models import Band, Bias, Regime, ScoreInputs, ScoreResult
from bot.core.records import (
    ChatKey,
    ChatKind,
    ChatSettings,
    OutboxMessage,
    OutboxStatus,
    Platform,
    RetentionPolicy,
    RetryPolicy,
    ScoreRecord,
)
from bot.core.regimes import REGIME_LABELS
from bot.errors import StorageError
from bot.ports import (
    AlertStateStore,
    ChatStore,
    CycleStore,
    DigestLog,
    MarketSeries,
    OutboxStore,
    RetentionJob,
    ScoreStore,
    SnapshotStore,
)
from tests.fakes.clock import EPOCH
from tests.fakes.material_cycles import STEPS, Planned, Seen, fixed_components, random_plan, run_plan
from tests.fakes.outbox_rows import outbox_record, stored_outbox

EX = "binanceusdm"
T0 = EPOCH
STEP = timedelta(minutes=5)
TOL = timedelta(minutes=10)


class Stores(Protocol):
    """What both ``bot.storage.facade.Storage`` and ``tests.fakes.FakeStorage`` offer."""

    snapshots: SnapshotStore
    scores: ScoreStore
    chats: ChatStore
    alert_states: AlertStateStore
    outbox: OutboxStore
    digests: DigestLog
    cycles: CycleStore
    retention: RetentionJob


# --- builders ---------------------------------------------------------------------------


def snapshot(symbol: str, ts: datetime, oi: float | None = 1000.0, exchange: str = EX) -> MarketSnapshot:
    """A snapshot with every field set (OI as given)."""
    return MarketSnapshot(
        exchange=exchange,
        symbol=symbol,
        ts=ts,
        oi_contracts=oi,
        oi_usd=None if oi is None else oi * 2.5,
        mark_price=2.5,
        index_price=2.49,
        last_price=2.51,
        funding_rate=0.0001,
        funding_interval_h=4.0,
        next_funding_time=ts + timedelta(hours=3),
        volume_24h_usd=1.5e7,
    )


def result(
    score: int,
    bias: Bias = Bias.LONG,
    regime: Regime = Regime.LONG_BIAS,
    band: Band = Band.LEAN,
    partial: bool = False,
) -> ScoreResult:
    """A score result with distinct, exactly representable component values."""
    return ScoreResult(
        score=score,
        band=band,
        bias=bias,
        regime=regime,
        label=REGIME_LABELS[regime],
        partial=partial,
        components=fixed_components(None, None, None) if partial else fixed_components(0.02, 0.01, 21.9),
    )


def record(symbol: str, ts: datetime, res: ScoreResult | None = None, exchange: str = EX) -> ScoreRecord:
    """A stored score; inputs include a missing 4h horizon."""
    return ScoreRecord(
        exchange=exchange,
        symbol=symbol,
        ts=ts,
        inputs=ScoreInputs(
            oi_1h_pct=1.5,
            oi_4h_pct=None,
            oi_24h_pct=12.25,
            funding_pct=0.01,
            funding_interval_h=4,
            basis_pct=-0.5,
        ),
        result=res or result(20),
    )


def chat_key(
    chat_id: str = "-1001", thread: str | None = None, platform: Platform = Platform.TELEGRAM
) -> ChatKey:
    return ChatKey(platform, chat_id, thread)


def note(text: str) -> Document:
    """A one-line message document."""
    return Document(title="", blocks=(Paragraph(text),))


RICH_DOCUMENT = Document(
    title="Daily digest · <b>𝔘𝔫𝔦</b> 🚀",
    blocks=(
        Heading("Top **stress**"),
        Paragraph("@everyone & <i>", strong=True),
        Paragraph("detail", indent=True),
        BulletList(("one", "`two`")),
        KeyValues((("Alerts", "on"), ("Quiet hours", "22:00–07:00 Europe/Berlin"))),
        Table(
            (Column("Symbol"), Column("Score", ColumnKind.NUMBER), Column("Regime", max_width=12)),
            (("SUIUSDT", "72*", "Long crowded"), ("1000PEPEUSDT", "5", "Short ramp")),
            optional=(2,),
        ),
        ChartRef("digest.png", "Top names"),
        Footnote("data 2025-01-06 12:00 UTC"),
    ),
    tone=Tone.STRESSED,
    source_label="synthetic demo market (replay)",
)
"""Every kind of block, markup-looking and astral text: a store must give it back unchanged."""


def message(
    key: str,
    chat_ref: int,
    at: datetime = T0,
    payload: Document | str = "BTCUSDT lean → stretched",
    events: int = 1,
) -> OutboxMessage:
    document = note(payload) if isinstance(payload, str) else payload
    return OutboxMessage(
        idempotency_key=key, chat_ref=chat_ref, payload=document, created_at=at, event_count=events
    )


def reading(
    ts: datetime = T0,
    score: int = 62,
    band: Band = Band.STRESSED,
    bias: Bias = Bias.LONG,
    regime: Regime = Regime.LONG_CROWDED,
    *,
    rates: bool = True,
) -> Reading:
    """A diff-engine reading; with ``rates``, every rate set to a value that needs all 64 bits."""
    return Reading(
        ts=ts,
        score=score,
        band=band,
        bias=bias,
        regime=regime,
        label=REGIME_LABELS[regime],
        oi_1h_pct=0.1 + 0.2 if rates else None,
        oi_4h_pct=-1 / 3 if rates else None,
        oi_24h_pct=1e-12 if rates else None,
        funding_8h_pct=123456.789012345 if rates else None,
        basis_pct=-2.5e-7 if rates else None,
    )


def symbol_state(
    symbol: str,
    last: Reading | None = None,
    confirmed: Band | None = None,
    alerts: tuple[LastAlert, ...] = (),
) -> SymbolState:
    """A diff-engine state; the confirmed band defaults to the reading's band."""
    last = last or reading()
    return SymbolState(symbol=symbol, confirmed_band=confirmed or last.band, last=last, alerts=alerts)


def store_scores(s: Stores, records: Sequence[ScoreRecord]) -> int:
    """Store scores the way the product does: through a cycle's unit of work."""
    return s.cycles.save_cycle(exchange=EX, scores=records).scores


# --- snapshots --------------------------------------------------------------------------


def check_snapshot_round_trip(s: Stores) -> None:
    plus2 = timezone(timedelta(hours=2))
    snaps = [snapshot("BTCUSDT", T0), replace(snapshot("BTCUSDT", T0 + STEP, oi=None), mark_price=None)]
    local = replace(snapshot("ETHUSDT", T0.astimezone(plus2)), next_funding_time=None)
    assert s.snapshots.add_snapshots([*snaps, local]) == 3
    # What the product reads back: OI (with its USD value), mark price and time, in UTC.
    # (tests/integration/test_storage_contract.py checks every column on the SQL stores.)
    series = s.snapshots.market_history(EX, T0, T0 + STEP)
    assert series == MarketSeries(
        oi={"BTCUSDT": [(T0, 1000.0)], "ETHUSDT": [(T0, 1000.0)]},
        mark={"BTCUSDT": [(T0, 2.5)], "ETHUSDT": [(T0, 2.5)]},
    )
    ((eth_ts, _),) = series.oi["ETHUSDT"]
    assert eth_ts.tzinfo is UTC  # same instant, handed back in UTC
    assert s.snapshots.oi_at_many(EX, T0, TOL) == {
        "BTCUSDT": OiPoint(T0, 1000.0, 2500.0),
        "ETHUSDT": OiPoint(T0, 1000.0, 2500.0),
    }
    # The BTC snapshot without OI or price is stored all the same.
    assert s.snapshots.latest_snapshot_time(EX) == T0 + STEP
    assert s.snapshots.market_history(EX, T0 + STEP, T0 + 2 * STEP) == MarketSeries(oi={}, mark={})


def check_snapshot_duplicates_skipped(s: Stores) -> None:
    first = snapshot("BTCUSDT", T0, oi=1.0)
    assert s.snapshots.add_snapshots([first, snapshot("BTCUSDT", T0, oi=2.0)]) == 1
    assert s.snapshots.add_snapshots([snapshot("BTCUSDT", T0, oi=3.0), snapshot("BTCUSDT", T0 + STEP)]) == 1
    assert s.snapshots.market_history(EX, T0, T0).oi == {"BTCUSDT": [(T0, 1.0)]}


def check_snapshot_fills_a_backfilled_point(s: Stores) -> None:
    # The backfill stores open interest alone; the cycle's snapshot at that very time
    # brings the prices and funding, which must not be lost as a duplicate.
    full = snapshot("BTCUSDT", T0, oi=5.0)
    oi_only = replace(
        full,
        oi_contracts=4.0,
        mark_price=None,
        index_price=None,
        last_price=None,
        funding_rate=None,
        funding_interval_h=None,
        next_funding_time=None,
        volume_24h_usd=None,
    )
    assert s.snapshots.add_snapshots([oi_only]) == 1
    assert s.snapshots.add_snapshots([full]) == 0
    series = s.snapshots.market_history(EX, T0, T0)
    assert series.oi == {"BTCUSDT": [(T0, 4.0)]}  # a stored value stays
    assert series.mark == {"BTCUSDT": [(T0, full.mark_price)]}
    s.snapshots.add_snapshots([replace(oi_only, oi_contracts=6.0)])  # nothing left to fill
    assert s.snapshots.market_history(EX, T0, T0) == series


def check_latest_snapshot_time(s: Stores) -> None:
    assert s.snapshots.latest_snapshot_time(EX) is None
    s.snapshots.add_snapshots(
        [snapshot("A", T0), snapshot("B", T0 + STEP), snapshot("C", T0 + 9 * STEP, exchange="okx")]
    )
    assert s.snapshots.latest_snapshot_time(EX) == T0 + STEP


def check_latest_snapshots(s: Stores) -> None:
    older, newer = snapshot("A", T0, oi=1.0), snapshot("A", T0 + STEP, oi=2.0)
    s.snapshots.add_snapshots(
        [
            newer,
            older,
            snapshot("B", T0 - STEP),
            snapshot("C", T0 + STEP),
            snapshot("A", T0 + 2 * STEP, exchange="okx"),
        ]
    )
    # Each symbol's newest at or after ``since``, every column as stored; other venues apart.
    assert s.snapshots.latest_snapshots(EX, T0) == {"A": newer, "C": snapshot("C", T0 + STEP)}
    assert s.snapshots.latest_snapshots(EX, T0, symbols={"A", "B"}) == {"A": newer}
    assert s.snapshots.latest_snapshots(EX, T0 + 3 * STEP) == {}
    backfilled = replace(snapshot("A", T0 + 3 * STEP, oi=3.0), mark_price=None)
    s.snapshots.add_snapshots([backfilled])  # OI only: never the latest cycle's snapshot
    assert s.snapshots.latest_snapshots(EX, T0, symbols={"A"}) == {"A": newer}
    assert s.snapshots.latest_snapshots("okx", T0) == {"A": snapshot("A", T0 + 2 * STEP, exchange="okx")}


def check_oi_at_or_before_within_tolerance(s: Stores) -> None:
    s.snapshots.add_snapshots(
        [
            snapshot("BTCUSDT", T0, oi=100.0),
            snapshot("BTCUSDT", T0 + STEP, oi=None),  # no OI: never a reading
            snapshot("BTCUSDT", T0 + 3 * STEP, oi=130.0),
        ]
    )

    def oi_at(symbol: str, at: datetime, tolerance: timedelta) -> OiPoint | None:
        return s.snapshots.oi_at_many(EX, at, tolerance, symbols=[symbol]).get(symbol)

    reading = oi_at("BTCUSDT", T0 + 2 * STEP, TOL)
    assert reading is not None and (reading.ts, reading.oi_contracts, reading.oi_usd) == (T0, 100.0, 250.0)
    assert oi_at("BTCUSDT", T0 + 3 * STEP, TOL).oi_contracts == 130.0  # type: ignore[union-attr]
    assert oi_at("BTCUSDT", T0 - STEP, TOL) is None  # nothing before
    assert oi_at("BTCUSDT", T0 + 2 * STEP, timedelta(minutes=9)) is None  # too old
    assert oi_at("ETHUSDT", T0, TOL) is None


def check_oi_at_many(s: Stores) -> None:
    s.snapshots.add_snapshots(
        [
            snapshot("A", T0, oi=1.0),
            snapshot("A", T0 + STEP, oi=2.0),
            snapshot("B", T0 - 3 * STEP, oi=3.0),  # older than the tolerance
            snapshot("C", T0, oi=4.0),
            snapshot("C", T0 + 2 * STEP, oi=5.0),  # after `at`
            snapshot("D", T0, oi=6.0, exchange="okx"),
        ]
    )
    found = s.snapshots.oi_at_many(EX, T0 + STEP, TOL)
    assert {k: v.oi_contracts for k, v in found.items()} == {"A": 2.0, "C": 4.0}
    assert set(s.snapshots.oi_at_many(EX, T0 + STEP, TOL, symbols=["C", "Z"])) == {"C"}


def check_oi_history(s: Stores) -> None:
    s.snapshots.add_snapshots(
        [
            snapshot("B", T0 + STEP, oi=2.0),
            snapshot("B", T0, oi=1.0),
            snapshot("A", T0, oi=None),
            snapshot("A", T0 + STEP, oi=7.0),
            snapshot("B", T0 + 5 * STEP, oi=9.0),
        ]
    )
    assert s.snapshots.market_history(EX, T0, T0 + STEP).oi == {
        "A": [(T0 + STEP, 7.0)],
        "B": [(T0, 1.0), (T0 + STEP, 2.0)],
    }
    assert s.snapshots.market_history(EX, T0, T0 + 9 * STEP, symbols={"B"}).oi == {
        "B": [(T0, 1.0), (T0 + STEP, 2.0), (T0 + 5 * STEP, 9.0)]
    }


def check_market_history(s: Stores) -> None:
    def priced(
        symbol: str, ts: datetime, oi: float | None, mark: float | None, exchange: str = EX
    ) -> MarketSnapshot:
        return replace(snapshot(symbol, ts, oi=oi, exchange=exchange), mark_price=mark)

    s.snapshots.add_snapshots(
        [
            priced("B", T0 + STEP, 2.0, 10.5),
            priced("B", T0, 1.0, 10.0),
            priced("A", T0, None, 3.25),  # a price without OI
            priced("A", T0 + STEP, 7.0, None),  # OI without a price
            priced("C", T0, None, None),  # neither: in no series
            priced("B", T0 + 5 * STEP, 9.0, 11.0),  # after the window
            priced("B", T0, 5.0, 99.0, exchange="okx"),
        ]
    )
    found = s.snapshots.market_history(EX, T0, T0 + STEP)
    assert found.oi == {"A": [(T0 + STEP, 7.0)], "B": [(T0, 1.0), (T0 + STEP, 2.0)]}
    assert found.mark == {"A": [(T0, 3.25)], "B": [(T0, 10.0), (T0 + STEP, 10.5)]}
    only_b = s.snapshots.market_history(EX, T0, T0 + 9 * STEP, symbols={"B", "Z"})
    assert only_b.oi == {"B": [(T0, 1.0), (T0 + STEP, 2.0), (T0 + 5 * STEP, 9.0)]}
    assert only_b.mark == {"B": [(T0, 10.0), (T0 + STEP, 10.5), (T0 + 5 * STEP, 11.0)]}
    empty = s.snapshots.market_history(EX, T0 + 2 * STEP, T0 + 4 * STEP)
    assert (empty.oi, empty.mark) == ({}, {})


def check_naive_time_refused(s: Stores) -> None:
    with pytest.raises(StorageError):
        s.snapshots.add_snapshots([snapshot("BTCUSDT", T0.replace(tzinfo=None))])
    assert s.snapshots.latest_snapshot_time(EX) is None


# --- scores -----------------------------------------------------------------------------


def check_score_round_trip(s: Stores) -> None:
    records = [
        replace(record("BTCUSDT", T0), accepted=True),
        record(
            "BTCUSDT",
            T0 + STEP,
            result(71, Bias.SHORT, Regime.SHORT_SQUEEZE_RISK, Band.STRESSED, partial=True),
        ),
    ]
    assert store_scores(s, records) == 2
    assert store_scores(s, records) == 0  # a cycle stored twice is stored once
    assert s.scores.score_history(EX, "BTCUSDT", T0, T0 + STEP) == records
    assert s.scores.score_history(EX, "BTCUSDT", T0 + STEP, T0 + 9 * STEP) == records[1:]


def check_latest_scores_ranked_and_filtered(s: Stores) -> None:
    store_scores(
        s,
        [
            # BTC was short and high ten minutes ago; its latest score is long.
            record("BTCUSDT", T0 - 2 * STEP, result(90, Bias.SHORT, Regime.SHORT_CROWDED)),
            record("BTCUSDT", T0, result(40, Bias.LONG, Regime.LONG_CROWDED)),
            record("ETHUSDT", T0, result(40, Bias.LONG, Regime.LONG_BIAS)),
            record("SOLUSDT", T0 - STEP, result(65, Bias.SHORT, Regime.SHORT_SQUEEZE_RISK)),
            record("XRPUSDT", T0, result(5, Bias.NEUTRAL, Regime.BALANCED)),
            record("OLDUSDT", T0 - timedelta(hours=3), result(99, Bias.LONG, Regime.LONG_CROWDED)),
            record("BTCUSDT", T0, result(77), exchange="okx"),
        ],
    )
    since = T0 - timedelta(minutes=30)

    def symbols(**kwargs: object) -> list[tuple[str, int]]:
        rows = s.scores.latest_scores(EX, since=since, **kwargs)  # type: ignore[arg-type]
        return [(r.symbol, r.result.score) for r in rows]

    assert symbols() == [("SOLUSDT", 65), ("BTCUSDT", 40), ("ETHUSDT", 40), ("XRPUSDT", 5)]
    assert symbols(limit=2) == [("SOLUSDT", 65), ("BTCUSDT", 40)]
    assert symbols(bias=Bias.SHORT) == [("SOLUSDT", 65)]  # BTC's older SHORT row is not its latest
    squeeze = [Regime.LONG_SQUEEZE_RISK, Regime.SHORT_SQUEEZE_RISK]
    assert symbols(regimes=squeeze) == [("SOLUSDT", 65)]
    assert symbols(bias=Bias.LONG, regimes=[Regime.LONG_CROWDED]) == [("BTCUSDT", 40)]
    latest_btc = s.scores.latest_scores(EX, since=since, limit=2)[1]
    assert latest_btc == record("BTCUSDT", T0, result(40, Bias.LONG, Regime.LONG_CROWDED))


def check_score_card(s: Stores) -> None:
    now = T0 + timedelta(days=1)
    store_scores(
        s,
        [
            record("BTCUSDT", now - timedelta(hours=24, minutes=20), result(11)),  # outside tolerance
            record("BTCUSDT", now - timedelta(hours=24, minutes=5), result(12)),
            record("BTCUSDT", now - timedelta(minutes=61), result(30)),
            record("BTCUSDT", now - timedelta(minutes=55), result(31)),  # after the 1h mark
            record("BTCUSDT", now, result(44)),
        ],
    )
    card = s.scores.score_card(EX, "BTCUSDT", tolerance=TOL)
    assert card is not None
    assert card.latest.result.score == 44 and card.latest.ts == now
    assert card.hour_ago is not None and card.hour_ago.result.score == 30
    assert card.day_ago is not None and card.day_ago.result.score == 12
    narrow = s.scores.score_card(EX, "BTCUSDT", tolerance=timedelta(seconds=30))
    assert narrow is not None and (narrow.hour_ago, narrow.day_ago) == (None, None)
    assert s.scores.score_card(EX, "ETHUSDT", tolerance=TOL) is None


def check_scores_at(s: Stores) -> None:
    now = T0 + timedelta(days=1)
    store_scores(
        s,
        [
            record("BTCUSDT", now - timedelta(hours=24, minutes=20), result(11)),  # outside tolerance
            record("BTCUSDT", now - timedelta(hours=24, minutes=5), result(12)),
            record("BTCUSDT", now - timedelta(minutes=61), result(30)),
            record("BTCUSDT", now - timedelta(minutes=65), result(29)),
            record("BTCUSDT", now - timedelta(minutes=55), result(31)),  # after the 1h mark
            record("ETHUSDT", now - timedelta(minutes=60), result(20)),  # another symbol, same time
            record("BTCUSDT", now, result(44)),
            record("BTCUSDT", now - timedelta(minutes=60), result(50), exchange="bybit"),
        ],
    )
    hour, day = now - timedelta(hours=1), now - timedelta(hours=24)
    wanted = [(EX, "BTCUSDT", hour), (EX, "BTCUSDT", day), ("bybit", "BTCUSDT", hour), (EX, "NOPEUSDT", now)]
    found = s.scores.scores_at(wanted, TOL)
    assert [None if r is None else r.result.score for r in found] == [30, 12, 50, None]
    assert found[2] is not None and found[2].exchange == "bybit"
    # Each window is its own: the same symbol and time twice, in any order.
    again = s.scores.scores_at([(EX, "ETHUSDT", hour), (EX, "BTCUSDT", now), (EX, "ETHUSDT", hour)], TOL)
    assert [None if r is None else r.result.score for r in again] == [20, 44, 20]
    assert s.scores.scores_at([(EX, "BTCUSDT", hour)], timedelta(seconds=30)) == [None]
    assert s.scores.scores_at([], TOL) == []
    # A tolerance of weeks (more hours than one statement seeks) finds the same newest score.
    far = s.scores.scores_at([(EX, "BTCUSDT", now - timedelta(minutes=1))], timedelta(days=60))
    assert far[0] is not None and far[0].result.score == 31


def check_past_scores(s: Stores) -> None:
    """``past_scores`` finds, for each symbol's own newest time, what ``scores_at`` finds."""
    now = T0 + timedelta(days=1)
    store_scores(
        s,
        [
            record("BTCUSDT", now - timedelta(hours=24, minutes=20), result(11)),  # outside tolerance
            record("BTCUSDT", now - timedelta(hours=24, minutes=5), result(12)),
            record("BTCUSDT", now - timedelta(minutes=61), result(30)),
            record("BTCUSDT", now - timedelta(minutes=65), result(29)),
            record("BTCUSDT", now - timedelta(minutes=55), result(31)),  # after the 1h mark
            record("BTCUSDT", now, result(44)),
            # ETH's newest is a cycle older: its windows are its own, not BTC's.
            record("ETHUSDT", now - timedelta(minutes=5), result(40)),
            record("ETHUSDT", now - timedelta(minutes=66), result(21)),
            record("ETHUSDT", now - timedelta(minutes=64), result(20)),  # after ETH's 1h mark
            record("BTCUSDT", now - timedelta(minutes=60), result(50), exchange="bybit"),
        ],
    )
    ago = (timedelta(hours=1), timedelta(hours=24))
    newest = {"BTCUSDT": now, "ETHUSDT": now - timedelta(minutes=5), "NOPEUSDT": now}
    found = s.scores.past_scores(EX, newest, ago, TOL)

    def scores(records: tuple[ScoreRecord | None, ...]) -> list[int | None]:
        return [None if r is None else r.result.score for r in records]

    assert {k: scores(v) for k, v in found.items()} == {
        "BTCUSDT": [30, 12],
        "ETHUSDT": [21, None],
        "NOPEUSDT": [None, None],
    }
    expected = s.scores.scores_at([(EX, sym, end - o) for sym, end in newest.items() for o in ago], TOL)
    assert [r for rs in found.values() for r in rs] == expected
    assert s.scores.past_scores(EX, {}, ago, TOL) == {}
    assert s.scores.past_scores(EX, {"BTCUSDT": now}, (), TOL) == {"BTCUSDT": ()}
    assert s.scores.past_scores(EX, {"BTCUSDT": now}, ago, timedelta(seconds=30)) == {"BTCUSDT": (None, None)}


def check_score_at_many(s: Stores) -> None:
    store_scores(
        s,
        [
            record("A", T0 - STEP, result(10)),
            record("A", T0, result(11)),
            record("B", T0 - timedelta(hours=1), result(20)),
            record("C", T0 + STEP, result(30)),
        ],
    )
    found = s.scores.score_at_many(EX, T0, TOL)
    assert {k: v.result.score for k, v in found.items()} == {"A": 11}
    assert s.scores.score_at_many(EX, T0, TOL, symbols=["B"]) == {}


def check_score_mark_moves_with_every_score_stored(s: Stores) -> None:
    window = 2 * STEP
    assert s.scores.score_mark(EX, window) is None
    store_scores(s, [record("A", T0 - 3 * STEP), record("A", T0), record("B", T0 - STEP)])
    store_scores(s, [record("A", T0 + STEP, result(50), exchange="okx")])  # another exchange's
    mark = s.scores.score_mark(EX, window)
    assert mark is not None and (mark.newest, mark.recent) == (T0, 2)  # A's older score is outside
    # A stalled data clock: a symbol scored at the same time as before still moves the mark.
    store_scores(s, [record("C", T0)])
    assert s.scores.score_mark(EX, window) == type(mark)(T0, 3)
    store_scores(s, [record("C", T0)])  # already stored: nothing moved
    assert s.scores.score_mark(EX, window) == type(mark)(T0, 3)
    store_scores(s, [record("A", T0 + STEP)])
    assert s.scores.score_mark(EX, window) == type(mark)(T0 + STEP, 4)
    assert s.scores.score_mark("okx", window) == type(mark)(T0 + STEP, 1)


HOUR = timedelta(hours=1)
SAMPLING = {"every": HOUR, "slot": timedelta(minutes=10)}


def check_band_history(s: Stores) -> None:
    """One reading per symbol per hour: the first score in the 10 minutes after the hour."""
    minute = timedelta(minutes=1)
    store_scores(
        s,
        [
            record("A", T0 + 7 * minute, result(70, band=Band.STRESSED)),  # second in the slot
            record("A", T0 + 2 * minute, result(40, band=Band.STRETCHED)),
            record("A", T0 + 12 * minute, result(90, band=Band.STRESSED)),  # after the slot
            record("A", T0 + HOUR + 9 * minute, result(70, Bias.SHORT, Regime.SHORT_CROWDED, Band.STRESSED)),
            record("A", T0 - HOUR + minute, result(20)),  # its hour starts before the window
            record("A", T0 + 2 * HOUR, result(20)),  # after the window
            record("B", T0 + 5 * minute, result(20)),
            record("B", T0, result(5, Bias.NEUTRAL, Regime.BALANCED, Band.NEUTRAL)),
            record("A", T0, result(90, band=Band.STRESSED), exchange="okx"),
        ],
    )
    window = (T0 - 30 * minute, T0 + HOUR + 30 * minute)
    found = s.scores.band_history(EX, *window, **SAMPLING)
    assert found == {
        "A": [
            (T0 + 2 * minute, Band.STRETCHED, Bias.LONG),
            (T0 + HOUR + 9 * minute, Band.STRESSED, Bias.SHORT),
        ],
        "B": [(T0, Band.NEUTRAL, Bias.NEUTRAL)],
    }
    assert all(ts.tzinfo is not None for points in found.values() for ts, _, _ in points)
    only_a = s.scores.band_history(EX, *window, symbols={"A", "Z"}, **SAMPLING)
    assert only_a == {"A": found["A"]}
    # A slot cut by the window's end holds only what is in the window.
    assert s.scores.band_history(EX, T0 - 30 * minute, T0 + minute, **SAMPLING) == {"B": found["B"]}
    # The same asked for a few symbols (sought one symbol at a time on SQL stores).
    cut = s.scores.band_history(EX, T0 - 30 * minute, T0 + minute, symbols=["A", "B"], **SAMPLING)
    assert cut == {"B": found["B"]}
    assert s.scores.band_history(EX, *window, symbols=[], **SAMPLING) == {}
    assert s.scores.band_history(EX, T0 + 20 * minute, T0 + 50 * minute, **SAMPLING) == {}
    # Every period of a longer window (two queries' worth of slots on SQL stores).
    store_scores(s, [record("C", T0 + k * HOUR + 3 * minute) for k in range(-300, 2)])
    long = s.scores.band_history(EX, T0 - 300 * HOUR, T0 + 3 * HOUR, symbols={"C"}, **SAMPLING)
    assert [ts for ts, _, _ in long["C"]] == [T0 + k * HOUR + 3 * minute for k in range(-300, 2)]


def check_mark_samples(s: Stores) -> None:
    """Mark prices sampled as the scores are; a slot whose first snapshot has no price is empty."""
    minute = timedelta(minutes=1)

    def priced(symbol: str, ts: datetime, mark: float | None) -> MarketSnapshot:
        return replace(snapshot(symbol, ts), mark_price=mark)

    s.snapshots.add_snapshots(
        [
            priced("A", T0 + minute, None),  # the slot's first: no price that hour
            priced("A", T0 + 6 * minute, 11.0),
            priced("A", T0 + HOUR + 9 * minute, 12.0),
            priced("A", T0 + HOUR + 6 * minute, 13.0),
            priced("A", T0 + HOUR + 11 * minute, 15.0),  # after the slot
            priced("B", T0 - HOUR + 4 * minute, 20.0),  # its hour starts before the window
            priced("B", T0 + 3 * minute, 21.0),
            replace(priced("A", T0, 30.0), exchange="okx"),
        ]
    )
    window = (T0 - 10 * minute, T0 + 2 * HOUR)
    found = s.snapshots.mark_samples(EX, *window, **SAMPLING)
    assert found == {"A": [(T0 + HOUR + 6 * minute, 13.0)], "B": [(T0 + 3 * minute, 21.0)]}
    assert s.snapshots.mark_samples(EX, *window, symbols=["B"], **SAMPLING) == {"B": found["B"]}
    # The slot's first snapshot has no price: empty, also when asked for that symbol alone.
    assert s.snapshots.mark_samples(EX, T0 - 10 * minute, T0 + HOUR - minute, symbols=["A"], **SAMPLING) == {}
    assert s.snapshots.mark_samples(EX, T0 + 20 * minute, T0 + 50 * minute, **SAMPLING) == {}


# --- alert state ------------------------------------------------------------------------


def check_alert_state_round_trip(s: Stores) -> None:
    plus2 = timezone(timedelta(hours=2))
    alerts = (  # not in kind order: the order saved is the order loaded
        LastAlert(EventKind.SQUEEZE_RISK, T0, severity=3, open=True),
        LastAlert(EventKind.BAND_UP, (T0 - STEP).astimezone(plus2), severity=2, open=False),
        LastAlert(EventKind.BIAS_FLIP, T0 - timedelta(hours=2), severity=0, open=False),
        LastAlert(EventKind.BAND_DOWN, T0 - timedelta(days=3), severity=1, open=True),
    )
    btc = symbol_state(
        "BTCUSDT",
        # The raw band is below the confirmed one (hysteresis), the label is free text.
        replace(reading(T0.astimezone(plus2), 58, Band.STRETCHED), label='Long crowded · ≥ 58 "quoted"'),
        confirmed=Band.STRESSED,
        alerts=alerts,
    )
    eth = symbol_state("ETHUSDT", reading(T0, 3, Band.NEUTRAL, Bias.NEUTRAL, Regime.BALANCED, rates=False))
    partly = symbol_state("SOLUSDT", replace(reading(), oi_4h_pct=None, basis_pct=None))
    s.alert_states.save_alert_states(EX, [btc, eth, partly])
    s.alert_states.save_alert_states("okx", [replace(eth, confirmed_band=Band.LEAN)])

    loaded = s.alert_states.load_alert_states(EX)
    assert loaded == {"BTCUSDT": btc, "ETHUSDT": eth, "SOLUSDT": partly}
    assert loaded["BTCUSDT"].alerts == alerts  # every field, in the saved order
    assert [a.kind for a in loaded["BTCUSDT"].alerts] == [a.kind for a in alerts]
    assert loaded["BTCUSDT"].last.label == btc.last.label
    assert loaded["BTCUSDT"].last.ts.tzinfo is UTC and loaded["BTCUSDT"].alerts[1].at.tzinfo is UTC
    assert loaded["ETHUSDT"].last.oi_1h_pct is None and loaded["ETHUSDT"].alerts == ()
    assert s.alert_states.load_alert_states("okx") == {"ETHUSDT": replace(eth, confirmed_band=Band.LEAN)}
    assert s.alert_states.load_alert_states("bybit") == {}


def check_alert_state_save_replaces_the_states_given(s: Stores) -> None:
    up = LastAlert(EventKind.BAND_UP, T0, severity=3, open=True)
    squeeze = LastAlert(EventKind.SQUEEZE_RISK, T0, severity=3, open=True)
    btc = symbol_state("BTCUSDT", alerts=(up, squeeze))
    eth = symbol_state("ETHUSDT", alerts=(up,))
    s.alert_states.save_alert_states(EX, [btc, eth])
    s.alert_states.save_alert_states("okx", [btc])
    # BTC cools: new reading, lower confirmed band, one alert closed, one forgotten, one new.
    cooled = symbol_state(
        "BTCUSDT",
        reading(T0 + STEP, 40, Band.STRETCHED, rates=False),
        alerts=(
            LastAlert(EventKind.BAND_DOWN, T0 + STEP, severity=1, open=True),
            replace(up, open=False),
        ),
    )
    s.alert_states.save_alert_states(EX, [cooled])
    assert s.alert_states.load_alert_states(EX) == {"BTCUSDT": cooled, "ETHUSDT": eth}
    assert s.alert_states.load_alert_states("okx") == {"BTCUSDT": btc}  # other exchanges untouched
    # Forgetting every alert; of two states for one symbol in one call, the later wins.
    quiet = replace(cooled, alerts=())
    s.alert_states.save_alert_states(EX, [cooled, quiet])
    assert s.alert_states.load_alert_states(EX) == {"BTCUSDT": quiet, "ETHUSDT": eth}
    s.alert_states.save_alert_states(EX, [])
    assert s.alert_states.load_alert_states(EX) == {"BTCUSDT": quiet, "ETHUSDT": eth}
    # A new reading with the same alerts (most cycles' change) keeps them.
    eth_later = replace(eth, last=reading(T0 + 2 * STEP, 50, Band.STRETCHED, rates=False))
    s.alert_states.save_alert_states(EX, [eth_later])
    assert s.alert_states.load_alert_states(EX) == {"BTCUSDT": quiet, "ETHUSDT": eth_later}


def check_alert_state_refuses_what_it_cannot_store(s: Stores) -> None:
    kept = symbol_state("ETHUSDT")
    s.alert_states.save_alert_states(EX, [kept])
    twice = (
        LastAlert(EventKind.BAND_UP, T0, severity=2, open=True),
        LastAlert(EventKind.BAND_UP, T0 + STEP, severity=3, open=True),
    )
    naive = T0.replace(tzinfo=None)
    for bad in (
        symbol_state("BTCUSDT", alerts=twice),  # one alert per kind
        symbol_state("BTCUSDT", replace(reading(), ts=naive)),
        symbol_state("BTCUSDT", alerts=(LastAlert(EventKind.BAND_UP, naive, severity=2, open=True),)),
    ):
        with pytest.raises(StorageError):
            s.alert_states.save_alert_states(EX, [replace(kept, confirmed_band=Band.LEAN), bad])
        # All or nothing: the good state in the same call was not written either.
        assert s.alert_states.load_alert_states(EX) == {"ETHUSDT": kept}


def check_alert_state_carries_the_diff_engine_across_a_restart(s: Stores) -> None:
    params = DiffParams()

    def point(symbol: str, ts: datetime, score: int, bias: Bias, regime: Regime) -> ScoredPoint:
        band = band_for(score, params.band_floors)
        return ScoredPoint(symbol, replace(reading(ts, score, band, bias, regime), label=regime.value), False)

    cycles = [
        [
            point("BTCUSDT", T0, 20, Bias.LONG, Regime.LONG_BIAS),
            point("ETHUSDT", T0, 40, Bias.LONG, Regime.LONG_BIAS),
        ],
        [  # BTC jumps to stressed into a squeeze risk; ETH flips side while stretched
            point("BTCUSDT", T0 + STEP, 65, Bias.LONG, Regime.LONG_SQUEEZE_RISK),
            point("ETHUSDT", T0 + STEP, 45, Bias.SHORT, Regime.SHORT_BIAS),
        ],
        [point("BTCUSDT", T0 + 2 * STEP, 65, Bias.LONG, Regime.LONG_SQUEEZE_RISK)],  # held: band_up
        # BTC cools for two readings: the band drops, the cooling waits for the reversal window.
        [point("BTCUSDT", T0 + 3 * STEP, 20, Bias.LONG, Regime.LONG_BIAS)],
        [point("BTCUSDT", T0 + 4 * STEP, 20, Bias.LONG, Regime.LONG_BIAS)],
    ]
    states: dict[str, SymbolState] = {}
    for i, points in enumerate(cycles):
        states = diff(EX, states, points, T0 + i * STEP, params).states
    assert [a.kind for a in states["BTCUSDT"].alerts] == [EventKind.BAND_UP, EventKind.SQUEEZE_RISK]
    assert states["BTCUSDT"].confirmed_band is Band.LEAN
    assert [a.kind for a in states["ETHUSDT"].alerts] == [EventKind.BIAS_FLIP]
    s.alert_states.save_alert_states(EX, list(states.values()))
    restored = s.alert_states.load_alert_states(EX)
    assert restored == states
    # The engine goes on from the stored state as from the one in memory: once the reversal
    # window after BTC's rise has passed, the cooling it held back is told.
    now = T0 + 2 * STEP + params.reversal_window
    later = [point("BTCUSDT", now, 20, Bias.LONG, Regime.LONG_BIAS)]
    after_restart = diff(EX, restored, later, now, params)
    assert after_restart == diff(EX, states, later, now, params)
    assert [(e.kind, e.old_band, e.new_band) for e in after_restart.events] == [
        (EventKind.BAND_DOWN, Band.STRESSED, Band.LEAN)
    ]


def check_alert_state_many_symbols(s: Stores) -> None:
    # More symbols than one IN list holds, saved twice (inserts, then updates).
    def states(ts: datetime, score: int) -> list[SymbolState]:
        return [
            symbol_state(
                f"S{i}USDT",
                reading(ts, score, rates=i % 2 == 0),
                alerts=(LastAlert(EventKind.BAND_UP, ts, severity=i % 4, open=i % 3 == 0),),
            )
            for i in range(1200)
        ]

    first, second = states(T0, 62), states(T0 + STEP, 70)
    s.alert_states.save_alert_states(EX, first)
    assert s.alert_states.load_alert_states(EX) == {st.symbol: st for st in first}
    s.alert_states.save_alert_states(EX, second)
    assert s.alert_states.load_alert_states(EX) == {st.symbol: st for st in second}


def check_alert_state_rebuilt_from_accepted_scores(s: Stores) -> None:
    # Random cycles storing only the states that changed materially: after every one the
    # load gives back the memory (``tests.fakes.material_cycles``).
    skipped = sum(run_plan(s, f"x{seed}", random_plan(random.Random(seed), cycles=30)) for seed in range(6))
    assert skipped > 0  # the plans did leave states to the rebuild


def check_alert_state_rebuilt_from_a_score_first_stored_partial(s: Stores) -> None:
    # A data time scored partial, then complete at the next cycle (its history arrived): the
    # complete score is the state's ``last`` and replaces the partial row of its key.
    plan = [
        Planned(STEPS[1], (Seen("AUSDT", "now", False, 20, Bias.LONG, Regime.LONG_BIAS),)),
        Planned(STEPS[1], (Seen("AUSDT", "now", True, 22, Bias.LONG, Regime.LONG_BIAS),)),
        Planned(STEPS[1], (Seen("AUSDT", "repeat", False, 24, Bias.LONG, Regime.LONG_BIAS),)),
    ]
    assert run_plan(s, EX, plan) == 1  # the last cycle wrote no state
    (newest,) = s.scores.latest_scores(EX, since=T0)
    assert (newest.result.score, newest.result.partial, newest.accepted) == (24, False, True)


# --- chats ------------------------------------------------------------------------------


def check_chat_registration(s: Stores) -> None:
    defaults = ChatSettings(min_band=Band.LEAN, digest_enabled=True, digest_time=time(9, 30))
    main = s.chats.ensure_chat(
        chat_key(), kind=ChatKind.GROUP, now=T0, timezone="Asia/Tokyo", defaults=defaults
    )
    assert (main.key, main.kind, main.timezone, main.enabled, main.created_at) == (
        chat_key(),
        ChatKind.GROUP,
        "Asia/Tokyo",
        True,
        T0,
    )
    assert s.chats.get_settings(main.ref) == defaults
    again = s.chats.ensure_chat(chat_key(), kind=ChatKind.PRIVATE, now=T0 + STEP)
    assert again == main  # already known: returned unchanged
    topic = s.chats.ensure_chat(chat_key(thread="42"), kind=ChatKind.GROUP, now=T0)
    assert topic.ref != main.ref and s.chats.get_settings(topic.ref) == ChatSettings()
    assert s.chats.get_chat(chat_key(thread="42")) == topic
    assert s.chats.chat_by_ref(main.ref) == main
    assert s.chats.get_chat(chat_key("other")) is None
    assert s.chats.chat_by_ref(999_999) is None


def check_chat_update(s: Stores) -> None:
    chat = s.chats.ensure_chat(chat_key("-100"), kind=ChatKind.GROUP, now=T0)
    other = s.chats.ensure_chat(chat_key("-200"), kind=ChatKind.GROUP, now=T0)
    moved = replace(chat, key=chat_key("-1009"), timezone="Europe/Berlin", enabled=False)
    s.chats.update_chat(moved)  # a Telegram group migrated to a supergroup
    assert s.chats.chat_by_ref(chat.ref) == moved
    assert s.chats.get_chat(chat_key("-100")) is None
    with pytest.raises(StorageError):
        s.chats.update_chat(replace(moved, key=other.key))  # the key is taken
    with pytest.raises(StorageError):
        s.chats.update_chat(replace(moved, ref=999_999))


def check_chat_settings_round_trip(s: Stores) -> None:
    chat = s.chats.ensure_chat(chat_key(), kind=ChatKind.PRIVATE, now=T0)
    settings = ChatSettings(
        alerts_enabled=False,
        min_band=Band.STRESSED,
        event_kinds=frozenset({EventKind.SQUEEZE_RISK, EventKind.BIAS_FLIP}),
        watchlist_only=True,
        quiet_start=time(22, 0),
        quiet_end=time(7, 15),
        digest_enabled=True,
        digest_time=time(18, 45),
    )
    s.chats.save_settings(chat.ref, settings)
    assert s.chats.get_settings(chat.ref) == settings
    s.chats.save_settings(chat.ref, ChatSettings(event_kinds=frozenset()))
    assert s.chats.get_settings(chat.ref) == ChatSettings(event_kinds=frozenset())
    with pytest.raises(StorageError):
        s.chats.get_settings(999_999)
    with pytest.raises(StorageError):
        s.chats.save_settings(999_999, settings)


def check_watchlists(s: Stores) -> None:
    a = s.chats.ensure_chat(chat_key("a"), kind=ChatKind.PRIVATE, now=T0)
    b = s.chats.ensure_chat(chat_key("b"), kind=ChatKind.PRIVATE, now=T0)
    assert s.chats.watch(a.ref, EX, ["SOLUSDT", "BTCUSDT", "SOLUSDT"], T0) == 2
    assert s.chats.watch(a.ref, EX, ["BTCUSDT", "ETHUSDT"], T0 + STEP) == 1
    assert s.chats.watch(a.ref, "okx", ["BTCUSDT"], T0) == 1
    assert s.chats.watch(b.ref, EX, ["BTCUSDT"], T0) == 1
    assert [(w.exchange, w.symbol, w.added_at) for w in s.chats.watchlist(a.ref)] == [
        (EX, "BTCUSDT", T0),
        (EX, "ETHUSDT", T0 + STEP),
        (EX, "SOLUSDT", T0),
        ("okx", "BTCUSDT", T0),
    ]
    assert s.chats.unwatch(a.ref, EX, ["SOLUSDT", "DOGEUSDT"]) == 1
    assert s.chats.watched_symbols(EX) == {
        a.ref: frozenset({"BTCUSDT", "ETHUSDT"}),
        b.ref: frozenset({"BTCUSDT"}),
    }
    assert s.chats.unwatch(b.ref, EX, []) == 0 and s.chats.watch(b.ref, EX, [], T0) == 0
    with pytest.raises(StorageError):
        s.chats.watch(999_999, EX, ["BTCUSDT"], T0)


def check_alert_audience(s: Stores) -> None:
    """The fan-out's audience as the cycle reads it (``alert_chats`` and ``watched_symbols``)
    and matches it (``bot.app.fanout.wants``): min band, event kinds, watchlist-only."""

    def add(name: str, settings: ChatSettings, enabled: bool = True) -> int:
        chat = s.chats.ensure_chat(chat_key(name), kind=ChatKind.GROUP, now=T0, defaults=settings)
        if not enabled:
            s.chats.update_chat(replace(chat, enabled=False))
        return chat.ref

    default = add("default", ChatSettings())  # min stretched, every kind
    lean = add("lean", ChatSettings(min_band=Band.LEAN))
    squeeze_only = add("squeeze", ChatSettings(event_kinds=frozenset({EventKind.SQUEEZE_RISK})))
    watcher = add("watcher", ChatSettings(watchlist_only=True, min_band=Band.NEUTRAL))
    add("muted", ChatSettings(alerts_enabled=False, min_band=Band.NEUTRAL))
    add("removed", ChatSettings(min_band=Band.NEUTRAL), enabled=False)
    s.chats.watch(watcher, EX, ["SOLUSDT"], T0)
    s.chats.watch(default, EX, ["BTCUSDT"], T0)  # a watchlist alone does not restrict

    def audience() -> list[Audience]:
        watched = s.chats.watched_symbols(EX)
        return [
            Audience(p.chat, p.settings, watched.get(p.chat.ref, frozenset()), alerts_today=0)
            for p in s.chats.alert_chats()
        ]

    def wanting(symbol: str, band: Band, kind: EventKind) -> list[Audience]:
        before = reading(band=band)
        event = AlertEvent("e", EX, symbol, kind, band, band, before, before, severity=3)
        return [a for a in audience() if wants(a, event)]

    def refs(symbol: str, band: Band, kind: EventKind) -> list[int]:
        return [a.chat.ref for a in wanting(symbol, band, kind)]

    assert refs("BTCUSDT", Band.LEAN, EventKind.BAND_UP) == [lean]
    assert refs("BTCUSDT", Band.STRETCHED, EventKind.BAND_UP) == [default, lean]
    assert refs("BTCUSDT", Band.STRESSED, EventKind.SQUEEZE_RISK) == [default, lean, squeeze_only]
    assert refs("SOLUSDT", Band.LEAN, EventKind.BAND_DOWN) == [lean, watcher]
    assert refs("SOLUSDT", Band.NEUTRAL, EventKind.BIAS_FLIP) == [watcher]
    assert refs("SOLUSDT", Band.STRESSED, EventKind.SQUEEZE_RISK)[-1] == watcher
    (profile,) = wanting("SOLUSDT", Band.NEUTRAL, EventKind.BIAS_FLIP)
    assert profile.settings == ChatSettings(watchlist_only=True, min_band=Band.NEUTRAL)
    assert profile.watchlist == frozenset({"SOLUSDT"})
    assert [p.chat.ref for p in s.chats.alert_chats()] == [default, lean, squeeze_only, watcher]


def check_digest_chats(s: Stores) -> None:
    on = s.chats.ensure_chat(
        chat_key("on"), kind=ChatKind.GROUP, now=T0, defaults=ChatSettings(digest_enabled=True)
    )
    s.chats.ensure_chat(chat_key("off"), kind=ChatKind.GROUP, now=T0)
    gone = s.chats.ensure_chat(
        chat_key("gone"), kind=ChatKind.GROUP, now=T0, defaults=ChatSettings(digest_enabled=True)
    )
    s.chats.update_chat(replace(gone, enabled=False))
    assert [p.chat for p in s.chats.digest_chats()] == [on]


# --- outbox -----------------------------------------------------------------------------


def _chat(s: Stores, name: str = "-1001", platform: Platform = Platform.TELEGRAM) -> int:
    return s.chats.ensure_chat(chat_key(name, platform=platform), kind=ChatKind.GROUP, now=T0).ref


def check_outbox_enqueue_is_idempotent(s: Stores) -> None:
    ref = _chat(s)
    assert (
        s.outbox.enqueue([message("k1", ref), message("k2", ref), message("k1", ref, payload="again")]) == 2
    )
    assert s.outbox.enqueue([message("k2", ref, payload="retry"), message("k3", ref)]) == 1
    stored = outbox_record(s, "k1")
    assert stored is not None
    assert (stored.status, stored.attempts, stored.chat_ref) == (OutboxStatus.PENDING, 0, ref)
    assert (stored.next_attempt_at, stored.created_at, stored.sent_at, stored.last_error) == (
        T0,
        T0,
        None,
        None,
    )
    assert outbox_record(s, "nope") is None
    assert s.outbox.status_counts() == {OutboxStatus.PENDING: 3}
    assert s.outbox.claim_due(T0 - timedelta(seconds=1), limit=10, claim_for=STEP) == []  # due at creation
    claimed = {e.idempotency_key: e for e in s.outbox.claim_due(T0, limit=10, claim_for=STEP)}
    assert set(claimed) == {"k1", "k2", "k3"}
    entry = claimed["k1"]  # the first enqueued of a key is the one kept
    assert (entry.payload, entry.chat, entry.chat_ref, entry.attempts) == (
        note("BTCUSDT lean → stretched"),
        chat_key(),
        ref,
        1,
    )
    assert claimed["k2"].payload == note("BTCUSDT lean → stretched")


def check_outbox_document_round_trip(s: Stores) -> None:
    ref = _chat(s)
    s.outbox.enqueue([message("rich", ref, payload=RICH_DOCUMENT)])
    [claimed] = s.outbox.claim_due(T0, limit=5, claim_for=timedelta(minutes=1))
    assert claimed.payload == RICH_DOCUMENT


def check_outbox_attachment_round_trip(s: Stores) -> None:
    ref = _chat(s)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # binary-safe, ~10 kB
    with_image = replace(message("digest", ref, payload="digest"), attachment=png)
    s.outbox.enqueue([with_image, message("plain", ref)])
    claimed = {e.idempotency_key: e for e in s.outbox.claim_due(T0, limit=5, claim_for=timedelta(minutes=1))}
    assert claimed["digest"].attachment == png
    assert claimed["plain"].attachment is None


def check_outbox_unknown_chat_rejected(s: Stores) -> None:
    with pytest.raises(StorageError):
        s.outbox.enqueue([message("k", 999_999)])
    assert s.outbox.status_counts() == {}


def check_outbox_claim_lease_and_sent(s: Stores) -> None:
    ref = _chat(s)
    s.outbox.enqueue([message("late", ref, T0 + STEP), message("b", ref, T0), message("a", ref, T0 - STEP)])
    lease = timedelta(minutes=2)
    claimed = s.outbox.claim_due(T0, limit=10, claim_for=lease)
    assert [e.idempotency_key for e in claimed] == ["a", "b"]  # oldest due first; "late" not due
    assert all(e.status is OutboxStatus.SENDING and e.attempts == 1 for e in claimed)
    assert claimed[0].next_attempt_at == T0 + lease
    assert s.outbox.claim_due(T0 + timedelta(minutes=1), limit=10, claim_for=lease) == []  # leased
    s.outbox.mark_sent(claimed[0].id, T0 + timedelta(seconds=1))
    # After its lease the unconfirmed "b" (a crash mid-send?) is due again, before "late".
    again = s.outbox.claim_due(T0 + STEP, limit=10, claim_for=lease)
    assert [(e.idempotency_key, e.attempts) for e in again] == [("b", 2), ("late", 1)]
    sent = outbox_record(s, "a")
    assert sent is not None and (sent.status, sent.sent_at) == (OutboxStatus.SENT, T0 + timedelta(seconds=1))
    # Equally due: the one enqueued first goes first.
    assert s.outbox.claim_due(T0 + timedelta(days=1), limit=1, claim_for=lease)[0].idempotency_key == "late"
    with pytest.raises(StorageError):
        s.outbox.mark_sent(999_999, T0)


def check_outbox_failure_backoff_and_give_up(s: Stores) -> None:
    ref = _chat(s)
    policy = RetryPolicy(max_attempts=3, base_delay=timedelta(seconds=30), factor=2.0)
    s.outbox.enqueue([message("k", ref)])
    now = T0
    expected_waits = [timedelta(seconds=30), timedelta(seconds=60)]
    for wait in expected_waits:
        (entry,) = s.outbox.claim_due(now, limit=5, claim_for=timedelta(minutes=5))
        assert s.outbox.mark_failed(entry.id, now=now, error="timeout", policy=policy) is OutboxStatus.PENDING
        retry = outbox_record(s, "k")
        assert retry is not None and (retry.next_attempt_at, retry.last_error) == (now + wait, "timeout")
        assert s.outbox.claim_due(now + wait - timedelta(seconds=1), limit=5, claim_for=STEP) == []
        now += wait
    (entry,) = s.outbox.claim_due(now, limit=5, claim_for=STEP)
    assert entry.attempts == 3
    assert s.outbox.mark_failed(entry.id, now=now, error="x" * 5000, policy=policy) is OutboxStatus.FAILED
    failed = outbox_record(s, "k")
    assert (
        failed is not None and failed.status is OutboxStatus.FAILED and len(failed.last_error or "") == 2000
    )
    assert s.outbox.claim_due(now + timedelta(days=1), limit=5, claim_for=STEP) == []


def check_outbox_permanent_retry_after_and_late_reports(s: Stores) -> None:
    ref = _chat(s)
    policy = RetryPolicy()
    s.outbox.enqueue([message("blocked", ref), message("limited", ref), message("done", ref)])
    entries = {e.idempotency_key: e for e in s.outbox.claim_due(T0, limit=5, claim_for=STEP)}
    assert s.outbox.mark_failed(
        entries["blocked"].id, now=T0, error="403", policy=policy, permanent=True
    ) is (OutboxStatus.FAILED)
    later = T0 + timedelta(minutes=7)
    status = s.outbox.mark_failed(entries["limited"].id, now=T0, error="429", policy=policy, not_before=later)
    assert status is OutboxStatus.PENDING and stored_outbox(s, "limited").next_attempt_at == later
    s.outbox.mark_sent(entries["done"].id, T0)
    assert s.outbox.mark_failed(entries["done"].id, now=T0, error="late", policy=policy) is OutboxStatus.SENT
    assert s.outbox.status_counts() == {OutboxStatus.FAILED: 1, OutboxStatus.PENDING: 1, OutboxStatus.SENT: 1}
    with pytest.raises(StorageError):
        s.outbox.mark_failed(999_999, now=T0, error="?", policy=policy)


def check_outbox_progress_is_kept_for_the_retry(s: Stores) -> None:
    ref = _chat(s)
    policy = RetryPolicy()
    s.outbox.enqueue([message("long", ref), message("done", ref)])
    entries = {e.idempotency_key: e for e in s.outbox.claim_due(T0, limit=5, claim_for=STEP)}
    assert entries["long"].parts_sent == 0  # nothing accepted yet
    long_id = entries["long"].id
    s.outbox.mark_progress(long_id, 1)
    s.outbox.mark_progress(long_id, 2)
    s.outbox.mark_progress(long_id, 1)  # a late or repeated report never goes back
    assert stored_outbox(s, "long").parts_sent == 2
    assert s.outbox.mark_failed(long_id, now=T0, error="502", policy=policy) is OutboxStatus.PENDING
    s.outbox.mark_sent(entries["done"].id, T0)
    (retry,) = s.outbox.claim_due(T0 + timedelta(days=1), limit=5, claim_for=STEP)
    assert (retry.idempotency_key, retry.parts_sent, retry.attempts) == ("long", 2, 2)
    # A finished entry keeps what it had: a late report from an expired lease changes nothing.
    s.outbox.mark_progress(entries["done"].id, 3)
    done = outbox_record(s, "done")
    assert done is not None and (done.status, done.parts_sent) == (OutboxStatus.SENT, 0)
    with pytest.raises(StorageError):
        s.outbox.mark_progress(999_999, 1)


def check_outbox_platform_filter_and_moved_chat(s: Stores) -> None:
    tg = _chat(s, "-1", Platform.TELEGRAM)
    dc = _chat(s, "555", Platform.DISCORD)
    s.outbox.enqueue([message("tg", tg), message("dc", dc)])
    only_discord = s.outbox.claim_due(T0, limit=5, claim_for=STEP, platforms=[Platform.DISCORD])
    assert [(e.idempotency_key, e.chat) for e in only_discord] == [
        ("dc", chat_key("555", platform=Platform.DISCORD))
    ]
    chat = s.chats.chat_by_ref(tg)
    assert chat is not None
    s.chats.update_chat(replace(chat, key=chat_key("-1009")))
    (moved,) = s.outbox.claim_due(T0, limit=5, claim_for=STEP)
    assert moved.chat == chat_key("-1009")  # delivered to where the chat is now


def check_outbox_events_for_chat(s: Stores) -> None:
    a, b = _chat(s, "a"), _chat(s, "b")
    assert s.outbox.events_for_chat(a, T0) == 0
    s.outbox.enqueue(
        [
            message("1", a, T0 - timedelta(hours=2), events=4),
            message("2", a, T0, events=3),
            message("3", a, T0 + STEP),  # one event by default
            message("4", b, T0, events=7),
        ]
    )
    assert s.outbox.enqueue([message("2", a, T0, events=50)]) == 0  # a duplicate adds nothing
    assert s.outbox.events_for_chat(a, T0) == 4
    assert s.outbox.events_for_chat(a, T0 - timedelta(days=1)) == 8
    assert s.outbox.events_for_chat(a, T0 + STEP) == 1
    assert s.outbox.events_for_chat(a, T0 + 2 * STEP) == 0
    assert s.outbox.events_for_chat(b, T0) == 7
    assert s.outbox.status_counts() == {OutboxStatus.PENDING: 4}  # four messages, 15 events
    # Any status counts: sent, retrying and failed messages were all enqueued today.
    policy = RetryPolicy()
    entries = {e.idempotency_key: e for e in s.outbox.claim_due(T0 + STEP, limit=10, claim_for=STEP)}
    assert entries["2"].event_count == 3 and entries["3"].event_count == 1
    s.outbox.mark_sent(entries["1"].id, T0)
    s.outbox.mark_failed(entries["2"].id, now=T0, error="403", policy=policy, permanent=True)
    s.outbox.mark_failed(entries["3"].id, now=T0, error="502", policy=policy)
    assert s.outbox.events_for_chat(a, T0 - timedelta(days=1)) == 8
    c = _chat(s, "c")  # nothing enqueued: 0
    assert s.outbox.events_for_chats({}) == {}
    assert s.outbox.events_for_chats({a: T0, b: T0, c: T0}) == {a: 4, b: 7, c: 0}
    # Each chat at its own time (its own midnight), as events_for_chat of each.
    asked = {a: T0 + STEP, b: T0 + STEP, c: T0 - timedelta(days=1)}
    assert s.outbox.events_for_chats(asked) == {
        ref: s.outbox.events_for_chat(ref, at) for ref, at in asked.items()
    }
    assert s.outbox.events_for_chats(asked) == {a: 1, b: 0, c: 0}
    stored = outbox_record(s, "1")
    assert stored is not None and (stored.status, stored.event_count) == (OutboxStatus.SENT, 4)


# --- digests ----------------------------------------------------------------------------


def check_digest_log(s: Stores) -> None:
    ref = _chat(s)
    day = date(2025, 1, 6)
    assert not s.digests.digest_sent(ref, day)
    assert s.digests.record_digest(ref, day, T0) is True
    assert s.digests.record_digest(ref, day, T0 + STEP) is False
    assert s.digests.digest_sent(ref, day) and not s.digests.digest_sent(ref, day + timedelta(days=1))
    assert s.digests.record_digest(ref, day + timedelta(days=1), T0 + timedelta(days=1)) is True
    with pytest.raises(StorageError):
        s.digests.record_digest(999_999, day, T0)


# --- unit of work and retention ---------------------------------------------------------


def check_save_cycle_commits_everything(s: Stores) -> None:
    ref = _chat(s)
    alerts = (
        LastAlert(EventKind.BAND_UP, T0, severity=3, open=True),
        LastAlert(EventKind.SQUEEZE_RISK, T0, severity=3, open=True),
    )
    state = symbol_state("BTCUSDT", alerts=alerts)
    saved = s.cycles.save_cycle(
        exchange=EX,
        snapshots=[snapshot("BTCUSDT", T0), snapshot("ETHUSDT", T0)],
        scores=[record("BTCUSDT", T0), record("ETHUSDT", T0)],
        alert_states=[state],
        outbox=[message("cycle-1:chat-1", ref, events=2)],
    )
    assert (saved.snapshots, saved.scores, saved.alert_states, saved.outbox) == (2, 2, 1, 1)
    assert s.alert_states.load_alert_states(EX) == {"BTCUSDT": state}
    assert s.alert_states.load_alert_states("okx") == {}
    assert outbox_record(s, "cycle-1:chat-1") is not None
    assert s.outbox.events_for_chat(ref, T0) == 2
    assert len(s.scores.latest_scores(EX, since=T0)) == 2
    # The same cycle again (a retry after a crash) stores nothing new.
    again = s.cycles.save_cycle(
        exchange=EX,
        snapshots=[snapshot("BTCUSDT", T0)],
        scores=[record("BTCUSDT", T0)],
        outbox=[message("cycle-1:chat-1", ref, events=2)],
    )
    assert (again.snapshots, again.scores, again.outbox) == (0, 0, 0)
    assert s.outbox.events_for_chat(ref, T0) == 2
    assert s.cycles.save_cycle(exchange=EX) == type(saved)()
    # The states are the given exchange's.
    s.cycles.save_cycle(exchange="okx", alert_states=[replace(state, alerts=())])
    assert s.alert_states.load_alert_states("okx") == {"BTCUSDT": replace(state, alerts=())}
    assert s.alert_states.load_alert_states(EX) == {"BTCUSDT": state}


def check_save_cycle_is_all_or_nothing(s: Stores) -> None:
    state = symbol_state("BTCUSDT", alerts=(LastAlert(EventKind.BAND_UP, T0, severity=3, open=True),))
    with pytest.raises(StorageError):
        s.cycles.save_cycle(
            exchange=EX,
            snapshots=[snapshot("BTCUSDT", T0)],
            scores=[record("BTCUSDT", T0)],
            alert_states=[state],
            outbox=[message("k", 999_999)],  # no such chat: the whole cycle fails
        )
    assert s.snapshots.latest_snapshot_time(EX) is None
    assert s.scores.latest_scores(EX, since=T0 - STEP) == []
    assert s.alert_states.load_alert_states(EX) == {}
    assert s.outbox.status_counts() == {}


def check_retention(s: Stores) -> None:
    now = T0 + timedelta(days=100)
    ref = _chat(s)
    day = timedelta(days=1)
    s.snapshots.add_snapshots([snapshot("A", now - 15 * day), snapshot("A", now - 13 * day)])
    s.snapshots.add_snapshots([snapshot("B", now - 15 * day, exchange="okx")])
    store_scores(
        s,
        [
            record("A", now - 91 * day),
            record("A", now - 89 * day),
            record("A", now - 91 * day, exchange="okx"),
        ],
    )
    s.outbox.enqueue(
        [
            message("old-sent", ref, now - 31 * day),
            message("old-pending", ref, now - 31 * day),
            message("new-sent", ref, now - 29 * day),
        ]
    )
    for entry in s.outbox.claim_due(now, limit=10, claim_for=STEP):
        if entry.idempotency_key != "old-pending":
            s.outbox.mark_sent(entry.id, now)
    s.digests.record_digest(ref, date(2025, 1, 1), now - 91 * day)
    s.digests.record_digest(ref, date(2025, 3, 1), now - 89 * day)

    report = s.retention.purge(RetentionPolicy(), now)

    assert (report.snapshots, report.scores, report.outbox, report.digests) == (2, 2, 1, 1)
    assert s.snapshots.market_history(EX, T0, now, symbols={"A"}).oi == {"A": [(now - 13 * day, 1000.0)]}
    assert s.snapshots.market_history("okx", T0, now) == MarketSeries(oi={}, mark={})
    assert [x.ts for x in s.scores.score_history(EX, "A", T0, now)] == [now - 89 * day]
    assert outbox_record(s, "old-sent") is None
    assert outbox_record(s, "old-pending") is not None  # undelivered is never purged
    assert not s.digests.digest_sent(ref, date(2025, 1, 1)) and s.digests.digest_sent(ref, date(2025, 3, 1))
    shorter = s.retention.purge(RetentionPolicy(snapshots=timedelta(days=1), scores=timedelta(days=1)), now)
    assert (shorter.snapshots, shorter.scores) == (1, 1)


CHECKS: tuple[Callable[[Stores], None], ...] = tuple(
    fn for name, fn in sorted(globals().items()) if name.startswith("check_") and callable(fn)
)
"""Every check above, for parametrised tests."""
