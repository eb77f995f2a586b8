"""The fake Discord refuses what Discord refuses, with Discord's status code and error body.

Driven by a plain HTTP and websocket client (aiohttp), not discord.py, so each rule is
seen exactly as it goes over the wire. The adapter's tests (``test_discord_adapter.py``)
then run the real discord.py against this strictness.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes import discord_rules as rules
from tests.fakes.discord_api import APP_ID, CHANNEL_ID, TOKEN, FakeDiscord

BOT = {"Authorization": f"Bot {TOKEN}"}
MESSAGES = f"/channels/{CHANNEL_ID}/messages"
COMMANDS = f"/applications/{APP_ID}/commands"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    fake: FakeDiscord,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    url = fake.rest_base + path
    async with http.request(method, url, json=body, headers=BOT if headers is None else headers) as response:
        raw = await response.read()
        return response.status, (json.loads(raw) if raw else None)


class Gateway:
    """A bare gateway client: identify or resume by hand, read what the fake sends."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.session_id = ""

    @classmethod
    async def connect(cls, http: aiohttp.ClientSession, fake: FakeDiscord) -> Gateway:
        gateway = cls(await http.ws_connect(fake.gateway_url))
        hello = await gateway.receive()
        assert hello["op"] == 10
        return gateway

    async def receive(self) -> dict[str, Any]:
        message = await self.ws.receive(timeout=5)
        assert message.type is aiohttp.WSMsgType.TEXT, message
        frame: dict[str, Any] = json.loads(message.data)
        return frame

    async def identify(self, token: str = TOKEN) -> dict[str, Any]:
        await self.ws.send_json({"op": 2, "d": {"token": token, "intents": 0, "properties": {}}})
        ready = await self.receive()
        self.session_id = ready["d"]["session_id"]
        return ready

    async def resume(self, session_id: str) -> dict[str, Any]:
        await self.ws.send_json({"op": 6, "d": {"token": TOKEN, "session_id": session_id, "seq": 1}})
        return await self.receive()


@pytest.fixture
async def gateway(fake: FakeDiscord, http: aiohttp.ClientSession) -> AsyncIterator[Gateway]:
    connected = await Gateway.connect(http, fake)
    await connected.identify()
    yield connected
    await connected.ws.close()


def field_error(body: Any, *path: str | int) -> list[dict[str, str]]:
    """The ``_errors`` at ``path`` of a 50035 Invalid Form Body answer."""
    assert body["code"] == 50035 and body["message"] == "Invalid Form Body", body
    node = body["errors"]
    for key in path:
        node = node[str(key)]
    errors: list[dict[str, str]] = node["_errors"]
    return errors


# --- authorization -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": TOKEN},
        {"Authorization": "Bot wrong-token"},
        {"Authorization": f"Bearer {TOKEN}"},
    ],
    ids=["missing", "no-bot-prefix", "wrong-token", "bearer"],
)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/users/@me", None),
        ("GET", "/oauth2/applications/@me", None),
        ("POST", MESSAGES, {"content": "hi"}),
        ("PUT", COMMANDS, []),
    ],
    ids=["me", "application", "message", "sync"],
)
async def test_every_bot_route_needs_the_bot_token(
    fake: FakeDiscord,
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    method: str,
    path: str,
    body: Any,
) -> None:
    assert await call(http, fake, method, path, body, headers) == (401, rules.UNAUTHORIZED)
    status, _ = await call(http, fake, method, path, body)
    assert status == 200
    assert not fake.syncs or fake.syncs == [[]]  # only the authorised sync got through


async def test_the_gateway_closes_on_a_wrong_token(fake: FakeDiscord, http: aiohttp.ClientSession) -> None:
    gateway = await Gateway.connect(http, fake)
    await gateway.ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 0, "properties": {}}})
    closed = await gateway.ws.receive(timeout=5)
    assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == 4004


# --- messages and embeds -----------------------------------------------------------------


def embed(**fields: Any) -> dict[str, Any]:
    return {"description": "x", **fields}


