"""The daily digest: one message per subscribed chat at its own local time.

A tick runs every minute. A chat is due when its local clock has passed its digest time
and no digest is recorded for its local date. The message goes into the outbox under the
key ``digest:<chat>:<local date>`` *before* the date is recorded, so a crash in between
re-enqueues the same key (a no-op) and then records it: a restart never sends a digest
twice and never skips one. A bot that was down at digest time sends it when it comes back
the same local day.

With several venues a chat gets one digest per venue it follows (``ChatSettings.alert_venues``;
default: the aggregate ``all``), each titled with its venue and keyed
``digest:<chat>:<venue>:<local date>`` so two venues never collide. The date is recorded once
all of the chat's digests are in the outbox; a venue without fresh scores holds the record
back (retried each minute), and the keys make the re-enqueue of the others a no-op.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from bot.app.fanout import followed_venues, zone
from bot.app.off_loop import off_loop, write_off_loop
from bot.app.views import Summary, summarise
from bot.core.aggregate import AGGREGATE_EXCHANGE
from bot.core.aggregate_card import venue_title
from bot.core.document import Document
from bot.core.records import Chat, ChatProfile, OutboxMessage, ScoreRecord
from bot.errors import ChartError
from bot.ports import ChatStore, DigestLog, OutboxStore, ScoreStore

logger = logging.getLogger(__name__)

FRESH = timedelta(minutes=30)
DAY_TOLERANCE = timedelta(minutes=45)


@dataclass(frozen=True, slots=True)
class Mover:
    """A symbol whose score changed most over 24h."""

    record: ScoreRecord
    change: int


@dataclass(frozen=True, slots=True)
class Digest:
    """Everything the daily digest shows."""

    chat: Chat
    local_date: date
    data_time: datetime | None
    summary: Summary
    top: tuple[ScoreRecord, ...]
    risers: tuple[Mover, ...]
    fallers: tuple[Mover, ...]
    squeeze: tuple[ScoreRecord, ...]
    source_label: str | None

    @property
    def picture(self) -> DigestPicture:
        """What the digest's chart shows: the same for every chat sharing the date and top names."""
        return DigestPicture(self.local_date, self.source_label, self.top)


@dataclass(frozen=True, slots=True)
class DigestPicture:
    """The digest chart's input, without the chat: equal pictures are drawn once for many chats."""

    local_date: date
    source_label: str | None
    top: tuple[ScoreRecord, ...]


DigestChart = Callable[[DigestPicture], Awaitable[bytes]]
"""Draws the digest's picture as PNG bytes (the chart worker, injected); may raise ``ChartError``."""


def build_digest(
    chat: Chat,
    local_date: date,
    latest: Sequence[ScoreRecord],
    day_ago: dict[str, ScoreRecord],
    source_label: str | None,
    top_n: int = 10,
    movers: int = 5,
) -> Digest:
    """Assemble a digest from the latest scores and those of 24h earlier."""
    changes = [
        Mover(r, r.result.score - day_ago[r.symbol].result.score) for r in latest if r.symbol in day_ago
    ]
    risers = sorted((m for m in changes if m.change > 0), key=lambda m: (-m.change, m.record.symbol))
    fallers = sorted((m for m in changes if m.change < 0), key=lambda m: (m.change, m.record.symbol))
    return Digest(
        chat=chat,
        local_date=local_date,
        data_time=max((r.ts for r in latest), default=None),
        summary=summarise([r.result for r in latest]),
        top=tuple(latest[:top_n]),
        risers=tuple(risers[:movers]),
        fallers=tuple(fallers[:movers]),
        squeeze=tuple(r for r in latest if r.result.regime.is_squeeze_risk),
        source_label=source_label,
    )


class DigestRenderer(Protocol):
    """Draws a digest as a message document; ``chart``: a chart PNG travels with it."""

    def __call__(self, digest: Digest, *, chart: bool = False) -> Document: ...


def digest_key(chat: Chat, local_date: date, venue: str | None = None) -> str:
    """The outbox key of a chat's digest for a local date (and venue, when there are several)."""
    if venue is None:
        return f"digest:{chat.ref}:{local_date.isoformat()}"
    return f"digest:{chat.ref}:{venue}:{local_date.isoformat()}"


