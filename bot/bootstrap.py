"""Composition root: settings → storage → source → cycle → commands → chats → delivery → digest.

The only module that knows the concrete adapters; each part is built once, complete, in
``build_app`` and never patched afterwards. A chat SDK is imported only when its token is
set: python-telegram-bot and discord.py are large, and a process that does not talk to a
platform should not carry it. ``bot.cli``, ``bot.runner`` and ``bot.demo`` call this module.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.app.aggregate import AggregateSource
from bot.app.commands import CommandLayer, CommandPorts
from bot.app.cycle import AlertRenderer, CollectionCycle, CycleDeps, CycleReport, diff_params_for
from bot.app.delivery import Delivery
from bot.app.digest import DigestJob
from bot.app.fanout import AlertBatch
from bot.app.lease import Lease, collector_lease, commands_lease
from bot.app.track import TrackHistory
from bot.chat.console_adapter import ConsoleAdapter
from bot.collector.ccxt_source import CcxtSource
from bot.collector.client import SourceTuning as SourceTuning
from bot.collector.replay import ReplayMarket
from bot.collector.replay_source import ReplaySource
from bot.collector.replay_venues import VenueReplaySource, demo_venues
from bot.config import Settings
from bot.core.aggregate import AGGREGATE_EXCHANGE
from bot.core.aggregate_card import venue_title
from bot.core.document import Document
from bot.core.records import ChatSettings, Platform
from bot.errors import ConfigError
from bot.ports import ChatAdapter, Clock, MarketSource, Sink, StateStore
from bot.render.chart_worker import ChartWorker
from bot.render.documents import alert_document, digest_document
from bot.roles import Role
from bot.storage.db import session_factory
from bot.storage.facade import Storage, open_storage
from bot.storage.repositories.state import SqlStateStore

if TYPE_CHECKING:
    from bot.chat.webhook_adapter import WebhookSink

logger = logging.getLogger(__name__)

DEMO_HISTORY_HOURS = 24
"""The demo starts at the first replay step with this much OI history behind it."""


DISTRIBUTION = "derivatives-pressure-score"
"""The project's name in ``pyproject.toml``, under which its version is installed."""


def package_version() -> str:
    """The installed distribution's version (``unknown`` when run from an uninstalled tree)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class SystemClock:
    """Wall-clock UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Collector:
    """A market source wired to storage and the collection cycle."""

    storage: Storage
    source: MarketSource
    cycle: CollectionCycle
    exchange: str
    label: str
    lease: Lease | None = None  # collector:<exchange>; the cycle stores only while it is held

    async def close(self) -> None:
        await self.source.close()
        self.storage.close()


def build_source(
    settings: Settings,
    *,
    replay: ReplaySource | None = None,
    tuning: SourceTuning | None = None,
    exchange: str | None = None,
) -> tuple[MarketSource, str, str]:
    """The market source for the settings: (source, exchange id, label shown to people).

    ``exchange`` picks one venue of ``EXCHANGES`` (default: the first).
    """
    if replay is not None:
        return replay, replay.exchange, replay.label
    venue = exchange or settings.exchange
    cs = CcxtSource(
        venue,
        api_url=settings.api_url_for(venue),
        symbols=settings.symbols,
        top_n=settings.universe_top_n,
        cycle_interval_s=settings.collect_interval,
        tuning=tuning,
    )
    return cs, cs.exchange, cs.label


def build_collector(
    settings: Settings,
    *,
    replay: ReplaySource | None = None,
    tuning: SourceTuning | None = None,
    fenced: bool = False,
    venues: Sequence[str] = (),
    exchange: str | None = None,
) -> Collector:
    """Open (and migrate) the database and wire one venue's collection cycle (``exchange``,
    default the first of ``EXCHANGES``).

    With ``fenced`` the process collects under the collector lease: the cycle is built
    with the lease's fence, so a cycle stores nothing once another process holds it.
    ``venues``: every venue collected, when several (their alerts then follow chats' choices).
    """
    storage = open_storage(settings.database_url)
    try:
        return _venue_collector(
            settings, storage, replay=replay, tuning=tuning, fenced=fenced, venues=venues, exchange=exchange
        )
    except BaseException:
        storage.close()
        raise


