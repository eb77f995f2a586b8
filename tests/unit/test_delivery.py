"""The delivery job drains the outbox through the chat sinks: outcomes, retries, claims, concurrency.

Everything runs against the in-memory fakes (``tests.fakes``); time only moves when a test
passes a later ``now`` to ``drain``.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app.delivery import DEFAULT_CLAIM, Delivery, DeliveryReport
from bot.core.document import Document, Paragraph
from bot.core.records import (
    Chat,
    ChatKey,
    ChatKind,
    OutboxMessage,
    OutboxStatus,
    Platform,
    RetryPolicy,
)
from bot.core.send_outcome import (
    ChatGone,
    ChatMoved,
    PartAccepted,
    Rejected,
    RetryAfter,
    SendOutcome,
    Sent,
    Transient,
)
from bot.errors import StorageError
from bot.ports import Sink
from tests.fakes import EPOCH, FakeChatStore, FakeOutboxStore, FakeSink
from tests.fakes.contract import note
from tests.fakes.outbox_rows import OutboxRecord, stored_outbox
from tests.waiting import wait_for

T0 = EPOCH
TG = Platform.TELEGRAM
DC = Platform.DISCORD
TICK = timedelta(microseconds=1)
POLICY = RetryPolicy(
    max_attempts=4, base_delay=timedelta(seconds=10), factor=3.0, max_delay=timedelta(minutes=1)
)
"""Back-off 10 s, 30 s, then 60 s (90 s capped), giving up at the fourth attempt."""


@dataclass
class Env:
    """A chat store and an outbox over it, with helpers to populate and inspect them."""

    chats: FakeChatStore = field(default_factory=FakeChatStore)
    outbox: FakeOutboxStore = field(init=False)

    def __post_init__(self) -> None:
        self.outbox = FakeOutboxStore(self.chats)

    def chat(self, chat_id: str, platform: Platform = TG) -> Chat:
        return self.chats.ensure_chat(ChatKey(platform, chat_id), kind=ChatKind.GROUP, now=T0)

    def enqueue(self, chat: Chat, *keys: str, at: datetime = T0) -> None:
        self.outbox.enqueue([OutboxMessage(key, chat.ref, text(key), at) for key in keys])

    def entry(self, key: str) -> OutboxRecord:
        return stored_outbox(self, key)

    def stored_chat(self, chat: Chat) -> Chat:
        found = self.chats.chat_by_ref(chat.ref)
        assert found is not None, chat
        return found

    def delivery(
        self,
        sinks: dict[Platform, Sink],
        *,
        claim_for: timedelta = DEFAULT_CLAIM,
        batch: int = 100,
        concurrency: int = 16,
    ) -> Delivery:
        return Delivery(
            self.outbox, self.chats, sinks, POLICY, claim_for=claim_for, batch=batch, concurrency=concurrency
        )


def text(key: str) -> Document:
    return note(f"payload of {key}")


@pytest.fixture
def env() -> Env:
    return Env()


class ScriptedSink:
    """Answers per chat id from its own script (``Sent`` when a chat's script is used up)."""

    def __init__(self, scripts: dict[str, Iterable[SendOutcome | Exception]]) -> None:
        self.sent: list[tuple[ChatKey, Document]] = []
        self._scripts = {chat_id: list(script) for chat_id, script in scripts.items()}

    async def send(
        self, chat: ChatKey, document: Document, attachment: bytes | None = None, **_: object
    ) -> SendOutcome:
        self.sent.append((chat, document))
        script = self._scripts.get(chat.chat_id, [])
        outcome = script.pop(0) if script else Sent()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class SlowSink:
    """Takes a little while per send and records how many sends overlap, per chat and overall."""

    def __init__(self, delay: float = 0.005) -> None:
        self.delay = delay
        self.order: dict[ChatKey, list[Document]] = defaultdict(list)
        self._per_chat: Counter[ChatKey] = Counter()
        self.max_per_chat: Counter[ChatKey] = Counter()
        self._total = 0
        self.max_total = 0

    async def send(
        self, chat: ChatKey, document: Document, attachment: bytes | None = None, **_: object
    ) -> SendOutcome:
        self.order[chat].append(document)
        self._per_chat[chat] += 1
        self._total += 1
        self.max_per_chat[chat] = max(self.max_per_chat[chat], self._per_chat[chat])
        self.max_total = max(self.max_total, self._total)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self._per_chat[chat] -= 1
            self._total -= 1
        return Sent()


class HangingSink:
    """Never answers: a process killed mid-send."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def send(
        self, chat: ChatKey, document: Document, attachment: bytes | None = None, **_: object
    ) -> SendOutcome:
        self.started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


# --- Sent -------------------------------------------------------------------------------


async def test_due_message_is_sent_and_marked_sent(env: Env) -> None:
    chat = env.chat("100")
    env.enqueue(chat, "a")
    sink = FakeSink()

    report = await env.delivery({TG: sink}).drain(T0)

    assert sink.sent == [(chat.key, text("a"))]
    entry = env.entry("a")
    assert entry.status is OutboxStatus.SENT
    assert entry.sent_at == T0
    assert entry.attempts == 1
    assert entry.last_error is None
    assert (report.sent, report.retrying, report.failed, report.handled) == (1, 0, 0, 1)
    assert report.errors == []


async def test_sent_message_is_never_claimed_again(env: Env) -> None:
    chat = env.chat("100")
    env.enqueue(chat, "a")
    sink = FakeSink()
    delivery = env.delivery({TG: sink})

    await delivery.drain(T0)
    later = [await delivery.drain(T0 + step) for step in (TICK, DEFAULT_CLAIM, timedelta(days=30))]

    assert len(sink.sent) == 1
    assert all(r.handled == 0 for r in later)
    assert env.entry("a").attempts == 1


async def test_message_is_not_sent_before_it_is_due(env: Env) -> None:
    chat = env.chat("100")
    env.enqueue(chat, "a", at=T0 + timedelta(minutes=1))
    sink = FakeSink()
    delivery = env.delivery({TG: sink})

    report = await delivery.drain(T0 + timedelta(minutes=1) - TICK)

    assert report.handled == 0
    assert sink.sent == []
    assert env.entry("a").status is OutboxStatus.PENDING
    assert env.entry("a").attempts == 0
    await delivery.drain(T0 + timedelta(minutes=1))
    assert env.entry("a").status is OutboxStatus.SENT


async def test_entry_is_claimed_with_the_lease_before_it_is_sent(env: Env) -> None:
    chat = env.chat("100")
    env.enqueue(chat, "a")
    seen: list[OutboxRecord] = []

    class PeekingSink:
        async def send(
            self, chat: ChatKey, document: Document, attachment: bytes | None = None, **_: object
        ) -> SendOutcome:
            seen.append(env.entry("a"))
            return Sent()

    lease = timedelta(minutes=7)
    await env.delivery({TG: PeekingSink()}, claim_for=lease).drain(T0)

    assert len(seen) == 1
    assert seen[0].status is OutboxStatus.SENDING
    assert seen[0].attempts == 1
    assert seen[0].next_attempt_at == T0 + lease


async def test_batch_limits_one_drain_oldest_due_first(env: Env) -> None:
    chat = env.chat("100")
    env.enqueue(chat, "late", at=T0 + timedelta(seconds=2))
    env.enqueue(chat, "early", at=T0)
    env.enqueue(chat, "middle", at=T0 + timedelta(seconds=1))
    sink = FakeSink()
    delivery = env.delivery({TG: sink}, batch=2)

    first = await delivery.drain(T0 + timedelta(seconds=5))

    assert first.sent == 2
    assert [payload for _, payload in sink.sent] == [text("early"), text("middle")]
    assert env.entry("late").status is OutboxStatus.PENDING
    await delivery.drain(T0 + timedelta(seconds=5))
    assert [payload for _, payload in sink.sent][2:] == [text("late")]


# --- RetryAfter -------------------------------------------------------------------------


async def test_retry_after_waits_for_the_platform_then_delivers(env: Env) -> None:
    chat = env.chat("100")
    env.enqueue(chat, "a")
    sink = FakeSink([RetryAfter(90)])
    delivery = env.delivery({TG: sink})

    report = await delivery.drain(T0)

    entry = env.entry("a")
    assert entry.status is OutboxStatus.PENDING
    assert entry.next_attempt_at == T0 + timedelta(seconds=90)
    assert entry.last_error is not None
    assert "90" in entry.last_error
    assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
    assert report.errors == ["telegram:100: RetryAfter"]

    early = await delivery.drain(T0 + timedelta(seconds=90) - TICK)
    assert early.handled == 0
    assert len(sink.sent) == 1

    done = await delivery.drain(T0 + timedelta(seconds=90))
    assert done.sent == 1
    assert sink.sent == [(chat.key, text("a"))] * 2
    assert env.entry("a").status is OutboxStatus.SENT
    assert env.entry("a").attempts == 2


async def test_short_retry_after_still_honours_the_back_off(env: Env) -> None:
    """Per ``OutboxStore.mark_failed``: retry after the back-off *and* not before ``not_before``."""
    chat = env.chat("100")
    env.enqueue(chat, "a")
    await env.delivery({TG: FakeSink([RetryAfter(0.5)])}).drain(T0)

    assert env.entry("a").next_attempt_at == T0 + POLICY.base_delay


# --- Transient --------------------------------------------------------------------------


async def test_transient_backs_off_by_policy_then_gives_up(env: Env) -> None:
    chat = env.chat("100")
    env.enqueue(chat, "a")
    sink = FakeSink([Transient(f"502 bad gateway #{n}") for n in range(1, 5)])
    delivery = env.delivery({TG: sink})

    now = T0
    for attempt, delay in enumerate((10, 30, 60), start=1):  # 90 s is capped at max_delay
        report = await delivery.drain(now)
        entry = env.entry("a")
        assert report.retrying == 1, attempt
        assert entry.status is OutboxStatus.PENDING
        assert entry.attempts == attempt
        assert entry.last_error == f"502 bad gateway #{attempt}"
        assert entry.next_attempt_at == now + timedelta(seconds=delay)
        assert (await delivery.drain(entry.next_attempt_at - TICK)).handled == 0
        now = entry.next_attempt_at

    last = await delivery.drain(now)

    entry = env.entry("a")
    assert (last.failed, last.retrying) == (1, 0)
    assert entry.status is OutboxStatus.FAILED
    assert entry.attempts == POLICY.max_attempts
    assert entry.last_error == "502 bad gateway #4"
    assert len(sink.sent) == POLICY.max_attempts
    assert (await delivery.drain(now + timedelta(days=1))).handled == 0
    assert len(sink.sent) == POLICY.max_attempts


async def test_transient_then_success_is_sent(env: Env) -> None:
    chat = env.chat("100")
    env.enqueue(chat, "a")
    sink = FakeSink([Transient("timeout")])
    delivery = env.delivery({TG: sink})

    await delivery.drain(T0)
    await delivery.drain(T0 + POLICY.base_delay)

    entry = env.entry("a")
    assert entry.status is OutboxStatus.SENT
    assert entry.sent_at == T0 + POLICY.base_delay
    assert entry.attempts == 2


# --- ChatGone ---------------------------------------------------------------------------


async def test_chat_gone_disables_the_chat_and_drops_the_message(env: Env) -> None:
    gone, other = env.chat("100"), env.chat("200")
    env.enqueue(gone, "a")
    env.enqueue(other, "b")
    sink = ScriptedSink({"100": [ChatGone("Forbidden: bot was blocked by the user")]})
    delivery = env.delivery({TG: sink})

    report = await delivery.drain(T0)

    entry = env.entry("a")
    assert entry.status is OutboxStatus.FAILED  # permanently, with attempts to spare
    assert entry.attempts == 1 < POLICY.max_attempts
    assert entry.last_error == "Forbidden: bot was blocked by the user"
    assert env.stored_chat(gone).enabled is False
    assert env.stored_chat(other).enabled is True
    assert env.entry("b").status is OutboxStatus.SENT
    assert (report.sent, report.failed, report.chats_disabled) == (1, 1, 1)
    assert (await delivery.drain(T0 + timedelta(days=1))).handled == 0
    assert len(sink.sent) == 2


async def test_chat_gone_stops_the_rest_of_that_chats_queue_in_the_same_drain(env: Env) -> None:
    gone = env.chat("100")
    env.enqueue(gone, "a", "b", "c")
    sink = ScriptedSink({"100": [ChatGone("Forbidden: bot was kicked")]})

    await env.delivery({TG: sink}).drain(T0)

    assert sink.sent == [(gone.key, text("a"))]
    assert {env.entry(k).status for k in "bc"}.isdisjoint({OutboxStatus.SENT, OutboxStatus.SENDING})


async def test_chat_gone_stops_that_chats_later_messages(env: Env) -> None:
    gone = env.chat("100")
    env.enqueue(gone, "a")
    env.enqueue(gone, "later", at=T0 + timedelta(minutes=1))  # enqueued before the chat went away
    sink = ScriptedSink({"100": [ChatGone("Forbidden: bot was kicked")]})
    delivery = env.delivery({TG: sink})

    await delivery.drain(T0)
    await delivery.drain(T0 + timedelta(minutes=1))

    assert sink.sent == [(gone.key, text("a"))]
    assert env.entry("later").status is not OutboxStatus.SENT


# --- ChatMoved --------------------------------------------------------------------------


async def test_chat_moved_updates_the_chat_and_resends_in_the_same_drain(env: Env) -> None:
    chat = env.chat("-100")
    new_key = ChatKey(TG, "-1009999")
    env.enqueue(chat, "a")
    sink = FakeSink([ChatMoved(new_key)])

    report = await env.delivery({TG: sink}).drain(T0)

    assert sink.sent == [(chat.key, text("a")), (new_key, text("a"))]
    assert env.stored_chat(chat).key == new_key
    assert env.chats.get_chat(chat.key) is None
    entry = env.entry("a")
    assert entry.status is OutboxStatus.SENT
    assert entry.chat == new_key
    assert entry.attempts == 1
    assert (report.sent, report.chats_moved, report.retrying, report.failed) == (1, 1, 0, 0)


async def test_chat_moved_then_failure_retries_at_the_new_address(env: Env) -> None:
    chat = env.chat("-100")
    new_key = ChatKey(TG, "-1009999")
    env.enqueue(chat, "a")
    sink = FakeSink([ChatMoved(new_key), Transient("timeout")])
    delivery = env.delivery({TG: sink})

    first = await delivery.drain(T0)
    await delivery.drain(T0 + POLICY.base_delay)

    assert (first.chats_moved, first.retrying) == (1, 1)
    assert sink.sent == [(chat.key, text("a")), (new_key, text("a")), (new_key, text("a"))]
    assert env.entry("a").status is OutboxStatus.SENT


async def test_chat_moved_twice_in_a_row_is_retried_later(env: Env) -> None:
    chat = env.chat("-100")
    env.enqueue(chat, "a")
    sink = FakeSink([ChatMoved(ChatKey(TG, "-1001")), ChatMoved(ChatKey(TG, "-1002"))])

    report = await env.delivery({TG: sink}).drain(T0)

    entry = env.entry("a")
    assert entry.status is OutboxStatus.PENDING
    assert entry.last_error == "chat moved twice in a row"
    assert entry.next_attempt_at == T0 + POLICY.base_delay
    assert report.retrying == 1


async def test_chat_moved_onto_a_known_chat_does_not_break_the_drain(env: Env) -> None:
    old, already_there, bystander = env.chat("-100"), env.chat("-1009999"), env.chat("200")
    env.enqueue(old, "a")
    env.enqueue(bystander, "b")
    sink = ScriptedSink({"-100": [ChatMoved(already_there.key)]})

    report = await env.delivery({TG: sink}).drain(T0)

    assert isinstance(report, DeliveryReport)
    assert env.entry("b").status is OutboxStatus.SENT
    assert env.entry("a").status is not OutboxStatus.SENDING


# --- Rejected ---------------------------------------------------------------------------


async def test_rejected_fails_permanently_with_the_error(env: Env) -> None:
    chat = env.chat("100")
    env.enqueue(chat, "a")
    sink = FakeSink([Rejected("Bad Request: message is too long")])
    delivery = env.delivery({TG: sink})

    report = await delivery.drain(T0)

    entry = env.entry("a")
    assert entry.status is OutboxStatus.FAILED
    assert entry.attempts == 1
    assert entry.last_error == "Bad Request: message is too long"
    assert entry.sent_at is None
    assert (report.failed, report.retrying, report.chats_disabled) == (1, 0, 0)
    assert report.errors == ["telegram:100: Rejected"]
    assert env.stored_chat(chat).enabled is True
    assert (await delivery.drain(T0 + timedelta(days=1))).handled == 0
    assert len(sink.sent) == 1


async def test_long_errors_are_truncated(env: Env) -> None:
    chat = env.chat("100")
    env.enqueue(chat, "a")

    await env.delivery({TG: FakeSink([Rejected("x" * 5000)])}).drain(T0)

    assert env.entry("a").last_error == "x" * 500


# --- a sink that raises -----------------------------------------------------------------


async def test_sink_exception_is_transient_and_other_chats_are_served(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    broken, fine, fine_too = env.chat("100"), env.chat("200"), env.chat("300")
    env.enqueue(broken, "a")
    env.enqueue(fine, "b")
    env.enqueue(fine_too, "c")
    sink = ScriptedSink({"100": [RuntimeError("kaput")]})
    delivery = env.delivery({TG: sink})

    report = await delivery.drain(T0)

    entry = env.entry("a")
    assert entry.status is OutboxStatus.PENDING
    assert entry.last_error == "RuntimeError: kaput"
    assert entry.next_attempt_at == T0 + POLICY.base_delay
    assert env.entry("b").status is OutboxStatus.SENT
    assert env.entry("c").status is OutboxStatus.SENT
    assert (report.sent, report.retrying, report.failed) == (2, 1, 0)
    assert any("raised" in r.getMessage() for r in caplog.records)

    await delivery.drain(T0 + POLICY.base_delay)
    assert env.entry("a").status is OutboxStatus.SENT


async def test_sink_that_always_raises_gives_up_after_max_attempts(env: Env) -> None:
    chat = env.chat("100")
    env.enqueue(chat, "a")
    sink = ScriptedSink({"100": [ConnectionError("reset")] * POLICY.max_attempts})
    delivery = env.delivery({TG: sink})

    now = T0
    for _ in range(POLICY.max_attempts):
        await delivery.drain(now)
        now += timedelta(hours=1)

    entry = env.entry("a")
    assert entry.status is OutboxStatus.FAILED
    assert entry.last_error == "ConnectionError: reset"
    assert len(sink.sent) == POLICY.max_attempts


# --- platforms --------------------------------------------------------------------------


async def test_only_platforms_with_a_sink_are_claimed(env: Env) -> None:
    tg, dc = env.chat("100", TG), env.chat("100", DC)
    env.enqueue(tg, "tg")
    env.enqueue(dc, "dc")
    sink = FakeSink()

    report = await env.delivery({TG: sink}).drain(T0)

    assert report.sent == 1
    assert sink.sent == [(tg.key, text("tg"))]
    untouched = env.entry("dc")
    assert untouched.status is OutboxStatus.PENDING
    assert untouched.attempts == 0
    assert untouched.next_attempt_at == T0

    discord = FakeSink()
    await env.delivery({DC: discord}).drain(T0)
    assert discord.sent == [(dc.key, text("dc"))]
    assert env.entry("dc").attempts == 1


async def test_without_sinks_nothing_is_claimed(env: Env) -> None:
    env.enqueue(env.chat("100"), "a")

    report = await env.delivery({}).drain(T0)

    assert report.handled == 0
    assert env.entry("a").status is OutboxStatus.PENDING
    assert env.entry("a").attempts == 0


async def test_each_platform_goes_through_its_own_sink(env: Env) -> None:
    tg, dc = env.chat("1", TG), env.chat("2", DC)
    env.enqueue(tg, "tg")
    env.enqueue(dc, "dc")
    telegram, discord = FakeSink(), FakeSink([Transient("discord 503")])

    report = await env.delivery({TG: telegram, DC: discord}).drain(T0)

    assert telegram.sent == [(tg.key, text("tg"))]
    assert discord.sent == [(dc.key, text("dc"))]
    assert (report.sent, report.retrying) == (1, 1)
    assert env.entry("dc").last_error == "discord 503"


# --- ordering and concurrency -----------------------------------------------------------


async def test_one_chat_at_a_time_in_order_different_chats_concurrently(env: Env) -> None:
    chats = [env.chat(str(100 * n)) for n in (1, 2, 3)]
    for chat in chats:
        for i in range(3):
            # Same due time for all; enqueue order (the id) breaks the tie.
            env.enqueue(chat, f"{chat.key.chat_id}-{i}")
    sink = SlowSink()

    report = await env.delivery({TG: sink}).drain(T0)

    assert report.sent == 9
    for chat in chats:
        assert sink.max_per_chat[chat.key] == 1
        assert sink.order[chat.key] == [text(f"{chat.key.chat_id}-{i}") for i in range(3)]
    assert sink.max_total == len(chats)


async def test_per_chat_order_follows_due_time(env: Env) -> None:
    chat = env.chat("100")
    env.enqueue(chat, "second", at=T0 + timedelta(seconds=2))
    env.enqueue(chat, "first", at=T0 + timedelta(seconds=1))
    sink = SlowSink(delay=0)

    await env.delivery({TG: sink}).drain(T0 + timedelta(seconds=5))

    assert sink.order[chat.key] == [text("first"), text("second")]


async def test_concurrency_limit_caps_chats_served_at_once(env: Env) -> None:
    for n in range(5):
        env.enqueue(env.chat(str(n + 1)), f"m{n}")
    sink = SlowSink()

    report = await env.delivery({TG: sink}, concurrency=2).drain(T0)

    assert report.sent == 5
    assert sink.max_total == 2


# --- claims -----------------------------------------------------------------------------


async def test_claimed_but_never_marked_is_delivered_again_after_the_lease(env: Env) -> None:
    chat = env.chat("100")
    env.enqueue(chat, "a")
    hanging = HangingSink()
    crashed = env.delivery({TG: hanging})

    with pytest.raises(TimeoutError):  # the process dies mid-send
        await asyncio.wait_for(crashed.drain(T0), timeout=0.05)
    assert hanging.started.is_set()
    assert env.entry("a").status is OutboxStatus.SENDING

    sink = FakeSink()
    restarted = env.delivery({TG: sink})
    assert (await restarted.drain(T0 + DEFAULT_CLAIM - TICK)).handled == 0
    assert sink.sent == []

    report = await restarted.drain(T0 + DEFAULT_CLAIM)

    assert report.sent == 1
    assert sink.sent == [(chat.key, text("a"))]
    entry = env.entry("a")
    assert entry.status is OutboxStatus.SENT
    assert entry.attempts == 2


async def test_expired_lease_counts_towards_max_attempts(env: Env) -> None:
    chat = env.chat("100")
    env.enqueue(chat, "a")
    lease = timedelta(minutes=1)
    for n in range(POLICY.max_attempts - 1):  # claimed by processes that all crashed
        env.outbox.claim_due(T0 + n * lease, limit=10, claim_for=lease)
    sink = FakeSink([Transient("timeout")])

    await env.delivery({TG: sink}, claim_for=lease).drain(T0 + POLICY.max_attempts * lease)

    entry = env.entry("a")
    assert entry.attempts == POLICY.max_attempts
    assert entry.status is OutboxStatus.FAILED


async def test_drain_backlog_keeps_going_while_whole_batches_come_back(env: Env) -> None:
    chats = [env.chat(f"c{k}") for k in range(35)]
    for chat in chats:
        env.enqueue(chat, f"k-{chat.key.chat_id}")
    sink = FakeSink()
    report = await env.delivery({TG: sink}, batch=10).drain_backlog(lambda: T0)
    assert report.sent == 35
    assert len(sink.sent) == 35


async def test_drain_backlog_stops_when_only_retries_are_left(env: Env) -> None:
    chat = env.chat("flaky")
    env.enqueue(chat, "a", "b")
    sink = ScriptedSink({"flaky": [Transient("down"), Transient("down")]})
    report = await env.delivery({TG: sink}, batch=2).drain_backlog(lambda: T0)
    assert report.retrying == 2  # not re-claimed at the same instant: they wait for their back-off
    assert len(sink.sent) == 2


class GatedSink:
    """Holds each send to a chat named in ``gates`` until that gate opens; records per chat."""

    def __init__(self, gates: dict[str, asyncio.Event]) -> None:
        self.gates = gates
        self.order: dict[str, list[Document]] = defaultdict(list)
        self.done: list[str] = []
        self._in_flight: Counter[str] = Counter()
        self.max_per_chat: Counter[str] = Counter()

    async def send(
        self, chat: ChatKey, document: Document, attachment: bytes | None = None, **_: object
    ) -> SendOutcome:
        key = chat.chat_id
        self.order[key].append(document)
        self._in_flight[key] += 1
        self.max_per_chat[key] = max(self.max_per_chat[key], self._in_flight[key])
        try:
            gate = self.gates.get(key)
            if gate is not None:
                await gate.wait()
        finally:
            self._in_flight[key] -= 1
        self.done.append(key)
        return Sent()


async def test_drain_backlog_claims_the_next_batch_while_a_slow_send_is_still_out(env: Env) -> None:
    for name in ("slow", "c1", "c2", "c3"):
        env.enqueue(env.chat(name), f"m-{name}")
    release = asyncio.Event()
    sink = GatedSink({"slow": release})
    draining = asyncio.ensure_future(env.delivery({TG: sink}, batch=2).drain_backlog(lambda: T0))
    try:
        # Batch 1 is slow and c1; c2 and c3 come in batch 2, sent while slow's answer is out.
        await wait_for(lambda: {"c1", "c2", "c3"} <= set(sink.done))
        assert "slow" not in sink.done
    finally:
        release.set()
    report = await draining
    assert report.sent == 4
    assert sorted(sink.done) == ["c1", "c2", "c3", "slow"]


async def test_a_chat_in_two_overlapping_batches_gets_one_message_at_a_time_in_order(env: Env) -> None:
    a, b, c = env.chat("a"), env.chat("b"), env.chat("c")
    env.enqueue(a, "a1")
    env.enqueue(b, "b1")
    env.enqueue(a, "a2")  # claimed in the second batch while a1 is still out
    env.enqueue(c, "c1")
    release = asyncio.Event()
    sink = GatedSink({"a": release})
    draining = asyncio.ensure_future(env.delivery({TG: sink}, batch=2).drain_backlog(lambda: T0))
    try:
        await wait_for(lambda: "c" in sink.done)  # the second batch is under way
        assert sink.order["a"] == [text("a1")]  # a2 waits for a1
    finally:
        release.set()
    report = await draining
    assert report.sent == 4
    assert sink.order["a"] == [text("a1"), text("a2")]
    assert sink.max_per_chat["a"] == 1
    assert env.entry("a2").status is OutboxStatus.SENT


# --- messages in several parts ------------------------------------------------------------


class Hang:
    """A fault for ``PartsSink``: the platform accepts the part, then the process dies
    before the part is reported (a kill -9 between Telegram's answer and the progress write)."""


HANG = Hang()
PartFault = SendOutcome | Hang | None


class PartsSink:
    """A platform taking a message as parts (one per paragraph of the document), one call per part.

    ``faults`` answer part calls in order: ``None`` accepts the part, an outcome refuses it,
    ``HANG`` accepts it and never returns. ``accepted`` is what the platform shows, in order.
    """

    def __init__(self, faults: Iterable[PartFault] = ()) -> None:
        self.accepted: list[tuple[ChatKey, str]] = []
        self.starts: list[int] = []
        self.hanging = asyncio.Event()
        self._faults = list(faults)

    async def send(
        self,
        chat: ChatKey,
        document: Document,
        attachment: bytes | None = None,
        *,
        start: int = 0,
        on_part: PartAccepted | None = None,
    ) -> SendOutcome:
        self.starts.append(start)
        parts = [block.text for block in document.blocks if isinstance(block, Paragraph)]
        for k in range(start, len(parts)):
            fault = self._faults.pop(0) if self._faults else None
            if isinstance(fault, Hang):
                self.accepted.append((chat, parts[k]))
                self.hanging.set()
                await asyncio.Event().wait()
            if fault is not None:
                return fault  # type: ignore[return-value]
            self.accepted.append((chat, parts[k]))
            if on_part is not None:
                await on_part(k + 1)
        return Sent()


def parts_message(env: Env, chat: Chat, key: str, parts: int) -> list[str]:
    texts = [f"{key} part {k + 1}" for k in range(parts)]
    env.outbox.enqueue([OutboxMessage(key, chat.ref, Document("", tuple(Paragraph(t) for t in texts)), T0)])
    return texts


async def test_a_failure_on_a_later_part_resumes_at_that_part(env: Env) -> None:
    chat = env.chat("-100")
    parts = parts_message(env, chat, "digest", 4)
    sink = PartsSink([None, Transient("502 Bad Gateway")])

    first = await env.delivery({TG: sink}).drain(T0)

    assert first.retrying == 1
    assert [p for _, p in sink.accepted] == parts[:1]
    entry = env.entry("digest")
    assert (entry.status, entry.parts_sent) == (OutboxStatus.PENDING, 1)

    second = await env.delivery({TG: sink}).drain(T0 + timedelta(minutes=5))

    assert second.sent == 1
    assert sink.starts == [0, 1]  # the retry started at the part that failed
    assert [p for _, p in sink.accepted] == parts  # each part once, in order
    entry = env.entry("digest")
    assert (entry.status, entry.parts_sent) == (OutboxStatus.SENT, 4)


async def test_a_rate_limit_on_a_later_part_waits_then_resumes_there(env: Env) -> None:
    chat = env.chat("-100")
    parts = parts_message(env, chat, "digest", 2)
    sink = PartsSink([None, RetryAfter(120)])

    await env.delivery({TG: sink}).drain(T0)
    assert env.entry("digest").next_attempt_at == T0 + timedelta(seconds=120)
    assert (await env.delivery({TG: sink}).drain(T0 + timedelta(seconds=119))).handled == 0
    await env.delivery({TG: sink}).drain(T0 + timedelta(seconds=120))

    assert [p for _, p in sink.accepted] == parts
    assert env.entry("digest").status is OutboxStatus.SENT


async def test_progress_is_stored_before_the_next_part_goes_out(env: Env) -> None:
    chat = env.chat("-100")
    parts_message(env, chat, "digest", 3)
    stored: list[int] = []

    class Watching(PartsSink):
        async def send(
            self, chat: ChatKey, document: Document, attachment: bytes | None = None, **kw: Any
        ) -> SendOutcome:
            on_part = kw.pop("on_part")

            async def accepted(n: int) -> None:
                await on_part(n)
                stored.append(env.entry("digest").parts_sent)  # already in the store

            return await super().send(chat, document, attachment, on_part=accepted, **kw)

    await env.delivery({TG: Watching()}).drain(T0)
    assert stored == [1, 2, 3]


async def test_each_parts_progress_is_stored_off_the_event_loop(env: Env) -> None:
    # On the loop's thread a wait for the database (a cycle's transaction holding SQLite's
    # write lock) would stall every command and send meanwhile.
    chat = env.chat("-100")
    parts_message(env, chat, "digest", 3)
    loop_thread = threading.current_thread()
    stored_on: list[bool] = []
    store = env.outbox.mark_progress

    def watched(entry_id: int, parts_sent: int) -> None:
        stored_on.append(threading.current_thread() is loop_thread)
        store(entry_id, parts_sent)

    env.outbox.mark_progress = watched  # type: ignore[method-assign]
    await env.delivery({TG: PartsSink()}).drain(T0)
    assert stored_on == [False, False, False]
    assert env.entry("digest").parts_sent == 3


async def test_a_crash_between_parts_repeats_at_most_the_part_in_flight(env: Env) -> None:
    chat = env.chat("-100")
    parts = parts_message(env, chat, "digest", 4)
    sink = PartsSink([None, HANG])  # part 2 accepted, then kill -9 before it was recorded
    crashed = asyncio.create_task(env.delivery({TG: sink}).drain(T0))
    await sink.hanging.wait()
    crashed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await crashed
    assert env.entry("digest").parts_sent == 1  # part 1 was recorded

    await env.delivery({TG: sink}).drain(T0 + DEFAULT_CLAIM)

    shown = [p for _, p in sink.accepted]
    assert shown == [parts[0], parts[1], parts[1], parts[2], parts[3]]  # part 2 once more, no other
    assert env.entry("digest").status is OutboxStatus.SENT


async def test_every_part_accepted_but_not_marked_sent_sends_nothing_again(env: Env) -> None:
    chat = env.chat("-100")
    parts = parts_message(env, chat, "digest", 2)
    (claimed,) = env.outbox.claim_due(T0, limit=1, claim_for=DEFAULT_CLAIM)
    env.outbox.mark_progress(claimed.id, 2)  # then the process died before mark_sent
    sink = PartsSink()

    report = await env.delivery({TG: sink}).drain(T0 + DEFAULT_CLAIM)

    assert report.sent == 1
    assert sink.starts == [2]
    assert sink.accepted == []
    assert parts  # (the two parts went out before the crash)


async def test_a_chat_moved_on_a_later_part_resumes_there_at_the_new_address(env: Env) -> None:
    chat = env.chat("-100")
    new_key = ChatKey(TG, "-1009999")
    parts = parts_message(env, chat, "digest", 3)
    sink = PartsSink([None, ChatMoved(new_key)])

    report = await env.delivery({TG: sink}).drain(T0)

    assert (report.sent, report.chats_moved) == (1, 1)
    assert sink.accepted == [(chat.key, parts[0]), (new_key, parts[1]), (new_key, parts[2])]
    assert sink.starts == [0, 1]


async def test_progress_that_cannot_be_stored_stops_the_message(env: Env) -> None:
    chat = env.chat("-100")
    parts = parts_message(env, chat, "digest", 3)

    class Failing(FakeOutboxStore):
        def mark_progress(self, entry_id: int, parts_sent: int) -> None:
            raise StorageError("database is locked")

    outbox = Failing(env.chats)
    outbox.entries, env.outbox = env.outbox.entries, outbox
    sink = PartsSink()

    report = await env.delivery({TG: sink}).drain(T0)

    assert report.retrying == 1
    assert [p for _, p in sink.accepted] == parts[:1]  # not part 2 while part 1 is unrecorded
    assert env.entry("digest").status is OutboxStatus.PENDING


FAULTS = st.one_of(
    st.none(),
    st.none(),
    st.sampled_from([Transient("502 Bad Gateway"), Transient("ConnectError"), RetryAfter(3)]),
    st.builds(lambda n: ChatMoved(ChatKey(TG, f"-100{n}")), st.integers(0, 3)),
)


@given(parts=st.integers(1, 5), faults=st.lists(FAULTS, max_size=12))
@settings(max_examples=200, deadline=None)
def test_any_per_part_faults_deliver_every_part_once_in_order(parts: int, faults: list[PartFault]) -> None:
    env = Env()
    chat = env.chat("-100")
    texts = parts_message(env, chat, "m", parts)
    sink = PartsSink(faults)
    delivery = Delivery(env.outbox, env.chats, {TG: sink}, RetryPolicy(max_attempts=100))
    now = T0
    for _ in range(len(faults) + 1):  # each attempt uses up at least one fault
        asyncio.run(delivery.drain(now))
        now += timedelta(hours=2)
    assert env.entry("m").status is OutboxStatus.SENT
    assert [p for _, p in sink.accepted] == texts


# --- reads: one per chat and drain, not one per message ------------------------------------


class CountingChats(FakeChatStore):
    """Counts ``chat_by_ref`` reads per chat."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: Counter[int] = Counter()

    def chat_by_ref(self, ref: int) -> Chat | None:
        self.reads[ref] += 1
        return super().chat_by_ref(ref)


async def test_a_chat_with_several_messages_is_read_once_per_drain() -> None:
    # With several venues a chat gets one alert per venue per cycle: each read was on the loop.
    env = Env(chats=CountingChats())
    chat, other = env.chat("100"), env.chat("200")
    env.enqueue(chat, "binance", "bybit", "okx", "all")
    env.enqueue(other, "one")
    sink = FakeSink()
    report = await env.delivery({TG: sink}).drain(T0)
    assert report.sent == 5
    assert isinstance(env.chats, CountingChats)
    assert env.chats.reads == Counter({chat.ref: 1, other.ref: 1})


async def test_a_chat_is_read_again_after_it_moved_and_its_later_messages_follow_it() -> None:
    env = Env(chats=CountingChats())
    chat = env.chat("-100")
    new_key = ChatKey(TG, "-1009999")
    env.enqueue(chat, "a", "b", "c")
    sink = FakeSink([ChatMoved(new_key)])
    report = await env.delivery({TG: sink}).drain(T0)
    assert sink.sent == [
        (chat.key, text("a")),
        (new_key, text("a")),
        (new_key, text("b")),
        (new_key, text("c")),
    ]
    assert report.sent == 3
    assert isinstance(env.chats, CountingChats)
    assert env.chats.reads[chat.ref] == 3  # the lane's first, the move's own, then the moved chat
