"""Writes asked on the event loop wait for the SQLite write lock off the loop's thread.

Another thread of the process holds a write transaction on the file (as a cycle's store
does) until the test lets it go. A command that writes, and delivery's outbox claim and
``mark_sent``, then queue in the file's write queue while the loop answers other commands;
a command whose write waits past its patience is answered "busy" and stores nothing.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from bot.app import chat_settings
from bot.app.delivery import Delivery
from bot.app.views import ErrorKind, SettingsReply, TextReply
from bot.core.document import Document
from bot.core.records import ChatKey, ChatKind, OutboxMessage, OutboxStatus, Platform
from bot.core.send_outcome import SendOutcome, Sent
from bot.storage import db
from bot.storage.facade import Storage
from bot.storage.write_queue import FairLock
from tests.fakes.contract import note
from tests.fakes.scored_market import LATEST, PRIVATE_CHAT, ask, error_of, make_layer
from tests.postgres import SQLITE_ONLY
from tests.waiting import DEADLINE_S, wait_for

pytestmark = SQLITE_ONLY  # the write queue is SQLite's: PostgreSQL lets writers in side by side


class Holder:
    """A thread inside a write transaction on ``engine`` until ``release`` is set."""

    def __init__(self, engine: Engine) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()
        self._sessions = db.session_factory(engine)
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        assert self.inside.wait(DEADLINE_S), "the holder never began its write transaction"

    def _run(self) -> None:
        with db.write_transaction(self._sessions, "hold the write lock"):
            self.inside.set()
            self.release.wait(DEADLINE_S)

    def let_go(self) -> None:
        self.release.set()
        self.thread.join(DEADLINE_S)


def _queue(storage: Storage) -> FairLock:
    queue = db.write_queue(storage.engine)
    assert queue is not None
    return queue


async def test_a_command_s_write_waits_off_the_loop_while_another_command_is_answered(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat_settings, "WRITE_PATIENCE_S", DEADLINE_S)  # the wait must not run out here
    layer = make_layer(storage)  # type: ignore[arg-type]  # the SQL stores keep the same ports
    queue = _queue(storage)
    holder = Holder(storage.engine)
    try:
        writing = asyncio.create_task(ask(layer, "/digest", "on 07:30"))
        # Polled from the loop: this ends only if the loop is free while the write waits.
        await wait_for(lambda: queue.waiting == 1, "the command's write queued for the lock")
        answered = await ask(layer, "/watchlist")
        assert isinstance(answered, TextReply)
        assert not writing.done()
    finally:
        holder.let_go()
    reply = await writing
    assert isinstance(reply, SettingsReply)
    chat = storage.chats.get_chat(PRIVATE_CHAT)
    assert chat is not None
    assert storage.chats.get_settings(chat.ref).digest_enabled


async def test_a_command_whose_write_waits_past_its_patience_is_answered_busy_and_stores_nothing(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat_settings, "WRITE_PATIENCE_S", 0.0)
    layer = make_layer(storage)  # type: ignore[arg-type]
    holder = Holder(storage.engine)
    try:
        for command, args in (("/digest", "on 07:30"), ("/alerts", "off"), ("/start", "")):
            reply = error_of(await ask(layer, command, args), ErrorKind.UNAVAILABLE)
            assert "busy" in reply.message
            assert "Traceback" not in reply.message
    finally:
        holder.let_go()
    assert storage.chats.get_chat(PRIVATE_CHAT) is None
    assert _queue(storage).waiting == 0


class GatedSink:
    """Sends when the test says so (``proceed``), after saying it was asked (``asked``)."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.proceed = asyncio.Event()
        self.sent: list[ChatKey] = []

    async def send(
        self, chat: ChatKey, document: Document, attachment: bytes | None = None, **_: object
    ) -> SendOutcome:
        self.asked.set()
        await self.proceed.wait()
        self.sent.append(chat)
        return Sent()


async def test_delivery_s_claim_and_mark_sent_wait_off_the_loop(storage: Storage) -> None:
    now = LATEST
    chat = storage.chats.ensure_chat(ChatKey(Platform.TELEGRAM, "-100"), kind=ChatKind.GROUP, now=now)
    storage.outbox.enqueue([OutboxMessage("k1", chat.ref, note("hello"), now)])
    layer = make_layer(storage)  # type: ignore[arg-type]
    sink = GatedSink()
    delivery = Delivery(storage.outbox, storage.chats, {Platform.TELEGRAM: sink})
    queue = _queue(storage)

    holder = Holder(storage.engine)
    try:
        drain = asyncio.create_task(delivery.drain(now + timedelta(seconds=1)))
        await wait_for(lambda: queue.waiting == 1, "the outbox claim queued for the lock")
        assert isinstance(await ask(layer, "/watchlist"), TextReply)  # answered meanwhile
    finally:
        holder.let_go()
    await asyncio.wait_for(sink.asked.wait(), DEADLINE_S)

    holder = Holder(storage.engine)  # the lock is taken again before the send's outcome is stored
    try:
        sink.proceed.set()
        await wait_for(lambda: queue.waiting == 1, "mark_sent queued for the lock")
        assert isinstance(await ask(layer, "/watchlist"), TextReply)
        assert not drain.done()
    finally:
        holder.let_go()
    report = await drain
    assert (report.sent, sink.sent) == (1, [chat.key])
    assert storage.outbox.status_counts() == {OutboxStatus.SENT: 1}
