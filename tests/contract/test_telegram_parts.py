"""A message in several parts on Telegram: a fault on a later part never repeats the earlier ones.

The real python-telegram-bot sends through the delivery job to the fake Bot API (flood limits
on, as Telegram's). The fake fails part 2 of a 2-part message (text, then the chart photo)
and of a 4-part one (three texts, then the chart) with a 502, a 429 with ``retry_after`` or a
dropped connection; what the fake accepted must be every part exactly once, in order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from telegram.ext import AIORateLimiter

from bot.app.delivery import Delivery
from bot.chat.telegram_adapter import TelegramAdapter, html_as_plain
from bot.core.records import ChatKey, ChatKind, OutboxMessage, OutboxStatus, Platform
from bot.render.telegram_html import render_document
from tests.fakes.clock import FakeClock
from tests.fakes.documents import text_document
from tests.fakes.outbox_rows import OutboxRecord, stored_outbox
from tests.fakes.scored_market import FAKE_PNG, LATEST, make_layer
from tests.fakes.storage import FakeStorage
from tests.fakes.telegram_api import FakeTelegram

NOW = LATEST + timedelta(minutes=2)
GROUP = -1001500
MOVED_TO = -1009999
LATER = timedelta(hours=1)  # past any back-off or retry_after below


def payload(lines: int) -> str:
    """A digest-like text; each line is numbered, so every part is recognisable."""
    rows = "\n".join(f"row {k:03d} " + "x" * 90 for k in range(lines))
    return f"Daily digest · 2025-01-06\n{rows}"


TWO_PARTS = (payload(10), FAKE_PNG)  # one text, then the chart
FOUR_PARTS = (payload(100), FAKE_PNG)  # three texts, then the chart


@dataclass
class Desk:
    """The adapter and delivery job under test, with the fake and the stores."""

    fake: FakeTelegram
    adapter: TelegramAdapter
    storage: FakeStorage
    delivery: Delivery

    def enqueue(self, text: str, attachment: bytes | None, chat_id: int = GROUP) -> None:
        chat = self.storage.chats.ensure_chat(
            ChatKey(Platform.TELEGRAM, str(chat_id)), kind=ChatKind.GROUP, now=NOW
        )
        self.storage.outbox.enqueue(
            [OutboxMessage("digest", chat.ref, text_document(text, attachment), NOW, attachment=attachment)]
        )

    def entry(self) -> OutboxRecord:
        return stored_outbox(self.storage, "digest")

    def shown(self, chat_id: int = GROUP) -> list[tuple[str, str | bytes | None]]:
        """What the chat shows, from the fake's record: (method, text or photo)."""
        return [
            (m.method, m.photo_bytes if m.method == "sendPhoto" else m.text) for m in self.fake.sent(chat_id)
        ]


def parts_of(text: str, attachment: bytes | None) -> list[tuple[str, str | bytes | None]]:
    """The parts of a stored message: the document's HTML texts, then its chart."""
    drawn = render_document(text_document(text, attachment), attachment)
    expected: list[tuple[str, str | bytes | None]] = [("sendMessage", t) for t in drawn.texts]
    if drawn.photo is not None:
        expected.append(("sendPhoto", drawn.photo))
    return expected


@pytest.fixture
async def desk(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Desk]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with FakeTelegram() as fake:
        storage = FakeStorage()
        adapter = TelegramAdapter(
            make_layer(storage),
            FakeClock(NOW),
            token=fake.token,
            base_url=fake.base_url,
            # No waiting inside PTB: a 429 comes back to the delivery job as RetryAfter.
            rate_limiter=AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=0),
        )
        await adapter.start(serve_commands=False)
        try:
            delivery = Delivery(storage.outbox, storage.chats, {Platform.TELEGRAM: adapter})
            yield Desk(fake, adapter, storage, delivery)
        finally:
            await adapter.stop()


Fault = Callable[[FakeTelegram, str, int], None]
"""Inject a fault on ``method`` after ``after`` calls of it went through."""


def bad_gateway(fake: FakeTelegram, method: str, after: int) -> None:
    fake.fail_next(method, status=502, description="Bad Gateway", after=after)


def too_many_requests(fake: FakeTelegram, method: str, after: int) -> None:
    fake.fail_next(
        method,
        status=429,
        description="Too Many Requests: retry after 7",
        parameters={"retry_after": 7},
        after=after,
    )


