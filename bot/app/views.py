"""Typed, channel-agnostic views that the render layer turns into text, HTML or embeds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.core.aggregate import LoneStretch
from bot.core.models import Band, Bias, ScoreInputs, ScoreResult
from bot.core.records import ChatSettings, ScoreCard, ScoreRecord
from bot.core.track import TrackRecord


@dataclass(frozen=True, slots=True)
class RankedRow:
    """One line of the ranked table."""

    rank: int
    symbol: str
    inputs: ScoreInputs
    result: ScoreResult


@dataclass(frozen=True, slots=True)
class Summary:
    """The seed's header line: average stress and counts by bias."""

    count: int
    average: float
    long: int
    short: int
    neutral: int


@dataclass(frozen=True, slots=True)
class RankedTable:
    """A ranked table with its summary (over every scored symbol, not only the rows shown)."""

    rows: tuple[RankedRow, ...]
    summary: Summary
    source_label: str | None = None


def summarise(results: Sequence[ScoreResult]) -> Summary:
    """Average score and bias counts, as in the seed's header."""
    count = len(results)
    average = sum(r.score for r in results) / count if count else 0.0
    return Summary(
        count=count,
        average=average,
        long=sum(r.bias is Bias.LONG for r in results),
        short=sum(r.bias is Bias.SHORT for r in results),
        neutral=sum(r.bias is Bias.NEUTRAL for r in results),
    )


def rank(
    scored: Sequence[tuple[str, ScoreInputs, ScoreResult]],
    limit: int | None = None,
    source_label: str | None = None,
) -> RankedTable:
    """Sort by score (highest first, ties by symbol) and keep the top ``limit`` rows."""
    ordered = sorted(scored, key=lambda item: (-item[2].score, item[0]))
    shown = ordered if limit is None else ordered[:limit]
    rows = tuple(RankedRow(i + 1, sym, inp, res) for i, (sym, inp, res) in enumerate(shown))
    return RankedTable(rows=rows, summary=summarise([r for _, _, r in scored]), source_label=source_label)


# --- Replies of the command layer (``bot.app.commands``) -------------------------------
# Each reply is plain data; ``bot.render`` turns it into text, Telegram HTML or an embed.
# ``source_label`` (e.g. "synthetic demo market (replay)") must be shown whenever it is set.


class ErrorKind(StrEnum):
    """Why a command got no answer, so adapters can style (or log) refusals differently."""

    BAD_INPUT = "bad_input"
    UNKNOWN_COMMAND = "unknown_command"
    UNKNOWN_SYMBOL = "unknown_symbol"
    NOT_ALLOWED = "not_allowed"
    RATE_LIMITED = "rate_limited"
    NO_DATA = "no_data"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class TextSection:
    """A block of lines under an optional heading."""

    heading: str | None
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TextReply:
    """Help, confirmations and lists: a title and sections of lines."""

    title: str
    sections: tuple[TextSection, ...] = ()
    source_label: str | None = None


@dataclass(frozen=True, slots=True)
class TableReply:
    """``/top``: the seed-style table; the summary covers every scored symbol.

    Attributes:
        title: e.g. ``Top 10 · SHORT bias``.
        as_of: the data time of the latest collection.
        stale: the latest collection is older than two collection intervals.
        notes: extra lines (a capped N, an empty filter).
    """

    table: RankedTable
    title: str
    as_of: datetime
    stale: bool = False
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VenueRow:
    """One venue's part of an asset under the aggregate's card (``None``: unknown, a dash).

    Attributes:
        score / band / bias: the venue's own score of its symbol.
        oi_share: the venue's share of the asset's USD open interest, 0 to 1.
        funding_8h_pct / basis_pct: the venue's funding on an 8h footing and basis, in %.
    """

    venue: str
    symbol: str
    score: int | None
    band: Band | None
    bias: Bias | None
    oi_share: float | None
    funding_8h_pct: float | None
    basis_pct: float | None


