"""``/score`` and ``/top`` with three venues through the real Telegram adapter and the fake Bot API.

The replies go out as real sendMessage calls, HTML checked by the fake as Telegram does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.app.command_limits import RateLimit
from bot.chat.telegram_adapter import TelegramAdapter
from bot.chat.telegram_limits import broadcast_limiter
from tests.fakes.clock import FakeClock
from tests.fakes.scored_market import LATEST
from tests.fakes.storage import FakeStorage
from tests.fakes.telegram_api import FakeTelegram, SentMessage
from tests.fakes.venue_market import pepe_aggregate, pepe_record, three_venues, venue_layer

USER = 1001


@pytest.fixture
async def telegram(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTelegram]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def adapter(telegram: FakeTelegram) -> AsyncIterator[TelegramAdapter]:
    layer = venue_layer(
        three_venues(FakeStorage()),
        {"PEPE": pepe_aggregate()},
        source_label=None,
        rate_limit=RateLimit(10_000),
    )
    made = TelegramAdapter(
        layer,
        FakeClock(LATEST + timedelta(minutes=2)),
        token=telegram.token,
        base_url=telegram.base_url,
        rate_limiter=broadcast_limiter(max_retries=0),
        poll_timeout=1,
    )
    await made.start()
    try:
        yield made
    finally:
        await made.stop()


async def ask(fake: FakeTelegram, text: str) -> SentMessage:
    before = len(fake.sent(USER))
    fake.push_message(USER, text)
    return (await fake.wait_for_sent(before + 1, chat_id=USER))[before]


async def test_score_btc_shows_the_aggregate_then_one_line_per_venue(
    telegram: FakeTelegram, adapter: TelegramAdapter
) -> None:
    reply = await ask(telegram, "/score btc")
    assert reply.parse_mode == "HTML" and reply.text is not None
    lines = reply.text.splitlines()
    assert lines[0].startswith("<b>BTC · score ")
    venues = [line for line in lines if " · funding " in line and "/8h · basis " in line]
    assert [v.split(":")[0].lstrip("•- ") for v in venues] == [
        "Binance BTCUSDT",
        "Bybit BTCUSDT",
        "OKX BTC-USDT-SWAP",
    ]


async def test_score_pepe_flags_the_one_stretched_venue(
    telegram: FakeTelegram, adapter: TelegramAdapter
) -> None:
    reply = await ask(telegram, "/score pepe")
    assert reply.text is not None
    binance = pepe_record("binanceusdm").result.score
    assert f"Binance 1000PEPEUSDT: {binance} stressed · SHORT · 38 % of OI" in reply.text
    assert reply.text.splitlines()[-1] == "Stressed on Binance only, 38 % of OI"


async def test_top_bybit_ranks_that_venue_only(telegram: FakeTelegram, adapter: TelegramAdapter) -> None:
    reply = await ask(telegram, "/top bybit")
    assert reply.text is not None
    assert reply.text.splitlines()[0] == "<b>Derivatives Pressure Score · Top 10 · Bybit</b>"
    table = reply.text.split("<pre>")[1].split("</pre>")[0]
    assert "SPKUSDT" in table and "1000PEPEUSDT" in table
    assert "BTC-USDT-SWAP" not in table and "GALAUSDT" not in table  # OKX's and Binance's own


async def test_top_of_a_venue_not_collected_lists_the_venues(
    telegram: FakeTelegram, adapter: TelegramAdapter
) -> None:
    reply = await ask(telegram, "/top kraken")
    assert reply.text is not None
    assert "the venues are: all, binanceusdm, bybit, okx." in reply.text


async def test_score_btc_bybit_shows_bybits_own_card(
    telegram: FakeTelegram, adapter: TelegramAdapter
) -> None:
    reply = await ask(telegram, "/score btc bybit")
    assert reply.text is not None
    assert reply.text.splitlines()[0].startswith("<b>BTCUSDT · score ")
    assert "bybit, " in reply.text and "By venue" not in reply.text
    missing = await ask(telegram, "/score gala okx")
    assert missing.text is not None and "is not listed on OKX." in missing.text


async def test_alerts_venues_are_chosen_shown_and_refused_through_telegram(
    telegram: FakeTelegram, adapter: TelegramAdapter
) -> None:
    saved = await ask(telegram, "/alerts venues bybit okx")
    assert saved.text is not None
    assert "Alerts and the daily digest follow Bybit and OKX: each one" in saved.text
    shown = await ask(telegram, "/alerts venues")
    assert shown.text is not None and "Alerts and the daily digest follow Bybit and OKX." in shown.text
    refused = await ask(telegram, "/alerts venues kraken")
    assert refused.text is not None and "the venues are: all, binanceusdm, bybit, okx." in refused.text
    back = await ask(telegram, "/alerts venues all")
    assert back.text is not None and "follow all venues (the aggregate), the default." in back.text
