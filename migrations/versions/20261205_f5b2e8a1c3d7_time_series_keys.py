"""market_snapshots, scores: (exchange, ts, symbol) is the primary key; the id column goes

Each row kept three B-trees: the table by id, the unique (exchange, ts, symbol) and the
(exchange, hour, symbol, ts) index. Nothing read a row by id except to join back to the
row just found by the key, so the key becomes the table (SQLite: ``WITHOUT ROWID``), and
a row costs two. The upgrade rebuilds both tables on SQLite (a copy of every row: as long
as a VACUUM of them, and as much free disk).

Revision ID: f5b2e8a1c3d7
Revises: e3a7c91b5d40
Create Date: 2026-12-05 09:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f5b2e8a1c3d7"
down_revision: str | Sequence[str] | None = "e3a7c91b5d40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("market_snapshots", "scores")
_KEY = ["exchange", "ts", "symbol"]


def upgrade() -> None:
    """Upgrade schema: the rows keep every value but their id."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in _TABLES:
        # SQLite: a new table, the rows copied over; PostgreSQL: ALTERs in place.
        with op.batch_alter_table(
            table,
            recreate="always" if sqlite else "auto",
            table_kwargs={"sqlite_with_rowid": False} if sqlite else {},
        ) as batch:
            batch.drop_constraint(f"uq_{table}_exchange_ts_symbol", type_="unique")
            if not sqlite:  # SQLite's copy drops the id's key with the column
                batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.drop_column("id")
            batch.create_primary_key(f"pk_{table}", _KEY)
    if sqlite:
        _planner_statistics()


# SQLite's planner without statistics guesses every index's selectivity alike, and rates the
# key's time range (the table itself, no lookup) above the hour index's seeks of one
# symbol's rows: it would read every symbol's rows of the range. These rows say what the
# tables look like at the default retention (``RetentionPolicy``: 14 days of snapshots, 90
# of scores) of 5,000 symbols every 5 minutes: one exchange, 5,000 rows per time, 60,000 per
# hour, 12 per symbol and hour. So per-symbol reads seek the index and whole-market reads
# take the key's range. An ``ANALYZE`` later replaces them with the database's own.
_PER_DAY = 5_000 * 288
_ROWS = {"market_snapshots": 14 * _PER_DAY, "scores": 90 * _PER_DAY}


def _statistics(table: str) -> dict[str, str]:
    """sqlite_stat1's ``stat`` by index (a WITHOUT ROWID table's key under the table's name):
    the rows, then the rows per value of each leading run of the index's columns."""
    rows = _ROWS[table]
    return {
        table: f"{rows} {rows} 5000 1",  # exchange, ts, symbol
        f"ix_{table}_exchange_hour_symbol_ts": f"{rows} {rows} 60000 12 1",  # exchange, hour, symbol, ts
    }


def _planner_statistics() -> None:
    """Write ``_statistics`` of both tables into ``sqlite_stat1`` (created if missing)."""
    op.execute(sa.text("ANALYZE sqlite_schema"))  # creates sqlite_stat1; reads nothing of ours
    stat = sa.table("sqlite_stat1", sa.column("tbl"), sa.column("idx"), sa.column("stat"))
    op.execute(stat.delete().where(stat.c.tbl.in_(_TABLES)))
    rows = [
        {"tbl": table, "idx": index, "stat": numbers}
        for table in _TABLES
        for index, numbers in _statistics(table).items()
    ]
    op.bulk_insert(stat, rows)
    op.execute(sa.text("ANALYZE sqlite_schema"))  # this connection reloads them too


def downgrade() -> None:
    """Downgrade schema: the rows get new ids (in no particular order: nothing kept them)."""
    bind = op.get_bind()
    for table in _TABLES:
        if bind.dialect.name == "sqlite":
            op.execute(sa.text("DELETE FROM sqlite_stat1 WHERE tbl = :t").bindparams(t=table))
            _sqlite_rowid_table(bind, table)
        else:
            op.drop_constraint(f"pk_{table}", table, type_="primary")
            op.create_unique_constraint(f"uq_{table}_exchange_ts_symbol", table, _KEY)
            # BIGSERIAL numbers the stored rows and keeps numbering new ones, as before.
            op.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN id BIGSERIAL NOT NULL"))
            op.create_primary_key(f"pk_{table}", table, ["id"])


def _sqlite_rowid_table(bind: sa.Connection, table: str) -> None:
    """``table`` rebuilt as the rowid table it was, its rows copied over.

    By hand, not ``batch_alter_table``: a batch cannot drop a primary key SQLite reflects
    without its name.
    """
    current = sa.Table(table, sa.MetaData(), autoload_with=bind)
    names = [c.name for c in current.columns]
    columns = []
    for column in current.columns:
        copied = column._copy()
        copied.primary_key = False
        columns.append(copied)
    rebuilt = sa.Table(
        f"_alembic_tmp_{table}",
        sa.MetaData(),
        # INTEGER PRIMARY KEY: the copied rows are numbered as they are inserted.
        sa.Column("id", sa.Integer(), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.UniqueConstraint(*_KEY, name=f"uq_{table}_exchange_ts_symbol"),
    )
    rebuilt.create(bind)
    bind.execute(sa.insert(rebuilt).from_select(names, sa.select(*current.columns)))
    op.drop_table(table)
    op.rename_table(rebuilt.name, table)
    op.create_index(f"ix_{table}_exchange_hour_symbol_ts", table, ["exchange", "hour", "symbol", "ts"])
