"""A loop in its own thread: the caller's loop runs meanwhile; results, errors, context and
cancellation come back as the awaiting task expects; close leaves no thread behind."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator

import pytest

from bot.collector.loop_thread import LoopThread
from tests.waiting import DEADLINE_S, behind_queued, wait_for

ASKED: contextvars.ContextVar[str] = contextvars.ContextVar("asked", default="nobody")


async def until_cancelled() -> None:
    """Wait on a future nothing resolves: the work ends only by cancellation."""
    await asyncio.get_running_loop().create_future()


def alive(name: str) -> bool:
    return any(t.name == name for t in threading.enumerate())


class Gate:
    """Work that blocks its loop's thread until the test opens the gate from its own loop."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.log: list[str] = []

    def block(self) -> None:
        self.entered.set()
        # The bound only keeps a broken build from hanging: False then fails the test.
        if not self.opened.wait(DEADLINE_S):
            raise AssertionError("the caller's loop never ran while the work blocked")


@pytest.fixture
async def hosted() -> AsyncIterator[LoopThread]:
    thread = LoopThread("test-loop")
    yield thread
    await thread.close()
    assert not alive("test-loop")


async def test_the_work_runs_on_another_thread_while_the_caller_s_loop_runs(hosted: LoopThread) -> None:
    gate = Gate()

    async def work() -> tuple[int, str]:
        gate.block()  # blocks the thread's loop, not the caller's
        return 42, threading.current_thread().name

    call = asyncio.create_task(hosted.run(work))
    # This wait polls from the caller's loop: it ends only if that loop is free meanwhile.
    await wait_for(gate.entered.is_set, "the work to start")
    gate.opened.set()
    assert await call == (42, "test-loop")


async def test_the_work_s_exception_is_raised_to_the_awaiting_task(hosted: LoopThread) -> None:
    async def fails() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        await hosted.run(fails)


async def test_the_caller_s_context_variables_reach_the_work(hosted: LoopThread) -> None:
    async def read() -> str:
        return ASKED.get()

    ASKED.set("the cycle")
    assert await hosted.run(read) == "the cycle"


async def test_a_cancelled_call_ends_only_once_its_work_has(hosted: LoopThread) -> None:
    gate = Gate()
    started = threading.Event()

    async def work() -> None:
        started.set()
        try:
            await until_cancelled()
        finally:  # unwinding takes a while, on the thread's loop
            gate.block()
            gate.log.append("work unwound")

    call = asyncio.create_task(hosted.run(work))
    await wait_for(started.is_set, "the work to start")
    call.cancel()
    await wait_for(gate.entered.is_set, "the cancellation to reach the work")
    seen = behind_queued(call.done, gate.opened.set)
    with pytest.raises(asyncio.CancelledError):
        await call
    assert seen == [False]  # the caller was still waiting while the work unwound
    assert gate.log == ["work unwound"]


async def test_a_call_cancelled_twice_still_waits_for_its_work(hosted: LoopThread) -> None:
    gate = Gate()
    started = threading.Event()

    async def work() -> None:
        started.set()
        try:
            await until_cancelled()
        finally:
            gate.block()

    call = asyncio.create_task(hosted.run(work))
    await wait_for(started.is_set, "the work to start")
    call.cancel()
    await wait_for(gate.entered.is_set, "the cancellation to reach the work")
    call.cancel()
    seen = behind_queued(call.done, gate.opened.set)
    with pytest.raises(asyncio.CancelledError):
        await call
    assert seen == [False]


async def test_close_runs_the_last_work_there_and_ends_the_thread() -> None:
    thread = LoopThread("test-close")
    ran_on: list[str] = []

    async def hello() -> None:
        ran_on.append(threading.current_thread().name)

    async def last() -> None:
        ran_on.append(threading.current_thread().name)

    await thread.run(hello)
    assert alive("test-close")
    await thread.close(last)

    assert ran_on == ["test-close", "test-close"]
    assert not alive("test-close")
    await thread.close(last)  # a second close does nothing
    assert len(ran_on) == 2
    with pytest.raises(RuntimeError, match="closed"):
        await thread.run(hello)


async def test_close_cancels_what_is_left_and_its_executor_threads() -> None:
    thread = LoopThread("test-leftovers")
    left: list[asyncio.Task[None]] = []
    cancelled = threading.Event()

    async def leave_a_task() -> threading.Thread:
        async def forever() -> None:
            try:
                await until_cancelled()
            except asyncio.CancelledError:
                cancelled.set()
                raise

        left.append(asyncio.get_running_loop().create_task(forever()))
        # A blocking call in the loop's default executor, as a DNS lookup is.
        return await asyncio.get_running_loop().run_in_executor(None, threading.current_thread)

    before = set(threading.enumerate())
    worker = await thread.run(leave_a_task)
    assert worker.name != "test-leftovers"  # a thread of the loop's executor
    await thread.close()

    assert cancelled.is_set()
    assert set(threading.enumerate()) <= before


async def test_a_call_under_way_when_the_thread_ends_fails_plainly() -> None:
    thread = LoopThread("test-under-way")
    started = threading.Event()

    async def forever() -> None:
        started.set()
        await until_cancelled()

    call = asyncio.create_task(thread.run(forever))
    await wait_for(started.is_set, "the work to start")
    await thread.close()
    # Not a CancelledError: this task was never cancelled, and must not look as if it were.
    with pytest.raises(RuntimeError, match="loop ended"):
        await call


async def test_a_thread_never_used_is_never_started() -> None:
    thread = LoopThread("test-unused")
    await thread.close()
    assert not thread.running and not alive("test-unused")
