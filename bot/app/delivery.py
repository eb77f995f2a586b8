"""Delivery: drain due outbox rows through the chat sinks, at least once, never twice on purpose.

Semantics (``docs/alerts.md`` has the full story):

* A row is claimed before it is sent (status ``sending``, one attempt counted, due again
  after its claim runs out). A crash mid-send therefore leads to a retry, never to a lost message.
* A message that takes several platform calls (parts: a long text, then its chart) has
  its progress stored after each part the platform accepted (``mark_progress``); a retry
  resumes at the part that failed, so a 502 on the chart does not send the text twice.
* A crash after the platform accepted a part but before its progress was stored repeats
  that one part. Messages to one chat go out one at a time, so a crash can repeat at most
  one part per chat. Different chats are served concurrently.
* Outcomes: sent → done; rate limited → retried after the platform's wait; network or
  server trouble → retried with back-off; chat gone → the chat is disabled and its
  message dropped; chat moved → the chat's address is updated and the message re-sent
  there; rejected → given up with the error recorded. Attempts are bounded by the policy.
* The claim and each outcome are written off the event loop's thread
  (``bot.app.off_loop.write_off_loop``): while a write waits for the database, commands
  and the other chats' sends go on.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.app.chat_lifecycle import disable_chat, move_chat
from bot.app.off_loop import write_off_loop
from bot.core.records import Chat, ChatKey, OutboxEntry, OutboxStatus, Platform, RetryPolicy
from bot.core.send_outcome import ChatGone, ChatMoved, Rejected, RetryAfter, SendOutcome, Sent, Transient
from bot.ports import ChatStore, KeyedSink, OutboxStore, Sink

logger = logging.getLogger(__name__)

DEFAULT_CLAIM = timedelta(minutes=2)


@dataclass(slots=True)
class DeliveryReport:
    """What one drain did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    chats_disabled: int = 0
    chats_moved: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.sent + self.retrying + self.failed


class _Progress:
    """Stores each part a sink reports accepted (``bot.core.send_outcome.PartAccepted``)."""

    def __init__(self, outbox: OutboxStore, entry_id: int, parts_sent: int) -> None:
        self._outbox = outbox
        self._entry_id = entry_id
        self.parts_sent = parts_sent

    async def __call__(self, parts_sent: int) -> None:
        # Stored before the next part goes out: a crash between parts repeats at most one.
        # On a writer thread: on the loop's, a wait for the database (a cycle's transaction
        # holds SQLite's write lock) would stall every command and send meanwhile.
        await write_off_loop(None, self._outbox.mark_progress, self._entry_id, parts_sent)
        self.parts_sent = max(self.parts_sent, parts_sent)


class _Countdown:
    """Set once ``n`` ticks have come (at once when ``n`` is 0)."""

    def __init__(self, n: int) -> None:
        self._left = n
        self._done = asyncio.Event()
        if n <= 0:
            self._done.set()

    def tick(self) -> None:
        self._left -= 1
        if self._left <= 0:
            self._done.set()

    async def wait(self) -> None:
        await self._done.wait()


def _forget(lanes: dict[int, asyncio.Task[None]], chat_ref: int, done: asyncio.Task[None]) -> None:
    if lanes.get(chat_ref) is done:  # a later batch's task for the chat may have replaced it
        del lanes[chat_ref]


