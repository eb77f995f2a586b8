"""``dps run --role collector`` in real processes: one collector per exchange, by lease.

Two collectors share one database and the fake exchange. The second waits on standby while
the first renews its lease; when the first is SIGKILLed it stops renewing and the second
takes over after the lease period; when a collector stops cleanly it hands over at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fakes.exchange import FakeExchange

LEASE_S = 3
TAKEN = "lease collector:binanceusdm taken"
CYCLE = "bot.runner: cycle "


@dataclass
class Proc:
    """One ``dps run`` process and the lines it printed so far."""

    name: str
    proc: asyncio.subprocess.Process
    lines: list[tuple[float, str]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append((time.monotonic(), line.decode(errors="replace")))

    def seen(self, text: str) -> float | None:
        """When ``text`` was first printed (monotonic), or None."""
        return next((at for at, line in self.lines if text in line), None)

    async def wait_for(self, text: str, within: float = 60) -> float:
        async with asyncio.timeout(within):
            while (at := self.seen(text)) is None:
                if self.proc.returncode is not None:
                    raise AssertionError(f"{self.name} exited:\n{self.log()}")
                await asyncio.sleep(0.05)
        return at

    def log(self) -> str:
        return "".join(line for _, line in self.lines)[-4000:]


async def start(name: str, env: dict[str, str], cwd: Path, role: str = "collector") -> Proc:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", "--role", role,
        cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    p = Proc(name, proc)
    p.reader = asyncio.create_task(p.read())
    return p


async def stop(p: Proc, how: signal.Signals = signal.SIGTERM) -> int:
    if p.proc.returncode is None:
        p.proc.send_signal(how)
    code = await asyncio.wait_for(p.proc.wait(), timeout=60)
    if p.reader is not None:
        await p.reader
    return code


@pytest.mark.slow
async def test_one_collector_per_exchange_with_takeover_on_silence_and_handover_on_stop(
    fake: FakeExchange, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dps.sqlite3'}",
        "EXCHANGE": "binanceusdm",
        "EXCHANGE_API_URL": fake.url,
        "COLLECT_INTERVAL": "30",
        "COLLECTOR_LEASE_SECONDS": str(LEASE_S),
        "LOG_LEVEL": "INFO",
    }
    for name in ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN", "SYMBOLS", "UNIVERSE_TOP_N"):
        env.pop(name, None)
    first = await start("first", env, tmp_path)
    second = third = None
    try:
        await first.wait_for(TAKEN)
        await first.wait_for(CYCLE)
        second = await start("second", env, tmp_path)
        await second.wait_for("standby: lease collector:binanceusdm held by")
        await asyncio.sleep(LEASE_S + 1)  # well past one lease period: the first keeps renewing
        assert second.seen(TAKEN) is None
        assert second.seen(CYCLE) is None

        killed = time.monotonic()
        assert await stop(first, signal.SIGKILL) == -signal.SIGKILL
        taken = await second.wait_for(TAKEN, within=30)
        assert taken - killed >= LEASE_S - 1.5  # not before the dead collector's lease ran out
        await second.wait_for(CYCLE, within=30)  # and it collects at once, not an interval later

        third = await start("third", env, tmp_path)
        await third.wait_for("standby: lease collector")
        stopped = time.monotonic()
        assert await stop(second) == 0
        assert "lease collector:binanceusdm released" in second.log()
        handed = await third.wait_for(TAKEN, within=30)
        assert handed - stopped < LEASE_S + 2  # released on a clean stop: no need to wait it out
        await third.wait_for(CYCLE, within=30)
        assert await stop(third) == 0
    finally:
        for p in (first, second, third):
            if p is not None and p.proc.returncode is None:
                await stop(p, signal.SIGKILL)
    for p in (first, second, third):
        assert p is not None
        assert "Traceback" not in p.log(), p.log()
