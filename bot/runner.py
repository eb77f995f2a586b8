"""The running system: ``dps run`` and ``make demo`` (``dps demo --live``).

Everything runs in one event loop: the scheduler's jobs, the chat adapter, and delivery.
Part of the composition root: only ``bot.cli`` imports it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol, TextIO

from bot.app.commands import CommandLayer, CommandPorts
from bot.app.delivery import Delivery
from bot.app.digest import DigestJob
from bot.app.lease import Lease, collector_lease, commands_lease
from bot.bootstrap import Collector, build_collector, state_store
from bot.chat.console_adapter import CONSOLE_CHAT, ConsoleAdapter
from bot.chat.discord_adapter import DiscordAdapter
from bot.chat.telegram_adapter import TelegramAdapter, broadcast_limiter
from bot.collector.client import SourceTuning
from bot.collector.replay_source import ReplaySource
from bot.config import Settings
from bot.core.delivery import PartAccepted, SendOutcome
from bot.core.document import Document
from bot.core.records import ChatKey, ChatKind, ChatSettings, Platform, RetentionPolicy
from bot.errors import ConfigError, DpsError, LeaseLostError
from bot.ports import Clock, StateStore
from bot.render.chart import digest_chart, render_chart
from bot.render.documents import digest_document
from bot.scheduler import Jobs, Schedule

logger = logging.getLogger(__name__)


class SystemClock:
    """Wall-clock UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class ReplayClock:
    """The demo's accelerated clock: one replay step per cycle."""

    current: datetime

    def now(self) -> datetime:
        return self.current


class Role(StrEnum):
    """What one ``dps run`` process does (``--role``)."""

    ALL = "all"  # everything: collect (under the lease), commands, delivery
    COLLECTOR = "collector"  # collect, score, diff, enqueue alerts and digests
    TELEGRAM = "telegram"  # Telegram commands and delivery
    DISCORD = "discord"  # Discord commands and delivery

    @property
    def collects(self) -> bool:
        return self in (Role.ALL, Role.COLLECTOR)


class ChatAdapter(Protocol):
    """A chat platform served by this process: commands in, replies and outbox messages out."""

    platform: Platform

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(
        self,
        chat: ChatKey,
        document: Document,
        attachment: bytes | None = None,
        *,
        start: int = 0,
        on_part: PartAccepted | None = None,
    ) -> SendOutcome: ...


def chat_adapters(
    settings: Settings,
    commands: CommandLayer,
    clock: Clock,
    role: Role = Role.ALL,
    *,
    state: StateStore | None = None,
) -> list[ChatAdapter]:
    """The adapters this process runs: for ``all``, every platform whose token is set.

    ``state`` keeps the hash of the synced Discord commands, so a restart with the same
    command set does not sync again.
    """
    telegram, discord = settings.telegram_bot_token, settings.discord_bot_token
    if role is Role.TELEGRAM and telegram is None:
        raise ConfigError("--role telegram needs TELEGRAM_BOT_TOKEN")
    if role is Role.DISCORD and discord is None:
        raise ConfigError("--role discord needs DISCORD_BOT_TOKEN")
    adapters: list[ChatAdapter] = []
    if telegram is not None and role in (Role.ALL, Role.TELEGRAM):
        adapters.append(
            TelegramAdapter(
                commands,
                clock,
                token=telegram.get_secret_value(),
                base_url=settings.telegram_base_url,
                rate_limiter=broadcast_limiter(settings.telegram_max_rate),
            )
        )
    if discord is not None and role in (Role.ALL, Role.DISCORD):
        adapters.append(
            DiscordAdapter(commands, clock, token=discord.get_secret_value(), command_state=state)
        )
    return adapters


