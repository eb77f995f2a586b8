"""The dashboard's own process beside ``dps run`` (``bot.web_supervisor``): it serves what the
bot's cycles store, is started again when it dies (logged once), stops with the bot, exits
when the bot's end of its stdin closes, and never takes the bot down."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from bot.bootstrap import App, SystemClock, build_app
from bot.config import Settings, load_settings
from bot.runner import Process, run
from bot.web.listen import bind
from bot.web_launch import child_settings, start_web_child
from bot.web_supervisor import WebChild
from tests.contract import processes
from tests.fakes.exchange import FakeExchange
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

SUPERVISOR = "bot.web_supervisor"


@dataclass
class Bot:
    app: App
    process: Process
    fake: FakeExchange

    async def cycle(self) -> None:
        """One collection cycle of the bot, stored in the database the child reads; BTC's
        funding moves first, so the table's body changes with it."""
        self.fake.market.instruments["BTC"].funding_rate *= 2
        await self.process.cycle()


@pytest.fixture
async def fake() -> AsyncIterator[FakeExchange]:
    exchange = FakeExchange()
    await exchange.start()
    yield exchange
    await exchange.stop()


def _settings(tmp_path: Path, fake: FakeExchange, **more: object) -> Settings:
    return load_settings(
        database_url=f"sqlite:///{tmp_path / 'run.sqlite3'}",
        exchange="binanceusdm",
        exchange_api_url=fake.url,
        collect_interval=30,
        web_port=1,
        **more,
    )


@pytest.fixture
async def bot(tmp_path: Path, fake: FakeExchange) -> AsyncIterator[Bot]:
    # On the system clock, as the child's: it shows the scores of the last minutes.
    app = build_app(_settings(tmp_path, fake), clock=SystemClock())
    bot = Bot(app, Process(app, backfill=True), fake)
    try:
        await bot.cycle()  # backfill, then the first cycle
        yield bot
    finally:
        await app.close()


async def _get(port: int, path: str, headers: dict[str, str] | None = None) -> httpx2.Response | None:
    try:
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            return await client.get(path, headers=headers)
    except httpx2.TransportError:
        return None


async def _serving(child: WebChild, count: int) -> None:
    await wait_for(lambda: child.serving >= count, f"the dashboard's process #{count} to serve")


async def _status_says(port: int, line: str) -> None:
    seen: list[object] = []

    async def says() -> bool:
        status = await _get(port, "/api/v1/status")
        assert status is not None and status.status_code == 200
        seen.append(status.json()["last_cycle"])
        return seen[-1] == line

    await wait_for(says, lambda: f"the child's status to say {line!r}: {seen[-3:]}")


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


async def test_the_child_serves_the_bot_s_cycles_and_stops_with_it(bot: Bot) -> None:
    child = start_web_child(bot.app, port=0)
    assert child is not None
    port = child.bound_port
    assert port is not None
    try:
        await _serving(child, 1)
        assert child.pid is not None and child.pid != os.getpid()
        page = await _get(port, "/")
        assert page is not None and page.status_code == 200
        assert "BTCUSDT" in page.text
        table = await _get(port, "/table")
        assert table is not None and table.status_code == 200
        etag = table.headers["etag"]
        unchanged = await _get(port, "/table", {"If-None-Match": etag})
        assert unchanged is not None and unchanged.status_code == 304
        # A cycle stored by the bot's process reaches the child's table through the database,
        # prepared by the child without a request (within a poll and a rendering).
        await bot.cycle()
        answers: list[int] = []

        async def fresh() -> bool:
            again = await _get(port, "/table", {"If-None-Match": etag})
            answers.append(0 if again is None else again.status_code)
            return again is not None and again.status_code == 200 and again.headers["etag"] != etag

        await wait_for(fresh, lambda: f"the next cycle's table: {answers[-3:]}")
        # The bot's latest cycle line reaches the child's status (it runs no cycle itself).
        line = bot.app.last_cycle.line
        assert line is not None and " scored=" in line
        await _status_says(port, line)
        pid = child.pid
    finally:
        await child.stop()
    assert _refused(port)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped: gone, not a zombie
    assert child.started == 1


async def test_a_dead_child_is_restarted_and_its_exits_logged_once(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=SUPERVISOR)
    child = start_web_child(bot.app, port=0, backoff_s=0.01, backoff_max_s=600)
    assert child is not None and child.bound_port is not None
    try:
        await _serving(child, 1)
        for n in (2, 3):
            pid = child.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            await _serving(child, n)
            assert child.pid != pid
            page = await _get(child.bound_port, "/api/v1/top")
            assert page is not None and page.status_code == 200
            assert "BTCUSDT" in page.text
        # The bot is untouched: it still runs cycles.
        await bot.cycle()
    finally:
        await child.stop()
    exits = [r for r in caplog.records if r.name == SUPERVISOR and "exited" in r.getMessage()]
    assert [r.levelno for r in exits] == [logging.WARNING, logging.DEBUG]
    assert "-9" in exits[0].getMessage()
    assert child.started == 3


