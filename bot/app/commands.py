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

import asyncio
import logging
import math
import re
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.app import arguments as argp
from bot.app.chat_settings import ChatSettingsCommands
from bot.app.queries import NO_DATA, CycleLine, Queries
from bot.app.ratelimit import RateLimit, TokenBucketLimiter
from bot.app.track import TrackHistory
from bot.app.views import (
    ChartReply,
    ChartView,
    ErrorKind,
    ErrorReply,
    Reply,
    TextReply,
    TextSection,
    TrackReply,
)
from bot.core.bands import legend_lines
from bot.core.records import ChatKey, ChatKind, ChatSettings, Platform, require_aware
from bot.errors import InputError, StorageError
from bot.ports import ChatStore, OutboxStore, ScoreStore, SnapshotStore

logger = logging.getLogger(__name__)

ChartRenderer = Callable[[ChartView], bytes]
"""Turns a chart view into PNG bytes (``bot.render.chart.render_chart``, injected)."""

APOLOGY = "Sorry, something went wrong on our side. It has been logged; please try again later."
STORAGE_APOLOGY = "Sorry, the database did not answer just now. Please try again in a minute."
_COMMAND_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """One command as an adapter received it.

    Attributes:
        chat: where it was sent (and where settings changes apply).
        chat_kind: private chats may change their own settings; groups and channels
            need an admin.
        user_id: the sender's platform id, as text.
        is_chat_admin: the platform says the sender administers this chat.
        command: the command name, with or without ``/`` and a ``@botname`` suffix.
        args: everything after the command name.
        now: when it was received (aware UTC).
    """

    chat: ChatKey
    chat_kind: ChatKind
    user_id: str
    is_chat_admin: bool
    command: str
    args: str
    now: datetime

    def __post_init__(self) -> None:
        require_aware("CommandRequest.now", self.now)


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


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command as ``/help`` lists it."""

    usage: str
    summary: str


COMMANDS: dict[str, CommandSpec] = {
    "start": CommandSpec("/start", "what this bot does (and sign this chat up for alerts)"),
    "help": CommandSpec("/help", "this help and how to read the score"),
    "score": CommandSpec("/score SYMBOL", "the full score card, e.g. /score btc"),
    "top": CommandSpec("/top [N] [long|short|squeeze]", f"the ranked table, N up to {argp.TOP_MAX}"),
    "watch": CommandSpec("/watch SYMBOL…", "add symbols to this chat's watchlist"),
    "unwatch": CommandSpec("/unwatch SYMBOL…|all", "remove symbols from the watchlist"),
    "watchlist": CommandSpec("/watchlist", "the watchlist with current scores"),
    "alerts": CommandSpec(
        "/alerts [on|off|min BAND|kinds …|watchlist on|off|quiet HH:MM-HH:MM|off]",
        "show or change this chat's alerts",
    ),
    "digest": CommandSpec("/digest [on|off] [HH:MM] [timezone]", "the daily digest for this chat"),
    "chart": CommandSpec("/chart SYMBOL [24h|7d]", "a chart of the score and its components"),
    "track": CommandSpec(
        "/track [SYMBOL]", "how past readings played out: the median 24h move per band vs neutral"
    ),
    "status": CommandSpec("/status", "is data flowing: last collection, its age, the alert queue"),
}
ALWAYS_ADMIN = frozenset({"watch", "unwatch"})
ADMIN_WITH_ARGS = frozenset({"alerts", "digest"})
SETTINGS_COMMANDS = ALWAYS_ADMIN | ADMIN_WITH_ARGS


def command_name(text: str) -> str:
    """``/Score@dps_bot`` → ``score``: the bare, lower-case command name."""
    return text.strip().removeprefix("/").split("@", 1)[0].lower()


def needs_admin(command: str, args: str) -> bool:
    """Whether this command changes settings, so that outside private chats only admins may."""
    name = command_name(command)
    return name in ALWAYS_ADMIN or (name in ADMIN_WITH_ARGS and bool(args.strip()))


def admin_matters(command: str, args: str) -> bool:
    """Whether the answer depends on the sender being a chat admin.

    Adapters look the sender's admin status up (an API call) only then: settings
    commands, and ``/start``, which signs a group up only when an admin sends it.
    """
    return needs_admin(command, args) or command_name(command) == "start"


ABOUT = (
    "One number per perpetual-futures symbol, 0 to 100: how stressed its derivatives book is. "
    "It blends open-interest change over 1h / 4h / 24h, the funding rate (compared on an 8h "
    "footing) and the perp-index basis, with the side that is stacked (LONG / SHORT / NEUTRAL) "
    "and a regime in words. I answer the commands below, alert when a symbol crosses into a "
    "higher stress band or enters squeeze risk, and can post a daily digest."
)
DIRECTION_NOTE = (
    "The score is direction-aware: a LONG regime at 70 means longs are heavily stacked; a "
    "SHORT regime at 70 means shorts are. Squeeze-risk regimes are where OI builds against "
    "the funding bias; those tend to resolve violently."
)


class CommandLayer:
    """Answers every chat command for one exchange (``CommandHandler``).

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
        track_keep: how far back ``/track`` looks (the snapshots' retention).
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
        track_keep: timedelta = timedelta(days=14),
    ) -> None:
        self._label = source_label
        self._exchange = exchange
        self._admins = frozenset(str(i) for i in admin_ids)
        self._floors = band_floors
        self._chart = chart
        self._limiter = TokenBucketLimiter(rate_limit or RateLimit())
        self._exempt = frozenset(rate_limit_exempt)
        self._last_cycle = last_cycle
        self.queries = queries = Queries(
            ports.scores,
            ports.snapshots,
            ports.outbox,
            exchange=exchange,
            source_label=source_label,
            band_floors=band_floors,
            stale_after=2 * collect_interval,
        )
        self.track = TrackHistory(ports.scores, ports.snapshots, exchange=exchange, keep=track_keep)
        self.settings = settings = ChatSettingsCommands(
            ports.chats,
            queries,
            exchange=exchange,
            source_label=source_label,
            default_settings=default_settings,
            default_timezone=default_timezone,
        )
        self._handlers: dict[str, Callable[[CommandRequest, str], Awaitable[Reply]]] = {
            "start": self._start,
            "help": self._help,
            "score": self._score,
            "top": self._top,
            "watch": settings.watch,
            "unwatch": settings.unwatch,
            "watchlist": settings.watchlist,
            "alerts": settings.alerts,
            "digest": settings.digest,
            "chart": self._chart_reply,
            "track": self._track,
            "status": self._status,
        }

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
        name = command_name(request.command)
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
        handler = self._handlers.get(name) if _COMMAND_NAME.fullmatch(name) else None
        if handler is None:
            shown = argp.echo(request.command.strip().removeprefix("/"))
            return ErrorReply(
                ErrorKind.UNKNOWN_COMMAND, f"Unknown command /{shown}. /help lists what I can do."
            )
        args = argp.check_text(request.args)
        if needs_admin(name, args) and not self._may_change(request):
            return ErrorReply(
                ErrorKind.NOT_ALLOWED,
                "Sorry, only this chat's admins can change its settings.",
            )
        logger.debug("/%s in %s:%s", name, request.chat.platform.value, request.chat.chat_id)
        return await handler(request, args)

    def _may_change(self, request: CommandRequest) -> bool:
        return (
            request.chat_kind is ChatKind.PRIVATE or request.is_chat_admin or request.user_id in self._admins
        )

    # --- what adapters need besides commands -------------------------------------------

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

    def chat_gone(self, chat: ChatKey, reason: str) -> None:
        """The bot was removed from or blocked in ``chat``: stop sending there."""
        self.settings.disable(chat, reason)

    def chat_moved(self, old: ChatKey, new: ChatKey) -> None:
        """``chat`` has a new address (a Telegram group became a supergroup)."""
        self.settings.move(old, new)

    # --- commands ---------------------------------------------------------------------

    async def _start(self, request: CommandRequest, args: str) -> Reply:
        """Welcome the user; store the chat (default settings) when the sender may."""
        if self._may_change(request):
            self.settings.ensure(request)
        return self._help_reply("Welcome to the Derivatives Pressure Score bot")

    async def _help(self, request: CommandRequest, args: str) -> Reply:
        """Explain the bot, list the commands and show how to read the score."""
        return self._help_reply("Derivatives Pressure Score")

    def _help_reply(self, title: str) -> TextReply:
        commands = tuple(f"{spec.usage} — {spec.summary}" for spec in COMMANDS.values())
        return TextReply(
            title=title,
            sections=(
                TextSection(None, (ABOUT,)),
                TextSection("Commands", commands),
                TextSection("How to read it", (*legend_lines(self._floors), DIRECTION_NOTE)),
                TextSection(None, ("In groups and channels only admins can change settings.",)),
            ),
            source_label=self._label,
        )

    async def _score(self, request: CommandRequest, args: str) -> Reply:
        """Show the score card of one symbol."""
        parts = argp.words(args)
        if len(parts) != 1:
            raise InputError("Usage: /score SYMBOL — one symbol, e.g. /score btc or /score 1000SHIBUSDT")
        symbol = self.queries.resolve(parts[0])
        if isinstance(symbol, ErrorReply):
            return symbol
        card = self.queries.card(symbol, request.now)
        if card is None:
            return ErrorReply(ErrorKind.NO_DATA, f"No score stored for {symbol} yet.")
        return card

    async def _top(self, request: CommandRequest, args: str) -> Reply:
        """Show the ranked table, optionally filtered."""
        return self.queries.top(argp.parse_top(args), request.now)

    async def _chart_reply(self, request: CommandRequest, args: str) -> Reply:
        """Draw the symbol's score and components over 24h or 7d as a PNG."""
        text, label, window = argp.parse_chart(args)
        symbol = self.queries.resolve(text)
        if isinstance(symbol, ErrorReply):
            return symbol
        if self._chart is None:
            return ErrorReply(ErrorKind.UNAVAILABLE, "Charts are not available here.")
        view = self.queries.chart(symbol, label, window, request.now)
        if view is None:
            return ErrorReply(ErrorKind.NO_DATA, f"No scores stored for {symbol} in the last {label}.")
        # Drawing takes a while; keep the event loop free for other chats meanwhile.
        png = await asyncio.to_thread(self._chart, view)
        last = view.records[-1].result
        caption = (
            f"{symbol} · Derivatives Pressure Score, last {label} · now {last.score} "
            f"({last.band.value}, {last.bias.value})"
        )
        return ChartReply(
            png=png, caption=caption, filename=f"dps-{symbol}-{label}.png", source_label=self._label
        )

    async def _track(self, request: CommandRequest, args: str) -> Reply:
        """How the stored readings played out per band (one symbol's, or the whole market's)."""
        text = argp.parse_track(args)
        symbol: str | None = None
        if text is not None:
            found = self.queries.resolve(text)
            if isinstance(found, ErrorReply):
                return found
            symbol = found
        # The first read of the whole market's history takes seconds: off the event loop.
        record = await asyncio.to_thread(self.track.record, symbol)
        if record is None:
            return ErrorReply(ErrorKind.NO_DATA, NO_DATA)
        return TrackReply(record=record, exchange=self._exchange, symbol=symbol, source_label=self._label)

    async def _status(self, request: CommandRequest, args: str) -> Reply:
        """Report the exchange, symbols tracked, the latest collection's age and the outbox."""
        return self.queries.status(request.now, None if self._last_cycle is None else self._last_cycle())
