"""The webhook sink against a real HTTP receiver on 127.0.0.1, over a real SQLite store.

What a receiver gets (the signed document JSON, the idempotency key), how each answer
is classified (2xx, 429, 5xx, timeouts, other 4xx), the address check at send time, and
the disabling after repeated permanent failures through the real delivery job and outbox.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app.delivery import Delivery
from bot.chat.webhook_adapter import DELIVERY_HEADER, WebhookSink
from bot.core.document import ChartRef, Document, Paragraph, Tone, from_data, to_data
from bot.core.events import EventKind
from bot.core.models import Band
from bot.core.records import ChatKey, ChatSettings, OutboxMessage, OutboxStatus, Platform, RetryPolicy
from bot.core.send_outcome import ChatGone, Rejected, RetryAfter, Sent, Transient
from bot.core.webhook_signature import HEADER, verify
from bot.storage.facade import Storage, open_storage
from tests.fakes.clock import FakeClock
from tests.fakes.webhook_receiver import WebhookReceiver

SECRET = "a-receiver-secret-0123456789"  # noqa: S105 - a made-up signing key
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
DOC = Document("Derivatives Pressure alerts", (Paragraph("SUIUSDT lean → stretched"),), Tone.STRETCHED)


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    opened = open_storage(f"sqlite:///{tmp_path / 'dps.sqlite3'}")
    yield opened
    opened.close()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as r:
        yield r


def add(storage: Storage, url: str, webhook_id: str = "wh-test") -> ChatKey:
    storage.webhooks.add_webhook(
        webhook_id,
        url,
        SECRET,
        settings=ChatSettings(min_band=Band.LEAN, event_kinds=frozenset(EventKind)),
        exchange="binanceusdm",
        symbols=(),
        now=NOW,
    )
    return ChatKey(Platform.WEBHOOK, webhook_id)


@pytest.fixture
async def sink(storage: Storage) -> AsyncIterator[WebhookSink]:
    made = WebhookSink(storage.webhooks, FakeClock(NOW), allow_private=True, timeout_s=0.5, disable_after=3)
    yield made
    await made.close()


async def test_a_delivered_message_is_the_signed_document_json_with_its_key(
    storage: Storage, receiver: WebhookReceiver, sink: WebhookSink
) -> None:
    chat = add(storage, f"{receiver.url}/hooks/dps?team=1")
    parts: list[int] = []

    async def accepted(n: int) -> None:
        parts.append(n)

    doc = Document("Daily digest", (Paragraph("SUIUSDT 72"), ChartRef("digest.png", "Top names")))

    outcome = await sink.send_keyed("digest:7:2026-12-04", chat, doc, b"\x89PNG", on_part=accepted)

    assert outcome == Sent()
    assert parts == [1]
    [got] = receiver.requests
    assert got.path == "/hooks/dps?team=1"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers[DELIVERY_HEADER] == "digest:7:2026-12-04"
    assert verify(SECRET, got.headers[HEADER], got.body, now=NOW.timestamp())
    assert not verify("another secret", got.headers[HEADER], got.body, now=NOW.timestamp())
    assert not verify(SECRET, got.headers[HEADER], got.body + b" ", now=NOW.timestamp())
    data = got.json()
    assert data["id"] == "digest:7:2026-12-04"
    assert data["sent_at"] == "2026-12-04T12:00:00Z"
    assert from_data(data["document"]) == doc
    assert data["document"] == to_data(doc)
    assert base64.b64decode(data["chart"]["base64"]) == b"\x89PNG"
    assert data["chart"]["name"] == "digest.png"


async def test_a_resumed_message_is_not_posted_again(
    storage: Storage, receiver: WebhookReceiver, sink: WebhookSink
) -> None:
    chat = add(storage, receiver.url)
    assert await sink.send_keyed("k", chat, DOC, start=1) == Sent()
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (201, {}, Sent()),
        (204, {}, Sent()),
        (429, {"Retry-After": "7"}, RetryAfter(seconds=7.0)),
        (429, {}, Transient(error="webhook answered 429")),
        (500, {}, Transient(error="webhook answered 500")),
        (503, {"Retry-After": "soon"}, Transient(error="webhook answered 503")),
        (404, {}, Rejected(error="webhook answered 404")),
        (410, {}, Rejected(error="webhook answered 410")),
        (301, {"Location": "http://127.0.0.1:9/elsewhere"}, Rejected(error="webhook answered 301")),
    ],
)
async def test_answers_are_classified_like_the_other_sinks(
    storage: Storage,
    receiver: WebhookReceiver,
    sink: WebhookSink,
    status: int,
    headers: dict[str, str],
    expected: object,
) -> None:
    chat = add(storage, receiver.url)
    receiver.answer(status, **headers)
    assert await sink.send_keyed("k", chat, DOC) == expected
    assert len(receiver.requests) == 1  # no redirect followed, no retry inside the sink


async def test_a_receiver_that_does_not_answer_in_time_is_retried_later(
    storage: Storage, receiver: WebhookReceiver, sink: WebhookSink
) -> None:
    chat = add(storage, receiver.url)
    receiver.hold()
    assert await sink.send_keyed("k", chat, DOC) == Transient(error="webhook timed out")


async def test_an_unreachable_receiver_is_retried_later(storage: Storage, sink: WebhookSink) -> None:
    receiver = WebhookReceiver()
    url = await receiver.start()
    await receiver.stop()  # nobody listens on that port any more
    chat = add(storage, url)
    outcome = await sink.send_keyed("k", chat, DOC)
    assert isinstance(outcome, Transient) and outcome.error.startswith("webhook unreachable")


async def test_private_addresses_are_refused_at_send_time_without_the_setting(
    storage: Storage, receiver: WebhookReceiver
) -> None:
    chat = add(storage, f"http://localhost:{receiver.url.rsplit(':', 1)[1]}/")  # added while allowed
    strict = WebhookSink(storage.webhooks, FakeClock(NOW), allow_private=False, disable_after=3)
    try:
        outcome = await strict.send_keyed("k", chat, DOC)
    finally:
        await strict.close()
    assert isinstance(outcome, Rejected)
    assert "loopback" in outcome.error and "WEBHOOK_ALLOW_PRIVATE" in outcome.error
    assert receiver.requests == []  # refused before any connection
    [endpoint] = storage.webhooks.webhooks()
    assert endpoint.failures == 1


async def test_a_removed_webhook_is_gone(
    storage: Storage, receiver: WebhookReceiver, sink: WebhookSink
) -> None:
    chat = add(storage, receiver.url)
    assert storage.webhooks.remove_webhook(chat.chat_id)
    assert await sink.send_keyed("k", chat, DOC) == ChatGone(error="webhook removed")
    assert receiver.requests == []


async def test_permanent_failures_in_a_row_disable_the_webhook_a_delivery_resets_them(
    storage: Storage, receiver: WebhookReceiver, sink: WebhookSink, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the real delivery job and outbox: three 404s in a row disable the webhook
    (logged without its secret or URL); a delivery in between starts the count again."""
    chat = add(storage, f"{receiver.url}/token-in-path")
    ref = storage.webhooks.webhooks()[0].chat_ref
    delivery = Delivery(
        storage.outbox, storage.chats, {Platform.WEBHOOK: sink}, RetryPolicy(base_delay=timedelta(seconds=1))
    )

    async def one(key: str, status: int, at: datetime) -> None:
        receiver.answer(status)
        storage.outbox.enqueue([OutboxMessage(key, ref, DOC, at)])
        await delivery.drain(at)

    caplog.set_level(logging.WARNING)
    await one("a", 404, NOW)
    await one("b", 404, NOW + timedelta(minutes=1))
    await one("c", 200, NOW + timedelta(minutes=2))
    assert storage.webhooks.webhooks()[0].failures == 0
    for n, key in enumerate("def"):
        await one(key, 400, NOW + timedelta(minutes=3 + n))

    [endpoint] = storage.webhooks.webhooks()
    assert not endpoint.enabled and endpoint.failures == 3
    assert storage.outbox.status_counts() == {OutboxStatus.SENT: 1, OutboxStatus.FAILED: 5}
    await one("g", 200, NOW + timedelta(minutes=9))  # disabled: nothing more is posted
    assert [r.headers[DELIVERY_HEADER] for r in receiver.requests] == list("abcdef")
    assert storage.chats.get_chat(chat) is not None
    assert "disabled chat webhook:wh-test" in caplog.text
    assert "3 permanent failures in a row" in caplog.text
    assert SECRET not in caplog.text and "token-in-path" not in caplog.text


async def test_the_key_of_a_plain_send_is_the_same_for_the_same_message(
    storage: Storage, receiver: WebhookReceiver, sink: WebhookSink
) -> None:
    chat = add(storage, receiver.url)
    other = Document("Derivatives Pressure alerts", (Paragraph("ARBUSDT lean → stretched"),))
    for doc in (DOC, DOC, other):
        assert await sink.send(chat, doc) == Sent()
    keys = [r.headers[DELIVERY_HEADER] for r in receiver.requests]
    assert keys[0] == keys[1] != keys[2]
