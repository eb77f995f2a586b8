"""A fake Discord on 127.0.0.1: REST and a websocket gateway for the real discord.py.

discord.py is pointed at it by patching two class attributes (``patch``):
``discord.http.Route.BASE`` for REST (interaction callbacks and follow-ups build the
same ``Route``) and ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``. The details a
fake must get right (``docs``: /work/shared/notes/chat-libraries.md §2.4):

* JSON answers carry exactly ``Content-Type: application/json`` (discord.py parses
  nothing else, and aiohttp's ``json_response`` adds ``; charset=utf-8``);
* login calls ``GET /users/@me`` (401 here for a wrong token) and
  ``GET /oauth2/applications/@me``;
* the gateway sends HELLO, acknowledges heartbeats and answers IDENTIFY with READY;
* ``INTERACTION_CREATE`` carries ``attachment_size_limit``; the callback
  (``?with_response=1``) is answered with JSON holding an ``interaction`` object;
* a 429 needs a ``Via`` header, else discord.py takes it for a Cloudflare ban; never
  answer 500/502/504 in fast tests (discord.py retries those with 1 s+ sleeps).

It is as strict as Discord (``tests.fakes.discord_rules``, shown by
``tests/contract/test_fake_discord.py``): every bot route needs ``Authorization: Bot
<token>`` (401); interaction callbacks and follow-ups authenticate by the interaction's
token in the path instead, as Discord's do (discord.py sends no header there); command
definitions, messages and embeds over Discord's limits get 400 with Discord's error
body; an interaction not answered within 3 s is unknown (404, 10062) and a second
initial response is refused (400, 40060). Time is the fake's own clock (``advance``), so
tests expire an interaction without sleeping. The gateway can send RECONNECT (op 7) and
INVALID_SESSION (op 9) and accepts RESUME only for the session it knows.

Everything discord.py sends is recorded as ``Posted`` (JSON or multipart with
``payload_json`` and files), per interaction and per channel, with helpers that wait.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord
import pytest
import yarl
from aiohttp import WSMsgType, web

from tests.fakes import discord_rules as rules
from tests.fakes.multipart import MultipartError, parse_form_data

API = "/api/v10"
TOKEN = "fake-discord-bot-token"  # noqa: S105 (a test value, not a secret)
APP_ID = 881_000_000_000_000_001
GUILD_ID = 771_000_000_000_000_001
CHANNEL_ID = 661_000_000_000_000_001
USER_ID = 551_000_000_000_000_001
MANAGE_GUILD = "32"
NO_PERMISSIONS = "0"
EPHEMERAL = 64
COMMAND = 2
AUTOCOMPLETE = 4
BOT_USER = {
    "id": str(APP_ID),
    "username": "dps",
    "discriminator": "0",
    "avatar": None,
    "global_name": "DPS",
    "bot": True,
}
_JSON = {"Content-Type": "application/json"}
_TIMESTAMP = "2025-01-06T12:00:00.000000+00:00"
ANSWER_WITHIN_S = 3.0
"""Discord's window for the initial response to an interaction."""
TOKEN_LIFETIME_S = 15 * 60.0
"""How long follow-ups and edits may use an interaction's token."""


