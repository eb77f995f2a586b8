"""SQLAlchemy models: the schema Alembic migrations are generated from and checked against.

Enumerations are stored as their string values (no native enums: adding a value must not
need an ALTER TYPE on PostgreSQL); the repositories convert at the edge. Never call
``create_all`` on this metadata outside its own tests: the schema comes from migrations.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.core.diff import reading_hour
from bot.storage.columns import BigIntPk, UtcDateTime

# Deterministic constraint names, so migrations can drop and alter them on every dialect.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

EXCHANGE_LEN = 32
SYMBOL_LEN = 64
ENUM_LEN = 32


class Base(DeclarativeBase):
    """Declarative base with the naming convention and aware-UTC datetimes."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime()}


HOUR_SECONDS = 3600


def hour_of(ts: datetime) -> int:
    """The hour bucket of a time: whole hours since the Unix epoch (``hour`` columns).

    The diff's own hour of a reading (``bot.core.diff.reading_hour``), which decides when an
    alert state is written: the state load searches the same bucket, so one definition.
    """
    return reading_hour(ts)


def _hour_default(context: Any) -> int:
    # Inserts that name no hour (Core inserts of whole rows, the benches' bulk loads) get
    # it from their own ts; the repositories' bulk writes pass it themselves.
    return hour_of(context.get_current_parameters()["ts"])


def table_of(model: type[Base]) -> Table:
    """A model's Core table, for bulk statements (``__table__`` is typed as a FromClause)."""
    return Base.metadata.tables[model.__tablename__]


class SnapshotRow(Base):
    """One symbol's raw market state at one time (``bot.core.market.MarketSnapshot``)."""

    __tablename__ = "market_snapshots"
    __table_args__ = (
        # One symbol's history, its card, its value at a past time: one seek per (hour,
        # symbol) pair (``hour IN (...) AND symbol IN (...)``). Hour before symbol keeps a
        # cycle's inserts on the index's last few pages; a symbol-first index had each
        # cycle dirty one leaf page per symbol (WAL writes and checkpoint time).
        Index("ix_market_snapshots_exchange_hour_symbol_ts", "exchange", "hour", "symbol", "ts"),
        # Time before symbol: "every symbol's rows since T" (the recent-window reads, the
        # duplicate check of a cycle, retention) is a range scan of the primary key.
        PrimaryKeyConstraint("exchange", "ts", "symbol"),
        # The key is the table (SQLite: no rowid B-tree beside it): a row costs two B-trees,
        # not three (rowid table, unique key, hour index), the largest part of a cycle's store.
        {"sqlite_with_rowid": False},
    )

    exchange: Mapped[str] = mapped_column(String(EXCHANGE_LEN))
    symbol: Mapped[str] = mapped_column(String(SYMBOL_LEN))
    ts: Mapped[datetime]
    # ``hour_of(ts)``, for the (exchange, hour, symbol, ts) index.
    hour: Mapped[int] = mapped_column(Integer, default=_hour_default)
    oi_contracts: Mapped[float | None] = mapped_column(Float)
    oi_usd: Mapped[float | None] = mapped_column(Float)
    mark_price: Mapped[float | None] = mapped_column(Float)
    index_price: Mapped[float | None] = mapped_column(Float)
    last_price: Mapped[float | None] = mapped_column(Float)
    funding_rate: Mapped[float | None] = mapped_column(Float)
    funding_interval_h: Mapped[float | None] = mapped_column(Float)
    next_funding_time: Mapped[datetime | None]
    volume_24h_usd: Mapped[float | None] = mapped_column(Float)


