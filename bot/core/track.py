"""The bot's own track record: how its stored readings' next 24 hours went (``/track``, alert evidence).

Pure, and built on ``bot.core.outcomes`` (the same forward outcomes as ``dps backtest``):
a reading's outcome is the absolute mark-price return to the point nearest ``t + 24h``
(within 45 min, strictly later) on the symbol's stored snapshots. Per band (or band and
bias) a group shows its readings, how many have a known outcome, the median absolute 24h
move, and its lift over the neutral readings of the same scope (``outcomes.with_lift``).

An outcome counts once it is **final**: the path has passed ``t + 24h + 45 min``, so no
later point can be nearer the target. Readings of the last day are counted as readings,
not yet as outcomes.

``TrackSeries`` holds one symbol's history columnar and is topped up as cycles store more:
only readings whose 24h window is still open are recomputed. It reports which outcomes
became final (or were dropped with old history), so a ``TrackPool`` over the whole market
is kept up to date with a cycle's worth of work, not the whole history's: two million
readings are not re-sorted for every median.

**Minimum sample.** A figure is shown only when its group and the neutral reference each
have at least ``min_readings`` (30) final outcomes, from at least ``min_days`` (3)
different UTC days. Thirty is the usual rule-of-thumb floor below which a median of a
skewed quantity swings with a handful of readings. The readings are hourly samples
(``bot.app.track``: readings minutes apart are nearly the same observation), so thirty
outcomes are at least thirty hours in the group; the days rule stays because hours in a
row still share most of their 24h window: the evidence must span separate days, not one
long episode.
"""

from __future__ import annotations

import bisect
import operator
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from bot.core.models import Band, Bias
from bot.core.outcomes import (
    BANDS_LOW_TO_HIGH,
    DEFAULT_HORIZONS,
    GroupStats,
    HorizonStats,
    forward_abs_returns,
    with_lift,
)
from bot.core.records import require_aware

NAN = float("nan")
_INF = float("inf")
DAY_S = 86400.0
TRACK_HORIZON = DEFAULT_HORIZONS[-1]
"""24h, ± 45 min: the horizon of every figure here."""
_REACH = TRACK_HORIZON.seconds + TRACK_HORIZON.tolerance_s
BANDS = BANDS_LOW_TO_HIGH
BIASES = tuple(Bias)
_BAND_CODE = {band: k for k, band in enumerate(BANDS)}
_BIAS_CODE = {bias: k for k, bias in enumerate(BIASES)}
_NEUTRAL = _BAND_CODE[Band.NEUTRAL]

Outcome = tuple[int, int, float, float]
"""A final outcome: (band code, bias code, 24h move in %, reading time in epoch seconds)."""


@dataclass(frozen=True, slots=True)
class TrackParams:
    """The minimum sample behind a shown figure (see the module docstring for why)."""

    min_readings: int = 30
    min_days: int = 3


DEFAULT_TRACK_PARAMS = TrackParams()


def _epoch(ts: datetime) -> float:
    require_aware("ts", ts)
    return ts.timestamp()


EpochMemo = dict[datetime, float]
"""Times already converted to epoch seconds (``TrackSeries.add_points``)."""


def _epochs(times: list[datetime], memo: EpochMemo | None) -> list[float]:
    if memo is None:
        return [_epoch(when) for when in times]
    found = list(map(memo.get, times))  # hits looked up without a Python loop
    if None in found:
        for k, when in enumerate(times):
            if found[k] is None:
                found[k] = memo[when] = _epoch(when)
    return cast(list[float], found)


