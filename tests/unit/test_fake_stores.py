"""The in-memory fakes honour the store contract, plus the fakes' own extras."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.document import Document
from bot.core.records import ChatKey, OutboxMessage, Platform, RetryPolicy
from bot.core.send_outcome import RetryAfter, Sent
from tests.fakes import EPOCH, FakeClock, FakeSink, FakeStorage
from tests.fakes.contract import CHECKS, Stores, note


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
def test_fakes_honour_the_store_contract(check: Callable[[Stores], None]) -> None:
    check(FakeStorage())


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock()
    assert clock.now() == EPOCH and clock.now() == EPOCH
    assert clock.advance(timedelta(minutes=5)) == EPOCH + timedelta(minutes=5)
    clock.set(datetime(2030, 1, 1, tzinfo=UTC))
    assert clock.now().year == 2030
    with pytest.raises(ValueError, match="aware"):
        FakeClock(datetime(2030, 1, 1))  # noqa: DTZ001 - the point of the test


def test_retry_policy_backs_off_exponentially_up_to_its_cap() -> None:
    policy = RetryPolicy(base_delay=timedelta(seconds=10), factor=3, max_delay=timedelta(minutes=2))
    waits = [policy.delay_after(n).total_seconds() for n in range(1, 6)]
    assert waits == [10, 30, 90, 120, 120]
    huge = RetryPolicy(factor=1e300, max_delay=timedelta(days=1))
    assert huge.delay_after(10_000) == timedelta(days=1)  # no overflow on the way
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(max_attempts=0)


def test_an_outbox_message_counts_one_event_unless_told_otherwise() -> None:
    message = OutboxMessage("k", 1, note("BTCUSDT lean → stretched"), EPOCH)
    assert message.event_count == 1
    assert OutboxMessage("k", 1, note("notice"), EPOCH, event_count=0).event_count == 0
    with pytest.raises(ValueError, match="event_count"):
        OutboxMessage("k", 1, note("hi"), EPOCH, event_count=-1)


async def test_fake_sink_records_sends_and_plays_its_script() -> None:
    sink = FakeSink([RetryAfter(3.0)])
    chat = ChatKey(Platform.DISCORD, "555")
    assert await sink.send(chat, Document("one")) == RetryAfter(3.0)
    assert await sink.send(chat, Document("two")) == Sent()
    assert sink.sent == [(chat, Document("one")), (chat, Document("two"))]
