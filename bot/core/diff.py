"""The diff engine: previous per-symbol state + this cycle's scores + now → events + new state.

Rules (``docs/alerts.md`` tells the story with examples):

* **Confirmed band, with hysteresis.** The band rises as soon as the score does; it drops
  only when the score is ``hysteresis`` points (default 3) below the floor of the band it is
  in, so a score wobbling around an edge does not flap.
* **Events** come from changes of the confirmed state: ``band_up`` (including jumps over a
  band), ``band_down``, ``squeeze_risk`` (a squeeze-risk regime entered, or switched side),
  ``bias_flip`` (LONG ↔ SHORT while stretched or above).
* **Cooldown and "only if worse".** Each (symbol, kind) remembers its last alert. A new one is
  raised when there was none, or it is more severe than the last (a higher band; for
  cooling, a lower one), or the last one's situation has ended (``open`` is false) and the
  cooldown (default 60 min) has passed. While the situation the last alert announced still
  holds, nothing repeats, however long it lasts.
* **Only complete, fresh data.** Partial readings, readings older than ``stale_after`` and
  readings not newer than the state's own leave the state untouched and raise nothing, so
  replaying a cycle is harmless.
* A symbol seen for the first time is recorded silently: being high is not a crossing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
        cooldown: minimum time between two alerts of one kind for one symbol, unless worse.
        stale_after: readings older than this (vs ``now``) are ignored.
        flip_min_band: bias flips count only at or above this band.
    """

    band_floors: tuple[int, int, int] = (15, 35, 60)
    hysteresis: int = 3
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
    if raw.rank >= previous.rank:
        return raw
    relaxed = band_for(min(score + p.hysteresis, 100), p.band_floors)
    return relaxed if relaxed.rank < previous.rank else previous


def _candidates(
    old: SymbolState, band: Band, now_reading: Reading, p: DiffParams
) -> list[tuple[EventKind, int]]:
    """(kind, severity) of every change between the old state and the new confirmed state."""
    found: list[tuple[EventKind, int]] = []
    if band.rank > old.confirmed_band.rank:
        found.append((EventKind.BAND_UP, band.rank))
    elif band.rank < old.confirmed_band.rank:
        found.append((EventKind.BAND_DOWN, Band.STRESSED.rank - band.rank))
    entered_squeeze = now_reading.regime.is_squeeze_risk and now_reading.regime is not old.last.regime
    if entered_squeeze:
        found.append((EventKind.SQUEEZE_RISK, band.rank))
    sides = {old.last.bias, now_reading.bias}
    if sides == {Bias.LONG, Bias.SHORT} and band.rank >= p.flip_min_band.rank:
        found.append((EventKind.BIAS_FLIP, band.rank))
    return found


def _still_open(alert: LastAlert, band: Band, reading: Reading) -> bool:
    """Does the situation a remembered alert announced still hold?"""
    match alert.kind:
        case EventKind.BAND_UP:
            return band.rank >= alert.severity
        case EventKind.BAND_DOWN:
            return Band.STRESSED.rank - band.rank >= alert.severity
        case EventKind.SQUEEZE_RISK:
            return reading.regime.is_squeeze_risk
        case EventKind.BIAS_FLIP:
            return False


def _allowed(last: LastAlert | None, severity: int, now: datetime, p: DiffParams) -> bool:
    if last is None or severity > last.severity:
        return True
    return not last.open and now - last.at >= p.cooldown


def _event_id(exchange: str, symbol: str, kind: EventKind, ts: datetime) -> str:
    return f"{exchange}:{symbol}:{kind.value}:{ts.isoformat()}"


def _step(
    exchange: str, old: SymbolState, point: ScoredPoint, now: datetime, p: DiffParams
) -> tuple[list[AlertEvent], SymbolState]:
    reading = point.reading
    band = confirmed_band(old.confirmed_band, reading.score, p)
    memory = {a.kind: replace(a, open=a.open and _still_open(a, band, reading)) for a in old.alerts}
    events: list[AlertEvent] = []
    for kind, severity in _candidates(old, band, reading, p):
        if not _allowed(memory.get(kind), severity, now, p):
            continue
        memory[kind] = LastAlert(kind=kind, at=now, severity=severity, open=kind is not EventKind.BIAS_FLIP)
        events.append(
            AlertEvent(
                event_id=_event_id(exchange, point.symbol, kind, reading.ts),
                exchange=exchange,
                symbol=point.symbol,
                kind=kind,
                old_band=old.confirmed_band,
                new_band=band,
                before=old.last,
                after=reading,
                severity=severity,
            )
        )
    alerts = tuple(sorted(memory.values(), key=lambda a: a.kind.value))
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