class TrackSeries:
    """One symbol's kept history: its mark-price path and its readings with their 24h moves.

    Points and readings may arrive in any order and more than once (a re-read overlap);
    a time already held is kept as it was. ``take_changes`` hands over the outcomes that
    became final and those that stopped counting (reopened by a late point, or dropped).
    """

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.ts = array("d")  # path: epoch seconds, strictly increasing
        self.price = array("d")
        self.r_ts = array("d")  # readings: epoch seconds, strictly increasing
        self.r_band = array("b")
        self.r_bias = array("b")
        self.move = array("d")  # absolute 24h return in %, NaN while unknown
        self.settled = 0  # readings before this index have a final outcome
        self._dirty = False
        self._changes: list[tuple[bool, Outcome]] = []  # (added, outcome), in order

    def __len__(self) -> int:
        return len(self.r_ts)

    def add_points(
        self, points: Iterable[tuple[datetime, float | None]], epochs: EpochMemo | None = None
    ) -> None:
        """Add (time, mark price) points; a missing or bad price is kept as unknown (NaN).

        ``epochs``: a memo of times already converted, shared by the series of one read
        (their times are mostly the same few), so each time is converted once.
        """
        rows = points if isinstance(points, list) else list(points)
        ts = _epochs([when for when, _ in rows], epochs)
        price = [float(v) if v is not None and 0 < v < _INF else NAN for _, v in rows]
        start = self._tail(ts, self.ts)
        for t, p in zip(ts[:start], price[:start], strict=True):
            self._add_point(t, p)
        if start < len(ts):
            # The usual case: a read's points all after those held, in order.
            self.ts.extend(ts[start:])
            self.price.extend(price[start:])
            self._dirty = True

    def _add_point(self, t: float, p: float) -> None:
        if not self.ts or t > self.ts[-1]:
            self.ts.append(t)
            self.price.append(p)
        else:
            k = bisect.bisect_left(self.ts, t)
            if self.ts[k] == t:
                return
            self._reopen(t - _REACH)
            self.ts.insert(k, t)
            self.price.insert(k, p)
        self._dirty = True

    def add_readings(
        self, readings: Iterable[tuple[datetime, Band, Bias]], epochs: EpochMemo | None = None
    ) -> None:
        """Add (time, band, bias) readings (``epochs`` as in ``add_points``)."""
        rows = readings if isinstance(readings, list) else list(readings)
        ts = _epochs([when for when, _, _ in rows], epochs)
        bands = [_BAND_CODE[band] for _, band, _ in rows]
        biases = [_BIAS_CODE[bias] for _, _, bias in rows]
        start = self._tail(ts, self.r_ts)
        for t, band_code, bias_code in zip(ts[:start], bands[:start], biases[:start], strict=True):
            self._add_reading(t, band_code, bias_code)
        if start < len(ts):
            self.r_ts.extend(ts[start:])
            self.r_band.extend(bands[start:])
            self.r_bias.extend(biases[start:])
            self.move.extend(array("d", [NAN]) * (len(ts) - start))
            self._dirty = True

    def _add_reading(self, t: float, band_code: int, bias_code: int) -> None:
        if not self.r_ts or t > self.r_ts[-1]:
            k = len(self.r_ts)
        else:
            k = bisect.bisect_left(self.r_ts, t)
            if self.r_ts[k] == t:
                return
            self._reopen(t)
        self.r_ts.insert(k, t)
        self.r_band.insert(k, band_code)
        self.r_bias.insert(k, bias_code)
        self.move.insert(k, NAN)
        self._dirty = True

    @staticmethod
    def _tail(ts: Sequence[float], held: array[float]) -> int:
        """Where the run of ``ts`` that can be appended as it is starts (``len(ts)``: none).

        The times before it are added one by one first (a re-read overlap, a late row, any
        order), so the run must be strictly increasing and after every time held then:
        the result is that of adding each time in turn.
        """
        n = len(ts)
        newest = held[-1] if held else -_INF
        # The usual read: a few times already held (a re-read overlap), then new ones in
        # order; checked without a Python loop over the run.
        start = 0
        while start < n and ts[start] <= newest:
            start += 1
        if all(map(operator.lt, ts[start:], ts[start + 1 :])):
            return start
        start = n
        while start > 0 and (start == n or ts[start - 1] < ts[start]):
            start -= 1
        newest = max(ts[:start], default=-_INF)
        if held:
            newest = max(newest, held[-1])
        while start < n and ts[start] <= newest:
            start += 1
        return start

    def _final(self, k: int) -> Outcome:
        return (self.r_band[k], self.r_bias[k], self.move[k], self.r_ts[k])

    def _reopen(self, since: float) -> None:
        """Outcomes of readings from ``since`` on may change: they stop counting until final."""
        first = bisect.bisect_left(self.r_ts, since)
        if first < self.settled:
            self._log(False, range(first, self.settled))
            self.settled = first

    def settle(self) -> None:
        """Compute the 24h move of every reading whose outcome may have changed.

        Only the part of the path from the first open reading on is handed to
        ``forward_abs_returns``: an absolute return needs the reading's point and its forward
        point, both in that part.
        """
        if not self._dirty:
            return
        self._dirty = False
        first = self.settled
        if first >= len(self.r_ts) or not self.ts:
            return
        start = bisect.bisect_left(self.ts, self.r_ts[first])
        # Lists: indexing them makes no new float objects, as in ``forward_outcomes``.
        ts, price = self.ts[start:].tolist(), self.price[start:].tolist()
        moves = forward_abs_returns(ts, price, TRACK_HORIZON)
        # Each reading's move is its own time's on the path (NaN without a point there).
        at = dict(zip(ts, moves, strict=True))
        self.move[first:] = array("d", [at.get(t, NAN) for t in self.r_ts[first:]])
        # Final once the path has passed the end of the reading's window.
        self.settled = max(first, bisect.bisect_left(self.r_ts, self.ts[-1] - _REACH))
        self._log(True, range(first, self.settled))

    def drop_before(self, cutoff: datetime) -> None:
        """Forget points and readings older than ``cutoff`` (the kept history's start)."""
        t = _epoch(cutoff)
        k = bisect.bisect_left(self.ts, t)
        if k:
            del self.ts[:k]
            del self.price[:k]
        r = bisect.bisect_left(self.r_ts, t)
        if r:
            gone = min(r, self.settled)
            self._log(False, range(gone))
            for column in (self.r_ts, self.r_band, self.r_bias, self.move):
                del column[:r]
            self.settled -= gone

    def _log(self, added: bool, readings: range) -> None:
        a, b = readings.start, readings.stop
        # Column slices zipped, not ``_final`` per index: a first load logs every reading.
        columns = (self.r_band[a:b], self.r_bias[a:b], self.move[a:b], self.r_ts[a:b])
        outcomes = zip(*columns, strict=True)
        self._changes.extend((added, outcome) for outcome in outcomes if outcome[2] == outcome[2])

    def take_changes(self) -> list[tuple[bool, Outcome]]:
        """Outcomes that became final (True) or stopped counting (False) since the last call, in order."""
        self.settle()
        changes, self._changes = self._changes, []
        return changes

    def final_outcomes(self) -> list[Outcome]:
        """Every final, known outcome held (after settling)."""
        self.settle()
        return [self._final(k) for k in range(self.settled) if self.move[k] == self.move[k]]

    def band_counts(self) -> list[int]:
        """Readings held per band code (final or not)."""
        return [self.r_band.count(code) for code in range(len(BANDS))]

    @property
    def first(self) -> float | None:
        """Epoch seconds of the oldest reading held."""
        return self.r_ts[0] if self.r_ts else None

    @property
    def last(self) -> float | None:
        """Epoch seconds of the newest reading held."""
        return self.r_ts[-1] if self.r_ts else None


