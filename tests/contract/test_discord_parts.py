"""A message in several parts on Discord: a fault on a later part never repeats the earlier ones.

The real discord.py sends through the delivery job to the fake Discord. A long digest goes
out as several messages (its parts; the chart is uploaded with the last). The fake fails
part 2 of a 2-part and of a 4-part message; what it accepted must be every part exactly
once, in order.

Faults: a 502 (discord.py itself retries a 502 after a second, so this one never reaches the
delivery job), a 503 (discord.py gives up at once: the delivery job retries), a 429 whose
``retry_after`` is longer than discord.py waits, and a dropped connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from bot.app.delivery import Delivery
from bot.chat.discord_adapter import DiscordAdapter
from bot.core.records import ChatKey, ChatKind, OutboxMessage, OutboxStatus, Platform
from bot.render.discord_embeds import render_document
from tests.fakes.clock import FakeClock
from tests.fakes.discord_api import CHANNEL_ID, TOKEN, FakeDiscord, Posted
from tests.fakes.documents import text_document
from tests.fakes.outbox_rows import OutboxRecord, stored_outbox
from tests.fakes.scored_market import FAKE_PNG, LATEST, make_layer
from tests.fakes.storage import FakeStorage

NOW = LATEST + timedelta(minutes=2)
MESSAGES = ("POST", f"/channels/{CHANNEL_ID}/messages")
LATER = timedelta(hours=1)  # past any back-off or retry_after below


def payload(lines: int) -> str:
    """A digest-like text; each line is numbered, so every part is recognisable."""
    rows = "\n".join(f"row {k:03d} " + "x" * 90 for k in range(lines))
    return f"Daily digest · 2025-01-06\n{rows}"


TWO_PARTS = (payload(80), FAKE_PNG)
FOUR_PARTS = (payload(200), FAKE_PNG)


def signature(embeds: list[dict[str, Any]], files: list[tuple[str, bytes]]) -> tuple[object, ...]:
    """A message as the channel shows it: each embed's title and description, and the files."""
    return tuple((e.get("title"), e.get("description")) for e in embeds), tuple(files)


def parts_of(text: str, attachment: bytes | None) -> list[tuple[object, ...]]:
    return [
        signature(
            [{"title": e.title, "description": e.description or None} for e in m.embeds],
            [] if m.file is None else [(m.file.filename, m.file.data)],
        )
        for m in render_document(text_document(text, attachment), attachment)
    ]


def shown(posted: list[Posted]) -> list[tuple[object, ...]]:
    return [signature(p.embeds, p.files) for p in posted]


@dataclass
class Desk:
    fake: FakeDiscord
    adapter: DiscordAdapter
    storage: FakeStorage
    delivery: Delivery

    def enqueue(self, text: str, attachment: bytes | None) -> None:
        chat = self.storage.chats.ensure_chat(
            ChatKey(Platform.DISCORD, str(CHANNEL_ID)), kind=ChatKind.GROUP, now=NOW
        )
        self.storage.outbox.enqueue(
            [OutboxMessage("digest", chat.ref, text_document(text, attachment), NOW, attachment=attachment)]
        )

    def entry(self) -> OutboxRecord:
        return stored_outbox(self.storage, "digest")


@pytest.fixture
async def desk(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Desk]:
    async with FakeDiscord() as fake:
        fake.patch(monkeypatch)
        storage = FakeStorage()
        adapter = DiscordAdapter(make_layer(storage), FakeClock(NOW), token=TOKEN, guild_ready_timeout=0.05)
        await adapter.start(serve_commands=False)  # delivering only, over REST
        try:
            delivery = Delivery(storage.outbox, storage.chats, {Platform.DISCORD: adapter})
            yield Desk(fake, adapter, storage, delivery)
        finally:
            await adapter.stop()


Fault = Callable[[FakeDiscord, int, bool], None]
"""Inject one fault on channel messages after ``after`` went through (on uploads only, if set)."""


