"""The dashboard's process opens the database read-only: it cannot write, it still reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.core.records import ChatKey, ChatKind, Platform
from bot.errors import StorageError
from bot.storage.facade import open_storage
from bot.web_launch import read_only

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_read_only_storage_refuses_writes_and_still_reads(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'ro.sqlite3'}")
    try:
        with storage.engine.begin() as conn:  # opened before: this one is closed by read_only
            conn.execute(text("CREATE TABLE probe (n INTEGER)"))
            conn.execute(text("INSERT INTO probe VALUES (1)"))
        assert read_only(storage)
        with storage.engine.connect() as conn:
            assert conn.execute(text("SELECT n FROM probe")).scalar_one() == 1
        writes = ("INSERT INTO probe VALUES (2)", "DELETE FROM probe", "CREATE TABLE other (n INTEGER)")
        for statement in writes:
            with pytest.raises(OperationalError, match="readonly"), storage.engine.begin() as conn:
                conn.execute(text(statement))
        # Nor through a store (the StorageError a store raises names the database's refusal).
        with pytest.raises(StorageError, match="readonly"):
            storage.chats.ensure_chat(ChatKey(Platform.TELEGRAM, "1"), kind=ChatKind.PRIVATE, now=NOW)
        assert storage.chats.get_chat(ChatKey(Platform.TELEGRAM, "1")) is None
        with storage.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM probe")).scalar_one() == 1
    finally:
        storage.close()
