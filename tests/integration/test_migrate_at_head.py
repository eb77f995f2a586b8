"""Alembic stays unloaded at a start that finds the database at head, and runs whenever it is not."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from bot.storage import migrate
from tests.postgres import NewDatabase

REPO = Path(__file__).resolve().parents[2]


def test_the_head_read_from_the_scripts_is_alembic_s() -> None:
    assert migrate.script_head() == migrate.head_revision()


def test_a_database_at_head_opens_without_importing_alembic(migrated_url: str) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from bot.storage.facade import open_storage
        open_storage({migrated_url!r}).close()
        print("alembic loaded" if "alembic" in sys.modules else "alembic not loaded")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True, timeout=120
    )
    assert done.stdout.strip() == "alembic not loaded"


def test_only_a_database_exactly_at_head_counts_as_at_head(migrated_url: str, db_url: str) -> None:
    assert migrate.at_head(migrated_url)
    head = migrate.head_revision()
    assert head is not None
    migrate.downgrade(migrated_url, "-1")
    assert not migrate.at_head(migrated_url)
    migrate.upgrade(migrated_url)  # one revision behind: Alembic runs it
    assert migrate.current_revision(migrated_url) == head
    assert migrate.at_head(migrated_url)


def test_an_empty_or_unreadable_database_is_not_at_head(new_database: NewDatabase, tmp_path: Path) -> None:
    assert not migrate.at_head(new_database("empty.sqlite3"))
    assert not migrate.at_head("sqlite:///" + str(tmp_path / "no" / "such" / "dir" / "x.sqlite3"))
    assert not migrate.at_head("nonsense://")
