"""``dps run`` on the fake exchange with the console adapter: cycles, commands, a digest, a clean stop."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest

from bot.config import Settings, load_settings
from bot.roles import Role
from bot.runner import run
from bot.storage.facade import open_storage
from tests.fakes.discord_api import TOKEN as DISCORD_TOKEN
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.exchange import FakeExchange
from tests.fakes.telegram_api import FakeTelegram
from tests.waiting import wait_for

COMMANDS = "discord:commands"
READY = "Discord gateway ready"


@pytest.mark.slow
async def test_run_cycles_answers_commands_and_sends_the_digest(
    fake: FakeExchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    minute = datetime.now(UTC).strftime("%H:%M")
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'dps.sqlite3'}",
        exchange="binanceusdm",
        exchange_api_url=fake.url,
        collect_interval=30,
        digest_time=minute,  # due at once: the digest goes out at the configured minute
        digest_timezone="UTC",
    )
    read_fd, write_fd = os.pipe()
    commands = os.fdopen(read_fd, "r", encoding="utf-8")
    typing = os.fdopen(write_fd, "w", encoding="utf-8")
    out = io.StringIO()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run(
            settings,
            stop=stop,
            console_input=commands,
            out=out,
            digest_every=timedelta(seconds=1),
        )
    )
    await wait_for(lambda: "Daily Derivatives Pressure digest" in out.getvalue())
    typing.write("/top 3\n/status\n/score btc\n")
    typing.flush()
    await wait_for(lambda: "Symbols tracked:" in out.getvalue() and "BTCUSDT" in out.getvalue())
    typing.close()  # end of input, as Ctrl-D
    stop.set()
    assert await asyncio.wait_for(task, timeout=60) == 0
    # The console's reader thread ends at the end of input; only then is its file closed.
    await wait_for(
        lambda: not any(t.name == "console-stdin" for t in threading.enumerate()), "the reader thread to end"
    )
    commands.close()
    text = out.getvalue()
    assert "Top 3" in text
    assert "STALE" not in text
    assert text.count("Daily Derivatives Pressure digest") == 1


@pytest.mark.slow
async def test_run_with_a_telegram_token_answers_top_and_score_on_telegram(
    fake: FakeExchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with FakeTelegram() as telegram:
        settings = chat_settings(tmp_path, fake, telegram)
        stop = asyncio.Event()
        out = io.StringIO()
        task = asyncio.create_task(run(settings, stop=stop, out=out))
        await wait_for(lambda: any(c.method == "getUpdates" for c in telegram.calls))
        chat = 5151
        answer = await ask_telegram_until_scored(telegram, chat)
        count = len(telegram.sent(chat))
        telegram.push_message(chat, "/top 3", user_id=1)
        sent = await telegram.wait_for_sent(count + 1, chat_id=chat, timeout=30)
        stop.set()
        assert await asyncio.wait_for(task, timeout=60) == 0
    assert answer.startswith("<b>BTCUSDT · score "), answer
    top = sent[count].text or ""
    assert top.startswith("<b>Derivatives Pressure Score · Top 3</b>"), top
    assert "<pre>" in top
    assert "Alert" not in out.getvalue()  # nothing went to the console: Telegram serves this process


def chat_settings(tmp_path: Path, fake: FakeExchange, telegram: FakeTelegram, **more: object) -> Settings:
    """``dps run`` settings on the fake exchange with the fake Bot API (and ``more``)."""
    return load_settings(
        database_url=f"sqlite:///{tmp_path / 'dps.sqlite3'}",
        exchange="binanceusdm",
        exchange_api_url=fake.url,
        collect_interval=30,
        telegram_bot_token=telegram.token,
        telegram_base_url=telegram.base_url,
        **more,
    )


async def ask_telegram_until_scored(telegram: FakeTelegram, chat: int) -> str:
    """``/score btc`` until the first cycle has stored scores (a new user each time, so the
    per-user command limit never answers instead); the scored answer."""
    async with asyncio.timeout(90):
        for user in range(2000, 3000):
            count = len(telegram.sent(chat))
            telegram.push_message(chat, "/score btc", user_id=user)
            answer = (await telegram.wait_for_sent(count + 1, chat_id=chat, timeout=30))[count].text or ""
            if "BTCUSDT · score" in answer:
                return answer
            await asyncio.sleep(0.5)
    raise AssertionError("never scored")


@pytest.mark.slow
async def test_run_with_both_tokens_serves_telegram_and_discord_from_one_process(
    fake: FakeExchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with FakeTelegram() as telegram, FakeDiscord() as discord_api:
        discord_api.patch(monkeypatch)
        settings = chat_settings(tmp_path, fake, telegram, discord_bot_token=DISCORD_TOKEN)
        stop = asyncio.Event()
        task = asyncio.create_task(run(settings, stop=stop, out=io.StringIO()))
        on_telegram = await ask_telegram_until_scored(telegram, 5151)
        interaction = await discord_api.push_interaction("score", {"symbol": "btc"})
        (on_discord,) = await discord_api.answers(interaction)
        # An alert-style push through each platform's sink, from the same process.
        count = len(telegram.sent(5151))
        telegram.push_message(5151, "/top 2", user_id=1)
        (top,) = (await telegram.wait_for_sent(count + 1, chat_id=5151))[count:]
        top_interaction = await discord_api.push_interaction("top", {"n": 2})
        (discord_top,) = await discord_api.answers(top_interaction)
        stop.set()
        assert await asyncio.wait_for(task, timeout=60) == 0
    assert on_telegram.startswith("<b>BTCUSDT · score ")
    assert on_discord.embeds[0]["title"].startswith("BTCUSDT"), on_discord.embeds
    assert "Top 2" in (top.text or "")
    assert "Top 2" in discord_top.text()
    assert len(discord_api.syncs) == 1  # slash commands synced once at start-up


@pytest.mark.slow
async def test_sigterm_stops_cleanly_and_tokens_never_print(fake: FakeExchange, tmp_path: Path) -> None:
    token = "123456:SECRET-TOKEN-VALUE"  # noqa: S105 - the fake's; the log must never show it
    async with FakeTelegram(token) as telegram:
        await _run_until_a_cycle_and_sigterm(fake, telegram, tmp_path, token)


async def _run_until_a_cycle_and_sigterm(
    fake: FakeExchange, telegram: FakeTelegram, tmp_path: Path, token: str
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dps.sqlite3'}",
        "EXCHANGE": "binanceusdm",
        "EXCHANGE_API_URL": fake.url,
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_BASE_URL": telegram.base_url,
        "NO_PROXY": "127.0.0.1,localhost",
        "LOG_LEVEL": "DEBUG",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    while not any(" cycle " in line and "symbols=" in line for line in seen):
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=90)
        assert line, "".join(seen)
        seen.append(line.decode())
    proc.send_signal(signal.SIGTERM)
    rest, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    log = "".join(seen) + rest.decode()
    assert proc.returncode == 0, log[-3000:]
    assert "stopped" in log
    assert "Traceback" not in log
    assert "SECRET-TOKEN-VALUE" not in log


@pytest.mark.slow
async def test_two_discord_processes_one_gateway_and_commands_survive_either_stopping(
    fake: FakeExchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    monkeypatch.chdir(tmp_path)
    async with FakeDiscord() as discord_api:
        discord_api.patch(monkeypatch)
        settings = load_settings(
            database_url=f"sqlite:///{tmp_path / 'dps.sqlite3'}",
            exchange_api_url=fake.url,
            discord_bot_token=DISCORD_TOKEN,
            collector_lease_seconds=3,
        )
        stops = [asyncio.Event(), asyncio.Event()]
        tasks = [asyncio.create_task(run(settings, role=Role.DISCORD, stop=s)) for s in stops]
        await wait_for(lambda: caplog.text.count("Discord: logged in to deliver only") == 1)
        await wait_for(lambda: "Discord gateway ready" in caplog.text)
        first = await discord_api.push_interaction("help")
        assert len(await discord_api.answers(first)) == 1
        assert len(discord_api.syncs) == 1  # only the process on the gateway syncs commands

        storage = open_storage(settings.database_url)
        holder = storage.leases.lease(COMMANDS)
        assert holder is not None
        ready = caplog.text.count(READY)
        stops[0].set()  # whichever it was, commands must still be answered afterwards
        assert await asyncio.wait_for(tasks[0], timeout=60) == 0
        # Stopping the gateway process releases the lease: the survivor takes it and connects
        # the gateway. Stopping the other leaves the gateway as it was.
        await wait_for(
            lambda: (
                (now := storage.leases.lease(COMMANDS)) is not None
                and (now.holder == holder.holder or caplog.text.count(READY) > ready)
            ),
            "the survivor on the gateway",
        )
        storage.close()
        again = await discord_api.push_interaction("help")
        assert len(await discord_api.answers(again, wait_s=15)) == 1
        stops[1].set()
        assert await asyncio.wait_for(tasks[1], timeout=60) == 0
    assert "Traceback" not in caplog.text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _page(port: int) -> str | None:
    try:
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            answer = await client.get("/")
    except httpx2.TransportError:
        return None
    return answer.text if answer.status_code == 200 else None


@pytest.mark.slow
async def test_run_with_web_port_serves_the_dashboard_until_it_stops(
    fake: FakeExchange, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    port = _free_port()
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'dps.sqlite3'}",
        exchange="binanceusdm",
        exchange_api_url=fake.url,
        collect_interval=30,
        web_port=port,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop=stop, out=io.StringIO()))
    # Served once started, and showing what the first stored cycle scored.
    await wait_for(
        lambda: "dashboard at" in caplog.text and " scored=" in caplog.text, "a cycle and the dashboard"
    )
    text = await _page(port)
    assert text is not None and "<table" in text and "BTCUSDT" in text
    stop.set()
    assert await asyncio.wait_for(task, timeout=60) == 0
    assert await _page(port) is None  # the server stopped with the bot
