"""Bulk writes of plain tuples: one DBAPI executemany, without per-row parameter objects.

The one module of the repositories that writes SQL text (the portability test holds the
others to SQLAlchemy constructs): a plain ``INSERT`` and the ``ON CONFLICT`` upsert, which
SQLite and PostgreSQL spell alike; the storage contract suite runs them on both.

A cycle writes thousands of rows per table. Through a compiled Core ``insert`` SQLAlchemy
builds and processes a parameter dictionary per row, which cost more than the database's
own work. Here the rows are tuples in column order, the SQL is written once per table and
dialect, and only the columns whose type converts values (the aware datetimes: SQLite
stores them as text) go through the column type's own bind processor, the very function
a compiled statement would call, memoised per value (a cycle's rows share their times).
So the stored values are exactly those of a Core ``insert``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Boolean, Connection, DateTime, Dialect, Float, Table
from sqlalchemy.exc import StatementError
from sqlalchemy.types import TypeDecorator

from bot.errors import StorageError

Processor = Callable[[Any], Any]


def _placeholders(paramstyle: str, count: int) -> list[str]:
    if paramstyle == "qmark":
        return ["?"] * count
    if paramstyle in ("format", "pyformat"):
        return ["%s"] * count
    if paramstyle == "numeric":
        return [f":{i}" for i in range(1, count + 1)]
    if paramstyle == "numeric_dollar":
        return [f"${i}" for i in range(1, count + 1)]
    # "named": no positional form. SQLite's and PostgreSQL's drivers all have one.
    raise StorageError(f"the database driver's paramstyle {paramstyle!r} is not supported")


def _redundant(column_type: Any, dialect: Dialect) -> bool:
    """Whether the type's bind processor changes nothing SQLite stores for the values the
    repositories write (floats, ints or None; bools): ``float()`` before a REAL column,
    ``int()`` of a bool, which the driver stores as 0 or 1 anyway. Calling them was a third
    of a cycle's bulk-write Python time. (A row builder that writes many bools still
    converts them itself, cheaper: ``bool_binder``.)"""
    return dialect.name == "sqlite" and isinstance(column_type, Float | Boolean)


@cache
def _processors(
    table: Table, columns: tuple[str, ...], dialect: Dialect, prebound: tuple[str, ...] = ()
) -> tuple[tuple[int, Processor, bool], ...]:
    """(position, bind processor, memoise?) of each column whose type converts values and
    which is not ``prebound`` (converted by the rows' builder)."""
    found = []
    for position, name in enumerate(columns):
        if name in prebound:
            continue
        column_type = table.c[name].type
        processor = column_type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None and not _redundant(column_type, dialect):
            # Times repeat across a cycle's rows and cost a call each; floats do neither.
            memoise = isinstance(column_type, TypeDecorator | DateTime)
            found.append((position, processor, memoise))
    return tuple(found)


def bool_binder(dialect: Dialect) -> Callable[[bool], Any]:
    """The value a row builder passes for a bool on ``dialect``: what the driver binds
    fastest and stores the same.

    SQLite's driver binds exact ints, floats and strings directly, but sends a bool (an
    int subclass) through its adaptation protocol first: a registry lookup and two
    attribute lookups, ~0.5 µs a value, 10,000 values a 5,000-score cycle (~5 ms). ``int``
    gives the 0 or 1 SQLite stores either way. PostgreSQL's driver binds a bool as a
    boolean and refuses an int for a boolean column, so it gets the bool.
    """
    return int if dialect.name == "sqlite" else bool


@cache
def insert_statement(dialect: Dialect, table: Table, columns: tuple[str, ...], suffix: str = "") -> str:
    """``INSERT INTO table (columns) VALUES (…)`` plus ``suffix``, in the driver's positional
    paramstyle.

    Raises:
        StorageError: the driver has no positional paramstyle.
    """
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in columns)
    marks = ", ".join(_placeholders(dialect.paramstyle, len(columns)))
    # Only the schema's own names, quoted, and placeholders: the values travel as parameters.
    into = dialect.identifier_preparer.format_table(table)
    return f"INSERT INTO {into} ({names}) VALUES ({marks}){suffix}"  # noqa: S608


@cache
def upsert_clause(dialect: Dialect, key: tuple[str, ...], columns: tuple[str, ...]) -> str:
    """The suffix turning ``insert_statement`` into an upsert on the unique ``key``: a row
    whose key is stored replaces that row's other ``columns``.

    ``ON CONFLICT … DO UPDATE`` is the same on SQLite (3.24+) and PostgreSQL (9.5+).
    """
    quote = dialect.identifier_preparer.quote
    sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns if c not in key)
    return f" ON CONFLICT ({', '.join(quote(c) for c in key)}) DO UPDATE SET {sets}"


