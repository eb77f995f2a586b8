"""The diff engine: previous per-symbol state + this cycle's scores + now → events + new state.

Rules (``docs/alerts.md`` tells the story with the replay's figures):

* **A band change must hold.** The band rises when two readings in a row (ten minutes at
  the 5-minute cadence) are in a higher band; it drops only when two readings in a row are
  ``hysteresis`` points (default 8, the score's typical two-hour wander) below the floor
  of the band it is in. One noisy reading moves nothing.
* **Band alerts tell people the truth without flapping.** The engine remembers the band it
  last announced. ``band_up`` fires when the held band is above it (a jump over a band is
  one event). A cooling is announced only when it means something: when the band falls
  below ``announce_down_below`` (stretched by default: "cooled to lean"), not for every
  step down inside the alerting bands (stressed → stretched is recorded, not announced;
  returning to stressed is then not news either).
* **No reversal within the reversal window** (2 h). A cooling within 2 h of the rise it
  reverses waits until the window has passed and is announced then if it still holds; a
  rise within 2 h of a cooling waits likewise, unless it goes above the band last
  announced on the way up. What people were told is never more than the window behind.
* **Squeeze and bias flips.** ``squeeze_risk`` when a squeeze-risk regime is entered (or
  switches side); it does not repeat while a squeeze regime holds, and after it ended only
  once the cooldown passed (or at a higher band). ``bias_flip`` (LONG ↔ SHORT while
  stretched or above) at most once per cooldown unless the band is higher.
* **Only complete, fresh data.** Partial readings, readings older than ``stale_after`` and
  readings not newer than the state's own leave the state untouched and raise nothing, so
  replaying a cycle is harmless.
* A symbol seen for the first time is recorded silently: being high is not a crossing.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.core.bands import band_for
from bot.core.events import AlertEvent, EventKind, LastAlert, Reading, ScoredPoint, SymbolState
from bot.core.models import Band, Bias


@dataclass(frozen=True, slots=True)
class DiffParams:
    """Settings of the diff engine.

    Attributes:
        band_floors: first score of lean, stretched, stressed.
        hysteresis: points below a band's floor before a downward crossing counts.
        hold: a band change needs this reading and the previous one (``True``), or this
            reading alone (``False``).
        announce_down_below: a cooling is announced only once the band is below this one.
        reversal_window: a band alert reversing the previous one waits this long.
        cooldown: minimum time between two squeeze or flip alerts for one symbol, unless worse.
        stale_after: readings older than this (vs ``now``) are ignored; a previous reading
            further back than this does not count towards a hold.
        flip_min_band: bias flips count only at or above this band.
    """

    band_floors: tuple[int, int, int] = (15, 35, 60)
    hysteresis: int = 8
    hold: bool = True
    announce_down_below: Band = Band.STRETCHED
    reversal_window: timedelta = timedelta(hours=2)
    cooldown: timedelta = timedelta(minutes=60)
    stale_after: timedelta = timedelta(minutes=15)
    flip_min_band: Band = Band.STRETCHED


@dataclass(frozen=True, slots=True)
class DiffResult:
    """The events raised this cycle and the full new state (unchanged symbols included)."""

    events: tuple[AlertEvent, ...]
    states: dict[str, SymbolState]
    ignored: tuple[str, ...]


def confirmed_band(previous: Band, score: int, p: DiffParams) -> Band:
    """The band after hysteresis: up at once, down only ``hysteresis`` points below the floor."""
    raw = band_for(score, p.band_floors)
    if _RANK_OF[raw] >= _RANK_OF[previous]:
        return raw
    relaxed = band_for(min(score + p.hysteresis, 100), p.band_floors)
    return relaxed if _RANK_OF[relaxed] < _RANK_OF[previous] else previous


def held_band(confirmed: Band, scores: Sequence[int], p: DiffParams) -> Band:
    """The band every one of ``scores`` supports, starting from ``confirmed``.

    Up only when every score is in a higher band (to the lowest of them); down only when
    every score is a hysteresis margin below (to the highest of them); else unchanged.
    """
    rank = _RANK_OF[confirmed]
    raised = [band_for(s, p.band_floors) for s in scores]
    ranks = [_RANK_OF[b] for b in raised]
    lowest = min(ranks)
    if lowest > rank:  # every score in a higher band: up to the first of the lowest
        return raised[ranks.index(lowest)]
    if max(ranks) >= rank:
        # The usual case: a score at or above the band keeps it (``confirmed_band`` never
        # lowers a band its raw band reaches), so it cannot go down either.
        return confirmed
    highest = max([confirmed_band(confirmed, s, p) for s in scores], key=_RANK)
    if _RANK_OF[highest] < rank:  # every score a margin below
        return highest
    return confirmed


def _held_by_two(confirmed: Band, first: int, second: int, p: DiffParams) -> Band:
    """``held_band(confirmed, [first, second], p)``, the diff's usual call, without its lists."""
    floors = p.band_floors
    rank = _RANK_OF[confirmed]
    up_first, up_second = band_for(first, floors), band_for(second, floors)
    rank_first, rank_second = _RANK_OF[up_first], _RANK_OF[up_second]
    if rank_first > rank and rank_second > rank:  # up to the first of the lowest
        return up_first if rank_first <= rank_second else up_second
    if rank_first >= rank or rank_second >= rank:
        return confirmed
    return held_band(confirmed, [first, second], p)  # both below: the margin decides