def build_collectors(
    settings: Settings,
    *,
    replay: ReplaySource | None = None,
    more_replays: Sequence[ReplaySource] = (),
    tuning: SourceTuning | None = None,
    fenced: bool = False,
) -> tuple[Collector, ...]:
    """One collector per venue of ``EXCHANGES`` (the replay alone when given, or with the
    demo's synthetic venues ``more_replays``), on one database; with ``COLLECT_VENUES``
    (a per-venue child of ``dps run``) only those, their alerts still following every venue.

    Each venue has its own ccxt source (so its own rate limits and circuit breaker), its
    own cycle and, with ``fenced``, its own lease: a venue's trouble stays its own. They
    share the storage, which the first closes.
    """
    venues = (
        tuple(settings.exchanges)
        if replay is None
        else (replay.exchange, *(r.exchange for r in more_replays))
    )
    venues = venues if len(venues) > 1 else ()
    mine = settings.collect_venues or settings.exchanges
    first = build_collector(
        settings, replay=replay, tuning=tuning, fenced=fenced, venues=venues, exchange=mine[0]
    )
    if replay is not None:
        try:
            extra = [_venue_collector(settings, first.storage, replay=r, venues=venues) for r in more_replays]
        except BaseException:
            first.storage.close()
            raise
        return (first, *extra)
    # One holder name for every lease of this process, so the log shows one process.
    holder = None if first.lease is None else first.lease.holder
    more: list[Collector] = []
    try:
        for venue in mine[1:]:
            more.append(
                _venue_collector(
                    settings,
                    first.storage,
                    tuning=tuning,
                    fenced=fenced,
                    exchange=venue,
                    holder=holder,
                    venues=venues,
                )
            )
    except BaseException:
        first.storage.close()
        raise
    return (first, *more)


def _venue_collector(
    settings: Settings,
    storage: Storage,
    *,
    replay: ReplaySource | None = None,
    tuning: SourceTuning | None = None,
    fenced: bool = False,
    exchange: str | None = None,
    holder: str | None = None,
    venues: Sequence[str] = (),
) -> Collector:
    source, exchange, label = build_source(settings, replay=replay, tuning=tuning, exchange=exchange)
    ttl = timedelta(seconds=settings.collector_lease_seconds)
    lease = collector_lease(storage.leases, exchange, ttl=ttl, holder=holder) if fenced else None
    deps = CycleDeps(
        exchange=exchange,
        source=source,
        snapshots=storage.snapshots,
        alert_states=storage.alert_states,
        chats=storage.chats,
        outbox=storage.outbox,
        cycles=storage.cycles,
    )
    shown = label if replay is not None else None
    history = TrackHistory(
        storage.scores,
        storage.snapshots,
        exchange=exchange,
        keep=timedelta(days=settings.snapshot_retention_days),
    )
    cycle = CollectionCycle(
        deps,
        settings.scoring.to_params(),
        diff_params_for(settings.collect_interval),
        alert_renderer(shown, exchange if venues else None),
        evidence=history.evidence_lines,
        fence=None if lease is None else lease.claim,
        venues=fanout_venues(venues),
    )
    return Collector(storage=storage, source=source, cycle=cycle, exchange=exchange, label=label, lease=lease)


def fanout_venues(venues: Sequence[str]) -> tuple[str, ...]:
    """``plan_fanout``'s venues: with several, each collected one and the aggregate, so every
    cycle tells only the chats that follow it (the aggregate by default); none with one."""
    return () if len(venues) < 2 else (*venues, AGGREGATE_EXCHANGE)


def alert_renderer(source_label: str | None, venue: str | None) -> AlertRenderer:
    """Alert messages; with several venues (``venue`` given) the title names the venue:
    "Derivatives Pressure alerts · Bybit" or "… · all venues"."""
    if venue is None:
        return partial(alert_document, source_label=source_label)
    named = venue_title(venue)

    def render(batch: AlertBatch, *, evidence: Mapping[str, str] | None = None) -> Document:
        document = alert_document(batch, source_label=source_label, evidence=evidence)
        return replace(document, title=f"{document.title} · {named}")

    return render


