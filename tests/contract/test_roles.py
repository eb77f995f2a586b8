"""``dps run --role collector`` in real processes: one collector per exchange, by lease.

Two collectors share one database and the fake exchange. The second waits on standby while
the first renews its lease; when the first is SIGKILLed it stops renewing and the second
takes over once the lease has run out; when a collector stops cleanly it hands over at once.

The processes run on a clock the test holds still and moves (``clocked_run``), and log
each lease check with its clock time: whether a takeover came before or after a lease ran
out is read off that clock, not measured in wall time.
"""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.storage.facade import open_storage
from tests.contract.clocked_run import TestClock
from tests.contract.processes import Proc, start, stop
from tests.fakes.exchange import FakeExchange

LEASE_S = 3
LEASE = "collector:binanceusdm"
TAKEN = f"lease {LEASE} taken"
STANDBY = f"standby: lease {LEASE} held by"
HELD, WAITING = f"{LEASE} held", f"{LEASE} standby"
CYCLE = "bot.runner: cycle "


@pytest.mark.slow
async def test_one_collector_per_exchange_with_takeover_on_silence_and_handover_on_stop(
    fake: FakeExchange, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'dps.sqlite3'}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "EXCHANGE": "binanceusdm",
        "EXCHANGE_API_URL": fake.url,
        # An hour: every cycle the test sees is the one at start-up or at a takeover.
        "COLLECT_INTERVAL": "3600",
        "COLLECTOR_LEASE_SECONDS": str(LEASE_S),
        "LOG_LEVEL": "INFO",
    }
    for name in ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN", "SYMBOLS", "UNIVERSE_TOP_N"):
        env.pop(name, None)
    clock = TestClock(tmp_path / "clock")
    t0 = clock.hold_at(datetime.now(UTC).replace(microsecond=0))
    first = await start("first", env, tmp_path, "collector", clock)
    second: Proc | None = None
    third: Proc | None = None
    storage = None
    try:
        await first.wait_for(TAKEN)
        await first.wait_for(CYCLE)
        second = await start("second", env, tmp_path, "collector", clock)
        await second.wait_for(STANDBY)
        # Well past the lease the second saw at start-up, a second at a time (less than a
        # lease): the first renews at each step, and the second, checking at each, waits.
        for step in range(1, LEASE_S + 2):
            now = clock.hold_at(t0 + timedelta(seconds=step))
            assert await first.check_at(now) == HELD
            assert await second.check_at(now) == WAITING
        assert second.seen(TAKEN) is None
        assert second.seen(CYCLE) is None

        assert await stop(first, signal.SIGKILL) == -signal.SIGKILL
        storage = open_storage(url)
        dead = storage.leases.lease(LEASE)
        assert dead is not None
        assert dead.holder in first.lines[first.seen(TAKEN) or 0]
        assert dead.expires_at == now + timedelta(seconds=LEASE_S)  # its last renewal
        # Just before the dead collector's lease runs out the second still waits ...
        almost = clock.hold_at(dead.expires_at - timedelta(milliseconds=1))
        assert await second.check_at(almost) == WAITING
        assert second.seen(TAKEN) is None
        # ... and once it has run out, the second takes over and collects at once.
        clock.hold_at(dead.expires_at)
        await second.wait_for(TAKEN)
        await second.wait_for_check(dead.expires_at, HELD)
        await second.wait_for(CYCLE)
        assert all(state == WAITING for at, state in second.checks() if at < dead.expires_at)

        third = await start("third", env, tmp_path, "collector", clock)
        await third.wait_for(STANDBY)
        assert await third.check_at(dead.expires_at) == WAITING
        running = storage.leases.lease(LEASE)
        assert running is not None
        assert running.expires_at > dead.expires_at  # the second's lease runs on this clock
        assert await stop(second) == 0
        assert f"lease {LEASE} released" in second.log()
        # Released on a clean stop: the third takes over with the clock not moved at all,
        # so it did not wait the second's lease out.
        await third.wait_for(TAKEN)
        await third.wait_for_check(dead.expires_at, HELD)
        assert {at for at, _ in third.checks()} == {dead.expires_at}
        await third.wait_for(CYCLE)
        assert await stop(third) == 0
    finally:
        if storage is not None:
            storage.close()
        for p in (first, second, third):
            if p is not None and p.proc.returncode is None:
                await stop(p, signal.SIGKILL)
    for p in (first, second, third):
        assert p is not None
        assert "Traceback" not in p.log(), p.log()
