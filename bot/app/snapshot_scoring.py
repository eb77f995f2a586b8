"""Score the latest snapshot of every symbol from its stored open-interest history.

Data-quality rule: a snapshot older than ``stale_after`` at ``now`` is **excluded** from
the scores (never scored, so no alert can fire from stale data). ``split_stale`` applies
the same rule and returns the excluded snapshots, for ``/status`` and the log line that
says data stopped. A snapshot dated after ``now`` (clock skew) counts as fresh.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.frozen import quick_init
from bot.core.inputs import inputs_from_snapshot
from bot.core.market import MarketSnapshot
from bot.core.models import ScoreInputs, ScoreResult
from bot.core.oi_deltas import (
    DEFAULT_TOLERANCES,
    ChangePicks,
    ChangeTimes,
    OiChanges,
    OiDeltaTolerances,
    OiSample,
    change_picks,
    changes_at,
    changes_picked,
)
from bot.core.params import ScoringParams
from bot.core.records import require_aware
from bot.core.scoring import score

DEFAULT_STALE_AFTER = timedelta(minutes=10)
"""Two 5-minute collection cycles: the product's definition of stale data."""

OiHistory = Callable[[str], Sequence[OiSample]]
"""Symbol → that symbol's stored (ts, oi_contracts) points, sorted by time (or, for the
price, its (ts, mark_price) points)."""


Measured = tuple[OiChanges, OiChanges | None]
"""A snapshot's OI changes and its mark-price changes (``None``: no price moves)."""

Measure = Callable[[Sequence[MarketSnapshot], Sequence[ChangeTimes]], Sequence[Measured]]
"""The fresh snapshots of a cycle and their measuring times → each one's ``Measured``."""


class SharedTimes(list[OiSample]):
    """A history whose times are those of every other history with the same ``times`` object.

    ``bot.app.market_memory`` hands the scorer thousands of histories on the same few
    times; the points each change is measured from depend on the times alone
    (``change_picks``), so the scorer finds them once per ``times`` and measuring time.
    Built as a list (``shared_times``): an ``__init__`` of its own would cost a Python call
    per history.
    """

    __slots__ = ("times",)
    times: object


def shared_times(points: Iterable[OiSample], times: object) -> SharedTimes:
    """``points`` as a ``SharedTimes`` on ``times``."""
    history = SharedTimes(points)
    history.times = times
    return history


_Picks = dict[tuple[int, ChangeTimes, bool], tuple[object, ChangePicks]]
"""``change_picks`` found in one ``score_snapshots`` call: by the id of the histories' shared
times (a list: not hashable), the measuring times (hashed by identity, and held by the key)
and whether the snapshot's own point was added; each with the shared times themselves,
so that an id is never mistaken for a later object's."""


@quick_init
@dataclass(frozen=True, slots=True)
class ScoredSymbol:
    """One symbol's score with the snapshot and inputs that produced it."""

    snapshot: MarketSnapshot
    inputs: ScoreInputs
    result: ScoreResult


@dataclass(frozen=True, slots=True)
class FreshnessSplit:
    """Latest snapshots split by the staleness rule."""

    fresh: tuple[MarketSnapshot, ...]
    stale: tuple[MarketSnapshot, ...]


def newest_per_symbol(latest: Sequence[MarketSnapshot]) -> list[MarketSnapshot]:
    """Keep one snapshot per (exchange, symbol), the newest, so no symbol is scored twice."""
    newest: dict[tuple[str, str], MarketSnapshot] = {}
    for snap in latest:
        key = (snap.exchange, snap.symbol)
        kept = newest.get(key)
        if kept is None or snap.ts > kept.ts:
            newest[key] = snap
    return list(newest.values())


def split_stale(latest: Sequence[MarketSnapshot], now: datetime, stale_after: timedelta) -> FreshnessSplit:
    """Split snapshots into fresh and stale: stale when ``now - ts > stale_after``."""
    require_aware("now", now)
    fresh: list[MarketSnapshot] = []
    stale: list[MarketSnapshot] = []
    for snap in newest_per_symbol(latest):
        (stale if now - snap.ts > stale_after else fresh).append(snap)
    return FreshnessSplit(fresh=tuple(fresh), stale=tuple(stale))


def _with_snapshot_point(
    history: Sequence[OiSample], snap: MarketSnapshot, value: float | None
) -> Sequence[OiSample]:
    """Make sure the snapshot's own value is the newest point, if the store has not got it yet."""
    if value is None or not math.isfinite(value):
        return history
    if history and history[-1][0] >= snap.ts:
        return history
    return [*history, (snap.ts, value)]


def score_snapshot(
    snap: MarketSnapshot,
    history: Sequence[OiSample],
    params: ScoringParams,
    tolerances: OiDeltaTolerances = DEFAULT_TOLERANCES,
    *,
    price_history: Sequence[OiSample] = (),
) -> ScoredSymbol:
    """Score one snapshot; OI and price changes are measured at the snapshot's own data time.

    ``price_history`` is the symbol's (ts, mark price) series; empty means no price moves
    (the regime then falls back to funding and basis; the score is the same either way).
    """
    return _scored(snap, history, price_history, params, ChangeTimes(snap.ts, tolerances))


