"""The track record read from the stores (bot.app.track), and the evidence line it puts on alerts."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.app import track
from bot.app.cycle import CollectionCycle, CycleDeps
from bot.app.fanout import AlertBatch
from bot.app.track import TrackHistory
from bot.core.diff import DiffParams
from bot.core.events import AlertEvent, EventKind
from bot.core.models import Band, Bias, Regime
from bot.core.params import DEFAULT_PARAMS
from bot.core.records import Chat, ChatKey, ChatKind, ChatSettings, Platform
from bot.core.track import TrackParams, TrackSeries, track_record
from bot.render.documents import alert_document
from bot.render.plain_text import document_text
from tests.fakes import FakeStorage
from tests.fakes.contract import reading, record, result, snapshot, store_scores
from tests.fakes.track_history import EX, HOUR, HOURS, START, stored_history
from tests.unit.test_cycle import STEP as CYCLE_STEP
from tests.unit.test_cycle import T0 as CYCLE_T0
from tests.unit.test_cycle import ScriptedSource

REGIMES = {Band.NEUTRAL: Regime.BALANCED, Band.STRESSED: Regime.LONG_CROWDED}


def alert(symbol: str, band: Band = Band.STRESSED, bias: Bias = Bias.LONG) -> AlertEvent:
    after = reading(CYCLE_T0, 70, band, bias, REGIMES.get(band, Regime.LONG_CROWDED))
    return AlertEvent(
        event_id=f"{symbol}-{band.value}",
        exchange=EX,
        symbol=symbol,
        kind=EventKind.BAND_UP,
        old_band=Band.STRETCHED,
        new_band=band,
        before=replace(after, band=Band.STRETCHED, score=50),
        after=after,
        severity=1,
    )


def series_of(storage: FakeStorage, symbol: str) -> TrackSeries:
    """The same history read straight from the fake's rows, for comparison."""
    s = TrackSeries(symbol)
    s.add_points(
        (snap.ts, snap.mark_price) for snap in storage.snapshots.rows.values() if snap.symbol == symbol
    )
    s.add_readings(
        (r.ts, r.result.band, r.result.bias) for r in storage.scores.rows.values() if r.symbol == symbol
    )
    return s


