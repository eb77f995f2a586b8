"""``dps web`` serves where it says; a dashboard port already taken makes ``dps run`` and
``dps web`` say so and exit 2, no traceback."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


@pytest.mark.parametrize("command", [["run"], ["web"]])
def test_a_port_in_use_is_a_clear_error(
    command: list[str],
    taken_port: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'dps.sqlite3'}")
    monkeypatch.setenv("EXCHANGE_API_URL", "http://127.0.0.1:9")  # never reached: start-up stops first
    monkeypatch.setenv("SYMBOLS", "BTCUSDT")
    monkeypatch.setenv("WEB_PORT", str(taken_port))
    for name in ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN", "WEB_HOST"):
        monkeypatch.delenv(name, raising=False)

    code = main(command)

    err = capsys.readouterr().err
    assert code == 2
    assert f"the web server could not listen on http://127.0.0.1:{taken_port}/" in err
    assert "Traceback" not in err


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_dps_web_serves_on_the_address_it_prints_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dps.sqlite3'}",
        "EXCHANGE_API_URL": "http://127.0.0.1:9",
        "SYMBOLS": "BTCUSDT",
    }
    for name in ("WEB_PORT", "WEB_HOST", "WEB_API_TOKEN", "TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN"):
        env.pop(name, None)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "web", "--port", str(port),
        cwd=tmp_path, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 60)
        assert line.decode().strip() == f"dashboard at http://127.0.0.1:{port}/ (Ctrl-C stops)"
        # Bound before the line is printed: the address answers at once.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        status = await asyncio.wait_for(reader.readline(), 60)
        writer.close()
        assert status.split()[1] == b"200"
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode == 0, err.decode()[-2000:]
    assert b"Traceback" not in err