@dataclass
class Posted:
    """One request discord.py made, parsed.

    Attributes:
        kind: ``callback``, ``followup``, ``edit``, ``delete``, ``message`` (to a
            channel), ``sync`` or ``other``.
        body: the JSON body, or ``payload_json`` of a multipart body.
        files: (file name, bytes) of each uploaded file.
        status: what the fake answered.
    """

    kind: str
    method: str
    path: str
    query: dict[str, str]
    body: Any
    files: list[tuple[str, bytes]] = field(default_factory=list)
    status: int = 200

    @property
    def message(self) -> dict[str, Any]:
        """The message part: ``data`` of a callback, the body itself otherwise."""
        if not isinstance(self.body, dict):
            return {}
        data = self.body.get("data") if self.kind == "callback" else self.body
        return data if isinstance(data, dict) else {}

    @property
    def type(self) -> int | None:
        """The callback type (4 message, 5 deferred, 8 autocomplete choices)."""
        return self.body.get("type") if isinstance(self.body, dict) else None

    @property
    def content(self) -> str:
        return self.message.get("content") or ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return list(self.message.get("embeds") or [])

    @property
    def flags(self) -> int:
        return int(self.message.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def allowed_mentions(self) -> dict[str, Any] | None:
        return self.message.get("allowed_mentions")

    @property
    def choices(self) -> list[dict[str, Any]]:
        return list(self.message.get("choices") or [])

    @property
    def channel_id(self) -> int | None:
        parts = self.path.split("/")
        return int(parts[2]) if self.kind == "message" else None

    def text(self) -> str:
        """Content and every embed's title, description and footer, one per line."""
        parts = [self.content]
        for embed in self.embeds:
            parts += [embed.get("title") or "", embed.get("description") or ""]
            parts.append((embed.get("footer") or {}).get("text") or "")
        return "\n".join(p for p in parts if p)


@dataclass
class _Interaction:
    id: int
    created: float
    acknowledged: bool = False


@dataclass
class _Failure:
    method: str
    prefix: str
    status: int
    body: Any
    headers: dict[str, str]
    times: int
    after: int = 0  # matching requests let through first (to hit part 2 of a message)
    uploads_only: bool = False  # only requests that upload a file
    drop: bool = False  # close the connection without an answer instead


class FakeDiscord:
    """Discord's REST API and gateway, as much as the bot uses, on 127.0.0.1.

    Attributes:
        requests: every REST request, answered or failed, in arrival order.
        syncs: the command lists of each ``PUT /applications/{id}/commands``.
        missing_channels / forbidden_channels: channel ids answered 404 / 403.
        identifies / resumes: gateway sessions started (IDENTIFY) and resumed (RESUME).
    """

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.requests: list[Posted] = []
        self.syncs: list[list[dict[str, Any]]] = []
        self.missing_channels: set[int] = set()
        self.forbidden_channels: set[int] = set()
        self.rest_base = ""
        self.gateway_url = ""
        self.identifies = 0
        self.resumes = 0
        self._failures: list[_Failure] = []
        self._by_token: dict[str, _Interaction] = {}
        self._ids = itertools.count(1_300_000_000_000_000_000)
        self._seq = itertools.count(1)
        self._sessions = itertools.count(1)
        self._session: str | None = None
        self._offset = 0.0
        self._ws: web.WebSocketResponse | None = None
        self._identified = asyncio.Event()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, shutdown_timeout=0.2, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.rest_base = f"http://{host}:{port}{API}"
        self.gateway_url = f"ws://{host}:{port}/gateway"
        return self

    async def stop(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def patch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point discord.py's REST and gateway at this fake (undone after the test)."""
        monkeypatch.setattr(discord.http.Route, "BASE", self.rest_base)
        monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(self.gateway_url))

    # --- test controls ---------------------------------------------------------------

    def fail_next(
        self,
        route: tuple[str, str],
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        times: int = 1,
        after: int = 0,
        uploads_only: bool = False,
    ) -> None:
        """Answer the next ``times`` requests whose method and API path (after
        ``/api/v10``) start like ``route`` (and that upload a file, if ``uploads_only``)
        with ``status`` and ``body``, once ``after`` such requests went through."""
        method, prefix = route
        self._failures.append(
            _Failure(method.upper(), prefix, status, body, dict(headers or {}), times, after, uploads_only)
        )

    def drop_next(
        self, route: tuple[str, str], *, times: int = 1, after: int = 0, uploads_only: bool = False
    ) -> None:
        """Like ``fail_next``, but the connection closes without an answer (a network drop
        before Discord took the request: nothing is posted). Recorded with status 499."""
        method, prefix = route
        self._failures.append(
            _Failure(method.upper(), prefix, 499, None, {}, times, after, uploads_only, True)
        )

    def rate_limit_next(self, route: tuple[str, str], retry_after: float, *, via: bool = True) -> None:
        """A 429 as Discord sends it: ``retry_after`` in the body and a ``Via`` header."""
        headers = {"Retry-After": str(max(1, round(retry_after)))}
        if via:
            headers["Via"] = "1.1 google"
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
        self.fail_next(route, 429, body, headers)

    def now(self) -> float:
        """The fake's clock (seconds): monotonic time plus what ``advance`` added."""
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock on, e.g. past an interaction's 3 s, without sleeping."""
        self._offset += seconds

    async def wait_identified(self, wait_s: float = 15.0) -> None:
        """Wait until a client has identified (or resumed) on the gateway (discord.py
        waits 5 s before identifying again after an invalidated session)."""
        await asyncio.wait_for(self._identified.wait(), wait_s)

    async def send_reconnect(self) -> None:
        """Gateway op 7: the client must reconnect and RESUME its session."""
        await self._send_op(7, None)

    async def invalidate_session(self, *, resumable: bool = False) -> None:
        """Gateway op 9: with ``resumable=False`` the session is gone and the client
        must IDENTIFY anew (a RESUME of it is refused with another op 9)."""
        if not resumable:
            self._session = None
        await self._send_op(9, resumable)

    async def _send_op(self, op: int, data: Any) -> None:
        await self.wait_identified()
        ws = self._ws
        assert ws is not None, "the bot is not connected to the gateway"
        self._identified.clear()  # interactions wait for the new connection
        await ws.send_json({"op": op, "d": data})

    async def push_interaction(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        itype: int = COMMAND,
        user_id: int = USER_ID,
        permissions: str = MANAGE_GUILD,
        channel_id: int = CHANNEL_ID,
        guild_id: int | None = GUILD_ID,
        focused: str | None = None,
        thread_parent_id: int | None = None,
    ) -> int:
        """Dispatch an ``INTERACTION_CREATE`` (slash command, or autocomplete with
        ``itype=4`` and the ``focused`` option) and return its id.

        ``guild_id=None`` makes it a DM; ``thread_parent_id`` puts it in a thread
        (``channel_id``) of that channel.
        """
        await self.wait_identified()
        assert self._ws is not None, "the bot is not connected to the gateway"
        interaction_id = next(self._ids)
        token = f"itoken-{interaction_id}"
        self._by_token[token] = _Interaction(interaction_id, self.now())
        user = {
            "id": str(user_id),
            "username": f"trader{user_id % 1000}",
            "discriminator": "0",
            "avatar": None,
            "global_name": "Trader",
        }
        opts = [
            {"name": key, "type": _option_type(value), "value": value}
            | ({"focused": True} if key == focused else {})
            for key, value in (options or {}).items()
        ]
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(APP_ID),
            "type": itype,
            "token": token,
            "version": 1,
            "data": {"id": str(APP_ID + 100), "name": name, "type": 1, "options": opts},
            "channel_id": str(channel_id),
            "locale": "en-US",
            "app_permissions": "2248473465835073",
            "entitlements": [],
            "attachment_size_limit": 10_485_760,
            "authorizing_integration_owners": {"0": str(guild_id)} if guild_id else {"1": str(user_id)},
            "context": 0 if guild_id else 1,
        }
        if guild_id is None:
            payload["user"] = user
            payload["channel"] = {"id": str(channel_id), "type": 1, "recipients": [user], "flags": 0}
        else:
            payload["guild_id"] = str(guild_id)
            payload["guild_locale"] = "en-US"
            payload["member"] = {
                "user": user,
                "roles": [],
                "joined_at": _TIMESTAMP,
                "deaf": False,
                "mute": False,
                "permissions": permissions,
                "flags": 0,
            }
            payload["channel"] = _channel(channel_id, guild_id, thread_parent_id, user_id)
        await self._dispatch("INTERACTION_CREATE", payload)
        return interaction_id

    async def responses(self, interaction_id: int, count: int = 1, wait_s: float = 5.0) -> list[Posted]:
        """Wait for ``count`` answers to the interaction (callback, edit, follow-ups, delete)."""
        return await self._wait(lambda: self.responses_now(interaction_id), count, wait_s)

    def responses_now(self, interaction_id: int) -> list[Posted]:
        return [p for p in self.requests if p.status < 300 and self._interaction_of(p) == interaction_id]

    async def answers(self, interaction_id: int, count: int = 1, wait_s: float = 5.0) -> list[Posted]:
        """Wait for ``count`` answers that carry a message (not a defer or a delete)."""
        return await self._wait(
            lambda: [p for p in self.responses_now(interaction_id) if _shows_message(p)], count, wait_s
        )

    async def channel_messages(
        self, channel_id: int | None = None, count: int = 1, wait_s: float = 5.0
    ) -> list[Posted]:
        """Wait for ``count`` messages accepted in a channel (any channel by default)."""
        return await self._wait(lambda: self.channel_messages_now(channel_id), count, wait_s)

    def channel_messages_now(self, channel_id: int | None = None) -> list[Posted]:
        return [
            p
            for p in self.requests
            if p.kind == "message" and p.status < 300 and channel_id in (None, p.channel_id)
        ]

    def calls(self, method: str, prefix: str) -> list[Posted]:
        """Requests (answered or failed) to paths starting with ``prefix``."""
        return [p for p in self.requests if p.method == method and p.path.startswith(prefix)]

    # --- gateway ---------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}})
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            op, data = frame.get("op"), frame.get("d") or {}
            if op == 1:  # heartbeat
                await ws.send_json({"op": 11})
            elif op == 2:  # identify
                if data.get("token") != self.token:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                self.identifies += 1
                self._session = f"fake-session-{next(self._sessions)}"
                await self._dispatch(
                    "READY",
                    {
                        "v": 10,
                        "user": BOT_USER,
                        "guilds": [],
                        "session_id": self._session,
                        "resume_gateway_url": self.gateway_url,
                        "application": {"id": str(APP_ID), "flags": 0},
                        "shard": [0, 1],
                    },
                )
                self._identified.set()
            elif op == 6:  # resume
                if data.get("token") != self.token or data.get("session_id") != self._session:
                    await ws.send_json({"op": 9, "d": False})  # not resumable: identify anew
                    continue
                self.resumes += 1
                await self._dispatch("RESUMED", {})
                self._identified.set()
        if self._ws is ws:  # a reconnect may have replaced this connection already
            self._identified.clear()
        return ws

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_json({"op": 0, "t": event, "s": next(self._seq), "d": data})

    # --- REST ------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = request.path.removeprefix(API)
        body, files = await _read_body(request)
        posted = Posted(_kind(request.method, path), request.method, path, dict(request.query), body, files)
        self.requests.append(posted)
        try:
            response = self._answer(request, posted)
            posted.status = response.status
            return response
        finally:
            async with self._changed:
                self._changed.notify_all()

    def _answer(self, request: web.Request, posted: Posted) -> web.Response:
        for failure in self._failures:
            if (
                failure.times > 0
                and failure.method == posted.method
                and posted.path.startswith(failure.prefix)
                and (posted.files or not failure.uploads_only)
            ):
                if failure.after > 0:
                    failure.after -= 1
                    continue
                failure.times -= 1
                if failure.drop:
                    if request.transport is not None:
                        request.transport.close()
                    return web.Response(status=failure.status)  # never reaches the client
                return _json(failure.body, failure.status, failure.headers)
        path, method = posted.path, posted.method
        if posted.kind == "callback":
            return self._callback(posted)
        if path.startswith("/webhooks/"):
            return self._webhook(posted)
        # Every other route is the bot's own: Discord wants the bot token on each.
        if request.headers.get("Authorization") != f"Bot {self.token}":
            return _json(rules.UNAUTHORIZED, 401)
        if path == "/users/@me" and method == "GET":
            return _json(BOT_USER)
        if path == "/oauth2/applications/@me" and method == "GET":
            return _json(_application())
        if posted.kind == "sync":
            if path.split("/")[2] != str(APP_ID):
                return _json({"message": "Missing Access", "code": 50001}, 403)
            if (refused := rules.check_commands(posted.body)) is not None:
                return _json(refused, 400)
            self.syncs.append(list(posted.body))
            return _json([_registered(c, k) for k, c in enumerate(posted.body)])
        if posted.kind == "message":
            channel_id = posted.channel_id or 0
            if channel_id in self.missing_channels:
                return _json({"message": "Unknown Channel", "code": 10003}, 404)
            if channel_id in self.forbidden_channels:
                return _json({"message": "Missing Access", "code": 50001}, 403)
            if (refused := rules.check_message(posted.body, files=len(posted.files))) is not None:
                return _json(refused, 400)
            return _json(self._message_object(channel_id, posted.message))
        return _json({"message": "404: Not Found", "code": 0}, 404)

    def _callback(self, posted: Posted) -> web.Response:
        """``POST /interactions/{id}/{token}/callback``: the initial response, once, in 3 s."""
        parts = posted.path.split("/")
        known = self._by_token.get(parts[3])
        if known is None or str(known.id) != parts[2] or self.now() - known.created > ANSWER_WITHIN_S:
            return _json(rules.UNKNOWN_INTERACTION, 404)
        if known.acknowledged:
            return _json(rules.ALREADY_ACKNOWLEDGED, 400)
        refused = None
        if posted.type in (4, 7):  # a message, or an update of one
            data = posted.body.get("data") if isinstance(posted.body, dict) else None
            refused = rules.check_message(data, files=len(posted.files), path=("data",))
        elif posted.type == 8:  # autocomplete choices
            refused = rules.check_choices(posted.body.get("data"))
        if refused is not None:
            return _json(refused, 400)
        known.acknowledged = True
        return _json(self._callback_answer(posted))

    def _webhook(self, posted: Posted) -> web.Response:
        """Follow-ups, edits and deletes by interaction token (no bot token needed)."""
        parts = posted.path.split("/")
        known = self._by_token.get(parts[3]) if len(parts) > 3 else None
        if parts[2] != str(APP_ID) or known is None or self.now() - known.created > TOKEN_LIFETIME_S:
            return _json(rules.INVALID_WEBHOOK_TOKEN, 401)
        if not known.acknowledged:  # nothing to edit or follow up before the initial response
            return _json({"message": "Unknown Webhook", "code": 10015}, 404)
        if posted.kind == "delete":
            return web.Response(status=204)
        if posted.kind in ("followup", "edit"):
            new = posted.kind == "followup"
            refused = rules.check_message(posted.body, files=len(posted.files), require_content=new)
            if refused is not None:
                return _json(refused, 400)
            return _json(self._message_object(CHANNEL_ID, posted.message))
        return _json({"message": "404: Not Found", "code": 0}, 404)

    def _callback_answer(self, posted: Posted) -> dict[str, Any]:
        interaction_id = int(posted.path.split("/")[2])
        return {
            "interaction": {
                "id": str(interaction_id),
                "type": 2,
                "response_message_id": str(next(self._ids)),
                "response_message_loading": posted.type == 5,
                "response_message_ephemeral": posted.ephemeral,
            }
        }

    def _message_object(self, channel_id: int, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": str(next(self._ids)),
            "channel_id": str(channel_id),
            "type": 0,
            "content": message.get("content") or "",
            "author": BOT_USER,
            "embeds": message.get("embeds") or [],
            "attachments": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "flags": message.get("flags") or 0,
            "components": [],
        }

    def _interaction_of(self, posted: Posted) -> int | None:
        parts = posted.path.split("/")
        if posted.kind == "callback":
            return int(parts[2])
        if posted.kind in ("followup", "edit", "delete"):
            known = self._by_token.get(parts[3])
            return None if known is None else known.id
        return None

    async def _wait(self, found: Callable[[], list[Posted]], count: int, wait_s: float) -> list[Posted]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(found()) >= count), wait_s)
        return found()