@cache
def fill_clause(dialect: Dialect, table: Table, key: tuple[str, ...], columns: tuple[str, ...]) -> str:
    """The suffix turning ``insert_statement`` into a fill on the unique ``key``: a row whose
    key is stored sets only the stored row's NULL ``columns`` (a value stored stays).

    Same on SQLite and PostgreSQL, as ``upsert_clause``.
    """
    quote = dialect.identifier_preparer.quote
    into = dialect.identifier_preparer.format_table(table)
    sets = ", ".join(
        f"{quote(c)} = COALESCE({into}.{quote(c)}, excluded.{quote(c)})" for c in columns if c not in key
    )
    return f" ON CONFLICT ({', '.join(quote(c) for c in key)}) DO UPDATE SET {sets}"


def bound_rows(
    dialect: Dialect,
    table: Table,
    columns: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    prebound: tuple[str, ...] = (),
) -> list[tuple[Any, ...]]:
    """``rows`` with each value converted as the column's type binds it on ``dialect``.

    Column by column: the rows are transposed, each converting column mapped through its
    processor (None included, as SQLAlchemy does), and transposed back.

    Raises:
        StatementError: a value the type refuses (a naive datetime), as a Core statement would.
    """
    processors = _processors(table, columns, dialect, prebound)
    if not processors or not rows:
        return rows if isinstance(rows, list) else list(rows)
    try:
        values: list[Sequence[Any]] = list(zip(*rows, strict=True))
        for position, process, memoise in processors:
            column = values[position]
            if memoise:
                try:
                    seen = {value: process(value) for value in set(column)}
                except TypeError:  # an unhashable value: no memo
                    values[position] = [process(value) for value in column]
                    continue
                values[position] = list(map(seen.__getitem__, column))
            else:
                values[position] = list(map(process, column))
    except (ValueError, TypeError) as exc:
        raise StatementError(str(exc), f"INSERT INTO {table.name}", None, exc) from exc
    return list(zip(*values, strict=True))


def binder(dialect: Dialect, table: Table, column: str) -> Processor:
    """``column``'s bind processor on ``dialect``, memoised per value: for a builder of rows
    whose values repeat (a cycle's rows share their time), which passes the column to
    ``execute_rows`` as ``prebound``.

    Raises (when called):
        StatementError: a value the type refuses (a naive datetime), as a Core statement would.
    """
    processor = table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
    memo: dict[Any, Any] = {}

    def bind(value: Any) -> Any:
        try:
            return memo[value]
        except KeyError:
            pass
        try:
            bound = value if processor is None else processor(value)
        except (ValueError, TypeError) as exc:
            raise StatementError(str(exc), f"INSERT INTO {table.name}", None, exc) from exc
        memo[value] = bound
        return bound

    return bind


def execute_rows(
    conn: Connection,
    table: Table,
    columns: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    *,
    suffix: str = "",
    prebound: tuple[str, ...] = (),
    key: tuple[str, ...] = (),
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) as one executemany, ``suffix`` ending the
    statement (an ``ON CONFLICT`` clause); the ``prebound`` columns' values are bound already
    (``binder``); ``key``: the table's primary key columns, in the key's order.

    SQLite prepares the statement once for all rows; psycopg sends them in one pipeline,
    which measured a third of the time of multi-row statements of a thousand rows each.
    """
    if rows:
        sql = insert_statement(conn.dialect, table, columns, suffix)
        conn.exec_driver_sql(
            sql, in_key_order(bound_rows(conn.dialect, table, columns, rows, prebound), columns, key)
        )


def in_key_order(
    rows: list[tuple[Any, ...]], columns: tuple[str, ...], key: tuple[str, ...]
) -> list[tuple[Any, ...]]:
    """``rows`` sorted by their ``key`` columns' (bound) values; as they are without a key.

    The key is the B-tree a row goes into (SQLite's tables are ``WITHOUT ROWID``). A cycle's
    rows come in score order, which is random in the key (exchange, time, symbol): each row
    went to another of the last few hundred pages and split pages mid-way. In key order each
    lands beside the one before it, at the tree's right edge: a 5,000-score insert took 48
    ms instead of 66, and leaves fuller pages. Bound values sort as the database orders
    them: the text SQLite stores a UTC time as sorts as the times do.
    """
    if key and len(rows) > 1:
        return sorted(rows, key=itemgetter(*(columns.index(name) for name in key)))
    return rows
