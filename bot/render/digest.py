"""The daily digest as plain text (Telegram HTML and Discord embeds reuse these lines)."""

from __future__ import annotations

from bot.app.digest import Digest, Mover
from bot.core.records import ScoreRecord
from bot.render.table import summary_line


def _row(r: ScoreRecord) -> str:
    res = r.result
    return f"{r.symbol:14} {res.score:3}  {res.bias.value:7} {res.label}"


def _mover(m: Mover) -> str:
    res = m.record.result
    return f"{m.record.symbol:14} {res.score:3} ({m.change:+d})  {res.bias.value}"


def digest_text(d: Digest) -> str:
    """Header (average stress, counts by bias), top names, movers, squeeze risk, data time."""
    title = f"Daily Derivatives Pressure digest · {d.local_date:%a %d %b %Y}"
    lines = [title]
    if d.source_label:
        lines.append(f"Source: {d.source_label}")
    lines += [summary_line(d.summary), "", "Top stress"]
    lines += [_row(r) for r in d.top] or ["(no scores)"]
    lines += ["", "Biggest risers (24h)"] + ([_mover(m) for m in d.risers] or ["none"])
    lines += ["", "Biggest fallers (24h)"] + ([_mover(m) for m in d.fallers] or ["none"])
    lines += ["", "Squeeze risk now"] + ([_row(r) for r in d.squeeze] or ["none"])
    if d.data_time is not None:
        lines += ["", f"data {d.data_time:%Y-%m-%d %H:%M} UTC"]
    return "\n".join(lines)