# --- payload helpers ---------------------------------------------------------------------


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(payload).encode(), headers={**_JSON, **(headers or {})}
    )


async def _read_body(request: web.Request) -> tuple[Any, list[tuple[str, bytes]]]:
    if not request.can_read_body:
        return None, []
    if request.content_type.startswith("multipart/"):
        # Parsed whole: aiohttp's streaming part reader may call its deprecated unread_data()
        # depending on how the upload arrives over TCP (a -W error flake).
        body: Any = None
        files: list[tuple[str, bytes]] = []
        try:
            parts = parse_form_data(await request.read(), request.headers.get("Content-Type", ""))
        except MultipartError:
            error = {"message": "Invalid Form Body", "code": 50035}
            raise web.HTTPBadRequest(text=json.dumps(error), content_type="application/json") from None
        for part in parts:
            if part.name == "payload_json":
                body = json.loads(part.content)
            else:
                files.append((part.filename or "", part.content))
        return body, files
    raw = await request.read()
    return (json.loads(raw) if raw else None), []


def _kind(method: str, path: str) -> str:
    parts = path.split("/")
    if path.startswith("/interactions/") and path.endswith("/callback"):
        return "callback"
    if path.startswith("/webhooks/") and path.endswith("/messages/@original"):
        return {"PATCH": "edit", "DELETE": "delete"}.get(method, "other")
    if path.startswith("/webhooks/") and len(parts) == 4 and method == "POST":
        return "followup"
    if path.startswith("/channels/") and path.endswith("/messages") and method == "POST":
        return "message"
    if path.startswith("/applications/") and path.endswith("/commands") and method == "PUT":
        return "sync"
    return "other"


