"""Settings commands (/watch, /unwatch, /watchlist, /alerts, /digest) and who may use them.

The per-user rate limit is in ``test_command_limits.py``."""

from __future__ import annotations

import asyncio
import threading
from datetime import time, timedelta
from typing import Any

import pytest

from bot.app import chat_settings
from bot.app.arguments import MAX_SYMBOLS_PER_COMMAND
from bot.app.commands import CommandLayer
from bot.app.views import ErrorKind, ErrorReply, SettingsReply, TextReply
from bot.core.events import EventKind
from bot.core.models import Band
from bot.core.records import ChatKey, ChatKind, ChatSettings
from bot.render.text import render_text
from tests.fakes.scored_market import (
    ADMIN_ID,
    GROUP_CHAT,
    LATEST,
    PRIVATE_CHAT,
    SOURCE,
    ask,
    chat_state,
    error_of,
    make_layer,
    populate,
)
from tests.fakes.storage import FakeStorage
from tests.waiting import DEADLINE_S, behind_queued, wait_for

NOW = LATEST + timedelta(minutes=2)


@pytest.fixture
def storage() -> FakeStorage:
    return populate(FakeStorage())


@pytest.fixture
def layer(storage: FakeStorage) -> CommandLayer:
    return make_layer(storage)


def watched(storage: FakeStorage, key: ChatKey = PRIVATE_CHAT) -> list[str]:
    chat = storage.chats.get_chat(key)
    return [] if chat is None else [e.symbol for e in storage.chats.watchlist(chat.ref)]


def settings_of(storage: FakeStorage, key: ChatKey = PRIVATE_CHAT) -> ChatSettings:
    chat = storage.chats.get_chat(key)
    assert chat is not None
    return storage.chats.get_settings(chat.ref)


# --- watchlist -----------------------------------------------------------------------------


async def test_watch_resolves_each_symbol_and_stores_them(layer: CommandLayer, storage: FakeStorage) -> None:
    reply = await ask(layer, "/watch", "btc shib, BTC/USDT:USDT mog")
    assert isinstance(reply, TextReply)
    assert sorted(watched(storage)) == ["1000000MOGUSDT", "1000SHIBUSDT", "BTCUSDT"]
    text = render_text(reply)
    assert "Added: BTCUSDT, 1000SHIBUSDT, 1000000MOGUSDT." in text
    assert "/alerts watchlist on" in text
    assert SOURCE in text
    again = render_text(await ask(layer, "/watch", "btc"))
    assert "Nothing new" in again


async def test_watch_with_one_unknown_symbol_stores_nothing(
    layer: CommandLayer, storage: FakeStorage
) -> None:
    before = chat_state(storage)
    reply = error_of(await ask(layer, "/watch", "btc bct"), ErrorKind.UNKNOWN_SYMBOL)
    assert "Nothing was changed" in reply.message
    assert "BTCUSDT" in reply.suggestions
    assert chat_state(storage) == before
    assert storage.chats.chats == {}  # not even the chat was created


async def test_watch_refuses_too_many_symbols_at_once(layer: CommandLayer, storage: FakeStorage) -> None:
    args = " ".join(["btc", "eth"] * 5 + [f"S{i}" for i in range(MAX_SYMBOLS_PER_COMMAND)])
    reply = error_of(await ask(layer, "/watch", args), ErrorKind.BAD_INPUT)
    assert f"at most {MAX_SYMBOLS_PER_COMMAND}" in reply.message
    assert storage.chats.chats == {}


async def test_the_watchlist_has_a_cap(
    layer: CommandLayer, storage: FakeStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat_settings, "MAX_WATCHLIST", 2)
    await ask(layer, "/watch", "btc eth")
    reply = error_of(await ask(layer, "/watch", "spk"), ErrorKind.BAD_INPUT)
    assert "at most 2" in reply.message
    assert sorted(watched(storage)) == ["BTCUSDT", "ETHUSDT"]


@pytest.mark.parametrize("args", ["", "  ,  "])
async def test_watch_needs_symbols(layer: CommandLayer, args: str) -> None:
    assert "Usage: /watch" in error_of(await ask(layer, "/watch", args), ErrorKind.BAD_INPUT).message


async def test_unwatch_removes_and_refuses_what_is_not_watched(
    layer: CommandLayer, storage: FakeStorage
) -> None:
    await ask(layer, "/watch", "btc eth spk")
    reply = await ask(layer, "/unwatch", "BTC")
    assert isinstance(reply, TextReply)
    assert "Removed: BTCUSDT." in render_text(reply)
    assert sorted(watched(storage)) == ["ETHUSDT", "SPKUSDT"]

    before = chat_state(storage)
    refused = error_of(await ask(layer, "/unwatch", "eth arb"), ErrorKind.BAD_INPUT)
    assert "ARBUSDT is not on this chat's watchlist" in refused.message
    assert chat_state(storage) == before
    error_of(await ask(layer, "/unwatch", "nosuchcoin"), ErrorKind.UNKNOWN_SYMBOL)

    await ask(layer, "/unwatch", "all")
    assert watched(storage) == []


