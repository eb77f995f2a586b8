"""Fan-out by chat settings, batching, the daily cap, and the plain-text alert."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app.fanout import Audience, followed_venues, in_quiet_hours, plan_fanout
from bot.bootstrap import alert_renderer
from bot.core.events import AlertEvent, EventKind, Reading
from bot.core.models import Band, Bias, Regime
from bot.core.records import Chat, ChatKey, ChatKind, ChatSettings, Platform
from bot.render.documents import alert_document
from bot.render.plain_text import document_text

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def chat(ref: int = 1, tz: str = "UTC", enabled: bool = True) -> Chat:
    return Chat(
        ref=ref,
        key=ChatKey(Platform.TELEGRAM, str(1000 + ref)),
        kind=ChatKind.GROUP,
        timezone=tz,
        enabled=enabled,
        created_at=NOW - timedelta(days=3),
    )


def event(symbol: str, kind: EventKind, old: Band, new: Band, score: int) -> AlertEvent:
    before = Reading(
        NOW - timedelta(minutes=5),
        20,
        old,
        Bias.LONG,
        Regime.LONG_BIAS,
        "Net long bias building",
        oi_24h_pct=8.0,
        funding_8h_pct=0.02,
        basis_pct=0.1,
    )
    after = Reading(
        NOW,
        score,
        new,
        Bias.LONG,
        Regime.LONG_CROWDED,
        "Long crowded · high funding + premium + rising OI",
        oi_24h_pct=21.3,
        funding_8h_pct=0.09,
        basis_pct=0.12,
    )
    return AlertEvent(
        f"x:{symbol}:{kind.value}:{NOW.isoformat()}",
        "binanceusdm",
        symbol,
        kind,
        old,
        new,
        before,
        after,
        new.rank,
    )


UP_STRESSED = event("SPKUSDT", EventKind.BAND_UP, Band.STRETCHED, Band.STRESSED, 72)
UP_LEAN = event("BTCUSDT", EventKind.BAND_UP, Band.NEUTRAL, Band.LEAN, 18)
COOLED = event("ETHUSDT", EventKind.BAND_DOWN, Band.STRETCHED, Band.LEAN, 28)
SQUEEZE = event("SOLUSDT", EventKind.SQUEEZE_RISK, Band.STRETCHED, Band.STRETCHED, 50)
ALL = [UP_LEAN, COOLED, SQUEEZE, UP_STRESSED]


def audience(
    settings: ChatSettings | None = None,
    *,
    c: Chat | None = None,
    watch: set[str] | None = None,
    today: int = 0,
) -> Audience:
    return Audience(c or chat(), settings or ChatSettings(), frozenset(watch or ()), today)


def symbols(batches: list, i: int = 0) -> list[str]:  # type: ignore[type-arg]
    return [e.symbol for e in batches[i].events]


def test_defaults_send_stretched_and_above_ranked_by_score_in_one_message() -> None:
    batches = plan_fanout(ALL, [audience()], NOW)
    assert len(batches) == 1
    assert symbols(batches) == ["SPKUSDT", "SOLUSDT", "ETHUSDT"]  # cooled *from* stretched counts


def test_min_band_lean_opts_into_neutral_to_lean() -> None:
    batches = plan_fanout(ALL, [audience(ChatSettings(min_band=Band.LEAN))], NOW)
    assert "BTCUSDT" in symbols(batches)


def test_off_disabled_kinds_and_watchlist() -> None:
    assert plan_fanout(ALL, [audience(ChatSettings(alerts_enabled=False))], NOW) == []
    assert plan_fanout(ALL, [audience(c=chat(enabled=False))], NOW) == []
    only_squeeze = ChatSettings(event_kinds=frozenset({EventKind.SQUEEZE_RISK}))
    assert symbols(plan_fanout(ALL, [audience(only_squeeze)], NOW)) == ["SOLUSDT"]
    watch_only = ChatSettings(watchlist_only=True)
    assert symbols(plan_fanout(ALL, [audience(watch_only, watch={"ETHUSDT"})], NOW)) == ["ETHUSDT"]


@pytest.mark.parametrize(
    ("tz", "start", "end", "quiet"),
    [
        ("UTC", time(22), time(7), False),  # 12:00 UTC
        ("Asia/Tokyo", time(20), time(23), True),  # 21:00 in Tokyo
        ("Asia/Tokyo", time(22), time(7), False),
        ("America/New_York", time(6), time(8), True),  # 07:00 in New York
        ("UTC", time(9), time(9), False),  # empty window
    ],
)
def test_quiet_hours_in_the_chats_timezone(tz: str, start: time, end: time, quiet: bool) -> None:
    settings = ChatSettings(quiet_start=start, quiet_end=end)
    assert in_quiet_hours(settings, tz, NOW) is quiet
    batches = plan_fanout(ALL, [audience(settings, c=chat(tz=tz))], NOW)
    assert (batches == []) is quiet


def test_daily_cap_ends_with_a_suppressed_count_then_stays_quiet() -> None:
    many = [replace(UP_STRESSED, symbol=f"S{i}USDT", event_id=f"e{i}") for i in range(10)]
    (batch,) = plan_fanout(many, [audience(today=46)], NOW, daily_cap=50)
    assert len(batch.events) == 4
    assert batch.suppressed == 6
    assert batch.counted == 5
    assert "6 more suppressed" in document_text(alert_document(batch))
    assert plan_fanout(many, [audience(today=46 + batch.counted)], NOW, daily_cap=50) == []


def test_idempotency_key_is_per_chat_and_event_set() -> None:
    a = plan_fanout(ALL, [audience(c=chat(1)), audience(c=chat(2))], NOW)
    b = plan_fanout(list(reversed(ALL)), [audience(c=chat(1))], NOW)
    assert a[0].idempotency_key == b[0].idempotency_key
    assert a[0].idempotency_key != a[1].idempotency_key


def test_alert_text_names_everything_a_trader_needs() -> None:
    (batch,) = plan_fanout([UP_STRESSED], [audience()], NOW)
    text = document_text(alert_document(batch, source_label="synthetic demo market (replay)"))
    for needle in (
        "SPKUSDT stretched → stressed",
        "score 72 (was 20)",
        "LONG",
        "Long crowded",
        "OI 24h +8.0% → +21.3%",
        "funding/8h +0.020% → +0.090%",
        "data 2026-11-20 12:00 UTC",
        "synthetic",
    ):
        assert needle in text, needle


# --- venues ---------------------------------------------------------------------------------


def on(venue: str, e: AlertEvent) -> AlertEvent:
    return replace(e, exchange=venue, event_id=f"{venue}:{e.event_id}")


def test_a_chat_hears_only_the_venues_it_follows() -> None:
    events = [on("bybit", UP_STRESSED), on("okx", SQUEEZE), on("all", COOLED)]
    bybit = audience(ChatSettings(alert_venues=frozenset({"bybit"})))
    both = audience(ChatSettings(alert_venues=frozenset({"bybit", "okx"})), c=chat(2))
    aggregate = audience(ChatSettings(alert_venues=frozenset({"all"})), c=chat(3))
    heard = {
        b.chat.ref: [e.exchange for e in b.events] for b in plan_fanout(events, [bybit, both, aggregate], NOW)
    }
    assert heard == {1: ["bybit"], 2: ["bybit", "okx"], 3: ["all"]}


def test_with_one_venue_a_chat_without_a_choice_hears_every_event_of_it() -> None:
    # A single venue: nothing fills the choice in, and an empty one filters nothing.
    batches = plan_fanout(ALL, [audience()], NOW)
    assert [e.symbol for e in batches[0].events] == ["SPKUSDT", "SOLUSDT", "ETHUSDT"]


@pytest.mark.parametrize(
    ("chosen", "followed"),
    [
        (frozenset(), {"all"}),
        (frozenset({"bybit"}), {"bybit"}),
        (frozenset({"bybit", "kraken"}), {"bybit"}),
        (frozenset({"kraken"}), {"all"}),  # no longer collected: back to the default, not silent
    ],
)
def test_followed_venues_fill_in_the_default(chosen: frozenset[str], followed: set[str]) -> None:
    assert (
        followed_venues(ChatSettings(alert_venues=chosen), ("binanceusdm", "bybit", "all"), "all") == followed
    )


def test_with_several_venues_a_chat_without_a_choice_hears_the_aggregate_only() -> None:
    events = [on("binanceusdm", UP_STRESSED), on("okx", SQUEEZE), on("all", COOLED)]
    plain = audience()
    picky = audience(ChatSettings(alert_venues=frozenset({"okx"})), c=chat(2))
    gone = audience(ChatSettings(alert_venues=frozenset({"kraken"})), c=chat(3))  # no longer collected
    batches = plan_fanout(events, [plain, picky, gone], NOW, venues=("binanceusdm", "okx", "all"))
    heard = {b.chat.ref: [e.exchange for e in b.events] for b in batches}
    assert heard == {1: ["all"], 2: ["okx"], 3: ["all"]}
    assert plain.settings.alert_venues == frozenset()  # the choice is read, not rewritten


@given(
    st.lists(st.sampled_from(["all", "binanceusdm", "bybit", "okx"]), min_size=1, max_size=8),
    st.frozensets(st.sampled_from(["all", "binanceusdm", "bybit", "okx"])),
)
def test_a_chat_hears_exactly_the_events_of_the_venues_it_follows(
    venues: list[str], chosen: frozenset[str]
) -> None:
    events = [on(v, replace(UP_STRESSED, symbol=f"S{i}", event_id=f"e{i}")) for i, v in enumerate(venues)]
    batches = plan_fanout(events, [audience(ChatSettings(alert_venues=chosen))], NOW)
    heard = [e.event_id for b in batches for e in b.events]
    expected = [e.event_id for e in events if not chosen or e.exchange in chosen]
    assert sorted(heard) == sorted(expected)


@given(
    st.lists(st.sampled_from(["all", "binanceusdm", "bybit", "okx"]), min_size=1, max_size=8),
    st.frozensets(st.sampled_from(["all", "binanceusdm", "bybit", "okx", "kraken"])),
    st.frozensets(st.sampled_from(["binanceusdm", "bybit", "okx"]), min_size=2),
)
def test_with_several_venues_a_chat_hears_exactly_what_followed_venues_gives_it(
    venues: list[str], chosen: frozenset[str], collected: frozenset[str]
) -> None:
    configured = (*sorted(collected), "all")
    settings = ChatSettings(alert_venues=chosen)
    events = [on(v, replace(UP_STRESSED, symbol=f"S{i}", event_id=f"e{i}")) for i, v in enumerate(venues)]
    batches = plan_fanout(events, [audience(settings)], NOW, venues=configured)
    heard = [e.event_id for b in batches for e in b.events]
    followed = followed_venues(settings, configured, "all")
    assert sorted(heard) == sorted(e.event_id for e in events if e.exchange in followed)
    # The same as the chat's choice filled in beforehand (what the store wrapper used to do).
    filled = audience(replace(settings, alert_venues=followed))
    assert plan_fanout(events, [filled], NOW) == batches


def test_alert_titles_name_the_venue_only_when_there_are_several() -> None:
    batch = plan_fanout([UP_STRESSED], [audience()], NOW)[0]
    assert alert_renderer(None, None)(batch).title == "Derivatives Pressure alerts"
    assert alert_renderer(None, "bybit")(batch).title == "Derivatives Pressure alerts · Bybit"
    assert alert_renderer("synthetic", "all")(batch).title == "Derivatives Pressure alerts · all venues"
    assert alert_renderer("synthetic", "all")(batch).source_label == "synthetic"
