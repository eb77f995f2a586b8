"""The backtest report as text or as one JSON object, and the ``--events`` file.

The data comes from ``bot.backtest.summary.summary``; every key is documented in
``docs/backtest.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TextIO

from bot.backtest.engine import AlertRecord
from bot.backtest.summary import iso

SECTIONS = (
    ("bands", "score bands (lift over the neutral band)"),
    ("regimes", "regimes (lift over the score's neutral band)"),
    ("baseline_funding", "naive baseline: |funding| alone, same band sizes (lift over its own neutral)"),
    ("baseline_oi_24h", "naive baseline: |24h OI change| alone, same band sizes (lift over its own neutral)"),
    ("alert_kinds", "after each delivered alert kind (lift over the score's neutral band)"),
)


def report_json(data: dict[str, Any]) -> str:
    """The report as one JSON object (one line)."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


def event_json(a: AlertRecord) -> str:
    """One alert event as the ``--events`` JSON line."""
    return json.dumps(
        {
            "ts": iso(a.ts),
            "symbol": a.symbol,
            "kind": a.kind.value,
            "from_band": a.from_band.value,
            "to_band": a.to_band.value,
            "score": a.score,
            "bias": a.bias.value,
            "regime": a.regime.value,
        },
        separators=(",", ":"),
    )


def write_events(out: TextIO, alerts: Iterable[AlertRecord]) -> int:
    """Write the delivered alerts as JSON lines; returns how many."""
    count = 0
    for a in alerts:
        if a.delivered:
            out.write(event_json(a) + "\n")
            count += 1
    return count


def _num(x: float | None, fmt: str = ".2f") -> str:
    return "—" if x is None else format(x, fmt)


def _kinds(by_kind: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in by_kind.items())


def _per_day(d: dict[str, Any]) -> str:
    if not d["days"]:
        return "none"
    where = f"{d['max_symbol']} {d['max_date']}"
    return f"median {d['median']:g}, max {d['max']} ({where}) over {d['days']} symbol-days"


def _alert_lines(title: str, a: dict[str, Any]) -> list[str]:
    lines = [
        f"{title}: {a['total']} ({_kinds(a['by_kind'])})",
        f"  per symbol-day, days with an alert: {_per_day(a['per_symbol_day'])}",
        f"  band alerts {a['band_alerts']}; per symbol-day: {_per_day(a['band_per_symbol_day'])}",
        f"  band alerts reversing the symbol's previous one within 2 h: {a['reversals_2h']}",
    ]
    if "suppressed_by_cap" in a:
        lines.append(f"  held back by the daily cap: {a['suppressed_by_cap']}")
    return lines


def _table(groups: list[dict[str, Any]]) -> list[str]:
    head = (
        f"  {'group':20} {'readings':>9} {'h':>4} {'n':>8} {'|ret| %':>8} {'lift':>6} "
        f"{'vol×':>6} {'lift':>6} {'OI drop':>8} {'lift':>6}"
    )
    lines = [head]
    for g in groups:
        first = True
        for label, h in g["horizons"].items():
            name = f"{g['key']:20} {g['readings']:>9,}" if first else " " * 30
            drop = "—" if h["oi_drop_share"] is None else f"{100 * h['oi_drop_share']:.1f} %"
            lines.append(
                f"  {name} {label:>4} {h['n']:>8,} {_num(h['median_abs_return_pct']):>8} "
                f"{_num(h['lift_abs_return']):>6} {_num(h['median_rel_vol']):>6} "
                f"{_num(h['lift_rel_vol']):>6} {drop:>8} {_num(h['lift_oi_drop']):>6}"
            )
            first = False
    return lines


def report_text(data: dict[str, Any]) -> str:
    """The report for a person: input, alerts, then the outcome tables."""
    i, r = data["input"], data["readings"]
    window = ""
    if i["since"] or i["until"]:
        window = f", scored {i['since'] or 'start'} … {i['until'] or 'end'}"
    lines = [
        f"dps backtest: {i['file']}",
        f"input: {i['rows']:,} rows, {i['symbols']} symbols ({', '.join(i['exchanges'])}), "
        f"{i['first_ts']} … {i['last_ts']} ({i['span_hours']:g} h)",
        f"  {i['cycles']:,} cycles, {i['cycles_scored']:,} scored{window}; duplicate rows {i['duplicates']} "
        f"({i['conflicting_duplicates']} with other values), unsorted rows {i['unsorted_rows']}",
        f"readings: {r['total']:,} ({r['complete']:,} complete, {r['partial']:,} partial; "
        "the outcome tables use the complete ones)",
        "",
        *_alert_lines("alerts to a chat with default settings", data["alerts"]),
        *_alert_lines("every diff event, before any chat's settings", data["diff_events"]),
        "",
        "forward outcomes from the mark price: median |return| (%), median realised volatility over the",
        "symbol's trailing median (vol×), share followed by an OI drop of 10 % or more; n = readings with",
        "a known outcome at that horizon; lift = the figure over the reference group's",
    ]
    outcomes = data["outcomes"]
    for key, title in SECTIONS:
        groups = [g for g in outcomes[key] if g["readings"]]
        lines += ["", title, *(_table(groups) if groups else ["  (no readings)"])]
    return "\n".join(lines)