async def test_unwatch_removes_a_symbol_no_longer_collected(
    layer: CommandLayer, storage: FakeStorage
) -> None:
    chat = storage.chats.ensure_chat(PRIVATE_CHAT, kind=ChatKind.PRIVATE, now=NOW)
    storage.chats.watch(chat.ref, "binanceusdm", ["OLDUSDT"], NOW)
    await ask(layer, "/unwatch", "old")
    assert watched(storage) == []


async def test_unwatch_in_a_chat_without_a_watchlist(layer: CommandLayer, storage: FakeStorage) -> None:
    reply = await ask(layer, "/unwatch", "all")
    assert "empty" in render_text(reply)
    assert storage.chats.chats == {}


async def test_watchlist_lists_current_scores(layer: CommandLayer) -> None:
    assert "empty" in render_text(await ask(layer, "/watchlist"))
    await ask(layer, "/watch", "spk btc")
    text = render_text(await ask(layer, "/watchlist"))
    assert "Watching 2" in text
    assert "SPKUSDT — 97 stressed · SHORT" in text


# --- /alerts and /digest -------------------------------------------------------------------


async def test_alerts_alone_shows_the_settings_without_storing_a_chat(
    layer: CommandLayer, storage: FakeStorage
) -> None:
    reply = await ask(layer, "/alerts")
    assert isinstance(reply, SettingsReply)
    assert reply.changed is None
    assert reply.settings == ChatSettings()
    assert storage.chats.chats == {}
    text = render_text(reply)
    assert "Alerts: on · from the stretched band up" in text
    assert SOURCE in text


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("off", {"alerts_enabled": False}),
        ("ON", {"alerts_enabled": True}),
        ("min stressed", {"min_band": Band.STRESSED}),
        ("min lean", {"min_band": Band.LEAN}),
        ("kinds band_up,squeeze_risk", {"event_kinds": {EventKind.BAND_UP, EventKind.SQUEEZE_RISK}}),
        ("kinds bias-flip band_down", {"event_kinds": {EventKind.BIAS_FLIP, EventKind.BAND_DOWN}}),
        ("kinds all", {"event_kinds": set(EventKind)}),
        ("watchlist on", {"watchlist_only": True}),
        ("quiet 22:00-07:00", {"quiet_start": time(22), "quiet_end": time(7)}),
        ("quiet 23:30 6:15", {"quiet_start": time(23, 30), "quiet_end": time(6, 15)}),
    ],
)
async def test_alerts_changes_one_setting(
    layer: CommandLayer, storage: FakeStorage, args: str, expected: dict[str, object]
) -> None:
    reply = await ask(layer, "/alerts", args)
    assert isinstance(reply, SettingsReply), reply
    assert reply.changed
    saved = settings_of(storage)
    for name, value in expected.items():
        assert getattr(saved, name) == value
    assert "Saved." in render_text(reply)


async def test_quiet_hours_can_be_switched_off(layer: CommandLayer, storage: FakeStorage) -> None:
    await ask(layer, "/alerts", "quiet 22:00-07:00")
    await ask(layer, "/alerts", "quiet off")
    assert settings_of(storage).quiet_start is None


@pytest.mark.parametrize(
    "args",
    [
        "maybe",
        "on off",
        "min",
        "min neutral",
        "min extreme",
        "kinds",
        "kinds band_up,moon",
        "watchlist",
        "watchlist perhaps",
        "quiet 22:00",
        "quiet 22:00-22:00",
        "quiet 25:00-07:00",
        "quiet 7-8",
    ],
)
async def test_bad_alerts_arguments_store_nothing(
    layer: CommandLayer, storage: FakeStorage, args: str
) -> None:
    before = chat_state(storage)
    reply = error_of(await ask(layer, "/alerts", args), ErrorKind.BAD_INPUT)
    assert reply.message
    assert chat_state(storage) == before


async def test_digest_on_with_time_and_timezone(layer: CommandLayer, storage: FakeStorage) -> None:
    reply = await ask(layer, "/digest", "on 07:30 europe/berlin")
    assert isinstance(reply, SettingsReply)
    saved = settings_of(storage)
    assert saved.digest_enabled
    assert saved.digest_time == time(7, 30)
    chat = storage.chats.get_chat(PRIVATE_CHAT)
    assert chat is not None
    assert chat.timezone == "Europe/Berlin"
    assert "every day at 07:30 Europe/Berlin" in render_text(reply)

    await ask(layer, "/digest", "on America/New_York")  # the time stays
    assert settings_of(storage).digest_time == time(7, 30)
    await ask(layer, "/digest", "off")
    assert not settings_of(storage).digest_enabled
    shown = await ask(layer, "/digest")
    assert isinstance(shown, SettingsReply)
    assert shown.timezone == "America/New_York"
    assert "Digest: off" in render_text(shown)


