"""The Telegram adapter: python-telegram-bot 22 in the app's own event loop.

It only translates: a command message becomes a ``CommandRequest`` for the command layer,
the ``Reply`` becomes a document (``bot.render.documents``) drawn as Telegram HTML
(``bot.render.telegram_html``), and outbox documents go out through ``send``
(``bot.ports.Sink``). PTB's ``Application`` is started by hand (``run_polling`` would own
the loop) with its job queue off: the app has one scheduler.

Where things go: a chat is ``ChatKey(TELEGRAM, chat_id)``; a command sent inside a forum
topic is ``ChatKey(TELEGRAM, chat_id, thread_id)``, so a topic keeps its own alert and
digest settings and everything for it is posted into that topic.

Faults on send map to delivery outcomes: RetryAfter → wait as told; Forbidden (blocked,
kicked) → chat gone; ChatMigrated → the chat moved (re-sent at the new id); an HTML
parse error → one plain-text retry; network trouble and timeouts → retry with back-off.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from html import unescape
from typing import Any

from telegram import (
    BotCommand,
    Chat,
    ChatMember,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    TelegramError,
)
from telegram.error import RetryAfter as TelegramRetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.app.command_registry import CommandRegistry
from bot.app.commands import CommandLayer, CommandRequest
from bot.app.views import ChartReply, Reply
from bot.chat.telegram_limits import BROADCAST_PER_SECOND as BROADCAST_PER_SECOND
from bot.chat.telegram_limits import broadcast_limiter as broadcast_limiter
from bot.core.backoff import exponential_delay
from bot.core.document import Document
from bot.core.records import ChatKey, ChatKind, Platform
from bot.core.send_outcome import (
    ChatGone,
    ChatMoved,
    PartAccepted,
    Rejected,
    RetryAfter,
    SendOutcome,
    Sent,
    Transient,
)
from bot.errors import ChatPlatformError
from bot.ports import Clock
from bot.render.documents import reply_document
from bot.render.plain_text import document_text
from bot.render.telegram_html import (
    TelegramMessage,
    plain_chunks,
    render_document,
)

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
ADMIN_STATUSES = frozenset({ChatMember.ADMINISTRATOR, ChatMember.OWNER})
GONE_STATUSES = frozenset({ChatMember.LEFT, ChatMember.BANNED})
ALLOWED_UPDATES = ("message", "channel_post", "my_chat_member")
# BadRequest texts meaning the destination no longer exists (PTB strips "Bad Request: ").
_GONE_TEXTS = ("chat not found", "message thread not found", "topic_deleted", "topic_closed")
_PARSE_TEXTS = ("can't parse entities", "can't find end of the entity", "unsupported start tag")
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_TAG = re.compile(r"</?[a-z]+>")

TelegramApp = Application[Any, Any, Any, Any, Any, Any]


def chat_kind(chat: Chat) -> ChatKind:
    """Private chats may change their own settings; groups and channels need an admin."""
    if chat.type == Chat.PRIVATE:
        return ChatKind.PRIVATE
    if chat.type == Chat.CHANNEL:
        return ChatKind.CHANNEL
    return ChatKind.GROUP


def command_menu(registry: CommandRegistry) -> list[BotCommand]:
    """The Telegram command menu (``setMyCommands``): every command with its summary."""
    return [BotCommand(command.name, command.summary) for command in registry]


def key_of(message: Message) -> ChatKey:
    """Where replies, alerts and digests for this message's conversation go."""
    thread = message.message_thread_id if message.is_topic_message else None
    return ChatKey(Platform.TELEGRAM, str(message.chat.id), None if thread is None else str(thread))


def outcome_of(chat: ChatKey, exc: TelegramError) -> SendOutcome:
    """The delivery outcome of a Telegram error (order matters: BadRequest is a NetworkError)."""
    match exc:
        case ChatMigrated():
            return ChatMoved(ChatKey(Platform.TELEGRAM, str(exc.new_chat_id), chat.thread_id))
        case TelegramRetryAfter():
            wait = exc.retry_after
            return RetryAfter(wait.total_seconds() if isinstance(wait, timedelta) else float(wait))
        case Forbidden():
            return ChatGone(exc.message)  # "Forbidden: bot was blocked by the user"
        case BadRequest() if any(t in exc.message.lower() for t in _GONE_TEXTS):
            return ChatGone(f"Bad request: {exc.message}")
        case BadRequest():
            return Rejected(f"Bad request: {exc.message}")
        case InvalidToken():
            logger.error("Telegram refused the bot token while sending; check TELEGRAM_BOT_TOKEN")
            return Transient("Telegram refused the bot token")
        case NetworkError():
            return Transient(f"{type(exc).__name__}: {exc.message}")
        case _:
            return Transient(f"{type(exc).__name__}: {exc.message}")