MESSAGE_LIMITS: list[tuple[str, dict[str, Any], dict[str, Any], tuple[str | int, ...], str]] = [
    ("content", {"content": "x" * 2000}, {"content": "x" * 2001}, ("content",), "BASE_TYPE_MAX_LENGTH"),
    (
        "embeds",
        {"embeds": [embed()] * 10},
        {"embeds": [embed()] * 11},
        ("embeds",),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        "title",
        {"embeds": [embed(title="t" * 256)]},
        {"embeds": [embed(title="t" * 257)]},
        ("embeds", 0, "title"),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        "description",
        {"embeds": [embed(description="d" * 4096)]},
        {"embeds": [embed(description="d" * 4097)]},
        ("embeds", 0, "description"),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        "fields",
        {"embeds": [embed(fields=[{"name": "n", "value": "v"}] * 25)]},
        {"embeds": [embed(fields=[{"name": "n", "value": "v"}] * 26)]},
        ("embeds", 0, "fields"),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        "field-name",
        {"embeds": [embed(fields=[{"name": "n" * 256, "value": "v"}])]},
        {"embeds": [embed(fields=[{"name": "n" * 257, "value": "v"}])]},
        ("embeds", 0, "fields", 0, "name"),
        "BASE_TYPE_BAD_LENGTH",
    ),
    (
        "field-value",
        {"embeds": [embed(fields=[{"name": "n", "value": "v" * 1024}])]},
        {"embeds": [embed(fields=[{"name": "n", "value": "v" * 1025}])]},
        ("embeds", 0, "fields", 0, "value"),
        "BASE_TYPE_BAD_LENGTH",
    ),
    (
        "footer",
        {"embeds": [embed(footer={"text": "f" * 2048})]},
        {"embeds": [embed(footer={"text": "f" * 2049})]},
        ("embeds", 0, "footer", "text"),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        "author",
        {"embeds": [embed(author={"name": "a" * 256})]},
        {"embeds": [embed(author={"name": "a" * 257})]},
        ("embeds", 0, "author", "name"),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        "embed-total",
        {"embeds": [embed(description="d" * 3000), embed(description="d" * 2999, title="t")]},
        {"embeds": [embed(description="d" * 3000), embed(description="d" * 3000, title="t")]},
        ("embeds",),
        "MAX_EMBED_SIZE_EXCEEDED",
    ),
    (
        "empty-embed",
        {"embeds": [{"title": "only a title"}]},
        {"embeds": [{"color": 1}]},
        ("embeds", 0, "description"),
        "BASE_TYPE_REQUIRED",
    ),
]


@pytest.mark.parametrize(
    ("accepted", "refused", "path", "code"),
    [m[1:] for m in MESSAGE_LIMITS],
    ids=[m[0] for m in MESSAGE_LIMITS],
)
async def test_a_channel_message_over_a_limit_is_an_invalid_form_body(
    fake: FakeDiscord,
    http: aiohttp.ClientSession,
    accepted: dict[str, Any],
    refused: dict[str, Any],
    path: tuple[str | int, ...],
    code: str,
) -> None:
    status, _ = await call(http, fake, "POST", MESSAGES, accepted)
    assert status == 200
    status, body = await call(http, fake, "POST", MESSAGES, refused)
    assert status == 400
    (error,) = field_error(body, *path)
    assert error["code"] == code
    assert len(fake.channel_messages_now(CHANNEL_ID)) == 1  # only the accepted one


async def test_an_empty_message_is_refused(fake: FakeDiscord, http: aiohttp.ClientSession) -> None:
    assert await call(http, fake, "POST", MESSAGES, {"content": "", "embeds": []}) == (
        400,
        {"message": "Cannot send an empty message", "code": 50006},
    )


async def test_the_error_body_names_the_limit_as_discord_words_it(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, fake, "POST", MESSAGES, {"content": "x" * 2001})
    assert (status, body) == (
        400,
        {
            "code": 50035,
            "errors": {
                "content": {
                    "_errors": [
                        {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}
                    ]
                }
            },
            "message": "Invalid Form Body",
        },
    )


# --- application commands ----------------------------------------------------------------


def command(name: str = "score", **more: Any) -> dict[str, Any]:
    return {"name": name, "description": "Score a symbol", "type": 1, **more}


def option(name: str = "symbol", **more: Any) -> dict[str, Any]:
    return {"name": name, "description": "A symbol", "type": 3, **more}


def choices(count: int) -> list[dict[str, Any]]:
    return [{"name": f"c{k}", "value": f"v{k}"} for k in range(count)]


