"""The running system (``dps run``): start, schedule, stop.

Everything runs in one event loop: the scheduler's jobs, the chat adapters, and delivery;
a cycle's blocking steps run in a worker thread (``bot.app.off_loop``) while the loop
answers commands, and a stop waits for the one under way before the database is closed.
``bot.bootstrap`` builds every part; this module only runs them: it holds the leases,
starts and switches the chat adapters (``bot.ports.ChatAdapter``), schedules the jobs
and stops on a signal. It imports no adapter.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import datetime, timedelta
from typing import TextIO

from bot import gc_policy
from bot.bootstrap import App, SourceTuning, SystemClock, build_app
from bot.config import Settings
from bot.core.records import ChatKind, ChatSettings, RetentionPolicy
from bot.errors import DpsError, LeaseLostError
from bot.ports import ChatAdapter, Clock
from bot.roles import Role
from bot.scheduler import Job, Jobs, Schedule
from bot.web_launch import start_web

logger = logging.getLogger(__name__)


class Process:
    """What one process does with its wired parts: the jobs, and the leases they run under.

    Args:
        app: the parts (``bot.bootstrap.build_app``).
        backfill: backfill missing history before the first cycle this process runs.
    """

    def __init__(self, app: App, *, backfill: bool = False) -> None:
        self.app = app
        self._backfill_pending = backfill

    def collects(self) -> bool:
        """Whether this process is the collector now (no lease: always)."""
        lease = self.app.collector.lease
        return lease is None or lease.held

    async def renew_leases(self) -> bool:
        """Renew every lease and switch each chat's commands to match; whether this
        process just took the collector lease over (it should collect at once, not an
        interval later)."""
        now = self.app.clock.now()
        lease = self.app.collector.lease
        took_over = False
        if lease is not None:
            was_held = lease.held
            took_over = lease.hold(now) and not was_held
        for duty in self.app.chats:
            try:
                await duty.adapter.serve_commands(duty.lease.hold(now))
            except DpsError as exc:
                logger.warning("%s not switched: %s", duty.lease.name, exc)
        # A heartbeat for whoever digs (and for the multi-process tests, which wait on it).
        leases = [x for x in (lease, *(duty.lease for duty in self.app.chats)) if x is not None]
        logger.debug(
            "leases checked at %s: %s",
            now.isoformat(),
            ", ".join(f"{x.name} {'held' if x.held else 'standby'}" for x in leases),
        )
        return took_over

    async def cycle(self) -> None:
        """One collection cycle, if this process holds the collector lease."""
        app = self.app
        now = app.clock.now()
        lease = app.collector.lease
        if lease is not None and not lease.hold(now):
            return  # standby: another process collects this exchange
        if self._backfill_pending:
            # Only the lease holder backfills: a standby would fetch history for nothing.
            self._backfill_pending = False
            try:
                await app.collector.cycle.backfill(now)
                await self._collect(app.clock.now())
            finally:
                # Start-up is over only now: the markets are loaded and the backfill done.
                gc_policy.after_start()
            return
        await self._collect(now)

    async def _collect(self, now: datetime) -> None:
        app = self.app
        try:
            report = await app.collector.cycle.run(now)
        except LeaseLostError as exc:
            logger.warning("%s: another process collects now", exc)
            return
        except DpsError as exc:
            latest = app.collector.storage.snapshots.latest_snapshot_time(app.collector.exchange)
            age = f"{(now - latest).total_seconds() / 60:.0f} min old" if latest else "none stored"
            logger.warning("STALE: cycle failed (%s); latest data %s", exc, age)
            return
        app.last_cycle.record(report.log_line())
        logger.info("%s", report.log_line())
        stale = report.failures.get("stale", 0)
        if stale or not report.scored:
            # Silent stalls are what traders fear most: say it loudly, every cycle it lasts.
            logger.warning(
                "STALE: %d symbols returned old data and %d were scored this cycle", stale, report.scored
            )

    async def deliver(self) -> None:
        """Drain the outbox through this process's chats."""
        clock = self.app.clock
        since = clock.now()  # every claim of this drain is at or after it
        report = await self.app.delivery.drain_backlog(clock.now)
        if report.handled:
            logger.info("delivered %d (retrying %d, gave up %d)", report.sent, report.retrying, report.failed)
        logger.debug("outbox drained from %s", since.isoformat())

    async def digest_tick(self) -> None:
        """Enqueue the digests that are due (the collector only)."""
        if self.collects():
            await self.app.digest.tick(self.app.clock.now())

    async def retention(self) -> None:
        """Purge old history (the collector only)."""
        if not self.collects():
            return
        s = self.app.settings
        policy = RetentionPolicy(
            snapshots=timedelta(days=s.snapshot_retention_days), scores=timedelta(days=s.score_retention_days)
        )
        report = self.app.collector.storage.retention.purge(policy, self.app.clock.now())
        logger.info("retention: %s", report)

    async def start_chats(self) -> None:
        """Start this role's chat adapters, each answering commands if it holds their lease."""
        started: list[ChatAdapter] = []
        try:
            for duty in self.app.chats:
                await duty.adapter.start(duty.lease.hold(self.app.clock.now()))
                started.append(duty.adapter)
        except BaseException:
            for adapter in started:
                await adapter.stop()
            self.release_leases()  # a standby need not wait the lease out after a failed start
            raise

    async def stop_chats(self) -> None:
        """Stop every chat adapter."""
        for duty in self.app.chats:
            await duty.adapter.stop()

    def release_leases(self) -> None:
        """Give every lease up, so a standby takes over at once."""
        for lease in (self.app.collector.lease, *(duty.lease for duty in self.app.chats)):
            if lease is not None:
                lease.release()


