"""The OI and mark-price points kept in memory across cycles score exactly as the database's."""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app.cycle import CollectionCycle, CycleDeps
from bot.app.lease import collector_lease
from bot.app.market_memory import MarketMemory, history_spans, load_memory
from bot.app.snapshot_scoring import score_snapshots
from bot.core.collection import FetchReport, OiPoint
from bot.core.diff import DiffParams
from bot.core.market import MarketSnapshot
from bot.core.models import ScoreInputs
from bot.core.params import DEFAULT_PARAMS
from bot.ports import MarketSeries, OiSeries
from bot.render.documents import alert_document
from tests.fakes import FakeStorage
from tests.fakes.market_stores import FakeSnapshotStore

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
EX = "fakex"


def snap(symbol: str, ts: datetime, oi: float | None, mark: float | None = 100.0) -> MarketSnapshot:
    return MarketSnapshot(EX, symbol, ts, oi, None, mark, mark, mark, 0.0001, 8.0, None, 1e6)


def windows_read(store: FakeSnapshotStore, now: datetime, symbols: list[str]) -> MarketSeries:
    """What the cycle read from the database before the memory: every point of the windows."""
    oi: OiSeries = {}
    mark: OiSeries = {}
    for start, end in history_spans(now):
        found = store.market_history(EX, start, end, symbols)
        for merged, part in ((oi, found.oi), (mark, found.mark)):
            for symbol, points in part.items():
                merged.setdefault(symbol, []).extend(points)
    return MarketSeries(oi=oi, mark=mark)


def scores(latest: list[MarketSnapshot], series: MarketSeries, now: datetime) -> list[tuple[object, ...]]:
    scored = score_snapshots(
        latest,
        lambda s: series.oi.get(s, []),
        now,
        DEFAULT_PARAMS,
        price_history=lambda s: series.mark.get(s, []),
    )
    return [(s.snapshot.symbol, s.inputs, s.result) for s in scored]


