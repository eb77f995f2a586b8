"""Interfaces the application talks to, spoken in core types only.

Adapters implement them: ``bot.storage`` the stores, the chat adapters the sinks;
``tests/fakes`` has an in-memory fake of each for unit tests. Store methods are
synchronous: they run on the event loop's executor or, for short queries, inline. Every
datetime passed in or out is aware UTC. Store failures raise ``bot.errors.StorageError``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol, runtime_checkable

from bot.core.collection import FetchReport, OiPoint
from bot.core.document import Document
from bot.core.events import SymbolState
from bot.core.instruments import Listing, VenueOnly
from bot.core.market import MarketSnapshot
from bot.core.models import Band, Bias, Regime
from bot.core.records import (
    Chat,
    ChatKey,
    ChatKind,
    ChatProfile,
    ChatSettings,
    CycleSaved,
    LeaseClaim,
    LeaseInfo,
    OutboxEntry,
    OutboxMessage,
    OutboxStatus,
    Platform,
    RetentionPolicy,
    RetentionReport,
    RetryPolicy,
    ScoreCard,
    ScoreMark,
    ScoreRecord,
    WatchlistEntry,
)
from bot.core.send_outcome import PartAccepted, SendOutcome
from bot.core.webhook_records import WebhookEndpoint

OiSeries = dict[str, list[tuple[datetime, float]]]
"""Symbol → its (ts, oi_contracts) points sorted by time (``bot.core.oi_deltas`` format)."""

BandSeries = dict[str, list[tuple[datetime, Band, Bias]]]
"""Symbol → its stored (ts, band, bias) readings sorted by time (``bot.core.track`` input)."""


@dataclass(frozen=True, slots=True)
class MarketSeries:
    """Open interest and mark price read back together, each in the ``OiSeries`` format.

    ``mark`` holds (ts, mark_price) points: the price moves that name who is opening or
    closing in the regime. A snapshot without one of the two values is absent from that
    series only.
    """

    oi: OiSeries
    mark: OiSeries


class Sink(Protocol):
    """One chat platform's outgoing side, as the delivery job sees it."""

    async def send(
        self,
        chat: ChatKey,
        document: Document,
        attachment: bytes | None = None,
        *,
        start: int = 0,
        on_part: PartAccepted | None = None,
    ) -> SendOutcome:
        """Try to deliver ``document`` (and a PNG ``attachment``, if any) to ``chat``.

        The message goes out as parts numbered from 0, split the same way every time for
        the same document and attachment (``bot.core.send_outcome``). Parts before ``start``
        were accepted earlier and are not sent again; ``on_part`` hears of each part the
        platform accepts. ``Sent`` means every part from ``start`` on was accepted (none
        left is ``Sent`` too). Report the outcome; never raise for a chat fault.
        """
        ...


@runtime_checkable
class KeyedSink(Protocol):
    """A sink that also passes on the outbox entry's idempotency key (webhooks send it as
    a header, so a receiver can drop a repeat); the delivery job prefers this method."""

    async def send_keyed(
        self,
        key: str,
        chat: ChatKey,
        document: Document,
        attachment: bytes | None = None,
        *,
        start: int = 0,
        on_part: PartAccepted | None = None,
    ) -> SendOutcome:
        """``Sink.send`` with the message's idempotency key."""
        ...


class ChatAdapter(Sink, Protocol):
    """A chat platform this process serves: commands in, replies and outbox messages out.

    Every process of a bot delivers (``send``); only the holder of the platform's
    commands lease answers commands, so the runner switches that with ``serve_commands``.
    """

    @property
    def platform(self) -> Platform:
        """Which platform's chats this adapter reaches (the delivery job routes by it)."""
        ...

    async def start(self, serve_commands: bool) -> None:
        """Connect; answer commands too when ``serve_commands``, else only deliver."""
        ...

    async def serve_commands(self, on: bool) -> None:
        """Start or stop answering commands (the commands lease changed hands); idempotent."""
        ...

    async def stop(self) -> None:
        """Disconnect and close every session; safe to call twice."""
        ...


