"""The seed-style ranked table as plain text (console, CLI, and the body of chat tables)."""

from __future__ import annotations

import json
from typing import Any

from bot.app.views import RankedRow, RankedTable, Summary
from bot.core.models import ScoreInputs, ScoreResult
from bot.render.numbers import funding_pct, pct

HEADER = ("#", "Symbol", "Score", "Bias", "Regime", "OI 1h", "OI 4h", "OI 24h", "Funding", "Basis")
PARTIAL_MARK = "*"
PARTIAL_NOTE = f"{PARTIAL_MARK} partial: some inputs were missing; scored from what is there."


def summary_line(summary: Summary) -> str:
    """``Avg stress 16 · Long bias 22 · Short bias 14 · Neutral 32``."""
    return (
        f"Avg stress {summary.average:.0f} · Long bias {summary.long} · "
        f"Short bias {summary.short} · Neutral {summary.neutral}"
    )


def seed_cells(row: RankedRow) -> tuple[str, ...]:
    """One row of the ranked table in the seed's ten columns (``HEADER``)."""
    r, i = row.result, row.inputs
    mark = PARTIAL_MARK if r.partial else ""
    return (
        str(row.rank),
        row.symbol,
        f"{r.score}{mark}",
        r.bias.value,
        r.label,
        pct(i.oi_1h_pct, 2),
        pct(i.oi_4h_pct, 1),
        pct(i.oi_24h_pct, 1),
        funding_pct(i.funding_pct, i.funding_interval_h),
        pct(i.basis_pct, 2),
    )


def markdown_table(table: RankedTable) -> str:
    """The full table in the seed's pipe format, with title, summary and footnotes."""
    lines = ["Derivatives Pressure Score"]
    if table.source_label:
        lines.append(f"Source: {table.source_label}")
    lines.append(summary_line(table.summary))
    lines.append("| " + " | ".join(HEADER) + " |")
    lines.append("|" + "---|" * len(HEADER))
    lines.extend("| " + " | ".join(seed_cells(row)) + " |" for row in table.rows)
    if any(row.result.partial for row in table.rows):
        lines.append(PARTIAL_NOTE)
    return "\n".join(lines)


def score_json(symbol: str, inputs: ScoreInputs, result: ScoreResult) -> str:
    """One JSON object (one line) with the score and everything behind it."""
    c = result.components
    payload: dict[str, Any] = {
        "symbol": symbol,
        "score": result.score,
        "band": result.band.value,
        "bias": result.bias.value,
        "regime": result.regime.value,
        "label": result.label,
        "partial": result.partial,
        "components": {
            "funding_8h_pct": c.funding_8h_pct,
            "funding_excess_pct": c.funding_excess_pct,
            "funding_annualised_pct": c.funding_annualised_pct,
            "funding": round(c.funding, 6),
            "basis": round(c.basis, 6),
            "oi_build": round(c.oi_build, 6),
            "oi_unwind": round(c.oi_unwind, 6),
            "positioning": round(c.positioning, 6),
            "direction": round(c.direction, 6),
            "price_move": None if c.price_move is None else round(c.price_move, 6),
        },
        "inputs": {
            "oi_1h_pct": inputs.oi_1h_pct,
            "oi_4h_pct": inputs.oi_4h_pct,
            "oi_24h_pct": inputs.oi_24h_pct,
            "funding_pct": inputs.funding_pct,
            "funding_interval_h": inputs.funding_interval_h,
            "basis_pct": inputs.basis_pct,
            "price_1h_pct": inputs.price_1h_pct,
            "price_4h_pct": inputs.price_4h_pct,
            "price_24h_pct": inputs.price_24h_pct,
        },
    }
    return json.dumps(payload, ensure_ascii=False, allow_nan=False)