class SortedBag:
    """A multiset of floats kept sorted in chunks: add, remove and median without re-sorting.

    The market pool holds a million and more outcomes and changes by a few thousand a
    cycle; a plain sorted list would move the whole list on every change. Chunks are
    ``array("d")``: 8 bytes a value instead of a float object's 32.
    """

    CHUNK = 512

    def __init__(self) -> None:
        self._chunks: list[array[float]] = []
        self._maxes: list[float] = []
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, value: float) -> None:
        """Add one value."""
        self._size += 1
        if not self._chunks:
            self._chunks.append(array("d", [value]))
            self._maxes.append(value)
            return
        c = min(bisect.bisect_left(self._maxes, value), len(self._chunks) - 1)
        chunk = self._chunks[c]
        bisect.insort(chunk, value)
        self._maxes[c] = chunk[-1]
        if len(chunk) > 2 * self.CHUNK:
            self._chunks[c : c + 1] = [chunk[: self.CHUNK], chunk[self.CHUNK :]]
            self._maxes[c : c + 1] = [chunk[self.CHUNK - 1], chunk[-1]]

    def update(self, values: Iterable[float]) -> None:
        """Add many values at once (one sort, not one insertion each: a first load)."""
        merged = sorted([v for chunk in self._chunks for v in chunk] + list(values))
        self._chunks = [array("d", merged[k : k + self.CHUNK]) for k in range(0, len(merged), self.CHUNK)]
        self._maxes = [chunk[-1] for chunk in self._chunks]
        self._size = len(merged)

    def remove(self, value: float) -> None:
        """Remove one occurrence of ``value``.

        Raises:
            KeyError: it is not in the bag.
        """
        c = bisect.bisect_left(self._maxes, value)
        if c < len(self._chunks):
            chunk = self._chunks[c]
            i = bisect.bisect_left(chunk, value)
            if i < len(chunk) and chunk[i] == value:
                del chunk[i]
                self._size -= 1
                if chunk:
                    self._maxes[c] = chunk[-1]
                else:
                    del self._chunks[c]
                    del self._maxes[c]
                return
        raise KeyError(value)

    def _at(self, rank: int) -> float:
        for chunk in self._chunks:
            if rank < len(chunk):
                return chunk[rank]
            rank -= len(chunk)
        raise IndexError(rank)

    def median(self) -> float | None:
        """The median (the mean of the middle two for an even count), as ``outcomes.median``."""
        n = self._size
        if not n:
            return None
        mid = n // 2
        return self._at(mid) if n % 2 else (self._at(mid - 1) + self._at(mid)) / 2