class ScoreRow(Base):
    """One stored score: the inputs (in %), the result and every component behind it.

    The regime label is not stored: it is a function of the regime code
    (``bot.core.regimes.REGIME_LABELS``), and repeating it on every row would double the
    size of the table.
    """

    __tablename__ = "scores"
    __table_args__ = (
        Index("ix_scores_exchange_hour_symbol_ts", "exchange", "hour", "symbol", "ts"),
        PrimaryKeyConstraint("exchange", "ts", "symbol"),  # as for market_snapshots
        {"sqlite_with_rowid": False},
    )

    exchange: Mapped[str] = mapped_column(String(EXCHANGE_LEN))
    symbol: Mapped[str] = mapped_column(String(SYMBOL_LEN))
    ts: Mapped[datetime]
    # ``hour_of(ts)``, for the (exchange, hour, symbol, ts) index.
    hour: Mapped[int] = mapped_column(Integer, default=_hour_default)
    score: Mapped[int] = mapped_column(SmallInteger)
    band: Mapped[str] = mapped_column(String(ENUM_LEN))
    bias: Mapped[str] = mapped_column(String(ENUM_LEN))
    regime: Mapped[str] = mapped_column(String(ENUM_LEN))
    partial: Mapped[bool] = mapped_column(Boolean)
    # ``ScoreRecord.accepted``: this reading became its symbol's alert-state ``last``.
    accepted: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # Inputs (ScoreInputs), in percent.
    oi_1h_pct: Mapped[float | None] = mapped_column(Float)
    oi_4h_pct: Mapped[float | None] = mapped_column(Float)
    oi_24h_pct: Mapped[float | None] = mapped_column(Float)
    funding_pct: Mapped[float | None] = mapped_column(Float)
    funding_interval_h: Mapped[float | None] = mapped_column(Float)
    basis_pct: Mapped[float | None] = mapped_column(Float)
    # Mark-price changes: they decide the regime's side, so the card can show why.
    price_1h_pct: Mapped[float | None] = mapped_column(Float)
    price_4h_pct: Mapped[float | None] = mapped_column(Float)
    price_24h_pct: Mapped[float | None] = mapped_column(Float)
    # Components.
    funding_8h_pct: Mapped[float | None] = mapped_column(Float)
    funding_excess_pct: Mapped[float | None] = mapped_column(Float)
    funding_annualised_pct: Mapped[float | None] = mapped_column(Float)
    funding: Mapped[float] = mapped_column(Float)
    basis: Mapped[float] = mapped_column(Float)
    oi_build: Mapped[float] = mapped_column(Float)
    oi_unwind: Mapped[float] = mapped_column(Float)
    positioning: Mapped[float] = mapped_column(Float)
    direction: Mapped[float] = mapped_column(Float)
    price_move: Mapped[float | None] = mapped_column(Float)


class AlertStateRow(Base):
    """The diff engine's memory of one symbol (``bot.core.events.SymbolState``).

    ``confirmed_band`` is the band after hysteresis; the other columns are the latest
    reading (``SymbolState.last``). Unlike in ``scores``, the regime label is stored: the
    table has one row per symbol, and a reading must come back exactly as it was saved.
    """

    __tablename__ = "alert_states"

    exchange: Mapped[str] = mapped_column(String(EXCHANGE_LEN), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(SYMBOL_LEN), primary_key=True)
    confirmed_band: Mapped[str] = mapped_column(String(ENUM_LEN))
    # The latest reading (bot.core.events.Reading), rates in percent.
    ts: Mapped[datetime]
    score: Mapped[int] = mapped_column(SmallInteger)
    band: Mapped[str] = mapped_column(String(ENUM_LEN))
    bias: Mapped[str] = mapped_column(String(ENUM_LEN))
    regime: Mapped[str] = mapped_column(String(ENUM_LEN))
    label: Mapped[str] = mapped_column(Text)
    oi_1h_pct: Mapped[float | None] = mapped_column(Float)
    oi_4h_pct: Mapped[float | None] = mapped_column(Float)
    oi_24h_pct: Mapped[float | None] = mapped_column(Float)
    funding_8h_pct: Mapped[float | None] = mapped_column(Float)
    basis_pct: Mapped[float | None] = mapped_column(Float)


