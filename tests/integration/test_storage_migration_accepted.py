"""The ``scores.accepted`` revision: existing scores are not accepted; the rows and the
table's shape survive the upgrade and the downgrade."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import sqlalchemy as sa

from bot.storage import migrate
from bot.storage.db import create_db_engine
from bot.storage.facade import open_storage
from bot.storage.models import ScoreRow, table_of
from bot.storage.repositories.scores import score_to_row
from tests.fakes.contract import STEP, record

BEFORE = "f5b2e8a1c3d7"
TS = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _shape(url: str) -> tuple[set[str], int, bool, set[str]]:
    """The scores table's columns, row count, ``WITHOUT ROWID`` and planner statistics (SQLite)."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            columns = {c["name"] for c in sa.inspect(connection).get_columns("scores")}
            count = connection.execute(sa.text("SELECT count(*) FROM scores")).scalar_one()
            if engine.dialect.name != "sqlite":
                return columns, count, True, set()
            find = sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'scores'")
            keyed = "WITHOUT ROWID" in connection.execute(find).scalar_one().upper()
            stats = sa.text("SELECT idx FROM sqlite_stat1 WHERE tbl = 'scores'")
            return columns, count, keyed, set(connection.execute(stats).scalars())
    finally:
        engine.dispose()


def test_scores_stored_before_are_not_accepted_and_the_column_goes_on_downgrade(migrated_url: str) -> None:
    migrate.downgrade(migrated_url, BEFORE)
    columns, _, keyed, stats = _shape(migrated_url)
    assert "accepted" not in columns
    old = record("BTCUSDT", TS)
    storage = open_storage(migrated_url, upgrade=False)
    try:
        row = {k: v for k, v in score_to_row(old).items() if k != "accepted"}
        with storage.engine.begin() as connection:  # a score row as the old code wrote it
            connection.execute(sa.insert(table_of(ScoreRow)), row)
    finally:
        storage.close()
    migrate.upgrade(migrated_url)
    upgraded = _shape(migrated_url)
    assert upgraded == (columns | {"accepted"}, 1, keyed, stats)  # in place: no copy of the rows
    storage = open_storage(migrated_url, upgrade=False)
    try:
        new = replace(record("BTCUSDT", TS + STEP), accepted=True)
        assert storage.cycles.save_cycle(exchange=old.exchange, scores=[new]).scores == 1
        assert storage.scores.score_history(old.exchange, "BTCUSDT", TS, TS + STEP) == [old, new]
    finally:
        storage.close()
    migrate.downgrade(migrated_url, BEFORE)
    assert _shape(migrated_url) == (columns, 2, keyed, stats)
    migrate.upgrade(migrated_url)
    migrate.check(migrated_url)
