"""The settings side of the command layer: watchlists, alerts and the daily digest.

``CommandLayer`` has already checked the sender may change settings here; these handlers
parse everything first and only then create the chat or write, so a refused or invalid
command stores nothing.

The writes run off the event loop's thread (``bot.app.off_loop.write_off_loop``): on a
SQLite file they may queue behind a cycle's transaction, and other commands are answered
meanwhile. One that waits longer than ``WRITE_PATIENCE_S`` is answered "busy, try again".
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from bot.app import arguments as argp
from bot.app.chat_lifecycle import disable_chat, move_chat
from bot.app.fanout import followed_venues
from bot.app.off_loop import write_off_loop
from bot.app.queries import Queries
from bot.app.views import ErrorKind, ErrorReply, Reply, SettingsReply, TextReply, TextSection
from bot.core.aggregate import AGGREGATE_EXCHANGE
from bot.core.records import Chat, ChatKey, ChatSettings
from bot.core.symbols import SymbolIndex
from bot.errors import InputError, StorageBusyError
from bot.ports import ChatStore

if TYPE_CHECKING:  # commands.py imports this module; the request type is only annotated here
    from bot.app.commands import CommandRequest

logger = logging.getLogger(__name__)

MAX_WATCHLIST = 100

WRITE_PATIENCE_S = 5.0
"""How long a command's writes may wait for the database in all before the user hears
"busy" (SQLite's own default busy wait): the person is waiting for the answer."""

BUSY = "The database is busy just now, so nothing was changed. Please try again in a moment."

P = ParamSpec("P")
R = TypeVar("R")

_Handler = Callable[["ChatSettingsCommands", "CommandRequest", str], Awaitable[Reply]]


def _one_per_chat(handler: _Handler) -> _Handler:
    """One settings command at a time per chat. On the loop's thread they could not
    interleave; with their writes on writer threads, two changes to one chat could both
    read its settings before either stored them, and the later would undo the earlier."""

    @functools.wraps(handler)
    async def in_turn(self: ChatSettingsCommands, request: CommandRequest, args: str) -> Reply:
        turn = self._turns.get(request.chat)
        if turn is None:
            turn = self._turns[request.chat] = asyncio.Lock()
        async with turn:
            return await handler(self, request, args)

    return in_turn


class ChatSettingsCommands:
    """``/watch``, ``/unwatch``, ``/watchlist``, ``/alerts`` and ``/digest`` for one exchange."""

    def __init__(
        self,
        chats: ChatStore,
        queries: Queries,
        *,
        exchange: str,
        source_label: str | None,
        default_settings: ChatSettings | None,
        default_timezone: str,
    ) -> None:
        self._chats = chats
        self._queries = queries
        self._exchange = exchange
        self._label = source_label
        self._defaults = default_settings
        self._timezone = default_timezone
        # A chat's lock lives while a command of that chat holds or waits for it.
        self._turns: weakref.WeakValueDictionary[ChatKey, asyncio.Lock] = weakref.WeakValueDictionary()

    async def ensure(self, request: CommandRequest) -> Chat | ErrorReply:
        """Return the request's chat, storing it (with the default settings) if it is new;
        an ``ErrorReply`` when the database stayed busy (see ``_ensure``)."""
        return await self._write(self._ensure, request)

    async def _write(self, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R | ErrorReply:
        """``func``'s writes off the loop; "busy" for the user when they waited too long."""
        try:
            return await write_off_loop(WRITE_PATIENCE_S, func, *args, **kwargs)
        except StorageBusyError as exc:
            logger.warning("a command's write gave up: %s", exc)
            return ErrorReply(ErrorKind.UNAVAILABLE, BUSY)

    def _ensure(self, request: CommandRequest) -> Chat:
        """The request's chat, stored (with the default settings) if it is new.

        A chat disabled earlier (the bot was blocked or removed) is enabled again: someone
        allowed to change its settings is talking to the bot there, so it is back.
        """
        chat = self._chats.ensure_chat(
            request.chat,
            kind=request.chat_kind,
            now=request.now,
            timezone=self._timezone,
            defaults=self._defaults,
        )
        if not chat.enabled:
            chat = replace(chat, enabled=True)
            self._chats.update_chat(chat)
            logger.info("re-enabled chat %s:%s", chat.key.platform.value, chat.key.chat_id)
        return chat

    def disable(self, key: ChatKey, reason: str) -> None:
        """Stop sending to ``key`` (blocked, kicked, channel deleted); settings are kept."""
        disable_chat(self._chats, self._chats.get_chat(key), reason)

    def move(self, old: ChatKey, new: ChatKey) -> None:
        """Give the chat at ``old`` its new address, keeping its settings and watchlist."""
        move_chat(self._chats, self._chats.get_chat(old), new)

    @_one_per_chat
    async def watch(self, request: CommandRequest, args: str) -> Reply:
        """Add symbols to the chat's watchlist (all or nothing)."""
        texts = argp.symbol_words(args, "/watch SYMBOL…, e.g. /watch btc eth shib")
        symbols: list[str] = []
        for text in texts:
            symbol = self._queries.resolve(text)
            if isinstance(symbol, ErrorReply):
                return self._nothing_changed(symbol)
            symbols.append(symbol)
        chat = self._chats.get_chat(request.chat)
        watched = set() if chat is None else set(self._watched(chat))
        fresh = [s for s in dict.fromkeys(symbols) if s not in watched]
        if len(watched) + len(fresh) > MAX_WATCHLIST:
            raise InputError(
                f"A watchlist holds at most {MAX_WATCHLIST} symbols; this one has {len(watched)}. "
                "Nothing was changed."
            )
        stored = await self._write(self._watch, request, fresh, self._counterparts(texts))
        if isinstance(stored, ErrorReply):
            return stored
        chat = stored
        lines = [f"Added: {', '.join(fresh)}." if fresh else "Nothing new: all of those are watched already."]
        if not self._chats.get_settings(chat.ref).watchlist_only:
            lines.append("Alerts still cover every symbol; /alerts watchlist on limits them to this list.")
        return self._watchlist_reply(chat, tuple(lines))

    @_one_per_chat
    async def unwatch(self, request: CommandRequest, args: str) -> Reply:
        """Remove symbols from the chat's watchlist (all or nothing), or ``all`` of them."""
        texts = argp.symbol_words(args, "/unwatch SYMBOL… or /unwatch all")
        chat = self._chats.get_chat(request.chat)
        watched = [] if chat is None else self._watched(chat)
        if [t.lower() for t in texts] == ["all"]:
            chosen = watched
        else:
            chosen = []
            index = SymbolIndex.of(watched)
            for text in texts:
                found = index.resolve(text).symbol
                if found is None:
                    return self._nothing_changed(self._not_watched(text))
                chosen.append(found)
        if chat is None or not chosen:
            return TextReply("Watchlist", (TextSection(None, ("The watchlist is empty.",)),), self._label)
        removals = {self._exchange: list(dict.fromkeys(chosen))}
        everything = [t.lower() for t in texts] == ["all"]
        for exchange, symbols in self._watched_elsewhere(chat).items():
            index = SymbolIndex.of(symbols)
            gone = symbols if everything else [f for t in texts if (f := index.resolve(t).symbol) is not None]
            if gone:
                removals[exchange] = list(dict.fromkeys(gone))
        done = await self._write(self._unwatch, chat, removals)
        if isinstance(done, ErrorReply):
            return done
        return self._watchlist_reply(chat, (f"Removed: {', '.join(dict.fromkeys(chosen))}.",))

    def _watch(self, request: CommandRequest, fresh: list[str], elsewhere: dict[str, list[str]]) -> Chat:
        chat = self._ensure(request)
        self._chats.watch(chat.ref, self._exchange, fresh, request.now)
        for exchange, found in elsewhere.items():
            self._chats.watch(chat.ref, exchange, found, request.now)
        return chat

    def _unwatch(self, chat: Chat, removals: dict[str, list[str]]) -> None:
        for exchange, symbols in removals.items():
            self._chats.unwatch(chat.ref, exchange, symbols)

    def _counterparts(self, texts: list[str]) -> dict[str, list[str]]:
        """With several venues, what ``texts`` name on the aggregate and the other venues:
        a watchlist-only chat then hears an asset's alerts from whichever venues it follows.
        A name a venue does not list is simply not watched there."""
        if not self._queries.venues:
            return {}
        found: dict[str, list[str]] = {}
        for exchange in (AGGREGATE_EXCHANGE, *self._queries.venues):
            if exchange == self._exchange:
                continue
            symbols = [s for t in texts if isinstance(s := self._queries.resolve(t, exchange), str)]
            if symbols:
                found[exchange] = list(dict.fromkeys(symbols))
        return found

    def _watched_elsewhere(self, chat: Chat) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for entry in self._chats.watchlist(chat.ref):
            if entry.exchange != self._exchange:
                found.setdefault(entry.exchange, []).append(entry.symbol)
        return found

    def _not_watched(self, text: str) -> ErrorReply:
        symbol = self._queries.resolve(text)
        if isinstance(symbol, ErrorReply):
            return symbol
        return ErrorReply(ErrorKind.BAD_INPUT, f"{symbol} is not on this chat's watchlist.")

    @staticmethod
    def _nothing_changed(error: ErrorReply) -> ErrorReply:
        return replace(error, message=f"{error.message} Nothing was changed.")

    def _watched(self, chat: Chat) -> list[str]:
        return [e.symbol for e in self._chats.watchlist(chat.ref) if e.exchange == self._exchange]

    async def watchlist(self, request: CommandRequest, args: str) -> Reply:
        """List the chat's watchlist with each symbol's current score."""
        chat = self._chats.get_chat(request.chat)
        if chat is None:
            return TextReply("Watchlist", (TextSection(None, ("The watchlist is empty.",)),), self._label)
        return self._watchlist_reply(chat, ())

    def _watchlist_reply(self, chat: Chat, head: tuple[str, ...]) -> TextReply:
        market = self._queries.market()
        latest = {} if market is None else {r.symbol: r for r in market.records}
        lines = []
        for symbol in self._watched(chat):
            record = latest.get(symbol)
            if record is None:
                lines.append(f"{symbol} — no current score")
            else:
                r = record.result
                lines.append(f"{symbol} — {r.score} {r.band.value} · {r.bias.value} · {r.label}")
        body = TextSection(f"Watching {len(lines)}", tuple(lines) or ("The watchlist is empty.",))
        sections = (TextSection(None, head), body) if head else (body,)
        return TextReply("Watchlist", sections, self._label)

    @_one_per_chat
    async def alerts(self, request: CommandRequest, args: str) -> Reply:
        """Show or change the chat's alert settings (``venues …``: the venues it follows)."""
        parts = argp.words(args)
        if parts and parts[0].lower() == "venues":
            venues = self._queries.venues or (self._exchange,)
            change = argp.parse_alert_venues(parts[1:], venues)
            if change is None:
                return self._venues_reply(request, venues)
            return await self._settings(request, change)
        return await self._settings(request, argp.parse_alerts(args))

    def _venues_reply(self, request: CommandRequest, venues: tuple[str, ...]) -> TextReply:
        chat = self._chats.get_chat(request.chat)
        settings = (self._defaults or ChatSettings()) if chat is None else self._chats.get_settings(chat.ref)
        followed = followed_venues(settings, (*venues, AGGREGATE_EXCHANGE), AGGREGATE_EXCHANGE)
        default = "" if settings.alert_venues else ", the default"
        lines = (
            f"Alerts and the daily digest follow {argp.venue_list(followed, venues)}{default}.",
            f"The venues: {argp.venue_names(venues)}. /alerts venues bybit okx follows those venues' "
            "own alerts; /alerts venues all goes back to the aggregate.",
        )
        return TextReply("Alert venues", (TextSection(None, lines),), self._label)

    @_one_per_chat
    async def digest(self, request: CommandRequest, args: str) -> Reply:
        """Show or change the chat's daily digest."""
        return await self._settings(request, argp.parse_digest(args))

    async def _settings(self, request: CommandRequest, change: argp.SettingsChange | None) -> Reply:
        if change is None:
            chat = self._chats.get_chat(request.chat)
            if chat is None:
                settings, tz, count = self._defaults or ChatSettings(), self._timezone, 0
            else:
                settings, tz, count = (
                    self._chats.get_settings(chat.ref),
                    chat.timezone,
                    len(self._watched(chat)),
                )
            return SettingsReply(settings, tz, count, None, self._label)
        saved = await self._write(self._save, request, change)
        if isinstance(saved, ErrorReply):
            return saved
        chat, settings = saved
        message = change.message
        if "digest_enabled" in change.fields and settings.digest_enabled:
            message = f"The daily digest is on: every day at {settings.digest_time:%H:%M} {chat.timezone}."
        return SettingsReply(settings, chat.timezone, len(self._watched(chat)), message, self._label)

    def _save(self, request: CommandRequest, change: argp.SettingsChange) -> tuple[Chat, ChatSettings]:
        chat = self._ensure(request)
        settings = replace(self._chats.get_settings(chat.ref), **change.fields)
        self._chats.save_settings(chat.ref, settings)
        if change.timezone is not None and change.timezone != chat.timezone:
            chat = replace(chat, timezone=change.timezone)
            self._chats.update_chat(chat)
        return chat, settings
