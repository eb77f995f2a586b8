"""The daily digest: one message per subscribed chat at its own local time.

A tick runs every minute. A chat is due when its local clock has passed its digest time
and no digest is recorded for its local date. The message goes into the outbox under the
key ``digest:<chat>:<local date>`` *before* the date is recorded, so a crash in between
re-enqueues the same key (a no-op) and then records it: a restart never sends a digest
twice and never skips one. A bot that was down at digest time sends it when it comes back
the same local day.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from bot.app.fanout import zone
from bot.app.views import Summary, summarise
from bot.core.document import Document
from bot.core.records import Chat, OutboxMessage, ScoreRecord
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


def digest_key(chat: Chat, local_date: date) -> str:
    return f"digest:{chat.ref}:{local_date.isoformat()}"


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
    ) -> None:
        self._exchange = exchange
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
        found = []
        for profile in self._chats.digest_chats():
            local = now.astimezone(zone(profile.chat.timezone))
            if local.time().replace(tzinfo=None) < profile.settings.digest_time:
                continue
            if not self._log.digest_sent(profile.chat.ref, local.date()):
                found.append((profile.chat, local.date()))
        return found

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
        """Enqueue every due digest; returns how many.

        The chart is awaited (drawn in another process), so the event loop serves commands
        meanwhile; each digest is enqueued and recorded before the next chat's is drawn.
        """
        due = self.due(now)
        if not due:
            return 0
        latest = self._scores.latest_scores(self._exchange, since=now - FRESH)
        if not latest:
            # Once per wait, not every minute it lasts: the STALE lines already repeat.
            if not self._waiting:
                logger.warning("digest due for %d chats but no fresh scores; retrying every minute", len(due))
            self._waiting = True
            return 0
        if self._waiting:
            logger.info("fresh scores again: sending the %d digests that waited", len(due))
        self._waiting = False
        await asyncio.sleep(0)  # two large reads back to back would hold the loop for both
        day_ago = self._scores.score_at_many(self._exchange, now - timedelta(hours=24), DAY_TOLERANCE)
        for chat, local_date in due:
            digest = build_digest(chat, local_date, latest, day_ago, self._label)
            picture = await self._picture(digest)  # first: the document names the chart only if there is one
            message = OutboxMessage(
                idempotency_key=digest_key(chat, local_date),
                chat_ref=chat.ref,
                payload=self._render(digest, chart=picture is not None),
                created_at=now,
                event_count=0,  # digests do not count towards the alert cap
                attachment=picture,
            )
            self._outbox.enqueue([message])
            self._log.record_digest(chat.ref, local_date, now)
            # A chart served from the worker's cache returns without yielding: without this,
            # a run for thousands of chats would hold the event loop from the first to the last.
            await asyncio.sleep(0)
        logger.info("enqueued %d digests", len(due))
        return len(due)
