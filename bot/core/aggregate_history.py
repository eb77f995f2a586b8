"""An asset's summed open-interest history, derived from its member venues' stored points.

Venues are collected on their own schedules, so their points never share a time. Each
venue's points are put on a grid of ``step`` (the collection interval), keeping its newest
point per slot; a slot counts only when every member venue has a point in it, or a venue
missing from a slot would read as its share of the open interest closing. The slot's time
is the newest member point in it: when the sum was last fully known.

Pure and standard-library only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.core.collection import OiPoint

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _slot(ts: datetime, step: timedelta) -> int:
    return (ts - _EPOCH) // step


def summed_history(
    members: Sequence[tuple[float, Sequence[tuple[datetime, float]]]], step: timedelta
) -> list[OiPoint]:
    """Sum ``(units, [(ts, oi in venue base units), …])`` per member into canonical-unit points.

    Returns:
        One point per slot of ``step`` in which every member has a point, oldest first;
        ``oi_usd`` is ``None`` (the stored history the deltas read carries OI only).
    """
    if not members or step <= timedelta(0):
        return []
    per_member: list[dict[int, tuple[datetime, float]]] = []
    for units, points in members:
        slots: dict[int, tuple[datetime, float]] = {}
        for ts, oi in points:
            key = _slot(ts, step)
            held = slots.get(key)
            if held is None or ts > held[0]:
                slots[key] = (ts, oi * units)
        per_member.append(slots)
    common = set(per_member[0]).intersection(*per_member[1:])
    out = []
    for key in sorted(common):
        found = [slots[key] for slots in per_member]
        out.append(
            OiPoint(ts=max(ts for ts, _ in found), oi_contracts=sum(oi for _, oi in found), oi_usd=None)
        )
    return out