# A dict lookup rather than the ``rank`` property (a Python call): the diff reads ranks
# several times per symbol of every cycle.
_RANK_OF = {band: band.rank for band in Band}
_RANK = _RANK_OF.__getitem__
_AT = operator.attrgetter("at")


BAND_KINDS = (EventKind.BAND_UP, EventKind.BAND_DOWN)

# Reading a member through its Enum class costs a descriptor call; the diff reads these for
# every symbol of every cycle.
_BAND_UP, _BAND_DOWN = BAND_KINDS
_SQUEEZE_RISK = EventKind.SQUEEZE_RISK
_BIAS_FLIP = EventKind.BIAS_FLIP
_LONG, _SHORT = Bias.LONG, Bias.SHORT
_STRESSED_RANK = Band.STRESSED.rank


def _band_of(alert: LastAlert) -> Band:
    """The band a band alert announced (band_up severity is the rank; band_down counts down)."""
    rank = alert.severity if alert.kind is _BAND_UP else _STRESSED_RANK - alert.severity
    return Band.from_rank(rank)


def announced_band(state: SymbolState) -> Band:
    """The band people were last told about; the confirmed band when nothing was said yet."""
    said = [a for a in state.alerts if a.kind in BAND_KINDS]
    return _band_of(max(said, key=_AT)) if said else state.confirmed_band


def _band_allowed(
    kind: EventKind, rank: int, memory: dict[EventKind, LastAlert], now: datetime, p: DiffParams
) -> bool:
    said = [memory[k] for k in BAND_KINDS if k in memory]
    if not said:
        return True
    last = max(said, key=_AT)
    if last.kind is kind or now - last.at >= p.reversal_window:
        return True
    last_up = memory.get(_BAND_UP)
    # Within the window only a rise above the last band announced on the way up gets through.
    return kind is _BAND_UP and last_up is not None and rank > last_up.severity


def _candidates(
    old: SymbolState, said: Band, band: Band, now_reading: Reading, p: DiffParams
) -> list[tuple[EventKind, int, Band]]:
    """(kind, severity, band to announce) of every difference between what was said
    (``said``, the announced band) and now."""
    found: list[tuple[EventKind, int, Band]] = []
    # The reading itself must agree at the moment of telling: a change held back by the
    # reversal window is not announced on a reading that has just swung the other way.
    now_band = band_for(now_reading.score, p.band_floors)
    rank, now_rank, said_rank = _RANK_OF[band], _RANK_OF[now_band], _RANK_OF[said]
    rise, rise_rank = (band, rank) if rank <= now_rank else (now_band, now_rank)  # the lower
    if rise_rank > said_rank:
        found.append((_BAND_UP, rise_rank, rise))
    elif rank < said_rank and rank < _RANK_OF[p.announce_down_below] and now_rank < said_rank:
        found.append((_BAND_DOWN, _STRESSED_RANK - rank, band))
    entered_squeeze = now_reading.regime.is_squeeze_risk and now_reading.regime is not old.last.regime
    if entered_squeeze:
        found.append((_SQUEEZE_RISK, rank, band))
    before, after = old.last.bias, now_reading.bias
    flipped = (before == _LONG and after == _SHORT) or (before == _SHORT and after == _LONG)
    if flipped and rank >= _RANK_OF[p.flip_min_band]:
        found.append((_BIAS_FLIP, rank, band))
    return found


def _still_open(alert: LastAlert, reading: Reading) -> bool:
    """Does the situation a remembered squeeze alert announced still hold?"""
    return alert.kind is _SQUEEZE_RISK and reading.regime.is_squeeze_risk


def _allowed(
    kind: EventKind, severity: int, memory: dict[EventKind, LastAlert], now: datetime, p: DiffParams
) -> bool:
    if kind in BAND_KINDS:
        return _band_allowed(kind, severity, memory, now, p)
    last = memory.get(kind)
    if last is None or severity > last.severity:
        return True
    return not last.open and now - last.at >= p.cooldown


def _kind_value(alert: LastAlert) -> str:
    return alert.kind.value


def _event_id(exchange: str, symbol: str, kind: EventKind, ts: datetime) -> str:
    return f"{exchange}:{symbol}:{kind.value}:{ts.isoformat()}"


