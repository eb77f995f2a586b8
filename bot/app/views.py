"""Typed, channel-agnostic views that the render layer turns into text, HTML or embeds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.models import Bias, ScoreInputs, ScoreResult


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
