"""Open-interest change over a horizon, from one symbol's stored OI history.

History is a sequence of ``(ts, oi_contracts)`` pairs sorted by ``ts`` (aware UTC), OI in
contracts of base units. The change over H hours compares the newest point at or before
``now`` with the stored point nearest to ``now - H``. Snapshots never land exactly on the
grid (collection jitter, a missed cycle), so a tolerance says how far from ``now - H`` a
point may sit and still stand for it; with no point close enough the change is unknown
(``None``) and the score is computed from the other horizons, flagged partial.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.frozen import quick_init
from bot.core.records import require_aware

OiSample = tuple[datetime, float]
"""One stored open-interest observation: (aware-UTC time, OI in contracts)."""


@dataclass(frozen=True, slots=True)
class OiDeltaTolerances:
    """How far a stored point may sit from the ideal past time and still be used.

    Longer horizons tolerate more slack: 10 minutes is a sixth of an hour, 45 minutes is
    a thirty-second of a day, so the error in the measured change stays small.

    Attributes:
        tolerance_1h: slack for the 1h horizon.
        tolerance_4h: slack for the 4h horizon.
        tolerance_24h: slack for the 24h horizon.
    """

    tolerance_1h: timedelta = timedelta(minutes=10)
    tolerance_4h: timedelta = timedelta(minutes=20)
    tolerance_24h: timedelta = timedelta(minutes=45)

    def tolerance_for(self, hours: float) -> timedelta:
        """Slack for a horizon: that of the longest configured horizon not above ``hours``.

        Args:
            hours: horizon length in hours (> 0); 1, 4 and 24 map to their own fields.
        """
        if hours >= 24:
            return self.tolerance_24h
        if hours >= 4:
            return self.tolerance_4h
        return self.tolerance_1h


DEFAULT_TOLERANCES = OiDeltaTolerances()


@quick_init
@dataclass(frozen=True, slots=True)
class OiChanges:
    """Relative OI changes over the score's three horizons, in % (``None`` = unknown)."""

    h1_pct: float | None
    h4_pct: float | None
    h24_pct: float | None


_TS = operator.itemgetter(0)  # sort key of an OiSample; C-level, the hot path calls it a lot


def nearest_point(history: Sequence[OiSample], target: datetime, tolerance: timedelta) -> OiSample | None:
    """The stored point nearest to ``target``, if it lies within ``tolerance`` of it.

    Args:
        history: points sorted by time.
        target: the ideal time (aware UTC).
        tolerance: the largest accepted distance from ``target``.

    Returns:
        The nearest point (a tie goes to the older one, the longer horizon), or ``None``.
    """
    i = bisect.bisect_left(history, target, key=_TS)
    best: OiSample | None = None
    best_gap = tolerance
    # Only the neighbours either side of the insertion point can be nearest; the older one
    # is checked first so that it wins a tie.
    for j in (i - 1, i):
        if 0 <= j < len(history):
            gap = abs(history[j][0] - target)
            if gap <= best_gap and (best is None or gap < best_gap):
                best, best_gap = history[j], gap
    return best


def latest_point(history: Sequence[OiSample], now: datetime) -> OiSample | None:
    """The newest point at or before ``now`` (points after ``now`` are ignored)."""
    i = bisect.bisect_right(history, now, key=_TS)
    return history[i - 1] if i else None


def _relative(start: OiSample | None, end: OiSample) -> float | None:
    """The change from ``start`` to ``end`` in %, ``None`` when it cannot be measured."""
    # A huge tolerance could pick the end point itself; a change needs two distinct times.
    if start is None or start[0] >= end[0]:
        return None
    return _relative_value(start[1], end[1])


def _relative_value(past: float, current: float) -> float | None:
    """The change from ``past`` to ``current`` in %, ``None`` when it cannot be measured."""
    if not (math.isfinite(past) and math.isfinite(current)) or past <= 0 or current < 0:
        return None
    change = (current / past - 1.0) * 100.0
    return change if math.isfinite(change) else None


