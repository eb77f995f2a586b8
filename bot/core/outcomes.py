"""What followed a reading: forward outcomes from the mark price and open interest.

Pure statistics, shared by ``dps backtest`` and the bot's own track record. The unit of
data is one symbol's **path**: its time-ordered points (time, mark price, OI in
contracts). Readings (a score, a band, an alert) sit on points of that path; what a
reading was worth is read off the path **after** it. Nothing that describes a reading
(its features) is read from the future; only the outcomes are, and a baseline (the
trailing volatility) only uses windows that closed at or before the reading.

Definitions, per reading at path point ``i`` (time ``t``) and horizon ``H``:

* **forward point** ``j``: the point nearest to ``t + H`` within the horizon's tolerance
  (10 min for 1h, 20 min for 4h, 45 min for 24h, as the OI deltas use), strictly after
  ``i``; a tie goes to the older point. No such point: every outcome is unknown.
* **absolute return** ``|p_j / p_i − 1| · 100`` (%), from the mark price.
* **realised volatility** ``RV(i) = 100 · sqrt(Σ ln(p_k / p_{k−1})²)`` over the points
  ``k`` in ``(i, j]`` (a point without a price adds nothing; the next price is compared
  with the last known one). **Relative volatility** is ``RV(i)`` over the symbol's own
  *trailing median*: the median of ``RV(u)`` over the earlier points ``u`` whose forward
  window closed at or before ``t`` (``t_j(u) ≤ t``) and began within ``trailing_s``
  (default 7 days) of ``t``. The baseline needs at least ``min_trailing`` (12) such
  windows whose start times span at least ``H``; otherwise it is unknown. A value of 2
  means the next H was twice as turbulent as this symbol's usual H.
* **OI drop**: the lowest OI over ``(i, j]`` is at least ``oi_drop_pct`` (10 %) below the
  OI at ``i``.

Per group of readings (a band, a regime, an alert kind, ...), per horizon: the number of
readings with a known outcome, the median absolute return, the median relative
volatility and the share of readings followed by an OI drop; each with its **lift**: the
ratio to the same figure of a reference group (the neutral band), so 1 means "no
different from a quiet reading".

Use: ``PricePath.of(points)`` → ``forward_outcomes(path)`` → ``OutcomeStore.extend`` the
readings' path indices → group the returned ids → ``summarise`` the reference group →
``group_table``. ``rank_bands`` turns any single feature into bands of given sizes, for
naive baselines the score must beat.
"""

from __future__ import annotations

import bisect
import math
import operator
import statistics
from array import array
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.models import Band
from bot.core.records import require_aware

NAN = float("nan")


@dataclass(frozen=True, slots=True)
class Horizon:
    """A forward horizon: its label, its length and the slack allowed around its end."""

    label: str
    seconds: float
    tolerance_s: float


DEFAULT_HORIZONS: tuple[Horizon, ...] = (
    Horizon("1h", 3600.0, 600.0),
    Horizon("4h", 4 * 3600.0, 1200.0),
    Horizon("24h", 24 * 3600.0, 2700.0),
)
"""1h, 4h, 24h, with the OI deltas' tolerances (``bot.core.oi_deltas.DEFAULT_TOLERANCES``)."""


@dataclass(frozen=True, slots=True)
class OutcomeParams:
    """Settings of the outcome statistics (see the module docstring for their meaning)."""

    horizons: tuple[Horizon, ...] = DEFAULT_HORIZONS
    oi_drop_pct: float = 10.0
    trailing_s: float = 7 * 86400.0
    min_trailing: int = 12


DEFAULT_OUTCOME_PARAMS = OutcomeParams()


def _clean(value: float | None) -> float:
    return NAN if value is None or not math.isfinite(value) or value <= 0 else float(value)


@dataclass(frozen=True, slots=True)
class PricePath:
    """One symbol's points, columnar: epoch seconds (strictly increasing), mark price and OI.

    Missing, non-finite or non-positive prices and OI are stored as NaN.
    """

    ts: Sequence[float]
    price: Sequence[float]
    oi: Sequence[float]

    def __post_init__(self) -> None:
        if not len(self.ts) == len(self.price) == len(self.oi):
            raise ValueError("PricePath: ts, price and oi must have the same length")

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def of(cls, points: Iterable[tuple[datetime, float | None, float | None]]) -> PricePath:
        """A path from (aware time, mark price, OI contracts) points; sorted, repeated times dropped.

        Raises:
            ValueError: a naive time.
        """
        by_time: dict[float, tuple[float, float]] = {}
        for ts, price, oi in points:
            require_aware("ts", ts)
            by_time.setdefault(ts.timestamp(), (_clean(price), _clean(oi)))
        order = sorted(by_time)
        return cls(
            array("d", order),
            array("d", (by_time[t][0] for t in order)),
            array("d", (by_time[t][1] for t in order)),
        )

    def index_of(self, ts: datetime) -> int | None:
        """The index of the point at exactly ``ts``, if there is one."""
        key = ts.timestamp()
        i = bisect.bisect_left(self.ts, key)
        return i if i < len(self.ts) and self.ts[i] == key else None


