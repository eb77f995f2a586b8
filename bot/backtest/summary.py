"""A replay's figures: the input, the alerts, and what the readings were worth.

Everything here is computed from a ``BacktestRun`` and returned as plain data (a dict of
lists, numbers and strings) that ``bot.backtest.report`` prints as text or JSON; every key
is documented in ``docs/backtest.md``.

Which readings count: the outcome tables use **complete** readings only (every input
present: 1h, 4h and 24h OI change, funding, basis). Partial readings (the first day of a
file, before 24h of OI history exists) score systematically lower and cannot be ranked
by the 24h-OI baseline, and the diff engine ignores them too. They are counted in
``readings`` and written to ``--readings``.
"""

from __future__ import annotations

import bisect
import statistics
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from itertools import compress
from typing import Any

from bot.backtest.engine import BANDS, REGIMES, AlertRecord, BacktestRun
from bot.backtest.outcome_job import MarketOutcomes, market_outcomes
from bot.backtest.utc_text import utc_text
from bot.core.events import EventKind
from bot.core.outcomes import (
    DEFAULT_OUTCOME_PARAMS,
    GroupStats,
    OutcomeParams,
    OutcomeStore,
    group_table,
    rank_bands,
    summarise,
    with_lift,
)

REVERSAL_WINDOW = timedelta(hours=2)
BAND_KINDS = (EventKind.BAND_UP, EventKind.BAND_DOWN)
NAN = float("nan")


def iso(moment: datetime | float | None) -> str | None:
    """ISO 8601 UTC with a ``Z``, to the second."""
    if moment is None:
        return None
    return utc_text(moment)


def _rounded(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def per_symbol_day(alerts: Sequence[AlertRecord]) -> dict[str, Any]:
    """Alerts per (symbol, UTC day) over the symbol-days that had at least one."""
    days = Counter((a.exchange, a.symbol, a.ts.date()) for a in alerts)
    if not days:
        return {"days": 0, "median": None, "max": None, "max_symbol": None, "max_date": None}
    # The busiest symbol-day; ties: the first symbol in sort order, then the earliest day.
    (_, symbol, date), most = min(days.items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][2]))
    return {
        "days": len(days),
        "median": float(statistics.median(days.values())),
        "max": most,
        "max_symbol": symbol,
        "max_date": date.isoformat(),
    }


def reversals(alerts: Sequence[AlertRecord], window: timedelta = REVERSAL_WINDOW) -> int:
    """Band alerts that reverse the direction of the same symbol's previous band alert within ``window``."""
    last: dict[tuple[str, str], AlertRecord] = {}
    count = 0
    for a in sorted((a for a in alerts if a.kind in BAND_KINDS), key=lambda a: a.ts):
        key = (a.exchange, a.symbol)
        before = last.get(key)
        if before is not None and before.kind is not a.kind and a.ts - before.ts <= window:
            count += 1
        last[key] = a
    return count


def alert_figures(alerts: Sequence[AlertRecord]) -> dict[str, Any]:
    """Total, by kind, per symbol-day (all kinds and band alerts alone), reversals within 2 h."""
    kinds = Counter(a.kind for a in alerts)
    band = [a for a in alerts if a.kind in BAND_KINDS]
    return {
        "total": len(alerts),
        "by_kind": {k.value: kinds.get(k, 0) for k in EventKind},
        "band_alerts": len(band),
        "per_symbol_day": per_symbol_day(alerts),
        "band_per_symbol_day": per_symbol_day(band),
        "reversals_2h": reversals(alerts),
    }


def _group_json(group: GroupStats) -> dict[str, Any]:
    return {
        "key": group.key,
        "readings": group.readings,
        "horizons": {
            h.horizon: {
                "n": h.n,
                "median_abs_return_pct": _rounded(h.median_abs_return_pct),
                "lift_abs_return": _rounded(h.lift_abs_return, 3),
                "n_vol": h.n_vol,
                "median_rel_vol": _rounded(h.median_rel_vol),
                "lift_rel_vol": _rounded(h.lift_rel_vol, 3),
                "n_oi": h.n_oi,
                "oi_drop_share": _rounded(h.oi_drop_share),
                "lift_oi_drop": _rounded(h.lift_oi_drop, 3),
            }
            for h in group.horizons
        },
    }