class MarketSource(Protocol):
    """Where market data comes from: a live exchange (ccxt) or the bundled replay."""

    async def load_universe(self) -> list[str]:
        """The symbols to watch (exchange-native ids); call again to follow listings."""
        ...

    async def fetch_cycle(self, now: datetime) -> FetchReport:
        """One snapshot per symbol of the universe, with the ones that failed and why."""
        ...

    async def fetch_oi_history(self, symbol: str, since: datetime, until: datetime) -> list[OiPoint]:
        """Open-interest history from the exchange, for backfilling a cold start."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class ListingSource(Protocol):
    """A venue's listed perpetuals as the instrument map reads them (the live ccxt source)."""

    async def listings(self) -> list[Listing | VenueOnly]:
        """Every collectable market, read safely as a listing or left venue-only with why."""
        ...


class Clock(Protocol):
    """The current time; the only way application code learns it."""

    def now(self) -> datetime:
        """Return the current aware UTC time."""
        ...


class SnapshotStore(Protocol):
    """Raw market snapshots, and the OI history read back from them."""

    def add_snapshots(self, snapshots: Sequence[MarketSnapshot]) -> int:
        """Store snapshots; one already stored for (exchange, symbol, ts) is skipped.

        Returns:
            The number of snapshots newly stored.
        """
        ...

    def latest_snapshot_time(self, exchange: str) -> datetime | None:
        """The newest snapshot time of ``exchange`` (``None`` when nothing is stored)."""
        ...

    def oi_at_many(
        self,
        exchange: str,
        at: datetime,
        tolerance: timedelta,
        symbols: Collection[str] | None = None,
    ) -> dict[str, OiPoint]:
        """Each symbol's (or the given ones') latest OI reading at or before ``at`` and no older
        than ``at - tolerance``, in one query; symbols without one are absent."""
        ...

    def market_history(
        self,
        exchange: str,
        start: datetime,
        end: datetime,
        symbols: Collection[str] | None = None,
    ) -> MarketSeries:
        """OI and mark-price points with ``start <= ts <= end`` per symbol, in one read.

        A snapshot without OI (or without a mark price) is left out of that series only.
        """
        ...

    def mark_samples(
        self,
        exchange: str,
        start: datetime,
        end: datetime,
        symbols: Collection[str] | None = None,
        *,
        every: timedelta,
        slot: timedelta,
    ) -> OiSeries:
        """Mark prices sampled once per ``every``, as ``ScoreStore.band_history`` samples scores.

        For each whole multiple ``h`` of ``every`` since the epoch with ``start <= h <= end``,
        each symbol's first snapshot with ``h <= ts < h + slot`` and ``ts <= end``, as
        (ts, mark_price); none for that period if it has no mark price (``slot <= every``).
        ``/track`` needs the price at its readings and a day later, not every cycle's.
        """
        ...

    def latest_snapshots(
        self, exchange: str, since: datetime, symbols: Collection[str] | None = None
    ) -> dict[str, MarketSnapshot]:
        """Each symbol's (or the given ones') newest snapshot with ``ts >= since`` and a mark
        price, by symbol, in one read: the cross-venue aggregate reads each venue's latest
        cycle (a backfilled point carries OI only, and is not one)."""
        ...


ScoreAt = tuple[str, str, datetime]
"""An exchange, a symbol and a moment: which score ``ScoreStore.scores_at`` looks for."""