class LastCycle:
    """The newest cycle's summary line, and each venue's: the runner records them, ``/status`` shows them."""

    def __init__(self) -> None:
        self.line: str | None = None
        self.by_venue: dict[str, str] = {}

    def record(self, line: str, exchange: str | None = None) -> None:
        """Keep ``line`` as the newest cycle's summary (and ``exchange``'s, when named)."""
        self.line = line
        if exchange is not None:
            self.by_venue[exchange] = line

    def __call__(self) -> str | None:
        return self.line

    def of(self, exchange: str) -> str | None:
        """The newest cycle's summary line of one venue (``None``: none ran here yet)."""
        return self.by_venue.get(exchange)


@dataclass(frozen=True)
class ChatDuty:
    """A chat adapter and its commands lease: one process per bot answers its commands.

    Telegram allows one poller per bot, and two Discord gateway connections would both
    answer; every process delivers.
    """

    adapter: ChatAdapter
    lease: Lease


@dataclass(frozen=True)
class App:
    """Every part of one process, wired once by ``build_app``."""

    settings: Settings
    collector: Collector
    commands: CommandLayer
    console: ConsoleAdapter
    delivery: Delivery
    digest: DigestJob
    clock: Clock
    last_cycle: LastCycle
    charts: ChartWorker  # draws /chart and digest charts in a child process
    chats: list[ChatDuty] = field(default_factory=list)  # this role's chat adapters
    webhooks: WebhookSink | None = None  # delivers to webhooks (roles all and collector)
    # Every venue collected, ``collector`` (the one commands show) first; empty: it alone.
    venues: tuple[Collector, ...] = ()
    # The cross-venue aggregate (exchange ``all``), with two venues or more; it shares the storage.
    aggregate: Collector | None = None

    @property
    def collectors(self) -> tuple[Collector, ...]:
        """Every venue's collector, the first being ``collector``."""
        return self.venues or (self.collector,)

    async def close(self) -> None:
        """Stop the chart worker, close the webhooks' connections, the market sources and the database."""
        await self.charts.close()
        if self.webhooks is not None:
            await self.webhooks.close()
        for other in self.collectors[1:]:
            await other.source.close()  # the storage is shared: the first closes it
        await self.collector.close()


def _check_tokens(settings: Settings, role: Role) -> None:
    if role is Role.TELEGRAM and settings.telegram_bot_token is None:
        raise ConfigError("--role telegram needs TELEGRAM_BOT_TOKEN")
    if role is Role.DISCORD and settings.discord_bot_token is None:
        raise ConfigError("--role discord needs DISCORD_BOT_TOKEN")


def build_chat_adapters(
    settings: Settings, commands: CommandLayer, clock: Clock, role: Role, *, state: StateStore
) -> list[ChatAdapter]:
    """The adapters this role runs: for ``all``, every platform whose token is set.

    ``state`` keeps the hash of the synced Discord commands, so a restart with the same
    command set does not sync again. Each SDK is imported here, only when needed.
    """
    _check_tokens(settings, role)
    telegram, discord = settings.telegram_bot_token, settings.discord_bot_token
    adapters: list[ChatAdapter] = []
    if telegram is not None and role in (Role.ALL, Role.TELEGRAM):
        from bot.chat.telegram_adapter import TelegramAdapter, broadcast_limiter

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
        from bot.chat.discord_adapter import DiscordAdapter

        adapters.append(
            DiscordAdapter(commands, clock, token=discord.get_secret_value(), command_state=state)
        )
    return adapters


def build_app(
    settings: Settings,
    *,
    clock: Clock,
    role: Role | None = None,
    replay: ReplaySource | None = None,
    more_replays: Sequence[ReplaySource] = (),
    out: TextIO | None = None,
    chart_dir: Path = Path("data/charts"),
    tuning: SourceTuning | None = None,
) -> App:
    """Wire storage, source, cycle, the command layer, the chats, delivery and the digest.

    Args:
        settings: the validated settings.
        clock: the application's clock.
        role: what this ``dps run`` process does; ``None`` (a one-off command, the demo)
            builds no chat adapter and no lease. A collecting role gets the collector
            lease, a chat role its adapters with their commands leases.
        replay: collect from this replay instead of the exchange (the demo).
        more_replays: the demo's synthetic venues beside ``replay`` (summed into ``all``).
        out: where the console prints (default stdout).
        chart_dir: where the console writes chart PNGs.
        tuning: the exchange client's timings (default: production's).

    Raises:
        ConfigError: the role's platform has no token.
    """
    if role is not None:
        _check_tokens(settings, role)  # before anything is opened
    collectors = build_collectors(
        settings,
        replay=replay,
        more_replays=more_replays,
        tuning=tuning,
        fenced=role is not None and role.collects,
    )
    try:
        return _wire(settings, collectors, clock, role, out, chart_dir, shown=replay is not None)
    except BaseException:
        collectors[0].storage.close()
        raise