def _scored(
    snap: MarketSnapshot,
    history: Sequence[OiSample],
    price_history: Sequence[OiSample],
    params: ScoringParams,
    times: ChangeTimes,
    picks: _Picks | None = None,
) -> ScoredSymbol:
    return _scored_from(snap, _measured(snap, history, price_history, times, picks), params)


def _measured(
    snap: MarketSnapshot,
    history: Sequence[OiSample],
    price_history: Sequence[OiSample],
    times: ChangeTimes,
    picks: _Picks | None,
) -> Measured:
    changes = _changes(history, snap, snap.oi_contracts, times, picks)
    price = None
    if price_history:
        price = _changes(price_history, snap, snap.mark_price, times, picks)
    return changes, price


def _scored_from(snap: MarketSnapshot, measured: Measured, params: ScoringParams) -> ScoredSymbol:
    inputs = inputs_from_snapshot(snap, measured[0], measured[1])
    return ScoredSymbol(snapshot=snap, inputs=inputs, result=score(inputs, params))


def _changes(
    history: Sequence[OiSample],
    snap: MarketSnapshot,
    value: float | None,
    times: ChangeTimes,
    picks: _Picks | None,
) -> OiChanges:
    """``changes_at`` of the history with the snapshot's own point, its picks found once per
    shared times (``SharedTimes``)."""
    # _with_snapshot_point inlined (twice per symbol of every cycle); ``value - value == 0.0``
    # holds for finite values only.
    measured = history
    if value is not None and value - value == 0.0 and not (history and history[-1][0] >= snap.ts):
        measured = [*history, (snap.ts, value)]
    if picks is None or times.bounds is None or not isinstance(history, SharedTimes):
        return changes_at(measured, times)
    key = (id(history.times), times, measured is not history)
    found = picks.get(key)
    if found is None or found[0] is not history.times:
        found = picks[key] = (history.times, change_picks(measured, times))
    return changes_picked(measured, found[1])


def score_snapshots(
    latest: Sequence[MarketSnapshot],
    oi_history: OiHistory,
    now: datetime,
    params: ScoringParams,
    *,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    tolerances: OiDeltaTolerances = DEFAULT_TOLERANCES,
    price_history: OiHistory | None = None,
) -> list[ScoredSymbol]:
    """Score every fresh symbol of a cycle.

    Args:
        latest: the newest snapshot of each symbol (duplicates: the newest wins).
        oi_history: returns one symbol's stored OI points, sorted by time.
        now: the cycle time (aware UTC), against which staleness is judged.
        params: the scoring configuration.
        stale_after: snapshots older than this at ``now`` are excluded (see
            ``split_stale`` to list them).
        tolerances: slack for finding the past OI point of each horizon.
        price_history: returns one symbol's stored (ts, mark price) points, sorted by
            time; the price moves name the regime (who is opening or closing), never the
            score. ``None``: no price moves, the regime falls back to funding and basis.

    Returns:
        Scored symbols, highest score first, ties by symbol then exchange.

    Raises:
        ValueError: ``now`` is naive.
    """
    measure = history_measure(oi_history, price_history)
    return score_measured(latest, measure, now, params, stale_after=stale_after, tolerances=tolerances)


def history_measure(oi_history: OiHistory, price_history: OiHistory | None = None) -> Measure:
    """The ``Measure`` of ``score_snapshots``: each snapshot's changes over the points its
    symbol's histories return, with the snapshot's own point (``_with_snapshot_point``)."""

    def measure(fresh: Sequence[MarketSnapshot], times: Sequence[ChangeTimes]) -> list[Measured]:
        picks: _Picks = {}
        found = []
        for snap, at in zip(fresh, times, strict=True):
            prices = () if price_history is None else price_history(snap.symbol)
            found.append(_measured(snap, oi_history(snap.symbol), prices, at, picks))
        return found

    return measure


def score_measured(
    latest: Sequence[MarketSnapshot],
    measure: Measure,
    now: datetime,
    params: ScoringParams,
    *,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    tolerances: OiDeltaTolerances = DEFAULT_TOLERANCES,
) -> list[ScoredSymbol]:
    """``score_snapshots`` with the changes from ``measure`` rather than from histories.

    A caller holding the points in another form (``bot.app.market_memory``) measures the
    changes from them directly; they must be those ``history_measure`` would find.
    """
    fresh = split_stale(latest, now, stale_after).fresh
    measured = measure(fresh, change_times(fresh, tolerances))
    scored = [_scored_from(snap, found, params) for snap, found in zip(fresh, measured, strict=True)]
    scored.sort(key=lambda s: (-s.result.score, s.snapshot.symbol, s.snapshot.exchange))
    return scored


def change_times(snapshots: Sequence[MarketSnapshot], tolerances: OiDeltaTolerances) -> list[ChangeTimes]:
    """Each snapshot's measuring times, one ``ChangeTimes`` per distinct data time."""
    times: dict[datetime, ChangeTimes] = {}  # the symbols of a cycle mostly share one data time
    found = []
    for snap in snapshots:
        ts = snap.ts
        at = times.get(ts)
        # An equal time in another zone (or fold) compares with other zones' points through
        # its own offset: it gets its own bounds.
        if at is None or at.now.tzinfo is not ts.tzinfo or at.now.fold != ts.fold:
            at = times[ts] = ChangeTimes(ts, tolerances)
        found.append(at)
    return found