class ScoreStore(Protocol):
    """Score history and the read models of ``/top``, ``/score`` and charts."""

    def latest_scores(
        self,
        exchange: str,
        *,
        since: datetime,
        bias: Bias | None = None,
        regimes: Collection[Regime] | None = None,
        limit: int | None = None,
    ) -> list[ScoreRecord]:
        """Each symbol's latest score no older than ``since``, highest score first.

        The filters apply to that latest score (a symbol whose latest score is not
        ``bias`` is left out, whatever it was before). Ties are broken by symbol.
        """
        ...

    def score_at_many(
        self,
        exchange: str,
        at: datetime,
        tolerance: timedelta,
        symbols: Collection[str] | None = None,
    ) -> dict[str, ScoreRecord]:
        """Each symbol's latest score at or before ``at`` and no older than ``at - tolerance``."""
        ...

    def score_card(self, exchange: str, symbol: str, *, tolerance: timedelta) -> ScoreCard | None:
        """The symbol's latest score and those at-or-before 1h and 24h earlier (within ``tolerance``)."""
        ...

    def scores_at(self, wanted: Sequence[ScoreAt], tolerance: timedelta) -> list[ScoreRecord | None]:
        """For each ``(exchange, symbol, at)`` of ``wanted``, in order, that symbol's newest
        score with ``at - tolerance <= ts <= at`` (``None``: there is none).

        One read for them all: a score card's past scores and its venues' scores cost a
        command one statement, not one each.
        """
        ...

    def past_scores(
        self,
        exchange: str,
        newest: Mapping[str, datetime],
        ago: Sequence[timedelta],
        tolerance: timedelta,
    ) -> dict[str, tuple[ScoreRecord | None, ...]]:
        """For each symbol of ``newest`` (its newest score time ``t``) and each offset of
        ``ago``, in order, its newest score with ``t - o - tolerance <= ts <= t - o``
        (``None``: there is none): what ``scores_at`` finds for each, in one read.

        The score cards of a whole market (1h and 24h before each symbol's newest score)
        are prepared with it once per cycle, not read per command.
        """
        ...

    def score_history(self, exchange: str, symbol: str, start: datetime, end: datetime) -> list[ScoreRecord]:
        """One symbol's scores with ``start <= ts <= end``, oldest first."""
        ...

    def band_history(
        self,
        exchange: str,
        start: datetime,
        end: datetime,
        symbols: Collection[str] | None = None,
        *,
        every: timedelta,
        slot: timedelta,
    ) -> BandSeries:
        """Each symbol's band and bias sampled once per ``every``, in one read (``/track``).

        For each whole multiple ``h`` of ``every`` since the epoch (UTC) with
        ``start <= h <= end``, the symbol's first score with ``h <= ts < h + slot`` and
        ``ts <= end`` (``slot <= every``; a slot without a score has no reading). The
        choice is made in the store, so the other rows never leave it.
        """
        ...

    def score_mark(self, exchange: str, window: timedelta) -> ScoreMark | None:
        """The newest score time and how many scores lie within ``window`` before it.

        ``None`` when ``exchange`` has no score. Cheap (two index reads), so a reader can
        check it on every command and rebuild its view of the market only when it moved,
        whichever process stored the scores.
        """
        ...


class ChatStore(Protocol):
    """Chats, their settings and watchlists."""

    def ensure_chat(
        self,
        key: ChatKey,
        *,
        kind: ChatKind,
        now: datetime,
        timezone: str = "UTC",
        defaults: ChatSettings | None = None,
    ) -> Chat:
        """Return the chat at ``key``, creating it (with ``timezone`` and ``defaults``) if new."""
        ...

    def get_chat(self, key: ChatKey) -> Chat | None:
        """The chat at ``key``, if known."""
        ...

    def chat_by_ref(self, ref: int) -> Chat | None:
        """The chat with the store's id ``ref``, if known."""
        ...

    def update_chat(self, chat: Chat) -> None:
        """Save a chat's key, kind, timezone and enabled flag (e.g. a migrated Telegram group).

        Raises:
            StorageError: no chat has ``chat.ref``, or the new key is taken.
        """
        ...

    def get_settings(self, chat_ref: int) -> ChatSettings:
        """The chat's settings.

        Raises:
            StorageError: no chat has ``chat_ref``.
        """
        ...

    def save_settings(self, chat_ref: int, settings: ChatSettings) -> None:
        """Replace the chat's settings.

        Raises:
            StorageError: no chat has ``chat_ref``.
        """
        ...

    def watch(self, chat_ref: int, exchange: str, symbols: Sequence[str], now: datetime) -> int:
        """Add symbols to the chat's watchlist; returns how many were new."""
        ...

    def unwatch(self, chat_ref: int, exchange: str, symbols: Sequence[str]) -> int:
        """Remove symbols from the chat's watchlist; returns how many were removed."""
        ...

    def watchlist(self, chat_ref: int) -> list[WatchlistEntry]:
        """The chat's watchlist, by exchange then symbol."""
        ...

    def alert_chats(self) -> list[ChatProfile]:
        """Enabled chats with alerts on: the fan-out's audience, matched in memory."""
        ...

    def watched_symbols(self, exchange: str) -> dict[int, frozenset[str]]:
        """Every chat's watchlist for ``exchange`` in one read, by chat ref (empty ones absent)."""
        ...

    def digest_chats(self) -> list[ChatProfile]:
        """Enabled chats with the daily digest switched on."""
        ...


