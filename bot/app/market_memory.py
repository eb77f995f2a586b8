"""The stored OI and mark-price points a cycle's deltas can need, kept in memory across cycles.

Each cycle scores from the points of a few windows: near now and near each horizon's past
time (``history_spans``). Reading those windows back every cycle (about 35 rows a symbol)
costs most of a 5,000-symbol cycle's reads, chiefly in building a datetime per row. This
keeps every point from the oldest window's start onwards, per symbol, as compact arrays
of epoch microseconds and values, and hands the scorer only the few points it looks at.

What the scorer gets is the same as the window read would give, minus points it never
looks at (see ``MarketMemory.series``), so the deltas are identical. The cycle has the
memory measure the deltas itself (``MarketMemory.changes``): the same, on the arrays.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.app.snapshot_scoring import Measured, shared_times
from bot.core.market import MarketSnapshot
from bot.core.oi_deltas import (
    DEFAULT_TOLERANCES,
    ChangePicks,
    ChangeTimes,
    OiChanges,
    OiDeltaTolerances,
    change_picks,
    changes_at,
    changes_between,
)
from bot.ports import MarketSeries, OiSeries

HORIZONS_H = (1, 4, 24)
"""The deltas' horizons, in hours (``bot.core.oi_deltas.oi_changes``)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_HOUR_US = 3_600_000_000
_BACKS_US = (0, *(h * _HOUR_US for h in HORIZONS_H))  # the measuring time and each horizon's target
_LOAD_CHUNK = timedelta(hours=1)  # rows read back per query at a reload: bounds its transient memory
_FAR = timedelta(days=3650)  # "every later row": a reload also keeps points dated after now (clock skew)

WindowReader = Callable[[str, datetime, datetime, Collection[str] | None], MarketSeries]
"""``SnapshotStore.market_history``."""


def history_spans(
    now: datetime, tolerances: OiDeltaTolerances = DEFAULT_TOLERANCES
) -> list[tuple[datetime, datetime]]:
    """The closed time windows whose points a cycle at ``now`` scores from, merged, oldest first."""
    spans = [(now - tolerances.tolerance_1h, now)]
    for hours in HORIZONS_H:
        slack = tolerances.tolerance_for(hours)
        target = now - timedelta(hours=hours)
        spans.append((target - slack, target + slack))
    return disjoint_spans(spans)


