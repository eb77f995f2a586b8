"""Integration fixtures: a real SQLite file in tmp_path, migrated by the real Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.storage import migrate
from bot.storage.facade import Storage, open_storage


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite file URL under a directory that does not exist yet (created on demand)."""
    return f"sqlite:///{tmp_path / 'data' / 'dps.sqlite3'}"


@pytest.fixture
def migrated_url(db_url: str) -> str:
    """The same database after the real `alembic upgrade head`."""
    migrate.upgrade(db_url)
    return db_url


@pytest.fixture
def storage(migrated_url: str) -> Iterator[Storage]:
    """Every SQL store on the migrated database."""
    opened = open_storage(migrated_url, upgrade=False)
    try:
        yield opened
    finally:
        opened.close()
