"""``Prepared``: a value made off the loop, swapped in whole; the previous one answers meanwhile."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading

import pytest

from bot.web.prepared import Prepared
from tests.waiting import wait_for


async def test_the_previous_value_answers_while_the_next_is_prepared() -> None:
    entered, release = threading.Event(), threading.Event()
    values = iter(["first", "second"])

    def prepare(previous: str | None) -> str | None:
        if previous is not None:  # the second preparation waits until the test lets it go
            entered.set()
            release.wait(timeout=60)
        return next(values)

    made = Prepared(prepare)
    await made.refresh()
    assert made.current == "first"
    refreshing = asyncio.create_task(made.refresh())
    try:
        await wait_for(entered.is_set, "the second preparation to start")
        assert made.current == "first"  # not None, not half of anything: the previous value
        assert made.prepared == 1
    finally:
        release.set()
    await refreshing
    assert (made.current, made.prepared) == ("second", 2)


async def test_nothing_new_keeps_the_current_value() -> None:
    made = Prepared(lambda previous: "kept" if previous is None else None)
    await made.refresh()
    await made.refresh()
    assert (made.current, made.prepared) == ("kept", 1)


async def test_a_failed_preparation_keeps_the_value_and_is_logged_once_until_it_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcomes: list[str | Exception] = ["good", OSError("disk"), OSError("disk"), "better", OSError("again")]

    def prepare(previous: str | None) -> str | None:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    made = Prepared(prepare)
    with caplog.at_level(logging.WARNING, logger="bot.web.prepared"):
        for _ in range(3):
            await made.refresh()
        assert made.current == "good"
        assert len(caplog.records) == 1
        await made.refresh()
        assert made.current == "better"
        await made.refresh()
    assert made.current == "better"
    assert len(caplog.records) == 2


async def test_run_prepares_again_without_being_asked() -> None:
    calls = 0

    def prepare(previous: int | None) -> int:
        nonlocal calls
        calls += 1
        return calls

    made = Prepared(prepare, every_s=0.001)
    running = asyncio.create_task(made.run())
    try:
        await wait_for(lambda: made.prepared >= 3, "three preparations")
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert made.current is not None and made.current >= 3


async def test_first_runs_once_when_the_first_value_is_in() -> None:
    outcomes: list[str | Exception | None] = [None, OSError("disk"), "one", None, "two"]
    seen: list[str | None] = []

    def prepare(previous: str | None) -> str | None:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    made: Prepared[str] = Prepared(prepare, first=lambda: seen.append(made.current))
    for _ in range(2):  # nothing to show yet, then a failure: no first value
        await made.refresh()
    assert seen == []
    for _ in range(3):
        await made.refresh()
    assert seen == ["one"]  # once, with the value already in place
    assert made.current == "two"


async def test_the_garbage_collector_is_held_off_while_a_value_is_prepared() -> None:
    seen: list[bool] = []

    def prepare(previous: bool | None) -> bool:
        seen.append(gc.isenabled())
        return True

    assert gc.isenabled()
    await Prepared(prepare).refresh()
    assert seen == [False]
    assert gc.isenabled()  # and back on after it