def _wire(
    settings: Settings,
    collectors: tuple[Collector, ...],
    clock: Clock,
    role: Role | None,
    out: TextIO | None,
    chart_dir: Path,
    *,
    shown: bool,
) -> App:
    collector = collectors[0]  # commands show the first venue (cross-venue ones come later)
    storage = collector.storage
    label = collector.label if shown else None
    last_cycle = LastCycle()
    charts = ChartWorker()  # starts its process on the first chart, not here
    venues = collectors if len(collectors) > 1 else ()
    aggregate = build_aggregate(settings, collectors, clock) if venues else None
    # /score's per-venue OI shares come from the aggregate where this process computes it.
    shares = aggregate.source if aggregate is not None else None
    commands = CommandLayer(
        CommandPorts(
            chats=storage.chats, scores=storage.scores, snapshots=storage.snapshots, outbox=storage.outbox
        ),
        exchange=collector.exchange,
        source_label=label,
        admin_ids=settings.admin_ids,
        band_floors=settings.scoring.to_params().band_floors,
        collect_interval=timedelta(seconds=settings.collect_interval),
        chart=charts.chart,
        default_settings=ChatSettings(digest_time=settings.digest_time),
        default_timezone=settings.digest_timezone,
        last_cycle=last_cycle,
        venues=tuple(c.exchange for c in collectors),
        venue_cycle=last_cycle.of,
        aggregates=(lambda: shares.latest) if isinstance(shares, AggregateSource) else None,
        track_keep=timedelta(days=settings.snapshot_retention_days),
        version=package_version(),
        # The replay's clock is set to the market's start only after this: no uptime there.
        started=None if shown else clock.now(),
    )
    console = ConsoleAdapter(commands, clock, chart_dir=chart_dir, out=out)
    adapters = (
        []
        if role is None
        else build_chat_adapters(settings, commands, clock, role, state=state_store(storage))
    )
    ttl = timedelta(seconds=settings.collector_lease_seconds)
    chats = [ChatDuty(a, commands_lease(storage.leases, a.platform.value, ttl=ttl)) for a in adapters]
    # Delivery goes through this role's chat adapters, or the console when there is none.
    sinks: dict[Platform, Sink] = {a.platform: a for a in adapters} or {Platform.CONSOLE: console}
    webhooks = build_webhook_sink(settings, storage, clock, role)
    if webhooks is not None:
        if role is Role.COLLECTOR:
            sinks = {}  # a collector delivers to webhooks only: the chat processes serve the rest
        sinks[Platform.WEBHOOK] = webhooks
    delivery = Delivery(storage.outbox, storage.chats, sinks)
    digest = DigestJob(
        collector.exchange,
        storage.chats,
        storage.scores,
        storage.outbox,
        storage.digests,
        digest_document,
        label,
        chart=charts.digest,
        venues=tuple(c.exchange for c in venues),
    )
    return App(
        settings,
        collector,
        commands,
        console,
        delivery,
        digest,
        clock,
        last_cycle,
        charts,
        chats,
        webhooks=webhooks,
        venues=venues,
        aggregate=aggregate,
    )


