"""The replay source: the bundled (synthetic) demo market behind the live source's API.

``fetch_cycle(now)`` returns the recorded step at or just before ``now``, so a clock that
advances five minutes per cycle plays the market forward one step per cycle; the clock
decides, never the wall time. ``fetch_oi_history`` serves the recorded OI, as an exchange's
history endpoint would on a cold start. Everything it returns is labelled synthetic
(``label``; snapshots carry the ``replay`` exchange id).
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.collector.replay import REPLAY_EXCHANGE, SYNTHETIC_LABEL, ReplayMarket
from bot.core import collection as reasons
from bot.core.collection import FetchReport, OiPoint, SymbolFailure
from bot.core.market import MarketSnapshot
from bot.core.records import require_aware

logger = logging.getLogger(__name__)


class ReplaySource:
    """``CcxtSource``'s API over a ``ReplayMarket`` (by default the bundled demo market).

    Args:
        market: the recorded market; ``None`` loads the bundled synthetic one.
        symbols: restrict the universe (``SYMBOLS``); empty = every recorded symbol.
        cycle_interval_s: a step older than two intervals at ``now`` is stale (the
            recording has ended).
    """

    def __init__(
        self,
        market: ReplayMarket | None = None,
        *,
        symbols: Sequence[str] = (),
        cycle_interval_s: float = 300.0,
    ) -> None:
        self._market = market if market is not None else ReplayMarket.bundled()
        self.exchange = REPLAY_EXCHANGE
        self.label = SYNTHETIC_LABEL
        self._times = self._market.times()
        self._wanted = tuple(s.strip().upper() for s in symbols)
        self._max_age = timedelta(seconds=2 * cycle_interval_s)
        self._universe: list[str] | None = None
        self._oi_usd: dict[str, dict[datetime, float | None]] | None = None

    @property
    def market(self) -> ReplayMarket:
        """The recording this source replays (for drivers that step through its times)."""
        return self._market

    async def load_universe(self) -> list[str]:
        """The recorded symbols (or the requested ones that were recorded)."""
        recorded = self._market.symbols()
        if self._wanted:
            known = set(recorded)
            for symbol in self._wanted:
                if symbol not in known:
                    logger.warning("SYMBOLS: %s is not in the replay market; skipped", symbol)
            chosen = [s for s in dict.fromkeys(self._wanted) if s in known]
        else:
            chosen = recorded
        self._universe = chosen
        return list(chosen)

    def step_at(self, now: datetime) -> datetime | None:
        """The recorded time at or just before ``now`` (``None`` before the recording)."""
        i = bisect.bisect_right(self._times, now) - 1
        return self._times[i] if i >= 0 else None

    async def fetch_cycle(self, now: datetime) -> FetchReport:
        """The step at or before ``now``: one snapshot per universe symbol recorded there."""
        require_aware("now", now)
        started = time.perf_counter()
        symbols = self._universe if self._universe is not None else await self.load_universe()
        step = self.step_at(now)
        snapshots: list[MarketSnapshot] = []
        failures: list[SymbolFailure] = []
        if step is None:
            first = self._times[0].isoformat() if self._times else "never"
            failures = [
                SymbolFailure(s, reasons.REASON_NO_DATA, f"replay starts at {first}") for s in symbols
            ]
        else:
            at_step = {snap.symbol: snap for snap in self._market.snapshots_at(step)}
            stale = now - step > self._max_age
            for symbol in symbols:
                snap = at_step.get(symbol)
                if snap is None:
                    failures.append(
                        SymbolFailure(symbol, reasons.REASON_MISSING, f"not recorded at {step.isoformat()}")
                    )
                elif stale:
                    age = (now - step).total_seconds()
                    failures.append(
                        SymbolFailure(symbol, reasons.REASON_STALE, f"replay ended; data {age:.0f}s old")
                    )
                else:
                    snapshots.append(snap)
        return FetchReport(
            snapshots=tuple(snapshots),
            failures=tuple(failures),
            requests=0,
            weight_used=None,
            duration_s=time.perf_counter() - started,
        )

    async def fetch_oi_history(self, symbol: str, since: datetime, until: datetime) -> list[OiPoint]:
        """Recorded OI of ``symbol`` with ``since <= ts <= until``, oldest first."""
        require_aware("since", since)
        require_aware("until", until)
        usd = self._usd_index().get(symbol, {})
        return [
            OiPoint(ts=ts, oi_contracts=oi, oi_usd=usd.get(ts))
            for ts, oi in self._market.oi_history(symbol, until)
            if ts >= since
        ]

    def _usd_index(self) -> dict[str, dict[datetime, float | None]]:
        # The replay keeps (ts, oi) per symbol; the USD value sits in the snapshots.
        if self._oi_usd is None:
            index: dict[str, dict[datetime, float | None]] = {}
            for ts in self._times:
                for snap in self._market.snapshots_at(ts):
                    index.setdefault(snap.symbol, {})[ts] = snap.oi_usd
            self._oi_usd = index
        return self._oi_usd

    async def close(self) -> None:
        """Nothing to release (the same API as the live source)."""
