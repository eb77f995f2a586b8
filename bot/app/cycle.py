"""One collection cycle: collect → score → diff → fan out → store, as one unit of work.

The snapshots, scores, new alert state and outbox messages of a cycle are written in one
transaction (``CycleStore.save_cycle``). A crash before that commit loses the cycle's
work but nothing else: the next run recomputes the same events from the same state, and
their deterministic ids give the same outbox keys. A crash after it leaves the messages
in the outbox for delivery.

The alert states stay in memory between cycles (``keep_states``): the database holds the
same, since a cycle remembers its new states only once ``save_cycle`` committed them. They
are read again whenever this process may not have been their only writer: at the first
cycle, after a failed store, and in a new tenure of the collector lease (another process
may have collected in between). The fence then also refuses a store begun in an older
tenure, so states computed from a stale memory are never written.

Of the new states only those that changed materially are written (``material_changes``:
band, alerts, or the UTC hour of the reading); the scores the diff accepted as a state's
``last`` are stored marked ``accepted``, and the state load rebuilds ``last`` from them, so
what is read back is still exactly the memory.

The OI and mark-price points the deltas score from are kept the same way
(``bot.app.market_memory``): read again on those same occasions and after a backfill
stored points, and extended with each cycle's own snapshots once ``save_cycle`` committed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from bot.app.busy_retry import retry_once_when_busy
from bot.app.fanout import AlertBatch, Audience, local_midnight, plan_fanout
from bot.app.market_memory import MarketMemory, history_spans, load_memory
from bot.app.off_loop import off_loop
from bot.app.snapshot_scoring import Measure, ScoredSymbol, history_measure, score_measured
from bot.core.diff import DiffParams, DiffResult, accepted_points, diff, material_changes
from bot.core.document import Document
from bot.core.events import AlertEvent, Reading, ScoredPoint, SymbolState
from bot.core.market import MarketSnapshot
from bot.core.params import ScoringParams
from bot.core.records import LeaseClaim, OutboxMessage, ScoreRecord
from bot.errors import StorageBusyError
from bot.gc_policy import collector_paused
from bot.ports import (
    AlertStateStore,
    ChatStore,
    CycleStore,
    MarketSeries,
    MarketSource,
    OiSeries,
    OutboxStore,
    SnapshotStore,
)

logger = logging.getLogger(__name__)

UNIVERSE_RELOAD = timedelta(hours=1)
BACKFILL_CONCURRENCY = 4
BACKFILL_SLICE = 20


@dataclass(slots=True)
class CycleReport:
    """What one cycle did; logged as one line and shown by ``/status``."""

    now: datetime
    fetched: int = 0
    scored: int = 0
    partial: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    events: int = 0
    messages: int = 0
    requests: int = 0
    weight_used: int | None = None
    duration_s: float = 0.0
    top: list[ScoredSymbol] = field(default_factory=list)
    alerts: tuple[AlertEvent, ...] = ()

    def log_line(self) -> str:
        failed = ",".join(f"{k}={v}" for k, v in sorted(self.failures.items())) or "none"
        return (
            f"cycle {self.now:%Y-%m-%d %H:%M} UTC: symbols={self.fetched} scored={self.scored} "
            f"partial={self.partial} failed={sum(self.failures.values())} ({failed}) events={self.events} "
            f"messages={self.messages} requests={self.requests} duration={self.duration_s:.2f}s"
        )


@dataclass(frozen=True, slots=True)
class CycleDeps:
    """The ports a cycle talks to."""

    exchange: str
    source: MarketSource
    snapshots: SnapshotStore
    alert_states: AlertStateStore
    chats: ChatStore
    outbox: OutboxStore
    cycles: CycleStore


@dataclass(frozen=True, slots=True)
class _Work:
    """What the synchronous middle of a cycle computed, for the store and the report."""

    scored: list[ScoredSymbol]
    outcome: DiffResult
    changed: list[SymbolState]
    messages: list[OutboxMessage]
    scores: list[ScoreRecord]


def reading_of(s: ScoredSymbol) -> Reading:
    """The values the diff engine and the alerts see of one scored symbol (also ``dps backtest``)."""
    r, i = s.result, s.inputs
    return Reading(
        ts=s.snapshot.ts,
        score=r.score,
        band=r.band,
        bias=r.bias,
        regime=r.regime,
        label=r.label,
        oi_1h_pct=i.oi_1h_pct,
        oi_4h_pct=i.oi_4h_pct,
        oi_24h_pct=i.oi_24h_pct,
        funding_8h_pct=r.components.funding_8h_pct,
        basis_pct=i.basis_pct,
    )


class AlertRenderer(Protocol):
    """One chat's alert batch as a message document; ``evidence``: evidence lines by event id."""

    def __call__(self, batch: AlertBatch, *, evidence: Mapping[str, str] | None = None) -> Document: ...