class _Outcomes:
    """The complete readings' outcomes in one store, with what each group needs."""

    def __init__(self, run: BacktestRun, params: OutcomeParams, market: MarketOutcomes | None) -> None:
        if market is None:
            market = market_outcomes(run.market, params)
        self.store = OutcomeStore(params.horizons)
        self.band = array("b")  # index into BANDS
        self.regime: list[int] = []
        self.funding = array("d")
        self.oi_24h = array("d")
        self._rows: list[array[int]] = []  # per series: its complete readings' rows
        self._first: list[int] = []  # per series: the id of its first complete reading
        for k, log in enumerate(run.readings):
            mask = [not partial for partial in log.partial]
            rows = array("l", compress(log.rows, mask))
            self._rows.append(rows)
            self._first.append(len(self.store))
            if not rows:
                continue
            self.store.extend(market[k], rows)
            self.band.extend(compress(log.band, mask))
            self.regime.extend(compress(log.regime, mask))
            self.funding.extend(map(abs, compress(log.funding_8h_pct, mask)))
            self.oi_24h.extend(map(abs, compress(log.oi_24h_pct, mask)))

    def id_of(self, series: int, row: int) -> int | None:
        rows = self._rows[series]
        i = bisect.bisect_left(rows, row)
        return self._first[series] + i if i < len(rows) and rows[i] == row else None


def _by_band(bands: Iterable[int]) -> dict[str, list[int]]:
    """Reading ids grouped by band index (into ``BANDS``), keyed by the band's name."""
    groups: list[list[int]] = [[] for _ in BANDS]
    for i, b in enumerate(bands):
        groups[b].append(i)
    return {band.value: ids for band, ids in zip(BANDS, groups, strict=True)}


def outcome_tables(
    run: BacktestRun,
    params: OutcomeParams = DEFAULT_OUTCOME_PARAMS,
    market: MarketOutcomes | None = None,
) -> dict[str, Any]:
    """Per band, per regime, per naive baseline band and per delivered alert kind: outcomes with lift.

    The score's tables and the alert kinds are lifted over the score's neutral band; each
    baseline over its own neutral band. The baselines rank the same complete readings by
    \\|funding (8h equivalent)\\| alone and by \\|24h OI change\\| alone into bands of the
    same sizes as the score's.
    """
    out = _Outcomes(run, params, market)
    store = out.store
    bands = _by_band(out.band)
    regimes: dict[str, list[int]] = {r.value: [] for r in REGIMES}
    for i, r in enumerate(out.regime):
        regimes[REGIMES[r].value].append(i)
    sizes = {BANDS[b]: n for b, n in Counter(out.band).items()}
    band_index = {b: i for i, b in enumerate(BANDS)}
    kinds: dict[str, list[int]] = defaultdict(list)
    for a in run.alerts:
        if a.delivered:
            rid = out.id_of(a.series, a.row)
            if rid is not None:
                kinds[a.kind.value].append(rid)
    # Each band table's neutral group is its own reference: summarised once.
    band_stats = [summarise(store, key, ids) for key, ids in bands.items()]
    neutral = band_stats[0]
    tables: dict[str, list[GroupStats]] = {
        "bands": [with_lift(g, neutral) for g in band_stats],
        "regimes": group_table(store, regimes, neutral),
        "alert_kinds": group_table(store, {k.value: kinds.get(k.value, []) for k in EventKind}, neutral),
    }
    for name, values in (("baseline_funding", out.funding), ("baseline_oi_24h", out.oi_24h)):
        banded = _by_band(map(band_index.__getitem__, rank_bands(values, sizes)))
        ranked = [summarise(store, key, ids) for key, ids in banded.items()]
        tables[name] = [with_lift(g, ranked[0]) for g in ranked]
    result: dict[str, Any] = {"horizons": [h.label for h in params.horizons]}
    result.update({name: [_group_json(g) for g in groups] for name, groups in tables.items()})
    return result


def summary(
    run: BacktestRun,
    params: OutcomeParams = DEFAULT_OUTCOME_PARAMS,
    market: MarketOutcomes | None = None,
) -> dict[str, Any]:
    """The whole report as plain data (see ``docs/backtest.md`` for every key).

    ``market``: the market's forward outcomes if already computed (``OutcomeJob``) with
    the same ``params``; otherwise they are computed here.
    """
    m = run.market
    first, last = m.first_ts, m.last_ts
    readings = sum(len(log) for log in run.readings)
    partial = sum(sum(log.partial) for log in run.readings)
    delivered = [a for a in run.alerts if a.delivered]
    alerts = alert_figures(delivered)
    alerts["suppressed_by_cap"] = run.suppressed
    return {
        "input": {
            "file": m.source,
            "rows": m.rows,
            "exchanges": sorted({s.exchange for s in m.series}),
            "symbols": len({s.symbol for s in m.series}),
            "duplicates": m.duplicates,
            "conflicting_duplicates": m.conflicting,
            "unsorted_rows": m.unsorted,
            "first_ts": iso(first),
            "last_ts": iso(last),
            "span_hours": None if first is None or last is None else round((last - first) / 3600, 2),
            "cycles": run.cycles,
            "cycles_scored": run.cycles_scored,
            "since": iso(run.options.since),
            "until": iso(run.options.until),
        },
        "readings": {"total": readings, "complete": readings - partial, "partial": partial},
        "alerts": alerts,
        "diff_events": alert_figures(run.alerts),
        "outcomes": outcome_tables(run, params, market),
    }
