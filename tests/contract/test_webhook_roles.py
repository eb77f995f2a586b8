"""Which ``dps run`` roles deliver to webhooks: ``all`` and ``collector`` do (the collector
only to webhooks), a chat role does not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.bootstrap import SystemClock, build_app
from bot.chat.webhook_adapter import DELIVERY_HEADER
from bot.config import load_settings
from bot.core.document import Document
from bot.core.records import ChatKey, ChatKind, ChatSettings, OutboxMessage, OutboxStatus, Platform
from bot.roles import Role
from bot.runner import Process
from bot.storage.facade import open_storage
from tests.fakes.exchange import FakeExchange
from tests.fakes.webhook_receiver import WebhookReceiver


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as r:
        yield r


@pytest.mark.parametrize("role", [Role.ALL, Role.COLLECTOR, Role.TELEGRAM])
async def test_a_role_delivers_to_webhooks_only_if_it_is_all_or_the_collector(
    fake: FakeExchange, receiver: WebhookReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, role: Role
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'dps.sqlite3'}"
    now = datetime.now(UTC)
    storage = open_storage(url)
    try:
        hook = storage.webhooks.add_webhook(
            "wh-1",
            receiver.url,
            "k" * 20,
            settings=ChatSettings(),
            exchange="binanceusdm",
            symbols=(),
            now=now,
        )
        chat = storage.chats.ensure_chat(ChatKey(Platform.TELEGRAM, "5"), kind=ChatKind.PRIVATE, now=now)
        storage.outbox.enqueue(
            [
                OutboxMessage("w", hook.chat_ref, Document("a"), now),
                OutboxMessage("t", chat.ref, Document("b"), now),
            ]
        )
    finally:
        storage.close()
    settings = load_settings(
        database_url=url,
        exchange="binanceusdm",
        exchange_api_url=fake.url,
        webhook_allow_private=True,
        telegram_bot_token="123:fake" if role is Role.TELEGRAM else None,
        telegram_base_url="http://127.0.0.1:9/bot",
    )
    app = build_app(settings, clock=SystemClock(), role=role)
    try:
        if role is Role.TELEGRAM:
            # A Telegram process delivers to Telegram only; webhooks are not its job.
            assert app.webhooks is None
            return
        await Process(app).deliver()
        statuses = app.collector.storage.outbox.status_counts()
    finally:
        await app.close()
    assert [r.headers[DELIVERY_HEADER] for r in receiver.requests] == ["w"]
    # The Telegram message was not touched: it waits for a Telegram process.
    assert statuses == {OutboxStatus.SENT: 1, OutboxStatus.PENDING: 1}
