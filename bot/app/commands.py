"""One channel-agnostic command layer: a typed request in, a typed reply out.

Chat adapters (Telegram, Discord, the console) and the one-shot CLI translate their
updates into a ``CommandRequest`` and render the ``Reply`` they get back; they hold no
command logic. ``handle`` never raises to them: bad input gets a clear ``ErrorReply``,
and an unexpected failure is logged and answered with a generic apology.

Order of checks: per-user rate limit → known command → argument text is short plain
text → (settings commands in groups and channels) the user is a chat admin or in
``ADMIN_IDS`` → arguments parse completely → only then is a store read or written, so
invalid input never stores anything.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.app import arguments as argp
from bot.app.chat_settings import ChatSettingsCommands
from bot.app.command_limits import RateLimit, TokenBucketLimiter
from bot.app.command_registry import (
    ChartRenderer,
    Command,
    CommandContext,
    CommandRegistry,
    CommandRequest,
    command_name,
)
from bot.app.command_set import COMMAND_SET, command_set_for
from bot.app.off_loop import write_off_loop
from bot.app.queries import RECHECK, Aggregates, CycleLine, Queries, VenueCycleLine
from bot.app.track import TrackHistory
from bot.app.views import ErrorKind, ErrorReply, Reply
from bot.core.records import ChatKey, ChatKind, ChatSettings, Platform
from bot.errors import InputError, StorageError
from bot.ports import ChatStore, OutboxStore, ScoreStore, SnapshotStore

__all__ = [
    "APOLOGY",
    "COMMANDS",
    "STORAGE_APOLOGY",
    "ChartRenderer",
    "CommandHandler",
    "CommandLayer",
    "CommandPorts",
    "CommandRequest",
    "command_name",
]

logger = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on our side. It has been logged; please try again later."
STORAGE_APOLOGY = "Sorry, the database did not answer just now. Please try again in a minute."


class CommandHandler(Protocol):
    """What an adapter needs from the command layer."""

    async def handle(self, request: CommandRequest) -> Reply:
        """Answer one command; never raises."""
        ...


@dataclass(frozen=True, slots=True)
class CommandPorts:
    """The stores the command layer reads and writes."""

    scores: ScoreStore
    snapshots: SnapshotStore
    chats: ChatStore
    outbox: OutboxStore


COMMANDS: dict[str, Command] = {c.name: c for c in COMMAND_SET}
"""The default command set by name (``bot.app.command_set`` declares it)."""


class CommandLayer:
    """Answers every command of a registry for one exchange (``CommandHandler``).

    Args:
        ports: the stores.
        exchange: the exchange id whose scores are shown (``binanceusdm``, ``replay`` …).
        source_label: shown with every answer when set (e.g. the synthetic demo market).
        admin_ids: platform user ids that may change settings in any chat (``ADMIN_IDS``).
        band_floors: the scoring band floors, for the legend and charts.
        collect_interval: data older than two of these is called stale.
        chart: renders ``/chart`` PNGs; ``None`` answers that charts are unavailable.
        rate_limit: per-user command limit (a token bucket: 20 at once, then one every
            3 s by default); ``rate_limit_exempt`` platforms skip it (the console is the
            operator's own terminal).
        default_settings / default_timezone: what a chat gets when it is first stored.
        last_cycle: a line about the latest cycle this process ran, for ``/status``.
        venues / venue_cycle: every venue the bot collects (``exchange`` first) and a line
            about each one's latest cycle here: ``/status`` shows each venue's freshness.
            With several, ``/score``, ``/top`` and ``/chart`` show the aggregate (``all``) first.
        aggregates: each asset's last aggregate, where this process computes it: the OI shares
            and members of ``/score``'s per-venue lines (``None``: the shares show a dash).
        track_keep: how far back ``/track`` looks (the snapshots' retention).
        registry: the commands answered (default: ``COMMAND_SET``, with a venue option on
            ``/top`` and ``/chart`` when there are several venues).
        version: the installed package's version, for ``/about``.
        started: when this process started, for ``/about``'s uptime (``None``: unknown).
        recheck / monotonic: how long a prepared market is trusted before a command asks the
            store whether it moved, and the clock (seconds) that says (``bot.app.queries``).
    """

    def __init__(
        self,
        ports: CommandPorts,
        *,
        exchange: str,
        source_label: str | None,
        admin_ids: Collection[int | str],
        band_floors: tuple[int, int, int],
        collect_interval: timedelta = timedelta(minutes=5),
        chart: ChartRenderer | None = None,
        rate_limit: RateLimit | None = None,
        rate_limit_exempt: Collection[Platform] = (Platform.CONSOLE,),
        default_settings: ChatSettings | None = None,
        default_timezone: str = "UTC",
        last_cycle: CycleLine | None = None,
        venues: Sequence[str] = (),
        venue_cycle: VenueCycleLine | None = None,
        aggregates: Aggregates | None = None,
        track_keep: timedelta = timedelta(days=14),
        registry: CommandRegistry | None = None,
        version: str = "unknown",
        started: datetime | None = None,
        recheck: timedelta = RECHECK,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry = registry or command_set_for(venues)
        self._admins = frozenset(str(i) for i in admin_ids)
        self._limiter = TokenBucketLimiter(rate_limit or RateLimit())
        self._exempt = frozenset(rate_limit_exempt)
        self.queries = queries = Queries(
            ports.scores,
            ports.snapshots,
            ports.outbox,
            exchange=exchange,
            source_label=source_label,
            band_floors=band_floors,
            stale_after=2 * collect_interval,
            venues=venues,
            venue_cycle=venue_cycle,
            aggregates=aggregates,
            recheck=recheck,
            monotonic=monotonic,
        )
        self.track = TrackHistory(ports.scores, ports.snapshots, exchange=exchange, keep=track_keep)
        self.settings = ChatSettingsCommands(
            ports.chats,
            queries,
            exchange=exchange,
            source_label=source_label,
            default_settings=default_settings,
            default_timezone=default_timezone,
        )
        self.context = CommandContext(
            registry=registry,
            queries=queries,
            track=self.track,
            settings=self.settings,
            exchange=exchange,
            source_label=source_label,
            band_floors=band_floors,
            chart=chart,
            last_cycle=last_cycle,
            version=version,
            started=started,
            may_change=self._may_change,
            aggregates=aggregates,
        )

    async def handle(self, request: CommandRequest) -> Reply:
        """Answer one command; never raises (bad input and failures become ``ErrorReply``)."""
        try:
            return await self._dispatch(request)
        except InputError as exc:
            return ErrorReply(ErrorKind.BAD_INPUT, str(exc))
        except StorageError:
            logger.exception("storage failed answering %s", argp.echo(request.command))
            return ErrorReply(ErrorKind.UNAVAILABLE, STORAGE_APOLOGY)
        except Exception:  # the adapter must always get an answer; the log gets the traceback
            logger.exception("unexpected failure answering %s", argp.echo(request.command))
            return ErrorReply(ErrorKind.INTERNAL, APOLOGY)

    async def _dispatch(self, request: CommandRequest) -> Reply:
        if request.chat.platform not in self._exempt:
            wait = self._limiter.check((request.chat.platform, request.user_id), request.now)
            if wait is not None:
                # Rounded up: a retry after the number said is accepted, never refused again.
                seconds = max(1, math.ceil(wait.total_seconds()))
                return ErrorReply(
                    ErrorKind.RATE_LIMITED,
                    f"Slow down, please: you can send {self._limiter.limit.describe()}. "
                    f"Try again in {seconds}s.",
                    retry_after=wait,
                )
        command = self.registry.get(request.command)
        if command is None:
            shown = argp.echo(request.command.strip().removeprefix("/"))
            return ErrorReply(
                ErrorKind.UNKNOWN_COMMAND, f"Unknown command /{shown}. /help lists what I can do."
            )
        args = argp.check_text(request.args)
        if command.needs_admin(args) and not self._may_change(request):
            return ErrorReply(
                ErrorKind.NOT_ALLOWED,
                "Sorry, only this chat's admins can change its settings.",
            )
        logger.debug("/%s in %s:%s", command.name, request.chat.platform.value, request.chat.chat_id)
        return await command.handler(self.context, request, args)

    def _may_change(self, request: CommandRequest) -> bool:
        return (
            request.chat_kind is ChatKind.PRIVATE or request.is_chat_admin or request.user_id in self._admins
        )

    # --- what adapters need besides commands -------------------------------------------

    def admin_matters(self, command: str, args: str) -> bool:
        """Whether the answer depends on the sender being a chat admin.

        Adapters look the sender's admin status up (an API call) only then: settings
        commands, and ``/start``, which signs a group up only when an admin sends it.
        """
        found = self.registry.get(command)
        return found is not None and found.admin_matters(args)

    def symbols(self, prefix: str = "", limit: int = 25) -> tuple[str, ...]:
        """Symbols of the latest collection starting with ``prefix`` (for autocomplete).

        Matches the symbol itself and its base coin (``sh`` finds ``1000SHIBUSDT``), highest
        score first, at most ``limit``.
        """
        market = self.queries.market()
        if market is None:
            return ()
        key = "".join(ch for ch in prefix.upper() if ch.isalnum())
        ranked = sorted(market.records, key=lambda r: (-r.result.score, r.symbol))
        found = [
            r.symbol
            for r in ranked
            if r.symbol.startswith(key) or r.symbol.lstrip("0123456789").startswith(key)
        ]
        return tuple(found[:limit])

    async def chat_gone(self, chat: ChatKey, reason: str) -> None:
        """The bot was removed from or blocked in ``chat``: stop sending there.

        On a writer thread, as every write asked on the loop: on the loop's own thread a
        wait for the database would stall every command and send meanwhile."""
        await write_off_loop(None, self.settings.disable, chat, reason)

    async def chat_moved(self, old: ChatKey, new: ChatKey) -> None:
        """``chat`` has a new address (a Telegram group became a supergroup); written off
        the loop as ``chat_gone``."""
        await write_off_loop(None, self.settings.move, old, new)
