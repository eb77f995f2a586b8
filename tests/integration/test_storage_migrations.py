"""The real Alembic migrations: upgrade, downgrade, re-upgrade, and no drift from the models."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from bot.core.document import (
    BulletList,
    ChartRef,
    Column,
    ColumnKind,
    Document,
    Footnote,
    Heading,
    KeyValues,
    Paragraph,
    Table,
)
from bot.core.records import ChatKey, ChatKind, OutboxMessage, Platform
from bot.errors import StorageError
from bot.render.plain_text import document_text
from bot.storage import migrate
from bot.storage.db import create_db_engine
from bot.storage.facade import open_storage
from bot.storage.models import Base
from tests.postgres import NewDatabase

REPO = Path(__file__).resolve().parents[2]


def table_names(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_the_database_file_and_its_directory(
    backend: str, db_url: str, tmp_path: Path
) -> None:
    sqlite = backend == "sqlite"  # a PostgreSQL database exists before it is migrated
    assert not (tmp_path / "data").exists()
    migrate.upgrade(db_url)
    assert (tmp_path / "data" / "dps.sqlite3").is_file() is sqlite
    assert migrate.current_revision(db_url) == migrate.head_revision() is not None
    assert table_names(db_url) == set(Base.metadata.tables) | {"alembic_version"}
    migrate.upgrade(db_url)  # already at head: nothing to do


def test_upgrade_downgrade_upgrade_round_trip(migrated_url: str) -> None:
    engine = create_db_engine(migrated_url)
    with engine.begin() as connection:  # downgrading a database with data in it
        connection.execute(
            # Literals both backends accept: TRUE, and a timestamp PostgreSQL can parse.
            sa.text(
                "INSERT INTO chats VALUES "
                "(1, 'telegram', '1', '', 'private', 'UTC', TRUE, '2025-01-06 12:00:00+00')"
            )
        )
    engine.dispose()
    migrate.downgrade(migrated_url, "base")
    assert migrate.current_revision(migrated_url) is None
    assert table_names(migrated_url) == {"alembic_version"}
    migrate.upgrade(migrated_url)
    assert migrate.current_revision(migrated_url) == migrate.head_revision()
    assert table_names(migrated_url) == set(Base.metadata.tables) | {"alembic_version"}
    migrate.check(migrated_url)


def test_models_and_migrations_do_not_drift(migrated_url: str) -> None:
    migrate.check(migrated_url)  # Alembic's `check`: autogenerate finds nothing to do


def test_check_reports_drift_and_a_database_behind(migrated_url: str, new_database: NewDatabase) -> None:
    engine = create_db_engine(migrated_url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP INDEX ix_scores_exchange_hour_symbol_ts"))
    engine.dispose()
    with pytest.raises(StorageError, match="ix_scores_exchange_hour_symbol_ts"):
        migrate.check(migrated_url)
    with pytest.raises(StorageError, match="not up to date"):
        migrate.check(new_database("empty.sqlite3"))


def test_open_storage_migrates_a_fresh_database(db_url: str) -> None:
    storage = open_storage(db_url)
    try:
        assert migrate.current_revision(db_url) == migrate.head_revision()
    finally:
        storage.close()


def test_revision_files_are_dated_and_the_ini_agrees_with_the_code() -> None:
    versions = sorted(p.name for p in (REPO / "migrations" / "versions").glob("*.py"))
    assert versions and all(re.fullmatch(r"\d{8}_[0-9a-f]{12}_\w+\.py", name) for name in versions)
    ini = Config(str(REPO / "alembic.ini"))
    assert Path(ini.get_main_option("script_location") or "") == migrate.script_location()
    assert ini.get_main_option("file_template") == migrate.FILE_TEMPLATE


def test_broken_urls_fail_with_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="DATABASE_URL"):
        migrate.upgrade("not a url")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StorageError, match="directory"):
        migrate.upgrade(f"sqlite:///{blocker / 'sub' / 'db.sqlite3'}")


BROKEN_REVISION = '''"""A migration that fails half-way."""

import sqlalchemy as sa
from alembic import op

revision = "ffffffffffff"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("THIS IS NOT SQL")


def downgrade() -> None:
    op.drop_table("half_done")
'''


def test_a_failing_upgrade_leaves_the_database_as_it_was(backend: str, db_url: str, tmp_path: Path) -> None:
    # How each driver classifies a syntax error.
    invalid_sql = {"sqlite": sa.exc.OperationalError, "postgresql": sa.exc.ProgrammingError}[backend]
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.script_location(), scripts, ignore=shutil.ignore_patterns("__pycache__"))
    head = migrate.head_revision()
    (scripts / "versions" / "20990101_ffffffffffff_broken.py").write_text(BROKEN_REVISION.format(head=head))
    config = migrate.alembic_config(db_url)
    config.set_main_option("script_location", str(scripts))
    with pytest.raises(invalid_sql):
        command.upgrade(config, "head")
    assert table_names(db_url) == set()  # the good revision before it was rolled back too
    migrate.upgrade(db_url)
    with pytest.raises(invalid_sql):
        command.upgrade(config, "head")
    assert migrate.current_revision(db_url) == head
    assert "half_done" not in table_names(db_url)


BEFORE_DOCUMENTS = "3f6b2d8e4c17"
"""The revision before outbox payloads became message documents."""

QUEUED_ALERT = (
    "Derivatives Pressure alerts · synthetic demo market (replay)\n"
    "\n"
    "SUIUSDT stretched → stressed · score 80 (was 70) · LONG\n"
    "  Long crowded · high funding + premium + rising OI\n"
    "  data 2026-11-20 08:10 UTC"
)


def _queue_plain_text(url: str) -> None:
    engine = create_db_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO chats VALUES "
                "(1, 'telegram', '1', '', 'private', 'UTC', TRUE, '2025-01-06 12:00:00+00')"
            )
        )
        insert = sa.text(
            "INSERT INTO outbox (idempotency_key, chat_ref, payload, status, attempts, next_attempt_at, "
            "created_at, event_count, attachment, parts_sent) VALUES (:key, 1, :payload, 'pending', 0, "
            "'2025-01-06 12:00:00+00', '2025-01-06 12:00:00+00', 1, :png, 0)"
        )
        connection.execute(insert, {"key": "alert", "payload": QUEUED_ALERT, "png": None})
        connection.execute(
            insert, {"key": "digest", "payload": "Daily digest\nSUIUSDT 72", "png": b"\x89PNG"}
        )
    engine.dispose()


def _payloads(url: str) -> dict[str, str]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT idempotency_key, payload FROM outbox"))
            return {key: payload for key, payload in rows}
    finally:
        engine.dispose()


def test_queued_plain_text_becomes_a_document_and_back(db_url: str) -> None:
    migrate.upgrade(db_url, BEFORE_DOCUMENTS)
    _queue_plain_text(db_url)
    migrate.upgrade(db_url)
    storage = open_storage(db_url)
    try:
        claimed = storage.outbox.claim_due(
            datetime(2025, 1, 7, tzinfo=UTC), limit=5, claim_for=timedelta(minutes=1)
        )
    finally:
        storage.close()
    by_key = {e.idempotency_key: e for e in claimed}
    alert, digest = by_key["alert"], by_key["digest"]
    assert alert.payload == Document(
        title="Derivatives Pressure alerts · synthetic demo market (replay)",
        blocks=(
            Paragraph("SUIUSDT stretched → stressed · score 80 (was 70) · LONG"),
            Paragraph("Long crowded · high funding + premium + rising OI", indent=True),
            Paragraph("data 2026-11-20 08:10 UTC", indent=True),
        ),
    )
    assert digest.payload.title == "Daily digest"
    assert digest.payload.blocks[0] == Paragraph("SUIUSDT 72")
    assert digest.payload.chart is not None and digest.attachment == b"\x89PNG"
    assert sorted(e.idempotency_key for e in claimed) == ["alert", "digest"]  # deliverable as before
    assert document_text(alert.payload) == QUEUED_ALERT.replace("\n\n", "\n")  # the text, blank lines aside

    migrate.upgrade(db_url)  # documents are left alone
    migrate.downgrade(db_url, BEFORE_DOCUMENTS)
    assert _payloads(db_url) == {
        "alert": QUEUED_ALERT.replace("\n\n", "\n"),
        "digest": "Daily digest\nSUIUSDT 72",
    }
    migrate.upgrade(db_url)
    migrate.check(db_url)


def test_a_document_queued_now_goes_back_to_text_on_downgrade(migrated_url: str) -> None:
    storage = open_storage(migrated_url)
    try:
        ref = storage.chats.ensure_chat(
            ChatKey(Platform.TELEGRAM, "1"), kind=ChatKind.PRIVATE, now=datetime(2025, 1, 6, tzinfo=UTC)
        ).ref
        doc = Document(
            "Daily digest",
            (
                Heading("Top stress"),
                Table((Column("Symbol"), Column("Score", ColumnKind.NUMBER)), (("SUIUSDT", "72"),)),
                KeyValues((("Alerts", "on"),)),
                BulletList(("one",)),
                ChartRef("digest.png", "Top names"),
                Footnote("data 2025-01-06 12:00 UTC"),
            ),
            source_label="synthetic",
        )
        storage.outbox.enqueue([OutboxMessage("d", ref, doc, datetime(2025, 1, 6, tzinfo=UTC))])
    finally:
        storage.close()
    migrate.downgrade(migrated_url, BEFORE_DOCUMENTS)
    assert _payloads(migrated_url)["d"] == (
        "Daily digest\nSource: synthetic\nTop stress\nSymbol  Score\nSUIUSDT  72\nAlerts: on\n- one\n"
        "data 2025-01-06 12:00 UTC"
    )


def test_hour_buckets_are_backfilled_from_ts_and_the_downgrade_keeps_the_rows(migrated_url: str) -> None:
    migrate.downgrade(migrated_url, "c7e5a9d3f012")
    times = ["2026-11-30 10:00:00+00", "2026-11-30 10:59:59.5+00", "1970-01-01 01:00:00+00"]
    engine = create_db_engine(migrated_url)
    with engine.begin() as connection:
        for i, ts in enumerate(times):
            # Bound as text, as a client of the old schema could have written it: the
            # SQLite column holds the UTC wall time, PostgreSQL parses the literal.
            wall = ts.removesuffix("+00") if engine.dialect.name == "sqlite" else ts
            connection.execute(
                sa.text("INSERT INTO market_snapshots (exchange, symbol, ts) VALUES ('x', :s, :ts)"),
                {"s": f"S{i}", "ts": wall},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO scores (exchange, symbol, ts, score, band, bias, regime, partial, funding,"
                    " basis, oi_build, oi_unwind, positioning, direction)"
                    " VALUES ('x', :s, :ts, 1, 'lean', 'long', 'long_bias', FALSE, 0, 0, 0, 0, 0, 0)"
                ),
                {"s": f"S{i}", "ts": wall},
            )
    engine.dispose()
    migrate.upgrade(migrated_url)
    expected = {"S0": 498_898, "S1": 498_898, "S2": 1}  # whole hours since the epoch
    engine = create_db_engine(migrated_url)
    try:
        with engine.connect() as connection:
            for table in ("market_snapshots", "scores"):
                rows = connection.execute(sa.text(f"SELECT symbol, hour FROM {table}"))
                assert {symbol: hour for symbol, hour in rows} == expected, table
    finally:
        engine.dispose()
    migrate.downgrade(migrated_url, "c7e5a9d3f012")
    engine = create_db_engine(migrated_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM scores")).scalar() == len(times)
            columns = {c["name"] for c in sa.inspect(connection).get_columns("scores")}
            assert "hour" not in columns
    finally:
        engine.dispose()
    migrate.upgrade(migrated_url)
    migrate.check(migrated_url)


def test_alert_venues_default_empty_for_existing_chats_and_go_on_downgrade(migrated_url: str) -> None:
    """A chat stored before the column follows the default; a choice survives a re-read
    (a restart) and the downgrade drops it with the column."""
    migrate.downgrade(migrated_url, "d8f1b6a2c954")
    engine = create_db_engine(migrated_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO chats (id, platform, chat_id, thread_id, kind, timezone, enabled, created_at)"
                " VALUES (7, 'telegram', '42', '', 'group', 'UTC', TRUE, :at)"
            ),
            {"at": datetime(2026, 12, 1, tzinfo=UTC)},
        )
        connection.execute(
            sa.text(
                "INSERT INTO chat_settings (chat_ref, alerts_enabled, min_band, kind_band_up, kind_band_down,"
                " kind_squeeze_risk, kind_bias_flip, watchlist_only, digest_enabled, digest_time)"
                " VALUES (7, TRUE, 'stretched', TRUE, TRUE, TRUE, TRUE, FALSE, FALSE, '08:00:00')"
            )
        )
    engine.dispose()
    migrate.upgrade(migrated_url)
    storage = open_storage(migrated_url)
    try:
        assert storage.chats.get_settings(7).alert_venues == frozenset()
        chosen = replace(storage.chats.get_settings(7), alert_venues=frozenset({"bybit", "okx"}))
        storage.chats.save_settings(7, chosen)
    finally:
        storage.close()
    storage = open_storage(migrated_url)  # a restart reads the choice back
    try:
        assert storage.chats.get_settings(7).alert_venues == frozenset({"bybit", "okx"})
    finally:
        storage.close()
    migrate.downgrade(migrated_url, "d8f1b6a2c954")
    engine = create_db_engine(migrated_url)
    try:
        with engine.connect() as connection:
            columns = {c["name"] for c in sa.inspect(connection).get_columns("chat_settings")}
            assert "alert_venues" not in columns
            assert connection.execute(sa.text("SELECT count(*) FROM chat_settings")).scalar() == 1
    finally:
        engine.dispose()
    migrate.upgrade(migrated_url)
    migrate.check(migrated_url)


_INSERT_POINT = sa.text(
    "INSERT INTO market_snapshots (exchange, symbol, ts, hour) VALUES ('x', 'AUSDT', :ts, 1)"
)


def _time_series_rows(connection: sa.Connection) -> dict[str, set[tuple[object, ...]]]:
    """Each time-series table's rows without their id, as comparable tuples."""
    value = {"market_snapshots": "oi_contracts", "scores": "score"}
    return {
        # Names from the dictionary above, no outside input.
        table: {
            tuple(row)
            for row in connection.execute(sa.text(f"SELECT exchange, symbol, ts, hour, {v} FROM {table}"))
        }
        for table, v in value.items()
    }