def html_as_plain(html_text: str) -> str:
    """What one of our HTML messages shows, as plain text: our tags dropped, entities decoded.

    Every ``<`` that came from data is escaped, so each tag left is one of ours.
    """
    return unescape(_TAG.sub("", html_text))


def _is_parse_error(exc: TelegramError) -> bool:
    return isinstance(exc, BadRequest) and any(t in exc.message.lower() for t in _PARSE_TEXTS)


@dataclass(frozen=True, slots=True)
class _Outgoing:
    """One thing to post: the HTML rendering and the plain text to fall back to."""

    html: TelegramMessage
    plain: str


class TelegramAdapter:
    """Serves one Telegram bot: commands in, replies, alerts and digests out.

    Args:
        commands: the channel-agnostic command layer.
        clock: the application's clock.
        token: the bot token (never logged).
        base_url: the Bot API base, ``{base_url}{token}/{method}`` (``TELEGRAM_BASE_URL``).
        rate_limiter: PTB's limiter; the default (``broadcast_limiter``) keeps to
            Telegram's broadcast limits and waits out one 429 itself.
        poll_timeout: getUpdates long-poll seconds.
        admin_cache: how long a looked-up admin status is trusted.
        start_attempts: tries to reach Telegram at start-up before giving up.
    """

    platform = Platform.TELEGRAM

    def __init__(
        self,
        commands: CommandLayer,
        clock: Clock,
        *,
        token: str,
        base_url: str = DEFAULT_BASE_URL,
        rate_limiter: BaseRateLimiter[Any] | None = None,
        poll_timeout: float = 30,
        admin_cache: timedelta = timedelta(seconds=60),
        start_attempts: int = 3,
        concurrent_updates: int = 8,
    ) -> None:
        self._commands = commands
        self._clock = clock
        self._poll_timeout = poll_timeout
        self._admin_cache = admin_cache.total_seconds()
        self._admins: dict[tuple[int, int], tuple[float, bool]] = {}
        self._start_attempts = start_attempts
        self._poll_failing = False
        self._started = False
        self._initialized = False
        limiter = rate_limiter or broadcast_limiter()
        self._requests = (
            HTTPXRequest(connection_pool_size=64, read_timeout=15, write_timeout=30),
            HTTPXRequest(read_timeout=15),
        )
        self.app: TelegramApp = (
            ApplicationBuilder()
            .token(token)
            .base_url(base_url)
            .request(self._requests[0])
            .get_updates_request(self._requests[1])
            .rate_limiter(limiter)
            .job_queue(None)
            .concurrent_updates(concurrent_updates)
            .build()
        )
        commands_filter = filters.COMMAND & ~filters.UpdateType.EDITED
        self.app.add_handler(MessageHandler(commands_filter, self._on_command))
        self.app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, self._on_migrate))
        self.app.add_handler(ChatMemberHandler(self._on_membership, ChatMemberHandler.MY_CHAT_MEMBER))
        self.app.add_error_handler(self._on_error)

    # --- life cycle ---------------------------------------------------------------------

    async def start(self, serve_commands: bool = True) -> None:
        """Check the token (getMe) and start; with ``serve_commands``, set the command menu and poll.

        Telegram lets one process per bot long-poll for updates: the other processes of a
        multi-process set-up start with ``serve_commands=False`` and only deliver, until
        ``serve_commands(True)`` hands them the commands (``bot.ports.ChatAdapter``).
        """
        await self._initialize()
        try:
            await self.app.start()
            if serve_commands:
                await self.serve_commands(True)
        except BaseException:
            if self.app.running:
                await self.app.stop()
            await self.app.shutdown()  # close the HTTP sessions opened by initialize
            self._initialized = False
            raise
        self._started = True
        if not serve_commands:
            logger.info("Telegram: @%s started to deliver only (not polling)", self.app.bot.username)

    async def serve_commands(self, on: bool) -> None:
        """Start or stop answering commands (long polling); idempotent."""
        updater = self.app.updater
        if updater is None:  # built with the default updater; only a custom build lacks one
            raise ChatPlatformError("the Telegram application has no updater to poll with")
        if on and not updater.running:
            try:
                await self.app.bot.set_my_commands(command_menu(self._commands.registry))
            except TelegramError as exc:  # a missing menu is cosmetic; commands still work
                logger.warning("could not set the Telegram command menu: %s", exc.message)
            await updater.start_polling(
                timeout=timedelta(seconds=self._poll_timeout),
                allowed_updates=list(ALLOWED_UPDATES),
                bootstrap_retries=3,
                error_callback=self._on_poll_error,
            )
            logger.info("Telegram: polling as @%s", self.app.bot.username)
        elif not on and updater.running:
            await updater.stop()
            logger.info("Telegram: stopped polling (another process answers commands)")

    async def _initialize(self) -> None:
        for attempt in range(1, self._start_attempts + 1):
            try:
                await self.app.initialize()
                self._initialized = True
                return
            except TelegramError as exc:
                # A failed getMe leaves the HTTP clients open; PTB's shutdown would skip them.
                for request in self._requests:
                    await request.shutdown()
                if isinstance(exc, InvalidToken):
                    raise ChatPlatformError(
                        "Telegram refused TELEGRAM_BOT_TOKEN; create or copy it with @BotFather"
                    ) from None
                if attempt == self._start_attempts:
                    raise ChatPlatformError(
                        f"Telegram is unreachable ({exc.message}); check TELEGRAM_BASE_URL and the network"
                    ) from None
                delay = exponential_delay(attempt, base=2.0)
                logger.warning("Telegram not reachable yet (%s); retrying in %.0fs", exc.message, delay)
                await asyncio.sleep(delay)

    async def stop(self) -> None:
        """Stop polling and close the HTTP sessions; safe to call twice."""
        if not self._started:
            if self._initialized:
                self._initialized = False
                await self.app.shutdown()
            return
        self._started = self._initialized = False
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    # --- incoming -----------------------------------------------------------------------

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.text is None or not message.entities:
            return
        self._poll_failing = False  # updates arrive: polling works again
        length = message.entities[0].length
        name, _, addressee = message.text[1:length].partition("@")
        if addressee and addressee.lower() != (self.app.bot.username or "").lower():
            return  # "/score@otherbot" in a group is not for us
        args = message.text[length:].strip()
        kind = chat_kind(message.chat)
        sender = message.from_user.id if message.from_user else None
        request = CommandRequest(
            chat=key_of(message),
            chat_kind=kind,
            user_id=str(sender if sender is not None else message.chat.id),
            is_chat_admin=await self._is_admin(message, kind, name, args),
            command=name,
            args=args,
            now=self._clock.now(),
        )
        reply = await self._commands.handle(request)
        await self.answer(message, reply)

    async def answer(self, message: Message, reply: Reply) -> None:
        """Post ``reply`` where ``message`` came from (quoting it in groups)."""
        key = key_of(message)
        quote = None if message.chat.type == Chat.PRIVATE else message.message_id
        doc = reply_document(reply)
        html = render_document(doc, reply.png if isinstance(reply, ChartReply) else None)
        outgoing = _Outgoing(html, document_text(doc))
        outcome = await self._post(key, outgoing, quote)
        if isinstance(outcome, ChatMoved):
            await self._commands.chat_moved(key, outcome.new_key)
            outcome = await self._post(outcome.new_key, outgoing, None)
        if isinstance(outcome, ChatGone):
            await self._commands.chat_gone(key, outcome.error)
        elif not isinstance(outcome, Sent):
            logger.warning("reply to %s not sent: %s", key.chat_id, outcome)

    async def _is_admin(self, message: Message, kind: ChatKind, name: str, args: str) -> bool:
        """Ask Telegram whether the sender administers the chat, only when it matters."""
        if kind is not ChatKind.GROUP:
            return True  # private: own settings; channel: only admins can post there
        if not self._commands.admin_matters(name, args):
            return False
        if message.sender_chat is not None and message.sender_chat.id == message.chat.id:
            return True  # an anonymous admin posts as the group itself
        if message.from_user is None:
            return False
        cache_key = (message.chat.id, message.from_user.id)
        cached = self._admins.get(cache_key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            member = await self.app.bot.get_chat_member(message.chat.id, message.from_user.id)
        except TelegramError as exc:
            logger.warning("admin check in %s failed: %s", message.chat.id, exc.message)
            return False  # refuse rather than let a non-admin change settings
        is_admin = member.status in ADMIN_STATUSES
        self._admins[cache_key] = (now + self._admin_cache, is_admin)
        return is_admin

    async def _on_migrate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A group became a supergroup: its settings and watchlist follow it to the new id."""
        message = update.effective_message
        if message is None:
            return
        if message.migrate_to_chat_id is not None:
            old, new = message.chat.id, message.migrate_to_chat_id
        elif message.migrate_from_chat_id is not None:
            old, new = message.migrate_from_chat_id, message.chat.id
        else:
            return
        await self._commands.chat_moved(
            ChatKey(Platform.TELEGRAM, str(old)), ChatKey(Platform.TELEGRAM, str(new))
        )

    async def _on_membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The bot was removed from a group or blocked in a private chat: stop sending there."""
        change = update.my_chat_member
        if change is not None and change.new_chat_member.status in GONE_STATUSES:
            key = ChatKey(Platform.TELEGRAM, str(change.chat.id))
            await self._commands.chat_gone(key, f"bot status is now {change.new_chat_member.status}")

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        if isinstance(error, TelegramError):
            logger.warning("Telegram update not handled: %s: %s", type(error).__name__, error.message)
        else:
            logger.error("Telegram update handler failed", exc_info=error)

    def _on_poll_error(self, error: TelegramError) -> None:
        # PTB retries polling itself; say it once per outage, not on every retry.
        if not self._poll_failing:
            self._poll_failing = True
            logger.warning("Telegram polling failing (%s: %s); retrying", type(error).__name__, error.message)

    # --- outgoing -----------------------------------------------------------------------

    async def send(
        self,
        chat: ChatKey,
        document: Document,
        attachment: bytes | None = None,
        *,
        start: int = 0,
        on_part: PartAccepted | None = None,
    ) -> SendOutcome:
        """Post an alert or digest (``bot.ports.Sink``); its chart follows the text as a photo.

        The parts are the HTML messages of ``render_document``, then the chart. A part whose
        HTML Telegram refuses goes out again as that same part in plain text (and so do the
        parts after it), so a part's number means the same text either way.
        """
        html = render_document(document, attachment)
        texts = html.texts
        plain = False
        for k in range(start, len(texts) + (html.photo is not None)):
            try:
                if k < len(texts):
                    try:
                        await self._text_part(chat, texts[k], plain=plain)
                    except BadRequest as exc:
                        if plain or not _is_parse_error(exc):
                            raise
                        # Our escaping should make this impossible; if Telegram disagrees,
                        # the trader still gets the message, as plain text.
                        logger.warning(
                            "Telegram refused our HTML (%s); re-sending as plain text", exc.message
                        )
                        plain = True
                        await self._text_part(chat, texts[k], plain=plain)
                elif html.photo is not None:
                    caption = html.caption or ""
                    caption = html_as_plain(caption) if plain else caption
                    await self._photo(chat, html.photo, caption, None if plain else ParseMode.HTML, None)
            except TelegramError as exc:
                return outcome_of(chat, exc)
            if on_part is not None:
                await on_part(k + 1)
        return Sent()

    async def _text_part(self, chat: ChatKey, html_text: str, *, plain: bool) -> None:
        await self._call(
            self.app.bot.send_message,
            chat,
            None,
            text=html_as_plain(html_text) if plain else html_text,
            parse_mode=None if plain else ParseMode.HTML,
            link_preview_options=_NO_PREVIEW,
        )

    async def _post(self, chat: ChatKey, out: _Outgoing, quote: int | None) -> SendOutcome:
        try:
            await self._transmit(chat, out.html.texts, ParseMode.HTML, quote)
            if out.html.photo is not None:
                await self._photo(chat, out.html.photo, out.html.caption or "", ParseMode.HTML, quote)
        except TelegramError as exc:
            if not _is_parse_error(exc):
                return outcome_of(chat, exc)
            # Our escaping should make this impossible; if Telegram disagrees, the trader
            # still gets the message, as plain text.
            logger.warning("Telegram refused our HTML (%s); re-sending as plain text", exc.message)
            return await self._post_plain(chat, out, quote)
        return Sent()

    async def _post_plain(self, chat: ChatKey, out: _Outgoing, quote: int | None) -> SendOutcome:
        try:
            texts = plain_chunks(out.plain) if out.html.texts else ()
            await self._transmit(chat, texts, None, quote)
            if out.html.photo is not None:
                caption = html_as_plain(out.html.caption or "")
                await self._photo(chat, out.html.photo, caption, None, quote)
        except TelegramError as exc:
            return outcome_of(chat, exc)
        return Sent()

    async def _transmit(
        self, chat: ChatKey, texts: tuple[str, ...], parse_mode: str | None, quote: int | None
    ) -> None:
        for k, text in enumerate(texts):
            await self._call(
                self.app.bot.send_message,
                chat,
                quote if k == 0 else None,
                text=text,
                parse_mode=parse_mode,
                link_preview_options=_NO_PREVIEW,
            )

    async def _photo(
        self, chat: ChatKey, png: bytes, caption: str, parse_mode: str | None, quote: int | None
    ) -> None:
        await self._call(
            self.app.bot.send_photo,
            chat,
            quote,
            photo=png,
            caption=caption or None,
            parse_mode=parse_mode if caption else None,
        )

    async def _call(
        self, method: Callable[..., Awaitable[Message]], chat: ChatKey, quote: int | None, **kwargs: Any
    ) -> Message:
        return await method(
            chat_id=int(chat.chat_id),
            message_thread_id=None if chat.thread_id is None else int(chat.thread_id),
            reply_parameters=(
                None if quote is None else ReplyParameters(quote, allow_sending_without_reply=True)
            ),
            **kwargs,
        )
