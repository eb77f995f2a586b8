"""The collection cycle over in-memory stores and a scripted market source."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.app.cycle import CollectionCycle, CycleDeps
from bot.core.collection import FetchReport, OiPoint, SymbolFailure
from bot.core.diff import DiffParams
from bot.core.market import MarketSnapshot
from bot.core.models import Band
from bot.core.params import DEFAULT_PARAMS
from bot.core.records import ChatKey, ChatKind, ChatSettings, Platform
from bot.render.documents import alert_document
from tests.fakes import FakeStorage

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)


def snap(
    symbol: str, ts: datetime, oi: float, funding: float = 0.0001, mark: float = 100.0
) -> MarketSnapshot:
    return MarketSnapshot("fakex", symbol, ts, oi, oi * mark, mark, 100.0, mark, funding, 8.0, None, 1e6)


@dataclass
class ScriptedSource:
    """A market where BTC's OI and funding climb; ETH always fails."""

    loads: list[int] = field(default_factory=list)  # how many cycles had run at each load
    step: int = 0
    fetched: int = 0

    async def load_universe(self) -> list[str]:
        self.loads.append(self.fetched)
        return ["BTCUSDT", "ETHUSDT"]

    async def fetch_cycle(self, now: datetime) -> FetchReport:
        self.fetched += 1
        self.step = int((now - T0) / STEP)
        oi = 1000.0 * (1 + 0.004 * max(self.step - 3, 0))  # builds from step 4 on
        funding = 0.0001 if self.step < 4 else 0.0009  # 0.09%/8h: crowded longs
        return FetchReport(
            snapshots=(snap("BTCUSDT", now, oi, funding, mark=100.3 if self.step >= 4 else 100.0),),
            failures=(SymbolFailure("ETHUSDT", "timeout"),),
            requests=3,
            weight_used=None,
            duration_s=0.01,
        )

    async def fetch_oi_history(self, symbol: str, since: datetime, until: datetime) -> list[OiPoint]:
        points, ts = [], since
        while ts < until:
            points.append(OiPoint(ts, 1000.0, 100000.0))
            ts += STEP
        return points

    async def close(self) -> None:
        return None


def build(source: ScriptedSource | None = None) -> tuple[CollectionCycle, FakeStorage, ScriptedSource]:
    storage, source = FakeStorage(), source or ScriptedSource()
    deps = CycleDeps(
        "fakex",
        source,
        storage.snapshots,
        storage.alert_states,
        storage.chats,
        storage.outbox,
        storage.cycles,
    )
    return CollectionCycle(deps, DEFAULT_PARAMS, DiffParams(), alert_document), storage, source


async def test_cycles_backfill_score_diff_and_enqueue_in_one_unit() -> None:
    cycle, storage, _ = build()
    chat = storage.chats.ensure_chat(ChatKey(Platform.CONSOLE, "me"), kind=ChatKind.PRIVATE, now=T0)
    storage.chats.save_settings(chat.ref, ChatSettings(min_band=Band.LEAN))
    assert await cycle.backfill(T0) == 2
    reports = [await cycle.run(T0 + i * STEP) for i in range(12)]

    first = reports[0]
    assert (first.fetched, first.scored, first.partial) == (1, 1, 0)  # backfill made it complete
    assert first.failures == {"timeout": 1}
    assert sum(r.events for r in reports) >= 1
    queued = storage.outbox.status_counts()
    assert sum(queued.values()) == sum(r.messages for r in reports) >= 1
    assert storage.scores.latest_scores("fakex", since=T0)
    assert set(storage.alert_states.load_alert_states("fakex")) == {"BTCUSDT"}
    assert "cycle 2026-11-20 00:00 UTC: symbols=1 scored=1 partial=0 failed=1 (timeout=1)" in first.log_line()


