"""One registry drives every surface: a command added to it shows up everywhere, unwired.

A throwaway ``/ping`` (one typed option with choices) is added to a registry instance; the
Telegram menu (sent to the fake Bot API), the Discord command tree, the console's ``/help``
and the ``dps`` parser all offer it, and it answers through the same command layer.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import discord
import pytest
from discord import app_commands

from bot.app.command_limits import RateLimit
from bot.app.command_registry import (
    Access,
    Choice,
    Command,
    CommandContext,
    CommandRequest,
    Option,
    OptionKind,
)
from bot.app.command_set import COMMAND_SET, command_set_for
from bot.app.commands import CommandLayer
from bot.app.views import Reply, TextReply, TextSection
from bot.chat.console_adapter import ConsoleAdapter
from bot.chat.discord_interactions import SlashCommands
from bot.chat.telegram_adapter import TelegramAdapter, broadcast_limiter
from bot.cli import build_parser, cmd_query
from tests.fakes.clock import FakeClock
from tests.fakes.scored_market import LATEST, make_layer, populate
from tests.fakes.storage import FakeStorage
from tests.fakes.telegram_api import FakeTelegram

NOW = LATEST + timedelta(minutes=2)
README = Path(__file__).resolve().parents[2] / "README.md"


async def ping(ctx: CommandContext, request: CommandRequest, args: str) -> Reply:
    """Answer with the arguments it got, so a test sees they came through."""
    return TextReply(title="Pong", sections=(TextSection(None, (f"pong {args or '-'}",)),))


PING = Command(
    "ping",
    "answer pong (a throwaway command of this test)",
    "/ping [loud|quiet] [N]",
    ping,
    (
        Option("volume", "How loud", choices=(Choice("loud", "loud"), Choice("quiet", "quiet"))),
        Option("times", "How often", OptionKind.INTEGER, minimum=1, maximum=3),
    ),
    access=Access.ADMIN_WITH_ARGS,
    cli=True,
)
REGISTRY = COMMAND_SET.with_command(PING)


@pytest.fixture
def layer() -> CommandLayer:
    return make_layer(populate(FakeStorage()), registry=REGISTRY, rate_limit=RateLimit(10_000))


@pytest.fixture
async def telegram(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTelegram]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with FakeTelegram() as fake:
        yield fake


async def test_the_telegram_menu_lists_the_added_command_and_it_answers(
    telegram: FakeTelegram, layer: CommandLayer
) -> None:
    adapter = TelegramAdapter(
        layer,
        FakeClock(NOW),
        token=telegram.token,
        base_url=telegram.base_url,
        rate_limiter=broadcast_limiter(max_retries=0),
        poll_timeout=1,
    )
    await adapter.start()
    try:
        menu = {c["command"]: c["description"] for c in telegram.commands}
        assert list(menu) == [*COMMAND_SET.names(), "ping"]
        assert menu["ping"] == PING.summary
        telegram.push_message(1001, "/ping loud 2")
        (sent,) = await telegram.wait_for_sent(1, chat_id=1001)
        assert "pong loud 2" in sent.text
    finally:
        await adapter.stop()


def test_the_discord_tree_builds_the_added_command_with_its_typed_options(layer: CommandLayer) -> None:
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(
        discord.Client(intents=discord.Intents.none())
    )
    SlashCommands(layer, FakeClock(NOW)).install(tree)
    assert [c.name for c in tree.get_commands()] == [*COMMAND_SET.names(), "ping"]
    command = tree.get_command("ping")
    assert isinstance(command, app_commands.Command)
    payload = command.to_dict(tree)
    assert payload["description"] == "Answer pong (a throwaway command of this test)"
    assert str(payload["default_member_permissions"]) == "32"  # Manage Server: it changes things
    volume, times = payload["options"]
    assert (volume["name"], volume["required"]) == ("volume", False)
    assert [c["value"] for c in volume["choices"]] == ["loud", "quiet"]
    assert (times["name"], times["type"], times["min_value"], times["max_value"]) == ("times", 4, 1, 3)


async def test_console_help_lists_the_added_command_and_the_console_runs_it(
    layer: CommandLayer, tmp_path: Path
) -> None:
    console = ConsoleAdapter(layer, FakeClock(NOW), chart_dir=tmp_path)
    help_text = await console.handle_line("/help")
    assert help_text is not None and f"{PING.usage} — {PING.summary}" in help_text
    assert "pong quiet" in (await console.handle_line("/ping quiet") or "")


def test_the_dps_parser_offers_the_registry_queries() -> None:
    parser = build_parser(REGISTRY)
    args = parser.parse_args(["ping", "loud", "2"])
    assert (args.command, args.words, args.handler) == ("ping", ["loud", "2"], cmd_query)
    assert "answer pong" in parser.format_help()
    for command in COMMAND_SET:
        offered = True
        try:
            build_parser().parse_args([command.name])
        except SystemExit:
            offered = False
        assert offered is command.cli, command.name
    without = build_parser(COMMAND_SET)
    with pytest.raises(SystemExit):
        without.parse_args(["ping"])


def test_a_command_is_declared_once() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        REGISTRY.with_command(PING)
    with pytest.raises(ValueError, match="1-32"):
        Command("Bad-Name", "x", "/x", ping)


def test_every_command_is_in_the_readme_command_table() -> None:
    text = README.read_text(encoding="utf-8")
    table = text.split("## Chat commands", 1)[1].split("\n\n", 2)[1]
    listed = set(re.findall(r"`/([a-z0-9_]+)", "\n".join(row.split("|")[1] for row in table.splitlines())))
    assert set(COMMAND_SET.names()) <= listed


def test_with_several_venues_discord_offers_the_configured_venues_on_top_and_chart() -> None:
    layer = make_layer(populate(FakeStorage()), venues=("binanceusdm", "okx"))
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(
        discord.Client(intents=discord.Intents.none())
    )
    SlashCommands(layer, FakeClock(NOW)).install(tree)
    assert [c.name for c in tree.get_commands()] == list(COMMAND_SET.names())
    for name, options in (("top", ["n", "filter", "venue"]), ("chart", ["symbol", "window", "venue"])):
        command = tree.get_command(name)
        assert isinstance(command, app_commands.Command)
        payload = command.to_dict(tree)
        assert [o["name"] for o in payload["options"]] == options
        venue = payload["options"][-1]
        assert [(c["name"], c["value"]) for c in venue["choices"]] == [
            ("all venues", "all"),
            ("Binance", "binanceusdm"),
            ("OKX", "okx"),
        ]


def test_a_single_venue_bot_keeps_the_declared_commands() -> None:
    assert command_set_for(("binanceusdm",)) is COMMAND_SET
    assert make_layer(populate(FakeStorage())).registry is COMMAND_SET
    several = command_set_for(("binanceusdm", "bybit", "okx"))
    assert several.names() == COMMAND_SET.names()
    top, chart = several.get("top"), several.get("chart")
    assert top is not None and top.usage == "/top [N] [long|short|squeeze] [VENUE]"
    assert chart is not None and chart.usage == "/chart SYMBOL [VENUE] [24h|7d]"
    with pytest.raises(ValueError, match="no command to replace: nope"):
        COMMAND_SET.replacing(replace(top, name="nope"))