COMMAND_RULES: list[tuple[str, list[dict[str, Any]], tuple[str | int, ...], str]] = [
    ("uppercase-name", [command("Score")], (0, "name"), "APPLICATION_COMMAND_INVALID_COMMAND"),
    ("space-in-name", [command("my score")], (0, "name"), "APPLICATION_COMMAND_INVALID_COMMAND"),
    ("name-33-chars", [command("s" * 33)], (0, "name"), "APPLICATION_COMMAND_INVALID_COMMAND"),
    ("empty-name", [command("")], (0, "name"), "APPLICATION_COMMAND_INVALID_COMMAND"),
    ("empty-description", [command(description="")], (0, "description"), "BASE_TYPE_BAD_LENGTH"),
    ("description-101", [command(description="d" * 101)], (0, "description"), "BASE_TYPE_BAD_LENGTH"),
    (
        "26-options",
        [command(options=[option(f"o{k}") for k in range(26)])],
        (0, "options"),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        "option-name",
        [command(options=[option("Symbol")])],
        (0, "options", 0, "name"),
        "APPLICATION_COMMAND_INVALID_OPTION",
    ),
    (
        "option-description",
        [command(options=[option(description="d" * 101)])],
        (0, "options", 0, "description"),
        "BASE_TYPE_BAD_LENGTH",
    ),
    (
        "26-choices",
        [command(options=[option(choices=choices(26))])],
        (0, "options", 0, "choices"),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        "required-after-optional",
        [command(options=[option("a", required=False), option("b", required=True)])],
        (0, "options", 1),
        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
    ),
    (
        "autocomplete-with-choices",
        [command(options=[option(autocomplete=True, choices=choices(2))])],
        (0, "options", 0, "autocomplete"),
        "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_WITH_CHOICES",
    ),
    (
        "over-4000-characters",
        [
            command(
                options=[
                    option(f"o{k}", choices=[{"name": "n" * 100, "value": "v" * 100}] * 2) for k in range(10)
                ]
            )
        ],
        (0,),
        "APPLICATION_COMMAND_TOO_LARGE",
    ),
    ("duplicate-names", [command(), command()], (1, "name"), "APPLICATION_COMMANDS_DUPLICATE_NAME"),
]


@pytest.mark.parametrize(
    ("commands", "path", "code"), [r[1:] for r in COMMAND_RULES], ids=[r[0] for r in COMMAND_RULES]
)
async def test_a_command_definition_discord_refuses_is_an_invalid_form_body(
    fake: FakeDiscord,
    http: aiohttp.ClientSession,
    commands: list[dict[str, Any]],
    path: tuple[str | int, ...],
    code: str,
) -> None:
    status, body = await call(http, fake, "PUT", COMMANDS, commands)
    assert status == 400
    assert [e["code"] for e in field_error(body, *path)] == [code]
    assert fake.syncs == []