class Delivery:
    """Drains the outbox through one sink per platform."""

    def __init__(
        self,
        outbox: OutboxStore,
        chats: ChatStore,
        sinks: Mapping[Platform, Sink],
        policy: RetryPolicy | None = None,
        *,
        claim_for: timedelta = DEFAULT_CLAIM,
        batch: int = 100,
        concurrency: int = 16,
    ) -> None:
        self._outbox = outbox
        self._chats = chats
        self._sinks = dict(sinks)
        self._policy = policy or RetryPolicy()
        self._claim_for = claim_for
        self._batch = batch
        self._concurrency = concurrency

    async def drain_backlog(self, now: Callable[[], datetime]) -> DeliveryReport:
        """Drain batch after batch while whole batches come back.

        A broadcast to thousands of chats then flows at the platforms' own pace (their
        rate limiters) instead of one batch per scheduler tick. The next batch is claimed
        as soon as every entry of the current one has started, not when the last answer
        is in: with answers taking up to a few hundred milliseconds, waiting out each
        batch's slowest send would leave the rate limiter idle once per batch. Two
        batches may then hold messages for the same chat; the later waits for the
        earlier, so a chat still gets one message at a time, in order.
        """
        total = DeliveryReport()
        if not self._sinks:
            return total
        gate = asyncio.Semaphore(self._concurrency)
        lanes: dict[int, asyncio.Task[None]] = {}
        pending: list[asyncio.Task[None]] = []
        while True:
            entries = await self._claim(now())
            started = _Countdown(len({e.chat_ref for e in entries}))
            pending.extend(self._serve_all(entries, now(), total, gate, lanes, started))
            if len(entries) < self._batch:
                break
            await started.wait()
        await asyncio.gather(*pending)
        return total

    async def drain(self, now: datetime) -> DeliveryReport:
        """Claim what is due (for the platforms this process serves) and try to send it."""
        report = DeliveryReport()
        if not self._sinks:
            return report
        entries = await self._claim(now)
        gate = asyncio.Semaphore(self._concurrency)
        await asyncio.gather(*self._serve_all(entries, now, report, gate, {}, None))
        return report

    async def _claim(self, now: datetime) -> list[OutboxEntry]:
        claimed = await write_off_loop(
            None,
            self._outbox.claim_due,
            now,
            limit=self._batch,
            claim_for=self._claim_for,
            platforms=tuple(self._sinks),
        )
        return list(claimed)

    def _serve_all(
        self,
        entries: Sequence[OutboxEntry],
        now: datetime,
        report: DeliveryReport,
        gate: asyncio.Semaphore,
        lanes: dict[int, asyncio.Task[None]],
        started: _Countdown | None,
    ) -> list[asyncio.Task[None]]:
        """One task per chat, sending its entries one at a time after the chat's earlier task."""
        by_chat: dict[int, list[OutboxEntry]] = defaultdict(list)
        for entry in entries:
            by_chat[entry.chat_ref].append(entry)

        async def serve(queue: Sequence[OutboxEntry], before: asyncio.Task[None] | None) -> None:
            if before is not None:
                await asyncio.wait([before])  # the chat's earlier batch first; its failure is its own
            async with gate:
                if started is not None:
                    started.tick()
                # The chat is read once per lane, again only after a send changed it (moved,
                # gone) or failed: not once per message, which with several venues is a
                # read per venue's alert on the event loop.
                chat: Chat | None = None
                current = False
                for entry in queue:  # one at a time per chat: a crash repeats at most one
                    try:
                        if not current:
                            chat = self._chats.chat_by_ref(entry.chat_ref)
                        current = await self._deliver(entry, chat, now, report)
                    except Exception:  # a store fault on one chat must not sink the others
                        current = False
                        logger.exception(
                            "delivery of outbox entry %s failed; retried after its claim runs out", entry.id
                        )
                        report.errors.append(f"entry {entry.id}: internal error")

        tasks = []
        for chat_ref, queue in by_chat.items():
            task = asyncio.ensure_future(serve(queue, lanes.get(chat_ref)))
            lanes[chat_ref] = task
            task.add_done_callback(functools.partial(_forget, lanes, chat_ref))
            tasks.append(task)
        return tasks

    async def _send(self, entry: OutboxEntry, chat: ChatKey, progress: _Progress) -> SendOutcome:
        sink = self._sinks[entry.chat.platform]
        if progress.parts_sent:
            logger.info("outbox entry %s resumes after part %d", entry.id, progress.parts_sent)
        try:
            if isinstance(sink, KeyedSink):
                return await sink.send_keyed(
                    entry.idempotency_key,
                    chat,
                    entry.payload,
                    entry.attachment,
                    start=progress.parts_sent,
                    on_part=progress,
                )
            return await sink.send(
                chat,
                entry.payload,
                entry.attachment,
                start=progress.parts_sent,
                on_part=progress,
            )
        except Exception as exc:  # a sink bug must not stop the other chats' deliveries
            logger.exception("sink %s raised on outbox entry %s", entry.chat.platform.value, entry.id)
            return Transient(error=f"{type(exc).__name__}: {exc}")

    async def _deliver(
        self, entry: OutboxEntry, chat: Chat | None, now: datetime, report: DeliveryReport
    ) -> bool:
        """Send ``entry`` to ``chat`` (as read for it) and store the outcome; whether that
        read still holds (False once the chat moved or went away)."""
        if chat is None or not chat.enabled:
            # Blocked or removed earlier (perhaps earlier in this very drain): do not send.
            await self._fail(entry, now, "chat disabled", permanent=True)
            report.failed += 1
            return True
        entry = replace(entry, chat=chat.key)  # the chat may have moved since the claim
        progress = _Progress(self._outbox, entry.id, entry.parts_sent)
        outcome = await self._send(entry, entry.chat, progress)
        current = True
        if isinstance(outcome, ChatMoved):
            moving = self._chats.chat_by_ref(entry.chat_ref)
            await write_off_loop(None, move_chat, self._chats, moving, outcome.new_key)
            report.chats_moved += 1
            current = False
            # The parts the old address accepted stay there; the rest goes to the new one.
            outcome = await self._send(entry, outcome.new_key, progress)
        match outcome:
            case Sent():
                await write_off_loop(None, self._outbox.mark_sent, entry.id, now)
                report.sent += 1
                return current
            case RetryAfter(seconds=seconds):
                status = await self._fail(
                    entry,
                    now,
                    f"rate limited, retry after {seconds:g}s",
                    not_before=now + timedelta(seconds=seconds),
                )
            case Transient(error=error):
                status = await self._fail(entry, now, error)
            case ChatGone(error=error):
                gone = self._chats.chat_by_ref(entry.chat_ref)
                await write_off_loop(None, disable_chat, self._chats, gone, error)
                report.chats_disabled += 1
                current = False
                status = await self._fail(entry, now, error, permanent=True)
            case Rejected(error=error):
                status = await self._fail(entry, now, error, permanent=True)
            case ChatMoved():
                status = await self._fail(entry, now, "chat moved twice in a row")
        report.errors.append(f"{entry.chat.platform.value}:{entry.chat.chat_id}: {type(outcome).__name__}")
        if status is OutboxStatus.FAILED:
            report.failed += 1
        else:
            report.retrying += 1
        return current

    async def _fail(
        self,
        entry: OutboxEntry,
        now: datetime,
        error: str,
        *,
        permanent: bool = False,
        not_before: datetime | None = None,
    ) -> OutboxStatus:
        status = await write_off_loop(
            None,
            self._outbox.mark_failed,
            entry.id,
            now=now,
            error=error[:500],
            policy=self._policy,
            permanent=permanent,
            not_before=not_before,
        )
        if status is OutboxStatus.FAILED:
            logger.warning(
                "gave up on outbox entry %s for %s:%s: %s",
                entry.id,
                entry.chat.platform.value,
                entry.chat.chat_id,
                error[:200],
            )
        return status
