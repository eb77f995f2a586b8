"""Chats, their settings and watchlists, and the "who wants this event" query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from bot.core.models import Band
from bot.core.records import (
    Chat,
    ChatKey,
    ChatKind,
    ChatProfile,
    ChatSettings,
    EventKind,
    Platform,
    WatchlistEntry,
)
from bot.errors import StorageError
from bot.storage.db import transaction, write_transaction
from bot.storage.models import ChatRow, ChatSettingsRow, WatchlistRow
from bot.storage.repositories._common import execute_dml

# Each event kind's on/off column; a test checks every EventKind has one.
KIND_COLUMNS: dict[EventKind, InstrumentedAttribute[bool]] = {
    EventKind.BAND_UP: ChatSettingsRow.kind_band_up,
    EventKind.BAND_DOWN: ChatSettingsRow.kind_band_down,
    EventKind.SQUEEZE_RISK: ChatSettingsRow.kind_squeeze_risk,
    EventKind.BIAS_FLIP: ChatSettingsRow.kind_bias_flip,
}

NO_THREAD = ""
"""Stored thread id of a main chat (see ``ChatRow.thread_id``)."""


def _key_clause(key: ChatKey) -> ColumnElement[bool]:
    return (
        (ChatRow.platform == key.platform.value)
        & (ChatRow.chat_id == key.chat_id)
        & (ChatRow.thread_id == (key.thread_id or NO_THREAD))
    )


def row_to_chat(row: ChatRow) -> Chat:
    """The chat a stored row holds."""
    return Chat(
        ref=row.id,
        key=ChatKey(Platform(row.platform), row.chat_id, row.thread_id or None),
        kind=ChatKind(row.kind),
        timezone=row.timezone,
        enabled=row.enabled,
        created_at=row.created_at,
    )


def settings_values(settings: ChatSettings) -> dict[str, Any]:
    """Column values (without ``chat_ref``) for a chat's settings."""
    values: dict[str, Any] = {
        "alerts_enabled": settings.alerts_enabled,
        "min_band": settings.min_band.value,
        "watchlist_only": settings.watchlist_only,
        "quiet_start": settings.quiet_start,
        "quiet_end": settings.quiet_end,
        "digest_enabled": settings.digest_enabled,
        "digest_time": settings.digest_time,
        "alert_venues": ",".join(sorted(settings.alert_venues)),
    }
    for kind, column in KIND_COLUMNS.items():
        values[column.key] = kind in settings.event_kinds
    return values


def row_to_settings(row: ChatSettingsRow) -> ChatSettings:
    """The settings a stored row holds."""
    return ChatSettings(
        alerts_enabled=row.alerts_enabled,
        min_band=Band(row.min_band),
        event_kinds=frozenset(kind for kind, column in KIND_COLUMNS.items() if getattr(row, column.key)),
        watchlist_only=row.watchlist_only,
        quiet_start=row.quiet_start,
        quiet_end=row.quiet_end,
        digest_enabled=row.digest_enabled,
        digest_time=row.digest_time,
        alert_venues=frozenset(v for v in row.alert_venues.split(",") if v),
    )


def _profiles(session: Session, *conditions: ColumnElement[bool]) -> list[ChatProfile]:
    stmt = (
        select(ChatRow, ChatSettingsRow)
        .join(ChatSettingsRow, ChatSettingsRow.chat_ref == ChatRow.id)
        .where(ChatRow.enabled.is_(True), *conditions)
        .order_by(ChatRow.id)
    )
    return [
        ChatProfile(chat=row_to_chat(chat), settings=row_to_settings(settings))
        for chat, settings in session.execute(stmt)
    ]


def _require_chat(session: Session, chat_ref: int) -> ChatRow:
    row = session.get(ChatRow, chat_ref)
    if row is None:
        raise StorageError(f"no chat with ref {chat_ref}")
    return row


