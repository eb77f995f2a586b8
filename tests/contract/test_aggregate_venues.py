"""The cross-venue aggregate (exchange ``all``) over three fake venues, through the runner's
Process: known numbers, a complete score from the venues' backfilled history, and
a venue down leaving the summed OI out rather than shrinking it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app.aggregate import AggregateSource
from bot.bootstrap import App, build_app
from bot.config import load_settings
from bot.core.inputs import basis_pct
from bot.core.instruments import Listing, VenueOnly
from bot.roles import Role
from bot.runner import Process
from tests.contract.conftest import FAST, SourceFactory
from tests.fakes.clock import FakeClock
from tests.fakes.exchange import FakeExchange, bybit
from tests.fakes.exchange.venues import BOOKS, scenario, token_name, venue_market
from tests.waiting import wait_for

VENUES = ("binanceusdm", "bybit", "okx")
INTERVAL = timedelta(seconds=60)
# Off the 5-minute grid: a cycle's snapshot never shares its time with a backfilled point.
START = datetime(2026, 12, 4, 12, 0, 7, tzinfo=UTC)


@pytest.fixture
async def fakes() -> AsyncIterator[dict[str, FakeExchange]]:
    servers = {venue: FakeExchange() for venue in VENUES}
    for server in servers.values():
        await server.start()
    yield servers
    for server in servers.values():
        await server.stop()


async def tick(process: Process, clock: FakeClock) -> None:
    """One round of every venue's cycle, each its own task as the schedule runs them."""
    await asyncio.gather(*(process.venue_cycle(c) for c in process.app.collectors), return_exceptions=True)


def build(tmp_path: Path, fakes: dict[str, FakeExchange], clock: FakeClock, venues: tuple[str, ...]) -> App:
    for fake in fakes.values():
        fake.market.clock_ms = lambda: int(clock.now().timestamp() * 1000)
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'dps.sqlite3'}",
        exchanges=",".join(venues),
        exchange_api_urls={venue: fakes[venue].url for venue in venues},
        collect_interval=int(INTERVAL.total_seconds()),
    )
    return build_app(settings, clock=clock, role=Role.COLLECTOR, tuning=replace(FAST, breaker_cool_off_s=0.0))


