"""Engine set-up: the default SQLite file, directories on demand, real transactions."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.config import DEFAULT_DATABASE_URL
from bot.errors import StorageError
from bot.storage.db import (
    create_db_engine,
    parse_url,
    sqlite_file,
    storage_errors,
)
from bot.storage.facade import Storage
from tests.postgres import SQLITE_ONLY


def test_the_default_database_is_a_sqlite_file_under_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert sqlite_file(parse_url(DEFAULT_DATABASE_URL)) == Path("data/dps.sqlite3")
    engine = create_db_engine(DEFAULT_DATABASE_URL)
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    engine.dispose()
    assert (tmp_path / "data" / "dps.sqlite3").is_file()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "postgresql+psycopg://u:p@db/dps"])
def test_only_sqlite_files_get_a_directory(url: str) -> None:
    assert sqlite_file(parse_url(url)) is None


@SQLITE_ONLY  # about Python's sqlite3 module; psycopg begins before any statement
def test_a_select_opens_the_transaction_a_later_insert_joins(storage: Storage) -> None:
    # Python 3.11's sqlite3 would only BEGIN before the INSERT; select-then-insert needs
    # the SELECT inside the same transaction.
    with Session(storage.engine) as session, session.begin():
        session.execute(sa.text("SELECT count(*) FROM chats"))
        dbapi = session.connection().connection.dbapi_connection
        assert dbapi is not None and dbapi.in_transaction


def test_sqlalchemy_errors_become_storage_errors() -> None:
    failure = OperationalError("SELECT 1", {}, Exception("database is locked"))
    with (
        pytest.raises(
            StorageError, match="cannot store scores: OperationalError: database is locked"
        ) as caught,
        storage_errors("store scores"),
    ):
        raise failure
    assert caught.value.__cause__ is failure