EvidenceLines = Callable[[Sequence[AlertEvent], datetime], Mapping[str, str]]
"""A cycle's events → the evidence line of each (``bot.app.track``), by event id."""


def diff_params_for(collect_interval_s: float) -> DiffParams:
    """The diff settings of a bot collecting every ``collect_interval_s`` seconds.

    A reading older than two cycles is stale. ``dps backtest`` calls this too, so a replay
    judges alerts exactly as the running bot does.
    """
    return DiffParams(stale_after=timedelta(seconds=2 * collect_interval_s))


class CollectionCycle:
    """Runs cycles against the given ports with fixed scoring, diff and fan-out settings."""

    def __init__(
        self,
        deps: CycleDeps,
        params: ScoringParams,
        diff_params: DiffParams,
        render: AlertRenderer,
        *,
        daily_cap: int = 50,
        evidence: EvidenceLines | None = None,
        fence: Callable[[datetime], LeaseClaim] | None = None,
        keep_states: bool = True,
        venues: Sequence[str] = (),
    ) -> None:
        self._d = deps
        self._venues = tuple(venues)  # ``plan_fanout``'s: with several, the chats' followed ones
        self._params = params
        self._diff = diff_params
        self._render = render
        self._cap = daily_cap
        self._evidence = evidence
        self._universe_at: datetime | None = None
        self._known: set[str] = set()  # symbols of the last universe loaded
        self._joined: list[str] = []  # symbols that joined at the last reload
        # Given when this process collects under a lease: cycles then store only while held.
        self._fence = fence
        self._keep_states = keep_states
        # The states as last committed, and the lease tenure they were committed in.
        self._states: dict[str, SymbolState] | None = None
        self._states_tenure: datetime | None = None
        # The stored points the deltas can need, likewise (``None``: read them next cycle).
        self._market: MarketMemory | None = None
        self._market_tenure: datetime | None = None

    def remembered_states(self) -> dict[str, SymbolState] | None:
        """The alert states kept from the last stored cycle (``None``: read them next cycle)."""
        return None if self._states is None else dict(self._states)

    def _previous_states(self, claim: LeaseClaim | None) -> dict[str, SymbolState]:
        tenure = None if claim is None else claim.since
        if self._states is not None and self._states_tenure == tenure:
            return self._states
        return self._d.alert_states.load_alert_states(self._d.exchange)

    async def reload_universe(self, now: datetime, *, force: bool = False) -> list[str] | None:
        """Reload the market list when it is an hour old (new listings join, delisted ones leave)."""
        if not force and self._universe_at is not None and now - self._universe_at < UNIVERSE_RELOAD:
            return None
        symbols = await self._d.source.load_universe()
        self._universe_at = now
        self._joined = [s for s in symbols if s not in self._known]
        self._known = set(symbols)
        return symbols

    async def backfill(self, now: datetime) -> int:
        """Fetch 24h of OI history for symbols whose stored history does not reach back a day.

        Returns:
            Symbols backfilled. Failures are logged and leave those symbols partial.
        """
        universe = await self.reload_universe(now, force=True) or []
        return await self._backfill(universe, now)

    async def _backfill(self, symbols: list[str], now: datetime) -> int:
        """Backfill those of ``symbols`` whose stored history does not reach back a day."""
        day_ago = now - timedelta(hours=24)
        known = await off_loop(
            self._d.snapshots.oi_at_many, self._d.exchange, day_ago, timedelta(minutes=45), symbols
        )
        missing = [s for s in symbols if s not in known]
        gate = asyncio.Semaphore(BACKFILL_CONCURRENCY)

        async def one(symbol: str) -> list[MarketSnapshot]:
            async with gate:
                try:
                    points = await self._d.source.fetch_oi_history(
                        symbol, day_ago - timedelta(minutes=30), now
                    )
                except Exception as exc:  # one symbol's failure must not stop the others
                    logger.warning("backfill of %s failed: %s", symbol, exc)
                    return []
            return [
                MarketSnapshot(
                    self._d.exchange,
                    symbol,
                    p.ts,
                    p.oi_contracts,
                    p.oi_usd,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                )
                for p in points
            ]

        added = done = 0
        # In slices, storing each before fetching the next: a day of 5-minute points for
        # hundreds of symbols would otherwise all sit in memory at once.
        for start in range(0, len(missing), BACKFILL_SLICE):
            batches = await asyncio.gather(*(one(s) for s in missing[start : start + BACKFILL_SLICE]))
            # Points the memory has not got: read them with the rest at the next cycle. Set
            # after the awaits, so a cycle cannot have read the memory before this slice lands.
            self._market = None
            points = [snap for batch in batches for snap in batch]
            what = f"{self._d.exchange}: storing a backfill slice"
            try:
                added += await off_loop(
                    retry_once_when_busy, what, functools.partial(self._d.snapshots.add_snapshots, points)
                )
            except StorageBusyError as exc:  # locked again after its retry: the rest goes on
                logger.warning(
                    "%s: backfill of %d symbols not stored (%s); they score partial until they have a day",
                    self._d.exchange,
                    sum(1 for batch in batches if batch),
                    exc,
                )
                continue
            done += sum(1 for batch in batches if batch)
        if missing:
            logger.info(
                "backfilled %d of %d symbols without a day of history (%d points)", done, len(missing), added
            )
        return done

    async def run(self, now: datetime) -> CycleReport:
        """One full cycle at ``now`` (aware UTC)."""
        started = time.perf_counter()
        report = CycleReport(now=now)
        # One claim for the whole cycle: it names the tenure the remembered states belong to.
        claim = None if self._fence is None else self._fence(now)
        if await self.reload_universe(now) is not None and self._joined:
            # New listings get their day of history too, or they score partial for a day.
            await self._backfill(self._joined, now)
        fetch = await self._d.source.fetch_cycle(now)
        report.fetched = len(fetch.snapshots)
        report.requests = fetch.requests
        report.weight_used = fetch.weight_used
        report.failures.update(f.reason for f in fetch.failures)

        # The synchronous middle of the cycle (history, scores, diff, messages, records,
        # the store) runs in one worker thread call (``off_loop``), so commands are answered
        # meanwhile; one call rather than one per step, since each hop back to the loop costs
        # a wake-up. Still one step at a time: nothing else touches this cycle's memory.
        with collector_paused():
            outcome, market = await off_loop(self._compute_and_store, report, now, claim, fetch.snapshots)
        if self._keep_states:
            self._states, self._states_tenure = outcome.states, None if claim is None else claim.since
            if market is not None:
                self._market, self._market_tenure = market, self._states_tenure
        report.events = len(outcome.events)
        report.alerts = outcome.events
        report.duration_s = time.perf_counter() - started
        return report

    def _compute_and_store(
        self, report: CycleReport, now: datetime, claim: LeaseClaim | None, latest: Sequence[MarketSnapshot]
    ) -> tuple[DiffResult, MarketMemory | None]:
        """Compute and store the cycle; returns the diff's outcome and the market memory
        extended with the cycle (``None``: read it again next cycle).

        The cycle's records (scores, readings, rows: most of the objects it made) live only
        in this frame, so they are freed when it returns, before the garbage collector
        resumes: its first pass walks every young object still alive, and passed back to
        the loop these were still referenced by the executor's work item until its thread
        dropped it (measured: a 19 ms pass became 4 ms).
        """
        work = self._compute(now, claim, latest)
        scored = work.scored
        report.scored = len(scored)
        report.partial = sum(s.result.partial for s in scored)
        report.top = scored[:5]
        report.messages = len(work.messages)
        # Forget first: if the store fails, the database (not this memory) holds the truth.
        self._states = None
        market, self._market = self._market, None
        extended = self._store(work, claim, now, latest, market)
        return work.outcome, market if extended else None

    def _compute(self, now: datetime, claim: LeaseClaim | None, latest: Sequence[MarketSnapshot]) -> _Work:
        """Everything between the fetch and the store, in the order the steps depend on."""
        scored = score_measured(latest, self._history(now, claim, latest), now, self._params)
        outcome, changed, accepted = self._diff_states(self._previous_states(claim), scored, now)
        messages = self._messages(outcome.events, now)
        return _Work(scored, outcome, changed, messages, self._score_records(scored, accepted))

    def _store(
        self,
        work: _Work,
        claim: LeaseClaim | None,
        now: datetime,
        stored: Sequence[MarketSnapshot],
        market: MarketMemory | None,
    ) -> bool:
        """Store the cycle in one transaction, then extend ``market`` with its snapshots.

        Returns:
            True when ``market`` holds this cycle's points and can be kept.
        """
        # A store refused for a locked database is tried once more (it was rolled back
        # whole); refused again, the cycle fails and the runner logs it STALE.
        retry_once_when_busy(
            f"{self._d.exchange}: storing the cycle",
            functools.partial(
                self._d.cycles.save_cycle,
                exchange=self._d.exchange,
                snapshots=stored,
                scores=work.scores,
                alert_states=work.changed,
                outbox=work.messages,
                lease=claim,
            ),
        )
        return self._keep_states and market is not None and self._extend(market, now, stored)

    def _diff_states(
        self, previous: Mapping[str, SymbolState], scored: Sequence[ScoredSymbol], now: datetime
    ) -> tuple[DiffResult, list[SymbolState], list[bool]]:
        """The diff of this cycle's scores against ``previous``, the states to store
        (``material_changes``), and which of ``scored`` became their state's ``last``."""
        points = [ScoredPoint(s.snapshot.symbol, reading_of(s), s.result.partial) for s in scored]
        outcome = diff(self._d.exchange, previous, points, now, self._diff)
        states = outcome.states
        return outcome, material_changes(previous, states), accepted_points(points, states)

    def _score_records(self, scored: Sequence[ScoredSymbol], accepted: Sequence[bool]) -> list[ScoreRecord]:
        exchange = self._d.exchange
        return [
            ScoreRecord(exchange, s.snapshot.symbol, s.snapshot.ts, s.inputs, s.result, took)
            for s, took in zip(scored, accepted, strict=True)
        ]

    def _extend(self, market: MarketMemory, now: datetime, stored: Sequence[MarketSnapshot]) -> bool:
        """Add a stored cycle's snapshots to ``market``; False: it must be read again."""
        if not market.add_snapshots(self._d.exchange, stored):
            return False
        market.trim_hourly(now)
        return True

    def _history(self, now: datetime, claim: LeaseClaim | None, latest: Sequence[MarketSnapshot]) -> Measure:
        """How this cycle's deltas are measured: from memory, or the database's windows."""
        if not self._keep_states:
            history = self._history_windows(now, [s.symbol for s in latest])
            return history_measure(lambda sym: history.oi.get(sym, []), lambda sym: history.mark.get(sym, []))
        tenure = None if claim is None else claim.since
        if self._market is None or self._market_tenure != tenure:
            self._market = load_memory(self._d.snapshots.market_history, self._d.exchange, now)
            self._market_tenure = tenure
        at: dict[str, list[datetime]] = {}
        for snap in latest:
            at.setdefault(snap.symbol, []).append(snap.ts)
        return functools.partial(self._market.changes, now, at)

    def _history_windows(self, now: datetime, symbols: list[str]) -> MarketSeries:
        """The stored OI and mark-price points the deltas can use: near now and near each
        horizon's past time.

        Reading only these windows instead of the whole day keeps the cycle's read small;
        both series come from the same rows, in one query per window.
        """
        oi: OiSeries = {}
        mark: OiSeries = {}
        # Read disjoint windows oldest first: each symbol's points then arrive in time order,
        # each once, and need neither de-duplication nor sorting.
        for start, end in history_spans(now):
            window = self._d.snapshots.market_history(self._d.exchange, start, end, symbols)
            for merged, found in ((oi, window.oi), (mark, window.mark)):
                for symbol, points in found.items():
                    merged.setdefault(symbol, []).extend(points)
        return MarketSeries(oi=oi, mark=mark)

    def _evidence_lines(self, events: tuple[AlertEvent, ...], now: datetime) -> Mapping[str, str]:
        if self._evidence is None:
            return {}
        try:
            return self._evidence(events, now)
        except Exception:  # evidence is a nicety: the alerts go out without it
            logger.exception("evidence lines for %d alerts failed", len(events))
            return {}

    def _messages(self, events: tuple[AlertEvent, ...], now: datetime) -> list[OutboxMessage]:
        if not events:
            return []
        watch = self._d.chats.watched_symbols(self._d.exchange)
        chats = self._d.chats.alert_chats()
        # Each chat's alerts since its own midnight, read for every chat at once.
        today = self._d.outbox.events_for_chats(
            {p.chat.ref: local_midnight(now, p.chat.timezone) for p in chats}
        )
        audiences = [
            Audience(
                chat=p.chat,
                settings=p.settings,
                watchlist=watch.get(p.chat.ref, frozenset()),
                alerts_today=today.get(p.chat.ref, 0),
            )
            for p in chats
        ]
        batches = plan_fanout(events, audiences, now, self._cap, venues=self._venues)
        notes = self._evidence_lines(events, now) if batches else {}
        return [
            OutboxMessage(
                idempotency_key=b.idempotency_key,
                chat_ref=b.chat.ref,
                payload=self._render(b, evidence=notes),
                created_at=now,
                event_count=b.counted,
            )
            for b in batches
        ]
