"""Putting a venue's OI history on the footing of its current OI (Bybit: one side or both).

Bybit documents its OI-history figure as "the sum of both sides" and its tickers' figure
only as "Open interest size". The cycle reads OI from the tickers (one request for every
symbol); the backfill reads the history. Before the history is stored, its newest point
is compared with the tickers' OI, which is at most one 5-minute step later: half of it
means the history counts both sides (every point is halved, exactly), the same means the
two agree, anything else means they disagree beyond what 5 minutes of trading explains.
"""

from __future__ import annotations

from dataclasses import replace

from bot.core.collection import OiPoint

TOLERANCE = 0.15
"""How far the current OI may stray from the footing it is on, relative to it.

OI rarely moves 15 % in the 5 minutes between the two readings, so the wider gaps are
not trading; and with 15 % the two footings (0.425-0.575 and 0.85-1.15) stay far apart, so
a ratio can never be taken for the wrong one unless OI moved by a third or more.
"""

SCALES = (1.0, 0.5)
"""The footings: the history counts what the current OI counts, or both sides of it."""


def history_scale(current: float | None, newest: float | None) -> float | None:
    """The factor that puts the history on the current OI's footing, or ``None``.

    Args:
        current: the current OI (tickers), base units.
        newest: the history's newest point, base units.

    Returns:
        1.0 or 0.5; ``None`` when either is missing or not positive, or their ratio is
        not within ``TOLERANCE`` of a footing.
    """
    if current is None or newest is None or not (current > 0 and newest > 0):
        return None
    ratio = current / newest
    for scale in SCALES:
        if abs(ratio / scale - 1.0) <= TOLERANCE:
            return scale
    return None


def scaled(points: list[OiPoint], scale: float) -> list[OiPoint]:
    """``points`` with their OI (contracts and USD) multiplied by ``scale``."""
    if scale == 1.0:
        return points
    return [
        replace(
            p,
            oi_contracts=p.oi_contracts * scale,
            oi_usd=None if p.oi_usd is None else p.oi_usd * scale,
        )
        for p in points
    ]
