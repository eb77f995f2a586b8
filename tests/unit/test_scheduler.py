"""The real AsyncIOScheduler in the test's event loop: no overlap, logged skips, clean stop.

The jobs hold on events the test controls, so what the scheduler does while a run is still
going is certain, not a matter of how long a sleep lasted.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from bot.app.off_loop import off_loop
from bot.scheduler import IntervalJob, Jobs, Schedule
from tests.waiting import DEADLINE_S, behind_queued, wait_for

SKIPPED = "job cycle skipped: the previous run is still going"


async def idle() -> None:
    return None


async def test_a_cycle_still_running_is_never_overlapped_and_the_skip_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    running = peak = cycles = deliveries = 0
    release = asyncio.Event()

    async def cycle() -> None:
        nonlocal running, peak, cycles
        running += 1
        peak = max(peak, running)
        await release.wait()  # the first run lasts until the test has seen a skip
        running -= 1
        cycles += 1

    async def deliver() -> None:
        nonlocal deliveries
        deliveries += 1

    jobs = Jobs(
        cycle, deliver, idle, idle, cycle_every=timedelta(seconds=0.2), deliver_every=timedelta(seconds=0.1)
    )
    schedule = Schedule(jobs)
    with caplog.at_level(logging.WARNING, logger="bot.scheduler"):
        schedule.start()
        try:
            await wait_for(lambda: running == 1, "the first cycle to start")
            # Its next run time comes while it still runs: skipped and said so, not started twice.
            await wait_for(lambda: any(SKIPPED in r.message for r in caplog.records), "a logged skip")
            # A blocked cycle holds up nothing else.
            await wait_for(lambda: deliveries >= 3, "deliveries while the cycle runs")
            assert (running, peak, cycles) == (1, 1, 0)
            release.set()
            await wait_for(lambda: cycles >= 2, "a second cycle once the first finished")
        finally:
            release.set()
            await schedule.stop(grace=10.0)
    assert peak == 1


async def test_the_first_cycle_runs_at_start_up_and_stop_lets_it_finish() -> None:
    started, finished = asyncio.Event(), asyncio.Event()

    async def cycle() -> None:
        started.set()
        await asyncio.sleep(0.3)  # work still under way when stop() is called
        finished.set()

    # An hour's interval: the wait below ends long before it, so the first run came at once.
    schedule = Schedule(Jobs(cycle, idle, idle, idle, cycle_every=timedelta(hours=1)))
    schedule.start()
    await wait_for(started.is_set, "the first cycle at start-up")
    assert not finished.is_set()
    await schedule.stop(grace=30.0)
    assert finished.is_set()


async def test_stop_returns_only_once_a_cancelled_job_s_worker_thread_has_ended() -> None:
    entered, opened = threading.Event(), threading.Event()
    log: list[str] = []
    job: list[asyncio.Task[object]] = []

    def store() -> None:  # a cycle's transaction, under way in a worker thread
        entered.set()
        opened.wait(DEADLINE_S)
        log.append("stored")

    async def cycle() -> None:
        task = asyncio.current_task()
        assert task is not None
        job.append(task)
        await off_loop(store)

    schedule = Schedule(Jobs(cycle, idle, idle, idle, cycle_every=timedelta(hours=1)))
    schedule.start()
    await wait_for(entered.is_set, "the cycle's store to begin")
    stopping = asyncio.create_task(schedule.stop(grace=0.0))  # no grace: the job is cancelled
    await wait_for(lambda: job[0].cancelling(), "the job to be cancelled")
    seen = behind_queued(stopping.done, opened.set)
    await stopping
    assert seen == [False]  # the database may not be closed yet: the store was under way
    log.append("stopped")
    assert log == ["stored", "stopped"]


async def test_a_stuck_venue_cycle_holds_up_no_other_venue_s_cycle(caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()
    runs = {"binanceusdm": 0, "bybit": 0, "okx": 0}

    def venue(name: str) -> Callable[[], Awaitable[None]]:
        async def cycle() -> None:
            runs[name] += 1
            if name == "bybit":
                await release.wait()  # down, banned or slow: its first run never ends meanwhile

        return cycle

    every = timedelta(seconds=0.2)
    more = tuple(IntervalJob(f"cycle:{name}", venue(name), every) for name in runs)
    schedule = Schedule(Jobs(None, idle, idle, idle, more=more))
    with caplog.at_level(logging.WARNING, logger="bot.scheduler"):
        schedule.start()
        try:
            await wait_for(lambda: runs["binanceusdm"] >= 3 and runs["okx"] >= 3, "the other venues' cycles")
            await wait_for(
                lambda: any("job cycle:bybit skipped" in r.message for r in caplog.records),
                "the stuck venue's own skip, logged",
            )
            assert runs["bybit"] == 1  # never overlapped by its own next run either
            assert not any("cycle:okx skipped" in r.message for r in caplog.records)
        finally:
            release.set()
            await schedule.stop(grace=10.0)