class AlertMarkRow(Base):
    """The last alert of one kind for one symbol (``bot.core.events.LastAlert``).

    The primary key allows one per kind; ``position`` keeps the order of
    ``SymbolState.alerts``, so a state loads back equal to the one saved.
    """

    __tablename__ = "alert_marks"
    __table_args__ = (
        ForeignKeyConstraint(
            ["exchange", "symbol"],
            ["alert_states.exchange", "alert_states.symbol"],
            ondelete="CASCADE",
        ),
    )

    exchange: Mapped[str] = mapped_column(String(EXCHANGE_LEN), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(SYMBOL_LEN), primary_key=True)
    kind: Mapped[str] = mapped_column(String(ENUM_LEN), primary_key=True)
    position: Mapped[int] = mapped_column(SmallInteger)
    at: Mapped[datetime]
    severity: Mapped[int] = mapped_column(Integer)
    open: Mapped[bool] = mapped_column(Boolean)


class ChatRow(Base):
    """A chat, channel or forum topic the bot talks to."""

    __tablename__ = "chats"
    __table_args__ = (UniqueConstraint("platform", "chat_id", "thread_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(ENUM_LEN))
    chat_id: Mapped[str] = mapped_column(String(64))
    # '' for the main chat, never NULL: NULLs are distinct in a UNIQUE constraint on both
    # SQLite and PostgreSQL, which would let the same chat be registered twice.
    thread_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(ENUM_LEN))
    timezone: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]


class ChatSettingsRow(Base):
    """A chat's alert and digest preferences, one row per chat."""

    __tablename__ = "chat_settings"

    chat_ref: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    alerts_enabled: Mapped[bool] = mapped_column(Boolean)
    min_band: Mapped[str] = mapped_column(String(ENUM_LEN))
    # One flag per EventKind, so "chats wanting this kind" is a plain column test.
    kind_band_up: Mapped[bool] = mapped_column(Boolean)
    kind_band_down: Mapped[bool] = mapped_column(Boolean)
    kind_squeeze_risk: Mapped[bool] = mapped_column(Boolean)
    kind_bias_flip: Mapped[bool] = mapped_column(Boolean)
    watchlist_only: Mapped[bool] = mapped_column(Boolean)
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    digest_enabled: Mapped[bool] = mapped_column(Boolean)
    digest_time: Mapped[time] = mapped_column(Time)
    # The venues the chat follows, comma-separated ccxt ids (``all``: the aggregate); empty:
    # the default. A text column: a handful of short ids, only ever read with the row.
    alert_venues: Mapped[str] = mapped_column(String(200), server_default=text("''"))


class WatchlistRow(Base):
    """One symbol on one chat's watchlist."""

    __tablename__ = "watchlists"

    chat_ref: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    exchange: Mapped[str] = mapped_column(String(EXCHANGE_LEN), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(SYMBOL_LEN), primary_key=True)
    added_at: Mapped[datetime]


class OutboxRow(Base):
    """One message waiting for, or done with, delivery."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        # claim_due: due rows of a status, oldest first.
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        # Daily caps: a chat's messages since local midnight.
        Index("ix_outbox_chat_ref_created_at", "chat_ref", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    chat_ref: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(ENUM_LEN))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # Alert events the message carries: daily caps count events, not messages.
    event_count: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    # An image sent with the text (the digest's chart); most messages have none.
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Platform calls of this message already accepted (text parts, then the photo): a retry
    # resumes after them instead of repeating them.
    parts_sent: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class DigestSentRow(Base):
    """A daily digest sent to a chat; the primary key makes it once per chat-local date."""

    __tablename__ = "digests_sent"

    chat_ref: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    sent_at: Mapped[datetime]


class LeaseRow(Base):
    """A named lease: one holder at a time until ``expires_at`` (one collector per exchange)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class BotStateRow(Base):
    """A small named value kept across restarts (e.g. the hash of the synced Discord commands)."""

    __tablename__ = "bot_state"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class WebhookRow(Base):
    """Where a webhook chat's messages are POSTed, the secret that signs them, and its record.

    The chat itself (``chats``, platform ``webhook``) holds its settings and watchlist, so
    the fan-out and the digest treat it like any other chat.
    """

    __tablename__ = "webhooks"

    chat_ref: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(200))
    # Permanent failures (4xx, refused address) in a row; a delivery resets it.
    failures: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime]
