"""ccxt's ``iso8601`` for the inputs its parsers pass, at a fraction of the CPU.

ccxt's unified parsers call ``iso8601`` for the ``datetime`` field of every ticker, funding
rate and open-interest row: thousands of calls per cycle (OKX: 2,500 for 500 symbols),
each matching a regular expression and building a ``datetime``. With several venues in
one process that CPU is taken from the venue whose requests are still in flight (they
share the interpreter lock). Here an integer or a plain ASCII digit string is formatted
from the day's date (cached: a cycle's rows share a day or two) and the time of day by
arithmetic; anything else goes to ccxt's own function, so every answer is ccxt's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

_EPOCH = date(1970, 1, 1)
_MAX_MS = 8_640_000_000_000_000  # ccxt's bound: larger is None
_DAY_MS = 86_400_000


@lru_cache(maxsize=64)
def _day(days: int) -> str | None:
    try:
        d = _EPOCH + timedelta(days=days)
    except OverflowError:  # past year 9999: ccxt's datetime overflows and answers None
        return None
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


def fast_iso8601(fallback: Callable[[Any], str | None]) -> Callable[..., str | None]:
    """``iso8601(timestamp)`` answering as ``fallback`` (ccxt's) does, for every input."""

    def iso8601(timestamp: Any = None) -> str | None:
        kind = type(timestamp)
        if kind is str and timestamp.isascii() and timestamp.isdigit():
            timestamp = int(timestamp)
        elif kind is not int:  # bool, float, None, other text, subclasses: ccxt decides
            return fallback(timestamp)
        if timestamp < 0 or timestamp > _MAX_MS:
            return None
        days, ms = divmod(timestamp, _DAY_MS)
        day = _day(days)
        if day is None:
            return None
        seconds, ms = divmod(ms, 1000)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return f"{day}T{hours:02d}:{minutes:02d}:{seconds:02d}.{ms:03d}Z"

    return iso8601
