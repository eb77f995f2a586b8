"""A fake Telegram Bot API server on 127.0.0.1 for driving the real python-telegram-bot.

PTB is pointed at it with ``base_url=fake.base_url`` (URLs are ``{base_url}{token}/{method}``)
and talks to it over real HTTP, so request encoding (form-urlencoded or multipart, JSON in
non-string fields), the response envelope and PTB's error mapping are all exercised:

    429 + parameters.retry_after        -> telegram.error.RetryAfter
    400 + parameters.migrate_to_chat_id -> telegram.error.ChatMigrated
    403                                 -> telegram.error.Forbidden
    400                                 -> telegram.error.BadRequest
    401 / 404                           -> telegram.error.InvalidToken (EndPointNotFound via do_api_request)
    409                                 -> telegram.error.Conflict
    5xx                                 -> telegram.error.NetworkError

Validation follows Telegram: HTML, MarkdownV2 and legacy Markdown are parsed like tdlib
parses them (a malformed text is 400 "can't parse entities"), lengths are counted on the
visible text in UTF-16 code units, a ``message_thread_id`` must name a topic the chat has,
and Telegram's flood limits are on from the start (30 sends a second per bot, 20 a minute
per group, about one a second per chat with a short burst): a send beyond them is 429 with
``retry_after``. The limits run on ``clock`` (wall time unless a test passes a
``ManualClock``), and so do the long poll's hold and ``latency``.

Set ``NO_PROXY=127.0.0.1,localhost`` in the client's environment: httpx trusts proxy
variables and would otherwise route 127.0.0.1 through a proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes.multipart import MultipartError, parse_form_data
from tests.fakes.telegram_markdown import MarkdownError, parse_markdown, parse_markdown_v2

JSONDict = dict[str, Any]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
ANONYMOUS_ADMIN_ID = 1087968824  # @GroupAnonymousBot: "from" of messages by anonymous group admins
CHANNEL_BOT_ID = 136817688  # @Channel_Bot: "from" of messages sent on behalf of a channel

# Fields PTB JSON-encodes into form values (anything that is not a str); decoded for ``calls``.
JSON_FIELDS = frozenset(
    {
        "commands",
        "reply_markup",
        "reply_parameters",
        "entities",
        "caption_entities",
        "allowed_updates",
        "link_preview_options",
        "scope",
        "media",
    }
)
SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})
# Telegram leaves these out unless allowed_updates names them explicitly.
NOT_DELIVERED_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
BOT_COMMAND = re.compile(r"/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?")
CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"

# The admin rights PTB's ChatMemberAdministrator requires (22.8), plus the optional group ones.
ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
    "can_manage_topics",
)


@dataclass(frozen=True)
class Call:
    """One request as received: JSON fields decoded, ids kept as the strings sent, files as bytes."""

    method: str
    params: dict[str, Any]
    at: float  # the fake's clock on arrival


@dataclass(frozen=True)
class SentMessage:
    """A send the fake accepted. ``text`` is the text or caption exactly as sent (HTML and all);
    ``plain`` is what Telegram would display (tags removed, entities decoded, trimmed)."""

    method: str
    chat_id: str
    text: str | None
    parse_mode: str | None
    thread_id: str | None
    has_photo: bool
    photo_bytes: bytes | None
    reply_to: int | None
    at: float
    plain: str | None = None


class ApiError(Exception):
    """An error answer: becomes ``{"ok": false, "error_code", "description", "parameters"?}``."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@dataclass
class _Failure:
    method: str
    status: int
    description: str
    parameters: JSONDict | None
    chat_id: str | None
    times: int
    after: int = 0  # matching calls let through first (to hit part 2 of a message)
    drop: bool = False  # close the connection without an answer instead


class _DroppedError(Exception):
    """A call the fake drops: the connection closes before any answer."""


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's flood limits on sends (the Bot FAQ; PTB's ``constants.FloodLimit``).

    ``per_second`` across all chats and ``per_group_per_minute`` per group (negative chat
    id) are sliding windows. Within one chat Telegram asks for at most one message a second
    but "may allow short bursts": a bucket of ``per_chat_burst`` refilled at
    ``per_chat_per_second``. ``retry_after`` fixes the 429's wait; by default it is the
    whole seconds until the limit that refused would admit the send.
    """

    per_second: int = 30
    per_group_per_minute: int = 20
    per_chat_per_second: float = 1.0
    per_chat_burst: int = 5
    retry_after: int | None = None


class Clock(Protocol):
    """The fake's time: flood windows, the long poll's hold and ``latency`` run on it."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    def timer(self, seconds: float) -> asyncio.Future[None]: ...

    def cancel(self, wake: asyncio.Future[None]) -> None: ...