@dataclass(frozen=True, slots=True)
class HorizonOutcomes:
    """Outcomes at one horizon for every point of a path (NaN / -1 = unknown).

    Attributes:
        abs_return_pct: absolute mark-price return to the forward point, in %.
        rel_vol: forward realised volatility over the trailing median.
        oi_drop: 1 if OI fell by ``oi_drop_pct`` or more within the horizon, 0 if not.
    """

    horizon: Horizon
    abs_return_pct: array[float]
    rel_vol: array[float]
    oi_drop: array[int]


def forward_index(ts: Sequence[float], i: int, horizon: Horizon) -> int | None:
    """The point nearest to ``ts[i] + H`` within the tolerance, after ``i`` (ties: the older)."""
    target = ts[i] + horizon.seconds
    k = max(bisect.bisect_left(ts, target), i + 1)  # the first later point at or after the target
    best: int | None = None
    best_gap = horizon.tolerance_s
    for j in (k - 1, k):
        if i < j < len(ts):
            gap = abs(ts[j] - target)
            if gap <= best_gap and (best is None or gap < best_gap):
                best, best_gap = j, gap
    return best


def _cumulative_sq_log_returns(price: Sequence[float]) -> list[float]:
    out = [0.0] * len(price)
    total = 0.0
    last = NAN
    for k, p in enumerate(price):
        if p == p:  # not NaN
            if last == last:
                r = math.log(p / last)
                total += r * r
            last = p
        out[k] = total
    return out


def _forward_indices(ts: Sequence[float], horizon: Horizon) -> list[int]:
    """``forward_index`` of every point (-1 for none), in one pass: the target only moves forward."""
    n = len(ts)
    out = [-1] * n
    seconds, tolerance = horizon.seconds, horizon.tolerance_s
    k = 0  # the first point at or after the target
    for i in range(n):
        target = ts[i] + seconds
        if k <= i:
            k = i + 1
        while k < n and ts[k] < target:
            k += 1
        best, best_gap = -1, tolerance
        if k - 1 > i and target - ts[k - 1] <= tolerance:
            best, best_gap = k - 1, target - ts[k - 1]
        if k < n:
            gap = ts[k] - target
            if gap <= best_gap and (best < 0 or gap < best_gap):
                best = k
        out[i] = best
    return out


def _horizon_outcomes(
    path: PricePath, horizon: Horizon, cum: Sequence[float], p: OutcomeParams
) -> HorizonOutcomes:
    # One pass with everything inlined: this runs once per point and horizon, a million
    # points and more on a large backtest.
    ts, price, oi = path.ts, path.price, path.oi  # lists: indexing them makes no new floats
    n = len(ts)
    ahead = _forward_indices(ts, horizon)
    abs_ret = array("d", [NAN]) * n
    rel = array("d", [NAN]) * n
    drop = array("b", [-1]) * n
    rv = [NAN] * n
    floor = 1.0 - p.oi_drop_pct / 100.0
    late = horizon.seconds + horizon.tolerance_s
    span, lookback, min_count = horizon.seconds, p.trailing_s, p.min_trailing
    sqrt, insort, bisect_left = math.sqrt, bisect.insort, bisect.bisect_left
    trailing: list[float] = []  # RV of the windows in the lookback, sorted
    order: deque[tuple[float, float]] = deque()  # the same windows as (start, RV), oldest first
    added = 0  # points u < added have been offered to the trailing window
    lows: deque[int] = deque()  # indices in (i, reach] with increasing OI: a sliding minimum
    reach = 0
    for i in range(n):
        j = ahead[i]
        p0 = price[i]
        if j >= 0 and p0 == p0:
            sq = cum[j] - cum[i]
            rv[i] = 100.0 * sqrt(sq) if sq > 0 else 0.0
        # The trailing baseline: windows that closed by now and began within the lookback.
        now = ts[i]
        while added < i:
            a = ahead[added]
            if (ts[a] if a >= 0 else ts[added] + late) > now:
                break
            value = rv[added]
            if value == value:
                insort(trailing, value)
                order.append((ts[added], value))
            added += 1
        oldest = now - lookback
        while order and order[0][0] < oldest:
            del trailing[bisect_left(trailing, order.popleft()[1])]
        if j < 0:
            continue
        p1 = price[j]
        if p0 == p0 and p1 == p1:
            abs_ret[i] = abs(p1 / p0 - 1.0) * 100.0
        r = rv[i]
        count = len(trailing)
        if r == r and count >= min_count and order[-1][0] - order[0][0] >= span:
            mid = count // 2
            base = trailing[mid] if count % 2 else (trailing[mid - 1] + trailing[mid]) / 2
            if base > 0:
                rel[i] = r / base
        # Sliding minimum of OI over (i, j]: both ends only move forward.
        while reach < j:
            reach += 1
            value = oi[reach]
            if value == value:
                while lows and oi[lows[-1]] >= value:
                    lows.pop()
                lows.append(reach)
        while lows and lows[0] <= i:
            lows.popleft()
        here = oi[i]
        if here == here and lows:
            drop[i] = 1 if oi[lows[0]] <= here * floor else 0
    return HorizonOutcomes(horizon, abs_ret, rel, drop)


