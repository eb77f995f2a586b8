"""Webhooks: a chat on the ``webhook`` platform plus its URL, secret and failure count."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.core.records import ChatKey, ChatKind, ChatSettings, Platform
from bot.core.webhook_records import WebhookEndpoint
from bot.storage.db import transaction, write_transaction
from bot.storage.models import ChatRow, ChatSettingsRow, WatchlistRow, WebhookRow
from bot.storage.repositories._common import execute_dml
from bot.storage.repositories.chats import NO_THREAD, settings_values


def _endpoint(chat: ChatRow, hook: WebhookRow) -> WebhookEndpoint:
    return WebhookEndpoint(
        chat_ref=chat.id,
        webhook_id=chat.chat_id,
        url=hook.url,
        secret=hook.secret,
        failures=hook.failures,
        enabled=chat.enabled,
        created_at=hook.created_at,
    )


def _by_id(session: Session, webhook_id: str) -> tuple[ChatRow, WebhookRow] | None:
    found = session.execute(
        select(ChatRow, WebhookRow)
        .join(WebhookRow, WebhookRow.chat_ref == ChatRow.id)
        .where(ChatRow.platform == Platform.WEBHOOK.value, ChatRow.chat_id == webhook_id)
    ).first()
    return None if found is None else (found[0], found[1])


class SqlWebhookStore:
    """``bot.ports.WebhookStore`` on SQLAlchemy."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add_webhook(
        self,
        webhook_id: str,
        url: str,
        secret: str,
        *,
        settings: ChatSettings,
        exchange: str,
        symbols: Sequence[str],
        elsewhere: Mapping[str, Sequence[str]] | None = None,
        timezone: str = "UTC",
        now: datetime,
    ) -> WebhookEndpoint:
        key = ChatKey(Platform.WEBHOOK, webhook_id)
        with write_transaction(self._sessions, "add a webhook") as session:
            chat = ChatRow(
                platform=key.platform.value,
                chat_id=key.chat_id,
                thread_id=NO_THREAD,
                kind=ChatKind.CHANNEL.value,
                timezone=timezone,
                enabled=True,
                created_at=now,
            )
            session.add(chat)
            session.flush()
            session.add(ChatSettingsRow(chat_ref=chat.id, **settings_values(settings)))
            watched = {exchange: symbols, **(elsewhere or {})}
            for venue, names in watched.items():
                for symbol in dict.fromkeys(names):
                    session.add(WatchlistRow(chat_ref=chat.id, exchange=venue, symbol=symbol, added_at=now))
            hook = WebhookRow(chat_ref=chat.id, url=url, secret=secret, failures=0, created_at=now)
            session.add(hook)
            session.flush()
            return _endpoint(chat, hook)

    def webhooks(self) -> list[WebhookEndpoint]:
        with transaction(self._sessions, "list webhooks") as session:
            rows = session.execute(
                select(ChatRow, WebhookRow)
                .join(WebhookRow, WebhookRow.chat_ref == ChatRow.id)
                .order_by(ChatRow.id)
            )
            return [_endpoint(chat, hook) for chat, hook in rows]

    def webhook(self, webhook_id: str) -> WebhookEndpoint | None:
        with transaction(self._sessions, "read a webhook") as session:
            found = _by_id(session, webhook_id)
            return None if found is None else _endpoint(*found)

    def remove_webhook(self, webhook_id: str) -> bool:
        with write_transaction(self._sessions, "remove a webhook") as session:
            found = _by_id(session, webhook_id)
            if found is None:
                return False
            # The database cascades to its webhook row, settings, watchlist, outbox and digests.
            session.execute(delete(ChatRow).where(ChatRow.id == found[0].id))
            return True

    def record_failure(self, chat_ref: int) -> int:
        with write_transaction(self._sessions, "count a webhook failure") as session:
            execute_dml(
                session,
                update(WebhookRow)
                .where(WebhookRow.chat_ref == chat_ref)
                .values(failures=WebhookRow.failures + 1),
            )
            return session.scalar(select(WebhookRow.failures).where(WebhookRow.chat_ref == chat_ref)) or 0

    def record_delivery(self, chat_ref: int) -> None:
        with write_transaction(self._sessions, "reset a webhook's failures") as session:
            session.execute(
                update(WebhookRow)
                .where(WebhookRow.chat_ref == chat_ref, WebhookRow.failures != 0)
                .values(failures=0)
            )