class WallClock:
    """Real time (the default)."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def timer(self, seconds: float) -> asyncio.Future[None]:
        """A future done ``seconds`` from now (``ManualClock.timer``'s real-time twin)."""
        loop = asyncio.get_running_loop()
        wake: asyncio.Future[None] = loop.create_future()
        handle = loop.call_later(max(seconds, 0.0), _finish, wake)
        wake.add_done_callback(lambda _: handle.cancel())
        return wake

    def cancel(self, wake: asyncio.Future[None]) -> None:
        wake.cancel()


def _finish(wake: asyncio.Future[None]) -> None:
    if not wake.done():
        wake.set_result(None)


@dataclass
class ManualClock:
    """Time that moves only by ``advance``: tests drive the flood windows, the long poll's
    hold and ``latency`` instead of sleeping. ``sleepers`` counts who is waiting on it."""

    now: float = 1_000.0
    _sleeping: list[tuple[float, asyncio.Future[None]]] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        wake = self.timer(seconds)
        try:
            await wake
        finally:
            self.cancel(wake)

    def timer(self, seconds: float) -> asyncio.Future[None]:
        """A future done once the clock has moved ``seconds`` on. It is registered before this
        returns, so an ``advance`` right after cannot miss it (a task wrapping ``sleep`` would
        register only when it first runs, one loop step later)."""
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleeping.append((self.now + seconds, wake))
        return wake

    def cancel(self, wake: asyncio.Future[None]) -> None:
        self._sleeping = [entry for entry in self._sleeping if entry[1] is not wake]

    @property
    def sleepers(self) -> int:
        return sum(1 for _, wake in self._sleeping if not wake.done())

    def advance(self, seconds: float) -> None:
        """Move on; whoever's sleep ends by then is woken (before this returns, in order)."""
        self.now += seconds
        for deadline, wake in sorted(self._sleeping, key=lambda entry: entry[0]):
            if deadline <= self.now and not wake.done():
                wake.set_result(None)


@dataclass
class _ChatBucket:
    tokens: float
    updated: float


def utf16_length(text: str) -> int:
    """A length as the Bot API counts it: UTF-16 code units (an emoji outside the BMP is 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# --- Telegram's HTML parse mode -----------------------------------------------------------

HTML_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "blockquote"}
    | {"tg-spoiler", "span"}
)
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_STRICT_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,7})|#x([0-9a-fA-F]{1,6}));")
_LENIENT_ENTITY = re.compile(r"&(?:([A-Za-z]+)|#x([0-9a-fA-F]*)|#([0-9]*));?")


class HtmlError(ValueError):
    """The reason Telegram gives after "can't parse entities: "."""


def _codepoint(value: int) -> str | None:
    if value <= 0 or value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        return None
    return chr(value)


def _entity_at(text: str, pos: int, *, strict: bool) -> tuple[str, int] | None:
    """Decode the character reference starting at ``text[pos] == "&"``: (character, end) or None."""
    if strict:
        m = _STRICT_ENTITY.match(text, pos)
        if m is None:
            return None
        name, dec, hexa = m.groups()
        char = _NAMED_ENTITIES[name] if name else _codepoint(int(dec) if dec else int(hexa, 16))
        return (char, m.end()) if char else None
    # tdlib: names are case-sensitive, the ";" is optional, numbers over 0x10ffff are invalid.
    m = _LENIENT_ENTITY.match(text, pos)
    if m is None:
        return None
    name, hexa, dec = m.groups()
    if name is not None:
        char = _NAMED_ENTITIES.get(name)
    elif hexa:
        char = _codepoint(int(hexa, 16))
    elif dec:
        char = _codepoint(int(dec))
    else:
        char = None
    return (char, m.end()) if char else None


def parse_html(text: str, *, strict: bool = True) -> str:
    """Return the visible text of a Telegram HTML message, or raise ``HtmlError``.

    Mirrors tdlib's ``parse_html``: only Telegram's tags, closed in order (``</>`` closes the
    innermost), attribute values quoted or simple tokens, ``<span>`` only as ``tg-spoiler``.
    ``strict`` also refuses an ``&`` that does not start ``&lt;``/``&gt;``/``&amp;``/``&quot;``/
    ``&#NN;``/``&#xHH;``, as the Bot API docs demand; tdlib itself keeps such an ``&`` as text.
    """
    out: list[str] = []
    stack: list[str] = []
    n = len(text)

    def at(pos: int) -> str:  # Telegram reports UTF-8 byte offsets
        return f"byte offset {len(text[:pos].encode('utf-8', 'surrogatepass'))}"

    def decode(pos: int) -> tuple[str, int]:
        found = _entity_at(text, pos, strict=strict)
        if found is not None:
            return found
        if strict:
            raise HtmlError(f'Character "&" at {at(pos)} does not start an HTML entity; write &amp;')
        return "&", pos + 1

    def skip_spaces(pos: int) -> int:
        while pos < n and text[pos].isspace():
            pos += 1
        return pos

    i = 0
    while i < n:
        ch = text[i]
        if ch == "&":
            char, i = decode(i)
            out.append(char)
            continue
        if ch != "<":
            out.append(ch)
            i += 1
            continue
        begin = i
        if i + 1 < n and text[i + 1] == "/":
            if not stack:
                raise HtmlError(f"Unexpected end tag at {at(begin)}")
            j = i + 2
            while j < n and not text[j].isspace() and text[j] != ">":
                j += 1
            name = text[i + 2 : j].lower()
            j = skip_spaces(j)
            if j >= n or text[j] != ">":
                raise HtmlError(f"Unclosed end tag at {at(begin)}")
            expected = stack.pop()
            if name and name != expected:
                raise HtmlError(
                    f'Unmatched end tag at {at(begin)}, expected "</{expected}>", found "</{name}>"'
                )
            i = j + 1
            continue
        j = i + 1
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            raise HtmlError(f"Unclosed start tag at {at(begin)}")
        tag = text[i + 1 : j].lower()
        if tag not in HTML_TAGS:
            raise HtmlError(f'Unsupported start tag "{tag}" at {at(begin)}')
        attributes: dict[str, str] = {}
        while True:
            j = skip_spaces(j)
            if j >= n:
                raise HtmlError(f"Unclosed start tag at {at(begin)}")
            if text[j] == ">":
                break
            name_begin = j
            while j < n and not text[j].isspace() and text[j] not in "=>":
                j += 1
            attribute = text[name_begin:j].lower()
            if not attribute:
                raise HtmlError(f'Empty attribute name in the tag "{tag}" at {at(begin)}')
            j = skip_spaces(j)
            if j >= n:
                raise HtmlError(f"Unclosed start tag at {at(begin)}")
            if text[j] != "=":
                if tag == "blockquote" and attribute == "expandable":
                    attributes[attribute] = ""
                    continue
                raise HtmlError(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" at {at(begin)}'
                )
            j = skip_spaces(j + 1)
            if j >= n:
                raise HtmlError(f"Unclosed start tag at {at(begin)}")
            if text[j] in "'\"":
                quote, value = text[j], []
                j += 1
                while j < n and text[j] != quote:
                    if text[j] == "&":
                        char, j = decode(j)
                        value.append(char)
                    else:
                        value.append(text[j])
                        j += 1
                if j >= n:
                    raise HtmlError(f"Unclosed start tag at {at(begin)}")
                attributes[attribute] = "".join(value)
                j += 1
            else:
                token_begin = j
                while j < n and ((text[j].isascii() and text[j].isalnum()) or text[j] in ".-"):
                    j += 1
                if j >= n:
                    raise HtmlError(f"Unclosed start tag at {at(begin)}")
                if not (text[j].isspace() or text[j] == ">"):
                    raise HtmlError(f"Unexpected end of name token at {at(token_begin)}")
                attributes[attribute] = text[token_begin:j].lower()
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            raise HtmlError(f'Tag "span" must have class "tg-spoiler" at {at(begin)}')
        stack.append(tag)
        i = j + 1
    if stack:
        raise HtmlError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


# --- the server ---------------------------------------------------------------------------

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class FakeTelegram:
    """A Telegram Bot API on 127.0.0.1 (port 0) for one bot token.

    Test controls: ``push_message``/``push_update`` (incoming), ``sent``/``wait_for_sent`` and
    ``calls`` (outgoing), ``admins``/``creators`` (getChatMember), ``add_topic`` (forum
    topics beyond those pushed messages came from), ``fail_next``/``block``/``migrate``
    (errors), ``enforce_limits``/``lift_limits`` (flood limits, on by default), ``latency``
    (added to every send before it counts), ``jitter_answers`` (a seeded random delay on each
    send's answer). ``strict_html`` (default True) refuses a bare ``&`` that real
    Telegram would let through; ``long_poll_cap`` bounds how long an empty getUpdates is
    held so tests stay fast. ``clock`` runs the flood windows, the hold and the latency.
    """

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",  # noqa: S107 - a fake bot's token
        *,
        username: str = "dps_test_bot",
        bot_id: int = 123456,
        clock: Clock | None = None,
    ) -> None:
        self.token = token
        self.username = username
        self.bot_id = bot_id
        self.clock: Clock = clock or WallClock()
        self.polls_held = 0  # how many times a getUpdates began waiting (tests wait on this)
        self.base_url = ""
        self.calls: list[Call] = []
        self.admins: dict[int, set[int]] = {}
        self.creators: dict[int, int] = {}
        self.commands: list[dict[str, Any]] = []
        self.too_many_requests = 0
        self.latency = 0.0
        self._answer_delay: tuple[float, float, random.Random] | None = None
        self.strict_html = True
        self.long_poll_cap = 1.0
        self._sent: list[SentMessage] = []
        self._updates: list[JSONDict] = []
        self._next_update_id = 1
        self._message_ids: dict[int, int] = {}
        self._chats: dict[int, JSONDict] = {}  # chats seen in pushed updates, for realistic answers
        self._commands_by_scope: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._failures: list[_Failure] = []
        self._blocked: set[str] = set()
        self._migrated: dict[str, int] = {}
        self._limits: FloodLimits | None = FloodLimits()
        self._overall_window: deque[float] = deque()
        self._group_windows: dict[str, deque[float]] = {}
        self._chat_buckets: dict[str, _ChatBucket] = {}
        self._topics: set[tuple[int, int]] = set()  # (chat id, message_thread_id) of forum topics
        self._poll: asyncio.Future[str] | None = None  # the getUpdates currently held
        self._sent_changed = asyncio.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._closing = False
        handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "logOut": self._true,
            "close": self._true,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendChatAction": self._true,
            "editMessageText": self._edit_message_text,
            "deleteMessage": self._true,
            "answerCallbackQuery": self._true,
            "leaveChat": self._true,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
        }
        # Telegram matches method names case-insensitively; calls are recorded under the API's name.
        self._methods = {name.lower(): handler for name, handler in handlers.items()}
        self._canonical = {name.lower(): name for name in handlers}

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closing = False
        self._sent_changed = asyncio.Condition()  # asyncio primitives bind to the loop that uses them
        app = web.Application(client_max_size=50 * 1024 * 1024)  # Telegram takes 50 MB documents
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        # A short shutdown timeout: a long poll may still be held when the test ends.
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}/bot"

    async def stop(self) -> None:
        self._closing = True
        self._release_poll("closing")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- incoming updates ------------------------------------------------------------------

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int = 1001,
        chat_type: str = "private",
        thread_id: int | None = None,
        first_name: str = "Trader",
        sender_chat_id: int | None = None,
        is_topic_message: bool | None = None,
    ) -> int:
        """Queue a message (or channel post) from a user; returns its update_id.

        A leading ``/command`` or ``/command@bot`` gets a bot_command entity, as Telegram adds.
        With ``sender_chat_id`` the message is sent on behalf of a chat: "from" becomes
        @GroupAnonymousBot when that chat is the group itself (an anonymous admin), else
        @Channel_Bot; ``user_id`` is then ignored, as in Telegram.
        """
        chat: JSONDict = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
        else:
            chat["title"] = f"Chat {chat_id}"
        is_topic = thread_id is not None if is_topic_message is None else is_topic_message
        if is_topic:
            chat["is_forum"] = True
        self._chats[chat_id] = dict(chat)
        message: JSONDict = {"message_id": self._new_message_id(chat_id), "date": int(time.time())}
        message["chat"] = chat
        if chat_type == "channel":
            message["sender_chat"] = dict(chat)  # channel posts have no "from"
        elif sender_chat_id is not None:
            sender = self._chats.get(sender_chat_id, {"id": sender_chat_id, "type": "channel"})
            message["sender_chat"] = {k: v for k, v in sender.items() if k in ("id", "type", "title")}
            message["sender_chat"].setdefault("title", f"Chat {sender_chat_id}")
            if sender_chat_id == chat_id:
                message["from"] = {
                    "id": ANONYMOUS_ADMIN_ID,
                    "is_bot": True,
                    "first_name": "Group",
                    "username": "GroupAnonymousBot",
                }
            else:
                message["from"] = {
                    "id": CHANNEL_BOT_ID,
                    "is_bot": True,
                    "first_name": "Channel",
                    "username": "Channel_Bot",
                }
        else:
            message["from"] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if thread_id is not None:
            message["message_thread_id"] = thread_id
        if is_topic:
            message["is_topic_message"] = True
            assert thread_id is not None, "a topic message needs its thread_id"
            self._topics.add((chat_id, thread_id))
        message["text"] = text
        command = BOT_COMMAND.match(text)
        if command is not None:
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": command.end()}]
        kind = "channel_post" if chat_type == "channel" else "message"
        return self.push_update({kind: message})

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update (``update_id`` assigned when missing); returns its update_id."""
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
        self._updates.append(update)
        self._wake_poll()
        return int(update["update_id"])

    # -- outgoing --------------------------------------------------------------------------

    def sent(self, chat_id: int | str | None = None) -> list[SentMessage]:
        """Accepted sendMessage/sendPhoto/sendDocument calls, in order (to ``chat_id`` if given)."""
        if chat_id is None:
            return list(self._sent)
        return [m for m in self._sent if m.chat_id == str(chat_id)]

    async def wait_for_sent(
        self,
        count: int,
        *,
        chat_id: int | str | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - a test helper's deadline, not an I/O timeout
    ) -> list[SentMessage]:
        """Wait until at least ``count`` messages were sent (to ``chat_id`` if given)."""
        try:
            async with asyncio.timeout(timeout), self._sent_changed:
                await self._sent_changed.wait_for(lambda: len(self.sent(chat_id)) >= count)
        except TimeoutError:
            so_far = [(m.method, m.chat_id, (m.text or "")[:80]) for m in self._sent]
            where = "" if chat_id is None else f" to chat {chat_id}"
            raise AssertionError(
                f"expected {count} sent{where} within {timeout}s; got {len(self.sent(chat_id))}: {so_far}"
            ) from None
        return self.sent(chat_id)

    # -- faults ----------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        description: str,
        parameters: dict[str, Any] | None = None,
        chat_id: int | None = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """The next ``times`` calls of ``method`` (to ``chat_id`` if given) get this error,
        once ``after`` such calls went through."""
        canonical = self._canonical.get(method.lower(), method)
        chat = None if chat_id is None else str(chat_id)
        self._failures.append(_Failure(canonical, status, description, parameters, chat, times, after))

    def drop_next(self, method: str, *, chat_id: int | None = None, times: int = 1, after: int = 0) -> None:
        """Like ``fail_next``, but the connection closes without an answer (a network drop
        before Telegram took the call: nothing is sent)."""
        canonical = self._canonical.get(method.lower(), method)
        chat = None if chat_id is None else str(chat_id)
        self._failures.append(_Failure(canonical, 0, "", None, chat, times, after, drop=True))

    def block(self, chat_id: int) -> None:
        """Sends to the chat get 403 (user blocked the bot / bot kicked from the group)."""
        self._blocked.add(str(chat_id))

    def unblock(self, chat_id: int) -> None:
        self._blocked.discard(str(chat_id))

    def migrate(self, chat_id: int, new_chat_id: int) -> None:
        """Every call naming ``chat_id`` gets 400 with ``migrate_to_chat_id``, like an upgraded group."""
        self._migrated[str(chat_id)] = new_chat_id

    def add_topic(self, chat_id: int, thread_id: int) -> None:
        """The forum chat has a topic ``thread_id`` (pushing a message from it does this too)."""
        self._topics.add((chat_id, thread_id))
        self._chats.setdefault(chat_id, {"id": chat_id, "type": "supergroup", "title": f"Chat {chat_id}"})
        self._chats[chat_id]["is_forum"] = True

    def enforce_limits(
        self,
        *,
        per_second: int = 30,
        per_group_per_minute: int = 20,
        per_chat_per_second: float = 1.0,
        per_chat_burst: int = 5,
        retry_after: int | None = None,
    ) -> None:
        """Sends beyond these flood limits get 429 (Telegram's are the default, and on from
        the start); the windows start empty."""
        self._limits = FloodLimits(
            per_second, per_group_per_minute, per_chat_per_second, per_chat_burst, retry_after
        )
        self._overall_window.clear()
        self._group_windows.clear()
        self._chat_buckets.clear()

    def jitter_answers(self, low: float, high: float, *, seed: int = 0) -> None:
        """Answer each send after a delay drawn uniformly from ``[low, high]`` seconds (seeded).

        Unlike ``latency``, the send has reached Telegram by then: the flood limits and
        ``sent()`` count it on arrival, and the delay is the processing and the way back. So
        the jitter changes how long a sender waits for each answer (how many sends it needs
        in flight to keep a pace), not the order in which its sends arrive.
        """
        if not 0 <= low <= high:
            raise ValueError(f"jitter_answers: need 0 <= low <= high, got {low}, {high}")
        self._answer_delay = (low, high, random.Random(seed))

    def lift_limits(self) -> None:
        """No flood limits: only for a test that must send faster than Telegram allows,
        and that says why."""
        self._limits = None

    # -- HTTP ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = self.clock.monotonic()
        try:
            params = await _read_params(request)
        except ApiError as exc:
            return _error(exc)
        method = self._canonical.get(request.match_info["method"].lower(), request.match_info["method"])
        self.calls.append(Call(method, params, arrived))
        if request.match_info["token"] != self.token:
            return _error(ApiError(401, "Unauthorized"))
        handler = self._methods.get(method.lower())
        if handler is None:
            return _error(ApiError(404, "Not Found"))
        try:
            if method in SEND_METHODS and self.latency:
                await self.clock.sleep(self.latency)
            self._check_faults(method, params)
            result = await handler(params)
        except _DroppedError:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never reaches the client
        except ApiError as exc:
            if exc.status == 429:
                self.too_many_requests += 1
            await self._delay_answer(method)
            return _error(exc)
        await self._delay_answer(method)
        return web.json_response({"ok": True, "result": result})

    async def _delay_answer(self, method: str) -> None:
        if self._answer_delay is not None and method in SEND_METHODS:
            low, high, rng = self._answer_delay
            await self.clock.sleep(rng.uniform(low, high))

    def _check_faults(self, method: str, params: dict[str, Any]) -> None:
        chat = params.get("chat_id")
        for failure in self._failures:
            if failure.method == method and failure.chat_id in (None, chat):
                if failure.after > 0:
                    failure.after -= 1
                    continue
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                if failure.drop:
                    raise _DroppedError
                raise ApiError(failure.status, failure.description, failure.parameters)
        if chat in self._migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self._migrated[chat]},
            )
        if chat in self._blocked and method.startswith("send"):
            raise ApiError(403, _forbidden_text(chat))

    def _check_limits(self, chat: str) -> None:
        """Admit one valid send under the flood limits, or raise 429 with Telegram's body."""
        limits = self._limits
        if limits is None:
            return
        now = self.clock.monotonic()
        overall = self._overall_window
        while overall and overall[0] <= now - 1.0:
            overall.popleft()
        group = self._group_windows.setdefault(chat, deque()) if chat.startswith("-") else None
        while group and group[0] <= now - 60.0:
            group.popleft()
        bucket = self._chat_buckets.setdefault(chat, _ChatBucket(float(limits.per_chat_burst), now))
        bucket.tokens = min(
            float(limits.per_chat_burst),
            bucket.tokens + (now - bucket.updated) * limits.per_chat_per_second,
        )
        bucket.updated = now
        waits = []  # seconds until each exhausted limit would admit this send
        if len(overall) >= limits.per_second:
            waits.append(overall[-limits.per_second] + 1.0 - now)
        if group is not None and len(group) >= limits.per_group_per_minute:
            waits.append(group[-limits.per_group_per_minute] + 60.0 - now)
        if bucket.tokens < 1.0:
            waits.append((1.0 - bucket.tokens) / limits.per_chat_per_second)
        if waits:
            retry_after = limits.retry_after or max(1, math.ceil(max(waits)))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        overall.append(now)
        if group is not None:
            group.append(now)
        bucket.tokens -= 1.0

    # -- methods ---------------------------------------------------------------------------

    async def _true(self, params: dict[str, Any]) -> bool:
        return True

    def _bot_user(self) -> JSONDict:
        return {"id": self.bot_id, "is_bot": True, "first_name": "DPS", "username": self.username}

    async def _get_me(self, params: dict[str, Any]) -> JSONDict:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        # PTB's start_polling(drop_pending_updates=True) relies on this to skip the backlog.
        if str(params.get("drop_pending_updates")).lower() == "true":
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: dict[str, Any]) -> JSONDict:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    async def _get_updates(self, params: dict[str, Any]) -> list[JSONDict]:
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates") or []
        # Telegram forgets every update below a positive offset ("confirmed"); -N keeps the last N.
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        wanted = set(allowed) if allowed else None
        # A second poller terminates the one being held, as Telegram does (409 Conflict).
        self._release_poll("conflict")
        deadline = self.clock.monotonic() + min(timeout, self.long_poll_cap)
        while True:
            # Telegram does not keep updates of a type the poller left out; keeping them here
            # would make every poll return at once (a busy loop) without ever delivering them.
            self._updates = [u for u in self._updates if _deliverable(u, wanted)]
            remaining = deadline - self.clock.monotonic()
            if self._updates or remaining <= 0 or self._closing:
                return self._updates[:limit]
            poll = asyncio.get_running_loop().create_future()
            self._poll = poll
            # The timer is on the clock before the hold is counted: a test that sees the count
            # and advances the clock then always ends this hold.
            timer = self.clock.timer(remaining)
            self.polls_held += 1
            try:
                await asyncio.wait({poll, timer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self.clock.cancel(timer)
                if self._poll is poll:
                    self._poll = None
            why = poll.result() if poll.done() else "timeout"
            if why == "conflict":
                raise ApiError(409, CONFLICT)

    def _release_poll(self, why: str) -> None:
        if self._poll is not None and not self._poll.done():
            self._poll.set_result(why)
        self._poll = None

    def _wake_poll(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._release_poll("update")
        else:  # pushed from another thread (a bench driver)
            loop.call_soon_threadsafe(self._release_poll, "update")

    async def _send_message(self, params: dict[str, Any]) -> JSONDict:
        chat = _chat_id(params)
        self._check_thread(chat, params)
        text, plain = self._text(params)
        self._check_limits(chat)
        message = self._outgoing(chat, params)
        message["text"] = plain
        await self._record(params, "sendMessage", chat, text, plain)
        return message

    async def _send_photo(self, params: dict[str, Any]) -> JSONDict:
        chat, photo, caption, plain, message, unique = self._file_message(params, "photo")
        message["photo"] = [
            {"file_id": f"photo-{unique}", "file_unique_id": f"p{unique}", "width": 1280, "height": 720}
        ]
        data = photo if isinstance(photo, bytes) else None
        await self._record(params, "sendPhoto", chat, caption, plain, has_photo=True, photo_bytes=data)
        return message

    async def _send_document(self, params: dict[str, Any]) -> JSONDict:
        chat, document, caption, plain, message, unique = self._file_message(params, "document")
        message["document"] = {"file_id": f"doc-{unique}", "file_unique_id": f"d{unique}"}
        if isinstance(document, bytes):
            message["document"]["file_size"] = len(document)
        await self._record(params, "sendDocument", chat, caption, plain)
        return message

    def _file_message(
        self, params: dict[str, Any], field: str
    ) -> tuple[str, bytes | str, str | None, str | None, JSONDict, str]:
        """Checks shared by photo and document sends; the message to answer with."""
        chat = _chat_id(params)
        sent = _file(params, field)
        if sent is None:
            raise ApiError(400, f"Bad Request: there is no {field} in the request")
        self._check_thread(chat, params)
        caption, plain = self._caption(params)
        self._check_limits(chat)
        message = self._outgoing(chat, params)
        if plain:
            message["caption"] = plain
        return chat, sent, caption, plain, message, f"{chat}-{message['message_id']}"

    async def _edit_message_text(self, params: dict[str, Any]) -> JSONDict:
        chat = _chat_id(params)
        _, plain = self._text(params)
        message = self._outgoing(chat, params, message_id=int(params.get("message_id") or 0))
        message["text"] = plain
        message["edit_date"] = int(time.time())
        return message

    def _text(self, params: dict[str, Any]) -> tuple[str, str]:
        """A message text and what Telegram would show, checked as Telegram checks them."""
        text = params.get("text")
        if not isinstance(text, str) or not text:
            raise ApiError(400, "Bad Request: message text is empty")
        plain = self._visible(text, params.get("parse_mode"))
        if not plain:
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_length(plain) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        return text, plain

    def _check_thread(self, chat: str, params: dict[str, Any]) -> None:
        """A ``message_thread_id`` must name a topic of the chat (a forum supergroup)."""
        thread = params.get("message_thread_id")
        if thread in (None, "", "0", 0):
            return
        if not str(thread).isdigit() or (int(chat), int(thread)) not in self._topics:
            raise ApiError(400, "Bad Request: message thread not found")

    def _caption(self, params: dict[str, Any]) -> tuple[str | None, str | None]:
        caption = params.get("caption")
        if not isinstance(caption, str) or not caption:
            return None, None
        plain = self._visible(caption, params.get("parse_mode"))
        if utf16_length(plain) > MAX_CAPTION_LENGTH:
            raise ApiError(400, "Bad Request: message caption is too long")
        return caption, plain

    def _visible(self, text: str, parse_mode: Any) -> str:
        """What Telegram would display: entities parsed and decoded, surrounding space trimmed."""
        mode = str(parse_mode).lower() if parse_mode else ""
        if mode not in ("", "html", "markdown", "markdownv2"):
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        parse: Callable[[str], str] | None = {
            "html": lambda raw: parse_html(raw, strict=self.strict_html),
            "markdownv2": parse_markdown_v2,
            "markdown": parse_markdown,
        }.get(mode)
        if parse is not None:
            try:
                text = parse(text)
            except (HtmlError, MarkdownError) as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        return text.strip()

    def _outgoing(self, chat: str, params: dict[str, Any], *, message_id: int | None = None) -> JSONDict:
        chat_id = int(chat)
        info = self._chat_info(chat_id)
        message: JSONDict = {
            "message_id": message_id or self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": info,
        }
        if info["type"] == "channel":
            message["sender_chat"] = dict(info)
        else:
            message["from"] = self._bot_user()
        thread = params.get("message_thread_id")
        if thread:
            message["message_thread_id"] = int(thread)
            if info.get("is_forum"):
                message["is_topic_message"] = True
        return message

    async def _record(
        self,
        params: dict[str, Any],
        method: str,
        chat: str,
        text: str | None,
        plain: str | None,
        *,
        has_photo: bool = False,
        photo_bytes: bytes | None = None,
    ) -> None:
        thread = params.get("message_thread_id")
        self._sent.append(
            SentMessage(
                method=method,
                chat_id=chat,
                text=text,
                parse_mode=params.get("parse_mode") or None,
                thread_id=str(thread) if thread else None,
                has_photo=has_photo,
                photo_bytes=photo_bytes,
                reply_to=_reply_to(params),
                at=self.clock.monotonic(),
                plain=plain,
            )
        )
        async with self._sent_changed:
            self._sent_changed.notify_all()

    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or not commands:
            raise ApiError(400, "Bad Request: commands must be non-empty")
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            name = command.get("command") if isinstance(command, dict) else None
            description = command.get("description") if isinstance(command, dict) else None
            if not isinstance(name, str) or not COMMAND_NAME.match(name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands = [{"command": c["command"], "description": c["description"]} for c in commands]
        self._commands_by_scope[_scope_key(params)] = self.commands
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self._commands_by_scope.get(_scope_key(params), [])

    async def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self._commands_by_scope.pop(_scope_key(params), None)
        return True

    async def _get_chat(self, params: dict[str, Any]) -> JSONDict:
        info = self._chat_info(int(_chat_id(params)))
        # ChatFullInfo requires these three (PTB 22.8).
        gifts = dict.fromkeys(
            (
                "unlimited_gifts",
                "limited_gifts",
                "unique_gifts",
                "premium_subscription",
                "gifts_from_channels",
            ),
            False,
        )
        return {**info, "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}

    async def _get_chat_member(self, params: dict[str, Any]) -> JSONDict:
        chat_id = int(_chat_id(params))
        user = params.get("user_id")
        if user is None or not str(user).lstrip("-").isdigit():
            raise ApiError(400, "Bad Request: invalid user_id specified")
        return self._member(chat_id, int(user))

    async def _get_chat_administrators(self, params: dict[str, Any]) -> list[JSONDict]:
        chat_id = int(_chat_id(params))
        if chat_id > 0:
            raise ApiError(400, "Bad Request: there are no administrators in the private chat")
        users = ([self.creators[chat_id]] if chat_id in self.creators else []) + sorted(
            self.admins.get(chat_id, set()) - {self.creators.get(chat_id)}
        )
        return [self._member(chat_id, user) for user in users]

    def _member(self, chat_id: int, user_id: int) -> JSONDict:
        if user_id == self.bot_id:
            user = self._bot_user()
        else:
            user = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        if self.creators.get(chat_id) == user_id:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in self.admins.get(chat_id, set()):
            rights = dict.fromkeys(ADMIN_RIGHTS, True)
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                **rights,
            }
        return {"status": "member", "user": user}

    # -- helpers ---------------------------------------------------------------------------

    def _chat_info(self, chat_id: int) -> JSONDict:
        known = self._chats.get(chat_id)
        if known is not None:
            return dict(known)
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        return {"id": chat_id, "type": "supergroup", "title": f"Chat {chat_id}"}

    def _new_message_id(self, chat_id: int) -> int:
        # Message ids are per chat in Telegram (private chats and supergroups alike).
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Query string plus body (form, multipart or JSON); files become bytes, JSON fields objects.

    The body is read whole and parsed here: aiohttp's streaming multipart reader calls its
    deprecated ``unread_data()`` when a boundary arrives split across TCP reads.
    """
    params: dict[str, Any] = dict(request.query)
    body = await request.read() if request.method == "POST" and request.can_read_body else b""
    content_type = request.content_type
    if content_type == "application/json":
        try:
            decoded = json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse JSON object") from None
        if isinstance(decoded, dict):
            params.update(decoded)
            for key in ("chat_id", "message_thread_id"):
                if key in params and params[key] is not None:
                    params[key] = str(params[key])
        return params
    if content_type == "multipart/form-data":
        params.update(parse_multipart(body, request.headers.get("Content-Type", "")))
    elif body:  # Telegram reads application/x-www-form-urlencoded for anything else
        try:
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise ApiError(400, "Bad Request: request body is not UTF-8") from None
    for key in JSON_FIELDS & params.keys():
        if isinstance(params[key], str):
            with contextlib.suppress(ValueError):  # left as sent; the method answers 400 if it matters
                params[key] = json.loads(params[key])
    return params


def parse_multipart(body: bytes, content_type: str) -> dict[str, str | bytes]:
    """A whole multipart/form-data body as fields: files (parts with a filename) as bytes,
    other parts as text. A body that is not well formed is 400."""
    try:
        parts = parse_form_data(body, content_type)
    except MultipartError:
        raise ApiError(400, "Bad Request: can't parse multipart/form-data body") from None
    return {part.name: part.content if part.filename is not None else part.text for part in parts}


def _error(exc: ApiError) -> web.Response:
    body: JSONDict = {"ok": False, "error_code": exc.status, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return web.json_response(body, status=exc.status)


def _chat_id(params: dict[str, Any]) -> str:
    chat = params.get("chat_id")
    if chat is None or chat == "":
        raise ApiError(400, "Bad Request: chat_id is empty")
    if not str(chat).lstrip("-").isdigit():
        raise ApiError(400, "Bad Request: chat not found")  # @usernames are not resolved here
    return str(chat)


def _file(params: dict[str, Any], field: str) -> bytes | str | None:
    """An uploaded file's bytes (directly or via ``attach://name``), or a file_id/URL string."""
    value = params.get(field)
    if isinstance(value, str) and value.startswith("attach://"):
        value = params.get(value.removeprefix("attach://"))
    if isinstance(value, bytes | str) and value:
        return value
    return None


def _reply_to(params: dict[str, Any]) -> int | None:
    reply = params.get("reply_parameters")
    if isinstance(reply, dict) and reply.get("message_id") is not None:
        return int(reply["message_id"])
    legacy = params.get("reply_to_message_id")
    return int(legacy) if legacy else None


def _scope_key(params: dict[str, Any]) -> tuple[str, str]:
    scope = params.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")


def _deliverable(update: JSONDict, wanted: set[str] | None) -> bool:
    kinds = update.keys() - {"update_id"}
    if wanted is None:
        return not kinds or not kinds <= NOT_DELIVERED_BY_DEFAULT
    return bool(kinds & wanted)


def _forbidden_text(chat: str) -> str:
    if not chat.startswith("-"):
        return "Forbidden: bot was blocked by the user"
    if chat.startswith("-100"):
        return "Forbidden: bot was kicked from the supergroup chat"
    return "Forbidden: bot was kicked from the group chat"


__all__ = [
    "ApiError",
    "Call",
    "Clock",
    "FakeTelegram",
    "FloodLimits",
    "HtmlError",
    "ManualClock",
    "SentMessage",
    "WallClock",
    "parse_html",
    "parse_multipart",
    "utf16_length",
]