async def test_three_venues_sum_into_one_aggregate_per_asset(
    fakes: dict[str, FakeExchange], tmp_path: Path
) -> None:
    # Distinct books per venue: Bybit holds half Binance's BTC and pays 4x its funding.
    fakes["bybit"].market.instruments["BTC"].oi_base = 40_000.0
    fakes["bybit"].market.instruments["BTC"].funding_rate = 0.0004
    fakes["okx"].market.instruments["BTC"].basis = -0.0005
    clock = FakeClock(START)
    app = build(tmp_path, fakes, clock, VENUES)
    process = Process(app, backfill=True)
    storage = app.collector.storage
    try:
        await process.renew_leases()
        assert app.aggregate is not None and app.aggregate.lease is not None
        assert app.aggregate.lease.name == "collector:all"

        await process.aggregate_cycle()  # nothing collected yet: it waits for the venues
        assert storage.snapshots.latest_snapshot_time("all") is None
        await tick(process, clock)
        clock.advance(timedelta(seconds=5))
        await process.aggregate_cycle()
        now = clock.now()

        latest = {v: storage.snapshots.latest_snapshots(v, START) for v in VENUES}
        agg = storage.snapshots.latest_snapshots("all", now)
        assert set(agg) == {"BTC", "ETH", "SOL", "XRP", "DOGE", "PEPE"}
        btc = agg["BTC"]
        parts = [latest["binanceusdm"]["BTCUSDT"], latest["bybit"]["BTCUSDT"], latest["okx"]["BTC-USDT-SWAP"]]
        assert [p.oi_contracts for p in parts] == pytest.approx([80_000.0, 40_000.0, 80_000.0])
        assert btc.oi_contracts == pytest.approx(200_000.0)
        usd = [p.oi_contracts * p.mark_price for p in parts]  # type: ignore[operator]
        assert btc.oi_usd == pytest.approx(sum(p.oi_usd for p in parts))  # type: ignore[misc]
        weights = [u / sum(usd) for u in usd]
        assert btc.funding_rate == pytest.approx(
            0.0001 * weights[0] + 0.0004 * weights[1] + 0.0001 * weights[2]
        )
        assert btc.funding_interval_h == 8.0
        basis = [basis_pct(p.mark_price, p.index_price) for p in parts]
        assert basis_pct(btc.mark_price, btc.index_price) == pytest.approx(
            sum(b * w for b, w in zip(basis, weights, strict=True))  # type: ignore[operator]
        )
        # PEPE: every venue lists 1000PEPE; the aggregate counts PEPE.
        pepe = [latest["binanceusdm"]["1000PEPEUSDT"], latest["bybit"]["1000PEPEUSDT"]]
        assert agg["PEPE"].oi_contracts == pytest.approx(1e3 * 3 * pepe[0].oi_contracts)  # type: ignore[operator]
        assert pepe[1].oi_contracts == pytest.approx(pepe[0].oi_contracts)

        # Scored from the same core, complete: its day of history derived from the venues'.
        scores = {r.symbol: r for r in storage.scores.latest_scores("all", since=now)}
        assert set(scores) == set(agg)
        assert not any(r.result.partial for r in scores.values()), scores
        assert storage.outbox.status_counts() == {}
        assert app.last_cycle.of("all") is None  # /status lists venues, not the aggregate

        # Bybit down for the next round: after an interval the aggregate runs without it,
        # its summed OI left out (partial), never a two-venue sum read as positions closing.
        for route in bybit.ROUTES:
            fakes["bybit"].inject(route.key, "status", status=503)
        clock.advance(INTERVAL)
        await tick(process, clock)
        clock.advance(timedelta(seconds=5))
        await process.aggregate_cycle()
        clock.advance(INTERVAL)
        await tick(process, clock)
        await process.aggregate_cycle()
        later = storage.snapshots.latest_snapshots("all", clock.now())
        assert later["BTC"].oi_contracts is None
        assert later["BTC"].funding_rate is not None
        rescored = {r.symbol: r for r in storage.scores.latest_scores("all", since=clock.now())}
        # The OI changes still end at the last complete sum: no -40 % from Bybit's absence.
        moves = [rescored["BTC"].inputs.oi_1h_pct, rescored["BTC"].inputs.oi_24h_pct]
        assert all(m is not None and abs(m) < 10.0 for m in moves), moves
        two_venues = sum(
            latest[v]["BTCUSDT" if v != "okx" else "BTC-USDT-SWAP"].oi_contracts
            for v in ("binanceusdm", "okx")
        )  # type: ignore[misc]
        stored = storage.snapshots.market_history("all", START, clock.now(), ["BTC"]).oi["BTC"]
        assert all(abs(oi - two_venues) > 0.1 * two_venues for _, oi in stored)
    finally:
        process.release_leases()
        await app.close()


async def test_one_venue_has_no_aggregate(fakes: dict[str, FakeExchange], tmp_path: Path) -> None:
    clock = FakeClock(START)
    app = build(tmp_path, fakes, clock, ("binanceusdm",))
    try:
        assert app.aggregate is None
        process = Process(app, backfill=True)
        assert [lease.name for lease in process._collector_leases()] == ["collector:binanceusdm"]
        await process.cycle()
        await process.aggregate_cycle()
        await wait_for(
            lambda: app.collector.storage.snapshots.latest_snapshot_time("binanceusdm") is not None
        )
        assert app.collector.storage.snapshots.latest_snapshot_time("all") is None
    finally:
        await app.close()


