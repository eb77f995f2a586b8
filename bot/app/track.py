"""The read side of ``/track`` and of the alerts' evidence line: the kept history in memory.

The track record samples **one reading per symbol per hour**: the first stored score in
the first ``SAMPLE_SLOT`` after each whole UTC hour, with the mark price of the
snapshot at the same time, and the 24h move to the sampled price nearest a day later.
Readings five minutes apart share almost all of their 24h window, so every cycle's
reading would add rows, not evidence (``docs/alerts.md``); the store picks the samples,
so the other rows never leave it. 500 symbols x 14 days are then 168,000 readings, not
two million.

Each process reads a symbol's kept history once, then tops it up: when the store's
``ScoreMark`` moves, it reads only the samples since the newest one it holds (less
``OVERLAP``, for rows committed a little late), and ``bot.core.track.TrackSeries``
recomputes only the readings whose 24h window is still open. Figures are cached until
the mark moves again.

The command process reads the whole market on the first ``/track`` without a symbol (in
spans of ``LOAD_SPAN``, so the rows alive at once stay bounded); the collector
reads only the symbols it alerts on, for their evidence lines.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from itertools import pairwise

from bot.core.events import AlertEvent, EventKind
from bot.core.records import ScoreMark
from bot.core.track import (
    DAY_S,
    DEFAULT_TRACK_PARAMS,
    EpochMemo,
    Outcome,
    TrackGroup,
    TrackParams,
    TrackPool,
    TrackRecord,
    TrackSeries,
    evidence,
    track_record,
)
from bot.ports import ScoreStore, SnapshotStore

OVERLAP = timedelta(minutes=15)
"""How far back before the newest row held a top-up reads again (rows stored late)."""
MARK_WINDOW = timedelta(minutes=15)
DISCOVER = timedelta(hours=6)
"""A whole-market load covers the symbols scored this long before the newest score."""
SAMPLE_EVERY = timedelta(hours=1)
"""One reading per symbol per this period feeds the track record."""
SAMPLE_SLOT = timedelta(minutes=10)
"""A period's reading is the first in this long after its start: two cycles at the default
5-minute interval, so a late or skipped cycle does not lose the hour."""
LOAD_SPAN = timedelta(days=2)
"""Time per read when the whole market is loaded (bounds the rows alive at once)."""
EVIDENCE_KINDS = frozenset({EventKind.BAND_UP, EventKind.SQUEEZE_RISK, EventKind.BAND_DOWN})
"""Alert kinds that carry an evidence line (a bias flip is about the side, not the band)."""


class TrackHistory:
    """One exchange's readings and mark prices over the kept history, topped up as cycles store.

    Thread-safe: ``/track`` computes in a worker thread so a first, long read never blocks
    the other commands.

    Args:
        keep: how far back the history goes (the snapshots' retention: a reading older
            than its snapshots has no price to follow).
        every / slot: the sampling (``SAMPLE_EVERY``, ``SAMPLE_SLOT``).
    """

    def __init__(
        self,
        scores: ScoreStore,
        snapshots: SnapshotStore,
        *,
        exchange: str,
        keep: timedelta = timedelta(days=14),
        params: TrackParams = DEFAULT_TRACK_PARAMS,
        every: timedelta = SAMPLE_EVERY,
        slot: timedelta = SAMPLE_SLOT,
    ) -> None:
        self._scores = scores
        self._snapshots = snapshots
        self._exchange = exchange
        self._keep = keep
        self.params = params
        self._every = every
        self._slot = slot
        self._lock = threading.Lock()
        self._series: dict[str, TrackSeries] = {}
        self._whole = False  # every symbol is loaded, and new ones join at each top-up
        self._held: datetime | None = None  # the newest data time read
        self._mark: ScoreMark | None = None
        self._records: dict[str | None, TrackRecord] = {}
        self._pool = TrackPool()  # every held series' final outcomes, per band

    def record(self, symbol: str | None = None) -> TrackRecord | None:
        """The track record of ``symbol`` (``None``: the whole market); ``None`` with no scores."""
        with self._lock:
            mark = self._refresh(None if symbol is None else (symbol,))
            if mark is None:
                return None
            found = self._records.get(symbol)
            if found is None:
                if symbol is None:
                    found = self._pool.record(list(self._series.values()), None, self.params)
                else:
                    found = track_record([self._series_of(symbol)], symbol, self.params)
                self._records[symbol] = found
            return found

    def evidence_lines(self, events: Sequence[AlertEvent], now: datetime) -> dict[str, str]:
        """One evidence line per event (by event id) that has enough history behind it.

        All symbols read in one go, once per cycle; a cycle without alerts reads nothing.
        """
        wanted = [e for e in events if e.kind in EVIDENCE_KINDS]
        if not wanted:
            return {}
        with self._lock:
            mark = self._refresh(sorted({e.symbol for e in wanted}))
            if mark is None:
                return {}
            lines: dict[str, str] = {}
            for event in wanted:
                series = self._series_of(event.symbol)
                found = evidence(series, event.after.band, event.after.bias, self.params)
                if found is not None:
                    lines[event.event_id] = evidence_line(*found, days=_span_days(series, mark.newest))
            return lines

    # --- reading -----------------------------------------------------------------------

    def _series_of(self, symbol: str) -> TrackSeries:
        # Not ``get(symbol) or ...``: a held series without readings has length 0 and is falsy.
        found = self._series.get(symbol)
        return TrackSeries(symbol) if found is None else found

    def _refresh(self, symbols: Collection[str] | None) -> ScoreMark | None:
        """Bring the held history up to the store's newest scores; load ``symbols`` (all: None)."""
        mark = self._scores.score_mark(self._exchange, MARK_WINDOW)
        if mark is None:
            return None
        start = mark.newest - self._keep
        if mark != self._mark:
            self._mark = mark
            self._records.clear()
            if self._held is not None and (self._whole or self._series):
                held = None if self._whole else list(self._series)
                self._read(max(self._held - OVERLAP, start), mark.newest, held)
            for series in self._series.values():
                series.drop_before(start)
            self._held = mark.newest
        missing = (
            None
            if symbols is None and not self._whole
            else [s for s in symbols or () if s not in self._series]
        )
        if missing is None or missing:
            self._load(start, mark.newest, missing)
            if missing is None:
                self._whole = True
            self._records.clear()
        # Only the outcomes that became final (or were dropped) since the last refresh.
        self._pool.apply([change for series in self._series.values() for change in series.take_changes()])
        return mark

    def _load(self, start: datetime, end: datetime, symbols: Collection[str] | None) -> None:
        """The whole kept window of ``symbols`` (all: ``None``, ``LOAD_SPAN`` of it a read).

        A whole market is asked of the store as such (no list): it finds each slot's first
        rows from one range of its time key, a statement a slot, where a list of every
        symbol would cost a seek per symbol and slot and a statement of hundreds of names
        to build; the rows of symbols that left the market are dropped here. It is read a
        span of time at a time (only a span's rows alive at once); a few symbols are read
        in one go, by seeks.
        """
        # The market's symbols: those scored in the last hours (a listing silent for longer
        # is gone from the market; asking over the whole window would read every row).
        names = (
            sorted({r.symbol for r in self._scores.latest_scores(self._exchange, since=end - DISCOVER)})
            if symbols is None
            else sorted(symbols)
        )
        spans = [(start, end)]
        if symbols is None:
            cuts = [start + k * LOAD_SPAN for k in range(1, int((end - start) / LOAD_SPAN) + 1)]
            edges = [start, *[t for t in cuts if t < end], end]
            spans = list(pairwise(edges))
        self._pool.stage()
        try:
            for first, last in spans:
                # Both ends are inclusive: a slot at a cut is read again, its row held once.
                self._read(first, last, names, whole=symbols is None)
        finally:
            self._pool.flush()

    def _read(
        self, start: datetime, end: datetime, symbols: Collection[str] | None, *, whole: bool = False
    ) -> None:
        """Read ``symbols`` (all: ``None``) over ``[start, end]``; ``whole``: ``symbols`` is the
        market's every symbol, asked of the store without a list and kept to them here."""
        # One read each, sampled alike, so a reading's price is the snapshot of its own
        # time. A symbol with no score in the window still gets an (empty) series, so it
        # is not read again.
        every, slot = self._every, self._slot
        asked = None if whole else symbols
        bands = self._scores.band_history(self._exchange, start, end, asked, every=every, slot=slot)
        prices = self._snapshots.mark_samples(self._exchange, start, end, asked, every=every, slot=slot)
        if whole and symbols is not None:
            kept = set(symbols)
            bands = {name: points for name, points in bands.items() if name in kept}
            prices = {name: points for name, points in prices.items() if name in kept}
        changes: list[tuple[bool, Outcome]] = []
        # The symbols' rows share their times (a cycle's): each converted once for all.
        epochs: EpochMemo = {}
        for symbol in set(bands) | set(prices) | set(symbols or ()):
            series = self._series.get(symbol)
            if series is None:
                series = self._series[symbol] = TrackSeries(symbol)
            series.add_points(prices.get(symbol, ()), epochs)
            series.add_readings(bands.get(symbol, ()), epochs)
            changes.extend(series.take_changes())
        # Into the pool now: a whole market's outcomes as change records at once would be
        # hundreds of megabytes.
        self._pool.apply(changes)


def _span_days(series: TrackSeries, newest: datetime) -> int:
    first = series.first
    if first is None:
        return 0
    return max(1, round((newest.timestamp() - first) / DAY_S))


def pct_text(value: float) -> str:
    """``6.1 %`` (one decimal; two below 1 %)."""
    return f"{value:.2f} %" if value < 1 else f"{value:.1f} %"


def evidence_line(group: TrackGroup, neutral: TrackGroup, *, days: int) -> str:
    """``stressed LONG readings here in the last 14 days: 31, median 24h move 6.1 % vs 2.3 % when
    neutral`` (both groups must have their figure: ``enough``)."""
    if group.median_move_pct is None or neutral.median_move_pct is None:
        raise ValueError("evidence_line: a group below the minimum sample has no figure to show")
    side = f" {group.bias.value}" if group.bias is not None else ""
    span = "day" if days == 1 else f"{days} days"
    return (
        f"{group.band.value}{side} readings here in the last {span}: {group.known}, median 24h move "
        f"{pct_text(group.median_move_pct)} vs {pct_text(neutral.median_move_pct)} when neutral"
    )