class AlertStateStore(Protocol):
    """Per-symbol state of the diff engine (``bot.core.diff``), per exchange."""

    def load_alert_states(self, exchange: str) -> dict[str, SymbolState]:
        """Every symbol's state for ``exchange``, by symbol, exactly as it was saved, its
        ``last`` the newest accepted score of that reading's hour if one is newer (a cycle
        stores only material changes; ``SqlAlertStateStore.load_alert_states``)."""
        ...

    def load_alert_state(self, exchange: str, symbol: str) -> SymbolState | None:
        """One symbol's state as ``load_alert_states`` gives it (``None``: none stored), read
        alone: a page about one symbol must not read a whole market's states."""
        ...

    def save_alert_states(self, exchange: str, states: Sequence[SymbolState]) -> None:
        """Insert or replace the given symbols' states for ``exchange``, alerts included.

        A replaced state's remembered alerts are replaced too (one left out is forgotten);
        symbols not in ``states`` keep what they had. Of two states for one symbol, the
        later wins.

        Raises:
            StorageError: a state remembers two alerts of one kind, or holds a naive time.
        """
        ...


class OutboxStore(Protocol):
    """Durable, at-least-once alert delivery queue."""

    def enqueue(self, messages: Sequence[OutboxMessage]) -> int:
        """Add messages; a key already in the outbox is ignored. Returns how many were new."""
        ...

    def claim_due(
        self,
        now: datetime,
        *,
        limit: int,
        claim_for: timedelta,
        platforms: Collection[Platform] | None = None,
    ) -> list[OutboxEntry]:
        """Claim up to ``limit`` due messages (only to chats on ``platforms``, if given), oldest due first.

        A claimed entry is ``SENDING`` with one more attempt counted and is due again at
        ``now + claim_for``, so a crash mid-send leads to a retry, not a lost message.
        """
        ...

    def mark_sent(self, entry_id: int, now: datetime) -> None:
        """Record a successful delivery; the entry is never claimed again."""
        ...

    def mark_progress(self, entry_id: int, parts_sent: int) -> None:
        """Record that the platform accepted the entry's first ``parts_sent`` parts.

        A later claim returns the entry with ``parts_sent``, so its retry resumes after
        them. Progress never goes back, and a sent or failed entry is left as it is.

        Raises:
            StorageError: no entry has this id.
        """
        ...

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
        """Record a failed attempt; retry after the policy's back-off (and not before
        ``not_before``, e.g. a RetryAfter), or give up when attempts are used up or the
        failure is ``permanent``.

        Returns:
            ``PENDING`` when a retry is scheduled, ``FAILED`` when given up.
        """
        ...

    def events_for_chat(self, chat_ref: int, since: datetime) -> int:
        """Alert events enqueued for the chat at or after ``since`` (any status), for daily caps.

        The sum of the messages' ``event_count``: one message batching three events counts three.
        """
        ...

    def events_for_chats(self, since: Mapping[int, datetime]) -> dict[int, int]:
        """``events_for_chat`` of every chat of ``since`` at its own time (each chat's local
        midnight), in a few statements rather than one per chat; a chat with none counts 0."""
        ...

    def status_counts(self) -> dict[OutboxStatus, int]:
        """Number of entries per status (statuses with none are absent)."""
        ...


