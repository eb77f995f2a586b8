"""The Discord adapter with the real discord.py against a fake Discord on 127.0.0.1.

Every slash command goes through a real ``INTERACTION_CREATE`` on the fake gateway and
is answered over the fake REST API; alerts go out through ``send``. The command layer
and its stores are real (in memory).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import bot.chat.discord_interactions as interactions
from bot.app.command_limits import RateLimit
from bot.app.command_registry import CommandRegistry
from bot.app.command_set import COMMAND_SET
from bot.app.commands import APOLOGY, COMMANDS, CommandLayer, CommandRequest
from bot.app.views import Reply
from bot.bootstrap import state_store, sync_discord_commands
from bot.chat.discord_adapter import DiscordAdapter
from bot.cli import build_parser, cmd_discord_sync
from bot.config import load_settings
from bot.core.document import (
    ChartRef,
    Column,
    ColumnKind,
    Document,
    Footnote,
    Heading,
    Paragraph,
    Table,
    Tone,
)
from bot.core.models import Band
from bot.core.records import ChatKey, ChatKind, Platform
from bot.core.send_outcome import ChatGone, Rejected, RetryAfter, Sent, Transient
from bot.errors import ChatPlatformError, StorageError
from bot.render.discord_embeds import BAND_COLOURS, ERROR_COLOUR
from bot.storage.facade import open_storage
from tests.fakes.clock import FakeClock
from tests.fakes.discord_api import (
    APP_ID,
    AUTOCOMPLETE,
    CHANNEL_ID,
    GUILD_ID,
    NO_PERMISSIONS,
    TOKEN,
    FakeDiscord,
    Posted,
)
from tests.fakes.scored_market import (
    ADMIN_ID,
    EXCHANGE,
    FAKE_PNG,
    LATEST,
    SYMBOLS,
    ChartSpy,
    chat_state,
    make_layer,
    populate,
)
from tests.fakes.state import FakeStateStore
from tests.fakes.storage import FakeStorage
from tests.fakes.track_history import stored_history
from tests.fakes.venue_market import three_venues, venue_layer
from tests.waiting import wait_for

NOW = LATEST + timedelta(minutes=2)
HERE = ChatKey(Platform.DISCORD, str(CHANNEL_ID))
SETTINGS_COMMANDS = {"watch", "unwatch", "alerts", "digest"}
NO_PINGS: dict[str, list[str]] = {"parse": []}
UNESCAPED_MARKUP = re.compile(r"(?<!\\)(<@|\]\(|```)")


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.patch(monkeypatch)
        yield server


@pytest.fixture
def storage() -> FakeStorage:
    return populate(FakeStorage())


@pytest.fixture
def layer(storage: FakeStorage) -> CommandLayer:
    return make_layer(storage, chart=ChartSpy(), rate_limit=RateLimit(burst=1000))


@pytest.fixture
async def adapter(fake: FakeDiscord, layer: CommandLayer) -> AsyncIterator[DiscordAdapter]:
    bot = DiscordAdapter(layer, FakeClock(NOW), token=TOKEN, guild_ready_timeout=0.05)
    await bot.start()
    yield bot
    await bot.stop()


async def ask(fake: FakeDiscord, name: str, options: dict[str, Any] | None = None, **kw: Any) -> Posted:
    """Run one slash command and return its single answer."""
    interaction = await fake.push_interaction(name, options, **kw)
    (answer,) = await fake.answers(interaction)
    return answer


def descriptions(posted: Posted) -> str:
    return "\n".join(e.get("description") or "" for e in posted.embeds)


# --- start-up ------------------------------------------------------------------------


async def test_start_syncs_the_whole_command_set_with_permissions_and_choices(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    (synced,) = fake.syncs
    commands = {c["name"]: c for c in synced}
    assert set(commands) == set(COMMANDS)
    for name, command in commands.items():
        permissions = command["default_member_permissions"]
        if name in SETTINGS_COMMANDS:
            assert str(permissions) == "32", name  # Manage Server
        else:
            assert permissions is None, name
        assert 1 <= len(command["description"]) <= 100
    options = {o["name"]: o for o in commands["top"]["options"]}
    assert [c["value"] for c in options["filter"]["choices"]] == ["long", "short", "squeeze"]
    assert (options["n"]["min_value"], options["n"]["max_value"]) == (1, 50)
    assert commands["score"]["options"][0]["autocomplete"] is True
    assert {o["name"] for o in commands["alerts"]["options"]} == {"action", "settings"}
    assert [c["value"] for c in commands["chart"]["options"][1]["choices"]] == ["24h", "7d"]


async def test_a_rejected_token_is_a_chat_platform_error_without_the_token(
    fake: FakeDiscord, layer: CommandLayer
) -> None:
    # The same class as Telegram's refused token: one ``except`` serves both platforms.
    bot = DiscordAdapter(layer, FakeClock(NOW), token="wrong-secret-token", guild_ready_timeout=0.05)  # noqa: S106
    with pytest.raises(ChatPlatformError, match="Discord refused DISCORD_BOT_TOKEN") as caught:
        await bot.start()
    assert "wrong-secret-token" not in str(caught.value)
    assert "wrong-secret-token" not in repr(bot)
    assert not fake.syncs
    await bot.stop()  # idempotent after a failed start
    assert await bot.send(HERE, Document("hello")) == Transient("the Discord client is not running")


async def test_stop_is_idempotent_and_sending_afterwards_is_transient(adapter: DiscordAdapter) -> None:
    await adapter.stop()
    await adapter.stop()
    assert isinstance(await adapter.send(HERE, Document("hello")), Transient)


# --- every command through a real INTERACTION_CREATE ---------------------------------


async def test_score_answers_with_a_card_coloured_by_its_band(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    answer = await ask(fake, "score", {"symbol": "btc"})
    assert answer.type == 4 and not answer.ephemeral
    assert answer.allowed_mentions == NO_PINGS
    (embed,) = answer.embeds
    assert embed["title"] == "BTCUSDT · score 29 (lean) · LONG"
    assert embed["color"] == BAND_COLOURS[Band.LEAN]
    assert "**Funding:**" in embed["description"] and "synthetic demo market" in embed["description"]


async def test_top_with_n_and_filter_is_a_code_block_table(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    answer = await ask(fake, "top", {"n": 3, "filter": "short"})
    (embed,) = answer.embeds
    assert embed["title"].startswith("Derivatives Pressure Score · Top 3")
    table = embed["description"].split("```")[1].strip("\n").split("\n")
    assert table[0].split()[:3] == ["#", "Symbol", "Score"]
    assert len(table) == 4  # header and three rows, all short bias
    assert all("SHORT" in row for row in table[1:])
    assert embed["color"] == BAND_COLOURS[Band.STRESSED]  # the top row is stressed


async def test_top_without_options_shows_ten_rows_of_everything(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    answer = await ask(fake, "top")
    rows = descriptions(answer).split("```")[1].strip("\n").split("\n")[1:]
    assert len(rows) == len(SYMBOLS)


async def test_track_is_a_per_band_code_block_for_the_market_or_one_symbol(
    fake: FakeDiscord, adapter: DiscordAdapter, storage: FakeStorage
) -> None:
    stored_history(storage, "SUIUSDT", 40)
    stored_history(storage, "ARBUSDT", 45)
    (synced,) = fake.syncs
    (option,) = next(c for c in synced if c["name"] == "track")["options"]
    assert (option["name"], option["required"], option["autocomplete"]) == ("symbol", False, True)
    answer = await ask(fake, "track", {"symbol": "sui"})
    assert not answer.ephemeral
    (embed,) = answer.embeds
    assert embed["title"] == "Track record · SUIUSDT"
    table = embed["description"].split("```")[1].strip("\n").split("\n")
    assert table[0].split() == ["Band", "Readings", "Known", "24h", "move", "vs", "neutral"]
    rows = {row.split()[0]: row.split()[1:] for row in table[1:]}
    assert rows["stressed"] == ["40", "40", "6.0", "%", "3.00×"]
    assert rows["neutral"] == ["104", "79", "2.0", "%", "1.00×"]
    assert rows["lean"] == ["0", "0", "not", "enough", "history", "yet"]
    market = await ask(fake, "track")
    assert market.embeds[0]["title"] == "Track record · whole market (binanceusdm)"
    table = descriptions(market).split("```")[1].strip("\n").split("\n")
    rows = {row.split()[0]: row.split()[1:] for row in table[1:]}
    assert rows["stressed"] == ["85", "80", "6.0", "%", "3.00×"]


async def test_a_member_without_manage_server_cannot_watch_and_nothing_is_stored(
    fake: FakeDiscord, adapter: DiscordAdapter, storage: FakeStorage
) -> None:
    before = chat_state(storage)
    answer = await ask(fake, "watch", {"symbols": "btc"}, permissions=NO_PERMISSIONS)
    assert answer.ephemeral
    assert "only this chat's admins" in answer.text()
    assert answer.embeds[0]["color"] == ERROR_COLOUR
    assert chat_state(storage) == before
    shown = await ask(fake, "alerts", permissions=NO_PERMISSIONS)  # showing needs no rights
    assert not shown.ephemeral and "Settings for this chat" in shown.text()


async def test_an_operator_in_admin_ids_may_change_settings_without_manage_server(
    fake: FakeDiscord, adapter: DiscordAdapter, storage: FakeStorage
) -> None:
    answer = await ask(fake, "watch", {"symbols": "btc"}, user_id=int(ADMIN_ID), permissions=NO_PERMISSIONS)
    assert not answer.ephemeral
    chat = storage.chats.get_chat(HERE)
    assert chat is not None and [e.symbol for e in storage.chats.watchlist(chat.ref)] == ["BTCUSDT"]


async def test_a_server_manager_watches_lists_and_unwatches(
    fake: FakeDiscord, adapter: DiscordAdapter, storage: FakeStorage
) -> None:
    answer = await ask(fake, "watch", {"symbols": "btc eth"})
    assert not answer.ephemeral and "Added: BTCUSDT, ETHUSDT" in answer.text()
    chat = storage.chats.get_chat(HERE)
    assert chat is not None and chat.kind is ChatKind.GROUP
    assert [e.symbol for e in storage.chats.watchlist(chat.ref)] == ["BTCUSDT", "ETHUSDT"]
    listed = await ask(fake, "watchlist", permissions=NO_PERMISSIONS)
    assert "BTCUSDT — 29 lean" in listed.text()
    removed = await ask(fake, "unwatch", {"symbols": "eth"})
    assert "Removed: ETHUSDT" in removed.text()
    assert [e.symbol for e in storage.chats.watchlist(chat.ref)] == ["BTCUSDT"]


async def test_alerts_and_digest_options_become_the_typed_arguments(
    fake: FakeDiscord, adapter: DiscordAdapter, storage: FakeStorage
) -> None:
    answer = await ask(fake, "alerts", {"action": "min", "settings": "stressed"})
    assert "Saved. Alerts now start at the stressed band." in answer.text()
    await ask(fake, "alerts", {"settings": "quiet 22:00-07:00"})
    digest = await ask(fake, "digest", {"switch": "on", "settings": "08:30 europe/berlin"})
    assert "every day at 08:30 Europe/Berlin" in digest.text()
    chat = storage.chats.get_chat(HERE)
    assert chat is not None and chat.timezone == "Europe/Berlin"
    settings = storage.chats.get_settings(chat.ref)
    assert settings.min_band is Band.STRESSED
    assert settings.digest_enabled and f"{settings.digest_time:%H:%M}" == "08:30"
    assert settings.quiet_start is not None


async def test_chart_is_deferred_then_sent_as_a_png_file(fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    interaction = await fake.push_interaction("chart", {"symbol": "eth", "window": "7d"})
    deferred, shown = await fake.responses(interaction, 2)
    assert deferred.kind == "callback" and deferred.type == 5
    assert shown.kind == "edit"
    ((filename, data),) = shown.files
    assert (filename, data) == ("dps-ETHUSDT-7d.png", FAKE_PNG)
    (embed,) = shown.embeds
    assert embed["image"]["url"] == "attachment://dps-ETHUSDT-7d.png"
    assert embed["title"].startswith("ETHUSDT · Derivatives Pressure Score, last 7d")
    assert shown.allowed_mentions == NO_PINGS


async def test_status_help_and_start(
    fake: FakeDiscord, adapter: DiscordAdapter, storage: FakeStorage
) -> None:
    status = await ask(fake, "status")
    assert status.embeds[0]["title"] == "Status" and "**Exchange:** binanceusdm" in status.text()
    assert status.embeds[0]["color"] == BAND_COLOURS[Band.NEUTRAL]  # fresh data
    helped = await ask(fake, "help")
    assert "**Commands**" in helped.text() and "/score SYMBOL" in helped.text()
    assert storage.chats.get_chat(HERE) is None
    started = await ask(fake, "start")
    assert started.embeds[0]["title"].startswith("Welcome")
    assert storage.chats.get_chat(HERE) is not None  # a server manager signed the channel up


async def test_a_dm_is_a_private_chat_whose_user_may_change_settings(
    fake: FakeDiscord, adapter: DiscordAdapter, storage: FakeStorage
) -> None:
    dm = 441_000_000_000_000_001
    answer = await ask(
        fake, "watch", {"symbols": "btc"}, guild_id=None, channel_id=dm, permissions=NO_PERMISSIONS
    )
    assert not answer.ephemeral
    chat = storage.chats.get_chat(ChatKey(Platform.DISCORD, str(dm)))
    assert chat is not None and chat.kind is ChatKind.PRIVATE


async def test_settings_made_in_a_thread_belong_to_that_thread(
    fake: FakeDiscord, adapter: DiscordAdapter, storage: FakeStorage
) -> None:
    thread = 331_000_000_000_000_001
    await ask(fake, "alerts", {"action": "on"}, channel_id=thread, thread_parent_id=CHANNEL_ID)
    key = ChatKey(Platform.DISCORD, str(CHANNEL_ID), str(thread))
    assert storage.chats.get_chat(key) is not None
    assert await adapter.send(key, ALERT) == Sent()
    assert fake.channel_messages_now(thread)


async def test_a_long_reply_continues_in_follow_up_messages(
    fake: FakeDiscord, adapter: DiscordAdapter, storage: FakeStorage
) -> None:
    symbols = tuple(f"COIN{k:03d}USDT" for k in range(100))
    populate(storage, symbols=symbols, history=timedelta(0))
    chat = storage.chats.ensure_chat(HERE, kind=ChatKind.GROUP, now=NOW)
    storage.chats.watch(chat.ref, EXCHANGE, symbols, NOW)
    interaction = await fake.push_interaction("watchlist")
    first, *more = await fake.answers(interaction, 2)
    assert first.kind == "callback" and more and all(m.kind == "followup" for m in more)
    for message in (first, *more):
        assert len(message.embeds) <= 10
        assert (
            sum(len(e.get("title") or "") + len(e.get("description") or "") for e in message.embeds) <= 6000
        )
    assert sum(m.text().count("USDT —") for m in (first, *more)) == 100


# --- autocomplete --------------------------------------------------------------------


async def test_symbol_autocomplete_offers_matching_symbols(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    answer = await ask(fake, "score", {"symbol": "b"}, itype=AUTOCOMPLETE, focused="symbol")
    assert answer.type == 8
    assert [c["value"] for c in answer.choices] == ["BTCUSDT"]
    everything = await ask(fake, "chart", {"symbol": ""}, itype=AUTOCOMPLETE, focused="symbol")
    assert 1 <= len(everything.choices) <= 25
    assert {c["value"] for c in everything.choices} == set(SYMBOLS)


async def test_watch_autocomplete_completes_the_last_symbol(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    answer = await ask(fake, "watch", {"symbols": "eth sh"}, itype=AUTOCOMPLETE, focused="symbols")
    assert [c["value"] for c in answer.choices] == ["eth 1000SHIBUSDT"]
    hostile = await ask(fake, "watch", {"symbols": "x" * 10_000}, itype=AUTOCOMPLETE, focused="symbols")
    assert hostile.type == 8 and hostile.choices == []


# --- slow commands, failures and refusals --------------------------------------------


async def test_a_slow_reply_is_deferred_and_a_slow_refusal_stays_private(
    fake: FakeDiscord, adapter: DiscordAdapter, layer: CommandLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(interactions, "ANSWER_WITHIN", 0.05)
    handle = layer.handle

    def deferrals() -> int:
        return sum(1 for p in fake.requests if p.kind == "callback" and p.type == 5 and p.status < 300)

    async def slow(request: CommandRequest) -> Reply:
        # Slow until the adapter has deferred: the answer must then replace the "thinking…".
        seen = deferrals()
        await wait_for(lambda: deferrals() > seen, "the adapter's deferral")
        return await handle(request)

    monkeypatch.setattr(layer, "handle", slow)
    interaction = await fake.push_interaction("score", {"symbol": "eth"})
    deferred, shown = await fake.responses(interaction, 2)
    assert deferred.type == 5 and shown.kind == "edit" and "ETHUSDT" in shown.text()
    interaction = await fake.push_interaction("score", {"symbol": "nosuchcoin"})
    deferred, deleted, private = await fake.responses(interaction, 3)
    assert (deferred.type, deleted.kind, private.kind) == (5, "delete", "followup")
    assert private.ephemeral and "nosuchcoin" in private.text().lower()


async def test_a_failure_in_the_adapter_still_answers_with_an_apology(
    fake: FakeDiscord, adapter: DiscordAdapter, layer: CommandLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(request: CommandRequest) -> Reply:
        raise RuntimeError("boom")

    monkeypatch.setattr(layer, "handle", broken)
    answer = await ask(fake, "status")
    assert answer.ephemeral and APOLOGY in answer.text()


async def test_an_unknown_command_gets_a_polite_private_answer(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    answer = await ask(fake, "sudo")
    assert answer.ephemeral and "/help" in answer.text()


async def test_the_rate_limit_refusal_is_ephemeral(fake: FakeDiscord, storage: FakeStorage) -> None:
    layer = make_layer(storage, rate_limit=RateLimit(burst=1))
    bot = DiscordAdapter(layer, FakeClock(NOW), token=TOKEN, sync_commands=False, guild_ready_timeout=0.05)
    await bot.start()
    try:
        assert not fake.syncs
        assert not (await ask(fake, "help")).ephemeral
        refused = await ask(fake, "help")
        assert refused.ephemeral and "Slow down" in refused.text()
    finally:
        await bot.stop()


HOSTILE: list[tuple[str, dict[str, Any], str]] = [
    ("watch", {"symbols": "x" * 10_000}, "too much text"),
    ("watch", {"symbols": "@everyone"}, "everyone"),
    ("watch", {"symbols": "<@&123456789012345678> @here"}, "don't know"),
    ("watch", {"symbols": "```\n@everyone **bold** [x](https://evil.example)"}, "don't know"),
    ("watch", {"symbols": "btc\u202eusdt"}, "plain printable text"),
    ("watch", {"symbols": "БТЦ🚀 ₿"}, "don't know"),
    ("top", {"n": -5}, "understand"),
    ("top", {"n": 10**30, "filter": "@everyone"}, "understand"),
    ("alerts", {"action": "quiet", "settings": "25:99-xx"}, "not a time"),
    ("alerts", {"action": "min", "settings": "`@here`"}, "minimum band"),
    ("digest", {"switch": "on", "settings": "Mars/Olympus_Mons"}, "not an IANA timezone"),
    ("unwatch", {"symbols": "all all all " * 100}, "too much text"),
    ("chart", {"symbol": "btc", "window": "1y@everyone"}, "24h or 7d"),
]


@pytest.mark.parametrize(
    ("command", "options", "said"), HOSTILE, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(HOSTILE)]
)
async def test_hostile_input_gets_a_clear_private_reply_and_stores_nothing(
    fake: FakeDiscord,
    adapter: DiscordAdapter,
    storage: FakeStorage,
    command: str,
    options: dict[str, Any],
    said: str,
) -> None:
    before = chat_state(storage)
    interaction = await fake.push_interaction(command, options)
    answers = await fake.answers(interaction)
    answer = answers[-1]
    assert answer.ephemeral
    assert said.lower() in answer.text().lower()
    assert answer.allowed_mentions == NO_PINGS
    text = answer.text()
    assert "@everyone" not in text and "@here" not in text  # shown, but defused
    assert not UNESCAPED_MARKUP.search(text)  # no live mention, masked link or code fence
    assert len(text) < 2000
    assert chat_state(storage) == before


# --- alerts and digests through send ---------------------------------------------------

ALERT = Document(
    "Derivatives Pressure alerts",
    (
        Heading("BTCUSDT lean → stretched · score 40 (was 30) · LONG"),
        Paragraph("Long crowded · high funding", indent=True),
        Paragraph("OI 24h +8.0% → +21.3%", indent=True),
        Paragraph("data 2025-01-06 12:00 UTC", indent=True),
        Footnote("@everyone <@123456789012345678> ||spoiler|| `code`"),
    ),
    tone=Tone.STRETCHED,
    source_label="synthetic demo market (replay)",
)
DIGEST = Document(
    "Daily Derivatives Pressure digest · Mon 06 Jan 2025",
    (
        Paragraph("Avg stress 40 · Long bias 2 · Short bias 4 · Neutral 2"),
        Heading("Top stress"),
        Table(
            (Column("Symbol"), Column("Score", ColumnKind.NUMBER), Column("Bias"), Column("Regime")),
            (("ARBUSDT", "100", "SHORT", "Short squeeze risk"), ("SPKUSDT", "100", "SHORT", "Short ramp")),
        ),
        ChartRef("digest.png", "Top names by score"),
        Footnote("data 2025-01-06 12:00 UTC"),
    ),
)


async def test_an_alert_is_posted_to_the_channel_without_pinging_anyone(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    assert await adapter.send(HERE, ALERT) == Sent()
    (posted,) = await fake.channel_messages(CHANNEL_ID)
    assert posted.allowed_mentions == NO_PINGS
    (embed,) = posted.embeds
    assert embed["title"] == "Derivatives Pressure alerts"
    assert embed["color"] == BAND_COLOURS[Band.STRETCHED]
    assert embed["description"].startswith("Source: synthetic demo market (replay)\n")
    assert "**BTCUSDT lean → stretched · score 40 (was 30) · LONG**" in embed["description"]
    assert "@\u200beveryone" in embed["description"] and "\\<@123456789012345678\\>" in embed["description"]
    assert "\\|\\|spoiler\\|\\|" in embed["description"]


async def test_a_digest_carries_its_chart_as_an_attached_image(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    assert await adapter.send(HERE, DIGEST, FAKE_PNG) == Sent()
    (posted,) = await fake.channel_messages(CHANNEL_ID)
    assert posted.files == [("digest.png", FAKE_PNG)]
    (embed,) = posted.embeds
    assert embed["image"]["url"] == "attachment://digest.png"
    assert (
        "```\nSymbol   Score  Bias   Regime\nARBUSDT    100  SHORT  Short squeeze risk\nSPKUSDT"
        in embed["description"]
    )
    assert "**Top stress**" in embed["description"]


async def test_a_429_with_via_is_waited_out_by_discord_py_and_sent(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    route = ("POST", f"/channels/{CHANNEL_ID}/messages")
    fake.rate_limit_next(route, 0.3)
    started = time.monotonic()
    assert await adapter.send(HERE, ALERT) == Sent()
    assert time.monotonic() - started >= 0.3
    assert [c.status for c in fake.calls(*route)] == [429, 200]
    assert len(fake.channel_messages_now(CHANNEL_ID)) == 1


async def test_a_deleted_channel_or_a_missing_permission_is_chat_gone(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    gone, forbidden = 221_000_000_000_000_001, 221_000_000_000_000_002
    fake.missing_channels.add(gone)
    fake.forbidden_channels.add(forbidden)
    deleted = await adapter.send(ChatKey(Platform.DISCORD, str(gone)), ALERT)
    assert isinstance(deleted, ChatGone) and "10003" in deleted.error and "Unknown Channel" in deleted.error
    refused = await adapter.send(ChatKey(Platform.DISCORD, str(forbidden)), ALERT, FAKE_PNG)
    assert isinstance(refused, ChatGone) and "403" in refused.error


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (400, {"message": "Invalid Form Body", "code": 50035}, {}, Rejected),
        (503, {"message": "Service Unavailable", "code": 0}, {}, Transient),
        (429, {"message": "Banned", "retry_after": 5}, {"Retry-After": "7"}, RetryAfter),  # no Via
        (429, {"message": "Slow", "retry_after": 45.0, "global": False}, {"Via": "1.1 google"}, RetryAfter),
    ],
    ids=["400-rejected", "503-transient", "429-without-via", "429-longer-than-30s"],
)
async def test_other_failures_map_to_outcomes(
    fake: FakeDiscord,
    adapter: DiscordAdapter,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    expected: type,
) -> None:
    fake.fail_next(("POST", f"/channels/{CHANNEL_ID}/messages"), status, body, headers)
    outcome = await adapter.send(HERE, ALERT)
    assert isinstance(outcome, expected), outcome
    if isinstance(outcome, RetryAfter):
        assert outcome.seconds == (7.0 if "Via" not in headers else 45.0)


async def test_a_key_that_is_no_channel_id_is_rejected(adapter: DiscordAdapter) -> None:
    outcome = await adapter.send(replace(HERE, chat_id="general"), ALERT)
    assert isinstance(outcome, Rejected)


async def test_the_guild_stays_unknown_to_the_bot_yet_commands_work(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    # READY lists no servers: interactions from an unknown server must still work.
    answer = await ask(fake, "status", guild_id=GUILD_ID + 1)
    assert not answer.ephemeral


# --- the gateway asks the bot to reconnect or to start a new session ---------------------


@pytest.mark.slow  # discord.py waits 5 s before identifying anew
async def test_after_reconnect_and_an_invalid_session_the_bot_keeps_answering(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    assert "**Commands**" in (await ask(fake, "help")).text()
    await fake.send_reconnect()  # op 7: discord.py reconnects and resumes the session
    assert "**Commands**" in (await ask(fake, "help")).text()
    assert (fake.identifies, fake.resumes) == (1, 1)
    await fake.invalidate_session()  # op 9: the session is gone, discord.py identifies anew
    interaction = await fake.push_interaction("status")  # waits for the new session
    (answer,) = await fake.answers(interaction)
    assert answer.embeds[0]["title"] == "Status"
    assert (fake.identifies, fake.resumes) == (2, 1)
    assert await adapter.send(HERE, ALERT) == Sent()


# --- Discord's 3 s -----------------------------------------------------------------------


async def test_an_interaction_that_expired_before_the_answer_is_let_go_and_the_next_is_answered(
    fake: FakeDiscord,
    adapter: DiscordAdapter,
    layer: CommandLayer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    handle = layer.handle

    async def past_discords_window(request: CommandRequest) -> Reply:
        fake.advance(3.5)  # on Discord's clock the 3 s pass before the answer is ready
        return await handle(request)

    monkeypatch.setattr(layer, "handle", past_discords_window)
    expired = await fake.push_interaction("status")
    await wait_for(lambda: "not answered within its 3 s" in caplog.text, "the expiry warning")
    callbacks = fake.calls("POST", f"/interactions/{expired}/")
    assert [(c.status, c.body["type"]) for c in callbacks] == [(404, 4)]  # no apology sent into the void
    assert "Traceback" not in caplog.text
    monkeypatch.setattr(layer, "handle", handle)
    answer = await ask(fake, "status")
    assert answer.embeds[0]["title"] == "Status"


# --- slash commands are synced only when they changed ---------------------------------------


async def start_and_stop(layer: CommandLayer, state: FakeStateStore) -> None:
    bot = DiscordAdapter(layer, FakeClock(NOW), token=TOKEN, guild_ready_timeout=0.05, command_state=state)
    await bot.start()
    await bot.stop()


async def test_a_restart_with_the_same_commands_does_not_sync_again(
    fake: FakeDiscord, layer: CommandLayer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    state = FakeStateStore()
    await start_and_stop(layer, state)
    assert len(fake.syncs) == 1 and state.puts == 1
    assert list(state.values) == [f"discord:commands:{APP_ID}"]  # per application: a new bot syncs
    await start_and_stop(layer, state)
    await start_and_stop(layer, state)
    assert len(fake.syncs) == 1  # Discord saw one sync for three starts
    assert len(fake.calls("PUT", "/applications/")) == 1  # not even a refused attempt
    assert "Discord slash commands unchanged since the last sync: not synced" in caplog.text


async def test_a_changed_command_set_is_synced_at_the_next_start(
    fake: FakeDiscord, layer: CommandLayer, storage: FakeStorage
) -> None:
    state = FakeStateStore()
    await start_and_stop(layer, state)
    reworded = CommandRegistry(replace(c, summary=f"New words for /{c.name}") for c in COMMAND_SET)
    changed = make_layer(storage, registry=reworded)
    await start_and_stop(changed, state)
    first, second = fake.syncs
    assert {c["description"] for c in second} != {c["description"] for c in first}
    assert {c["description"] for c in second} == {f"New words for /{name}" for name in COMMANDS}
    await start_and_stop(changed, state)
    assert len(fake.syncs) == 2  # and the new set is remembered


async def test_a_refused_sync_is_not_remembered_and_is_tried_again(
    fake: FakeDiscord, layer: CommandLayer
) -> None:
    state = FakeStateStore()
    fake.fail_next(
        ("PUT", "/applications/"), 400, {"message": "Invalid Form Body", "code": 50035, "errors": {}}
    )
    await start_and_stop(layer, state)  # Discord keeps its old commands; the bot still starts
    assert fake.syncs == [] and state.puts == 0
    await start_and_stop(layer, state)
    assert len(fake.syncs) == 1


class BrokenState:
    """A state store whose database fails."""

    def get(self, name: str) -> str | None:
        raise StorageError("cannot read a state value: database is locked")

    def put(self, name: str, value: str, now: object) -> None:
        raise StorageError("cannot store a state value: database is locked")


async def test_a_failing_state_store_never_stops_the_bot_it_syncs_instead(
    fake: FakeDiscord, layer: CommandLayer, caplog: pytest.LogCaptureFixture
) -> None:
    bot = DiscordAdapter(
        layer, FakeClock(NOW), token=TOKEN, guild_ready_timeout=0.05, command_state=BrokenState()
    )
    await bot.start()
    try:
        assert len(fake.syncs) == 1
        assert "could not read the synced Discord commands' hash (syncing)" in caplog.text
        assert "could not record the synced Discord commands (next start syncs again)" in caplog.text
        assert "**Commands**" in (await ask(fake, "help")).text()
    finally:
        await bot.stop()


async def test_dps_discord_sync_syncs_unchanged_commands_and_records_them(
    fake: FakeDiscord, layer: CommandLayer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'dps.sqlite3'}"
    settings = load_settings(database_url=url, exchange_api_url="http://127.0.0.1:9", discord_bot_token=TOKEN)
    assert build_parser().parse_args(["discord", "sync"]).handler is cmd_discord_sync
    assert await sync_discord_commands(settings) == len(COMMANDS)
    assert await sync_discord_commands(settings) == len(COMMANDS)  # forced: unchanged or not
    assert len(fake.syncs) == 2
    storage = open_storage(url)
    try:  # the process that starts next finds the set recorded and does not sync
        bot = DiscordAdapter(
            layer, FakeClock(NOW), token=TOKEN, guild_ready_timeout=0.05, command_state=state_store(storage)
        )
        await bot.start()
        await bot.stop()
    finally:
        storage.close()
    assert len(fake.syncs) == 2


async def test_dps_discord_sync_with_a_refused_token_says_so(fake: FakeDiscord, tmp_path: Path) -> None:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'dps.sqlite3'}",
        exchange_api_url="http://127.0.0.1:9",
        discord_bot_token="not-the-token",  # noqa: S106
    )
    with pytest.raises(ChatPlatformError, match="Discord refused DISCORD_BOT_TOKEN"):
        await sync_discord_commands(settings)
    assert fake.syncs == []


# --- several venues ------------------------------------------------------------------------


async def test_with_three_venues_alerts_and_score_offer_the_configured_venues(fake: FakeDiscord) -> None:
    storage = three_venues(FakeStorage())
    bot = DiscordAdapter(
        venue_layer(storage, rate_limit=RateLimit(burst=1000)),
        FakeClock(NOW),
        token=TOKEN,
        guild_ready_timeout=0.05,
    )
    await bot.start()
    try:
        (synced,) = fake.syncs
        commands = {c["name"]: c for c in synced}
        alerts = {o["name"]: o for o in commands["alerts"]["options"]}
        assert "venues" in [c["value"] for c in alerts["action"]["choices"]]
        assert [c["value"] for c in alerts["venue"]["choices"]] == ["all", "binanceusdm", "bybit", "okx"]
        score = {o["name"]: o for o in commands["score"]["options"]}
        assert [c["value"] for c in score["venue"]["choices"]] == ["all", "binanceusdm", "bybit", "okx"]

        chosen = await ask(fake, "alerts", {"action": "venues", "settings": "okx", "venue": "bybit"})
        assert "Saved. Alerts and the daily digest follow Bybit and OKX" in chosen.text()
        chat = storage.chats.get_chat(HERE)
        assert chat is not None and storage.chats.get_settings(chat.ref).alert_venues == {"bybit", "okx"}
        card = await ask(fake, "score", {"symbol": "btc", "venue": "okx"})
        assert "BTC-USDT-SWAP" in card.embeds[0]["title"]
    finally:
        await bot.stop()
