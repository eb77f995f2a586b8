"""Capped exponential back-off: the one formula behind every retry wait of the bot.

Outbox deliveries (``RetryPolicy``), exchange requests (jittered, in
``bot.collector.request_budget``) and the Telegram start-up all wait this long between tries.
"""

from __future__ import annotations

import math


def exponential_delay(attempt: int, *, base: float, factor: float = 2.0, cap: float = math.inf) -> float:
    """The wait after ``attempt`` (>= 1) failed tries: ``base · factor^(attempt − 1)``, at most ``cap``.

    Args:
        attempt: how many tries have failed (1 after the first).
        base: the wait after the first failure.
        factor: growth of the wait per further failure.
        cap: the largest wait.
    """
    delay = base
    # Multiply step by step and stop at the cap: factor ** attempt could overflow.
    for _ in range(attempt - 1):
        if delay >= cap:
            break
        delay *= factor
    return min(delay, cap)