async def test_valid_commands_are_accepted_up_to_the_limits(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    largest = command(
        "café-2",  # letters of any script, digits, - and _
        description="d" * 100,
        options=[
            option("a", required=True, autocomplete=True),
            *(option(f"o{k}", choices=choices(25)) for k in range(24)),
        ],
    )
    assert rules.command_size(largest) <= rules.COMMAND_CHARS_MAX
    many = [largest] + [command(f"c{k}") for k in range(99)]
    status, body = await call(http, fake, "PUT", COMMANDS, many)
    assert status == 200, body
    assert len(fake.syncs) == 1 and len(fake.syncs[0]) == 100


async def test_more_than_100_global_commands_are_refused(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, fake, "PUT", COMMANDS, [command(f"c{k}") for k in range(101)])
    assert (status, body) == (
        400,
        {"message": "Maximum number of application commands reached (100)", "code": 30032},
    )


async def test_syncing_another_applications_commands_is_refused(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, fake, "PUT", f"/applications/{APP_ID + 1}/commands", [command()])
    assert (status, body) == (403, {"message": "Missing Access", "code": 50001})


# --- interactions: 3 s, once, and by their own token ------------------------------------------


def callback_path(interaction_id: int) -> str:
    return f"/interactions/{interaction_id}/itoken-{interaction_id}/callback"


def webhook_path(interaction_id: int, tail: str = "") -> str:
    return f"/webhooks/{APP_ID}/itoken-{interaction_id}{tail}"


MESSAGE = {"type": 4, "data": {"content": "hi"}}


async def test_an_interaction_answered_after_3_s_is_unknown(
    fake: FakeDiscord, http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    late = await fake.push_interaction("help")
    fake.advance(3.01)
    assert await call(http, fake, "POST", callback_path(late), MESSAGE, {}) == (
        404,
        rules.UNKNOWN_INTERACTION,
    )
    in_time = await fake.push_interaction("help")
    fake.advance(2.9)
    status, body = await call(http, fake, "POST", callback_path(in_time), MESSAGE, {})
    assert status == 200 and body["interaction"]["id"] == str(in_time)


async def test_a_second_initial_response_is_refused(
    fake: FakeDiscord, http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    interaction = await fake.push_interaction("help")
    deferred = {"type": 5}
    status, _ = await call(http, fake, "POST", callback_path(interaction), deferred, {})
    assert status == 200
    assert await call(http, fake, "POST", callback_path(interaction), MESSAGE, {}) == (
        400,
        {"message": "Interaction has already been acknowledged.", "code": 40060},
    )
    (accepted,) = fake.responses_now(interaction)
    assert accepted.type == 5


async def test_a_callback_with_a_token_of_another_interaction_is_unknown(
    fake: FakeDiscord, http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    first, second = await fake.push_interaction("help"), await fake.push_interaction("help")
    path = f"/interactions/{first}/itoken-{second}/callback"
    assert await call(http, fake, "POST", path, MESSAGE, {}) == (404, rules.UNKNOWN_INTERACTION)


async def test_an_initial_response_over_a_limit_is_refused_and_can_be_sent_again(
    fake: FakeDiscord, http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    interaction = await fake.push_interaction("help")
    too_long = {"type": 4, "data": {"content": "x" * 2001}}
    status, body = await call(http, fake, "POST", callback_path(interaction), too_long, {})
    assert status == 400 and field_error(body, "data", "content")[0]["code"] == "BASE_TYPE_MAX_LENGTH"
    status, _ = await call(http, fake, "POST", callback_path(interaction), MESSAGE, {})
    assert status == 200  # a refused response acknowledged nothing


async def test_autocomplete_choices_over_25_are_refused(
    fake: FakeDiscord, http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    interaction = await fake.push_interaction("score", {"symbol": "b"}, itype=4, focused="symbol")
    answer = {"type": 8, "data": {"choices": choices(26)}}
    status, body = await call(http, fake, "POST", callback_path(interaction), answer, {})
    assert status == 400 and field_error(body, "data", "choices")[0]["code"] == "BASE_TYPE_MAX_LENGTH"


async def test_follow_ups_go_by_the_interaction_token_for_15_minutes(
    fake: FakeDiscord, http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    interaction = await fake.push_interaction("help")
    follow_up = {"content": "more"}
    before = await call(http, fake, "POST", webhook_path(interaction), follow_up, {})
    assert before == (404, {"message": "Unknown Webhook", "code": 10015})  # nothing answered yet
    await call(http, fake, "POST", callback_path(interaction), {"type": 5}, {})
    status, _ = await call(
        http, fake, "PATCH", webhook_path(interaction, "/messages/@original"), follow_up, {}
    )
    assert status == 200
    status, _ = await call(http, fake, "POST", webhook_path(interaction), follow_up, {})
    assert status == 200
    unknown = f"/webhooks/{APP_ID}/itoken-0"
    assert await call(http, fake, "POST", unknown, follow_up, {}) == (401, rules.INVALID_WEBHOOK_TOKEN)
    fake.advance(15 * 60 + 1)
    assert await call(http, fake, "POST", webhook_path(interaction), follow_up, {}) == (
        401,
        {"message": "Invalid Webhook Token", "code": 50027},
    )


async def test_a_follow_up_over_a_limit_is_refused(
    fake: FakeDiscord, http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    interaction = await fake.push_interaction("help")
    await call(http, fake, "POST", callback_path(interaction), {"type": 5}, {})
    status, body = await call(http, fake, "POST", webhook_path(interaction), {"embeds": [embed()] * 11}, {})
    assert status == 400 and field_error(body, "embeds")[0]["code"] == "BASE_TYPE_MAX_LENGTH"


# --- the gateway: RECONNECT and INVALID_SESSION ----------------------------------------------


async def test_reconnect_then_resume_of_the_same_session(
    fake: FakeDiscord, http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    await fake.send_reconnect()
    assert (await gateway.receive())["op"] == 7
    await gateway.ws.close()
    again = await Gateway.connect(http, fake)
    resumed = await again.resume(gateway.session_id)
    assert (resumed["op"], resumed["t"]) == (0, "RESUMED")
    assert (fake.identifies, fake.resumes) == (1, 1)
    await again.ws.close()


async def test_an_invalidated_session_cannot_be_resumed_only_identified_anew(
    fake: FakeDiscord, http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    await fake.invalidate_session()
    assert await gateway.receive() == {"op": 9, "d": False}
    await gateway.ws.close()
    again = await Gateway.connect(http, fake)
    assert await again.resume(gateway.session_id) == {"op": 9, "d": False}
    ready = await again.identify()
    assert ready["t"] == "READY" and again.session_id != gateway.session_id
    assert (fake.identifies, fake.resumes) == (2, 0)
    await again.ws.close()
