"""The running system (``dps run``): start, schedule, stop.

With several venues and a collecting role, each venue is collected by a child process of
its own by default (``VENUE_PROCESSES=per-venue``, ``bot.venue_children``): this process
then keeps the commands, delivery, webhooks, the dashboard's child, the aggregate, the
digests and retention, and hears of each venue's stored cycle from its child.

Everything in a process runs in one event loop: the scheduler's jobs, the chat adapters,
and delivery. A cycle's blocking steps run in a worker thread (``bot.app.off_loop``), lease
renewals and the retention purge on writer threads, while the loop answers commands; a
stop waits for the step under way before the database is closed.
``bot.bootstrap`` builds every part; this module only runs them: it holds the leases,
starts and switches the chat adapters (``bot.ports.ChatAdapter``), schedules the jobs
and stops on a signal. It imports no adapter.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from functools import partial
from typing import TextIO

from bot import gc_policy, malloc_arenas
from bot.app.lease import Lease, collector_lease_name, release_leases_of_dead_child
from bot.app.off_loop import off_loop, write_off_loop
from bot.bootstrap import App, Collector, SourceTuning, SystemClock, build_app
from bot.config import Settings
from bot.core.records import ChatKind, ChatSettings, RetentionPolicy
from bot.errors import DpsError, LeaseLostError
from bot.ports import ChatAdapter, Clock, SnapshotStore
from bot.roles import Role
from bot.scheduler import IntervalJob, Job, Jobs, Schedule
from bot.venue_children import VenueChildren, start_venue_children
from bot.web_launch import start_web_child

logger = logging.getLogger(__name__)

AGGREGATE_JOB = "cycle:all"


async def _give_back() -> None:
    """After a cycle: the C heap's free pages back to the kernel, off the loop. glibc
    returns on its own only what is free at a heap's top; the free space a cycle leaves
    between live blocks stayed resident (``bot.malloc_arenas.give_back``)."""
    await off_loop(malloc_arenas.give_back)


async def _data_age(collector: Collector, now: datetime) -> str:
    """How old the venue's newest stored data is, for the STALE line: read off the loop, as
    the database may be what failed."""
    try:
        latest = await off_loop(collector.storage.snapshots.latest_snapshot_time, collector.exchange)
    except DpsError as exc:
        return f"unknown ({exc})"
    return f"{(now - latest).total_seconds() / 60:.0f} min old" if latest else "none stored"


class Process:
    """What one process does with its wired parts: the jobs, and the leases they run under.

    With several venues each has its own cycle job and collector lease, so one venue's
    trouble (down, banned, slow) only ever holds up its own cycle.

    Args:
        app: the parts (``bot.bootstrap.build_app``).
        backfill: backfill missing history before the first cycle this process runs (per venue).
        local: the venues whose cycles run here (default: every venue built); none when
            each runs in a child process (``bot.venue_children``), which holds its lease.
    """

    def __init__(self, app: App, *, backfill: bool = False, local: Collection[str] | None = None) -> None:
        self.app = app
        self.local = {c.exchange for c in app.collectors} if local is None else set(local)
        self._backfill_pending = set(self.local) if backfill else set()
        # Among several venues even when this process collects one of them (a per-venue child).
        self.several = len(app.collectors) > 1 or len(app.settings.exchanges) > 1
        # The aggregate (exchange ``all``): backfilled on its first run, like a venue.
        self._aggregate_backfill = backfill and app.aggregate is not None
        self._aggregate_inputs: dict[str, datetime | None] | None = None  # venue times it last read
        self._aggregate_at: datetime | None = None
        self._aggregate_waiting_since: datetime | None = None
        self._round: set[str] = set()  # venues collected here since the aggregate last ran
        self._starting: set[str] = set()  # venues in their start-up backfill here
        self.after_round: Callable[[], None] | None = None
        """Called when every venue this process collects has stored a cycle since the
        aggregate last ran (``run`` starts the aggregate's job then)."""
        self.on_cycle: Callable[[str, str], None] | None = None
        """Told of each venue cycle stored here: (venue, summary line)."""

    def housekeeps(self) -> bool:
        """Whether this process sends the digests and purges old history now: exactly one
        process does. With several venues, the aggregate's lease holder (a per-venue child
        never: its parent sums the venues); with one, the venue's (no lease: always)."""
        if self.app.aggregate is not None:
            lease = self.app.aggregate.lease
        elif self.several:
            return False  # a per-venue child (``COLLECT_VENUES``): its parent does it
        else:
            lease = self.app.collector.lease
        return lease is None or lease.held

    def local_collectors(self) -> list[Collector]:
        """The venues whose cycles this process runs."""
        return [c for c in self.app.collectors if c.exchange in self.local]

    def cycle_job(self, exchange: str) -> str:
        """The schedule's id of one venue's cycle: ``cycle``, or ``cycle:<venue>`` among several."""
        return f"cycle:{exchange}" if self.several else "cycle"

    async def renew_leases(self) -> list[str]:
        """Renew every lease and switch each chat's commands to match; the venues whose
        collector lease this process just took over (each should collect at once, not an
        interval later)."""
        now = self.app.clock.now()
        took_over = []
        for collector in self.local_collectors():  # a child holds its own venue's lease
            lease = collector.lease
            if lease is not None:
                was_held = lease.held
                if await lease.hold_off_loop(now) and not was_held:
                    took_over.append(collector.exchange)
        aggregate = self.app.aggregate
        if aggregate is not None and aggregate.lease is not None:
            await aggregate.lease.hold_off_loop(now)  # its job checks the venues often: no run_now needed
        for duty in self.app.chats:
            try:
                await duty.adapter.serve_commands(await duty.lease.hold_off_loop(now))
            except DpsError as exc:
                logger.warning("%s not switched: %s", duty.lease.name, exc)
        # A heartbeat for whoever digs (and for the multi-process tests, which wait on it).
        leases = [*self._collector_leases(), *(duty.lease for duty in self.app.chats)]
        logger.debug(
            "leases checked at %s: %s",
            now.isoformat(),
            ", ".join(f"{x.name} {'held' if x.held else 'standby'}" for x in leases),
        )
        return took_over

    def _collector_leases(self) -> list[Lease]:
        every = (*self.local_collectors(), *((self.app.aggregate,) if self.app.aggregate else ()))
        return [c.lease for c in every if c.lease is not None]

    async def cycle(self) -> None:
        """One collection cycle of the first venue, if this process holds its collector lease."""
        await self.venue_cycle(self.app.collector)

    async def venue_cycle(self, collector: Collector) -> None:
        """One collection cycle of ``collector``'s venue, if this process holds its lease."""
        now = self.app.clock.now()
        lease = collector.lease
        if lease is not None and not await lease.hold_off_loop(now):
            return  # standby: another process collects this exchange
        if collector.exchange in self._backfill_pending:
            # Only the lease holder backfills: a standby would fetch history for nothing.
            self._backfill_pending.discard(collector.exchange)
            self._starting.add(collector.exchange)
            try:
                await collector.cycle.backfill(now)
                await self._collect(collector, self.app.clock.now())
            finally:
                self._starting.discard(collector.exchange)
                # Start-up is over once every venue's markets are loaded and backfill done: one
                # full collection then, not one per venue.
                if not self._backfill_pending:
                    gc_policy.after_start()
            return
        await self._collect(collector, now)

    async def _collect(self, collector: Collector, now: datetime) -> None:
        app = self.app
        venue = f"{collector.exchange}: " if self.several else ""  # whose cycle, among several
        try:
            report = await collector.cycle.run(now)
        except LeaseLostError as exc:
            logger.warning("%s: another process collects now", exc)
            return
        except DpsError as exc:
            logger.warning(
                "%sSTALE: cycle failed (%s); latest data %s", venue, exc, await _data_age(collector, now)
            )
            return
        if collector is not app.aggregate:
            app.last_cycle.record(report.log_line(), collector.exchange)
            self._venue_done(collector.exchange, now)
            if self.on_cycle is not None:
                self.on_cycle(collector.exchange, report.log_line())
        logger.info("%s%s", venue, report.log_line())
        stale = report.failures.get("stale", 0)
        if stale or not report.scored:
            # Silent stalls are what traders fear most: say it loudly, every cycle it lasts.
            logger.warning(
                "%sSTALE: %d symbols returned old data and %d were scored this cycle",
                venue,
                stale,
                report.scored,
            )
        try:
            # The next command finds this market read (``Queries.refresh``), off the loop.
            await off_loop(app.commands.queries.refresh, collector.exchange)
        except DpsError as exc:  # the cycle is stored; the next command reads the market itself
            logger.debug("%smarket not read after the cycle: %s", venue, exc)
        await _give_back()

    async def child_cycle(self, exchange: str, line: str) -> None:
        """A per-venue child stored a cycle of ``exchange`` (its summary ``line``): as if this
        process had (``/status``, the round that starts the aggregate, the shown market)."""
        self.app.last_cycle.record(line, exchange)
        self._venue_done(exchange, self.app.clock.now())
        try:
            await off_loop(self.app.commands.queries.refresh, exchange)
        except DpsError as exc:  # the cycle is stored; the next command reads the market itself
            logger.debug("%s: market not read after its child's cycle: %s", exchange, exc)
        await _give_back()

    async def child_exited(self, exchange: str, pid: int) -> None:
        """``exchange``'s child process ``pid`` died: give up the leases it held (its venue's,
        and the aggregate's if it was that one's holder), so that its replacement collects at
        its first cycle rather than a lease period later."""
        names = [collector_lease_name(exchange)]
        if self.app.aggregate is not None:
            names.append(collector_lease_name(self.app.aggregate.exchange))
        leases = self.app.collector.storage.leases
        released = await write_off_loop(None, release_leases_of_dead_child, leases, names, pid)
        if released:
            logger.info("released %s, held by %s's dead child (%d)", ", ".join(released), exchange, pid)

    def _venue_done(self, exchange: str, now: datetime) -> None:
        if self.app.aggregate is None or self.after_round is None:
            return
        self._round.add(exchange)
        # A venue collected by a child counts as this process's: the child holds its lease.
        mine = {
            c.exchange
            for c in self.app.collectors
            if c.exchange not in self.local or c.lease is None or c.lease.held
        }
        if mine <= self._round:
            self._round.clear()
            self.after_round()

    async def aggregate_cycle(self) -> None:
        """One cycle of the cross-venue aggregate, when the venues stored something new.

        It runs once every venue has a cycle newer than those it last summed (a round), or
        when a venue lags and an interval passed since its last run: one venue down never
        stops it. Its first run waits for this process's venues to finish their start-up
        backfill, then for every venue's first fresh cycle (its members and history come
        from them) or two intervals, whichever is sooner.
        """
        aggregate = self.app.aggregate
        if aggregate is None:
            return
        now = self.app.clock.now()
        if aggregate.lease is not None and not await aggregate.lease.hold_off_loop(now):
            return  # another process sums the venues
        interval = timedelta(seconds=self.app.settings.collect_interval)
        snapshots = aggregate.storage.snapshots
        # Off the loop: it runs four times an interval, and commands answer meanwhile.
        times = await off_loop(self._venue_times, snapshots)
        fresh = [v for v, t in times.items() if t is not None and t >= now - 2 * interval]
        last = self._aggregate_inputs
        if last is None or self._aggregate_at is None:
            # Members are read from fresh cycles: a venue still backfilling here would join
            # only an hour later, its OI then read as new positions.
            if self._starting or not fresh:
                return
            if len(fresh) < len(times):
                self._aggregate_waiting_since = self._aggregate_waiting_since or now
                if now - self._aggregate_waiting_since < 2 * interval:
                    return
        else:
            newer = [v for v, t in times.items() if t is not None and ((o := last.get(v)) is None or t > o)]
            if not newer:
                return
            if len(newer) < len(times) and now - self._aggregate_at < interval:
                return
        self._aggregate_inputs, self._aggregate_at = times, now
        if self._aggregate_backfill:
            self._aggregate_backfill = False
            await aggregate.cycle.backfill(now)
        await self._collect(aggregate, now)

    def _venue_times(self, snapshots: SnapshotStore) -> dict[str, datetime | None]:
        """Each venue's newest stored snapshot time."""
        return {c.exchange: snapshots.latest_snapshot_time(c.exchange) for c in self.app.collectors}

    async def deliver(self) -> None:
        """Drain the outbox through this process's chats."""
        clock = self.app.clock
        since = clock.now()  # every claim of this drain is at or after it
        report = await self.app.delivery.drain_backlog(clock.now)
        if report.handled:
            logger.info("delivered %d (retrying %d, gave up %d)", report.sent, report.retrying, report.failed)
        logger.debug("outbox drained from %s", since.isoformat())

    async def digest_tick(self) -> None:
        """Enqueue the digests that are due (one process: ``housekeeps``)."""
        if self.housekeeps():
            await self.app.digest.tick(self.app.clock.now())

    async def retention(self) -> None:
        """Purge old history (one process: ``housekeeps``)."""
        if not self.housekeeps():
            return
        s = self.app.settings
        policy = RetentionPolicy(
            snapshots=timedelta(days=s.snapshot_retention_days), scores=timedelta(days=s.score_retention_days)
        )
        # A purge deletes many rows: on a worker thread, so commands keep answering.
        report = await off_loop(self.app.collector.storage.retention.purge, policy, self.app.clock.now())
        logger.info("retention: %s", report)

    async def start_chats(self) -> None:
        """Start this role's chat adapters, each answering commands if it holds their lease."""
        started: list[ChatAdapter] = []
        try:
            for duty in self.app.chats:
                await duty.adapter.start(await duty.lease.hold_off_loop(self.app.clock.now()))
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
        for lease in (*self._collector_leases(), *(duty.lease for duty in self.app.chats)):
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
    cycle_every = timedelta(seconds=s.collect_interval / speed)
    # Several venues: a cycle job each, never one job awaiting them all together.
    venues = process.several and role.collects
    more = tuple(
        IntervalJob(process.cycle_job(c.exchange), partial(process.venue_cycle, c), cycle_every)
        for c in process.local_collectors()
        if venues
    )
    if venues and process.app.aggregate is not None:
        # Checks often, runs after each round of the venues (``Process.aggregate_cycle``).
        more += (IntervalJob(AGGREGATE_JOB, process.aggregate_cycle, cycle_every / 4),)
    return Jobs(
        None if venues else process.cycle if role.collects else _idle,
        process.deliver if delivers else _idle,
        process.digest_tick if role.collects else _idle,
        process.retention if role.collects else _idle,
        cycle_every=cycle_every,
        digest_every=digest_every or (None if speed == 1.0 else timedelta(seconds=60 / speed)),
        lease=lease if role.collects or process.app.chats else None,
        lease_every=lease_ttl / 3 / speed,
        more=more,
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
    on_cycle: Callable[[str, str], None] | None = None,
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
        on_cycle: told of each venue's stored cycle (venue, summary line); a per-venue
            child tells its parent so.
    """
    malloc_arenas.tune()  # before build_app starts the threads
    app = build_app(settings, clock=clock or SystemClock(), role=role, out=out, tuning=tuning)
    split = role.collects and settings.venue_children
    process = Process(app, backfill=role.collects, local=() if split else None)
    process.on_cycle = on_cycle
    children: VenueChildren | None = None
    try:
        await process.start_chats()
        web = start_web_child(app)  # the dashboard's own process, only with WEB_PORT
        if split:  # each venue collected by a child process of its own
            children = start_venue_children(settings, process.child_cycle, on_exit=process.child_exited)
    except BaseException:
        if children is not None:
            await children.stop()
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
    logger.info("role %s: %s", role.value, _role_text(role, app, split))
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
        for exchange in await process.renew_leases():
            schedule.run_now(process.cycle_job(exchange))  # a standby that just took over collects now

    schedule = Schedule(_jobs(process, role, delivers, speed, digest_every, renew_leases))
    if process.several and role.collects and app.aggregate is not None:
        # In-process, or told by the venues' children (``Process.child_cycle``).
        process.after_round = partial(schedule.run_now, AGGREGATE_JOB)
    schedule.start()
    console = None
    if role is Role.ALL and not app.chats:
        source = console_input if console_input is not None else (sys.stdin if sys.stdin.isatty() else None)
        console = asyncio.create_task(app.console.run(source)) if source is not None else None
    await stop.wait()
    logger.info("stopping: letting the current job finish")
    process.after_round = None  # a child's last cycles start no aggregate on a stopping schedule
    # The children stop beside this process's own jobs, not after them: one service stop
    # (systemd's TimeoutStopSec) covers both.
    children_stopped = asyncio.create_task(children.stop()) if children is not None else None
    await schedule.stop()
    if console is not None:
        console.cancel()
        await asyncio.gather(console, return_exceptions=True)
    if delivers:
        await process.deliver()  # flush what is due
    await process.stop_chats()
    if web is not None:
        await web.stop()
    if children_stopped is not None:
        await children_stopped
    process.release_leases()
    await app.close()
    logger.info("stopped")
    return 0


def _role_text(role: Role, app: App, split: bool) -> str:
    chats = ", ".join(d.adapter.platform.value for d in app.chats) or (
        "console" if role is Role.ALL else "none"
    )
    venues = ", ".join(c.exchange for c in app.collectors)
    where = "each in a child process of its own" if split else "each"
    several = f"collects {venues}, {where} under its own lease" + (
        ", and sums them per asset under collector:all" if app.aggregate is not None else ""
    )
    collects = (
        "does not collect"
        if not role.collects
        else several
        if len(app.collectors) > 1
        else "collects under the lease"
    )
    return f"{collects}; chats: {chats}"
