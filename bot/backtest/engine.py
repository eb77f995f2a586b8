"""The replay: every cycle of a recorded market through the bot's real pipeline.

For each distinct time in the file (one cycle, on a replay clock, no waiting) every symbol
with a row at that time is scored exactly as the collection cycle scores it
(``bot.app.snapshot_scoring.score_snapshots``, the cycle's own call, over each symbol's
whole OI and mark-price history, of which the changes only read points at or before the
snapshot), turned into a ``Reading`` by
``bot.app.cycle.reading_of``, and fed to the diff engine (``bot.core.diff.diff``) with the
state the previous cycle left. The events go through the fan-out (``plan_fanout``) to one
audience: a chat with default ``ChatSettings`` and the default daily cap, so "delivered"
is what a trader with default settings would have received. No storage, no chat, nothing
sent.

Memory: the market stays in the file's columns; per symbol the engine keeps the
``(time, OI)`` and ``(time, mark price)`` lists the OI and price changes need, and per
reading a few bytes (``ReadingLog``).

Speed: a recorded market's symbols mostly share their times, so their histories are
``SharedTimes`` on one object per distinct time sequence, and ``score_snapshots`` finds the
points each change is measured from once per cycle and time sequence rather than per
symbol (two bisections of a week of points per series and horizon, otherwise).
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

from bot.app.cycle import diff_params_for, reading_of
from bot.app.fanout import DEFAULT_DAILY_CAP, Audience, local_midnight, plan_fanout
from bot.app.snapshot_scoring import SharedTimes, score_snapshots, shared_times
from bot.backtest.market_file import MarketFile, Series
from bot.backtest.utc_text import UTC_FORMAT
from bot.core.diff import DiffParams, diff
from bot.core.events import AlertEvent, EventKind, ScoredPoint, SymbolState
from bot.core.market import MARKET_NUMBER_COLUMNS, MarketSnapshot
from bot.core.models import Band, Bias, Regime
from bot.core.params import DEFAULT_PARAMS, ScoringParams
from bot.core.records import Chat, ChatKey, ChatKind, ChatSettings, Platform

BANDS = tuple(Band)
BIASES = tuple(Bias)
REGIMES = tuple(Regime)
_BAND_INDEX = {b: i for i, b in enumerate(BANDS)}
_BIAS_INDEX = {b: i for i, b in enumerate(BIASES)}
_REGIME_INDEX = {r: i for i, r in enumerate(REGIMES)}
DEFAULT_CYCLE_S = 300.0
"""The running bot's default collection interval (``COLLECT_INTERVAL``)."""

Progress = Callable[[int, int], None]
"""Called with (cycles done, cycles in all) as the replay goes."""


def default_diff_params(collect_interval_s: float = DEFAULT_CYCLE_S) -> DiffParams:
    """The diff settings the running bot uses (the same function ``bot.bootstrap`` calls)."""
    return diff_params_for(collect_interval_s)


def default_audience(created: datetime) -> Audience:
    """One enabled chat with the settings a new chat gets, in UTC, nothing sent today."""
    chat = Chat(
        ref=1,
        key=ChatKey(Platform.CONSOLE, "backtest"),
        kind=ChatKind.PRIVATE,
        timezone="UTC",
        enabled=True,
        created_at=created,
    )
    return Audience(chat=chat, settings=ChatSettings(), watchlist=frozenset(), alerts_today=0)


@dataclass(frozen=True, slots=True)
class BacktestOptions:
    """What to replay and with which settings.

    Attributes:
        since / until: score only cycles in ``[since, until]`` (history before ``since``
            still feeds the OI deltas); ``None`` = the file's own ends.
        params: the scoring configuration.
        diff_params: the diff settings (default: as the running bot builds them).
        daily_cap: the fan-out's events per chat per day.
    """

    since: datetime | None = None
    until: datetime | None = None
    params: ScoringParams = DEFAULT_PARAMS
    diff_params: DiffParams = field(default_factory=default_diff_params)
    daily_cap: int = DEFAULT_DAILY_CAP


