"""Alerts across three fake venues, end to end through the runner's Process: every cycle fans
out, a chat following Bybit hears Bybit's alert and a chat without a choice the aggregate's."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.core.models import Band
from bot.core.records import ChatKey, ChatKind, ChatSettings, Platform
from bot.render.plain_text import document_text
from bot.runner import Process
from tests.contract.test_aggregate_venues import INTERVAL, START, VENUES, build, fakes, tick
from tests.fakes.clock import FakeClock
from tests.fakes.exchange import FakeExchange

__all__ = ["fakes"]  # the fixture, shared with the aggregate's tests


async def test_a_chat_following_bybit_hears_bybit_and_a_default_chat_the_aggregate(
    fakes: dict[str, FakeExchange], tmp_path: Path
) -> None:
    clock = FakeClock(START)
    app = build(tmp_path, fakes, clock, VENUES)
    process = Process(app, backfill=True)
    storage = app.collector.storage
    chats = storage.chats
    refs = {}
    for name, venues in (("default", frozenset()), ("bybit", frozenset({"bybit"}))):
        chat = chats.ensure_chat(ChatKey(Platform.CONSOLE, name), kind=ChatKind.PRIVATE, now=START)
        chats.save_settings(chat.ref, ChatSettings(min_band=Band.LEAN, alert_venues=venues))
        refs[name] = chat.ref
    try:
        await process.renew_leases()
        await tick(process, clock)  # a calm first round: every venue and the aggregate score low
        clock.advance(timedelta(seconds=5))
        await process.aggregate_cycle()
        assert storage.outbox.status_counts() == {}

        # Longs pile in on every venue at once: funding and premium far above the baseline.
        for fake in fakes.values():
            btc = fake.market.instruments["BTC"]
            btc.funding_rate, btc.basis = 0.003, 0.01
        for _ in range(2):  # a band change must hold for two readings
            clock.advance(INTERVAL)
            await tick(process, clock)
            clock.advance(timedelta(seconds=5))
            await process.aggregate_cycle()

        queued = storage.outbox.claim_due(clock.now(), limit=50, claim_for=timedelta(minutes=1))
        by_chat: dict[int, list[str]] = {}
        for entry in queued:
            by_chat.setdefault(entry.chat_ref, []).append(entry.payload.title)
        assert by_chat == {
            refs["default"]: ["Derivatives Pressure alerts · all venues"],
            refs["bybit"]: ["Derivatives Pressure alerts · Bybit"],
        }
        # Each heard BTC under its own venue's name: the asset, and Bybit's symbol.
        texts = {e.chat_ref: document_text(e.payload) for e in queued}
        assert "\nBTC " in texts[refs["default"]] and "USDT" not in texts[refs["default"]]
        assert "\nBTCUSDT " in texts[refs["bybit"]]
    finally:
        process.release_leases()
        await app.close()
