"""Alembic migrations applied from code: at start-up, by ``dps db upgrade``, and in tests.

The Alembic configuration is built here rather than read from ``alembic.ini`` (which is
for developers' ``alembic revision --autogenerate``), so the bot migrates from any working
directory. The database URL travels in ``Config.attributes``, never through the ini
parser, so a ``%`` in a password needs no escaping.

Alembic (and Mako, which it imports) costs some 11 MB of RSS before it migrates anything,
and a process keeps what it imported. A database already at head, which is every start
but the first after an upgrade, needs none of it: ``upgrade`` first compares the
database's ``alembic_version`` with the head read from the scripts' source (``ast``, no
import), and imports Alembic only when they differ or either is not plain to read.
"""

from __future__ import annotations

import ast
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sqlalchemy import text
from sqlalchemy.engine import URL

from bot.errors import StorageError
from bot.storage.db import create_db_engine, storage_errors

if TYPE_CHECKING:
    from alembic.config import Config

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
            from alembic.config import Config

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
    from alembic.config import Config

    config = Config(stdout=stdout or io.StringIO())
    # set_main_option goes through ConfigParser interpolation: double any '%'.
    config.set_main_option("script_location", str(script_location()).replace("%", "%%"))
    config.set_main_option("file_template", FILE_TEMPLATE.replace("%", "%%"))
    config.attributes[URL_ATTRIBUTE] = url
    return config


@contextmanager
def _migration_errors(action: str) -> Iterator[None]:
    from alembic.util import CommandError

    try:
        with storage_errors(action):
            yield
    except CommandError as exc:
        raise StorageError(f"cannot {action}: {exc}") from exc


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (creating the file if needed).

    Alembic is imported only when the database is not known to be at head already.
    """
    if revision == "head" and at_head(url):
        return
    from alembic import command

    with _migration_errors(f"upgrade the database to {revision}"):
        command.upgrade(alembic_config(url), revision)


def downgrade(url: str | URL, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``"base"`` empties it)."""
    from alembic import command

    with _migration_errors(f"downgrade the database to {revision}"):
        command.downgrade(alembic_config(url), revision)


def check(url: str | URL) -> None:
    """Fail unless the database is at head and the models match it (Alembic's ``check``).

    Raises:
        StorageError: the database is behind, or the models differ from the migrations
            (the message lists the differences).
    """
    from alembic import command

    with _migration_errors("check the models against the migrations"):
        command.check(alembic_config(url))


def head_revision() -> str | None:
    """The newest revision of the migration scripts."""
    from alembic.script import ScriptDirectory

    with _migration_errors("read the migration scripts"):
        return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(url: str | URL) -> str | None:
    """The revision the database at ``url`` is at (``None`` for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    engine = create_db_engine(url)
    try:
        with _migration_errors("read the database revision"), engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def _literal_assignments(path: Path) -> dict[str, object]:
    """The module-level ``name = <literal>`` assignments of a Python file (annotated too)."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name):
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                continue
    return found


def script_head() -> str | None:
    """The single head revision, read from the scripts' source without importing Alembic.

    ``None`` when it cannot be told plainly: a script without a literal ``revision``, a
    ``down_revision`` that is not a string, tuple or None, several heads or none.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((script_location() / "versions").glob("*.py")):
        names = _literal_assignments(path)
        revision, down = names.get("revision"), names.get("down_revision")
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list) and all(isinstance(d, str) for d in down):
            parents.update(down)
        elif down is not None:
            return None
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def at_head(url: str | URL) -> bool:
    """Whether the database at ``url`` is at the scripts' head, known without Alembic.

    False whenever unsure (no version table, no file yet, an error reading either): then
    Alembic decides, and reports any error in its words.
    """
    try:
        head = script_head()
        if head is None:
            return False
        engine = create_db_engine(url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        finally:
            engine.dispose()
    except Exception:  # unsure means "let Alembic look"
        return False
    return [row[0] for row in rows] == [head]