def _step(
    exchange: str, old: SymbolState, point: ScoredPoint, now: datetime, p: DiffParams
) -> tuple[list[AlertEvent], SymbolState]:
    reading = point.reading
    if not p.hold:
        band = held_band(old.confirmed_band, [reading.score], p)
    elif reading.ts - old.last.ts <= p.stale_after:
        band = _held_by_two(old.confirmed_band, reading.score, old.last.score, p)
    else:  # the previous reading is too old to count: after a gap, a change waits one more cycle
        band = old.confirmed_band
    memory: dict[EventKind, LastAlert] = {}
    if old.alerts:
        for alert in old.alerts:
            still = alert.open and _still_open(alert, reading)
            # Mostly nothing changed: keep the alert itself rather than an equal copy.
            memory[alert.kind] = alert if still == alert.open else replace(alert, open=still)
        said = announced_band(old)
    else:  # most symbols: nothing said yet, so the confirmed band is what was said
        said = old.confirmed_band
    events: list[AlertEvent] = []
    for kind, severity, new_band in _candidates(old, said, band, reading, p):
        if not _allowed(kind, severity, memory, now, p):
            continue
        memory[kind] = LastAlert(kind=kind, at=now, severity=severity, open=kind is _SQUEEZE_RISK)
        events.append(
            AlertEvent(
                event_id=_event_id(exchange, point.symbol, kind, reading.ts),
                exchange=exchange,
                symbol=point.symbol,
                kind=kind,
                old_band=said,
                new_band=new_band,
                before=old.last,
                after=reading,
                severity=severity,
            )
        )
    alerts = tuple(sorted(memory.values(), key=_kind_value)) if memory else ()
    return events, SymbolState(symbol=point.symbol, confirmed_band=band, last=reading, alerts=alerts)


def diff(
    exchange: str,
    previous: Mapping[str, SymbolState],
    points: Iterable[ScoredPoint],
    now: datetime,
    p: DiffParams,
) -> DiffResult:
    """Compare this cycle's scores with the remembered state.

    Args:
        exchange: the exchange id, part of every event id.
        previous: state per symbol from the last cycle (empty on the first run).
        points: this cycle's scored symbols.
        now: the cycle's time (aware UTC); used for staleness and cooldowns.
        p: diff settings.

    Returns:
        Events ordered by score (highest first), the new state for every symbol, and the
        symbols whose readings were ignored (partial, stale or not newer).
    """
    states = dict(previous)
    events: list[AlertEvent] = []
    ignored: list[str] = []
    for point in points:
        reading = point.reading
        old = states.get(point.symbol)
        stale = now - reading.ts > p.stale_after
        if point.partial or stale or (old is not None and reading.ts <= old.last.ts):
            ignored.append(point.symbol)
            continue
        if old is None:
            band = band_for(reading.score, p.band_floors)
            states[point.symbol] = SymbolState(symbol=point.symbol, confirmed_band=band, last=reading)
            continue
        new_events, states[point.symbol] = _step(exchange, old, point, now, p)
        events.extend(new_events)
    events.sort(key=lambda e: (-e.after.score, e.symbol, e.kind.value))
    return DiffResult(events=tuple(events), states=states, ignored=tuple(ignored))


def accepted_points(points: Sequence[ScoredPoint], states: Mapping[str, SymbolState]) -> list[bool]:
    """Which of ``points`` became their symbol's ``last`` in ``states`` (a ``diff``'s result).

    The diff keeps an accepted point's reading itself as ``last``: identity says exactly
    which point carries a state's reading, duplicates of a symbol included.
    """
    return [(state := states.get(p.symbol)) is not None and state.last is p.reading for p in points]


def reading_hour(ts: datetime) -> int:
    """The UTC clock hour of a reading: whole hours since the Unix epoch (the storage's
    ``hour`` bucket of the same time)."""
    return int(ts.timestamp() // 3600)


def hour_memo() -> Callable[[datetime], int]:
    """``reading_hour`` with each time object worked out once: a cycle's readings (and the
    rows the storage builds of them) share a few time objects.

    By identity rather than by value (hashing an aware time asks its zone for the offset);
    each object is kept with its hour, so its id cannot be reused while the memo lives.
    """
    hours: dict[int, tuple[datetime, int]] = {}

    def hour_of(ts: datetime) -> int:
        known = hours.get(id(ts))
        if known is None or known[0] is not ts:
            known = hours[id(ts)] = (ts, reading_hour(ts))
        return known[1]

    return hour_of


def material_changes(
    previous: Mapping[str, SymbolState], states: Mapping[str, SymbolState]
) -> list[SymbolState]:
    """The states of ``states`` a cycle must store: new, or changed in more than ``last``.

    A state whose band and alerts are as in ``previous`` and whose ``last`` reading stays in
    the UTC hour of the previous one is left out: the cycle's accepted score row carries
    that reading, and the load rebuilds ``last`` from the newest accepted score of the
    stored reading's hour. A reading in another hour forces a write, so that search never
    has to look beyond one hour.
    """
    written = []
    hour_of = hour_memo()
    for symbol, state in states.items():
        old = previous.get(symbol)
        # The diff keeps an untouched state as the same object.
        if old is state:
            continue
        if (
            old is None
            or old.confirmed_band is not state.confirmed_band
            or old.alerts != state.alerts
            or hour_of(old.last.ts) != hour_of(state.last.ts)
        ):
            written.append(state)
    return written
