"""The JSON API's bodies, built from the command layer's replies (plain dicts, JSON-ready)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from bot.app.views import ChartView, CrossVenue, RankedRow, ScoreCardReply, StatusReply, Summary, TableReply
from bot.core.records import ScoreRecord

API_VERSION = "v1"


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z`` (``None`` stays ``None``)."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _seconds(age: timedelta | None) -> float | None:
    return None if age is None else round(age.total_seconds(), 3)


def summary_json(summary: Summary) -> dict[str, Any]:
    """The seed's header line as numbers."""
    return {
        "count": summary.count,
        "average": round(summary.average, 2),
        "long": summary.long,
        "short": summary.short,
        "neutral": summary.neutral,
    }


def _score_fields(record_symbol: str, inputs: Any, result: Any) -> dict[str, Any]:
    return {
        "symbol": record_symbol,
        "score": result.score,
        "band": result.band.value,
        "bias": result.bias.value,
        "regime": result.regime.value,
        "label": result.label,
        "partial": result.partial,
        "oi_1h_pct": inputs.oi_1h_pct,
        "oi_4h_pct": inputs.oi_4h_pct,
        "oi_24h_pct": inputs.oi_24h_pct,
        "funding_pct": inputs.funding_pct,
        "funding_interval_h": inputs.funding_interval_h,
        "funding_8h_pct": result.components.funding_8h_pct,
        "basis_pct": inputs.basis_pct,
    }


def row_json(row: RankedRow) -> dict[str, Any]:
    """One row of ``/api/v1/top``."""
    return {"rank": row.rank, **_score_fields(row.symbol, row.inputs, row.result)}


def top_json(reply: TableReply, exchange: str) -> dict[str, Any]:
    """``/api/v1/top``: the ranked rows and the summary over every scored symbol."""
    return {
        "exchange": exchange,
        "source_label": reply.table.source_label,
        "as_of": iso(reply.as_of),
        "stale": reply.stale,
        "title": reply.title,
        "notes": list(reply.notes),
        "summary": summary_json(reply.table.summary),
        "rows": [row_json(r) for r in reply.table.rows],
    }


def _past(record: ScoreRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"ts": iso(record.ts), "score": record.result.score, "band": record.result.band.value}


def score_json(reply: ScoreCardReply, exchange: str) -> dict[str, Any]:
    """``/api/v1/score/{symbol}``: the score card, its components and its changes."""
    latest = reply.card.latest
    return {
        "exchange": exchange,
        "source_label": reply.source_label,
        **_score_fields(latest.symbol, latest.inputs, latest.result),
        "ts": iso(latest.ts),
        "age_seconds": _seconds(reply.age),
        "stale": reply.stale,
        "change_1h": reply.change_1h,
        "change_24h": reply.change_24h,
        "hour_ago": _past(reply.card.hour_ago),
        "day_ago": _past(reply.card.day_ago),
        "components": asdict(latest.result.components),
        "venues": None if reply.venues is None else _venue_rows(reply.venues),
    }


def _venue_rows(cross: CrossVenue) -> dict[str, Any]:
    """The aggregate's card: the asset on each venue, the spreads, and the venues left out."""
    return {
        "rows": [
            {
                "exchange": row.venue,
                "symbol": row.symbol,
                "score": row.score,
                "band": None if row.band is None else row.band.value,
                "bias": None if row.bias is None else row.bias.value,
                "oi_share": row.oi_share,
                "funding_8h_pct": row.funding_8h_pct,
                "basis_pct": row.basis_pct,
            }
            for row in cross.rows
        ],
        "funding_spread_pct": cross.funding_spread_pct,
        "basis_spread_pct": cross.basis_spread_pct,
        "missing": list(cross.missing),
    }


def history_json(view: ChartView | None, symbol: str, window: str, exchange: str) -> dict[str, Any]:
    """``/api/v1/history/{symbol}``: the scores over the window, oldest first."""
    records = () if view is None else view.records
    return {
        "exchange": exchange,
        "source_label": None if view is None else view.source_label,
        "symbol": symbol,
        "window": window,
        "points": [
            {
                "ts": iso(r.ts),
                "score": r.result.score,
                "band": r.result.band.value,
                "bias": r.result.bias.value,
                "regime": r.result.regime.value,
                "partial": r.result.partial,
            }
            for r in records
        ],
    }


def status_json(reply: StatusReply) -> dict[str, Any]:
    """``/api/v1/status``: is data flowing, and is delivery keeping up?"""
    return {
        "exchange": reply.exchange,
        "source_label": reply.source_label,
        "symbols": reply.symbols,
        "last_collection": iso(reply.last_collection),
        "age_seconds": _seconds(reply.age),
        "stale": reply.stale,
        "stale_after_seconds": _seconds(reply.stale_after),
        "outbox": dict(reply.outbox),
        "last_cycle": reply.last_cycle,
        # Each venue's freshness when the bot collects several; the fields above are then
        # the first venue's, the one the table shows.
        "venues": [
            {
                "exchange": v.exchange,
                "last_collection": iso(v.last_collection),
                "age_seconds": _seconds(v.age),
                "stale": v.stale,
                "last_cycle": v.last_cycle,
            }
            for v in reply.venues
        ],
    }


def error_json(status: int, message: str, suggestions: tuple[str, ...] = ()) -> dict[str, Any]:
    """The one error shape of the API."""
    body: dict[str, Any] = {"error": {"status": status, "message": message}}
    if suggestions:
        body["error"]["suggestions"] = list(suggestions)
    return body