@dataclass
class App:
    """Every running part, wired."""

    settings: Settings
    collector: Collector
    delivery: Delivery
    digest: DigestJob
    commands: CommandLayer
    console: ConsoleAdapter
    clock: Clock
    last_line: list[str] = field(default_factory=list)
    lease: Lease | None = None
    backfill_pending: bool = False
    on_takeover: Callable[[], None] | None = None
    # Chat duties one process per bot may do (answer commands), each behind its lease.
    duties: list[tuple[Lease, Callable[[bool], Awaitable[None]]]] = field(default_factory=list)

    def collects(self) -> bool:
        """Whether this process is the collector now (no lease: always)."""
        return self.lease is None or self.lease.held

    async def renew_lease(self) -> None:
        now = self.clock.now()
        if self.lease is not None:
            was_held = self.lease.held
            if self.lease.hold(now) and not was_held and self.on_takeover is not None:
                self.on_takeover()  # a standby that just took over collects now, not an interval later
        for lease, switch in self.duties:
            try:
                await switch(lease.hold(now))
            except DpsError as exc:
                logger.warning("%s not switched: %s", lease.name, exc)
        # A heartbeat for whoever digs (and for the multi-process tests, which wait on it).
        leases = [x for x in (self.lease, *(lease for lease, _ in self.duties)) if x is not None]
        logger.debug(
            "leases checked at %s: %s",
            now.isoformat(),
            ", ".join(f"{x.name} {'held' if x.held else 'standby'}" for x in leases),
        )

    async def cycle(self) -> None:
        now = self.clock.now()
        if self.lease is not None and not self.lease.hold(now):
            return  # standby: another process collects this exchange
        if self.backfill_pending:
            # Only the lease holder backfills: a standby would fetch history for nothing.
            self.backfill_pending = False
            await self.collector.cycle.backfill(now)
            now = self.clock.now()
        try:
            report = await self.collector.cycle.run(now)
        except LeaseLostError as exc:
            logger.warning("%s: another process collects now", exc)
            return
        except DpsError as exc:
            latest = self.collector.storage.snapshots.latest_snapshot_time(self.collector.exchange)
            age = f"{(now - latest).total_seconds() / 60:.0f} min old" if latest else "none stored"
            logger.warning("STALE: cycle failed (%s); latest data %s", exc, age)
            return
        self.last_line[:] = [report.log_line()]
        logger.info("%s", report.log_line())
        stale = report.failures.get("stale", 0)
        if stale or not report.scored:
            # Silent stalls are what traders fear most: say it loudly, every cycle it lasts.
            logger.warning(
                "STALE: %d symbols returned old data and %d were scored this cycle", stale, report.scored
            )

    async def deliver(self) -> None:
        since = self.clock.now()  # every claim of this drain is at or after it
        report = await self.delivery.drain_backlog(self.clock.now)
        if report.handled:
            logger.info("delivered %d (retrying %d, gave up %d)", report.sent, report.retrying, report.failed)
        logger.debug("outbox drained from %s", since.isoformat())

    async def digest_tick(self) -> None:
        if self.collects():
            self.digest.tick(self.clock.now())

    async def retention(self) -> None:
        if not self.collects():
            return
        s = self.settings
        policy = RetentionPolicy(
            snapshots=timedelta(days=s.snapshot_retention_days), scores=timedelta(days=s.score_retention_days)
        )
        report = self.collector.storage.retention.purge(policy, self.clock.now())
        logger.info("retention: %s", report)

    async def close(self) -> None:
        await self.collector.close()


def build_app(
    settings: Settings,
    *,
    replay: bool,
    clock: Clock,
    out: TextIO | None = None,
    chart_dir: Path = Path("data/charts"),
    tuning: SourceTuning | None = None,
) -> App:
    """Wire storage, source, cycle, delivery, digest, the command layer and the console."""
    collector = build_collector(settings, replay=replay, tuning=tuning)
    storage = collector.storage
    label = collector.label if replay else None
    last: list[str] = []
    commands = CommandLayer(
        CommandPorts(
            chats=storage.chats, scores=storage.scores, snapshots=storage.snapshots, outbox=storage.outbox
        ),
        exchange=collector.exchange,
        source_label=label,
        admin_ids=settings.admin_ids,
        band_floors=settings.scoring.to_params().band_floors,
        collect_interval=timedelta(seconds=settings.collect_interval),
        chart=render_chart,
        default_settings=ChatSettings(digest_time=settings.digest_time),
        default_timezone=settings.digest_timezone,
        last_cycle=lambda: last[0] if last else None,
        track_keep=timedelta(days=settings.snapshot_retention_days),
    )
    console = ConsoleAdapter(commands, clock, chart_dir=chart_dir, out=out)
    delivery = Delivery(storage.outbox, storage.chats, {Platform.CONSOLE: console})
    digest = DigestJob(
        collector.exchange,
        storage.chats,
        storage.scores,
        storage.outbox,
        storage.digests,
        digest_document,
        label,
        chart=digest_chart,
    )
    return App(settings, collector, delivery, digest, commands, console, clock, last)


