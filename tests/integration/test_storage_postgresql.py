"""What only PostgreSQL can show: concurrent deliverers and the session's time zone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bot.core.records import ChatKind, OutboxEntry, OutboxStatus
from bot.storage.facade import Storage, open_storage
from bot.storage.models import OutboxRow
from tests.fakes.contract import STEP, T0, chat_key, message
from tests.postgres import POSTGRESQL_ONLY

pytestmark = POSTGRESQL_ONLY

LEASE = timedelta(minutes=5)


def _chat(storage: Storage) -> int:
    return storage.chats.ensure_chat(chat_key(), kind=ChatKind.GROUP, now=T0).ref


def test_a_claim_skips_messages_another_deliverer_holds_instead_of_waiting(storage: Storage) -> None:
    ref = _chat(storage)
    storage.outbox.enqueue([message(key, ref) for key in ("a", "b", "c")])
    with ThreadPoolExecutor(max_workers=1) as pool, Session(storage.engine) as other, other.begin():
        # Another deliverer is in the middle of claiming "a".
        other.execute(sa.select(OutboxRow).where(OutboxRow.idempotency_key == "a").with_for_update())
        # In a thread: without SKIP LOCKED the claim would wait for `other`, which never ends.
        claiming = pool.submit(storage.outbox.claim_due, T0, limit=10, claim_for=LEASE)
        assert [e.idempotency_key for e in claiming.result(timeout=10)] == ["b", "c"]
    (freed,) = storage.outbox.claim_due(T0, limit=10, claim_for=LEASE)
    assert (freed.idempotency_key, freed.attempts) == ("a", 1)


def test_concurrent_deliverers_never_claim_the_same_message(storage: Storage) -> None:
    ref = _chat(storage)
    keys = [f"k{i:03}" for i in range(120)]
    storage.outbox.enqueue([message(key, ref, T0 + timedelta(seconds=i)) for i, key in enumerate(keys)])
    now = T0 + STEP

    def deliverer() -> list[OutboxEntry]:
        mine: list[OutboxEntry] = []
        while batch := storage.outbox.claim_due(now, limit=3, claim_for=LEASE):
            for entry in batch:
                storage.outbox.mark_sent(entry.id, now)
            mine.extend(batch)
        return mine

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = [f.result(timeout=60) for f in [pool.submit(deliverer) for _ in range(4)]]
    claimed = sorted(e.idempotency_key for mine in results for e in mine)
    assert claimed == keys  # each exactly once
    assert all(e.attempts == 1 for mine in results for e in mine)
    assert storage.outbox.status_counts() == {OutboxStatus.SENT: len(keys)}


def test_times_come_back_in_utc_whatever_the_servers_time_zone(migrated_url: str) -> None:
    name = make_url(migrated_url).database
    engine = sa.create_engine(migrated_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"ALTER DATABASE {name} SET timezone TO 'Asia/Tokyo'")
    engine.dispose()
    storage = open_storage(migrated_url, upgrade=False)
    try:
        with storage.engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW TimeZone").scalar() == "Asia/Tokyo"
        ref = _chat(storage)
        storage.outbox.enqueue([message("k", ref, T0)])
        (entry,) = storage.outbox.claim_due(T0, limit=1, claim_for=LEASE)
        assert entry.created_at == T0 and entry.created_at.tzinfo is UTC
        assert entry.next_attempt_at == T0 + LEASE and entry.next_attempt_at.tzinfo is UTC
        chat = storage.chats.chat_by_ref(ref)
        assert chat is not None and chat.created_at.tzinfo is UTC
    finally:
        storage.close()
