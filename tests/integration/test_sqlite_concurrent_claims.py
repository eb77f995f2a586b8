"""Several deliverers on one SQLite file: claims take the write lock first, so none fails
and no message is claimed twice (PostgreSQL's SKIP LOCKED version: test_storage_postgresql)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

from bot.core.records import ChatKey, ChatKind, OutboxMessage, Platform
from bot.storage.facade import open_storage
from tests.fakes.contract import T0, note

MESSAGES = 300
DELIVERERS = 4


def test_concurrent_claims_on_sqlite_share_the_work_without_errors_or_doubles(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'claims.sqlite3'}"
    setup = open_storage(url)
    refs = [
        setup.chats.ensure_chat(ChatKey(Platform.TELEGRAM, str(k)), kind=ChatKind.PRIVATE, now=T0).ref
        for k in range(MESSAGES)
    ]
    setup.outbox.enqueue([OutboxMessage(f"m{ref}", ref, note("x"), T0) for ref in refs])
    setup.close()
    claimed: list[list[int]] = [[] for _ in range(DELIVERERS)]
    errors: list[BaseException] = []
    start = threading.Barrier(DELIVERERS)

    def deliverer(k: int) -> None:
        storage = open_storage(url, upgrade=False)  # its own engine: another "process"
        try:
            start.wait()
            while batch := storage.outbox.claim_due(T0, limit=7, claim_for=timedelta(minutes=2)):
                claimed[k].extend(entry.id for entry in batch)
                time.sleep(0.002)  # "sending": the others claim meanwhile
        except BaseException as exc:
            errors.append(exc)
        finally:
            storage.close()

    threads = [threading.Thread(target=deliverer, args=(k,)) for k in range(DELIVERERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    every = [i for ids in claimed for i in ids]
    assert len(every) == MESSAGES
    assert len(set(every)) == MESSAGES  # nobody claimed a message another had
    assert sum(1 for ids in claimed if ids) >= 2  # the work was shared