def _change(
    history: Sequence[OiSample], end: OiSample | None, now: datetime, hours: float, slack: timedelta
) -> float | None:
    if end is None or now - end[0] > slack:
        return None
    return _relative(nearest_point(history, now - timedelta(hours=hours), slack), end)


def oi_change_pct(
    history: Sequence[OiSample],
    now: datetime,
    hours: float,
    tolerance: timedelta | None = None,
) -> float | None:
    """Relative change of open interest over the last ``hours``, in %.

    ``change = (OI_now / OI_past - 1) * 100`` where ``OI_now`` is the newest point at or
    before ``now`` (it must itself be within ``tolerance`` of ``now``, else the series is
    stale) and ``OI_past`` the point nearest to ``now - hours`` within ``tolerance``.

    Args:
        history: one symbol's points, sorted by time; OI in contracts.
        now: the time the change is measured at (aware UTC), usually the snapshot time.
        hours: the horizon, in hours (> 0).
        tolerance: slack around both ends; defaults to ``DEFAULT_TOLERANCES`` for ``hours``.

    Returns:
        The change in % (``+2.5`` is +2.5 %), or ``None`` when either end is missing, the
        past OI is zero, negative or not finite, or the current OI is negative or not finite.

    Raises:
        ValueError: ``now`` is naive or ``hours`` is not positive.
    """
    require_aware("now", now)
    if not hours > 0:
        raise ValueError(f"horizon must be positive, got {hours!r} hours")
    slack = DEFAULT_TOLERANCES.tolerance_for(hours) if tolerance is None else tolerance
    return _change(history, latest_point(history, now), now, hours, slack)


def oi_changes(
    history: Sequence[OiSample],
    now: datetime,
    tolerances: OiDeltaTolerances = DEFAULT_TOLERANCES,
) -> OiChanges:
    """OI changes over 1h, 4h and 24h at ``now``, in % (see ``oi_change_pct``)."""
    return changes_at(history, ChangeTimes(now, tolerances))


class ChangeTimes:
    """The times ``oi_changes`` at one ``now`` compares a series' points with.

    The symbols of a cycle share their data time, and a symbol's OI and mark-price series
    are measured at the same one: computing each horizon's target and tolerance bounds once
    per time, rather than per series and horizon, keeps datetime arithmetic out of the
    per-symbol work. That arithmetic is exact, so ``target - slack <= ts <= target + slack``
    accepts exactly the points ``abs(ts - target) <= slack`` does.

    Args:
        now: the time the changes are measured at (aware UTC).
        tolerances: each horizon's slack.

    Raises:
        ValueError: ``now`` is naive.
    """

    __slots__ = ("bounds", "now", "tolerances")

    def __init__(self, now: datetime, tolerances: OiDeltaTolerances = DEFAULT_TOLERANCES) -> None:
        require_aware("now", now)
        self.now = now
        self.tolerances = tolerances
        # Per horizon: the oldest end point still fresh, the target, the target's bounds.
        self.bounds: tuple[tuple[datetime, datetime, datetime, datetime], ...] | None = None
        bounds = []
        slacks = (tolerances.tolerance_1h, tolerances.tolerance_4h, tolerances.tolerance_24h)
        try:
            for back, slack in zip(_BACKS, slacks, strict=True):
                target = now - back
                bounds.append((now - slack, target, target - slack, target + slack))
        except OverflowError:  # a bound beyond the calendar: measured horizon by horizon
            return
        self.bounds = tuple(bounds)


_BACKS = (timedelta(hours=1), timedelta(hours=4), timedelta(hours=24))


