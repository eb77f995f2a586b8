"""Blocking work in a worker thread: the event loop runs meanwhile; results, errors and
cancellation come back as the awaiting task expects."""

from __future__ import annotations

import asyncio
import contextvars
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.app.off_loop import SWITCH_INTERVAL_S, off_loop, write_off_loop
from bot.write_patience import write_deadline_now
from tests.waiting import DEADLINE_S, wait_for


def cancel_then_release(gate: Gate, task: asyncio.Task[int], times: int = 1) -> list[bool]:
    """Cancel ``task`` ``times`` times, then open ``gate``, each step a loop callback.

    ``task.cancel()`` queues the task's wake-up before the next callback: a task that ends
    without waiting for its thread (a plain ``asyncio.to_thread``) is done by the time that
    callback runs. The list gets, at each callback, whether the task was done.
    """
    seen: list[bool] = []
    loop = asyncio.get_running_loop()

    def step(left: int) -> None:
        seen.append(task.done())
        if left:
            task.cancel()
            loop.call_soon(step, left - 1)
        else:
            gate.opened.set()

    task.cancel()
    loop.call_soon(step, times - 1)
    return seen


class Gate:
    """Blocking work that runs until the test opens the gate from the event loop."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.log: list[str] = []

    def work(self, value: int) -> int:
        self.entered.set()
        # The bound only keeps a broken build from hanging: False then fails the test.
        if not self.opened.wait(DEADLINE_S):
            raise AssertionError("the event loop never ran while the work blocked")
        self.log.append("thread ended")
        return value * 2


async def test_the_loop_runs_while_the_work_blocks_and_the_result_comes_back() -> None:
    gate = Gate()
    work = asyncio.create_task(off_loop(gate.work, 21))
    # This wait polls from the event loop: it ends only if the loop is free meanwhile.
    await wait_for(gate.entered.is_set, "the work to start")
    gate.opened.set()
    assert await work == 42


async def test_the_work_s_exception_is_raised_to_the_awaiting_task() -> None:
    def fails(what: str) -> None:
        raise KeyError(what)

    with pytest.raises(KeyError, match="missing"):
        await off_loop(fails, "missing")


async def test_keyword_arguments_reach_the_work() -> None:
    def join(*parts: str, sep: str) -> str:
        return sep.join(parts)

    assert await off_loop(join, "a", "b", sep="-") == "a-b"


async def test_a_cancelled_task_ends_only_once_its_thread_has() -> None:
    gate = Gate()
    work = asyncio.create_task(off_loop(gate.work, 1))
    work.add_done_callback(lambda _: gate.log.append("task ended"))
    await wait_for(gate.entered.is_set, "the work to start")
    seen = cancel_then_release(gate, work)
    with pytest.raises(asyncio.CancelledError):
        await work
    assert seen == [False]
    assert gate.log == ["thread ended", "task ended"]


async def test_a_cancellation_repeated_while_waiting_still_waits_for_the_thread() -> None:
    gate = Gate()
    work = asyncio.create_task(off_loop(gate.work, 1))
    await wait_for(gate.entered.is_set, "the work to start")
    seen = cancel_then_release(gate, work, times=3)
    with pytest.raises(asyncio.CancelledError):
        await work
    assert seen == [False, False, False]
    assert gate.log == ["thread ended"]


async def test_the_switch_interval_is_short_while_any_work_runs_and_put_back_after() -> None:
    before = sys.getswitchinterval()
    assert before > SWITCH_INTERVAL_S  # CPython's default, as dps run has it
    first, second = Gate(), Gate()
    one = asyncio.create_task(off_loop(first.work, 1))
    two = asyncio.create_task(off_loop(second.work, 2))
    await wait_for(lambda: first.entered.is_set() and second.entered.is_set(), "both to start")
    assert sys.getswitchinterval() == SWITCH_INTERVAL_S
    first.opened.set()
    assert await one == 2
    assert sys.getswitchinterval() == SWITCH_INTERVAL_S  # the other still runs
    second.opened.set()
    assert await two == 4
    assert sys.getswitchinterval() == before


async def test_the_switch_interval_is_put_back_after_an_error_or_a_cancellation() -> None:
    before = sys.getswitchinterval()

    def fails() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        await off_loop(fails)
    assert sys.getswitchinterval() == before
    gate = Gate()
    work = asyncio.create_task(off_loop(gate.work, 1))
    await wait_for(gate.entered.is_set, "the work to start")
    cancel_then_release(gate, work)
    with pytest.raises(asyncio.CancelledError):
        await work
    assert sys.getswitchinterval() == before


WHO = contextvars.ContextVar("WHO", default="nobody")


async def test_the_caller_s_context_variables_go_with_the_work() -> None:
    WHO.set("caller")
    assert await off_loop(WHO.get) == "caller"


# --- writes: write_off_loop -----------------------------------------------------------------


def _where() -> tuple[str, float | None]:
    return threading.current_thread().name, write_deadline_now()


async def test_a_write_runs_on_a_writer_thread_with_its_deadline_counted_from_the_ask() -> None:
    asked = time.monotonic()
    name, deadline = await write_off_loop(30.0, _where)
    assert name.startswith("dps-write")
    assert deadline is not None
    assert asked + 30.0 <= deadline <= time.monotonic() + 30.0
    name, deadline = await write_off_loop(None, _where)  # a worker's usual wait
    assert name.startswith("dps-write")
    assert deadline is None
    assert write_deadline_now() is None  # the loop's own context is untouched


async def test_a_write_does_not_wait_for_a_thread_behind_the_default_executor_s_work() -> None:
    # The cycles' steps run on the loop's default executor: with all of it busy, a command's
    # write still starts at once (here the one default worker blocks until the write is done).
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(1)
    loop.set_default_executor(pool)
    gate = Gate()
    step = asyncio.create_task(off_loop(gate.work, 1))
    try:
        await wait_for(gate.entered.is_set, "the cycle step to start")
        name, _ = await asyncio.wait_for(write_off_loop(5.0, _where), DEADLINE_S)
        assert name.startswith("dps-write")
        assert not step.done()
    finally:
        gate.opened.set()
    assert await step == 2


async def test_a_cancelled_write_ends_only_once_its_thread_has() -> None:
    gate = Gate()
    work = asyncio.create_task(write_off_loop(None, gate.work, 1))
    work.add_done_callback(lambda _: gate.log.append("task ended"))
    await wait_for(gate.entered.is_set, "the write to start")
    seen = cancel_then_release(gate, work)
    with pytest.raises(asyncio.CancelledError):
        await work
    assert seen == [False]
    assert gate.log == ["thread ended", "task ended"]


async def test_a_forked_child_gets_writer_threads_of_its_own() -> None:
    await write_off_loop(None, _where)  # the parent's pool exists
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own loop and writer threads, or it would wait forever
        try:

            def ask() -> None:
                name, _ = asyncio.run(write_off_loop(None, _where))
                os.write(writer, name.encode())

            asking = threading.Thread(target=ask, daemon=True)
            asking.start()
            asking.join(DEADLINE_S)  # a write that never runs: the child ends without an answer
        finally:
            os._exit(0)
    os.close(writer)
    try:
        with os.fdopen(reader, "rb") as answer:
            said = await asyncio.to_thread(answer.read)
    finally:
        await asyncio.to_thread(os.waitpid, pid, 0)
    assert said.decode().startswith("dps-write")
