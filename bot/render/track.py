"""``/track`` as lines: a heading, the per-band table and the notes, shared by every renderer.

The table is fixed-width (monospace block on Telegram, code block on Discord, as ``/top``);
a band below the minimum sample says so in place of its figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.app.track import pct_text
from bot.app.views import TrackReply
from bot.core.durations import age_text
from bot.core.track import TrackGroup
from bot.render.numbers import utc_text
from bot.render.table import fixed_width

HEADER = ("Band", "Readings", "Known", "24h move", "vs neutral")
NOT_ENOUGH = "not enough history yet"


@dataclass(frozen=True, slots=True)
class TrackLines:
    """The reply in three parts: ``head`` (its first line the title), ``table``, ``notes``."""

    head: tuple[str, ...]
    table: tuple[str, ...]
    notes: tuple[str, ...]

    def all(self) -> list[str]:
        """Every line, in order."""
        return [*self.head, *self.table, *self.notes]


def _cells(group: TrackGroup) -> tuple[str, ...]:
    counts = (group.band.value, f"{group.readings:,}", f"{group.known:,}")
    if group.median_move_pct is None:
        return (*counts, NOT_ENOUGH, "")
    lift = "" if group.lift is None else f"{group.lift:.2f}×"
    return (*counts, pct_text(group.median_move_pct), lift)


def track_lines(reply: TrackReply) -> TrackLines:
    """``/track`` as heading, table rows and notes."""
    record = reply.record
    scope = reply.symbol or f"whole market ({reply.exchange})"
    head = [f"Track record · {scope}"]
    if reply.source_label:
        head.append(f"Source: {reply.source_label}")
    if record.first is None or record.last is None:
        head.append("No readings stored yet: the track record starts with the first collection.")
    else:
        span = age_text(timedelta(days=record.days))
        head.append(
            f"How the readings played out over the next 24 h, over {span} of stored history "
            f"({utc_text(record.first)} to {utc_text(record.last)})."
        )
    body = [_cells(g) for g in record.bands]
    table = fixed_width(HEADER, body, right={1, 2, 3, 4}).split("\n")
    p = record.params
    notes = (
        "Readings: one per symbol per hour (the first after each whole hour). "
        "24h move: the median absolute mark-price change 24 h after a reading. "
        "Known: readings whose 24 h have passed. vs neutral: that median over the neutral band's.",
        f"A band needs {p.min_readings} readings with a known outcome from {p.min_days} different days "
        "(hours in a row are one episode, not separate evidence).",
    )
    return TrackLines(tuple(head), tuple(table), notes)
