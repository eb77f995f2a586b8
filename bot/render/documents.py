"""Command replies, alert batches and digests as message documents (``bot.core.document``).

The one place that decides what a message says and how it is structured; every
platform renderer (console text, Telegram HTML, Discord embeds) draws the document it
gets and never re-reads text. Numbers are formatted here, once, so every platform shows
the same figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import assert_never

from bot.app.digest import Digest, Mover
from bot.app.fanout import AlertBatch
from bot.app.track import pct_text
from bot.app.views import (
    ChartReply,
    CrossVenue,
    ErrorReply,
    RankedRow,
    Reply,
    ScoreCardReply,
    SettingsReply,
    StatusReply,
    TableReply,
    TextReply,
    TrackReply,
)
from bot.core.aggregate_card import venue_name
from bot.core.document import (
    Block,
    BulletList,
    ChartRef,
    Column,
    ColumnKind,
    Document,
    Footnote,
    Heading,
    KeyValues,
    Paragraph,
    Table,
    Tone,
)
from bot.core.durations import age_text
from bot.core.events import AlertEvent, EventKind, Reading
from bot.core.models import Band
from bot.core.records import ChatSettings, ScoreRecord
from bot.core.track import TrackGroup
from bot.render.numbers import MISSING, pct, utc_text
from bot.render.table import PARTIAL_MARK, PARTIAL_NOTE, seed_cells, summary_line

STALE_NOTE = " — STALE: collection may have stopped (see /status)"
REGIME_WIDTH = 34
"""The regime column's width where the table must stay narrow (chat code blocks, terminals)."""

BAND_TONES: dict[Band, Tone] = {
    Band.NEUTRAL: Tone.NEUTRAL,
    Band.LEAN: Tone.LEAN,
    Band.STRETCHED: Tone.STRETCHED,
    Band.STRESSED: Tone.STRESSED,
}


def reply_document(reply: Reply) -> Document:
    """The document answering one command."""
    match reply:
        case TextReply():
            return _text(reply)
        case TableReply():
            return _top(reply)
        case ScoreCardReply():
            return _card(reply)
        case ChartReply():
            return Document(
                title=reply.caption,
                blocks=(ChartRef(reply.filename, reply.caption),),
                source_label=reply.source_label,
            )
        case SettingsReply():
            return _settings(reply)
        case StatusReply():
            return _status(reply)
        case TrackReply():
            return _track(reply)
        case ErrorReply():
            blocks: list[Block] = [Paragraph(reply.message)]
            if reply.suggestions:
                blocks.append(Paragraph(f"Did you mean: {', '.join(reply.suggestions)}?"))
            return Document(title="", blocks=tuple(blocks), tone=Tone.ERROR)
        case _:  # a new reply type must be drawn here: mypy flags this line until it is
            assert_never(reply)


# --- command replies -------------------------------------------------------------------


def _text(reply: TextReply) -> Document:
    blocks: list[Block] = []
    for section in reply.sections:
        if section.heading:
            blocks += [Heading(section.heading), BulletList(section.lines)]
        else:
            blocks += [Paragraph(line) for line in section.lines]
    return Document(title=reply.title, blocks=tuple(blocks), source_label=reply.source_label)


TOP_COLUMNS = (
    Column("#", ColumnKind.NUMBER),
    Column("Symbol"),
    Column("Score", ColumnKind.NUMBER),
    Column("Bias"),
    Column("Regime", max_width=REGIME_WIDTH),
    Column("OI 1h", ColumnKind.PERCENT),
    Column("OI 24h", ColumnKind.PERCENT),
    Column("Funding", ColumnKind.PERCENT),
    Column("Basis", ColumnKind.PERCENT),
)
TOP_OPTIONAL = (5,)
"""A narrow screen may leave out OI 1h (OI 24h says more about positioning)."""


def top_cells(row: RankedRow) -> tuple[str, ...]:
    """One row of the chat table: the seed's columns without OI 4h (OI 24h says more)."""
    cells = seed_cells(row)
    return (*cells[:6], *cells[7:])