class DigestLog(Protocol):
    """The record of daily digests sent."""

    def record_digest(self, chat_ref: int, local_date: date, sent_at: datetime) -> bool:
        """Record the chat's digest for ``local_date``; False if one was already recorded."""
        ...

    def digest_sent(self, chat_ref: int, local_date: date) -> bool:
        """Whether the chat's digest for ``local_date`` was recorded."""
        ...


class CycleStore(Protocol):
    """One collection cycle's writes as a single unit of work."""

    def save_cycle(
        self,
        *,
        exchange: str,
        snapshots: Sequence[MarketSnapshot] = (),
        scores: Sequence[ScoreRecord] = (),
        alert_states: Sequence[SymbolState] = (),
        outbox: Sequence[OutboxMessage] = (),
        lease: LeaseClaim | None = None,
    ) -> CycleSaved:
        """Store snapshots and scores, replace alert states and enqueue alerts, all or nothing.

        ``alert_states`` are ``exchange``'s (as ``AlertStateStore.save_alert_states``);
        snapshots and scores name their own exchange. The outbox is written in the same
        transaction as the alert state, so after a crash either both the new state and its
        alerts exist, or neither does. With ``lease``, the same transaction renews it and
        raises ``LeaseLostError`` (storing nothing) if another process holds it now.
        """
        ...


class RetentionJob(Protocol):
    """Bounded history: deletes what the policy no longer keeps."""

    def purge(self, policy: RetentionPolicy, now: datetime) -> RetentionReport:
        """Delete rows older than the policy's limits at ``now``; returns counts per kind."""
        ...


class LeaseStore(Protocol):
    """Named leases: at most one holder at a time (one collector per exchange)."""

    def acquire(self, name: str, holder: str, now: datetime, ttl: timedelta) -> datetime | None:
        """Take or renew ``name`` for ``holder`` until ``now + ttl``.

        Succeeds when the lease is free, already ``holder``'s, or expired; fails while
        another holder's lease runs.

        Returns:
            When ``holder``'s current tenure began (kept by a renewal, ``now`` when the
            lease was taken), or ``None`` when another holder has it. A changed tenure
            tells a holder that someone else may have held the lease in between.
        """
        ...

    def release(self, name: str, holder: str) -> None:
        """Give the lease up (only ``holder``'s own), so a standby takes over at once."""
        ...

    def lease(self, name: str) -> LeaseInfo | None:
        """The lease's current holder and expiry, if it was ever taken."""
        ...


class StateStore(Protocol):
    """Small named values kept across restarts (the hash of the synced Discord commands)."""

    def get(self, name: str) -> str | None:
        """The value stored under ``name``, or None if there is none."""
        ...

    def put(self, name: str, value: str, now: datetime) -> None:
        """Store ``value`` under ``name`` (replacing any), stamped ``now``."""
        ...


class WebhookStore(Protocol):
    """Webhooks: chats on the ``webhook`` platform with a URL and a signing secret."""

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
        """Register a webhook: its chat (with ``settings``, ``symbols`` of ``exchange`` and
        ``elsewhere``'s symbols of other exchanges on its watchlist) and URL, in one transaction.

        Raises:
            StorageError: ``webhook_id`` is taken.
        """
        ...

    def webhooks(self) -> list[WebhookEndpoint]:
        """Every webhook, enabled or not, oldest first."""
        ...

    def webhook(self, webhook_id: str) -> WebhookEndpoint | None:
        """The webhook with this id, if any."""
        ...

    def remove_webhook(self, webhook_id: str) -> bool:
        """Delete the webhook, its chat and its queued messages; False if there was none."""
        ...

    def record_failure(self, chat_ref: int) -> int:
        """Count one more permanent failure in a row; how many there are now."""
        ...

    def record_delivery(self, chat_ref: int) -> None:
        """A message was accepted: the failures in a row start again from zero."""
        ...