def test_time_series_tables_are_keyed_by_exchange_ts_symbol_and_the_rows_survive_both_ways(
    migrated_url: str,
) -> None:
    migrate.downgrade(migrated_url, "e3a7c91b5d40")
    engine = create_db_engine(migrated_url)
    sqlite = engine.dialect.name == "sqlite"
    times = ["2026-11-30 10:00:00+00", "2026-11-30 10:05:00+00"]
    with engine.begin() as connection:
        for i, ts in enumerate(times):
            for symbol in ("AUSDT", "BUSDT"):
                wall = ts.removesuffix("+00") if sqlite else ts
                values = {"s": symbol, "ts": wall, "h": 498_898, "v": float(i), "n": i}
                connection.execute(
                    sa.text(
                        "INSERT INTO market_snapshots (exchange, symbol, ts, hour, oi_contracts)"
                        " VALUES ('x', :s, :ts, :h, :v)"
                    ),
                    values,
                )
                connection.execute(
                    sa.text(
                        "INSERT INTO scores (exchange, symbol, ts, hour, score, band, bias, regime, partial,"
                        " funding, basis, oi_build, oi_unwind, positioning, direction)"
                        " VALUES ('x', :s, :ts, :h, :n, 'lean', 'long', 'long_bias', FALSE, 0, 0, 0, 0, 0, 0)"
                    ),
                    values,
                )
        before = _time_series_rows(connection)
    engine.dispose()
    migrate.upgrade(migrated_url)
    engine = create_db_engine(migrated_url)
    try:
        with engine.connect() as connection:
            assert _time_series_rows(connection) == before
            inspector = sa.inspect(connection)
            for table in ("market_snapshots", "scores"):
                assert "id" not in {c["name"] for c in inspector.get_columns(table)}
                key = inspector.get_pk_constraint(table)
                assert key["constrained_columns"] == ["exchange", "ts", "symbol"], table
                assert inspector.get_unique_constraints(table) == [], table
                index = {i["name"]: i["column_names"] for i in inspector.get_indexes(table)}
                assert index[f"ix_{table}_exchange_hour_symbol_ts"] == ["exchange", "hour", "symbol", "ts"]
                if sqlite:  # the key is the table: no rowid B-tree beside it
                    find = sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t")
                    sql = connection.execute(find, {"t": table}).scalar_one()
                    assert "WITHOUT ROWID" in sql.upper(), sql
                    # The planner's statistics: without them SQLite reads a symbol's rows
                    # from the key's time range (every symbol's) instead of seeking the index.
                    stats = connection.execute(
                        sa.text("SELECT idx FROM sqlite_stat1 WHERE tbl = :t"), {"t": table}
                    ).scalars()
                    assert set(stats) == {table, f"ix_{table}_exchange_hour_symbol_ts"}
            connection.rollback()  # end the inspection's transaction
            wall = times[0].removesuffix("+00") if sqlite else times[0]
            with pytest.raises(sa.exc.IntegrityError), connection.begin():  # the key is still unique
                connection.execute(_INSERT_POINT, {"ts": wall})
    finally:
        engine.dispose()
    migrate.check(migrated_url)
    migrate.downgrade(migrated_url, "e3a7c91b5d40")
    engine = create_db_engine(migrated_url)
    try:
        with engine.begin() as connection:
            assert _time_series_rows(connection) == before
            if sqlite:  # the statistics of the keyed tables go with them
                assert connection.execute(sa.text("SELECT count(*) FROM sqlite_stat1")).scalar() == 0
            ids: dict[str, list[int]] = {}
            for table in ("market_snapshots", "scores"):
                # Table names from the tuple, no outside input.
                ids[table] = [row[0] for row in connection.execute(sa.text(f"SELECT id FROM {table}"))]
                assert len(set(ids[table])) == len(ids[table]) == 4 and None not in ids[table], table
            # A row stored after the downgrade gets a new id, as the old code expects.
            later = "2026-11-30 10:10:00" if sqlite else "2026-11-30 10:10:00+00"
            connection.execute(_INSERT_POINT, {"ts": later})
            new_id = connection.execute(
                sa.text("SELECT id FROM market_snapshots WHERE ts = :ts"), {"ts": later}
            ).scalar_one()
            assert new_id is not None and new_id not in ids["market_snapshots"]
    finally:
        engine.dispose()
    migrate.upgrade(migrated_url)
    migrate.check(migrated_url)