def forward_abs_returns(ts: Sequence[float], price: Sequence[float], horizon: Horizon) -> array[float]:
    """``forward_outcomes``' ``abs_return_pct`` at one horizon alone (NaN = unknown).

    The track record needs no volatility or OI outcome: this skips their passes (most of
    the work) and gives the same values, from the same forward points.
    """
    out = array("d", [NAN]) * len(ts)
    for i, j in enumerate(_forward_indices(ts, horizon)):
        if j >= 0:
            p0, p1 = price[i], price[j]
            if p0 == p0 and p1 == p1:
                out[i] = abs(p1 / p0 - 1.0) * 100.0
    return out


def forward_outcomes(
    path: PricePath, params: OutcomeParams = DEFAULT_OUTCOME_PARAMS
) -> tuple[HorizonOutcomes, ...]:
    """Outcomes at every point of ``path``, one ``HorizonOutcomes`` per horizon of ``params``."""
    cum = _cumulative_sq_log_returns(path.price)
    as_lists = PricePath(list(path.ts), list(path.price), list(path.oi))
    return tuple(_horizon_outcomes(as_lists, h, cum, params) for h in params.horizons)


class OutcomeStore:
    """Outcomes of many readings (of many symbols), columnar; a reading is an integer id.

    Columns take 17 bytes per reading and horizon, so a million readings fit in about 50 MB.
    """

    def __init__(self, horizons: Sequence[Horizon] = DEFAULT_HORIZONS) -> None:
        self.horizons = tuple(horizons)
        self._abs = [array("d") for _ in self.horizons]
        self._rel = [array("d") for _ in self.horizons]
        self._drop = [array("b") for _ in self.horizons]

    def __len__(self) -> int:
        return len(self._abs[0]) if self._abs else 0

    def extend(self, outcomes: Sequence[HorizonOutcomes], indices: Iterable[int]) -> range:
        """Add the readings at path ``indices`` (outcomes from ``forward_outcomes``); returns their ids."""
        if tuple(o.horizon for o in outcomes) != self.horizons:
            raise ValueError("OutcomeStore.extend: outcomes for other horizons than the store's")
        start = len(self)
        picked = list(indices)
        for h, o in enumerate(outcomes):
            a, r, d = o.abs_return_pct, o.rel_vol, o.oi_drop
            self._abs[h].extend([a[i] for i in picked])
            self._rel[h].extend([r[i] for i in picked])
            self._drop[h].extend([d[i] for i in picked])
        return range(start, start + len(picked))

    def columns(self, h: int) -> tuple[array[float], array[float], array[int]]:
        """(absolute return %, relative volatility, OI drop) of horizon number ``h``."""
        return self._abs[h], self._rel[h], self._drop[h]