@dataclass(frozen=True, slots=True)
class CrossVenue:
    """An asset across its venues: a row per venue, the spreads, the lone-venue flag, and the
    venues missing from the sum (no fresh score or open interest: the aggregate is partial)."""

    rows: tuple[VenueRow, ...]
    funding_spread_pct: float | None = None
    basis_spread_pct: float | None = None
    lone: LoneStretch | None = None
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScoreCardReply:
    """``/score``: one symbol's card with its changes since 1h and 24h ago.

    Attributes:
        age: how old the latest score is at the time of asking.
        stale: older than two collection intervals.
        venues: the aggregate's card only: the asset on each venue (``None`` otherwise).
    """

    card: ScoreCard
    age: timedelta
    stale: bool
    source_label: str | None = None
    venues: CrossVenue | None = None

    @property
    def change_1h(self) -> int | None:
        """Score points gained (negative: lost) since about an hour earlier."""
        past = self.card.hour_ago
        return None if past is None else self.card.latest.result.score - past.result.score

    @property
    def change_24h(self) -> int | None:
        """Score points gained (negative: lost) since about a day earlier."""
        past = self.card.day_ago
        return None if past is None else self.card.latest.result.score - past.result.score


@dataclass(frozen=True, slots=True)
class ChartView:
    """What ``/chart`` plots: one symbol's scores over a window, oldest first."""

    symbol: str
    window: str
    records: tuple[ScoreRecord, ...]
    band_floors: tuple[int, int, int]
    source_label: str | None = None


@dataclass(frozen=True, slots=True)
class ChartReply:
    """``/chart``: a PNG with its caption and a file name to attach it under."""

    png: bytes
    caption: str
    filename: str
    source_label: str | None = None


@dataclass(frozen=True, slots=True)
class SettingsReply:
    """``/alerts``, ``/digest`` and what a settings change left in place.

    Attributes:
        changed: what was just saved, e.g. ``Alerts are on.`` (``None`` when only shown).
        timezone: the chat's IANA timezone (digest time and quiet hours are local to it).
        watchlist: the chat's watchlist size for this exchange.
    """

    settings: ChatSettings
    timezone: str
    watchlist: int
    changed: str | None = None
    source_label: str | None = None


@dataclass(frozen=True, slots=True)
class VenueStatus:
    """One venue's freshness in ``/status`` (a bot collecting several venues).

    Attributes:
        last_collection: data time of the venue's newest stored snapshot (``None``: none yet).
        age: how old that is at the time of asking.
        stale: none yet, or older than two collection intervals.
        last_cycle: a line about the venue's latest cycle, when this process ran one.
    """

    exchange: str
    last_collection: datetime | None
    age: timedelta | None
    stale: bool
    last_cycle: str | None = None


@dataclass(frozen=True, slots=True)
class StatusReply:
    """``/status``: is data flowing, and is delivery keeping up?

    Attributes:
        last_collection: data time of the newest stored snapshot (``None``: none yet).
        age: how old that is at the time of asking.
        stale: older than ``stale_after`` (two collection intervals).
        outbox: message counts by status name.
        last_cycle: a line about the latest cycle, when the process ran one.
        venues: each venue's freshness when the bot collects several (empty for one); the
            fields above are then the first venue's, the one commands show.
    """

    exchange: str
    symbols: int
    last_collection: datetime | None
    age: timedelta | None
    stale: bool
    stale_after: timedelta
    outbox: tuple[tuple[str, int], ...]
    last_cycle: str | None = None
    source_label: str | None = None
    venues: tuple[VenueStatus, ...] = ()

    @property
    def fresh(self) -> bool:
        """Whether data is flowing: a collection stored and none stale, on every venue."""
        return (
            self.last_collection is not None
            and not self.stale
            and not any(v.last_collection is None or v.stale for v in self.venues)
        )


@dataclass(frozen=True, slots=True)
class TrackReply:
    """``/track``: how the bot's stored readings played out, per band, against neutral.

    Attributes:
        record: the figures (``bot.core.track``); a band below the minimum sample has none.
        symbol: the symbol asked about (``None``: the whole market).
    """

    record: TrackRecord
    exchange: str
    symbol: str | None = None
    source_label: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """A clear refusal: bad input, unknown symbol, not allowed, slow down, no data, or our fault.

    Attributes:
        suggestions: symbols the person may have meant.
        retry_after: for ``RATE_LIMITED``, when the next command will be accepted.
    """

    kind: ErrorKind
    message: str
    suggestions: tuple[str, ...] = ()
    retry_after: timedelta | None = None


Reply = (
    TextReply
    | TableReply
    | ScoreCardReply
    | ChartReply
    | SettingsReply
    | StatusReply
    | TrackReply
    | ErrorReply
)
"""Everything the command layer answers with."""
