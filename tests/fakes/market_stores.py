"""In-memory snapshot, score and alert-state stores with the SQL stores' semantics."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from bot.core.collection import OiPoint
from bot.core.diff import reading_hour
from bot.core.events import Reading, SymbolState
from bot.core.market import MarketSnapshot
from bot.core.models import Bias, Regime
from bot.core.records import ScoreCard, ScoreMark, ScoreRecord
from bot.core.regimes import REGIME_LABELS
from bot.errors import StorageError
from bot.ports import BandSeries, MarketSeries, OiSeries, ScoreAt
from tests.fakes.serialised import serialised

T = TypeVar("T")
Key = tuple[str, str, datetime]


def utc(moment: datetime, what: str = "time") -> datetime:
    """Normalise to UTC like the SQL column type does; naive times fail like it too."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise StorageError(f"cannot store {what}: naive datetime {moment.isoformat()}")
    return moment.astimezone(UTC)


def newest_at_or_before(
    rows: Iterable[T], ts_of: Callable[[T], datetime], at: datetime, tolerance: timedelta
) -> T | None:
    """The row with the greatest time in ``[at - tolerance, at]``."""
    inside = [r for r in rows if at - tolerance <= ts_of(r) <= at]
    return max(inside, key=ts_of, default=None)


def newest_per_symbol(
    rows: Iterable[T], symbol_of: Callable[[T], str], ts_of: Callable[[T], datetime]
) -> dict[str, T]:
    """Each symbol's row with the greatest time."""
    newest: dict[str, T] = {}
    for row in rows:
        kept = newest.get(symbol_of(row))
        if kept is None or ts_of(row) > ts_of(kept):
            newest[symbol_of(row)] = row
    return newest


def first_per_slot(
    rows: Iterable[T],
    symbol_of: Callable[[T], str],
    ts_of: Callable[[T], datetime],
    start: datetime,
    end: datetime,
    every: timedelta,
    slot: timedelta,
) -> dict[str, list[T]]:
    """Per symbol, oldest first: its first row in each ``[h, h + slot)`` (``h`` a whole
    multiple of ``every`` since the epoch, ``start <= h <= end``) with time ``<= end``."""
    if not timedelta(0) < slot <= every:
        raise ValueError(f"sampling slot must be within (0, {every}], got {slot}")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    first: dict[tuple[str, int], T] = {}
    for row in rows:
        ts = ts_of(row)
        k = (ts - epoch) // every
        h = epoch + k * every
        if ts - h < slot and start <= h and ts <= end:
            kept = first.get((symbol_of(row), k))
            if kept is None or ts < ts_of(kept):
                first[(symbol_of(row), k)] = row
    found: dict[str, list[T]] = {}
    for (symbol, _), row in sorted(first.items(), key=lambda item: (item[0][0], item[0][1])):
        found.setdefault(symbol, []).append(row)
    return found