@pytest.mark.parametrize(
    ("venue", "ids"),
    [
        ("binanceusdm", {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "1000PEPEUSDT"}),
        ("bybit", {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "1000PEPEUSDT"}),
        ("okx", {f"{b}-USDT-SWAP" for b in ("BTC", "ETH", "SOL", "XRP", "DOGE", "1000PEPE")}),
    ],
)
async def test_each_venue_lists_its_usdt_perpetuals_from_ccxts_metadata(
    venue: str, ids: set[str], fake: FakeExchange, make_source: SourceFactory
) -> None:
    """Through the real ccxt parser: the fakes' inverse, USDC and dated contracts never list."""
    source = make_source(venue)
    read = await source.listings()
    listed = {r.symbol: r for r in read if isinstance(r, Listing)}
    assert ids <= set(listed)
    assert listed[sorted(ids)[0]].venue == venue
    assert {r.base for r in listed.values() if r.symbol in ids} == {
        "BTC",
        "ETH",
        "SOL",
        "XRP",
        "DOGE",
        "1000PEPE",
    }
    # Besides them only the pre-launch USDT perpetual (never fresh, so never a member).
    assert len(set(listed) - ids) <= 1, set(listed) - ids
    assert not any("USDC" in s or "-USD-" in s or s.endswith("USD") for s in listed)
    assert [r for r in read if isinstance(r, VenueOnly)] == []
    assert len(fake.calls(_MARKETS[venue])) >= 1
    before = len(fake.calls(_MARKETS[venue]))
    await source.listings()  # not collected by this source: its markets are read again
    assert len(fake.calls(_MARKETS[venue])) > before


_MARKETS = {"binanceusdm": "exchangeInfo", "bybit": "instruments-info", "okx": "instruments"}