async def _idle() -> None:
    return None


async def _start_chats(app: App, settings: Settings, role: Role) -> list[ChatAdapter]:
    """Start this role's chat adapters and route delivery through them (the console if none)."""
    adapters = chat_adapters(
        settings, app.commands, app.clock, role, state=state_store(app.collector.storage)
    )
    started: list[ChatAdapter] = []
    ttl = timedelta(seconds=settings.collector_lease_seconds)
    try:
        for adapter in adapters:
            # One process per bot answers its commands (Telegram allows one poller; two
            # Discord gateway connections would both answer): the holder of the platform's
            # commands lease. Every process delivers.
            lease = commands_lease(app.collector.storage.leases, adapter.platform.value, ttl=ttl)
            answers = lease.hold(app.clock.now())
            if isinstance(adapter, TelegramAdapter):
                app.duties.append((lease, adapter.poll))
                await adapter.start(poll=answers)
            elif isinstance(adapter, DiscordAdapter):
                app.duties.append((lease, adapter.gateway))
                await adapter.start(gateway=answers)
            else:
                await adapter.start()
            started.append(adapter)
    except BaseException:
        for adapter in started:
            await adapter.stop()
        for lease, _ in app.duties:
            lease.release()  # a standby need not wait the lease out after a failed start
        raise
    if adapters:
        sinks = {adapter.platform: adapter for adapter in adapters}
        app.delivery = Delivery(app.collector.storage.outbox, app.collector.storage.chats, sinks)
    elif role is Role.ALL:
        logger.info("no chat adapter with a token: using the console adapter")
        app.collector.storage.chats.ensure_chat(
            CONSOLE_CHAT,
            kind=ChatKind.PRIVATE,
            now=app.clock.now(),
            timezone=settings.digest_timezone,
            defaults=ChatSettings(digest_enabled=True, digest_time=settings.digest_time),
        )
    return adapters