@serialised
class FakeSnapshotStore:
    """``bot.ports.SnapshotStore`` in memory."""

    def __init__(self) -> None:
        self.rows: dict[Key, MarketSnapshot] = {}

    def checkpoint(self) -> object:
        """A copy of the state, for ``restore`` (the fake's transaction rollback)."""
        return dict(self.rows)

    def restore(self, state: object) -> None:
        """Go back to a ``checkpoint``."""
        assert isinstance(state, dict)
        self.rows = state

    def add_snapshots(self, snapshots: Sequence[MarketSnapshot]) -> int:
        fresh: dict[Key, MarketSnapshot] = {}
        for snap in snapshots:
            nft = snap.next_funding_time
            stored = replace(snap, ts=utc(snap.ts), next_funding_time=None if nft is None else utc(nft))
            key = (snap.exchange, snap.symbol, stored.ts)
            if key not in self.rows:
                fresh.setdefault(key, stored)
            else:
                # As the SQL store: a stored row's NULL columns are filled (a backfilled
                # point at a cycle's time), its values kept.
                held = self.rows[key]
                filled = {
                    f.name: getattr(stored, f.name) for f in fields(held) if getattr(held, f.name) is None
                }
                self.rows[key] = replace(held, **filled)
        self.rows.update(fresh)
        return len(fresh)

    def _of(self, exchange: str, symbol: str | None = None) -> list[MarketSnapshot]:
        return [
            s for s in self.rows.values() if s.exchange == exchange and (symbol is None or s.symbol == symbol)
        ]

    def latest_snapshot_time(self, exchange: str) -> datetime | None:
        return max((s.ts for s in self._of(exchange)), default=None)

    @staticmethod
    def _reading(snap: MarketSnapshot) -> OiPoint:
        assert snap.oi_contracts is not None
        return OiPoint(ts=snap.ts, oi_contracts=snap.oi_contracts, oi_usd=snap.oi_usd)

    def oi_at_many(
        self,
        exchange: str,
        at: datetime,
        tolerance: timedelta,
        symbols: Collection[str] | None = None,
    ) -> dict[str, OiPoint]:
        inside = [
            s
            for s in self._of(exchange)
            if s.oi_contracts is not None
            and at - tolerance <= s.ts <= at
            and (symbols is None or s.symbol in symbols)
        ]
        newest = newest_per_symbol(inside, lambda s: s.symbol, lambda s: s.ts)
        return {symbol: self._reading(snap) for symbol, snap in newest.items()}

    def market_history(
        self,
        exchange: str,
        start: datetime,
        end: datetime,
        symbols: Collection[str] | None = None,
    ) -> MarketSeries:
        found = MarketSeries(oi={}, mark={})
        for snap in sorted(self._of(exchange), key=lambda s: (s.symbol, s.ts)):
            if not start <= snap.ts <= end or (symbols is not None and snap.symbol not in symbols):
                continue
            if snap.oi_contracts is not None:
                found.oi.setdefault(snap.symbol, []).append((snap.ts, snap.oi_contracts))
            if snap.mark_price is not None:
                found.mark.setdefault(snap.symbol, []).append((snap.ts, snap.mark_price))
        return found

    def mark_samples(
        self,
        exchange: str,
        start: datetime,
        end: datetime,
        symbols: Collection[str] | None = None,
        *,
        every: timedelta,
        slot: timedelta,
    ) -> OiSeries:
        rows = (s for s in self._of(exchange) if symbols is None or s.symbol in symbols)
        picked = first_per_slot(rows, lambda s: s.symbol, lambda s: s.ts, start, end, every, slot)
        found: OiSeries = {}
        for symbol, snaps in picked.items():
            points = [(s.ts, s.mark_price) for s in snaps if s.mark_price is not None]
            if points:
                found[symbol] = points
        return found

    def latest_snapshots(
        self, exchange: str, since: datetime, symbols: Collection[str] | None = None
    ) -> dict[str, MarketSnapshot]:
        utc(since, "since")
        inside = [
            s
            for s in self._of(exchange)
            if s.ts >= since and s.mark_price is not None and (symbols is None or s.symbol in symbols)
        ]
        return newest_per_symbol(inside, lambda s: s.symbol, lambda s: s.ts)

    def purge_before(self, cutoff: datetime) -> int:
        """Retention: drop snapshots older than ``cutoff``."""
        old = [key for key, snap in self.rows.items() if snap.ts < cutoff]
        for key in old:
            del self.rows[key]
        return len(old)