class SqlChatStore:
    """``bot.ports.ChatStore`` on SQLAlchemy."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def ensure_chat(
        self,
        key: ChatKey,
        *,
        kind: ChatKind,
        now: datetime,
        timezone: str = "UTC",
        defaults: ChatSettings | None = None,
    ) -> Chat:
        found = self.get_chat(key)
        if found is not None:
            return found
        try:
            with write_transaction(self._sessions, "register a chat") as session:
                row = ChatRow(
                    platform=key.platform.value,
                    chat_id=key.chat_id,
                    thread_id=key.thread_id or NO_THREAD,
                    kind=kind.value,
                    timezone=timezone,
                    enabled=True,
                    created_at=now,
                )
                session.add(row)
                session.flush()
                session.add(ChatSettingsRow(chat_ref=row.id, **settings_values(defaults or ChatSettings())))
                return row_to_chat(row)
        except StorageError as exc:
            # Another writer registered the same chat between our read and insert.
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            found = self.get_chat(key)
            if found is None:
                raise
            return found

    def get_chat(self, key: ChatKey) -> Chat | None:
        with transaction(self._sessions, "read a chat") as session:
            row = session.scalar(select(ChatRow).where(_key_clause(key)))
            return None if row is None else row_to_chat(row)

    def chat_by_ref(self, ref: int) -> Chat | None:
        with transaction(self._sessions, "read a chat") as session:
            row = session.get(ChatRow, ref)
            return None if row is None else row_to_chat(row)

    def update_chat(self, chat: Chat) -> None:
        with write_transaction(self._sessions, "update a chat") as session:
            row = _require_chat(session, chat.ref)
            row.platform = chat.key.platform.value
            row.chat_id = chat.key.chat_id
            row.thread_id = chat.key.thread_id or NO_THREAD
            row.kind = chat.kind.value
            row.timezone = chat.timezone
            row.enabled = chat.enabled

    def get_settings(self, chat_ref: int) -> ChatSettings:
        with transaction(self._sessions, "read chat settings") as session:
            row = session.get(ChatSettingsRow, chat_ref)
            if row is None:
                raise StorageError(f"no chat with ref {chat_ref}")
            return row_to_settings(row)

    def save_settings(self, chat_ref: int, settings: ChatSettings) -> None:
        with write_transaction(self._sessions, "store chat settings") as session:
            row = session.get(ChatSettingsRow, chat_ref)
            if row is None:
                raise StorageError(f"no chat with ref {chat_ref}")
            for name, value in settings_values(settings).items():
                setattr(row, name, value)

    def watch(self, chat_ref: int, exchange: str, symbols: Sequence[str], now: datetime) -> int:
        wanted = list(dict.fromkeys(symbols))
        if not wanted:
            return 0
        with write_transaction(self._sessions, "update a watchlist") as session:
            _require_chat(session, chat_ref)
            present = set(
                session.scalars(
                    select(WatchlistRow.symbol).where(
                        WatchlistRow.chat_ref == chat_ref,
                        WatchlistRow.exchange == exchange,
                        WatchlistRow.symbol.in_(wanted),
                    )
                )
            )
            new = [s for s in wanted if s not in present]
            if new:
                session.execute(
                    insert(WatchlistRow),
                    [{"chat_ref": chat_ref, "exchange": exchange, "symbol": s, "added_at": now} for s in new],
                )
            return len(new)

    def unwatch(self, chat_ref: int, exchange: str, symbols: Sequence[str]) -> int:
        gone = list(dict.fromkeys(symbols))
        if not gone:
            return 0
        stmt = delete(WatchlistRow).where(
            WatchlistRow.chat_ref == chat_ref,
            WatchlistRow.exchange == exchange,
            WatchlistRow.symbol.in_(gone),
        )
        with write_transaction(self._sessions, "update a watchlist") as session:
            return execute_dml(session, stmt)

    def watchlist(self, chat_ref: int) -> list[WatchlistEntry]:
        stmt = (
            select(WatchlistRow)
            .where(WatchlistRow.chat_ref == chat_ref)
            .order_by(WatchlistRow.exchange, WatchlistRow.symbol)
        )
        with transaction(self._sessions, "read a watchlist") as session:
            return [
                WatchlistEntry(chat_ref=r.chat_ref, exchange=r.exchange, symbol=r.symbol, added_at=r.added_at)
                for r in session.scalars(stmt)
            ]

    def alert_chats(self) -> list[ChatProfile]:
        with transaction(self._sessions, "find alert chats") as session:
            return _profiles(session, ChatSettingsRow.alerts_enabled.is_(True))

    def watched_symbols(self, exchange: str) -> dict[int, frozenset[str]]:
        stmt = select(WatchlistRow.chat_ref, WatchlistRow.symbol).where(WatchlistRow.exchange == exchange)
        found: dict[int, set[str]] = {}
        with transaction(self._sessions, "read watchlists") as session:
            for chat_ref, symbol in session.execute(stmt):
                found.setdefault(chat_ref, set()).add(symbol)
        return {ref: frozenset(symbols) for ref, symbols in found.items()}

    def digest_chats(self) -> list[ChatProfile]:
        with transaction(self._sessions, "find digest chats") as session:
            return _profiles(session, ChatSettingsRow.digest_enabled.is_(True))
