"""Records the bot keeps between cycles: stored scores, chats, outbox, digests.

The diff engine's per-symbol alert state is ``bot.core.events.SymbolState``, stored as it
is. Pure and standard-library only; the stores in ``bot.ports`` speak these types, so no
database type leaks past the storage edge. Every ``datetime`` here is timezone-aware UTC,
except the chat-local clock times of ``ChatSettings`` (quiet hours, digest time), which
are naive wall-clock times in the chat's own timezone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from bot.core.backoff import exponential_delay

# EventKind lives with the diff engine that raises the events; re-exported here (the
# "as" form marks it public) because chat settings choose among its values.
from bot.core.document import Document
from bot.core.events import EventKind as EventKind
from bot.core.frozen import quick_init
from bot.core.models import Band, ScoreInputs, ScoreResult


def require_aware(name: str, moment: datetime | None) -> None:
    """Raise ValueError when ``moment`` is a naive datetime (``None`` passes)."""
    if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
        raise ValueError(f"{name} must be an aware UTC datetime, got naive {moment.isoformat()}")


class Platform(StrEnum):
    """The chat service a chat lives on."""

    TELEGRAM = "telegram"
    DISCORD = "discord"
    CONSOLE = "console"
    WEBHOOK = "webhook"  # an HTTPS endpoint the operator added (``dps webhook add``)


class ChatKind(StrEnum):
    """What sort of conversation a chat is (settings are admin-only outside private)."""

    PRIVATE = "private"
    GROUP = "group"
    CHANNEL = "channel"


class OutboxStatus(StrEnum):
    """Life of an outbox message: pending → sending (claimed) → sent, or failed (gave up)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


@quick_init
@dataclass(frozen=True, slots=True)
class ScoreRecord:
    """One stored score: which symbol, at which data time, from which inputs.

    ``accepted``: the diff engine took this reading as its symbol's alert-state ``last``
    (complete, fresh, newer than the state's). A cycle stores a state only when it changed
    materially; the accepted score carries the rest (``SqlAlertStateStore.load_alert_states``).
    """

    exchange: str
    symbol: str
    ts: datetime
    inputs: ScoreInputs
    result: ScoreResult
    accepted: bool = False

    def __post_init__(self) -> None:
        require_aware("ScoreRecord.ts", self.ts)


@dataclass(frozen=True, slots=True)
class ScoreCard:
    """A symbol's latest score with the stored scores nearest at-or-before 1h and 24h earlier."""

    latest: ScoreRecord
    hour_ago: ScoreRecord | None
    day_ago: ScoreRecord | None


@dataclass(frozen=True, slots=True)
class ScoreMark:
    """What an exchange's newest scores are, in two numbers that are cheap to read.

    Scores are only ever added (retention removes long-past ones), so the scores within a
    window before the newest one change exactly when ``newest`` or ``recent`` does: a read
    model built from them stays valid while the mark is the same, in every process.

    Attributes:
        newest: the newest score time (aware UTC).
        recent: how many scores have ``newest - window <= ts <= newest``.
    """

    newest: datetime
    recent: int


@dataclass(frozen=True, slots=True)
class ChatKey:
    """Where a chat lives on its platform.

    Attributes:
        platform: the chat service.
        chat_id: the platform's id of the chat or channel, as text (Telegram and Discord
            ids are 64-bit integers; text keeps them exact everywhere).
        thread_id: Telegram forum topic or Discord thread, ``None`` for the main chat.
    """

    platform: Platform
    chat_id: str
    thread_id: str | None = None

    def __post_init__(self) -> None:
        if not self.chat_id:
            raise ValueError("ChatKey.chat_id must not be empty")
        if self.thread_id == "":
            raise ValueError("ChatKey.thread_id: use None for the main chat, not ''")


@dataclass(frozen=True, slots=True)
class Chat:
    """A chat the bot talks to.

    Attributes:
        ref: the store's own id for this chat (not the platform's chat id); other records
            point to the chat by it.
        timezone: IANA name for digests and quiet hours, e.g. ``Europe/Berlin``.
        enabled: False once the bot was removed or blocked; nothing is sent then.
    """

    ref: int
    key: ChatKey
    kind: ChatKind
    timezone: str
    enabled: bool
    created_at: datetime

    def __post_init__(self) -> None:
        require_aware("Chat.created_at", self.created_at)


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """A chat's alert and digest preferences; the defaults are what a new chat gets.

    Attributes:
        alerts_enabled: master switch for alerts in this chat.
        min_band: alerts about symbols below this band are not sent.
        event_kinds: the event kinds this chat wants.
        watchlist_only: only alert about symbols on the chat's watchlist.
        quiet_start / quiet_end: chat-local quiet hours (both or neither); may wrap
            midnight (22:00–07:00).
        digest_enabled / digest_time: the daily digest and its chat-local time.
        alert_venues: the venues whose alerts and digest this chat follows (ccxt ids, or
            ``all`` for the cross-venue aggregate); empty: the default (the aggregate when
            several venues are collected, else the one venue).
    """

    alerts_enabled: bool = True
    min_band: Band = Band.STRETCHED
    event_kinds: frozenset[EventKind] = frozenset(EventKind)
    watchlist_only: bool = False
    quiet_start: time | None = None
    quiet_end: time | None = None
    digest_enabled: bool = False
    digest_time: time = time(8, 0)
    alert_venues: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValueError("ChatSettings: quiet hours need both a start and an end")
        for name, value in (
            ("quiet_start", self.quiet_start),
            ("quiet_end", self.quiet_end),
            ("digest_time", self.digest_time),
        ):
            if value is not None and value.tzinfo is not None:
                raise ValueError(f"ChatSettings.{name} is a chat-local wall-clock time: no tzinfo")


