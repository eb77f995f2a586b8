"""Waiting on outcomes: how a test lets something happen without sleeping a fixed time.

A test that sleeps "long enough" and then asserts is slow when the machine is fast and
flaky when it is slow. These poll a condition until it holds and fail loudly, naming what
never happened, after a deadline generous enough for a loaded machine.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable

DEADLINE_S = 60.0
"""How long a test waits for an outcome before failing: generous, since waiting ends as
soon as the outcome is there."""


async def wait_for(
    predicate: Callable[[], object],
    what: str | Callable[[], str] = "the condition",
    *,
    within: float = DEADLINE_S,
    every: float = 0.02,
) -> None:
    """Poll ``predicate`` until it is truthy; AssertionError naming ``what`` after ``within`` s.

    ``what`` may be a callable, evaluated only on failure (e.g. to show a process's log).
    ``predicate`` may return an awaitable (an HTTP probe of another process), awaited each time.
    """

    async def holds() -> object:
        outcome = predicate()
        return await outcome if inspect.isawaitable(outcome) else outcome

    try:
        async with asyncio.timeout(within):
            while not await holds():  # noqa: ASYNC110 - polls what another task or process changes
                await asyncio.sleep(every)
    except TimeoutError:
        text = what() if callable(what) else what
        raise AssertionError(f"waited {within:g} s for {text}, in vain") from None


def behind_queued(check: Callable[[], bool], then: Callable[[], None]) -> list[bool]:
    """Record ``check()``, then call ``then``, in an event-loop callback queued behind every
    callback already queued; returns the list the recorded value goes to.

    ``task.cancel()`` queues the task's wake-up: a task that ends at its cancellation is
    done by the time this callback runs. So a test can see that a cancelled task is still
    waiting (for a worker thread, say) and only then release what it waits for, without
    counting loop turns.
    """
    seen: list[bool] = []

    def run() -> None:
        seen.append(check())
        then()

    asyncio.get_running_loop().call_soon(run)
    return seen