def changes_at(history: Sequence[OiSample], times: ChangeTimes) -> OiChanges:
    """OI changes over 1h, 4h and 24h at ``times.now``, in %, as ``oi_changes`` defines them.

    Args:
        history: one symbol's points, sorted by time; OI in contracts.
        times: the measuring time with its horizons' bounds.
    """
    if times.bounds is None:
        now, t = times.now, times.tolerances
        end = latest_point(history, now)
        return OiChanges(
            h1_pct=_change(history, end, now, 1, t.tolerance_1h),
            h4_pct=_change(history, end, now, 4, t.tolerance_4h),
            h24_pct=_change(history, end, now, 24, t.tolerance_24h),
        )
    return changes_picked(history, change_picks(history, times))


ChangePicks = tuple[int, tuple[int | None, int | None, int | None]] | None
"""Where ``changes_at`` finds its points in a history: the end point's index and each
horizon's start point's index (``None``: that change is unknown); ``None``: no end point."""


def change_picks(history: Sequence[OiSample], times: ChangeTimes) -> ChangePicks:
    """The points ``changes_at`` measures from, by index; they depend on the times alone.

    Histories with the same times (a cycle's symbols, mostly) have the same picks: a
    caller can find them once and apply them to each (``changes_picked``).

    Args:
        history: points sorted by time.
        times: the measuring time with its horizons' bounds (not ``None``).
    """
    bounds = times.bounds
    if bounds is None:
        raise ValueError("change_picks needs the horizons' bounds: use changes_at")
    i = bisect.bisect_right(history, times.now, key=_TS)  # latest_point
    if not i:
        return None
    end = i - 1
    end_ts = history[end][0]
    n = len(history)
    starts: list[int | None] = []
    for fresh_from, target, lo, hi in bounds:
        if end_ts < fresh_from:  # now - end > slack: the series is stale
            starts.append(None)
            continue
        # nearest_point within the bounds: the neighbours either side of the target, the
        # older one winning a tie.
        j = bisect.bisect_left(history, target, key=_TS)
        start = j - 1 if j and history[j - 1][0] >= lo else None
        if j < n:
            after = history[j][0]
            if after <= hi and (start is None or after - target < target - history[start][0]):
                start = j
        # A huge tolerance could pick the end point itself; a change needs two distinct times.
        starts.append(None if start is None or history[start][0] >= end_ts else start)
    return end, (starts[0], starts[1], starts[2])


_UNKNOWN = OiChanges(None, None, None)


def changes_picked(history: Sequence[OiSample], picks: ChangePicks) -> OiChanges:
    """The changes between the points ``picks`` names (``change_picks``) of ``history``."""
    if picks is None:
        return _UNKNOWN
    end, (i1, i4, i24) = picks
    return changes_between(
        history[end][1],
        None if i1 is None else history[i1][1],
        None if i4 is None else history[i4][1],
        None if i24 is None else history[i24][1],
    )


def changes_between(
    current: float, past_1h: float | None, past_4h: float | None, past_24h: float | None
) -> OiChanges:
    """The changes from each horizon's past value (``None``: no start point) to ``current``,
    in %, as ``changes_picked`` measures them; the values alone, wherever they are held."""
    # _relative_value inlined and unrolled: this runs for every series of every cycle.
    # ``x - x == 0.0`` holds exactly for finite numbers (inf - inf and NaN - NaN are NaN).
    if not (current - current == 0.0 and current >= 0):
        return _UNKNOWN
    h1 = h4 = h24 = None
    if past_1h is not None and past_1h - past_1h == 0.0 and past_1h > 0:
        h1 = (current / past_1h - 1.0) * 100.0
        if h1 - h1 != 0.0:  # overflowed
            h1 = None
    if past_4h is not None and past_4h - past_4h == 0.0 and past_4h > 0:
        h4 = (current / past_4h - 1.0) * 100.0
        if h4 - h4 != 0.0:
            h4 = None
    if past_24h is not None and past_24h - past_24h == 0.0 and past_24h > 0:
        h24 = (current / past_24h - 1.0) * 100.0
        if h24 - h24 != 0.0:
            h24 = None
    return OiChanges(h1, h4, h24)