def service_unavailable(fake: FakeDiscord, after: int, uploads_only: bool) -> None:
    body = {"message": "Service Unavailable", "code": 0}
    fake.fail_next(MESSAGES, 503, body, after=after, uploads_only=uploads_only)


def rate_limited(fake: FakeDiscord, after: int, uploads_only: bool) -> None:
    body = {"message": "You are being rate limited.", "retry_after": 45.0, "global": False}
    headers = {"Retry-After": "45", "Via": "1.1 google"}
    fake.fail_next(MESSAGES, 429, body, headers, after=after, uploads_only=uploads_only)


def dropped(fake: FakeDiscord, after: int, uploads_only: bool) -> None:
    fake.drop_next(MESSAGES, after=after, uploads_only=uploads_only)


FAULTS = pytest.mark.parametrize(
    "fault", [service_unavailable, rate_limited, dropped], ids=lambda f: f.__name__
)


async def deliver_through_one_fault(desk: Desk) -> None:
    """Drain once (part 2 fails), check the progress stored, drain again later."""
    first = await desk.delivery.drain(NOW)
    assert (first.sent, first.retrying) == (0, 1)
    entry = desk.entry()
    assert (entry.status, entry.parts_sent) == (OutboxStatus.PENDING, 1)
    assert desk.fake.calls(*MESSAGES)[-1].status >= 400  # the fault really hit part 2

    second = await desk.delivery.drain(NOW + LATER)
    assert second.sent == 1
    assert desk.entry().status is OutboxStatus.SENT


@FAULTS
async def test_a_fault_on_the_chart_upload_of_a_two_part_digest_sends_part_one_once(
    desk: Desk, fault: Fault
) -> None:
    text, png = TWO_PARTS
    desk.enqueue(text, png)
    fault(desk.fake, 0, True)  # the upload is part 2: the chart rides on the last message

    await deliver_through_one_fault(desk)

    expected = parts_of(text, png)
    assert len(expected) == 2
    assert shown(desk.fake.channel_messages_now(CHANNEL_ID)) == expected


@FAULTS
async def test_a_fault_on_part_two_of_four_resumes_at_part_two(desk: Desk, fault: Fault) -> None:
    text, png = FOUR_PARTS
    desk.enqueue(text, png)
    fault(desk.fake, 1, False)

    await deliver_through_one_fault(desk)

    expected = parts_of(text, png)
    assert len(expected) == 4
    assert shown(desk.fake.channel_messages_now(CHANNEL_ID)) == expected


@pytest.mark.parametrize("parts", [TWO_PARTS, FOUR_PARTS], ids=["2-parts", "4-parts"])
async def test_a_502_on_part_two_is_retried_by_discord_py_and_every_part_arrives_once(
    desk: Desk, parts: tuple[str, bytes]
) -> None:
    text, png = parts
    desk.enqueue(text, png)
    desk.fake.fail_next(MESSAGES, 502, {"message": "Bad Gateway", "code": 0}, after=1)

    report = await desk.delivery.drain(NOW)

    assert report.sent == 1
    assert [c.status for c in desk.fake.calls(*MESSAGES)][:3] == [200, 502, 200]
    assert shown(desk.fake.channel_messages_now(CHANNEL_ID)) == parts_of(text, png)


async def test_a_long_rate_limit_on_a_later_part_waits_for_retry_after(desk: Desk) -> None:
    text, png = FOUR_PARTS
    desk.enqueue(text, png)
    rate_limited(desk.fake, 1, False)
    await desk.delivery.drain(NOW)
    assert desk.entry().next_attempt_at >= NOW + timedelta(seconds=45)
    assert (await desk.delivery.drain(NOW + timedelta(seconds=44))).handled == 0

    await desk.delivery.drain(NOW + LATER)
    assert shown(desk.fake.channel_messages_now(CHANNEL_ID)) == parts_of(text, png)
