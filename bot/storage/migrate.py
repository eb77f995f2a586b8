"""Alembic migrations applied from code: at start-up, by ``dps db upgrade``, and in tests.

The Alembic configuration is built here rather than read from ``alembic.ini`` (which is
for developers' ``alembic revision --autogenerate``), so the bot migrates from any working
directory. The database URL travels in ``Config.attributes``, never through the ini
parser, so a ``%`` in a password needs no escaping.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import URL

from bot.errors import StorageError
from bot.storage.db import create_db_engine, storage_errors

URL_ATTRIBUTE = "database_url"
"""Key of the database URL in ``Config.attributes``; ``migrations/env.py`` reads it."""

# Dated revision files sort by creation day: 20250101_3f2a9c_initial_schema.py
FILE_TEMPLATE = "%(year)d%(month).2d%(day).2d_%(rev)s_%(slug)s"

_REPO_ROOT = Path(__file__).resolve().parents[2]


def script_location() -> Path:
    """The ``migrations/`` folder: beside the package, or named by an ``alembic.ini``.

    A wheel may ship the folder inside the package as ``bot/_migrations``.

    Raises:
        StorageError: none is found.
    """
    beside_package = _REPO_ROOT / "migrations"
    for candidate in (beside_package, _REPO_ROOT / "bot" / "_migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    for folder in (Path.cwd(), *Path.cwd().parents):
        ini = folder / "alembic.ini"
        if ini.is_file():
            location = Config(str(ini)).get_main_option("script_location")
            if location and (Path(location) / "env.py").is_file():
                return Path(location)
    raise StorageError(f"cannot find the migrations folder: not in {beside_package}, and no alembic.ini")


def alembic_config(url: str | URL, *, stdout: TextIO | None = None) -> Config:
    """An Alembic ``Config`` for ``url`` built in code.

    Args:
        url: the database URL (``DATABASE_URL``).
        stdout: where Alembic's command output goes (default: discarded).
    """
    config = Config(stdout=stdout or io.StringIO())
    # set_main_option goes through ConfigParser interpolation: double any '%'.
    config.set_main_option("script_location", str(script_location()).replace("%", "%%"))
    config.set_main_option("file_template", FILE_TEMPLATE.replace("%", "%%"))
    config.attributes[URL_ATTRIBUTE] = url
    return config


@contextmanager
def _migration_errors(action: str) -> Iterator[None]:
    try:
        with storage_errors(action):
            yield
    except CommandError as exc:
        raise StorageError(f"cannot {action}: {exc}") from exc


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (creating the file if needed)."""
    with _migration_errors(f"upgrade the database to {revision}"):
        command.upgrade(alembic_config(url), revision)


def downgrade(url: str | URL, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``"base"`` empties it)."""
    with _migration_errors(f"downgrade the database to {revision}"):
        command.downgrade(alembic_config(url), revision)


def check(url: str | URL) -> None:
    """Fail unless the database is at head and the models match it (Alembic's ``check``).

    Raises:
        StorageError: the database is behind, or the models differ from the migrations
            (the message lists the differences).
    """
    with _migration_errors("check the models against the migrations"):
        command.check(alembic_config(url))


def head_revision() -> str | None:
    """The newest revision of the migration scripts."""
    with _migration_errors("read the migration scripts"):
        return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(url: str | URL) -> str | None:
    """The revision the database at ``url`` is at (``None`` for an empty database)."""
    engine = create_db_engine(url)
    try:
        with _migration_errors("read the database revision"), engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
