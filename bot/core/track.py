"""The bot's own track record: how its stored readings' next 24 hours went (``/track``, alert evidence).

Pure, and built on ``bot.core.outcomes`` (the same forward outcomes as ``dps backtest``):
a reading's outcome is the absolute mark-price return to the point nearest ``t + 24h``
(within 45 min, strictly later) on the symbol's stored snapshots. Per band (or band and
bias) a group shows its readings, how many have a known outcome, the median absolute 24h
move, and its lift over the neutral readings of the same scope (``outcomes.with_lift``).

``TrackSeries`` holds one symbol's history columnar and is topped up as cycles store more:
only readings whose 24h window is still open are recomputed, so keeping the track record
current costs a cycle's worth of work, not the whole history's.

**Minimum sample.** A figure is shown only when its group and the neutral reference each
have at least ``min_readings`` (30) readings with a known outcome, from at least
``min_days`` (3) different UTC days. Thirty is the usual floor for a median to settle to
about ±20 % of its value on spread-out data; the days rule is there because readings five
minutes apart share almost all of their 24h window, so thirty readings in a row are one
episode (two and a half hours), not thirty pieces of evidence.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.core.models import Band, Bias
from bot.core.outcomes import (
    DEFAULT_HORIZONS,
    GroupStats,
    HorizonStats,
    OutcomeParams,
    PricePath,
    forward_outcomes,
    median,
    with_lift,
)

NAN = float("nan")
DAY_S = 86400.0
TRACK_HORIZON = DEFAULT_HORIZONS[-1]
"""24h, ± 45 min: the horizon of every figure here."""
TRACK_OUTCOMES = OutcomeParams(horizons=(TRACK_HORIZON,))
BANDS = tuple(Band)
BIASES = tuple(Bias)
_BAND_CODE = {band: k for k, band in enumerate(BANDS)}
_BIAS_CODE = {bias: k for k, bias in enumerate(BIASES)}


@dataclass(frozen=True, slots=True)
class TrackParams:
    """The minimum sample behind a shown figure (see the module docstring for why)."""

    min_readings: int = 30
    min_days: int = 3


DEFAULT_TRACK_PARAMS = TrackParams()


def _epoch(ts: datetime) -> float:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"expected an aware UTC datetime, got naive {ts.isoformat()}")
    return ts.timestamp()


class TrackSeries:
    """One symbol's kept history: its mark-price path and its readings with their 24h moves.

    Points and readings may arrive in any order and more than once (a re-read overlap);
    a time already held is kept as it was.
    """

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.ts = array("d")  # path: epoch seconds, strictly increasing
        self.price = array("d")
        self.r_ts = array("d")  # readings: epoch seconds, strictly increasing
        self.r_band = array("b")
        self.r_bias = array("b")
        self.move = array("d")  # absolute 24h return in %, NaN while unknown
        self._settled = 0  # readings before this index have a final outcome
        self._dirty = False

    def __len__(self) -> int:
        return len(self.r_ts)

    def add_points(self, points: Iterable[tuple[datetime, float]]) -> None:
        """Add (time, mark price) points; a bad price is kept as unknown (NaN)."""
        for when, value in points:
            t = _epoch(when)
            p = float(value) if value is not None and math.isfinite(value) and value > 0 else NAN
            if not self.ts or t > self.ts[-1]:
                self.ts.append(t)
                self.price.append(p)
            else:
                k = bisect.bisect_left(self.ts, t)
                if self.ts[k] == t:
                    continue
                self.ts.insert(k, t)
                self.price.insert(k, p)
                self._reopen(t - TRACK_HORIZON.seconds - TRACK_HORIZON.tolerance_s)
            self._dirty = True

    def add_readings(self, readings: Iterable[tuple[datetime, Band, Bias]]) -> None:
        """Add (time, band, bias) readings."""
        for when, band, bias in readings:
            t = _epoch(when)
            if not self.r_ts or t > self.r_ts[-1]:
                k = len(self.r_ts)
            else:
                k = bisect.bisect_left(self.r_ts, t)
                if self.r_ts[k] == t:
                    continue
                self._reopen(t)
            self.r_ts.insert(k, t)
            self.r_band.insert(k, _BAND_CODE[band])
            self.r_bias.insert(k, _BIAS_CODE[bias])
            self.move.insert(k, NAN)
            self._dirty = True

    def _reopen(self, since: float) -> None:
        self._settled = min(self._settled, bisect.bisect_left(self.r_ts, since))

    def settle(self) -> None:
        """Compute the 24h move of every reading whose outcome may have changed.

        Only the part of the path from the first open reading on is handed to
        ``forward_outcomes``: an absolute return needs the reading's point and its forward
        point, both in that part.
        """
        if not self._dirty:
            return
        self._dirty = False
        first = self._settled
        if first >= len(self.r_ts) or not self.ts:
            return
        start = bisect.bisect_left(self.ts, self.r_ts[first])
        ts, price = self.ts[start:], self.price[start:]
        path = PricePath(ts, price, array("d", [NAN]) * len(ts))
        (outcome,) = forward_outcomes(path, TRACK_OUTCOMES)
        moves = outcome.abs_return_pct
        for k in range(first, len(self.r_ts)):
            i = bisect.bisect_left(ts, self.r_ts[k])
            self.move[k] = moves[i] if i < len(ts) and ts[i] == self.r_ts[k] else NAN
        # Final once the path has passed the end of the reading's window: no later point
        # can be nearer its target.
        closed = self.ts[-1] - TRACK_HORIZON.seconds - TRACK_HORIZON.tolerance_s
        self._settled = max(first, bisect.bisect_left(self.r_ts, closed))

    def drop_before(self, cutoff: datetime) -> None:
        """Forget points and readings older than ``cutoff`` (the kept history's start)."""
        t = _epoch(cutoff)
        k = bisect.bisect_left(self.ts, t)
        if k:
            del self.ts[:k]
            del self.price[:k]
        r = bisect.bisect_left(self.r_ts, t)
        if r:
            for column in (self.r_ts, self.r_band, self.r_bias, self.move):
                del column[:r]
            self._settled = max(self._settled - r, 0)

    @property
    def first(self) -> float | None:
        """Epoch seconds of the oldest reading held."""
        return self.r_ts[0] if self.r_ts else None

    @property
    def last(self) -> float | None:
        """Epoch seconds of the newest reading held."""
        return self.r_ts[-1] if self.r_ts else None


@dataclass(frozen=True, slots=True)
class TrackGroup:
    """One group's figures.

    Attributes:
        readings: readings in the history (outcome known or not).
        known: readings with a known 24h outcome (the sample).
        days: different UTC days among those.
        median_move_pct / lift: ``None`` below the minimum sample (``enough`` False), or
            for the lift also when the reference is below it.
    """

    band: Band
    bias: Bias | None
    readings: int
    known: int
    days: int
    median_move_pct: float | None
    lift: float | None
    enough: bool


@dataclass(frozen=True, slots=True)
class TrackRecord:
    """Per band, lowest first, how the readings of one symbol (or the market) played out.

    Attributes:
        first / last: the oldest and newest reading in the history (``None``: none).
        neutral: the reference group (also the first of ``bands``).
    """

    symbol: str | None
    first: datetime | None
    last: datetime | None
    bands: tuple[TrackGroup, ...]
    params: TrackParams

    @property
    def neutral(self) -> TrackGroup:
        """The neutral band: the reference of every lift."""
        return self.bands[0]

    @property
    def days(self) -> float:
        """How many days back the history reaches from its newest reading."""
        if self.first is None or self.last is None:
            return 0.0
        return (self.last - self.first).total_seconds() / DAY_S


@dataclass(slots=True)
class _Sample:
    readings: int = 0
    moves: list[float] = field(default_factory=list)
    days: set[int] = field(default_factory=set)

    def add(self, move: float, t: float) -> None:
        self.readings += 1
        if move == move:  # NaN: the outcome is not known (yet)
            self.moves.append(move)
            self.days.add(int(t // DAY_S))


def _stats(key: str, sample: _Sample) -> GroupStats:
    moves = sample.moves
    horizon = HorizonStats(
        horizon=TRACK_HORIZON.label,
        n=len(moves),
        median_abs_return_pct=median(moves),
        n_vol=0,
        median_rel_vol=None,
        n_oi=0,
        oi_drop_share=None,
    )
    return GroupStats(key=key, readings=sample.readings, horizons=(horizon,))


def _group(band: Band, bias: Bias | None, sample: _Sample, reference: _Sample, p: TrackParams) -> TrackGroup:
    def enough(s: _Sample) -> bool:
        return len(s.moves) >= p.min_readings and len(s.days) >= p.min_days

    lifted = with_lift(_stats(band.value, sample), _stats(Band.NEUTRAL.value, reference)).horizons[0]
    shown = enough(sample)
    return TrackGroup(
        band=band,
        bias=bias,
        readings=sample.readings,
        known=lifted.n,
        days=len(sample.days),
        median_move_pct=lifted.median_abs_return_pct if shown else None,
        lift=lifted.lift_abs_return if shown and enough(reference) else None,
        enough=shown,
    )


def _time(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, UTC)


def track_record(
    series: Sequence[TrackSeries], symbol: str | None = None, params: TrackParams = DEFAULT_TRACK_PARAMS
) -> TrackRecord:
    """Per band, the readings of ``series`` (settled first) and their median 24h move vs neutral."""
    samples = [_Sample() for _ in BANDS]
    for s in series:
        s.settle()
        for t, band, move in zip(s.r_ts, s.r_band, s.move, strict=True):
            samples[band].add(move, t)
    firsts = [s.first for s in series if s.first is not None]
    lasts = [s.last for s in series if s.last is not None]
    return TrackRecord(
        symbol=symbol,
        first=_time(min(firsts, default=None)),
        last=_time(max(lasts, default=None)),
        bands=tuple(_group(band, None, samples[k], samples[0], params) for k, band in enumerate(BANDS)),
        params=params,
    )


def evidence(
    series: TrackSeries, band: Band, bias: Bias, params: TrackParams = DEFAULT_TRACK_PARAMS
) -> tuple[TrackGroup, TrackGroup] | None:
    """The symbol's readings of ``band`` and ``bias`` and its neutral readings, when both
    clear the minimum sample (``None`` otherwise: the alert then carries no evidence)."""
    series.settle()
    want_band, want_bias = _BAND_CODE[band], _BIAS_CODE[bias]
    group, neutral = _Sample(), _Sample()
    for t, b, side, move in zip(series.r_ts, series.r_band, series.r_bias, series.move, strict=True):
        if b == want_band and side == want_bias:
            group.add(move, t)
        if b == 0:
            neutral.add(move, t)
    found = _group(band, bias, group, neutral, params)
    reference = _group(Band.NEUTRAL, None, neutral, neutral, params)
    if not (found.enough and reference.enough):
        return None
    return found, reference