def build_aggregate(settings: Settings, venues: tuple[Collector, ...], clock: Clock) -> Collector | None:
    """The aggregate over the live venues (``bot.app.aggregate``): scored by a cycle of its own
    under the lease ``collector:all`` (when the venues are fenced), stored as exchange ``all``.

    Its events go to the chats that follow the aggregate (the default with several venues).
    """
    # The live venues, or the demo's replayed ones: each lists its markets for the map.
    live = {c.exchange: c.source for c in venues if isinstance(c.source, CcxtSource | VenueReplaySource)}
    if len(live) < 2:
        return None
    first = venues[0]
    storage = first.storage
    interval = timedelta(seconds=settings.collect_interval)
    source = AggregateSource(live, storage.snapshots, clock, fresh=2 * interval, step=interval)
    ttl = timedelta(seconds=settings.collector_lease_seconds)
    lease = (
        None
        if first.lease is None
        else collector_lease(storage.leases, source.exchange, ttl=ttl, holder=first.lease.holder)
    )
    deps = CycleDeps(
        exchange=source.exchange,
        source=source,
        snapshots=storage.snapshots,
        alert_states=storage.alert_states,
        chats=storage.chats,
        outbox=storage.outbox,
        cycles=storage.cycles,
    )
    cycle = CollectionCycle(
        deps,
        settings.scoring.to_params(),
        diff_params_for(settings.collect_interval),
        alert_renderer(None, source.exchange),
        fence=None if lease is None else lease.claim,
        venues=fanout_venues(tuple(c.exchange for c in venues)),
    )
    return Collector(
        storage=storage, source=source, cycle=cycle, exchange=source.exchange, label=source.label, lease=lease
    )


def build_webhook_sink(
    settings: Settings, storage: Storage, clock: Clock, role: Role | None
) -> WebhookSink | None:
    """The webhooks' sink for a process that delivers them: ``all``, or the ``collector`` of a
    split deployment (the chat processes deliver only to their own platform); never a
    per-venue child (``COLLECT_VENUES``), whose parent delivers."""
    if role not in (Role.ALL, Role.COLLECTOR) or settings.collect_venues:
        return None
    from bot.chat.webhook_adapter import WebhookSink  # httpx only in a process that delivers

    return WebhookSink(
        storage.webhooks,
        clock,
        allow_private=settings.webhook_allow_private,
        user_agent=f"dps-webhook/{package_version()}",
    )


@dataclass(frozen=True)
class Demo:
    """The demo's app on the bundled replay, and the replay steps it walks through."""

    app: App
    steps: list[datetime]  # from the first step with a day of history to the last


def build_demo(settings: Settings, *, clock: Clock, out: TextIO | None = None) -> Demo:
    """The whole pipeline on the bundled synthetic replay (``make demo``)."""
    market = ReplayMarket.bundled()
    start = market.first_time_with_history(DEMO_HISTORY_HOURS)
    if start is None:
        raise RuntimeError("the replay market holds less than a day of history")
    steps = [t for t in market.times() if t >= start]
    # The replay and its synthetic Bybit- and OKX-style venues, summed as the aggregate ``all``.
    replay, *more = demo_venues(market, symbols=settings.symbols, cycle_interval_s=settings.collect_interval)
    app = build_app(settings, clock=clock, replay=replay, more_replays=more, out=out)
    return Demo(app, steps)


def state_store(storage: Storage) -> StateStore:
    """The small named values (``bot_state``) of the same database as ``storage``."""
    return SqlStateStore(session_factory(storage.engine))


async def collect_once(settings: Settings, *, now: datetime | None = None) -> CycleReport:
    """Backfill what is missing, run one cycle into the store, and return its report.

    The first venue of ``EXCHANGES`` only: ``dps collect`` is a one-off check of one venue;
    ``dps run`` collects them all.
    """
    collector = build_collector(settings)
    try:
        moment = now or datetime.now(UTC)
        await collector.cycle.backfill(moment)
        return await collector.cycle.run(moment)
    finally:
        await collector.close()


async def one_shot(settings: Settings, line: str) -> str:
    """Answer one command from the store through the same command layer as the chats."""
    app = build_app(settings, clock=SystemClock())
    try:
        return await app.console.handle_line(line) or ""
    finally:
        await app.close()


async def data_is_fresh(settings: Settings) -> bool:
    """Whether every venue's newest collection is younger than two intervals (``dps status``'s exit)."""
    app = build_app(settings, clock=SystemClock())
    try:
        return app.commands.queries.status(app.clock.now(), None).fresh
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
    from bot.chat.discord_adapter import DiscordAdapter  # discord.py only for Discord commands

    app = build_app(settings, clock=SystemClock())
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