async def _idle() -> None:
    return None


def _jobs(
    process: Process,
    role: Role,
    delivers: bool,
    speed: float,
    digest_every: timedelta | None,
    lease: Job | None,
) -> Jobs:
    """The schedule of one role: a collector collects, a chat process delivers, ``all`` both."""
    s = process.app.settings
    lease_ttl = timedelta(seconds=s.collector_lease_seconds)
    return Jobs(
        process.cycle if role.collects else _idle,
        process.deliver if delivers else _idle,
        process.digest_tick if role.collects else _idle,
        process.retention if role.collects else _idle,
        cycle_every=timedelta(seconds=s.collect_interval / speed),
        digest_every=digest_every or (None if speed == 1.0 else timedelta(seconds=60 / speed)),
        lease=lease if role.collects or process.app.chats else None,
        lease_every=lease_ttl / 3 / speed,
    )


async def run(
    settings: Settings,
    *,
    role: Role = Role.ALL,
    stop: asyncio.Event | None = None,
    console_input: TextIO | None = None,
    out: TextIO | None = None,
    digest_every: timedelta | None = None,
    clock: Clock | None = None,
    speed: float = 1.0,
    tuning: SourceTuning | None = None,
) -> int:
    """``dps run``: collect (under the collector lease) and serve the chats, per ``role``.

    Args:
        settings: the validated settings.
        role: ``all`` (the default: everything in one process), ``collector``, ``telegram``
            or ``discord``; several processes with different roles share one database.
        stop: set it to stop; by default SIGINT and SIGTERM do.
        console_input: where console commands come from (default: stdin when it is a terminal).
        out: where the console prints (default stdout).
        digest_every: digest tick period (default: every minute at second 0).
        clock: the application's clock (default: the system clock).
        speed: how many times faster than wall time ``clock`` runs; the cycle and digest
            schedule shrink by it. Only the soak harness (``tests/soak``) runs faster.
        tuning: the exchange client's timings (default: production's).
    """
    app = build_app(settings, clock=clock or SystemClock(), role=role, out=out, tuning=tuning)
    process = Process(app, backfill=role.collects)
    try:
        await process.start_chats()
        web = await start_web(app)  # the dashboard, only with WEB_PORT
    except BaseException:
        await app.close()  # release the exchange session even when start-up fails
        raise
    if not app.chats and role is Role.ALL:
        logger.info("no chat adapter with a token: using the console adapter")
        app.collector.storage.chats.ensure_chat(
            app.console.chat,
            kind=ChatKind.PRIVATE,
            now=app.clock.now(),
            timezone=settings.digest_timezone,
            defaults=ChatSettings(digest_enabled=True, digest_time=settings.digest_time),
        )
    logger.info("role %s: %s", role.value, _role_text(role, app))
    # A collector freezes again after its first cycle (markets, backfill): Process.cycle.
    gc_policy.after_start()
    loop = asyncio.get_running_loop()
    signals = stop is None
    stop = stop or asyncio.Event()
    if signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    delivers = bool(app.chats) or role is Role.ALL or app.webhooks is not None

    async def renew_leases() -> None:
        if await process.renew_leases():
            schedule.run_now("cycle")  # a standby that just took over collects now

    schedule = Schedule(_jobs(process, role, delivers, speed, digest_every, renew_leases))
    schedule.start()
    console = None
    if role is Role.ALL and not app.chats:
        source = console_input if console_input is not None else (sys.stdin if sys.stdin.isatty() else None)
        console = asyncio.create_task(app.console.run(source)) if source is not None else None
    await stop.wait()
    logger.info("stopping: letting the current job finish")
    await schedule.stop()
    if console is not None:
        console.cancel()
        await asyncio.gather(console, return_exceptions=True)
    if delivers:
        await process.deliver()  # flush what is due
    await process.stop_chats()
    if web is not None:
        await web.stop()
    process.release_leases()
    await app.close()
    logger.info("stopped")
    return 0


def _role_text(role: Role, app: App) -> str:
    chats = ", ".join(d.adapter.platform.value for d in app.chats) or (
        "console" if role is Role.ALL else "none"
    )
    collects = "collects under the lease" if role.collects else "does not collect"
    return f"{collects}; chats: {chats}"
