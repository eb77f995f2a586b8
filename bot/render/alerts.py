"""Alert messages as plain text (Telegram HTML and Discord embeds build on the same pieces)."""

from __future__ import annotations

from collections.abc import Mapping

from bot.app.fanout import AlertBatch
from bot.core.events import AlertEvent, EventKind, Reading
from bot.render.numbers import pct

HEADLINES = {
    EventKind.BAND_UP: "{symbol} {old} → {new}",
    EventKind.BAND_DOWN: "{symbol} cooled {old} → {new}",
    EventKind.SQUEEZE_RISK: "{symbol} squeeze risk ({new})",
    EventKind.BIAS_FLIP: "{symbol} bias flipped {was} → {now} ({new})",
}

# (label, attribute, decimals, smallest change worth mentioning in percentage points)
MOVERS = (
    ("funding/8h", "funding_8h_pct", 3, 0.005),
    ("basis", "basis_pct", 2, 0.05),
    ("OI 1h", "oi_1h_pct", 2, 0.5),
    ("OI 4h", "oi_4h_pct", 1, 1.0),
    ("OI 24h", "oi_24h_pct", 1, 2.0),
)


def moved_components(before: Reading, after: Reading, limit: int = 3) -> list[str]:
    """The inputs that changed most since the last reading, biggest first (``"OI 24h +8.0% → +21.3%"``)."""
    changes: list[tuple[float, str]] = []
    for label, attr, decimals, threshold in MOVERS:
        old, new = getattr(before, attr), getattr(after, attr)
        if new is None:
            continue
        if old is None:
            changes.append((0.0, f"{label} {pct(new, decimals)}"))
            continue
        if abs(new - old) >= threshold:
            changes.append(
                (abs(new - old) / threshold, f"{label} {pct(old, decimals)} → {pct(new, decimals)}")
            )
    changes.sort(key=lambda c: -c[0])
    return [text for _, text in changes[:limit]]


def event_text(event: AlertEvent, evidence: str | None = None) -> str:
    """A few lines naming symbol, bands, score, bias, regime, what moved and the data time.

    ``evidence``: how this symbol's earlier readings of the same band and bias played out
    (``bot.app.track.evidence_line``), shown when there is enough history behind it.
    """
    headline = HEADLINES[event.kind].format(
        symbol=event.symbol,
        old=event.old_band.value,
        new=event.new_band.value,
        was=event.before.bias.value,
        now=event.after.bias.value,
    )
    a = event.after
    lines = [
        f"{headline} · score {a.score} (was {event.before.score}) · {a.bias.value}",
        f"  {a.label}",
    ]
    moved = moved_components(event.before, a)
    if moved:
        lines.append("  " + " · ".join(moved))
    if evidence:
        lines.append(f"  {evidence}")
    lines.append(f"  data {a.ts:%Y-%m-%d %H:%M} UTC")
    return "\n".join(lines)


def batch_text(
    batch: AlertBatch, source_label: str | None = None, evidence: Mapping[str, str] | None = None
) -> str:
    """The whole message for one chat and cycle (``evidence``: lines by event id)."""
    notes = evidence or {}
    parts = ["Derivatives Pressure alerts" + (f" · {source_label}" if source_label else "")]
    parts.extend(event_text(e, notes.get(e.event_id)) for e in batch.events)
    if batch.suppressed:
        parts.append(
            f"{batch.suppressed} more suppressed: daily alert cap reached. "
            "/top shows the full picture; alerts resume after local midnight."
        )
    return "\n\n".join(parts)
