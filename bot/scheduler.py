"""The schedule: APScheduler 3.11's AsyncIOScheduler, in UTC, inside the app's event loop.

The only module that imports apscheduler. Jobs are plain async callables supplied by the
composition root. Every job runs with ``max_instances=1`` and coalescing, so a slow
cycle never overlaps the next and a backlog collapses into one run; a skipped or missed
run is logged, never silent: here, once, in our words (``bot.libraries`` quietens
APScheduler's own loggers at start-up so they do not say it twice).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.errors import DpsError

logger = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class IntervalJob:
    """One more job on an interval, under its own id, first run at start-up.

    Each is an APScheduler job of its own (``max_instances=1``): one that is slow or
    stuck skips only its own runs, never another's. One venue's collection cycle is one.
    """

    job_id: str
    job: Job
    every: timedelta


@dataclass(frozen=True, slots=True)
class Jobs:
    """What runs, and how often.

    Attributes:
        cycle: collect → score → diff → outbox, every ``cycle_every`` (``None``: no job
            ``cycle``; a bot with several venues runs one cycle per venue in ``more``).
        deliver: drain the outbox, every ``deliver_every``.
        digest_tick: send the digests that are due, every minute at second 0.
        retention: purge old history, daily at 03:17 UTC.
        lease: renew the collector lease, every ``lease_every`` (a collector only).
        more: further interval jobs (each venue's cycle when there are several).
    """

    cycle: Job | None
    deliver: Job
    digest_tick: Job
    retention: Job
    cycle_every: timedelta = timedelta(minutes=5)
    deliver_every: timedelta = timedelta(seconds=2)
    digest_every: timedelta | None = None  # None: every minute at second 0
    lease: Job | None = None  # renews the collector lease between cycles
    lease_every: timedelta = timedelta(seconds=30)
    more: tuple[IntervalJob, ...] = ()


class Schedule:
    """Owns the AsyncIOScheduler; start it from inside the running loop."""

    def __init__(self, jobs: Jobs) -> None:
        self._jobs = jobs
        self._scheduler = AsyncIOScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        )
        self._running: set[asyncio.Task[Any]] = set()

    def _tracked(self, name: str, job: Job) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                await job()
            finally:
                if task is not None:
                    self._running.discard(task)

        run.__name__ = name
        return run

    def start(self) -> None:
        """Add the jobs and start (call from inside the running event loop)."""
        j = self._jobs
        cycles = [] if j.cycle is None else [IntervalJob("cycle", j.cycle, j.cycle_every)]
        for each in (*cycles, *j.more):
            every_s = each.every.total_seconds()
            self._scheduler.add_job(
                self._tracked(each.job_id, each.job),
                IntervalTrigger(seconds=every_s, timezone="UTC"),
                id=each.job_id,
                next_run_time=datetime.now(UTC),  # the first run is at once, not an interval later
                misfire_grace_time=max(int(every_s // 2), 1),  # a run half an interval late is still useful
            )
        self._scheduler.add_job(
            self._tracked("deliver", j.deliver),
            IntervalTrigger(seconds=j.deliver_every.total_seconds(), timezone="UTC"),
            id="deliver",
        )
        digest_trigger = (
            CronTrigger(second=0, timezone="UTC")
            if j.digest_every is None
            else IntervalTrigger(seconds=j.digest_every.total_seconds(), timezone="UTC")
        )
        self._scheduler.add_job(self._tracked("digest", j.digest_tick), digest_trigger, id="digest")
        self._scheduler.add_job(
            self._tracked("retention", j.retention),
            CronTrigger(hour=3, minute=17, timezone="UTC"),
            id="retention",
            misfire_grace_time=3600,
        )
        if j.lease is not None:
            self._scheduler.add_job(
                self._tracked("lease", j.lease),
                IntervalTrigger(seconds=j.lease_every.total_seconds(), timezone="UTC"),
                id="lease",
            )
        self._scheduler.add_listener(
            self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR
        )
        self._scheduler.start()

    @staticmethod
    def _on_event(event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MAX_INSTANCES and event.job_id == "deliver":
            # Delivery drains a backlog at the platforms' pace across ticks: expected, not news.
            logger.debug("job deliver skipped: still draining the outbox")
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            logger.warning("job %s skipped: the previous run is still going", event.job_id)
        elif event.code == EVENT_JOB_MISSED:
            logger.warning("job %s missed its run time %s", event.job_id, event.scheduled_run_time)
        elif isinstance(event.exception, DpsError):
            logger.warning("job %s failed: %s", event.job_id, event.exception)  # expected faults: one line
        elif event.exception is not None:
            logger.error("job %s failed: %r\n%s", event.job_id, event.exception, event.traceback or "")

    def run_now(self, job_id: str) -> None:
        """Run a job at once (its interval carries on from there); e.g. ``cycle`` on a lease takeover."""
        self._scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))

    async def stop(self, grace: float = 30.0) -> None:
        """Stop scheduling, let running jobs finish (up to ``grace`` s), then shut down.

        A job still running then is cancelled, and awaited: one cancelled while a worker
        thread stores its cycle ends only once that transaction has (``bot.app.off_loop``),
        so the caller may close the database as soon as this returns.
        """
        self._scheduler.pause()
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=grace)
            for task in pending:
                logger.warning("abandoning a job still running after %.0fs", grace)
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        self._scheduler.shutdown(wait=False)