@pytest.mark.parametrize("span_h", [1, 7, 24 * 30])
def test_the_market_record_is_every_symbols_history_pooled(
    span_h: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Read an hour, seven hours or everything at a time: the cuts change nothing.
    monkeypatch.setattr(track, "LOAD_SPAN", timedelta(hours=span_h))
    storage = FakeStorage()
    stored_history(storage, "SUIUSDT", 40)
    stored_history(storage, "ARBUSDT", 45)
    history = TrackHistory(storage.scores, storage.snapshots, exchange=EX)
    market = history.record()
    assert market is not None
    expected = track_record(
        [series_of(storage, "ARBUSDT"), series_of(storage, "SUIUSDT")], None, history.params
    )
    assert market == expected
    neutral, _, _, stressed = market.bands
    # Hand-computed: prices reach hour 143, so the outcomes of hours 0..118 are final (the
    # window ends 24 h 45 min on); later readings count as readings only. Stressed: SUI's
    # 40 (hours 0..117), ARB's 45 of which 40 before hour 119.
    assert (stressed.readings, stressed.known) == (85, 80)
    assert stressed.median_move_pct == pytest.approx(6.0) and stressed.lift == pytest.approx(3.0)
    assert (neutral.readings, neutral.known) == (2 * HOURS - 85, 2 * 119 - 80)
    assert neutral.median_move_pct == pytest.approx(2.0)
    assert market.first == START and market.last == START + (HOURS - 1) * HOUR


def test_one_symbols_record_and_an_unknown_one() -> None:
    storage = FakeStorage()
    stored_history(storage, "SUIUSDT", 40)
    history = TrackHistory(storage.scores, storage.snapshots, exchange=EX)
    sui = history.record("SUIUSDT")
    assert sui is not None and sui.symbol == "SUIUSDT"
    assert sui.bands[-1].readings == 40 and sui.bands[-1].median_move_pct == pytest.approx(6.0)
    nothing = history.record("NOPEUSDT")
    assert nothing is not None and all(g.readings == 0 and not g.enough for g in nothing.bands)
    assert TrackHistory(FakeStorage().scores, FakeStorage().snapshots, exchange=EX).record() is None


def test_the_record_samples_one_reading_per_hour() -> None:
    storage = FakeStorage()
    stored_history(storage, "SUIUSDT", 40)  # readings on the whole hours
    # Eleven more cycles an hour, each a stressed SHORT at a wild price: none is sampled.
    between = [START + k * HOUR + m * timedelta(minutes=5) for k in range(HOURS) for m in range(1, 12)]
    storage.snapshots.add_snapshots(
        [replace(snapshot("SUIUSDT", ts), mark_price=1.0 + k % 5) for k, ts in enumerate(between)]
    )
    store_scores(
        storage,
        [
            record("SUIUSDT", ts, result(90, Bias.SHORT, Regime.SHORT_CROWDED, Band.STRESSED))
            for ts in between
        ],
    )
    history = TrackHistory(storage.scores, storage.snapshots, exchange=EX)
    sui = history.record("SUIUSDT")
    assert sui is not None and sum(g.readings for g in sui.bands) == HOURS
    assert sui.bands[-1].readings == 40 and sui.bands[-1].median_move_pct == pytest.approx(6.0)
    assert sui.neutral.median_move_pct == pytest.approx(2.0)
    assert history.evidence_lines([alert("SUIUSDT", Band.STRESSED, Bias.SHORT)], CYCLE_T0) == {}
    assert history.record() == sui.__class__(None, sui.first, sui.last, sui.bands, sui.params)


def test_new_cycles_are_topped_up_and_the_record_is_cached_in_between() -> None:
    storage = FakeStorage()
    stored_history(storage, "SUIUSDT", 40)
    history = TrackHistory(storage.scores, storage.snapshots, exchange=EX)
    before = history.record()
    assert before is not None and history.record() is before  # the mark did not move
    newer = CYCLE_T0 + HOUR
    storage.snapshots.add_snapshots([replace(snapshot("SUIUSDT", newer), mark_price=500.0)])
    store_scores(
        storage, [record("SUIUSDT", newer, result(90, Bias.LONG, Regime.LONG_CROWDED, Band.STRESSED))]
    )
    after = history.record()
    assert after is not None and after is not before
    assert after.bands[-1].readings == before.bands[-1].readings + 1
    assert after == track_record([series_of(storage, "SUIUSDT")], None, history.params)


def test_history_older_than_kept_is_dropped() -> None:
    storage = FakeStorage()
    stored_history(storage, "SUIUSDT", 40)
    history = TrackHistory(storage.scores, storage.snapshots, exchange=EX, keep=timedelta(days=2))
    market = history.record()
    assert market is not None and market.first is not None
    assert market.first >= START + (HOURS - 1) * HOUR - timedelta(days=2)


def test_an_alert_gets_its_evidence_line_above_the_minimum_sample() -> None:
    storage = FakeStorage()
    stored_history(storage, "SUIUSDT", 40)
    stored_history(storage, "ARBUSDT", 29)  # one short of the minimum
    history = TrackHistory(storage.scores, storage.snapshots, exchange=EX)
    events = [alert("SUIUSDT"), alert("ARBUSDT"), alert("SUIUSDT", Band.STRESSED, Bias.SHORT)]
    lines = history.evidence_lines(events, CYCLE_T0)
    assert lines == {
        "SUIUSDT-stressed": "stressed LONG readings here in the last 6 days: 40, "
        "median 24h move 6.0 % vs 2.0 % when neutral"
    }
    assert history.evidence_lines([], CYCLE_T0) == {}


def test_the_evidence_line_is_in_the_alert_message_and_absent_below_the_minimum() -> None:
    storage = FakeStorage()
    stored_history(storage, "SUIUSDT", 40)
    stored_history(storage, "ARBUSDT", 29)
    history = TrackHistory(storage.scores, storage.snapshots, exchange=EX)
    events = (alert("SUIUSDT"), alert("ARBUSDT"))
    chat = Chat(1, ChatKey(Platform.CONSOLE, "me"), ChatKind.PRIVATE, "UTC", True, CYCLE_T0)
    text = document_text(
        alert_document(AlertBatch(chat, events, 0, "k"), None, history.evidence_lines(events, CYCLE_T0))
    )
    sui, arb = text.split("\n\n")[1:]
    assert (
        "  stressed LONG readings here in the last 6 days: 40, median 24h move 6.0 % vs 2.0 % when neutral"
        in sui
    )
    assert "readings here" not in arb


async def test_a_cycle_puts_the_evidence_line_on_its_alerts() -> None:
    storage, source = FakeStorage(), ScriptedSource()
    # Every band and bias of BTCUSDT's history clears the minimum, whatever the alert says:
    # each holds one hour in twelve, every day (the track record samples hourly, so six
    # days give each 12 outcomes: the minimum is lowered to that here; its own tests are
    # above).
    kinds = [(band, bias) for band in Band for bias in Bias]
    at = [CYCLE_T0 - timedelta(days=6) + k * CYCLE_STEP for k in range(6 * 288)]
    hourly = [kinds[(k // 12) % 12] for k in range(len(at))]
    storage.snapshots.add_snapshots(
        [
            replace(snapshot("BTCUSDT", ts, exchange="fakex"), mark_price=100.0 + (k % 7))
            for k, ts in enumerate(at)
        ]
    )
    store_scores(
        storage,
        [
            record(
                "BTCUSDT",
                ts,
                result(50, hourly[k][1], Regime.BALANCED, hourly[k][0]),
                exchange="fakex",
            )
            for k, ts in enumerate(at)
        ],
    )
    chat = storage.chats.ensure_chat(ChatKey(Platform.CONSOLE, "me"), kind=ChatKind.PRIVATE, now=CYCLE_T0)
    storage.chats.save_settings(chat.ref, ChatSettings(min_band=Band.LEAN))
    history = TrackHistory(
        storage.scores, storage.snapshots, exchange="fakex", params=TrackParams(min_readings=10)
    )
    deps = CycleDeps(
        "fakex",
        source,
        storage.snapshots,
        storage.alert_states,
        storage.chats,
        storage.outbox,
        storage.cycles,
    )
    cycle = CollectionCycle(
        deps,
        DEFAULT_PARAMS,
        DiffParams(),
        alert_document,
        evidence=history.evidence_lines,
    )
    reports = [await cycle.run(CYCLE_T0 + i * CYCLE_STEP) for i in range(12)]
    alerted = [e for r in reports for e in r.alerts if e.kind is EventKind.BAND_UP]
    assert alerted
    payloads = [document_text(m.payload) for m in storage.outbox.entries.values()]
    line = re.compile(
        rf"  {alerted[0].after.band.value} {alerted[0].after.bias.value} readings here in the last 6 days: "
        r"\d+, median 24h move \d+\.\d+ % vs \d+\.\d+ % when neutral"
    )
    assert any(line.search(p) for p in payloads), payloads


async def test_a_failing_evidence_read_leaves_the_alerts_as_they_were(
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage, source = FakeStorage(), ScriptedSource()
    chat = storage.chats.ensure_chat(ChatKey(Platform.CONSOLE, "me"), kind=ChatKind.PRIVATE, now=CYCLE_T0)
    storage.chats.save_settings(chat.ref, ChatSettings(min_band=Band.LEAN))

    def broken(events: object, now: object) -> dict[str, str]:
        raise RuntimeError("the database went away")

    deps = CycleDeps(
        "fakex",
        source,
        storage.snapshots,
        storage.alert_states,
        storage.chats,
        storage.outbox,
        storage.cycles,
    )
    cycle = CollectionCycle(
        deps,
        DEFAULT_PARAMS,
        DiffParams(),
        alert_document,
        evidence=broken,
    )
    reports = [await cycle.run(CYCLE_T0 + i * CYCLE_STEP) for i in range(12)]
    assert sum(r.messages for r in reports) >= 1
    assert "evidence lines" in caplog.text


def test_a_symbol_gone_from_the_market_is_left_out_of_the_market_record() -> None:
    # The whole market is read without a symbol list: a listing silent for longer than
    # DISCOVER before the newest score has rows in the window but is not in the market.
    storage = FakeStorage()
    stored_history(storage, "SUIUSDT", 40)
    stored_history(storage, "ARBUSDT", 45)
    gone = [START + k * HOUR for k in range(HOURS - 12)]  # stopped 12 hours before the end
    storage.snapshots.add_snapshots([snapshot("OLDUSDT", ts) for ts in gone])
    store_scores(storage, [record("OLDUSDT", ts, result(90, Bias.LONG)) for ts in gone])
    market = TrackHistory(storage.scores, storage.snapshots, exchange=EX).record()
    expected = track_record([series_of(storage, "ARBUSDT"), series_of(storage, "SUIUSDT")])
    assert market == expected
