"""PostgreSQL must work later through the same code: nothing SQLite-only in the stores."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ClauseElement

from bot.storage import migrate
from bot.storage.facade import Storage
from tests.fakes.contract import CHECKS, Stores
from tests.postgres import SQLITE_ONLY

STORAGE = Path(__file__).resolve().parents[2] / "bot" / "storage"


# On PostgreSQL the contract suite runs every one of these statements for real.
@SQLITE_ONLY
@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
def test_every_statement_the_stores_run_compiles_for_postgresql(
    check: Callable[[Stores], None], storage: Storage
) -> None:
    statements: list[ClauseElement] = []

    def record(_conn: Any, clause: Any, *_args: Any) -> None:
        statements.append(clause)

    event.listen(storage.engine, "before_execute", record)
    check(storage)
    assert statements
    dialect = postgresql.dialect()
    for statement in statements:
        statement.compile(dialect=dialect)


def test_the_migrations_render_for_postgresql() -> None:
    for revisions, direction in (("head", command.upgrade), ("head:base", command.downgrade)):
        config = migrate.alembic_config("postgresql://bot@db/dps")
        config.output_buffer = io.StringIO()
        direction(config, revisions, sql=True)
        ddl = config.output_buffer.getvalue()
        assert ("CREATE TABLE scores" in ddl) is (direction is command.upgrade)
    assert "DROP TABLE scores" in ddl


def test_repositories_use_sqlalchemy_constructs_only() -> None:
    # bulk.py is the exception: the cycle's executemany of plain tuples writes its INSERT and
    # its ON CONFLICT upsert as text, in the syntax SQLite and PostgreSQL share; the contract
    # suite runs every store on both backends.
    sources = [*STORAGE.glob("repositories/*.py"), STORAGE / "retention.py"]
    sources = [path for path in sources if path.name != "bulk.py"]
    assert len(sources) > 5
    for path in sources:
        text = path.read_text()
        for raw in ("sqlalchemy.dialects", "text(", "exec_driver_sql", "PRAGMA", "INSERT OR", "ON CONFLICT"):
            assert raw not in text, f"{path.name} uses {raw!r}"