@dataclass(slots=True)
class ReadingLog:
    """One series' readings, in time order, a few bytes each.

    Attributes:
        rows: the row of the series each reading scored.
        score / band / bias / regime: the result (indices into ``BANDS``, ``BIASES``,
            ``REGIMES``).
        partial: 1 when an input was missing.
        funding_8h_pct / oi_24h_pct: the two inputs the naive baselines rank by (NaN when
            missing).
    """

    rows: array[int] = field(default_factory=lambda: array("l"))
    score: array[int] = field(default_factory=lambda: array("b"))
    band: array[int] = field(default_factory=lambda: array("b"))
    bias: array[int] = field(default_factory=lambda: array("b"))
    regime: array[int] = field(default_factory=lambda: array("b"))
    partial: array[int] = field(default_factory=lambda: array("b"))
    funding_8h_pct: array[float] = field(default_factory=lambda: array("d"))
    oi_24h_pct: array[float] = field(default_factory=lambda: array("d"))

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One diff event, and whether the default chat would have received it."""

    ts: datetime
    exchange: str
    symbol: str
    series: int
    row: int
    kind: EventKind
    from_band: Band
    to_band: Band
    score: int
    bias: Bias
    regime: Regime
    delivered: bool


@dataclass(slots=True)
class BacktestRun:
    """Everything the replay produced; ``bot.backtest.summary`` turns it into the report.

    Attributes:
        market: the file, as read.
        readings: one log per series of ``market.series``, same order.
        alerts: every diff event in cycle order, with its delivery to the default chat.
        cycles: distinct times in the file; cycles_scored: those inside since/until.
        suppressed: events the daily cap held back from the default chat.
    """

    market: MarketFile
    options: BacktestOptions
    readings: list[ReadingLog]
    alerts: list[AlertRecord]
    cycles: int
    cycles_scored: int
    suppressed: int


class _Clock:
    """Epoch seconds → one shared aware datetime per distinct time."""

    def __init__(self) -> None:
        self._cache: dict[float, datetime] = {}

    def __call__(self, ts: float) -> datetime:
        moment = self._cache.get(ts)
        if moment is None:
            moment = self._cache[ts] = datetime.fromtimestamp(ts, UTC)
        return moment


def _history(series: Series, column: str, clock: _Clock, shared: dict[bytes, object]) -> SharedTimes:
    """The series' (time, value) points of one column, missing values left out.

    Its ``times`` is the one object ``shared`` holds for that exact time sequence (keyed by
    the times' bytes), so series with equal times share their change picks.
    """
    values = series.column(column)
    points = [(clock(t), v) for t, v in zip(series.ts, values, strict=True) if v == v]
    key = array("d", [t for t, v in zip(series.ts, values, strict=True) if v == v]).tobytes()
    return shared_times(points, shared.setdefault(key, object()))


class _Snapshots:
    """Builds a series' ``MarketSnapshot`` for a row from its columns."""

    def __init__(self, series: Series, clock: _Clock) -> None:
        self.exchange, self.symbol = series.exchange, series.symbol
        self.ts = series.ts
        self.columns = tuple(series.column(name) for name in MARKET_NUMBER_COLUMNS)
        self.next_funding = series.next_funding
        self.clock = clock

    def at(self, row: int) -> MarketSnapshot:
        # Unrolled (NaN → None inline): this runs once per row of the file.
        c = self.columns
        oi, oi_usd, mark, index = c[0][row], c[1][row], c[2][row], c[3][row]
        last, rate, interval, volume = c[4][row], c[5][row], c[6][row], c[7][row]
        nft = self.next_funding[row]
        return MarketSnapshot(
            self.exchange, self.symbol, self.clock(self.ts[row]),
            oi if oi == oi else None, oi_usd if oi_usd == oi_usd else None,
            mark if mark == mark else None, index if index == index else None,
            last if last == last else None, rate if rate == rate else None,
            interval if interval == interval else None,
            None if nft != nft else self.clock(nft), volume if volume == volume else None,
        )  # fmt: skip


def _readings_line(ts: datetime, symbol: str, reading_score: int, result_band: Band, bias: Bias,
                   regime: Regime, mark: float) -> str:  # fmt: skip
    price = "" if mark != mark else repr(mark)
    return (
        f"{ts.strftime(UTC_FORMAT)},{symbol},{reading_score},{result_band.value},"
        f"{bias.value},{regime.value},{price}\n"
    )


READINGS_HEADER = "ts,symbol,score,band,bias,regime,mark_price\n"


def run_backtest(
    market: MarketFile,
    options: BacktestOptions | None = None,
    *,
    readings_out: TextIO | None = None,
    progress: Progress | None = None,
) -> BacktestRun:
    """Replay ``market`` through scoring, diff and fan-out, cycle by cycle.

    Args:
        market: the parsed market file.
        options: window and settings (defaults: the whole file, the bot's defaults).
        readings_out: when given, every scored reading is written there as CSV
            (``READINGS_HEADER``), in cycle order.
        progress: called after each cycle with (done, total).
    """
    opts = options or BacktestOptions()
    since = -math.inf if opts.since is None else opts.since.timestamp()
    until = math.inf if opts.until is None else opts.until.timestamp()
    clock = _Clock()
    logs = [ReadingLog() for _ in market.series]
    alerts: list[AlertRecord] = []
    if readings_out is not None:
        readings_out.write(READINGS_HEADER)
    by_exchange: dict[str, list[int]] = {}
    for k, s in enumerate(market.series):
        by_exchange.setdefault(s.exchange, []).append(k)
    all_times = sorted({t for s in market.series for t in s.ts})
    scored_times = [t for t in all_times if since <= t <= until]
    total = len(scored_times)
    done = suppressed = 0
    audience = default_audience(clock(all_times[0]))
    day: datetime | None = None
    sent_today = 0
    shared: dict[bytes, object] = {}
    histories = [_history(s, "oi_contracts", clock, shared) for s in market.series]
    prices = [_history(s, "mark_price", clock, shared) for s in market.series]
    del shared
    snapshots = [_Snapshots(s, clock) for s in market.series]
    marks = [s.column("mark_price") for s in market.series]
    cursors = [bisect.bisect_left(s.ts, since) for s in market.series]
    states: dict[str, dict[str, SymbolState]] = {e: {} for e in by_exchange}
    params, diff_params = opts.params, opts.diff_params
    for now_s in scored_times:
        now = clock(now_s)
        events: list[tuple[AlertEvent, tuple[int, int]]] = []
        for exchange, members in by_exchange.items():
            points: list[ScoredPoint] = []
            where: dict[str, tuple[int, int]] = {}
            due: dict[str, int] = {}  # symbol -> series, in the file's order
            batch: list[MarketSnapshot] = []
            for k in members:
                row = cursors[k]
                ts = market.series[k].ts
                if row >= len(ts) or ts[row] != now_s:
                    continue
                cursors[k] = row + 1
                batch.append(snapshots[k].at(row))
                due[snapshots[k].symbol] = k
            # The cycle's call (stale rule, shared times, picks); its order is by score, so
            # the results are taken back in the file's order below.
            by_symbol = {
                s.snapshot.symbol: s
                for s in score_snapshots(
                    batch,
                    {name: histories[k] for name, k in due.items()}.__getitem__,
                    now,
                    params,
                    price_history={name: prices[k] for name, k in due.items()}.__getitem__,
                )
            }
            for symbol, k in due.items():
                scored = by_symbol.get(symbol)
                if scored is None:
                    continue
                row = cursors[k] - 1
                reading = reading_of(scored)
                result = scored.result
                log = logs[k]
                log.rows.append(row)
                log.score.append(result.score)
                log.band.append(_BAND_INDEX[result.band])
                log.bias.append(_BIAS_INDEX[result.bias])
                log.regime.append(_REGIME_INDEX[result.regime])
                log.partial.append(result.partial)
                f8 = reading.funding_8h_pct
                o24 = reading.oi_24h_pct
                log.funding_8h_pct.append(math.nan if f8 is None else f8)
                log.oi_24h_pct.append(math.nan if o24 is None else o24)
                points.append(ScoredPoint(symbol, reading, result.partial))
                where[symbol] = (k, row)
                if readings_out is not None:
                    readings_out.write(
                        _readings_line(
                            now, symbol, result.score, result.band, result.bias, result.regime, marks[k][row]
                        )
                    )
            outcome = diff(exchange, states[exchange], points, now, diff_params)
            states[exchange] = outcome.states
            events.extend((e, where[e.symbol]) for e in outcome.events)
        if events:
            midnight = local_midnight(now, audience.chat.timezone)
            if midnight != day:
                day, sent_today = midnight, 0
            audience = Audience(audience.chat, audience.settings, audience.watchlist, sent_today)
            batches = plan_fanout([e for e, _ in events], [audience], now, opts.daily_cap)
            shown = {e.event_id for b in batches for e in b.events}
            sent_today += sum(b.counted for b in batches)
            suppressed += sum(b.suppressed for b in batches)
            for e, (k, row) in events:
                a = e.after
                alerts.append(
                    AlertRecord(
                        ts=a.ts,
                        exchange=e.exchange,
                        symbol=e.symbol,
                        series=k,
                        row=row,
                        kind=e.kind,
                        from_band=e.old_band,
                        to_band=e.new_band,
                        score=a.score,
                        bias=a.bias,
                        regime=a.regime,
                        delivered=e.event_id in shown,
                    )
                )
        done += 1
        if progress is not None:
            progress(done, total)
    return BacktestRun(
        market=market,
        options=opts,
        readings=logs,
        alerts=alerts,
        cycles=len(all_times),
        cycles_scored=total,
        suppressed=suppressed,
    )