class _Group:
    """Final outcomes of one group: their values and how many fall on each UTC day."""

    def __init__(self) -> None:
        self.moves = SortedBag()
        self.days: Counter[int] = Counter()

    def add(self, move: float, t: float) -> None:
        self.moves.add(move)
        self.days[int(t // DAY_S)] += 1

    def remove(self, move: float, t: float) -> None:
        self.moves.remove(move)
        day = int(t // DAY_S)
        self.days[day] -= 1
        if not self.days[day]:
            del self.days[day]

    def enough(self, p: TrackParams) -> bool:
        return len(self.moves) >= p.min_readings and len(self.days) >= p.min_days

    def stats(self, key: str, readings: int) -> GroupStats:
        horizon = HorizonStats(
            horizon=TRACK_HORIZON.label,
            n=len(self.moves),
            median_abs_return_pct=self.moves.median(),
            n_vol=0,
            median_rel_vol=None,
            n_oi=0,
            oi_drop_share=None,
        )
        return GroupStats(key=key, readings=readings, horizons=(horizon,))


@dataclass(frozen=True, slots=True)
class TrackGroup:
    """One group's figures.

    Attributes:
        readings: readings in the history (outcome final or not).
        known: readings with a final 24h outcome (the sample).
        days: different UTC days among those.
        median_move_pct / lift: ``None`` below the minimum sample (``enough`` False), or
            for the lift also when the neutral reference is below it.
    """

    band: Band
    bias: Bias | None
    readings: int
    known: int
    days: int
    median_move_pct: float | None
    lift: float | None
    enough: bool


def _figures(
    band: Band, bias: Bias | None, group: _Group, readings: int, reference: _Group, p: TrackParams
) -> TrackGroup:
    lifted = with_lift(group.stats(band.value, readings), reference.stats(Band.NEUTRAL.value, 0)).horizons[0]
    shown = group.enough(p)
    return TrackGroup(
        band=band,
        bias=bias,
        readings=readings,
        known=lifted.n,
        days=len(group.days),
        median_move_pct=lifted.median_abs_return_pct if shown else None,
        lift=lifted.lift_abs_return if shown and reference.enough(p) else None,
        enough=shown,
    )


@dataclass(frozen=True, slots=True)
class TrackRecord:
    """Per band, lowest first, how the readings of one symbol (or the market) played out.

    Attributes:
        first / last: the oldest and newest reading in the history (``None``: none).
    """

    symbol: str | None
    first: datetime | None
    last: datetime | None
    bands: tuple[TrackGroup, ...]
    params: TrackParams

    @property
    def neutral(self) -> TrackGroup:
        """The neutral band: the reference of every lift."""
        return self.bands[_NEUTRAL]

    @property
    def days(self) -> float:
        """How many days back the history reaches from its newest reading."""
        if self.first is None or self.last is None:
            return 0.0
        return (self.last - self.first).total_seconds() / DAY_S


def _time(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, UTC)


class TrackPool:
    """The final outcomes of many symbols per band, kept current from their changes."""

    def __init__(self) -> None:
        self._bands = [_Group() for _ in BANDS]
        self._staged: list[array[float]] | None = None

    def stage(self) -> None:
        """Buffer new outcomes in flat arrays until ``flush`` sorts them in at once.

        For a first load: inserting a million values one by one is slow, and re-sorting
        the pool per slice read would scatter small objects among the rows being read,
        which keeps their memory from being returned.
        """
        if self._staged is None:
            self._staged = [array("d") for _ in BANDS]

    def flush(self) -> None:
        """Sort the staged outcomes in (see ``stage``)."""
        if self._staged is not None:
            for group, moves in zip(self._bands, self._staged, strict=True):
                if moves:
                    group.moves.update(moves)
            self._staged = None

    def apply(self, changes: Sequence[tuple[bool, Outcome]]) -> None:
        """Take ``TrackSeries.take_changes`` (of one series or several, each in its order)."""
        for added, (band, _, move, t) in changes:
            group = self._bands[band]
            if added and self._staged is not None:
                self._staged[band].append(move)
                group.days[int(t // DAY_S)] += 1
            elif added:
                group.add(move, t)
            else:
                if self._staged is not None:  # it may be among the staged ones
                    self.flush()
                    self.stage()
                group.remove(move, t)

    def record(
        self, series: Sequence[TrackSeries], symbol: str | None, params: TrackParams = DEFAULT_TRACK_PARAMS
    ) -> TrackRecord:
        """The record of ``series``, whose changes this pool has taken (reading counts come from them)."""
        counts = [0] * len(BANDS)
        for s in series:
            for code, n in enumerate(s.band_counts()):
                counts[code] += n
        firsts = [s.first for s in series if s.first is not None]
        lasts = [s.last for s in series if s.last is not None]
        neutral = self._bands[_NEUTRAL]
        return TrackRecord(
            symbol=symbol,
            first=_time(min(firsts, default=None)),
            last=_time(max(lasts, default=None)),
            bands=tuple(
                _figures(band, None, self._bands[k], counts[k], neutral, params)
                for k, band in enumerate(BANDS)
            ),
            params=params,
        )


def track_record(
    series: Sequence[TrackSeries], symbol: str | None = None, params: TrackParams = DEFAULT_TRACK_PARAMS
) -> TrackRecord:
    """Per band, the readings of ``series`` and their median 24h move vs neutral (from scratch)."""
    pool = TrackPool()
    pool.stage()
    for s in series:
        pool.apply([(True, outcome) for outcome in s.final_outcomes()])
    pool.flush()
    return pool.record(series, symbol, params)


def evidence(
    series: TrackSeries, band: Band, bias: Bias, params: TrackParams = DEFAULT_TRACK_PARAMS
) -> tuple[TrackGroup, TrackGroup] | None:
    """The symbol's readings of ``band`` and ``bias`` and its neutral readings, when both
    clear the minimum sample (``None`` otherwise: the alert then carries no evidence)."""
    want_band, want_bias = _BAND_CODE[band], _BIAS_CODE[bias]
    group, neutral = _Group(), _Group()
    for b, side, move, t in series.final_outcomes():
        if b == want_band and side == want_bias:
            group.add(move, t)
        if b == _NEUTRAL:
            neutral.add(move, t)
    readings = sum(
        1 for b, side in zip(series.r_band, series.r_bias, strict=True) if (b, side) == (want_band, want_bias)
    )
    found = _figures(band, bias, group, readings, neutral, params)
    reference = _figures(Band.NEUTRAL, None, neutral, series.band_counts()[_NEUTRAL], neutral, params)
    if not (found.enough and reference.enough):
        return None
    return found, reference