def dropped(fake: FakeTelegram, method: str, after: int) -> None:
    fake.drop_next(method, after=after)


FAULTS = pytest.mark.parametrize("fault", [bad_gateway, too_many_requests, dropped], ids=lambda f: f.__name__)


async def deliver_through_one_fault(desk: Desk, failed_call: str) -> None:
    """Drain once (part 2 fails), check the progress stored, drain again later."""
    first = await desk.delivery.drain(NOW)
    assert (first.sent, first.retrying) == (0, 1)
    entry = desk.entry()
    assert (entry.status, entry.parts_sent) == (OutboxStatus.PENDING, 1)
    calls = [c.method for c in desk.fake.calls if c.method in ("sendMessage", "sendPhoto")]
    assert calls[-1] == failed_call  # the fault really hit part 2

    second = await desk.delivery.drain(NOW + LATER)
    assert second.sent == 1
    assert desk.entry().status is OutboxStatus.SENT


@FAULTS
async def test_a_fault_on_the_chart_of_a_two_part_digest_sends_the_text_once(
    desk: Desk, fault: Fault
) -> None:
    text, png = TWO_PARTS
    desk.enqueue(text, png)
    fault(desk.fake, "sendPhoto", 0)

    await deliver_through_one_fault(desk, "sendPhoto")

    assert len(parts_of(text, png)) == 2
    assert desk.shown() == parts_of(text, png)  # the text once, then the chart once


@FAULTS
async def test_a_fault_on_part_two_of_four_resumes_at_part_two(desk: Desk, fault: Fault) -> None:
    text, png = FOUR_PARTS
    desk.enqueue(text, png)
    fault(desk.fake, "sendMessage", 1)

    await deliver_through_one_fault(desk, "sendMessage")

    expected = parts_of(text, png)
    assert [method for method, _ in expected] == ["sendMessage"] * 3 + ["sendPhoto"]
    assert desk.shown() == expected


async def test_a_429_on_a_later_part_waits_for_retry_after_before_resuming(desk: Desk) -> None:
    text, png = FOUR_PARTS
    desk.enqueue(text, png)
    too_many_requests(desk.fake, "sendMessage", 1)
    await desk.delivery.drain(NOW)
    assert desk.entry().next_attempt_at >= NOW + timedelta(seconds=7)
    assert (await desk.delivery.drain(NOW + timedelta(seconds=6))).handled == 0
    assert len(desk.fake.sent(GROUP)) == 1

    await desk.delivery.drain(NOW + LATER)
    assert desk.shown() == parts_of(text, png)


async def test_refused_html_on_a_later_part_sends_that_part_as_plain_text_once(desk: Desk) -> None:
    text, png = FOUR_PARTS
    desk.enqueue(text, png)
    desk.fake.fail_next(
        "sendMessage",
        status=400,
        description="Bad Request: can't parse entities: unexpected end tag",
        after=1,
    )

    report = await desk.delivery.drain(NOW)

    assert report.sent == 1
    htmls = render_document(text_document(text, png), png).texts
    sent = desk.fake.sent(GROUP)
    assert [(m.method, m.parse_mode) for m in sent] == [
        ("sendMessage", "HTML"),
        ("sendMessage", None),
        ("sendMessage", None),
        ("sendPhoto", None),
    ]
    assert [m.text for m in sent[:3]] == [htmls[0], html_as_plain(htmls[1]), html_as_plain(htmls[2])]
    # Plain or HTML, each part shows the same text it would have shown.
    assert [m.plain for m in sent[:3]] == [html_as_plain(t).strip() for t in htmls]


async def test_a_group_upgraded_before_part_two_gets_the_rest_at_its_new_id(desk: Desk) -> None:
    text, png = FOUR_PARTS
    desk.enqueue(text, png)
    desk.fake.fail_next(
        "sendMessage",
        status=400,
        description="Bad Request: group chat was upgraded to a supergroup chat",
        parameters={"migrate_to_chat_id": MOVED_TO},
        after=1,
    )

    report = await desk.delivery.drain(NOW)

    assert (report.sent, report.chats_moved) == (1, 1)
    expected = parts_of(text, png)
    assert desk.shown(GROUP) == expected[:1]
    assert desk.shown(MOVED_TO) == expected[1:]