async def test_the_first_aggregate_waits_for_a_venue_still_backfilling(
    fakes: dict[str, FakeExchange], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its members come from fresh cycles: started early, Bybit would join an hour late."""
    clock = FakeClock(START)
    app = build(tmp_path, fakes, clock, VENUES)
    process = Process(app, backfill=True)
    storage = app.collector.storage
    bybit_cycle = app.collectors[1].cycle
    real_backfill = bybit_cycle.backfill
    release = asyncio.Event()
    entered = asyncio.Event()

    async def held_backfill(now: datetime) -> int:
        entered.set()
        await release.wait()  # Bybit's start-up backfill lasts until the test lets it go
        return await real_backfill(now)

    monkeypatch.setattr(bybit_cycle, "backfill", held_backfill)
    try:
        await process.renew_leases()
        jobs = {c.exchange: asyncio.create_task(process.venue_cycle(c)) for c in app.collectors}
        await jobs["binanceusdm"]
        await jobs["okx"]
        await entered.wait()
        await process.aggregate_cycle()
        # However long it lasts (the others collecting meanwhile): the two intervals the
        # first run waits at most are for a venue that is down, not one still backfilling.
        others = [c for c in app.collectors if c.exchange != "bybit"]
        for _ in range(3):
            clock.advance(INTERVAL)
            await asyncio.gather(*(process.venue_cycle(c) for c in others))
            await process.aggregate_cycle()
        assert storage.snapshots.latest_snapshot_time("all") is None
        release.set()
        await jobs["bybit"]
        await tick(process, clock)  # the others collect again meanwhile: every venue fresh
        clock.advance(timedelta(seconds=5))  # the aggregate runs after the round
        await process.aggregate_cycle()
        agg = storage.snapshots.latest_snapshots("all", START)
        assert agg["BTC"].oi_contracts == pytest.approx(3 * 80_000.0)
    finally:
        release.set()
        process.release_leases()
        await app.close()


# -- One scenario, three venues, known numbers ---------------------------------------------


@pytest.fixture
async def venue_fakes() -> AsyncIterator[dict[str, FakeExchange]]:
    """Each venue's fake serves the same scenario market in that venue's names and units."""
    scene = scenario()
    servers = {venue: FakeExchange(venue_market(scene, venue)) for venue in VENUES}
    for server in servers.values():
        await server.start()
    yield servers
    for server in servers.values():
        await server.stop()


def _expected(moment: datetime) -> dict[str, dict[str, object]]:
    """Every asset's aggregate, from the scenario and the venues' books alone (no fake, no bot).

    Per venue: OI in tokens = scenario OI × tokens per unit × the venue's share; its USD
    value = scenario OI × share × the venue's mark (the common index × (1 + its basis));
    funding on 8 h = (scenario rate + offset) × 8 / its interval; the OI an hour ago from the
    scenario's daily wave, shifted by the venue's.
    """
    out: dict[str, dict[str, object]] = {}
    past_ms = int((moment - timedelta(hours=1)).timestamp() * 1000) // 300_000 * 300_000
    for inst in scenario().instruments.values():
        token, tokens = token_name(inst.base)
        oi, usd, funding, basis, past = [], [], [], [], []
        for venue in VENUES:
            book = BOOKS[venue]
            own_basis = inst.basis + book.basis_add
            oi.append(inst.oi_base * tokens * book.oi_share)
            usd.append(inst.oi_base * book.oi_share * inst.index * (1.0 + own_basis))
            interval = book.interval_h.get(inst.base, inst.interval_h)
            funding.append((inst.funding_rate + book.funding_add) * 100.0 * 8.0 / interval)
            basis.append(own_basis * 100.0)
            wave = replace(
                inst, oi_base=inst.oi_base * book.oi_share, phase_rad=inst.phase() + book.wave_shift
            )
            past.append(wave.oi_at(past_ms) * tokens)
        shares = [u / sum(usd) for u in usd]
        out[token] = {
            "oi": sum(oi),
            "usd": sum(usd),
            **{f"share {venue}": share for venue, share in zip(VENUES, shares, strict=True)},
            "funding_8h_pct": sum(f * w for f, w in zip(funding, shares, strict=True)),
            "basis_pct": sum(b * w for b, w in zip(basis, shares, strict=True)),
            "oi_1h_pct": (sum(oi) / sum(past) - 1.0) * 100.0,
        }
    return out


EXACT = 1e-9  # relative: the venues' wire formats carry at least this many digits


async def test_three_venues_of_one_scenario_aggregate_exactly_to_the_figures_computed_from_it(
    venue_fakes: dict[str, FakeExchange], tmp_path: Path
) -> None:
    clock = FakeClock(START)
    app = build(tmp_path, venue_fakes, clock, VENUES)
    process = Process(app, backfill=True)
    storage = app.collector.storage
    try:
        await process.renew_leases()
        await tick(process, clock)  # each venue: start-up backfill of a day, then a cycle
        clock.advance(timedelta(seconds=5))
        await process.aggregate_cycle()  # the aggregate: its derived day, then its cycle
        now = clock.now()
        assert app.aggregate is not None and isinstance(app.aggregate.source, AggregateSource)

        stored = storage.snapshots.latest_snapshots("all", now)
        scores = {r.symbol: r for r in storage.scores.latest_scores("all", since=now)}
        expected = _expected(now)
        assert (
            set(stored)
            == set(scores)
            == set(expected)
            == {"BTC", "ETH", "SOL", "XRP", "DOGE", "PEPE", "SHIB"}
        )
        # Each venue's own names for the same token, in EXCHANGES order.
        members = {
            a: [(v.venue, v.symbol) for v in agg.venues] for a, agg in app.aggregate.source.latest.items()
        }
        assert members["SHIB"] == [
            ("binanceusdm", "1000SHIBUSDT"),
            ("bybit", "SHIB1000USDT"),
            ("okx", "SHIB-USDT-SWAP"),
        ]
        assert members["PEPE"] == [
            ("binanceusdm", "1000PEPEUSDT"),
            ("bybit", "1000PEPEUSDT"),
            ("okx", "PEPE-USDT-SWAP"),
        ]
        for asset, want in expected.items():
            snap, record = stored[asset], scores[asset]
            assert not record.result.partial, (asset, record)
            got = {
                "oi": snap.oi_contracts,
                "usd": snap.oi_usd,
                **{f"share {v.venue}": v.oi_share for v in app.aggregate.source.latest[asset].venues},
                "funding_8h_pct": None if snap.funding_rate is None else snap.funding_rate * 100.0,
                "basis_pct": basis_pct(snap.mark_price, snap.index_price),
                "oi_1h_pct": record.inputs.oi_1h_pct,
            }
            assert snap.funding_interval_h == 8.0
            assert got == pytest.approx(want, rel=EXACT), asset
            # Not one venue times three: the books differ.
            assert [want[f"share {v}"] for v in VENUES] != pytest.approx([1 / 3] * 3)
    finally:
        process.release_leases()
        await app.close()