def disjoint_spans(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Closed time spans merged where they overlap or touch, oldest first."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def micros(ts: datetime) -> int:
    """Microseconds since the Unix epoch: exact, and ordered as the datetimes are."""
    return (ts - _EPOCH) // _US


def from_micros(us: int) -> datetime:
    """The aware-UTC datetime of ``micros``."""
    return _EPOCH + timedelta(microseconds=us)


_Targets = list[tuple[int, int, int]]
"""Measuring and past times, each with the bounds of the window holding it (microseconds)."""


@dataclass(slots=True)
class _Series:
    """One symbol's points of one kind, oldest first, at most one per time."""

    ts: array[int] = field(default_factory=lambda: array("q"))
    values: array[float] = field(default_factory=lambda: array("d"))

    def add(self, us: int, value: float) -> None:
        """Add a point unless one is held at that time (the store keeps the first one too)."""
        if not self.ts or us > self.ts[-1]:
            self.ts.append(us)
            self.values.append(value)
            return
        i = bisect.bisect_left(self.ts, us)
        if self.ts[i] != us:
            self.ts.insert(i, us)
            self.values.insert(i, value)

    def trim(self, before_us: int) -> None:
        """Forget the points older than ``before_us``."""
        if not self.ts or self.ts[0] >= before_us:
            return  # nothing to forget: most series, most cycles
        cut = bisect.bisect_left(self.ts, before_us)
        if cut:
            del self.ts[:cut]
            del self.values[:cut]

    def picked(
        self,
        windows: list[tuple[int, int]],
        at: list[int],
        targets: _Targets | None,
        made: dict[int, datetime],
        last: _LastPick,
    ) -> list[tuple[datetime, float]]:
        """The points in ``windows`` that a delta measured at one of the ``at`` times can look at.

        The deltas of ``bot.core.oi_deltas`` over a sorted series look only at the points
        either side of a bisection: the newest at or before the measuring time (and whether
        any lies after it, ``_with_snapshot_point``), and the nearest to each horizon's past
        time. A sub-sequence holding the window points either side of each of those times
        has the same neighbours there as the whole windows, so its deltas are the same.

        Args:
            windows: the cycle's windows, in epoch microseconds.
            at: the measuring times.
            targets: ``_targets(windows, at)``.
            made: datetimes already built, by epoch microseconds (symbols share times).
            last: the last pick at these measuring times; a series with the same times (a
                symbol's OI and mark price, and mostly every symbol's) picks the same.
        """
        ts, values = self.ts, self.values
        if last.ts is None or last.ts != ts:
            last.renew(ts, self.picks(windows, at, targets), made)
        return shared_times(zip(last.times, map(values.__getitem__, last.picks), strict=True), last.times)

    def picks(self, windows: list[tuple[int, int]], at: list[int], targets: _Targets | None) -> list[int]:
        """The indices of the points ``picked`` hands over, in time order."""
        keep = None if targets is None else self._neighbours_near(targets, windows[0][0], windows[-1][1])
        if keep is None:
            keep = self._neighbours(windows, at)
        return sorted(keep)

    def _neighbours_near(self, targets: _Targets, first: int, last: int) -> set[int] | None:
        """``_neighbours`` when each target's neighbours lie in the target's own window (the
        usual case: a cycle measures at about its own time); ``None`` when they may not.

        ``targets``: each measuring and past time with the bounds of its window; ``first``
        and ``last``: the windows' outer bounds.
        """
        ts = self.ts
        n = len(ts)
        keep: set[int] = set()
        for target, lo, hi in targets:
            p = bisect.bisect_left(ts, target)
            if p:
                before = ts[p - 1]  # < target <= hi
                if before >= lo:
                    keep.add(p - 1)
                elif before >= first:  # may lie in an older window
                    return None
            if p < n:
                after = ts[p]  # >= target >= lo
                if after <= hi:
                    keep.add(p)
                elif after <= last:  # may lie in a newer window
                    return None
        return keep

    def _neighbours(self, windows: list[tuple[int, int]], at: Iterable[int]) -> set[int]:
        """The indices of the window points either side of each measuring and target time."""
        ts = self.ts
        ranges = [(bisect.bisect_left(ts, a), bisect.bisect_right(ts, b)) for a, b in windows]
        ranges = [(lo, hi) for lo, hi in ranges if lo < hi]
        keep: set[int] = set()
        for when in at:
            for back in _BACKS_US:
                p = bisect.bisect_left(ts, when - back)
                for lo, hi in ranges:
                    if lo < p:
                        keep.add(min(hi, p) - 1)  # the newest window point before the target
                    if hi > p:
                        keep.add(max(lo, p))  # the oldest at or after it
                        break
        return keep


@dataclass(slots=True)
class _LastPick:
    """The last series picked at some measuring times: its times, the indices picked, their
    datetimes, and the change picks found on them (``MarketMemory.changes``)."""

    ts: array[int] | None = None
    picks: list[int] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    changes: dict[tuple[ChangeTimes, bool], ChangePicks] = field(default_factory=dict)

    def renew(self, ts: array[int], picks: list[int], made: dict[int, datetime]) -> None:
        """Hold the picks of a series on other times than the last one's."""
        self.ts, self.picks, self.times = ts, picks, []
        self.changes = {}
        for i in picks:
            us = ts[i]
            when_dt = made.get(us)
            if when_dt is None:
                when_dt = made[us] = from_micros(us)
            self.times.append(when_dt)

    def change_picks(self, times: ChangeTimes, finite: bool) -> ChangePicks:
        """The change picks of the picked points with the snapshot's own point, added when
        ``finite`` as ``_with_snapshot_point`` adds it, as indices into the whole series;
        ``-1``: the snapshot's own point. Needs ``times.bounds``."""
        key = (times, finite)
        try:
            return self.changes[key]
        except KeyError:  # once per distinct times and measuring time
            dated = self.times
            added = finite and not (dated and dated[-1] >= times.now)
            # The picks depend on the times alone (``change_picks``): the values are left out.
            history = [(when, 0.0) for when in dated]
            if added:
                history.append((times.now, 0.0))
            whole = self.picks
            picks = change_picks(history, times)
            if picks is not None:
                end, starts = picks
                picks = (
                    -1 if end == len(whole) else whole[end],
                    (
                        None if starts[0] is None else whole[starts[0]],
                        None if starts[1] is None else whole[starts[1]],
                        None if starts[2] is None else whole[starts[2]],
                    ),
                )
            self.changes[key] = picks
            return picks


class MarketMemory:
    """One exchange's OI and mark-price points from the oldest window the deltas can need."""

    def __init__(self, tolerances: OiDeltaTolerances = DEFAULT_TOLERANCES) -> None:
        self._tolerances = tolerances
        self._oi: dict[str, _Series] = {}
        self._mark: dict[str, _Series] = {}
        self._trimmed_to: int | None = None  # the ``before`` of the last ``trim``, epoch microseconds

    def oldest_needed(self, now: datetime) -> datetime:
        """The start of the oldest window a cycle at ``now`` (or later) reads."""
        return history_spans(now, self._tolerances)[0][0]

    def add_series(self, found: MarketSeries) -> None:
        """Add points read back from the store."""
        for held, series in ((self._oi, found.oi), (self._mark, found.mark)):
            for symbol, points in series.items():
                kept = held.get(symbol)
                if kept is None:
                    kept = held[symbol] = _Series()
                for ts, value in points:
                    kept.add(micros(ts), value)

    def add_snapshots(self, exchange: str, snapshots: Iterable[MarketSnapshot]) -> bool:
        """Add a stored cycle's snapshots as the store holds them.

        Returns:
            False when a value is not finite: how the database keeps those depends on its
            dialect (SQLite stores NaN as NULL), so the memory must be read again.
        """
        seen: dict[datetime, int] = {}  # a cycle's snapshots mostly share their time
        oi_held, mark_held = self._oi, self._mark
        last: datetime | None = None
        us = 0
        # One pass, both kinds inline: 5,000 snapshots a cycle, two points each.
        for snap in snapshots:
            if snap.exchange != exchange:
                continue
            ts = snap.ts
            if ts is not last:
                # An equal time in another zone hashes alike and has the same epoch microseconds.
                found = seen.get(ts)
                if found is None:
                    found = seen[ts] = micros(ts)
                last, us = ts, found
            oi, mark = snap.oi_contracts, snap.mark_price
            # ``v - v != 0.0`` holds for NaN and the infinities only (``math.isfinite`` without a call).
            if (oi is not None and oi - oi != 0.0) or (mark is not None and mark - mark != 0.0):
                return False
            if oi is not None:
                _append(oi_held, snap.symbol, us, oi)
            if mark is not None:
                _append(mark_held, snap.symbol, us, mark)
        return True

    def trim(self, now: datetime) -> None:
        """Forget what no cycle at ``now`` or later can read; drop symbols left empty."""
        before = micros(self.oldest_needed(now))
        self._trimmed_to = before
        for held in (self._oi, self._mark):
            for symbol in list(held):
                held[symbol].trim(before)
                if not held[symbol].ts:
                    del held[symbol]

    def trim_hourly(self, now: datetime) -> None:
        """``trim``, but only once what it would forget spans an hour.

        Every cycle's trim cuts one point off each of the thousands of series; the older
        points held meanwhile lie before every window, so no cycle picks them (``series``):
        holding up to an hour more (a twenty-fifth of the memory) trims a twelfth as often.
        """
        if self._trimmed_to is None or micros(self.oldest_needed(now)) - self._trimmed_to >= _HOUR_US:
            self.trim(now)

    def points(self) -> int:
        """How many points are held (both kinds)."""
        return sum(len(s.ts) for held in (self._oi, self._mark) for s in held.values())

    def changes(
        self,
        now: datetime,
        at: Mapping[str, Iterable[datetime]],
        fresh: Sequence[MarketSnapshot],
        times: Sequence[ChangeTimes],
    ) -> list[Measured]:
        """Each snapshot's OI and mark-price changes, exactly as ``score_snapshots`` measures
        them over ``series(now, at)`` (a ``bot.app.snapshot_scoring.Measure``).

        The same points are picked, but the changes are measured on the held arrays: the
        picks are found once per distinct series times (mostly every symbol's) and only
        the values are read per symbol, with no list of points built.

        Args:
            now: the cycle time; the windows are ``history_spans(now)``.
            at: each symbol's measuring times, for every symbol of ``fresh``.
            fresh: the snapshots to measure.
            times: each snapshot's ``ChangeTimes`` at its own time.
        """
        windows = [(micros(a), micros(b)) for a, b in history_spans(now, self._tolerances)]
        made: dict[int, datetime] = {}
        planned: dict[tuple[datetime, ...], _Plan] = {}
        oi_held, mark_held = self._oi, self._mark
        found: list[Measured] = []
        # Inlined where it pays: this runs for each of thousands of symbols every cycle.
        for snap, when in zip(fresh, times, strict=True):
            symbol = snap.symbol
            key = tuple(at[symbol])
            plan = planned.get(key)
            if plan is None:
                plan = planned[key] = _plan(windows, key)
            whens, targets, last = plan
            kept = oi_held.get(symbol)
            if kept is None:  # nothing stored: the snapshot's own point alone
                oi = _measure([], last, snap, snap.oi_contracts, when)
            else:
                if last.ts != kept.ts:  # other times than the last series': pick anew
                    last.renew(kept.ts, kept.picks(windows, whens, targets), made)
                oi = _measure(kept.values, last, snap, snap.oi_contracts, when)
            price = None
            kept = mark_held.get(symbol)
            if kept is not None:
                if last.ts != kept.ts:
                    last.renew(kept.ts, kept.picks(windows, whens, targets), made)
                if last.picks:  # none picked: no stored price, as ``series`` leaves it out
                    price = _measure(kept.values, last, snap, snap.mark_price, when)
            found.append((oi, price))
        return found

    def series(self, now: datetime, at: Mapping[str, Iterable[datetime]]) -> MarketSeries:
        """What the cycle at ``now`` scores from, for the symbols of ``at``.

        Args:
            now: the cycle time; the windows are ``history_spans(now)``.
            at: each symbol's measuring times (its snapshots' times).

        Returns:
            Per symbol, the points of the windows a delta measured at those times looks at,
            oldest first: the deltas are those of the whole windows' points.
        """
        windows = [(micros(a), micros(b)) for a, b in history_spans(now, self._tolerances)]
        found: list[OiSeries] = [{}, {}]
        made: dict[int, datetime] = {}
        # Symbols mostly share their measuring times: work out their targets once.
        planned: dict[tuple[datetime, ...], _Plan] = {}
        for symbol, times in at.items():
            key = tuple(times)
            plan = planned.get(key)
            if plan is None:
                plan = planned[key] = _plan(windows, key)
            whens, targets, last = plan
            for out, held in zip(found, (self._oi, self._mark), strict=True):
                kept = held.get(symbol)
                if kept is not None and (picked := kept.picked(windows, whens, targets, made, last)):
                    out[symbol] = picked
        return MarketSeries(oi=found[0], mark=found[1])


_UNKNOWN = OiChanges(None, None, None)

_Plan = tuple[list[int], _Targets | None, _LastPick]
"""Measuring times in epoch microseconds, their ``_targets``, and the last pick at them."""


def _plan(windows: list[tuple[int, int]], times: tuple[datetime, ...]) -> _Plan:
    """The plan of one symbol's measuring times (symbols mostly share theirs)."""
    whens = [micros(t) for t in times]
    return whens, _targets(windows, whens), _LastPick()


def _measure(
    values: Sequence[float], last: _LastPick, snap: MarketSnapshot, value: float | None, times: ChangeTimes
) -> OiChanges:
    """The changes of the points ``last`` picked of a series holding ``values`` (no point
    when empty) with the snapshot's own ``value``, as ``score_snapshots`` measures them."""
    # ``value - value == 0.0`` holds for finite values only.
    finite = value is not None and value - value == 0.0
    picks = last.picks if values else []
    if not picks or times.bounds is None:
        # No stored point (a new symbol), or bounds beyond the calendar: the general way.
        history = list(zip(last.times, map(values.__getitem__, picks), strict=True)) if picks else []
        if value is not None and finite and not (history and history[-1][0] >= snap.ts):
            history.append((snap.ts, value))  # as _with_snapshot_point
        return changes_at(history, times)
    found = last.change_picks(times, finite)
    if found is None:
        return _UNKNOWN  # no end point
    end, (i1, i4, i24) = found
    # -1: the snapshot's own value, added only when finite.
    return changes_between(
        value if end < 0 and value is not None else values[end],
        None if i1 is None else values[i1],
        None if i4 is None else values[i4],
        None if i24 is None else values[i24],
    )


def _append(held: dict[str, _Series], symbol: str, us: int, value: float) -> None:
    """``held[symbol].add(us, value)``, the series made if new; a newer point (the usual
    case) appended without the call."""
    kept = held.get(symbol)
    if kept is None:
        kept = held[symbol] = _Series()
    times = kept.ts
    if times and us <= times[-1]:
        kept.add(us, value)
    else:
        times.append(us)
        kept.values.append(value)


def _targets(windows: list[tuple[int, int]], at: list[int]) -> _Targets | None:
    """Each measuring time and horizon target of ``at`` with the bounds of the window holding
    it; ``None`` when one lies in none (``_Series._neighbours`` then finds the neighbours)."""
    targets = []
    for when in at:
        for back in _BACKS_US:
            target = when - back
            for lo, hi in windows:
                if lo <= target <= hi:
                    targets.append((target, lo, hi))
                    break
            else:
                return None
    return targets


def load_memory(
    read: WindowReader,
    exchange: str,
    now: datetime,
    tolerances: OiDeltaTolerances = DEFAULT_TOLERANCES,
) -> MarketMemory:
    """Read every stored point a cycle at ``now`` or later can need, an hour per query."""
    memory = MarketMemory(tolerances)
    start = memory.oldest_needed(now)
    while start <= now:
        end = min(start + _LOAD_CHUNK, now)
        memory.add_series(read(exchange, start, end, None))
        start = end + _US
    memory.add_series(read(exchange, now + _US, now + _FAR, None))
    return memory
