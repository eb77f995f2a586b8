"""The dashboard over a real socket: uvicorn beside the bot, the chart from the worker process,
127.0.0.1 by default, request lines too long refused, and no web stack without WEB_PORT."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest

from bot.bootstrap import build_demo
from bot.config import load_settings
from bot.demo import ReplayClock
from bot.web_launch import start_web, web_queries

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_settings_bind_the_loopback_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEB_HOST", raising=False)
    assert load_settings().web_host == "127.0.0.1"
    assert load_settings().web_port is None


@pytest.mark.slow
async def test_dps_run_s_web_server_serves_the_dashboard_and_the_chart(tmp_path: Path) -> None:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'run.sqlite3'}", symbols=["SPKUSDT", "BTCUSDT"], web_port=1
    )
    clock = ReplayClock(datetime.min.replace(tzinfo=UTC))
    demo = build_demo(settings, clock=clock)
    app = demo.app
    clock.current = demo.steps[0]
    await app.collector.cycle.backfill(clock.current)
    await app.collector.cycle.run(clock.current)
    server = await start_web(app, port=0)  # WEB_PORT is set; 0 lets the system pick a free port
    assert server is not None
    try:
        port = server.bound_port
        assert port is not None
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            page = await client.get("/")
            assert page.status_code == 200
            assert "SPKUSDT" in page.text
            assert page.headers["content-security-policy"].startswith("default-src 'none'")
            chart = await client.get("/chart/SPKUSDT?window=24h")
            assert chart.status_code == 200
            assert chart.headers["content-type"] == "image/png"
            assert chart.content.startswith(PNG_MAGIC)
        # a request line beyond the limit never reaches the app
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /?q=" + b"A" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        status = await reader.readline()
        assert status.split()[1] in (b"400", b"413", b"414", b"431")
        writer.close()
    finally:
        await server.stop()
        await app.close()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


async def test_a_port_in_use_is_an_error_not_an_exit(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = load_settings(
            database_url=f"sqlite:///{tmp_path / 'busy.sqlite3'}", symbols=["BTCUSDT"], web_port=port
        )
        demo = build_demo(settings, clock=ReplayClock(datetime.min.replace(tzinfo=UTC)))
        try:
            with pytest.raises(OSError, match="could not listen"):
                await start_web(demo.app)
        finally:
            await demo.app.close()


def test_without_web_port_the_bot_imports_no_web_stack(tmp_path: Path) -> None:
    script = (
        "import asyncio, json, sys\n"
        "from bot.bootstrap import SystemClock, build_app\n"
        "from bot.config import load_settings\n"
        "from bot.web_launch import start_web\n"
        f"settings = load_settings(database_url='sqlite:///{tmp_path / 'x.sqlite3'}')\n"
        "app = build_app(settings, clock=SystemClock())\n"
        "server = asyncio.run(start_web(app))\n"
        "asyncio.run(app.close())\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('starlette', 'uvicorn', 'jinja2', 'bot'))\n"
        "print(json.dumps({'server': server is None, 'loaded': loaded}))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["server"] is True
    stack = [m for m in report["loaded"] if not m.startswith("bot")]
    assert stack == []
    assert not any(m.startswith("bot.web.") or m == "bot.web" for m in report["loaded"])


def test_the_web_s_read_side_is_its_own_and_agrees_with_the_chats(tmp_path: Path) -> None:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'own.sqlite3'}", symbols=["BTCUSDT"], collect_interval=120
    )
    demo = build_demo(settings, clock=ReplayClock(datetime.min.replace(tzinfo=UTC)))
    try:
        chats = demo.app.commands.queries
        web = web_queries(demo.app)
        assert web is not chats  # the server's thread never shares the chats' cached market
        now = datetime(2026, 1, 1, tzinfo=UTC)
        assert web.status(now, None).stale_after == chats.status(now, None).stale_after
        assert web.status(now, None).source_label == chats.status(now, None).source_label
    finally:
        asyncio.run(demo.app.close())
