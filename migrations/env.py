"""Alembic environment: migrations for ``bot.storage.models``.

The database URL comes from ``bot.storage.migrate`` (``config.attributes``), else from
``sqlalchemy.url`` in the ini file, else from ``DATABASE_URL``, else the default SQLite
file. Batch mode is always rendered so that generated migrations also run on SQLite,
whose ALTER TABLE is limited; on PostgreSQL batch operations are plain ALTERs.
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext

from bot.config import DEFAULT_DATABASE_URL
from bot.storage.columns import UtcDateTime
from bot.storage.db import create_db_engine
from bot.storage.migrate import URL_ATTRIBUTE
from bot.storage.models import Base

config = context.config

# Only the `alembic` command line has an ini file; code calling the migrate helpers keeps
# the application's own logging set-up.
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> Any:
    """The URL to migrate, by the precedence in the module docstring."""
    return (
        config.attributes.get(URL_ATTRIBUTE)
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("DATABASE_URL")
        or DEFAULT_DATABASE_URL
    )


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render UtcDateTime as the plain column type it stores.

    A migration must not import application code that may change after it was written.
    """
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``alembic upgrade --sql``)."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        render_item=render_item,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a live connection."""
    # Foreign keys off on SQLite: a batch migration copies a table and drops the old one,
    # which with enforcement on would cascade deletes into the tables that point at it.
    engine = create_db_engine(database_url(), foreign_keys=False)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=True,
                render_item=render_item,
                compare_type=True,
                # All or nothing, on SQLite too (db.py makes its BEGIN real): a migration
                # that fails, or a process killed mid-way, leaves the previous schema.
                transactional_ddl=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