def _shows_message(posted: Posted) -> bool:
    if posted.kind == "callback":
        return posted.type in (4, 8)
    return posted.kind in ("followup", "edit")


def _option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3


def _channel(channel_id: int, guild_id: int, parent_id: int | None, owner_id: int) -> dict[str, Any]:
    if parent_id is not None:
        return {
            "id": str(channel_id),
            "type": 11,
            "guild_id": str(guild_id),
            "parent_id": str(parent_id),
            "owner_id": str(owner_id),
            "name": "btc-talk",
            "message_count": 0,
            "member_count": 1,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": _TIMESTAMP,
                "locked": False,
            },
        }
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(guild_id),
        "name": "alerts",
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "rate_limit_per_user": 0,
    }


def _application() -> dict[str, Any]:
    return {
        "id": str(APP_ID),
        "name": "DPS",
        "description": "Derivatives Pressure Score",
        "icon": None,
        "bot_public": False,
        "bot_require_code_grant": False,
        "owner": {k: v for k, v in BOT_USER.items() if k != "bot"} | {"id": str(USER_ID)},
        "verify_key": "0" * 64,
        "flags": 0,
    }


def _registered(command: dict[str, Any], index: int) -> dict[str, Any]:
    return {
        **command,
        "id": str(APP_ID + 1000 + index),
        "application_id": str(APP_ID),
        "version": "1",
        "type": command.get("type", 1),
    }
