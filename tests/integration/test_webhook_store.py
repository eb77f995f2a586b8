"""The webhook store on every backend: a webhook is a chat with a URL, secret and failure count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.document import Document
from bot.core.events import EventKind
from bot.core.models import Band
from bot.core.records import ChatKey, ChatKind, ChatSettings, OutboxMessage, Platform
from bot.errors import StorageError
from bot.storage import migrate
from bot.storage.facade import Storage, open_storage

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SETTINGS = ChatSettings(
    min_band=Band.STRESSED,
    event_kinds=frozenset({EventKind.BAND_UP}),
    watchlist_only=True,
    digest_enabled=True,
)
BEFORE_WEBHOOKS = "a4c8d2f61b93"


def add(storage: Storage, webhook_id: str = "wh-1", url: str = "https://hooks.example/dps") -> int:
    return storage.webhooks.add_webhook(
        webhook_id,
        url,
        "s" * 32,
        settings=SETTINGS,
        exchange="binanceusdm",
        symbols=("BTCUSDT", "ETHUSDT", "BTCUSDT"),
        timezone="Europe/Berlin",
        now=NOW,
    ).chat_ref


def test_a_webhook_is_a_chat_the_fan_out_and_digest_see(storage: Storage) -> None:
    ref = add(storage)
    [endpoint] = storage.webhooks.webhooks()
    assert (endpoint.webhook_id, endpoint.url, endpoint.secret) == (
        "wh-1",
        "https://hooks.example/dps",
        "s" * 32,
    )
    assert endpoint.enabled and endpoint.failures == 0 and endpoint.created_at == NOW
    assert "s" * 32 not in repr(endpoint)
    chat = storage.chats.get_chat(ChatKey(Platform.WEBHOOK, "wh-1"))
    assert chat is not None and chat.ref == ref and chat.kind is ChatKind.CHANNEL
    assert chat.timezone == "Europe/Berlin"
    assert storage.chats.get_settings(ref) == SETTINGS
    assert [e.symbol for e in storage.chats.watchlist(ref)] == ["BTCUSDT", "ETHUSDT"]
    assert [p.chat.ref for p in storage.chats.alert_chats()] == [ref]
    assert [p.chat.ref for p in storage.chats.digest_chats()] == [ref]
    assert storage.webhooks.webhook("wh-1") == endpoint
    assert storage.webhooks.webhook("wh-2") is None


def test_an_id_is_taken_once(storage: Storage) -> None:
    add(storage)
    with pytest.raises(StorageError):
        add(storage, url="https://other.example/")
    assert len(storage.webhooks.webhooks()) == 1


def test_failures_count_up_and_a_delivery_resets_them(storage: Storage) -> None:
    ref = add(storage)
    other = add(storage, "wh-2")
    assert [storage.webhooks.record_failure(ref) for _ in range(3)] == [1, 2, 3]
    assert storage.webhooks.webhook("wh-2").failures == 0  # type: ignore[union-attr]
    storage.webhooks.record_delivery(ref)
    assert storage.webhooks.record_failure(ref) == 1
    assert storage.webhooks.record_failure(other) == 1


def test_removing_a_webhook_removes_its_chat_and_queued_messages(storage: Storage) -> None:
    ref = add(storage)
    keep = storage.chats.ensure_chat(ChatKey(Platform.TELEGRAM, "7"), kind=ChatKind.PRIVATE, now=NOW).ref
    storage.outbox.enqueue(
        [OutboxMessage("w", ref, Document("a"), NOW), OutboxMessage("t", keep, Document("b"), NOW)]
    )
    assert storage.webhooks.remove_webhook("wh-1")
    assert not storage.webhooks.remove_webhook("wh-1")
    assert storage.webhooks.webhooks() == []
    assert storage.chats.chat_by_ref(ref) is None
    claimed = storage.outbox.claim_due(NOW, limit=10, claim_for=timedelta(minutes=1))
    assert [e.idempotency_key for e in claimed] == ["t"]


def test_downgrade_drops_webhooks_and_their_chats_and_upgrade_comes_back(migrated_url: str) -> None:
    storage = open_storage(migrated_url, upgrade=False)
    try:
        ref = add(storage)
        storage.outbox.enqueue([OutboxMessage("w", ref, Document("a"), NOW)])
        storage.chats.ensure_chat(ChatKey(Platform.TELEGRAM, "7"), kind=ChatKind.PRIVATE, now=NOW)
    finally:
        storage.close()
    migrate.downgrade(migrated_url, BEFORE_WEBHOOKS)
    migrate.upgrade(migrated_url)
    migrate.check(migrated_url)
    storage = open_storage(migrated_url, upgrade=False)
    try:
        assert storage.webhooks.webhooks() == []
        assert storage.chats.get_chat(ChatKey(Platform.WEBHOOK, "wh-1")) is None
        assert storage.chats.get_chat(ChatKey(Platform.TELEGRAM, "7")) is not None
        assert storage.outbox.status_counts() == {}
    finally:
        storage.close()
