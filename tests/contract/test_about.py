"""``/about`` on every surface: the command layer, the console, Telegram and Discord (fakes).

Version and start time are injected into the command layer (the composition root reads
them); the answer names the exchange, the data source, the uptime and where the docs are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app.command_limits import RateLimit
from bot.app.commands import CommandLayer
from bot.app.views import TextReply
from bot.chat.console_adapter import ConsoleAdapter
from bot.chat.discord_adapter import DiscordAdapter
from bot.chat.telegram_adapter import TelegramAdapter, broadcast_limiter
from bot.cli import build_parser
from bot.render.text import render_text
from tests.fakes.clock import FakeClock
from tests.fakes.discord_api import TOKEN, FakeDiscord
from tests.fakes.scored_market import EXCHANGE, LATEST, SOURCE, make_layer, populate, request
from tests.fakes.storage import FakeStorage
from tests.fakes.telegram_api import FakeTelegram

NOW = LATEST + timedelta(minutes=2)
STARTED = NOW - timedelta(hours=3, minutes=5)


def about_layer(*, source_label: str | None = SOURCE, started: bool = True) -> CommandLayer:
    return make_layer(
        populate(FakeStorage()),
        source_label=source_label,
        rate_limit=RateLimit(10_000),
        version="9.8.7",
        started=STARTED if started else None,
    )


def says_it_all(text: str, source: str) -> None:
    for fact in ("9.8.7", EXCHANGE, source, "3 h 5 min", "README.md", "docs/"):
        assert fact in text, fact


async def test_about_names_version_exchange_source_uptime_and_docs() -> None:
    reply = await about_layer().handle(request("/about", now=NOW))
    assert isinstance(reply, TextReply)
    says_it_all(render_text(reply), SOURCE)


async def test_live_data_and_an_unknown_start_are_said_so() -> None:
    reply = await about_layer(source_label=None, started=False).handle(request("/about", now=NOW))
    text = render_text(reply)
    assert f"live market data from {EXCHANGE}" in text
    assert "Running for: unknown" in text


async def test_about_on_the_console(tmp_path: Path) -> None:
    console = ConsoleAdapter(about_layer(), FakeClock(NOW), chart_dir=tmp_path)
    says_it_all(await console.handle_line("/about") or "", SOURCE)
    assert "/about" in (await console.handle_line("/help") or "")


def test_dps_about_is_a_query_subcommand() -> None:
    assert build_parser().parse_args(["about"]).command == "about"


@pytest.fixture
async def telegram(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTelegram]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with FakeTelegram() as fake:
        yield fake


async def test_about_on_telegram(telegram: FakeTelegram) -> None:
    adapter = TelegramAdapter(
        about_layer(),
        FakeClock(NOW),
        token=telegram.token,
        base_url=telegram.base_url,
        rate_limiter=broadcast_limiter(max_retries=0),
        poll_timeout=1,
    )
    await adapter.start()
    try:
        assert "about" in [c["command"] for c in telegram.commands]
        telegram.push_message(1001, "/about")
        (sent,) = await telegram.wait_for_sent(1, chat_id=1001)
        says_it_all(sent.text, SOURCE)
    finally:
        await adapter.stop()


@pytest.fixture
async def discord_fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.patch(monkeypatch)
        yield server


async def test_about_on_discord(discord_fake: FakeDiscord) -> None:
    bot = DiscordAdapter(about_layer(), FakeClock(NOW), token=TOKEN, guild_ready_timeout=0.05)
    await bot.start()
    try:
        (synced,) = discord_fake.syncs
        assert "about" in {c["name"] for c in synced}
        interaction = await discord_fake.push_interaction("about")
        (answer,) = await discord_fake.answers(interaction)
        text = "\n".join((e.get("title") or "") + (e.get("description") or "") for e in answer.embeds)
        says_it_all(text, SOURCE)
    finally:
        await bot.stop()
