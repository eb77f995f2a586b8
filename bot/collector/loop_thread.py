"""An event loop of its own, in a dedicated thread, for the exchange client.

ccxt does its Python work (JSON decoding, building its unified structures, its throttle)
on the loop its requests run on: a 500-symbol cycle is hundreds of answers, each a
callback of a fraction of a millisecond, dozens of them queued in one turn of the loop,
plus the bulk answers (10-20 ms each). On the bot's loop, a chat command arriving meanwhile
waits behind all of it. On a loop of its own, that work competes with the bot's loop only
for the GIL, which the interpreter hands over within the switch interval.

Everything that touches the client (its session, the limiter's and gate's locks and
events) runs on this one loop: the caller's loop only hands coroutines over and awaits
their outcome, so none of those objects is ever used from two loops.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class LoopThread:
    """A daemon thread running an event loop, started by the first call, ended by ``close``.

    Args:
        name: the thread's name (it shows in thread dumps and ``threading.enumerate()``).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ended: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._closed = False

    @property
    def running(self) -> bool:
        """Whether the thread is alive (started and not yet ended)."""
        return self._thread is not None and self._thread.is_alive()

    async def run(self, make: Callable[[], Awaitable[T]]) -> T:
        """Await ``make()`` on the thread's loop; its result, or its exception raised here.

        ``make`` is called on the thread's loop, so the awaitable is created where it runs.
        The caller's context variables are copied to that task, as ``asyncio.to_thread`` does.
        When the awaiting task is cancelled, the work is cancelled on its loop and this
        waits for it to end before the cancellation goes on: a caller that cancels and then
        closes the client never races a request still being unwound.

        Raises:
            RuntimeError: ``close`` was called already, or the loop ended under the call.
        """
        if self._closed:
            raise RuntimeError(f"{self.name}: closed")
        return await self._run(make)

    async def close(self, last: Callable[[], Awaitable[None]] | None = None) -> None:
        """Await ``last()`` on the thread's loop (closing the client), then end the thread.

        Tasks still pending there are cancelled and awaited, the loop's executor (DNS
        lookups) shut down, the thread joined: nothing is left running. Idempotent; a
        thread never started is not started for this.
        """
        if self._closed:
            return
        self._closed = True
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            if last is not None:
                await self._run(last)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            await asyncio.wrap_future(self._ended)
            thread.join()

    # -- inside ---------------------------------------------------------------------------

    def _start(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=self._serve, args=(loop,), name=self.name, daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
        return self._loop

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
            self._ended.set_result(None)

    async def _run(self, make: Callable[[], Awaitable[T]]) -> T:
        loop = self._start()
        caller = asyncio.get_running_loop()
        outcome: asyncio.Future[T] = caller.create_future()
        context = contextvars.copy_context()
        work: list[asyncio.Future[T]] = []  # the task on the thread's loop, once started

        def settle(task: asyncio.Future[T]) -> None:  # on the thread, when the work ends
            # RuntimeError: the caller's loop is closed, no one is left to tell.
            with contextlib.suppress(RuntimeError):
                caller.call_soon_threadsafe(_transfer, task, outcome, self.name)

        async def hosted() -> T:
            return await make()

        def start() -> None:  # on the thread
            task = loop.create_task(hosted(), context=context)
            task.add_done_callback(settle)
            work.append(task)

        def cancel() -> None:  # on the thread, always after start (one FIFO queue)
            work[0].cancel()

        loop.call_soon_threadsafe(start)
        cancelled = False
        while not outcome.done():
            try:
                await asyncio.wait((outcome,))
            except asyncio.CancelledError:
                if not cancelled:
                    cancelled = True
                    loop.call_soon_threadsafe(cancel)
        if cancelled:
            if not outcome.cancelled():
                outcome.exception()  # retrieved: the cancellation is the outcome now
            raise asyncio.CancelledError
        return outcome.result()


def _transfer(task: asyncio.Future[T], outcome: asyncio.Future[T], name: str) -> None:
    """The thread's task outcome onto the caller's future (run on the caller's loop)."""
    if outcome.done():
        return
    if task.cancelled():
        # Not cancelled by the caller (that path waits for this and raises itself): the
        # loop ended under the call. A bare CancelledError would pose as the caller's own.
        outcome.set_exception(RuntimeError(f"{name}: the loop ended while a call was running"))
        return
    error = task.exception()
    if error is not None:
        outcome.set_exception(error)
    else:
        outcome.set_result(task.result())