async def test_a_child_that_keeps_dying_is_retried_with_a_growing_pause(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=SUPERVISOR)
    listening = bind("127.0.0.1", 0, "test")
    # A child that exits at once, as one whose settings are refused would.
    child = WebChild(
        [sys.executable, "-c", "import sys; sys.exit(3)"],
        b"{}",
        listening,
        "test",
        backoff_s=0.01,
        backoff_max_s=0.04,
    )
    child.start()
    try:
        await wait_for(lambda: child.started >= 5, "five starts")
    finally:
        await child.stop()
    assert child.pauses[:4] == [0.01, 0.02, 0.04, 0.04]  # never served: never counted healthy
    exits = [r for r in caplog.records if r.name == SUPERVISOR and "exited" in r.getMessage()]
    assert [r.levelno for r in exits[:3]] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert "(3)" in exits[0].getMessage()


async def test_the_child_ignores_signals_and_exits_when_the_bot_s_end_of_its_stdin_closes(bot: Bot) -> None:
    # As when the bot is killed -9: nothing stops the child but the pipe closing.
    listening = bind("127.0.0.1", 0, "test")
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.web_launch", "--fd", str(listening.fileno()),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, pass_fds=(listening.fileno(),),
        )  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(child_settings(bot.app.settings) + b"\n")
        await proc.stdin.drain()
        assert (await asyncio.wait_for(proc.stdout.readline(), 60)).strip() == b"serving"
        # A signal meant for the bot's whole service is not the child's cue: only its stdin is.
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGINT)
        page = await _get(int(listening.getsockname()[1]), "/api/v1/status")
        assert page is not None and page.status_code == 200
        proc.stdin.close()
        assert await asyncio.wait_for(proc.wait(), 60) == 0  # not -SIGTERM: it exited by itself
    finally:
        listening.close()


def test_the_child_gets_the_bot_s_settings_but_not_the_chat_tokens(tmp_path: Path) -> None:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        symbols=["BTCUSDT"],
        exchanges=["binanceusdm", "bybit"],
        web_port=8080,
        web_api_token="web-secret",  # noqa: S106
        telegram_bot_token="123:telegram-secret",  # noqa: S106
        collect_interval=120,
        scoring={"funding_scale_pct": 0.5},
    )
    data = json.loads(child_settings(settings))
    assert "telegram-secret" not in json.dumps(data)
    again = load_settings(**data)
    assert again.web_api_token is not None and again.web_api_token.get_secret_value() == "web-secret"
    assert again.telegram_bot_token is None and again.discord_bot_token is None
    assert again.model_dump(exclude={"web_api_token", "telegram_bot_token"}) == settings.model_dump(
        exclude={"web_api_token", "telegram_bot_token"}
    )


CHILD_PID = re.compile(r"dashboard at \S+ \(its own process, (\d+)\)")


def _child_pids(text: str) -> list[int]:
    return [int(m[1]) for m in CHILD_PID.finditer(text)]


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie left to a parent that is no longer there."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


async def test_dps_run_outlives_its_dashboard_s_process(
    fake: FakeExchange, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger=SUPERVISOR)  # after: it lowers the handler's level too
    port = _free_port()
    settings = _settings(tmp_path, fake).model_copy(update={"web_port": port})
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop=stop, out=io.StringIO()))
    try:
        await wait_for(
            lambda: _child_pids(caplog.text) and " scored=" in caplog.text, "a cycle and the dashboard"
        )
        first = _child_pids(caplog.text)[0]
        os.kill(first, signal.SIGKILL)
        await wait_for(lambda: len(_child_pids(caplog.text)) == 2, "the dashboard's process started again")
        page = await _get(port, "/")
        assert page is not None and page.status_code == 200 and "BTCUSDT" in page.text
        assert not task.done()  # the bot never noticed beyond the log
        second = _child_pids(caplog.text)[1]
    finally:
        stop.set()
        assert await asyncio.wait_for(task, timeout=60) == 0
    assert _gone(second)
    assert await _get(port, "/") is None


async def test_a_killed_bot_s_dashboard_process_exits_too(fake: FakeExchange, tmp_path: Path) -> None:
    port = _free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dps.sqlite3'}",
        "EXCHANGE_API_URL": fake.url,
        "WEB_PORT": str(port),
    }
    bot = await processes.start("bot", env, tmp_path, "all")
    try:
        await bot.wait_for("its own process")
        [child] = _child_pids(bot.log())
        assert await processes.stop(bot, signal.SIGKILL) == -signal.SIGKILL
        # Nothing stopped the child: only its stdin, the bot's end closed by the kernel.
        await wait_for(lambda: _gone(child), "the dashboard's process to exit after the bot was killed")
    finally:
        if bot.proc.returncode is None:
            await processes.stop(bot, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_bot_with_web_port_leaves_the_web_stack_to_its_dashboard_s_process(tmp_path: Path) -> None:
    script = (
        "import asyncio, json, sys\n"
        "from bot.bootstrap import SystemClock, build_app\n"
        "from bot.config import load_settings\n"
        "from bot.web_launch import start_web_child\n"
        f"settings = load_settings(database_url='sqlite:///{tmp_path / 'x.sqlite3'}', web_port=8080)\n"
        "async def main():\n"
        "    app = build_app(settings, clock=SystemClock())\n"
        "    child = start_web_child(app, port=0)\n"
        "    await child.until_serving()\n"
        "    await child.stop()\n"
        "    await app.close()\n"
        "    return child.started\n"
        "started = asyncio.run(main())\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn', 'jinja2'))\n"
        "print(json.dumps({'started': started, 'loaded': loaded}))\n"
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"started": 1, "loaded": []}
