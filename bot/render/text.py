"""Every command reply as plain text: the console, the CLI, and plain-text fallbacks.

``/top`` reuses the seed-style tables of ``bot.render.table``. Whenever a reply carries
a source label (the synthetic demo market) it is printed, so nobody mistakes it for a
live market.
"""

from __future__ import annotations

import re
from typing import assert_never

from bot.app.views import (
    ChartReply,
    ErrorReply,
    Reply,
    ScoreCardReply,
    SettingsReply,
    StatusReply,
    TableReply,
    TextReply,
    TrackReply,
)
from bot.core.durations import age_text
from bot.core.records import ChatSettings
from bot.render.numbers import MISSING, pct, utc_text
from bot.render.table import PARTIAL_MARK, aligned_table, markdown_table, summary_line
from bot.render.track import track_lines

PARTIAL_NOTE = f"{PARTIAL_MARK} partial: some inputs were missing; scored from what is there."
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str, default: str = "chart.png") -> str:
    """A PNG file name of letters, digits and ``._-`` only (a path, an ``attachment://`` URL)."""
    cleaned = _UNSAFE_FILENAME.sub("_", name).strip("._")[:100]
    if not cleaned:
        return default
    return cleaned if cleaned.lower().endswith(".png") else cleaned + ".png"


def _signed(points: int | None) -> str:
    return MISSING if points is None else f"{points:+d}"


def _source(label: str | None) -> list[str]:
    return [f"Source: {label}"] if label else []


def render_text(reply: Reply, *, markdown_tables: bool = False) -> str:
    """The reply as plain text (``markdown_tables``: ``/top`` in the seed's pipe format)."""
    match reply:
        case TextReply():
            lines = _text(reply)
        case TableReply():
            lines = _table(reply, markdown_tables)
        case ScoreCardReply():
            lines = _card(reply)
        case ChartReply():
            lines = [reply.caption, *_source(reply.source_label)]
        case SettingsReply():
            lines = _settings(reply)
        case StatusReply():
            lines = _status(reply)
        case TrackReply():
            lines = track_lines(reply).all()
        case ErrorReply():
            lines = [reply.message]
            if reply.suggestions:
                lines.append(f"Did you mean: {', '.join(reply.suggestions)}?")
        case _:  # a new reply type must be rendered here: mypy flags this line until it is
            assert_never(reply)
    return "\n".join(lines)


def _text(reply: TextReply) -> list[str]:
    lines = [reply.title]
    for section in reply.sections:
        lines.append("")
        if section.heading:
            lines.append(section.heading)
            lines.extend(f"- {line}" for line in section.lines)
        else:
            lines.extend(section.lines)
    if reply.source_label:
        lines.extend(["", *_source(reply.source_label)])
    return lines


def _table(reply: TableReply, markdown: bool) -> list[str]:
    table = reply.table
    if markdown:
        lines = [markdown_table(table)]
    else:
        lines = ["Derivatives Pressure Score", *_source(table.source_label), summary_line(table.summary)]
        if table.rows:
            lines.append(aligned_table(table))
        if any(row.result.partial for row in table.rows):
            lines.append(PARTIAL_NOTE)
    lines[0] = lines[0].replace(
        "Derivatives Pressure Score", f"Derivatives Pressure Score · {reply.title}", 1
    )
    data = f"Data as of {utc_text(reply.as_of)}"
    if reply.stale:
        data += " — STALE: collection may have stopped (see /status)"
    lines.append(data)
    lines.extend(reply.notes)
    return lines


def _card(reply: ScoreCardReply) -> list[str]:
    record = reply.card.latest
    r, i = record.result, record.inputs
    c = r.components
    mark = PARTIAL_MARK if r.partial else ""
    lines = [
        f"{record.symbol} · score {r.score}{mark} ({r.band.value}) · {r.bias.value}",
        r.label,
        f"Change: {_signed(reply.change_1h)} since 1h ago · {_signed(reply.change_24h)} since 24h ago",
        f"OI change: 1h {pct(i.oi_1h_pct, 2)} · 4h {pct(i.oi_4h_pct, 1)} · 24h {pct(i.oi_24h_pct, 1)}",
        _funding_line(i.funding_pct, i.funding_interval_h, c.funding_8h_pct, c.funding_annualised_pct),
        f"Basis (mark/index): {pct(i.basis_pct, 2)}",
    ]
    data = f"Data: {record.exchange}, {utc_text(record.ts)} ({age_text(reply.age)} old)"
    if reply.stale:
        data += " — STALE: collection may have stopped (see /status)"
    lines.append(data)
    if r.partial:
        lines.append(PARTIAL_NOTE)
    lines.extend(_source(reply.source_label))
    return lines


def _funding_line(
    raw: float | None, interval_h: float | None, per_8h: float | None, annualised: float | None
) -> str:
    """Funding as paid, its 8h equivalent when the interval differs, and annualised."""
    paid = f"{pct(raw, 3)} per {interval_h:g}h" if interval_h else f"{pct(raw, 3)} per interval"
    if interval_h != 8:
        paid += f" = {pct(per_8h, 3)} per 8h"
    return f"Funding: {paid} · {pct(annualised, 1)} annualised"


def settings_lines(settings: ChatSettings, timezone: str, watchlist: int) -> list[str]:
    """The chat's alert and digest settings, one line each."""
    s = settings
    kinds = ", ".join(sorted(k.value for k in s.event_kinds)) or "none"
    symbols = (
        f"watchlist only ({watchlist} symbols)"
        if s.watchlist_only
        else f"every symbol (watchlist: {watchlist})"
    )
    quiet = "off"
    if s.quiet_start is not None and s.quiet_end is not None:
        quiet = f"{s.quiet_start:%H:%M}–{s.quiet_end:%H:%M} {timezone}"
    digest = f"on at {s.digest_time:%H:%M} {timezone}" if s.digest_enabled else "off"
    return [
        f"Alerts: {'on' if s.alerts_enabled else 'off'} · from the {s.min_band.value} band up",
        f"Kinds: {kinds}",
        f"Symbols: {symbols}",
        f"Quiet hours: {quiet}",
        f"Digest: {digest}",
        f"Timezone: {timezone}",
    ]


def _settings(reply: SettingsReply) -> list[str]:
    lines = ["Settings for this chat"]
    if reply.changed:
        lines.append(f"Saved. {reply.changed}")
    lines.extend(settings_lines(reply.settings, reply.timezone, reply.watchlist))
    lines.extend(_source(reply.source_label))
    return lines


def _status(reply: StatusReply) -> list[str]:
    lines = ["Status", f"Exchange: {reply.exchange}", f"Symbols tracked: {reply.symbols}"]
    if reply.last_collection is None or reply.age is None:
        lines.append("Last collection: none has finished yet.")
    elif reply.stale:
        lines.append(
            f"Last collection: {utc_text(reply.last_collection)}, {age_text(reply.age)} ago — STALE: "
            f"older than two collection intervals ({age_text(reply.stale_after)}); "
            "data collection may have stopped."
        )
    else:
        lines.append(f"Last collection: {utc_text(reply.last_collection)}, {age_text(reply.age)} ago (fresh)")
    if reply.last_cycle:
        lines.append(f"Last cycle: {reply.last_cycle}")
    outbox = " · ".join(f"{status} {count}" for status, count in reply.outbox) or "empty"
    lines.append(f"Alert outbox: {outbox}")
    lines.extend(_source(reply.source_label))
    return lines