@serialised
class FakeScoreStore:
    """``bot.ports.ScoreStore`` in memory."""

    def __init__(self) -> None:
        self.rows: dict[Key, ScoreRecord] = {}

    def checkpoint(self) -> object:
        """A copy of the state, for ``restore`` (the fake's transaction rollback)."""
        return dict(self.rows)

    def restore(self, state: object) -> None:
        """Go back to a ``checkpoint``."""
        assert isinstance(state, dict)
        self.rows = state

    def insert(self, records: Sequence[ScoreRecord]) -> int:
        """Store scores not stored yet (``FakeCycleStore.save_cycle``'s part of the work); an
        accepted one replaces a stored row of its key not accepted, as ``insert_scores`` does."""
        fresh: dict[Key, ScoreRecord] = {}
        replaced: list[tuple[Key, ScoreRecord]] = []
        for record in records:
            stored = replace(record, ts=utc(record.ts))
            key = (record.exchange, record.symbol, stored.ts)
            if key not in self.rows:
                fresh.setdefault(key, stored)
            elif record.accepted and not self.rows[key].accepted:
                replaced.append((key, stored))
        self.rows.update(fresh)
        self.rows.update(replaced)
        return len(fresh) + len(replaced)

    def accepted_after(self, exchange: str, symbol: str, ts: datetime) -> ScoreRecord | None:
        """The newest accepted score of the symbol after ``ts`` and in its UTC hour
        (``FakeAlertStateStore.load_alert_states``'s rebuild of ``last``)."""
        hour = reading_hour(ts)
        found = [
            r for r in self._of(exchange, symbol) if r.accepted and r.ts > ts and reading_hour(r.ts) == hour
        ]
        return max(found, key=lambda r: r.ts, default=None)

    def _of(self, exchange: str, symbol: str | None = None) -> list[ScoreRecord]:
        return [
            r for r in self.rows.values() if r.exchange == exchange and (symbol is None or r.symbol == symbol)
        ]

    def latest_scores(
        self,
        exchange: str,
        *,
        since: datetime,
        bias: Bias | None = None,
        regimes: Collection[Regime] | None = None,
        limit: int | None = None,
    ) -> list[ScoreRecord]:
        recent = [r for r in self._of(exchange) if r.ts >= since]
        newest = newest_per_symbol(recent, lambda r: r.symbol, lambda r: r.ts).values()
        chosen = [
            r
            for r in newest
            if (bias is None or r.result.bias is bias) and (regimes is None or r.result.regime in regimes)
        ]
        chosen.sort(key=lambda r: (-r.result.score, r.symbol))
        return chosen if limit is None else chosen[:limit]

    def score_at_many(
        self,
        exchange: str,
        at: datetime,
        tolerance: timedelta,
        symbols: Collection[str] | None = None,
    ) -> dict[str, ScoreRecord]:
        inside = [
            r
            for r in self._of(exchange)
            if at - tolerance <= r.ts <= at and (symbols is None or r.symbol in symbols)
        ]
        return newest_per_symbol(inside, lambda r: r.symbol, lambda r: r.ts)

    def score_card(self, exchange: str, symbol: str, *, tolerance: timedelta) -> ScoreCard | None:
        history = self._of(exchange, symbol)
        if not history:
            return None
        latest = max(history, key=lambda r: r.ts)
        return ScoreCard(
            latest=latest,
            hour_ago=newest_at_or_before(history, lambda r: r.ts, latest.ts - timedelta(hours=1), tolerance),
            day_ago=newest_at_or_before(history, lambda r: r.ts, latest.ts - timedelta(hours=24), tolerance),
        )

    def scores_at(self, wanted: Sequence[ScoreAt], tolerance: timedelta) -> list[ScoreRecord | None]:
        return [
            newest_at_or_before(self._of(exchange, symbol), lambda r: r.ts, at, tolerance)
            for exchange, symbol, at in wanted
        ]

    def past_scores(
        self,
        exchange: str,
        newest: Mapping[str, datetime],
        ago: Sequence[timedelta],
        tolerance: timedelta,
    ) -> dict[str, tuple[ScoreRecord | None, ...]]:
        return {
            symbol: tuple(
                newest_at_or_before(self._of(exchange, symbol), lambda r: r.ts, end - offset, tolerance)
                for offset in ago
            )
            for symbol, end in newest.items()
        }

    def score_history(self, exchange: str, symbol: str, start: datetime, end: datetime) -> list[ScoreRecord]:
        return sorted((r for r in self._of(exchange, symbol) if start <= r.ts <= end), key=lambda r: r.ts)

    def band_history(
        self,
        exchange: str,
        start: datetime,
        end: datetime,
        symbols: Collection[str] | None = None,
        *,
        every: timedelta,
        slot: timedelta,
    ) -> BandSeries:
        rows = (r for r in self._of(exchange) if symbols is None or r.symbol in symbols)
        return {
            symbol: [(r.ts, r.result.band, r.result.bias) for r in picked]
            for symbol, picked in first_per_slot(
                rows, lambda r: r.symbol, lambda r: r.ts, start, end, every, slot
            ).items()
        }

    def score_mark(self, exchange: str, window: timedelta) -> ScoreMark | None:
        times = [r.ts for r in self._of(exchange)]
        if not times:
            return None
        newest = max(times)
        return ScoreMark(newest=newest, recent=sum(1 for ts in times if newest - window <= ts))

    def purge_before(self, cutoff: datetime) -> int:
        """Retention: drop scores older than ``cutoff``."""
        old = [key for key, record in self.rows.items() if record.ts < cutoff]
        for key in old:
            del self.rows[key]
        return len(old)


