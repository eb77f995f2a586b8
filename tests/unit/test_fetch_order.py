"""``FetchOrder``: a short venue's fetch returns after the long fetches in flight, ``hold_s`` at most."""

from __future__ import annotations

import asyncio

from bot.collector.fetch_order import FetchOrder
from tests.waiting import wait_for


class Steps:
    """A clock that reads ``now``, moved by the test."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def long_fetch(order: FetchOrder, answered: asyncio.Event, log: list[str], name: str) -> None:
    async with order.long_fetch():
        await answered.wait()
        log.append(name)


async def short_fetch(order: FetchOrder, log: list[str], name: str) -> float:
    waited = await order.after_long_fetches(name)
    log.append(name)
    return waited


async def test_with_no_long_fetch_in_flight_a_short_one_goes_on_at_once() -> None:
    order = FetchOrder(hold_s=60.0)
    assert await order.after_long_fetches("bybit") == 0.0


async def test_short_venues_go_on_only_after_every_long_fetch_ended() -> None:
    clock = Steps()
    order = FetchOrder(hold_s=60.0, clock=clock)
    log: list[str] = []
    first, second = asyncio.Event(), asyncio.Event()
    longs = [
        asyncio.create_task(long_fetch(order, first, log, "binanceusdm")),
        asyncio.create_task(long_fetch(order, second, log, "another")),
    ]
    await wait_for(lambda: order.long_in_flight == 2, "both long fetches under way")
    shorts = [asyncio.create_task(short_fetch(order, log, v)) for v in ("bybit", "okx")]
    await wait_for(lambda: order.waiting == 2, "both short venues waiting")

    first.set()
    await wait_for(lambda: log == ["binanceusdm"], "the first long fetch's end")
    assert order.waiting == 2  # one long fetch is still in flight
    assert not any(t.done() for t in shorts)

    clock.now += 1.5
    second.set()
    waited = await asyncio.gather(*shorts)
    await asyncio.gather(*longs)
    assert log == ["binanceusdm", "another", "bybit", "okx"]
    assert waited == [1.5, 1.5]
    assert order.long_in_flight == 0


async def test_a_failing_long_fetch_releases_the_short_ones() -> None:
    order = FetchOrder(hold_s=60.0)
    failed = asyncio.Event()

    async def failing() -> None:
        async with order.long_fetch():
            await failed.wait()
            raise RuntimeError("the venue is down")

    task = asyncio.create_task(failing())
    await wait_for(lambda: order.long_in_flight == 1, "the long fetch under way")
    short = asyncio.create_task(order.after_long_fetches("bybit"))
    await wait_for(lambda: order.waiting == 1, "the short venue waiting")
    failed.set()
    await short
    assert task.done() and isinstance(task.exception(), RuntimeError)


async def test_a_stuck_long_fetch_holds_a_short_one_hold_s_at_most() -> None:
    order = FetchOrder(hold_s=0.0)
    stuck = asyncio.Event()
    task = asyncio.create_task(long_fetch(order, stuck, [], "binanceusdm"))
    await wait_for(lambda: order.long_in_flight == 1, "the long fetch under way")
    await order.after_long_fetches("bybit")  # returns although the long fetch goes on
    assert order.long_in_flight == 1 and not task.done()
    assert order.waiting == 0  # the one that gave up is not counted as waiting
    stuck.set()
    await task


async def test_a_cancelled_short_venue_leaves_nothing_waiting() -> None:
    order = FetchOrder(hold_s=60.0)
    answered = asyncio.Event()
    task = asyncio.create_task(long_fetch(order, answered, [], "binanceusdm"))
    await wait_for(lambda: order.long_in_flight == 1, "the long fetch under way")
    short = asyncio.create_task(order.after_long_fetches("bybit"))
    await wait_for(lambda: order.waiting == 1, "the short venue waiting")
    short.cancel()
    await asyncio.gather(short, return_exceptions=True)
    assert short.cancelled() and order.waiting == 0
    answered.set()
    await task
