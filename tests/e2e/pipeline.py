"""The real pipeline on the replay market, for end-to-end and crash tests.

Real SQLite (after the real migrations), the real replay source, cycle, diff, fan-out,
outbox and delivery; only the chat is a sink that appends what it sends to a file.
Runnable as a process: ``python -m tests.e2e.pipeline DB_URL RECORD_FILE [--crash POINT]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from bot.app.cycle import CollectionCycle, CycleDeps, CycleReport
from bot.app.delivery import Delivery
from bot.collector.replay import SYNTHETIC_LABEL
from bot.collector.replay_source import ReplaySource
from bot.core.diff import DiffParams
from bot.core.document import Document
from bot.core.events import EventKind
from bot.core.models import Band
from bot.core.params import DEFAULT_PARAMS
from bot.core.records import ChatKey, ChatKind, ChatSettings, Platform
from bot.core.send_outcome import PartAccepted, SendOutcome, Sent
from bot.render.documents import alert_document
from bot.render.plain_text import document_text
from bot.storage.facade import Storage, open_storage

SYMBOLS = ("SUIUSDT", "ARBUSDT", "SPKUSDT", "LABUSDT", "ONDOUSDT", "BTCUSDT")
CHATS = (ChatKey(Platform.CONSOLE, "trader-1"), ChatKey(Platform.CONSOLE, "group-2"))
CRASH_POINTS = ("before_save", "after_save", "before_send", "after_send")


class RecordingSink:
    """Appends every delivered message to a JSON-lines file (fsync'd: it must survive kill -9)."""

    def __init__(self, path: Path, crash_at: int | None = None, *, before: bool = False) -> None:
        self.path = path
        self._crash_at = crash_at
        self._before = before
        self._count = 0

    async def send(
        self,
        chat: ChatKey,
        document: Document,
        attachment: bytes | None = None,
        *,
        start: int = 0,
        on_part: PartAccepted | None = None,
    ) -> SendOutcome:
        if start >= 1:
            return Sent()  # one part, written before the retry
        if self._before and self._crash_at is not None and self._count + 1 >= self._crash_at:
            os.kill(os.getpid(), signal.SIGKILL)  # claimed, not sent
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"chat": chat.chat_id, "payload": document_text(document)}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._count += 1
        if not self._before and self._crash_at is not None and self._count >= self._crash_at:
            os.kill(os.getpid(), signal.SIGKILL)  # sent, but not yet recorded as sent
        if on_part is not None:
            await on_part(1)
        return Sent()


class CrashingCycles:
    """Wraps the cycle store to die just before or just after the cycle's transaction."""

    def __init__(self, storage: Storage, point: str | None, at_cycle: int) -> None:
        self._inner = storage.cycles
        self._point = point
        self._at = at_cycle
        self._calls = 0

    def save_cycle(self, **kwargs):  # type: ignore[no-untyped-def]
        self._calls += 1
        due = self._calls >= self._at and bool(kwargs.get("outbox"))
        if due and self._point == "before_save":
            os.kill(os.getpid(), signal.SIGKILL)
        saved = self._inner.save_cycle(**kwargs)
        if due and self._point == "after_save":
            os.kill(os.getpid(), signal.SIGKILL)
        return saved


@dataclass
class Run:
    storage: Storage
    cycle: CollectionCycle
    delivery: Delivery
    source: ReplaySource


def build(db_url: str, record: Path, *, crash: str | None = None, crash_at: int = 1) -> Run:
    storage = open_storage(db_url)
    source = ReplaySource(symbols=SYMBOLS)
    for key in CHATS:
        settings = ChatSettings(min_band=Band.LEAN, event_kinds=frozenset(EventKind))
        chat = storage.chats.ensure_chat(
            key, kind=ChatKind.PRIVATE, now=datetime.fromtimestamp(0).astimezone(), defaults=settings
        )
        storage.chats.save_settings(chat.ref, settings)
    cycles = (
        CrashingCycles(storage, crash, crash_at) if crash in ("before_save", "after_save") else storage.cycles
    )
    deps = CycleDeps(
        source.exchange,
        source,
        storage.snapshots,
        storage.alert_states,
        storage.chats,
        storage.outbox,
        cycles,
    )  # type: ignore[arg-type]
    cycle = CollectionCycle(
        deps,
        DEFAULT_PARAMS,
        DiffParams(stale_after=timedelta(minutes=15)),
        partial(alert_document, source_label=SYNTHETIC_LABEL),
    )
    in_sink = crash in ("before_send", "after_send")
    sink = RecordingSink(record, crash_at if in_sink else None, before=crash == "before_send")
    delivery = Delivery(
        storage.outbox, storage.chats, {Platform.CONSOLE: sink}, claim_for=timedelta(seconds=1)
    )
    return Run(storage, cycle, delivery, source)


def replay_times(source: ReplaySource, start: datetime) -> list[datetime]:
    return [t for t in source.market.times() if t >= start]


async def replay(run: Run, times: Sequence[datetime]) -> list[CycleReport]:
    """Run every cycle not yet stored, delivering after each; resumable after a crash."""
    reports = []
    latest = run.storage.snapshots.latest_snapshot_time(run.source.exchange)
    for now in times:
        if latest is not None and now <= latest:
            continue  # this cycle was committed before a crash
        reports.append(await run.cycle.run(now))
        await run.delivery.drain(now)
    # Drain what is left, as a later wall clock would (leases of crashed sends expire).
    final = times[-1] + timedelta(minutes=10)
    for step in range(5):
        await run.delivery.drain(final + timedelta(minutes=step))
    return reports


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("db_url")
    parser.add_argument("record", type=Path)
    parser.add_argument("--crash", choices=CRASH_POINTS)
    parser.add_argument("--crash-at", type=int, default=1)
    args = parser.parse_args(argv)
    run = build(args.db_url, args.record, crash=args.crash, crash_at=args.crash_at)
    start = run.source.market.first_time_with_history(24)
    assert start is not None
    await run.cycle.backfill(start)
    await replay(run, replay_times(run.source, start))
    run.storage.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