def _top(reply: TableReply) -> Document:
    table = reply.table
    blocks: list[Block] = [Paragraph(summary_line(table.summary))]
    if table.rows:
        blocks.append(Table(TOP_COLUMNS, tuple(top_cells(row) for row in table.rows), TOP_OPTIONAL))
    if any(row.result.partial for row in table.rows):
        blocks.append(Footnote(PARTIAL_NOTE))
    data = f"Data as of {utc_text(reply.as_of)}" + (STALE_NOTE if reply.stale else "")
    blocks += [Footnote(data), *(Footnote(note) for note in reply.notes)]
    tone = BAND_TONES[table.rows[0].result.band] if table.rows else Tone.INFO
    return Document(
        title=f"Derivatives Pressure Score · {reply.title}",
        blocks=tuple(blocks),
        tone=tone,
        source_label=table.source_label,
    )


def _signed(points: int | None) -> str:
    return MISSING if points is None else f"{points:+d}"


def funding_text(
    raw: float | None, interval_h: float | None, per_8h: float | None, annualised: float | None
) -> str:
    """Funding as paid, its 8h equivalent when the interval differs, and annualised."""
    paid = f"{pct(raw, 3)} per {interval_h:g}h" if interval_h else f"{pct(raw, 3)} per interval"
    if interval_h != 8:
        paid += f" = {pct(per_8h, 3)} per 8h"
    return f"{paid} · {pct(annualised, 1)} annualised"


def _card(reply: ScoreCardReply) -> Document:
    record = reply.card.latest
    r, i = record.result, record.inputs
    c = r.components
    mark = PARTIAL_MARK if r.partial else ""
    data = f"{record.exchange}, {utc_text(record.ts)} ({age_text(reply.age)} old)"
    if reply.stale:
        data += STALE_NOTE
    items = (
        ("Change", f"{_signed(reply.change_1h)} since 1h ago · {_signed(reply.change_24h)} since 24h ago"),
        ("OI change", f"1h {pct(i.oi_1h_pct, 2)} · 4h {pct(i.oi_4h_pct, 1)} · 24h {pct(i.oi_24h_pct, 1)}"),
        (
            "Funding",
            funding_text(i.funding_pct, i.funding_interval_h, c.funding_8h_pct, c.funding_annualised_pct),
        ),
        ("Basis (mark/index)", pct(i.basis_pct, 2)),
        ("Data", data),
    )
    blocks: list[Block] = [Paragraph(r.label), KeyValues(items)]
    if reply.venues is not None:
        notes = venue_notes(reply.venues)
        blocks += [Heading("By venue"), BulletList(venue_lines(reply.venues)), *map(Paragraph, notes)]
    if r.partial:
        blocks.append(Footnote(PARTIAL_NOTE))
    return Document(
        title=f"{record.symbol} · score {r.score}{mark} ({r.band.value}) · {r.bias.value}",
        blocks=tuple(blocks),
        tone=BAND_TONES[r.band],
        source_label=reply.source_label,
    )


def _share(value: float | None) -> str:
    return MISSING if value is None else f"{100 * value:.0f} % of OI"


def _spread(value: float | None, decimals: int) -> str:
    return MISSING if value is None else f"{value:.{decimals}f} pt"


def venue_lines(cross: CrossVenue) -> tuple[str, ...]:
    """A line per venue: its own score, band and bias, OI share, funding per 8h, basis."""
    lines: list[str] = []
    for v in cross.rows:
        own = (
            MISSING
            if v.score is None or v.band is None or v.bias is None
            else f"{v.score} {v.band.value} · {v.bias.value}"
        )
        lines.append(
            f"{venue_name(v.venue)} {v.symbol}: {own} · {_share(v.oi_share)} · "
            f"funding {pct(v.funding_8h_pct, 4)}/8h · basis {pct(v.basis_pct, 2)}"
        )
    return tuple(lines)


def venue_notes(cross: CrossVenue) -> tuple[str, ...]:
    """The spreads across venues, and the flag when one venue alone is stretched."""
    lines: list[str] = []
    if cross.funding_spread_pct is not None or cross.basis_spread_pct is not None:
        lines.append(
            f"Spread across venues: funding {_spread(cross.funding_spread_pct, 4)}/8h · "
            f"basis {_spread(cross.basis_spread_pct, 2)}"
        )
    if cross.lone is not None:
        lone = cross.lone
        share = "" if lone.oi_share is None else f", {100 * lone.oi_share:.0f} % of OI"
        lines.append(f"{lone.band.value.capitalize()} on {venue_name(lone.venue)} only{share}")
    if cross.missing:
        gone = " and ".join(venue_name(v) for v in cross.missing)
        lines.append(f"Partial: {gone} missing — funding and basis from the others, OI changes left out")
    return tuple(lines)