@dataclass(frozen=True, slots=True)
class HorizonStats:
    """One group's outcomes at one horizon; ``None`` when nothing is known.

    Attributes:
        n: readings with a known forward price.
        median_abs_return_pct: median absolute mark-price return, in %.
        n_vol / median_rel_vol: readings with a known relative volatility, and its median.
        n_oi / oi_drop_share: readings with a known OI outcome, and the share (0..1) followed
            by an OI drop.
        lift_*: each figure over the reference group's (``None`` without both).
    """

    horizon: str
    n: int
    median_abs_return_pct: float | None
    n_vol: int
    median_rel_vol: float | None
    n_oi: int
    oi_drop_share: float | None
    lift_abs_return: float | None = None
    lift_rel_vol: float | None = None
    lift_oi_drop: float | None = None


@dataclass(frozen=True, slots=True)
class GroupStats:
    """A group of readings: its key, its size and its outcomes per horizon."""

    key: str
    readings: int
    horizons: tuple[HorizonStats, ...]


def median(values: Sequence[float]) -> float | None:
    """The median of ``values`` (``None`` when empty)."""
    return statistics.median(values) if len(values) else None


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference <= 0:
        return None
    return value / reference


def _gather(column: Sequence[float], ids: Sequence[int]) -> list[float]:
    if not ids:
        return []
    if len(ids) == 1:
        return [column[ids[0]]]
    return list(operator.itemgetter(*ids)(column))  # one C-level gather


def summarise(store: OutcomeStore, key: str, ids: Sequence[int]) -> GroupStats:
    """The outcomes of the readings ``ids`` of ``store``, without lifts."""
    stats = []
    for h, horizon in enumerate(store.horizons):
        a, r, d = store.columns(h)
        returns = [v for v in _gather(a, ids) if v == v]
        vols = [v for v in _gather(r, ids) if v == v]
        drops = _gather(d, ids)
        dropped, known = drops.count(1), len(drops) - drops.count(-1)
        stats.append(
            HorizonStats(
                horizon=horizon.label,
                n=len(returns),
                median_abs_return_pct=median(returns),
                n_vol=len(vols),
                median_rel_vol=median(vols),
                n_oi=known,
                oi_drop_share=dropped / known if known else None,
            )
        )
    return GroupStats(key=key, readings=len(ids), horizons=tuple(stats))


def with_lift(group: GroupStats, reference: GroupStats) -> GroupStats:
    """``group`` with every figure's lift over ``reference`` (same horizons) filled in."""
    lifted = tuple(
        HorizonStats(
            horizon=g.horizon,
            n=g.n,
            median_abs_return_pct=g.median_abs_return_pct,
            n_vol=g.n_vol,
            median_rel_vol=g.median_rel_vol,
            n_oi=g.n_oi,
            oi_drop_share=g.oi_drop_share,
            lift_abs_return=_ratio(g.median_abs_return_pct, r.median_abs_return_pct),
            lift_rel_vol=_ratio(g.median_rel_vol, r.median_rel_vol),
            lift_oi_drop=_ratio(g.oi_drop_share, r.oi_drop_share),
        )
        for g, r in zip(group.horizons, reference.horizons, strict=True)
    )
    return GroupStats(key=group.key, readings=group.readings, horizons=lifted)


def group_table(
    store: OutcomeStore, groups: Mapping[str, Sequence[int]], reference: GroupStats
) -> list[GroupStats]:
    """Every group's outcomes with lifts over ``reference``, in the mapping's order."""
    return [with_lift(summarise(store, key, ids), reference) for key, ids in groups.items()]


BANDS_LOW_TO_HIGH = (Band.NEUTRAL, Band.LEAN, Band.STRETCHED, Band.STRESSED)


def rank_bands(values: Sequence[float], counts: Mapping[Band, int]) -> list[Band]:
    """Band readings by one feature alone, with the given number of readings per band.

    The highest values go to the highest band (stressed first, ``counts[STRESSED]`` of
    them), and so on down; NaN ranks lowest; ties keep the input order (earlier readings
    rank higher), so the result is deterministic. This is how a naive baseline (say,
    \\|funding\\| alone) is cut into the same band sizes as the score.

    Raises:
        ValueError: the counts do not add up to ``len(values)``.
    """
    if sum(counts.get(b, 0) for b in BANDS_LOW_TO_HIGH) != len(values):
        raise ValueError("rank_bands: the band counts must add up to the number of values")
    order = sorted(range(len(values)), key=lambda i: -values[i] if values[i] == values[i] else math.inf)
    out = [Band.NEUTRAL] * len(values)
    pos = 0
    for band in reversed(BANDS_LOW_TO_HIGH):
        for i in order[pos : pos + counts.get(band, 0)]:
            out[i] = band
        pos += counts.get(band, 0)
    return out