@pytest.mark.parametrize(
    "args",
    [
        "maybe",
        "on 25:00",
        "on 8h",
        "on Mars/Olympus",
        "on ../../etc/passwd",
        "on America",
        "on 08:00 09:00",
        "on UTC Europe/Berlin",
        "on 08:00 UTC extra",
        "off 08:00",
    ],
)
async def test_bad_digest_arguments_store_nothing(
    layer: CommandLayer, storage: FakeStorage, args: str
) -> None:
    before = chat_state(storage)
    error_of(await ask(layer, "/digest", args), ErrorKind.BAD_INPUT)
    assert chat_state(storage) == before


# --- who may change settings ---------------------------------------------------------------

SETTINGS_CHANGES = [
    ("/watch", "btc"),
    ("/unwatch", "btc"),
    ("/alerts", "off"),
    ("/alerts", "min lean"),
    ("/digest", "on 08:00"),
]


@pytest.mark.parametrize(("command", "args"), SETTINGS_CHANGES)
@pytest.mark.parametrize("kind", [ChatKind.GROUP, ChatKind.CHANNEL])
async def test_group_members_who_are_not_admins_are_refused_politely(
    layer: CommandLayer, storage: FakeStorage, command: str, args: str, kind: ChatKind
) -> None:
    before = chat_state(storage)
    reply = error_of(await ask(layer, command, args, chat=GROUP_CHAT, kind=kind), ErrorKind.NOT_ALLOWED)
    assert "only this chat's admins" in reply.message
    assert chat_state(storage) == before


@pytest.mark.parametrize(("command", "args"), SETTINGS_CHANGES)
@pytest.mark.parametrize(("user", "admin"), [("7", True), (ADMIN_ID, False)])
async def test_chat_admins_and_bot_admins_may_change_group_settings(
    layer: CommandLayer, storage: FakeStorage, command: str, args: str, user: str, admin: bool
) -> None:
    if command == "/unwatch":
        await ask(layer, "/watch", "btc", chat=GROUP_CHAT, kind=ChatKind.GROUP, user=ADMIN_ID)
    reply = await ask(layer, command, args, chat=GROUP_CHAT, kind=ChatKind.GROUP, user=user, admin=admin)
    assert not isinstance(reply, ErrorReply), reply
    chat = storage.chats.get_chat(GROUP_CHAT)
    assert chat is not None
    assert chat.kind is ChatKind.GROUP


@pytest.mark.parametrize("command", ["/alerts", "/digest", "/watchlist", "/top", "/score btc"])
async def test_anyone_in_a_group_may_read(layer: CommandLayer, command: str) -> None:
    name, _, args = command.partition(" ")
    reply = await ask(layer, name, args, chat=GROUP_CHAT, kind=ChatKind.GROUP)
    assert not isinstance(reply, ErrorReply), reply


# --- two changes to one chat at once ---------------------------------------------------------


async def test_two_changes_to_one_chat_at_once_are_made_one_after_the_other(
    layer: CommandLayer, storage: FakeStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writes run on writer threads: without one command at a time per chat, the second
    # would read the settings before the first stored its change, and store over it.
    reading, go_on = threading.Event(), threading.Event()
    real_get = storage.chats.get_settings

    def get_settings(ref: int) -> ChatSettings:
        if not reading.is_set():  # the first change waits here, between its read and its write
            reading.set()
            assert go_on.wait(DEADLINE_S)
        return real_get(ref)

    writes = 0
    real_write = chat_settings.write_off_loop

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal writes
        writes += 1
        return real_write(*args, **kwargs)

    monkeypatch.setattr(storage.chats, "get_settings", get_settings)
    monkeypatch.setattr(chat_settings, "write_off_loop", counted)
    first = asyncio.create_task(ask(layer, "/alerts", "quiet 22:00-07:00"))
    await wait_for(reading.is_set, "the first change to read the settings")
    second = asyncio.create_task(ask(layer, "/alerts", "min lean"))
    # Checked once the second command's first step has run: it waits for the first's turn.
    seen = behind_queued(lambda: writes == 1, go_on.set)
    assert isinstance(await first, SettingsReply)
    assert isinstance(await second, SettingsReply)
    assert seen == [True]
    saved = settings_of(storage)
    assert (saved.quiet_start, saved.min_band) == (time(22, 0), Band.LEAN)