def _jobs(app: App, role: Role, delivers: bool, speed: float, digest_every: timedelta | None) -> Jobs:
    """The schedule of one role: a collector collects, a chat process delivers, ``all`` both."""
    s = app.settings
    lease_ttl = timedelta(seconds=s.collector_lease_seconds)
    return Jobs(
        app.cycle if role.collects else _idle,
        app.deliver if delivers else _idle,
        app.digest_tick if role.collects else _idle,
        app.retention if role.collects else _idle,
        cycle_every=timedelta(seconds=s.collect_interval / speed),
        digest_every=digest_every or (None if speed == 1.0 else timedelta(seconds=60 / speed)),
        lease=app.renew_lease if role.collects or app.duties else None,
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
    app = build_app(settings, replay=False, clock=clock or SystemClock(), out=out, tuning=tuning)
    try:
        adapters = await _start_chats(app, settings, role)
    except BaseException:
        await app.close()  # release the exchange session even when start-up fails
        raise
    if role.collects:
        ttl = timedelta(seconds=settings.collector_lease_seconds)
        app.lease = collector_lease(app.collector.storage.leases, app.collector.exchange, ttl=ttl)
        app.collector.cycle.fence = app.lease.claim
        app.backfill_pending = True
    logger.info("role %s: %s", role.value, _role_text(role, adapters))
    gc.freeze()  # start-up objects never die; keeps full collections off the /top p99
    loop = asyncio.get_running_loop()
    signals = stop is None
    stop = stop or asyncio.Event()
    if signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    delivers = bool(adapters) or role is Role.ALL
    schedule = Schedule(_jobs(app, role, delivers, speed, digest_every))
    schedule.start()
    if role.collects:
        app.on_takeover = lambda: schedule.run_now("cycle")
    console = None
    if role is Role.ALL and not adapters:
        source = console_input if console_input is not None else (sys.stdin if sys.stdin.isatty() else None)
        console = asyncio.create_task(app.console.run(source)) if source is not None else None
    await stop.wait()
    logger.info("stopping: letting the current job finish")
    await schedule.stop()
    if console is not None:
        console.cancel()
        await asyncio.gather(console, return_exceptions=True)
    if delivers:
        await app.deliver()  # flush what is due
    for adapter in adapters:
        await adapter.stop()
    for lease in (app.lease, *(lease for lease, _ in app.duties)):
        if lease is not None:
            lease.release()  # a standby takes over at once
    await app.close()
    logger.info("stopped")
    return 0


def _role_text(role: Role, adapters: list[ChatAdapter]) -> str:
    chats = ", ".join(a.platform.value for a in adapters) or ("console" if role is Role.ALL else "none")
    collects = "collects under the lease" if role.collects else "does not collect"
    return f"{collects}; chats: {chats}"


async def one_shot(settings: Settings, line: str) -> str:
    """Answer one command from the store through the same command layer as the chats."""
    app = build_app(settings, replay=False, clock=SystemClock())
    try:
        return await app.console.handle_line(line) or ""
    finally:
        await app.close()


async def sync_discord_commands(settings: Settings) -> int:
    """``dps discord sync``: sync the slash commands now, changed or not; how many Discord has.

    Raises:
        ConfigError: no ``DISCORD_BOT_TOKEN``.
        ChatPlatformError: Discord refused the token or the commands, or is unreachable.
    """
    token = settings.discord_bot_token
    if token is None:
        raise ConfigError("dps discord sync needs DISCORD_BOT_TOKEN")
    app = build_app(settings, replay=False, clock=SystemClock())
    try:
        adapter = DiscordAdapter(
            app.commands,
            app.clock,
            token=token.get_secret_value(),
            command_state=state_store(app.collector.storage),
        )
        return await adapter.sync_commands()
    finally:
        await app.close()


async def data_is_fresh(settings: Settings) -> bool:
    """Whether the newest stored collection is younger than two intervals (``dps status``'s exit)."""
    app = build_app(settings, replay=False, clock=SystemClock())
    try:
        status = app.commands.queries.status(app.clock.now(), None)
        return status.last_collection is not None and not status.stale
    finally:
        await app.close()


DEMO_DIGEST_AT = time(8, 0)


async def demo(settings: Settings, *, interactive: bool, out: TextIO | None = None) -> int:
    """``make demo``: the whole pipeline on the synthetic replay with an accelerated clock."""
    clock = ReplayClock(datetime.min.replace(tzinfo=UTC))
    app = build_app(settings, replay=True, clock=clock, out=out)
    source = app.collector.source
    if not isinstance(source, ReplaySource):
        raise TypeError("the demo needs the replay source")
    market = source.market
    start = market.first_time_with_history(24)
    end = market.times()[-1]
    if start is None:
        raise RuntimeError("the replay market holds less than a day of history")
    clock.current = start
    chats = app.collector.storage.chats
    chat = chats.ensure_chat(CONSOLE_CHAT, kind=ChatKind.PRIVATE, now=start)
    chats.save_settings(chat.ref, ChatSettings(digest_enabled=True, digest_time=DEMO_DIGEST_AT))
    say = app.console.print
    say(f"Derivatives Pressure Score — demo on the {app.collector.label}.")
    say("This market is SYNTHETIC: generated from the seed dashboard, not real trading data.")
    say(f"Replaying {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC, one 5-minute cycle per tick.\n")
    await app.collector.cycle.backfill(start)

    steps = [t for t in market.times() if t >= start]
    done = asyncio.Event()
    it = iter(steps)

    async def tick() -> None:  # one replay step: cycle, digest, delivery, on the replay clock
        moment = next(it, None)
        if moment is None:
            done.set()
            return
        clock.current = moment
        await app.cycle()
        app.digest.tick(moment)
        await app.deliver()

    async def idle() -> None:
        return None

    # The demo ticks as fast as it can: runs skipped because the last is still going are
    # expected here, not news, so the scheduler's skip warnings are muted for the demo.
    logging.getLogger("bot.scheduler").setLevel(logging.ERROR)
    schedule = Schedule(Jobs(tick, idle, idle, idle, cycle_every=timedelta(seconds=0.02)))
    schedule.start()
    await done.wait()
    await schedule.stop()
    say(f"\nReplay finished: {app.last_line[0] if app.last_line else ''}\n")
    for line in ("/top 10", "/score spk", "/status"):
        say(f"> {line}")
        say(await app.console.handle_line(line) or "")
    if interactive:
        say("\nType commands (/help, /score btc, /top 5 short, /chart spk); Ctrl-D to quit.")
        await app.console.run()
    await app.close()
    return 0
