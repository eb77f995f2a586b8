"""The ccxt client on its own loop, in its own thread: the caller's loop stays free while
the client works, a cancelled call is unwound there first, close leaves no thread."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, datetime

import pytest

from tests.contract.conftest import SourceFactory
from tests.fakes.exchange import FakeExchange
from tests.waiting import DEADLINE_S, wait_for


def client_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("ccxt-")]


class BlockingClock:
    """Monotonic seconds; once armed, the next reading blocks until the test opens it.

    The source reads its clock while it works (the breaker, the exchange's pause), on
    whatever thread runs that work.
    """

    def __init__(self) -> None:
        self.armed = False
        self.entered = threading.Event()
        self.opened = threading.Event()

    def __call__(self) -> float:
        if self.armed:
            self.armed = False
            self.entered.set()
            # The bound only keeps a broken build from hanging: False then fails the test.
            if not self.opened.wait(DEADLINE_S):
                raise AssertionError("the caller's loop never ran while the client worked")
        return time.monotonic()


async def test_the_caller_s_loop_runs_while_the_client_works(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    clock = BlockingClock()
    source = make_source(clock=clock)
    await source.load_universe()

    clock.armed = True
    cycle = asyncio.create_task(source.fetch_cycle(datetime.now(UTC)))
    # Polled from the caller's loop: it ends only if the blocked work is not on this loop
    # (the fake exchange answering on this loop would be stuck as well).
    await wait_for(clock.entered.is_set, "the client to read its clock")
    clock.opened.set()
    report = await cycle

    assert len(report.snapshots) == 6 and report.failures == ()


async def test_close_ends_the_client_s_thread(fake: FakeExchange, make_source: SourceFactory) -> None:
    source = make_source()
    assert client_threads() == []  # built, not used: no thread yet
    await source.fetch_cycle(datetime.now(UTC))
    assert client_threads() == ["ccxt-binanceusdm"]

    await source.close()

    assert client_threads() == []
    await source.close()  # the fixture closes it again: harmless


async def test_a_cancelled_cycle_unwinds_its_requests_then_closes_cleanly(
    fake: FakeExchange, make_source: SourceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    source = make_source()
    await source.load_universe()
    fake.inject("openInterest", "delay", delay_s=DEADLINE_S)  # every OI request hangs

    cycle = asyncio.create_task(source.fetch_cycle(datetime.now(UTC)))
    await wait_for(lambda: fake.calls("openInterest"), "an OI request to reach the fake")
    cycle.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cycle
    await source.close()

    assert client_threads() == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    with pytest.raises(RuntimeError, match="closed"):
        await source.fetch_cycle(datetime.now(UTC))
