"""Alert events and the per-symbol state the diff engine keeps between cycles."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bot.core.frozen import quick_init
from bot.core.models import Band, Bias, Regime


class EventKind(StrEnum):
    """What happened to a symbol; chats choose which kinds they want."""

    BAND_UP = "band_up"
    BAND_DOWN = "band_down"
    SQUEEZE_RISK = "squeeze_risk"
    BIAS_FLIP = "bias_flip"


@quick_init
@dataclass(frozen=True, slots=True)
class Reading:
    """The values of one scored symbol that alerts talk about (all rates in %)."""

    ts: datetime
    score: int
    band: Band
    bias: Bias
    regime: Regime
    label: str
    oi_1h_pct: float | None = None
    oi_4h_pct: float | None = None
    oi_24h_pct: float | None = None
    funding_8h_pct: float | None = None
    basis_pct: float | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class ScoredPoint:
    """One symbol's score this cycle, as fed to the diff engine."""

    symbol: str
    reading: Reading
    partial: bool


@quick_init
@dataclass(frozen=True, slots=True)
class LastAlert:
    """Memory of the last alert of one kind for one symbol.

    Attributes:
        kind: the event kind.
        at: when it was raised (the cycle's ``now``).
        severity: how serious it was; a repeat within the cooldown needs more.
        open: the situation it announced still holds (e.g. still at or above that band).
    """

    kind: EventKind
    at: datetime
    severity: int
    open: bool


@quick_init
@dataclass(frozen=True, slots=True)
class SymbolState:
    """What the diff engine remembers about a symbol between cycles.

    ``confirmed_band`` is the band after hysteresis: it only drops once the score is a
    margin below the band's floor. ``last`` is the latest complete, fresh reading.
    """

    symbol: str
    confirmed_band: Band
    last: Reading
    alerts: tuple[LastAlert, ...] = field(default=())

    def last_alert(self, kind: EventKind) -> LastAlert | None:
        """The remembered alert of ``kind``, if any."""
        for alert in self.alerts:
            if alert.kind is kind:
                return alert
        return None


@quick_init
@dataclass(frozen=True, slots=True)
class AlertEvent:
    """Something worth telling people about one symbol.

    ``event_id`` is deterministic (exchange, symbol, kind, data time) so that replaying a
    cycle after a crash yields the same ids and the outbox can drop duplicates.
    """

    event_id: str
    exchange: str
    symbol: str
    kind: EventKind
    old_band: Band
    new_band: Band
    before: Reading
    after: Reading
    severity: int