class DigestJob:
    """Sends the digests that are due; call ``tick(now)`` every minute."""

    def __init__(
        self,
        exchange: str,
        chats: ChatStore,
        scores: ScoreStore,
        outbox: OutboxStore,
        log: DigestLog,
        render: DigestRenderer,
        source_label: str | None = None,
        chart: DigestChart | None = None,
        venues: Sequence[str] = (),
    ) -> None:
        self._exchange = exchange
        # Several venues: each chat's digests follow its venues (the aggregate by default).
        self._venues = tuple(venues) if len(venues) > 1 else ()
        self._chats = chats
        self._scores = scores
        self._outbox = outbox
        self._log = log
        self._render = render
        self._label = source_label
        self._chart = chart
        self._waiting = False  # digests are due but no fresh scores: said once per wait

    def due(self, now: datetime) -> list[tuple[Chat, date]]:
        """Chats whose local digest time has passed today with no digest recorded."""
        return [(profile.chat, day) for profile, day in self._due(now)]

    def _due(self, now: datetime) -> list[tuple[ChatProfile, date]]:
        found = []
        for profile in self._chats.digest_chats():
            local = now.astimezone(zone(profile.chat.timezone))
            if local.time().replace(tzinfo=None) < profile.settings.digest_time:
                continue
            if not self._log.digest_sent(profile.chat.ref, local.date()):
                found.append((profile, local.date()))
        return found

    def _followed(self, profile: ChatProfile) -> list[str | None]:
        """The venues of a chat's digests, ``None`` standing for the single venue."""
        if not self._venues:
            return [None]
        configured = (AGGREGATE_EXCHANGE, *self._venues)
        chosen = followed_venues(profile.settings, configured, AGGREGATE_EXCHANGE)
        return [v for v in configured if v in chosen]

    def _label_of(self, venue: str | None) -> str | None:
        if venue is None:
            return self._label
        named = venue_title(venue)
        return named if self._label is None else f"{self._label} · {named}"

    async def _picture(self, digest: Digest) -> bytes | None:
        if self._chart is None:
            return None
        try:
            return await self._chart(digest.picture)
        except ChartError as exc:  # a broken chart must not cost the chat its digest
            logger.warning("digest chart failed (%s); sending the digest without it", exc)
        except Exception:
            logger.exception("digest chart failed; sending the digest without it")
        return None

    async def tick(self, now: datetime) -> int:
        """Enqueue every due digest; returns how many chats had all theirs enqueued.

        The chart is awaited (drawn in another process), and the reads and writes run in
        worker threads (a write may wait for a cycle's transaction), so the event loop serves
        commands meanwhile; each digest is enqueued (and a chat's date recorded) before the
        next is drawn.
        """
        due = await off_loop(self._due, now)
        if not due:
            return 0
        markets: dict[str | None, tuple[list[ScoreRecord], dict[str, ScoreRecord]] | None] = {}
        sent = waiting = 0
        for profile, local_date in due:
            complete = True
            for venue in self._followed(profile):
                if venue not in markets:
                    markets[venue] = await self._market(venue, now)
                market = markets[venue]
                if market is None:
                    complete = False
                    continue
                await self._enqueue(profile.chat, local_date, venue, market, now)
            if complete:
                await write_off_loop(None, self._log.record_digest, profile.chat.ref, local_date, now)
                sent += 1
            else:
                waiting += 1
            # A chart served from the worker's cache returns without yielding: without this,
            # a run for thousands of chats would hold the event loop from the first to the last.
            await asyncio.sleep(0)
        if waiting:
            # Once per wait, not every minute it lasts: the STALE lines already repeat.
            if not self._waiting:
                logger.warning("digest due for %d chats but no fresh scores; retrying every minute", waiting)
            self._waiting = True
        elif self._waiting:
            logger.info("fresh scores again: sent the %d digests that waited", sent)
            self._waiting = False
        if sent:
            logger.info("enqueued %d digests", sent)
        return sent

    async def _market(
        self, venue: str | None, now: datetime
    ) -> tuple[list[ScoreRecord], dict[str, ScoreRecord]] | None:
        """The latest scores of a venue and those of a day before (``None``: none fresh)."""
        exchange = venue or self._exchange
        latest = await off_loop(self._scores.latest_scores, exchange, since=now - FRESH)
        if not latest:
            return None
        day_ago = await off_loop(
            self._scores.score_at_many, exchange, now - timedelta(hours=24), DAY_TOLERANCE
        )
        return latest, day_ago

    async def _enqueue(
        self,
        chat: Chat,
        local_date: date,
        venue: str | None,
        market: tuple[list[ScoreRecord], dict[str, ScoreRecord]],
        now: datetime,
    ) -> None:
        latest, day_ago = market
        digest = build_digest(chat, local_date, latest, day_ago, self._label_of(venue))
        picture = await self._picture(digest)  # first: the document names the chart only if there is one
        message = OutboxMessage(
            idempotency_key=digest_key(chat, local_date, venue),
            chat_ref=chat.ref,
            payload=self._render(digest, chart=picture is not None),
            created_at=now,
            event_count=0,  # digests do not count towards the alert cap
            attachment=picture,
        )
        await write_off_loop(None, self._outbox.enqueue, [message])