async def test_a_venue_cycle_tells_only_the_chats_that_follow_its_venue() -> None:
    # Several venues: every cycle fans out, and a chat that chose no venue follows the
    # aggregate, so it never hears the same symbol's story once per venue. The states are
    # stored either way (nothing is owed when a chat chooses the venue later).
    storage, source = FakeStorage(), ScriptedSource()
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
        deps, DEFAULT_PARAMS, DiffParams(), alert_document, venues=("fakex", "other", "all")
    )
    default = storage.chats.ensure_chat(ChatKey(Platform.CONSOLE, "default"), kind=ChatKind.PRIVATE, now=T0)
    storage.chats.save_settings(default.ref, ChatSettings(min_band=Band.LEAN))
    follower = storage.chats.ensure_chat(ChatKey(Platform.CONSOLE, "fan"), kind=ChatKind.PRIVATE, now=T0)
    storage.chats.save_settings(
        follower.ref, ChatSettings(min_band=Band.LEAN, alert_venues=frozenset({"fakex"}))
    )
    await cycle.backfill(T0)
    reports = [await cycle.run(T0 + i * STEP) for i in range(12)]
    assert sum(r.events for r in reports) >= 1
    assert sum(r.messages for r in reports) >= 1
    assert storage.outbox.events_for_chat(default.ref, T0) == 0
    assert storage.outbox.events_for_chat(follower.ref, T0) >= 1
    assert set(storage.alert_states.load_alert_states("fakex")) == {"BTCUSDT"}


async def test_markets_reload_hourly_not_every_cycle() -> None:
    cycle, _, source = build()
    for i in range(25):  # two hours of 5-minute cycles
        await cycle.run(T0 + i * STEP)
    assert source.loads == [0, 12, 24]  # at T0, T0 + 1h and T0 + 2h


class ListingSource(ScriptedSource):
    """SOL is listed between universe reloads."""

    def __init__(self) -> None:
        super().__init__()
        self.listed: list[str] = ["BTCUSDT", "ETHUSDT"]
        self.history_of: list[str] = []

    async def load_universe(self) -> list[str]:
        self.loads.append(self.fetched)
        return list(self.listed)

    async def fetch_oi_history(self, symbol: str, since: datetime, until: datetime) -> list[OiPoint]:
        self.history_of.append(symbol)
        return await super().fetch_oi_history(symbol, since, until)


async def test_a_symbol_listed_after_start_up_gets_its_day_of_history_at_the_next_reload() -> None:
    storage, source = FakeStorage(), ListingSource()
    deps = CycleDeps(
        "fakex",
        source,
        storage.snapshots,
        storage.alert_states,
        storage.chats,
        storage.outbox,
        storage.cycles,
    )
    cycle = CollectionCycle(deps, DEFAULT_PARAMS, DiffParams(), alert_document)
    await cycle.backfill(T0)
    assert sorted(source.history_of) == ["BTCUSDT", "ETHUSDT"]
    source.listed.append("SOLUSDT")
    for k in range(13):  # an hour of cycles: the universe reloads at the 12th
        await cycle.run(T0 + k * STEP)
    assert source.history_of.count("SOLUSDT") == 1
    assert source.history_of.count("BTCUSDT") == 1  # already has its day: not fetched again
    day_ago = T0 + 12 * STEP - timedelta(hours=24)
    assert "SOLUSDT" in storage.snapshots.oi_at_many("fakex", day_ago, timedelta(minutes=45), ["SOLUSDT"])


async def test_the_chats_alerts_today_are_read_in_one_call_whatever_the_number_of_chats() -> None:
    cycle, storage, _ = build()
    refs = []
    for i, zone_name in enumerate(("UTC", "Asia/Tokyo", "America/New_York", "UTC")):
        chat = storage.chats.ensure_chat(
            ChatKey(Platform.CONSOLE, f"c{i}"), kind=ChatKind.PRIVATE, now=T0, timezone=zone_name
        )
        storage.chats.save_settings(chat.ref, ChatSettings(min_band=Band.LEAN))
        refs.append(chat.ref)
    asked: list[dict[int, datetime]] = []
    counted = storage.outbox.events_for_chats

    def recorded(since: dict[int, datetime]) -> dict[int, int]:
        asked.append(dict(since))
        return counted(since)

    storage.outbox.events_for_chats = recorded  # type: ignore[method-assign]
    await cycle.backfill(T0)
    reports = [await cycle.run(T0 + i * STEP) for i in range(12)]
    with_events = [r for r in reports if r.events]
    assert with_events and len(asked) == len(with_events)  # one read per cycle with alerts
    assert all(set(since) == set(refs) for since in asked)
    # Each at its own midnight: Tokyo's is 15:00 UTC the day before, New York's 05:00 UTC.
    first = asked[0]
    assert first[refs[1]].astimezone(UTC).hour == 15 and first[refs[2]].astimezone(UTC).hour == 5
    assert first[refs[0]] == first[refs[3]]
