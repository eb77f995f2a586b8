"""Integration fixtures: a real database, migrated by the real Alembic, on every backend.

Each test that takes a database runs twice: on a SQLite file in ``tmp_path`` and on a
fresh database of a real PostgreSQL server (``tests/postgres.py``). A test that is about
SQLite itself (file paths, pragmas) pins the backend with ``tests.postgres.SQLITE_ONLY``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.storage import migrate
from bot.storage.facade import Storage, open_storage
from tests.integration.write_lock_policy import WriteLockPolicy
from tests.postgres import BACKENDS, NewDatabase, PostgresDatabases


@pytest.fixture(autouse=True)
def write_lock_policy() -> Iterator[WriteLockPolicy]:
    """Fail a test whose repository writes ran on SQLite without the write lock up front."""
    policy = WriteLockPolicy()
    policy.start()
    try:
        yield policy
    finally:
        policy.stop()
    assert policy.violations == [], "repository writes must use write_transaction"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend the test runs on."""
    name: str = request.param
    return name


@pytest.fixture
def new_database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[NewDatabase]:
    """A factory of empty databases: SQLite files under ``tmp_path``, or PostgreSQL databases.

    On PostgreSQL each call hands out an empty database on the session's server, emptied
    again for the next test when this one ends, so every test starts from nothing as it
    does with a new SQLite file.
    """
    if backend == "sqlite":
        yield lambda relative: f"sqlite:///{tmp_path / relative}"
        return
    server: PostgresDatabases = request.getfixturevalue("postgres_databases")
    handed_out: list[str] = []

    def acquire(_sqlite_file: str) -> str:
        handed_out.append(server.acquire())
        return handed_out[-1]

    try:
        yield acquire
    finally:
        for url in handed_out:
            server.release(url)


@pytest.fixture
def db_url(new_database: NewDatabase) -> str:
    """An empty database; on SQLite a file under a directory that does not exist yet."""
    return new_database("data/dps.sqlite3")


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