def settings_items(settings: ChatSettings, timezone: str, watchlist: int) -> tuple[tuple[str, str], ...]:
    """The chat's alert and digest settings as labelled values."""
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
    return (
        ("Alerts", f"{'on' if s.alerts_enabled else 'off'} · from the {s.min_band.value} band up"),
        ("Kinds", kinds),
        ("Symbols", symbols),
        ("Quiet hours", quiet),
        ("Digest", digest),
        ("Timezone", timezone),
    )


def _settings(reply: SettingsReply) -> Document:
    blocks: list[Block] = []
    if reply.changed:
        blocks.append(Paragraph(f"Saved. {reply.changed}"))
    blocks.append(KeyValues(settings_items(reply.settings, reply.timezone, reply.watchlist)))
    return Document(title="Settings for this chat", blocks=tuple(blocks), source_label=reply.source_label)


def _freshness(last_collection: datetime | None, age: timedelta | None, stale: bool, after: timedelta) -> str:
    if last_collection is None or age is None:
        return "none has finished yet."
    if stale:
        return (
            f"{utc_text(last_collection)}, {age_text(age)} ago — STALE: "
            f"older than two collection intervals ({age_text(after)}); "
            "data collection may have stopped."
        )
    return f"{utc_text(last_collection)}, {age_text(age)} ago (fresh)"


def _status(reply: StatusReply) -> Document:
    last = _freshness(reply.last_collection, reply.age, reply.stale, reply.stale_after)
    items = [("Exchange", reply.exchange), ("Symbols tracked", str(reply.symbols)), ("Last collection", last)]
    if reply.last_cycle and not reply.venues:
        items.append(("Last cycle", reply.last_cycle))
    for venue in reply.venues:  # several venues: each one's freshness, the first's included
        fresh_text = _freshness(venue.last_collection, venue.age, venue.stale, reply.stale_after)
        items.append((f"Venue {venue.exchange}", fresh_text))
        if venue.last_cycle:
            items.append((f"Last cycle {venue.exchange}", venue.last_cycle))
    items.append(
        ("Alert outbox", " · ".join(f"{status} {count}" for status, count in reply.outbox) or "empty")
    )
    fresh = reply.fresh
    return Document(
        title="Status",
        blocks=(KeyValues(tuple(items)),),
        tone=Tone.NEUTRAL if fresh else Tone.STRESSED,
        source_label=reply.source_label,
    )


TRACK_COLUMNS = (
    Column("Band"),
    Column("Readings", ColumnKind.NUMBER),
    Column("Known", ColumnKind.NUMBER),
    Column("24h move", ColumnKind.PERCENT),
    Column("vs neutral", ColumnKind.NUMBER),
)
NOT_ENOUGH = "not enough history yet"


def _track_cells(group: TrackGroup) -> tuple[str, ...]:
    counts = (group.band.value, f"{group.readings:,}", f"{group.known:,}")
    if group.median_move_pct is None:
        return (*counts, NOT_ENOUGH, "")
    lift = "" if group.lift is None else f"{group.lift:.2f}×"
    return (*counts, pct_text(group.median_move_pct), lift)


def _track(reply: TrackReply) -> Document:
    record = reply.record
    scope = reply.symbol or f"whole market ({reply.exchange})"
    if record.first is None or record.last is None:
        head = "No readings stored yet: the track record starts with the first collection."
    else:
        span = age_text(timedelta(days=record.days))
        head = (
            f"How the readings played out over the next 24 h, over {span} of stored history "
            f"({utc_text(record.first)} to {utc_text(record.last)})."
        )
    p = record.params
    notes = (
        "Readings: one per symbol per hour (the first after each whole hour). "
        "24h move: the median absolute mark-price change 24 h after a reading. "
        "Known: readings whose 24 h have passed. vs neutral: that median over the neutral band's.",
        f"A band needs {p.min_readings} readings with a known outcome from {p.min_days} different days "
        "(hours in a row are one episode, not separate evidence).",
    )
    return Document(
        title=f"Track record · {scope}",
        blocks=(
            Paragraph(head),
            Table(TRACK_COLUMNS, tuple(_track_cells(g) for g in record.bands)),
            *(Footnote(n) for n in notes),
        ),
        source_label=reply.source_label,
    )


