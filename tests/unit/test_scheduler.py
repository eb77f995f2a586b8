"""The real AsyncIOScheduler in the test's event loop: no overlap, logged skips, clean stop."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from bot.scheduler import Jobs, Schedule


async def test_slow_cycles_never_overlap_and_skips_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    running = peak = cycles = deliveries = 0

    async def cycle() -> None:
        nonlocal running, peak, cycles
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.45)  # longer than the interval
        running -= 1
        cycles += 1

    async def deliver() -> None:
        nonlocal deliveries
        deliveries += 1

    async def idle() -> None:
        return None

    jobs = Jobs(
        cycle, deliver, idle, idle, cycle_every=timedelta(seconds=0.2), deliver_every=timedelta(seconds=0.1)
    )
    schedule = Schedule(jobs)
    with caplog.at_level(logging.WARNING, logger="bot.scheduler"):
        schedule.start()
        await asyncio.sleep(1.3)
        await schedule.stop(grace=2.0)
    assert peak == 1
    assert cycles >= 2  # the first ran at start-up, not an interval later
    assert deliveries >= 5
    assert any("skipped: the previous run is still going" in r.message for r in caplog.records)


async def test_stop_lets_a_running_cycle_finish() -> None:
    finished = asyncio.Event()

    async def cycle() -> None:
        await asyncio.sleep(0.3)
        finished.set()

    async def idle() -> None:
        return None

    schedule = Schedule(Jobs(cycle, idle, idle, idle, cycle_every=timedelta(seconds=60)))
    schedule.start()
    await asyncio.sleep(0.1)  # the first cycle is under way
    await schedule.stop(grace=2.0)
    assert finished.is_set()
