"""In-memory chat, outbox and digest stores with the SQL stores' semantics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

from bot.core.records import (
    Chat,
    ChatKey,
    ChatKind,
    ChatProfile,
    ChatSettings,
    OutboxEntry,
    OutboxMessage,
    OutboxStatus,
    Platform,
    RetryPolicy,
    WatchlistEntry,
)
from bot.errors import StorageError
from tests.fakes.market_stores import utc
from tests.fakes.serialised import serialised

MAX_ERROR_LEN = 2000


@serialised
class FakeChatStore:
    """``bot.ports.ChatStore`` in memory."""

    def __init__(self) -> None:
        self.chats: dict[int, Chat] = {}
        self.settings: dict[int, ChatSettings] = {}
        self.watchlists: dict[int, dict[tuple[str, str], WatchlistEntry]] = {}
        self._next_ref = 1

    def require(self, ref: int) -> Chat:
        """The chat ``ref``, or the StorageError a foreign key would raise."""
        chat = self.chats.get(ref)
        if chat is None:
            raise StorageError(f"no chat with ref {ref}")
        return chat

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
        chat = Chat(
            ref=self._next_ref, key=key, kind=kind, timezone=timezone, enabled=True, created_at=utc(now)
        )
        self._next_ref += 1
        self.chats[chat.ref] = chat
        self.settings[chat.ref] = defaults or ChatSettings()
        self.watchlists[chat.ref] = {}
        return chat

    def get_chat(self, key: ChatKey) -> Chat | None:
        return next((c for c in self.chats.values() if c.key == key), None)

    def chat_by_ref(self, ref: int) -> Chat | None:
        return self.chats.get(ref)

    def update_chat(self, chat: Chat) -> None:
        self.require(chat.ref)
        holder = self.get_chat(chat.key)
        if holder is not None and holder.ref != chat.ref:
            raise StorageError(f"cannot update a chat: {chat.key} belongs to chat {holder.ref}")
        self.chats[chat.ref] = chat

    def get_settings(self, chat_ref: int) -> ChatSettings:
        self.require(chat_ref)
        return self.settings[chat_ref]

    def save_settings(self, chat_ref: int, settings: ChatSettings) -> None:
        self.require(chat_ref)
        self.settings[chat_ref] = settings

    def watch(self, chat_ref: int, exchange: str, symbols: Sequence[str], now: datetime) -> int:
        self.require(chat_ref)
        watched = self.watchlists[chat_ref]
        added = 0
        for symbol in dict.fromkeys(symbols):
            if (exchange, symbol) not in watched:
                watched[(exchange, symbol)] = WatchlistEntry(chat_ref, exchange, symbol, utc(now))
                added += 1
        return added

    def unwatch(self, chat_ref: int, exchange: str, symbols: Sequence[str]) -> int:
        watched = self.watchlists.get(chat_ref, {})
        return sum(watched.pop((exchange, s), None) is not None for s in dict.fromkeys(symbols))

    def watchlist(self, chat_ref: int) -> list[WatchlistEntry]:
        return [entry for _key, entry in sorted(self.watchlists.get(chat_ref, {}).items())]

    def _profiles(self) -> list[ChatProfile]:
        """Enabled chats with their settings, by ref."""
        return [
            ChatProfile(chat=chat, settings=self.settings[ref])
            for ref, chat in sorted(self.chats.items())
            if chat.enabled
        ]

    def alert_chats(self) -> list[ChatProfile]:
        return [p for p in self._profiles() if p.settings.alerts_enabled]

    def watched_symbols(self, exchange: str) -> dict[int, frozenset[str]]:
        found = {
            ref: frozenset(symbol for ex, symbol in watched if ex == exchange)
            for ref, watched in self.watchlists.items()
        }
        return {ref: symbols for ref, symbols in found.items() if symbols}

    def digest_chats(self) -> list[ChatProfile]:
        return [p for p in self._profiles() if p.settings.digest_enabled]


@serialised
class FakeOutboxStore:
    """``bot.ports.OutboxStore`` in memory; needs the chat store for its foreign key."""

    def __init__(self, chats: FakeChatStore) -> None:
        self._chats = chats
        self.entries: dict[int, OutboxEntry] = {}
        self._next_id = 1

    def checkpoint(self) -> object:
        """A copy of the state, for ``restore`` (the fake's transaction rollback)."""
        return dict(self.entries), self._next_id

    def restore(self, state: object) -> None:
        """Go back to a ``checkpoint``."""
        assert isinstance(state, tuple)
        self.entries, self._next_id = state

    def enqueue(self, messages: Sequence[OutboxMessage]) -> int:
        known = {e.idempotency_key for e in self.entries.values()}
        fresh: list[OutboxMessage] = []
        for message in messages:
            if message.idempotency_key in known:
                continue
            known.add(message.idempotency_key)
            self._chats.require(message.chat_ref)
            fresh.append(message)
        for message in fresh:
            created = utc(message.created_at)
            self.entries[self._next_id] = OutboxEntry(
                id=self._next_id,
                idempotency_key=message.idempotency_key,
                chat_ref=message.chat_ref,
                chat=self._chats.require(message.chat_ref).key,
                payload=message.payload,
                status=OutboxStatus.PENDING,
                attempts=0,
                next_attempt_at=created,
                last_error=None,
                created_at=created,
                sent_at=None,
                event_count=message.event_count,
                attachment=message.attachment,
            )
            self._next_id += 1
        return len(fresh)

    def _current(self, entry: OutboxEntry) -> OutboxEntry:
        """The entry with its chat's address as it is now (the SQL store joins it)."""
        return replace(entry, chat=self._chats.require(entry.chat_ref).key)

    def claim_due(
        self,
        now: datetime,
        *,
        limit: int,
        claim_for: timedelta,
        platforms: Collection[Platform] | None = None,
    ) -> list[OutboxEntry]:
        due = sorted(
            (
                e
                for e in self.entries.values()
                if e.status in (OutboxStatus.PENDING, OutboxStatus.SENDING)
                and e.next_attempt_at <= now
                and (platforms is None or self._current(e).chat.platform in platforms)
            ),
            key=lambda e: (e.next_attempt_at, e.id),
        )[:limit]
        claimed = []
        for entry in due:
            updated = replace(
                entry,
                status=OutboxStatus.SENDING,
                attempts=entry.attempts + 1,
                next_attempt_at=utc(now + claim_for),
            )
            self.entries[entry.id] = updated
            claimed.append(self._current(updated))
        return claimed

    def _entry(self, entry_id: int) -> OutboxEntry:
        entry = self.entries.get(entry_id)
        if entry is None:
            raise StorageError(f"no outbox entry {entry_id}")
        return entry

    def mark_sent(self, entry_id: int, now: datetime) -> None:
        entry = self._entry(entry_id)
        self.entries[entry_id] = replace(entry, status=OutboxStatus.SENT, sent_at=utc(now))

    def mark_progress(self, entry_id: int, parts_sent: int) -> None:
        entry = self._entry(entry_id)
        if entry.status in (OutboxStatus.PENDING, OutboxStatus.SENDING) and parts_sent > entry.parts_sent:
            self.entries[entry_id] = replace(entry, parts_sent=parts_sent)

    def mark_failed(
        self,
        entry_id: int,
        *,
        now: datetime,
        error: str,
        policy: RetryPolicy,
        permanent: bool = False,
        not_before: datetime | None = None,
    ) -> OutboxStatus:
        entry = self._entry(entry_id)
        if entry.status is OutboxStatus.SENT:
            return OutboxStatus.SENT
        error = error[:MAX_ERROR_LEN]
        if permanent or entry.attempts >= policy.max_attempts:
            self.entries[entry_id] = replace(entry, status=OutboxStatus.FAILED, last_error=error)
            return OutboxStatus.FAILED
        retry_at = now + policy.delay_after(max(entry.attempts, 1))
        if not_before is not None:
            retry_at = max(retry_at, not_before)
        self.entries[entry_id] = replace(
            entry, status=OutboxStatus.PENDING, next_attempt_at=utc(retry_at), last_error=error
        )
        return OutboxStatus.PENDING

    def events_for_chat(self, chat_ref: int, since: datetime) -> int:
        return sum(
            e.event_count for e in self.entries.values() if e.chat_ref == chat_ref and e.created_at >= since
        )

    def events_for_chats(self, since: Mapping[int, datetime]) -> dict[int, int]:
        return {ref: self.events_for_chat(ref, at) for ref, at in since.items()}

    def status_counts(self) -> dict[OutboxStatus, int]:
        return dict(Counter(e.status for e in self.entries.values()))

    def purge_finished_before(self, cutoff: datetime) -> int:
        """Retention: drop sent and failed entries created before ``cutoff``."""
        old = [
            e.id
            for e in self.entries.values()
            if e.status in (OutboxStatus.SENT, OutboxStatus.FAILED) and e.created_at < cutoff
        ]
        for entry_id in old:
            del self.entries[entry_id]
        return len(old)


@serialised
class FakeDigestLog:
    """``bot.ports.DigestLog`` in memory; needs the chat store for its foreign key."""

    def __init__(self, chats: FakeChatStore) -> None:
        self._chats = chats
        self.sent: dict[tuple[int, date], datetime] = {}

    def record_digest(self, chat_ref: int, local_date: date, sent_at: datetime) -> bool:
        self._chats.require(chat_ref)
        if (chat_ref, local_date) in self.sent:
            return False
        self.sent[(chat_ref, local_date)] = utc(sent_at)
        return True

    def digest_sent(self, chat_ref: int, local_date: date) -> bool:
        return (chat_ref, local_date) in self.sent

    def purge_before(self, cutoff: datetime) -> int:
        """Retention: drop records of digests sent before ``cutoff``."""
        old = [key for key, sent_at in self.sent.items() if sent_at < cutoff]
        for key in old:
            del self.sent[key]
        return len(old)