# --- alerts ----------------------------------------------------------------------------

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


def event_blocks(event: AlertEvent, evidence: str | None = None) -> tuple[Block, ...]:
    """One alert: a headline naming symbol, bands, score and bias, then its detail lines.

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
    lines = [a.label]
    moved = moved_components(event.before, a)
    if moved:
        lines.append(" · ".join(moved))
    if evidence:
        lines.append(evidence)
    lines.append(f"data {a.ts:%Y-%m-%d %H:%M} UTC")
    return (
        Heading(f"{headline} · score {a.score} (was {event.before.score}) · {a.bias.value}"),
        *(Paragraph(line, indent=True) for line in lines),
    )


def alert_document(
    batch: AlertBatch, source_label: str | None = None, evidence: Mapping[str, str] | None = None
) -> Document:
    """The whole message for one chat and cycle (``evidence``: lines by event id)."""
    notes = evidence or {}
    blocks: list[Block] = []
    for event in batch.events:
        blocks += event_blocks(event, notes.get(event.event_id))
    if batch.suppressed:
        blocks.append(
            Footnote(
                f"{batch.suppressed} more suppressed: daily alert cap reached. "
                "/top shows the full picture; alerts resume after local midnight."
            )
        )
    bands = [e.after.band for e in batch.events]
    tone = BAND_TONES[max(bands, key=lambda band: band.rank)] if bands else Tone.INFO
    return Document(
        title="Derivatives Pressure alerts", blocks=tuple(blocks), tone=tone, source_label=source_label
    )


# --- the daily digest ------------------------------------------------------------------

DIGEST_ROW = (Column("Symbol"), Column("Score", ColumnKind.NUMBER), Column("Bias"), Column("Regime"))
DIGEST_MOVER = (
    Column("Symbol"),
    Column("Score", ColumnKind.NUMBER),
    Column("24h", ColumnKind.NUMBER),
    Column("Bias"),
)
DIGEST_CHART = "digest.png"


def _rows(title: str, records: Sequence[ScoreRecord], empty: str) -> list[Block]:
    if not records:
        return [Heading(title), Paragraph(empty)]
    rows = tuple((r.symbol, str(r.result.score), r.result.bias.value, r.result.label) for r in records)
    return [Heading(title), Table(DIGEST_ROW, rows)]


def _movers(title: str, movers: Sequence[Mover]) -> list[Block]:
    if not movers:
        return [Heading(title), Paragraph("none")]
    rows = tuple(
        (m.record.symbol, str(m.record.result.score), f"{m.change:+d}", m.record.result.bias.value)
        for m in movers
    )
    return [Heading(title), Table(DIGEST_MOVER, rows)]


def digest_document(digest: Digest, *, chart: bool = False) -> Document:
    """Header (average stress, counts by bias), top names, movers, squeeze risk, data time.

    ``chart``: a chart PNG travels with the digest (the outbox attachment).
    """
    blocks: list[Block] = [
        Paragraph(summary_line(digest.summary)),
        *_rows("Top stress", digest.top, "(no scores)"),
        *_movers("Biggest risers (24h)", digest.risers),
        *_movers("Biggest fallers (24h)", digest.fallers),
        *_rows("Squeeze risk now", digest.squeeze, "none"),
    ]
    if chart:
        blocks.append(ChartRef(DIGEST_CHART, "Top names by score, over the stress bands, coloured by bias"))
    if digest.data_time is not None:
        blocks.append(Footnote(f"data {digest.data_time:%Y-%m-%d %H:%M} UTC"))
    return Document(
        title=f"Daily Derivatives Pressure digest · {digest.local_date:%a %d %b %Y}",
        blocks=tuple(blocks),
        source_label=digest.source_label,
    )