# Stored points up to 26 h back and a little ahead (clock skew), at any second; values may be
# missing, zero or not finite, as a store may hold them.
# Most of them near the horizons' targets and the windows' edges, where the choice of
# neighbour matters.
offsets = st.one_of(
    st.integers(min_value=-26 * 3600, max_value=600),
    st.builds(
        lambda base, d: base + d,
        st.sampled_from([0, -3600, -4 * 3600, -24 * 3600]),
        st.integers(min_value=-3000, max_value=1200),
    ),
)
values = st.one_of(
    st.none(),
    st.floats(min_value=0.0, max_value=1e6),
    st.sampled_from([math.nan, math.inf, 1000.0, 1010.0]),
)
stored_points = st.lists(st.tuples(st.sampled_from("AB"), offsets, values, values), max_size=200)
# Each symbol's snapshot a little before now (or after it), or several for one symbol.
latest_points = st.lists(
    st.tuples(st.sampled_from("ABC"), st.integers(min_value=-700, max_value=120), values, values),
    min_size=1,
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(stored_points, latest_points, st.integers(min_value=0, max_value=3))
def test_memory_scores_as_the_database_windows_do(
    stored: list[tuple[str, int, float | None, float | None]],
    latest: list[tuple[str, int, float | None, float | None]],
    near: int,
) -> None:
    store = FakeSnapshotStore()
    # Points packed close to the horizons' targets, where the choice of neighbour matters.
    targets = [NOW - timedelta(hours=h) for h in (0, 1, 4, 24)]
    stored = [
        *stored,
        *(
            ("A", int((t - NOW).total_seconds()) + 7 * k, 1000.0 + k, None)
            for t in targets
            for k in range(-near, near + 1)
        ),
    ]
    store.add_snapshots([snap(sym, NOW + timedelta(seconds=s), oi, mark) for sym, s, oi, mark in stored])
    snaps = [snap(sym, NOW + timedelta(seconds=s), oi, mark) for sym, s, oi, mark in latest]
    symbols = [s.symbol for s in snaps]
    at: dict[str, list[datetime]] = {}
    for s in snaps:
        at.setdefault(s.symbol, []).append(s.ts)

    memory = load_memory(store.market_history, EX, NOW).series(NOW, at)

    assert scores(snaps, memory, NOW) == scores(snaps, windows_read(store, NOW, symbols), NOW)


# Points either side of the longer horizons' targets, so the memory can take its quick path.
DAY = [("A", t + d, 800.0, 1.0) for t in (-4 * 3600, -24 * 3600) for d in (-60, 60)]


def same_scores(
    stored: list[tuple[str, int, float | None, float | None]], latest: list[MarketSnapshot]
) -> list[tuple[object, ...]]:
    store = FakeSnapshotStore()
    store.add_snapshots([snap(sym, NOW + timedelta(seconds=s), oi, mark) for sym, s, oi, mark in stored])
    at: dict[str, list[datetime]] = {}
    for s in latest:
        at.setdefault(s.symbol, []).append(s.ts)
    memory = scores(latest, load_memory(store.market_history, EX, NOW).series(NOW, at), NOW)
    assert memory == scores(latest, windows_read(store, NOW, [s.symbol for s in latest]), NOW)
    return memory


def test_memory_scores_from_the_stored_newest_point_when_the_snapshot_has_none() -> None:
    # The snapshot has no OI: the newest stored one stands for now, two minutes back.
    stored = [("A", -120, 1100.0, 1.0), ("A", -3720, 1000.0, 1.0), ("A", -3000, 900.0, 1.0), *DAY]
    (scored,) = same_scores(stored, [snap("A", NOW, None, 1.0)])
    inputs = scored[1]
    assert isinstance(inputs, ScoreInputs)
    assert inputs.oi_1h_pct is not None
    assert abs(inputs.oi_1h_pct - 10.0) < 1e-9


def test_memory_ignores_points_outside_the_windows_as_the_database_read_does() -> None:
    # A point 30 minutes back is in no window: the newest point inside one is 15 min back,
    # too old to stand for now, so the 1h change is unknown either way.
    stored = [("A", -1800, 1100.0, 1.0), ("A", -660, 1050.0, 1.0), ("A", -3600, 1000.0, 1.0), *DAY]
    (scored,) = same_scores(stored, [snap("A", NOW - timedelta(minutes=5), None, 1.0)])
    inputs = scored[1]
    assert isinstance(inputs, ScoreInputs)
    assert inputs.oi_1h_pct is None


def test_memory_extended_by_cycles_scores_as_a_fresh_read() -> None:
    store = FakeSnapshotStore()
    store.add_snapshots([snap("A", NOW - k * STEP, 1000.0 + k) for k in range(1, 300)])
    memory = load_memory(store.market_history, EX, NOW)
    now = NOW
    for k in range(30):
        now = NOW + k * STEP
        cycle = [snap("A", now - timedelta(seconds=k), 2000.0 - k), snap("B", now, 50.0 + k, None)]
        store.add_snapshots(cycle)
        assert memory.add_snapshots(EX, cycle)
        memory.trim(now)
    at = {"A": [now], "B": [now]}
    fresh = load_memory(store.market_history, EX, now)
    assert memory.series(now, at) == fresh.series(now, at)
    assert memory.points() == fresh.points()


def test_trim_forgets_only_what_no_later_cycle_reads() -> None:
    memory = MarketMemory()
    memory.add_snapshots(EX, [snap("A", NOW - k * STEP, 1000.0) for k in range(0, 12 * 30)])
    memory.trim(NOW)
    oldest = history_spans(NOW)[0][0]
    held = load_memory(
        lambda ex, start, end, symbols: MarketSeries(
            oi={
                "A": [
                    (t, v)
                    for t, v in [(NOW - k * STEP, 1000.0) for k in range(12 * 30)][::-1]
                    if start <= t <= end
                ]
            },
            mark={},
        ),
        EX,
        NOW,
    )
    # 24 h 45 min of 5-minute points, both ends included, in each of the two series.
    expected = int((NOW - oldest) / STEP) + 1
    assert memory.points() == 2 * expected
    assert held.points() == expected
    assert oldest == NOW - timedelta(hours=24, minutes=45)


def test_a_value_the_store_may_keep_otherwise_asks_for_a_reread() -> None:
    memory = MarketMemory()
    assert memory.add_snapshots(EX, [snap("A", NOW, 1000.0)])
    assert not memory.add_snapshots(EX, [snap("A", NOW + STEP, math.nan)])


class Market:
    """A source whose symbols' OI climbs, each a few seconds off the cycle; it backfills a day."""

    def __init__(self, symbols: list[str]) -> None:
        self.symbols = symbols
        self.fetched = 0

    async def load_universe(self) -> list[str]:
        return list(self.symbols)

    async def fetch_cycle(self, now: datetime) -> FetchReport:
        self.fetched += 1
        snaps = tuple(
            snap(s, now - timedelta(seconds=7 * i), 1000.0 + 10 * self.fetched + i)
            for i, s in enumerate(self.symbols)
        )
        return FetchReport(snapshots=snaps, failures=(), requests=1, weight_used=None, duration_s=0.0)

    async def fetch_oi_history(self, symbol: str, since: datetime, until: datetime) -> list[OiPoint]:
        return [OiPoint(ts=until - k * STEP, oi_contracts=900.0 + k, oi_usd=None) for k in range(1, 300)]

    async def close(self) -> None:
        return None


class CountedSnapshots(FakeSnapshotStore):
    """The fake snapshot store, counting window reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def market_history(
        self, exchange: str, start: datetime, end: datetime, symbols: Collection[str] | None = None
    ) -> MarketSeries:
        self.reads += 1
        return super().market_history(exchange, start, end, symbols)


class Collector:
    """One collecting process on its own fake database; ``keep``: the memory on or off."""

    def __init__(self, symbols: list[str], *, keep: bool) -> None:
        self.storage = FakeStorage()
        self.snapshots = CountedSnapshots()
        self.storage.snapshots = self.snapshots
        self.snapshots.add_snapshots(
            [snap(s, NOW - k * STEP, 1000.0 - k) for s in symbols for k in range(1, 300)]
        )
        self.lease = collector_lease(self.storage.leases, EX, ttl=timedelta(minutes=3), holder="one")
        self.market = Market(list(symbols))
        s = self.storage
        deps = CycleDeps(EX, self.market, self.snapshots, s.alert_states, s.chats, s.outbox, s.cycles)
        self.cycle = CollectionCycle(
            deps, DEFAULT_PARAMS, DiffParams(), alert_document, fence=self.lease.claim, keep_states=keep
        )

    async def run(self, now: datetime) -> list[tuple[object, ...]]:
        assert self.lease.hold(now)
        report = await self.cycle.run(now)
        return [(t.snapshot.symbol, t.inputs, t.result) for t in report.top]

    def scores(self) -> dict[object, object]:
        return {key: (r.inputs, r.result) for key, r in self.storage.scores.rows.items()}


async def test_the_cycle_reads_the_points_once_while_the_lease_is_held() -> None:
    one = Collector(["A", "B"], keep=True)
    await one.run(NOW)
    first = one.snapshots.reads
    for k in range(1, 6):
        await one.run(NOW + k * STEP)
    assert first > 0
    assert one.snapshots.reads == first


async def test_the_memory_scores_every_cycle_as_the_database_reads_do() -> None:
    kept, read = Collector(["A", "B", "C"], keep=True), Collector(["A", "B", "C"], keep=False)
    for k in range(40):
        now = NOW + k * STEP
        if k == 15:  # a listing joins at the hourly universe reload and is backfilled
            kept.market.symbols.append("D")
            read.market.symbols.append("D")
        assert await kept.run(now) == await read.run(now)
    assert kept.scores() == read.scores()
    assert any(key[1] == "D" and not result.partial for key, (_, result) in kept.scores().items())


async def test_a_backfill_and_a_new_tenure_read_the_points_again() -> None:
    one = Collector(["A", "B"], keep=True)
    now = NOW
    await one.run(now)
    reads = one.snapshots.reads
    # A symbol joins at the hourly universe reload: its backfilled day must be scored from.
    one.market.symbols.append("C")
    now += timedelta(hours=1)
    await one.run(now)
    assert one.snapshots.reads > reads
    reads = one.snapshots.reads
    await one.run(now + STEP)
    assert one.snapshots.reads == reads
    # Another process collects while this one is away; back in a new tenure, this one must
    # score from what the other stored (here the only point an hour back), not its memory.
    one.lease.release()
    back = now + 3 * STEP
    one.snapshots.add_snapshots([snap("A", back - timedelta(hours=1), 500.0)])
    top = {t[0]: t[1] for t in await one.run(back)}
    assert one.snapshots.reads > reads
    inputs = top["A"]
    assert isinstance(inputs, ScoreInputs)
    assert inputs.oi_1h_pct is not None
    assert inputs.oi_1h_pct > 100.0


async def test_a_failed_store_reads_the_points_again() -> None:
    one = Collector(["A"], keep=True)
    await one.run(NOW)
    reads = one.snapshots.reads
    broken = one.storage.cycles.save_cycle

    def failing(**kwargs: object) -> object:
        raise RuntimeError("disk full")

    one.storage.cycles.save_cycle = failing  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await one.run(NOW + STEP)
    one.storage.cycles.save_cycle = broken  # type: ignore[method-assign]
    await one.run(NOW + 2 * STEP)
    assert one.snapshots.reads > reads


def test_hourly_trim_forgets_once_an_hour_is_past_and_picks_as_an_exact_trim() -> None:
    exact, hourly = MarketMemory(), MarketMemory()
    for memory in (exact, hourly):
        memory.add_snapshots(EX, [snap("A", NOW - k * STEP, 1000.0 + k) for k in range(12 * 30)])
        memory.trim(NOW)
    held = hourly.points()
    for k in range(1, 24):
        now = NOW + k * STEP
        cycle = [snap("A", now, 900.0 + k)]
        for memory in (exact, hourly):
            assert memory.add_snapshots(EX, cycle)
        exact.trim(now)
        hourly.trim_hourly(now)
        at = {"A": [now]}
        assert hourly.series(now, at) == exact.series(now, at)
        if k < 12:  # less than an hour past: nothing forgotten, one point more each cycle
            assert hourly.points() == held + 2 * k
        elif k == 12:  # an hour past: trimmed as exactly as trim does
            assert hourly.points() == exact.points()
    # Eleven cycles since: the eleven points (of each kind) an exact trim forgot are still held.
    assert hourly.points() == exact.points() + 2 * 11


def held(memory: MarketMemory) -> tuple[dict[str, tuple[list[int], list[float]]], ...]:
    """The memory's series of both kinds, as plain lists."""
    return tuple(
        {symbol: (list(s.ts), list(s.values)) for symbol, s in kind.items()}
        for kind in (memory._oi, memory._mark)
    )


values = st.one_of(st.none(), st.floats(min_value=-1e9, max_value=1e9))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C"]),
            st.integers(min_value=-3, max_value=3),
            values,
            values,
            st.sampled_from([EX, EX, "other"]),
        ),
        max_size=30,
    )
)
def test_adding_a_cycles_snapshots_equals_adding_their_points_one_by_one(
    rows: list[tuple[str, int, float | None, float | None, str]],
) -> None:
    # ``add_snapshots`` inlines ``_Series.add`` for the usual newer point; any order of
    # times, repeats, missing values and other venues' rows must hold what the plain path does.
    snaps = [
        MarketSnapshot(x, sym, NOW + k * STEP, oi, None, mark, None, None, None, None, None, None)
        for sym, k, oi, mark, x in rows
    ]
    fast = MarketMemory()
    assert fast.add_snapshots(EX, snaps)
    plain = MarketMemory()
    for s in snaps:
        if s.exchange == EX:
            plain.add_series(
                MarketSeries(
                    oi={} if s.oi_contracts is None else {s.symbol: [(s.ts, s.oi_contracts)]},
                    mark={} if s.mark_price is None else {s.symbol: [(s.ts, s.mark_price)]},
                )
            )
    assert held(fast) == held(plain)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("kind", ["oi", "mark"])
def test_a_value_not_finite_of_either_kind_asks_for_a_reread(bad: float, kind: str) -> None:
    memory = MarketMemory()
    oi, mark = (bad, 100.0) if kind == "oi" else (1000.0, bad)
    assert not memory.add_snapshots(EX, [snap("A", NOW, 1000.0), snap("B", NOW, oi, mark)])