@serialised
class FakeAlertStateStore:
    """``bot.ports.AlertStateStore`` in memory."""

    def __init__(self, scores: FakeScoreStore | None = None) -> None:
        self.states: dict[tuple[str, str], SymbolState] = {}
        # The scores ``load_alert_states`` rebuilds ``last`` from, as the SQL store reads its
        # table (``FakeStorage`` wires them; alone, the states are read as stored).
        self._scores = scores

    def checkpoint(self) -> object:
        """A copy of the state, for ``restore`` (the fake's transaction rollback)."""
        return dict(self.states)

    def restore(self, state: object) -> None:
        """Go back to a ``checkpoint``."""
        assert isinstance(state, dict)
        self.states = state

    def load_alert_states(self, exchange: str) -> dict[str, SymbolState]:
        states = {symbol: state for (ex, symbol), state in self.states.items() if ex == exchange}
        if self._scores is None:
            return states
        for symbol, state in states.items():
            newer = self._scores.accepted_after(exchange, symbol, state.last.ts)
            if newer is not None:
                states[symbol] = replace(state, last=reading_of_record(newer))
        return states

    def load_alert_state(self, exchange: str, symbol: str) -> SymbolState | None:
        return self.load_alert_states(exchange).get(symbol)

    def save_alert_states(self, exchange: str, states: Sequence[SymbolState]) -> None:
        self.upsert(exchange, states)

    @staticmethod
    def _stored(state: SymbolState) -> SymbolState:
        """The state as the SQL store keeps it: UTC times, at most one alert per kind."""
        kinds = [a.kind for a in state.alerts]
        if len(kinds) != len(set(kinds)):
            raise StorageError(f"cannot store alert states: {state.symbol} has two alerts of one kind")
        return replace(
            state,
            last=replace(state.last, ts=utc(state.last.ts)),
            alerts=tuple(replace(a, at=utc(a.at)) for a in state.alerts),
        )

    def upsert(self, exchange: str, states: Sequence[SymbolState]) -> int:
        """Insert or replace; returns how many distinct states were written (all or none)."""
        latest = {s.symbol: s for s in states}  # the last of duplicates wins, as in SQL
        written = {(exchange, symbol): self._stored(s) for symbol, s in latest.items()}
        self.states.update(written)
        return len(written)


def reading_of_record(record: ScoreRecord) -> Reading:
    """The reading the cycle built of a stored score (``bot.app.cycle.reading_of``)."""
    r, i = record.result, record.inputs
    return Reading(
        ts=record.ts,
        score=r.score,
        band=r.band,
        bias=r.bias,
        regime=r.regime,
        label=REGIME_LABELS[r.regime],  # as the SQL store: from the regime
        oi_1h_pct=i.oi_1h_pct,
        oi_4h_pct=i.oi_4h_pct,
        oi_24h_pct=i.oi_24h_pct,
        funding_8h_pct=r.components.funding_8h_pct,
        basis_pct=i.basis_pct,
    )