@dataclass(frozen=True, slots=True)
class ChatProfile:
    """A chat with its settings, as the fan-out and digest jobs need them."""

    chat: Chat
    settings: ChatSettings


@dataclass(frozen=True, slots=True)
class WatchlistEntry:
    """One symbol on a chat's watchlist."""

    chat_ref: int
    exchange: str
    symbol: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A message to enqueue for delivery.

    Attributes:
        idempotency_key: unique per logical message (e.g. chat + cycle time); enqueueing
            the same key again is a harmless no-op.
        chat_ref: the store's id of the target chat.
        payload: the message to deliver, as a document each platform draws its own way.
        created_at: when it was enqueued (aware UTC); also its first due time.
        attachment: a PNG sent with the text (the digest's chart), or None.
        event_count: how many alert events the message carries, for the chat's daily
            cap (a batch carries several; a cap notice in it counts as one more).
    """

    idempotency_key: str
    chat_ref: int
    payload: Document
    created_at: datetime
    event_count: int = 1
    attachment: bytes | None = None

    def __post_init__(self) -> None:
        if not self.idempotency_key:
            raise ValueError("OutboxMessage.idempotency_key must not be empty")
        require_aware("OutboxMessage.created_at", self.created_at)
        if self.event_count < 0:
            raise ValueError(f"OutboxMessage.event_count must not be negative, got {self.event_count}")


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A stored outbox message with its delivery state and where it goes.

    Attributes:
        id: the store's id, used to mark the entry sent or failed.
        chat: the target chat's platform address (so delivery needs no second lookup).
        attempts: delivery attempts so far (counted when claimed).
        next_attempt_at: when it is next due (or when a delivery claim runs out).
        event_count: the alert events it carries, as enqueued (``OutboxMessage``).
        parts_sent: how many of its parts (platform calls: text parts, then the chart)
            the platform already accepted; a retry resumes after them.
    """

    id: int
    idempotency_key: str
    chat_ref: int
    chat: ChatKey
    payload: Document
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    event_count: int = 1
    attachment: bytes | None = None
    parts_sent: int = 0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential back-off for failed deliveries, giving up after ``max_attempts``.

    Attributes:
        max_attempts: attempts (including the first) before the message is marked failed.
        base_delay: wait after the first failure.
        factor: growth of the wait per further failure.
        max_delay: cap on the wait.
    """

    max_attempts: int = 5
    base_delay: timedelta = timedelta(seconds=30)
    factor: float = 2.0
    max_delay: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.factor < 1 or not timedelta(0) < self.base_delay <= self.max_delay:
            raise ValueError(
                f"RetryPolicy needs max_attempts >= 1, factor >= 1, 0 < base <= max delay: {self}"
            )

    def delay_after(self, attempts: int) -> timedelta:
        """The wait before the next attempt, after ``attempts`` (>= 1) failed attempts."""
        return timedelta(
            seconds=exponential_delay(
                attempts,
                base=self.base_delay.total_seconds(),
                factor=self.factor,
                cap=self.max_delay.total_seconds(),
            )
        )


@dataclass(frozen=True, slots=True)
class DigestRecord:
    """A daily digest that was sent to a chat, keyed by the chat-local date."""

    chat_ref: int
    local_date: date
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of history is kept (bounded storage).

    Attributes:
        snapshots: raw market snapshots.
        scores: score history.
        outbox: sent and failed outbox messages (pending ones are never purged).
        digests: the record of digests sent.
    """

    snapshots: timedelta = timedelta(days=14)
    scores: timedelta = timedelta(days=90)
    outbox: timedelta = timedelta(days=30)
    digests: timedelta = timedelta(days=90)

    def __post_init__(self) -> None:
        for name in ("snapshots", "scores", "outbox", "digests"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"RetentionPolicy.{name} must be positive")


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """How many rows one retention run deleted, per kind."""

    snapshots: int = 0
    scores: int = 0
    outbox: int = 0
    digests: int = 0


@dataclass(frozen=True, slots=True)
class CycleSaved:
    """What one ``save_cycle`` call stored (duplicates skipped are not counted)."""

    snapshots: int = 0
    scores: int = 0
    alert_states: int = 0
    outbox: int = 0


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """Who holds a named lease, and until when (it lapses unless renewed)."""

    name: str
    holder: str
    expires_at: datetime

    def __post_init__(self) -> None:
        require_aware("LeaseInfo.expires_at", self.expires_at)


@dataclass(frozen=True, slots=True)
class LeaseClaim:
    """A write that must only commit while ``holder`` still holds the lease ``name``.

    The write renews the lease to ``expires_at`` in the same transaction, or fails and
    stores nothing when another process has taken the lease over meanwhile.
    """

    name: str
    holder: str
    expires_at: datetime
    since: datetime | None = None
    """The holder's tenure (``LeaseStore.acquire``): when given, the write commits only if
    the lease has not changed hands since, even if the holder has it again now."""

    def __post_init__(self) -> None:
        require_aware("LeaseClaim.expires_at", self.expires_at)
