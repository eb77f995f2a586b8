"""The live market source: one ccxt async exchange, bulk endpoints first, faults contained.

A cycle starts every bulk call of the exchange's profile and, where OI has no bulk form
(Binance), one OI call per symbol under a semaphore, all at once: as many in flight as
the semaphore and the venue budget allow, so the round trips overlap. Each call goes
through ``_call``: the circuit breaker and any exchange pause are checked, the request
runs inside ``translate_ccxt_errors``, transient failures are
retried with jittered backoff (429/418 pause the whole exchange for ``Retry-After``), and
the used-weight header is fed to the gate. A symbol whose call fails is reported in the
cycle's failures; only a failed *required* bulk call fails the cycle.

Rate limits by design: one ccxt instance per source; each request is paced against a
share of the venue's published limits (``venue_limiter``, see ``client``) rather than by
ccxt's fixed spacing, so the per-symbol calls go as fast as the round trip allows while
the budget has room; ccxt's ``maxRetriesOnFailure`` at 0 (it would retry 429s without
waiting); our ``ExchangeGate`` runs right before each request.

A coherent snapshot needs the OI readings close together: each cycle logs the spread
between its first and last OI answer (``last_oi_spread_s``).

Threading: the ccxt client and everything around it (semaphore, limiter, gate, breaker)
live on an event loop of their own in a dedicated thread (``loop_thread``), so parsing
the answers never holds the bot's loop. The public coroutines hand their work over to
that loop and await its outcome; ``close`` ends the thread.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.collector import assembly, normalize, oi_footing, universe
from bot.collector.circuit import CircuitBreaker
from bot.collector.client import SourceTuning, new_exchange
from bot.collector.errors import ExchangeDataError, ExchangeUnavailableError, header, translate_ccxt_errors
from bot.collector.loop_thread import LoopThread
from bot.collector.profiles import BulkCall, ExchangeProfile, SymbolOi, profile_for
from bot.collector.request_budget import Budget, ExchangeGate, WindowLimiter, backoff_delay, weight_budget
from bot.core import collection as reasons
from bot.core.aggregate_listing import listing_from_market
from bot.core.collection import FetchReport, OiPoint
from bot.core.instruments import Listing, VenueOnly
from bot.core.records import require_aware
from bot.errors import SourceError

logger = logging.getLogger(__name__)

CURRENT_OI_REUSE_S = 60.0
"""A backfill compares every symbol's history with one bulk answer up to this old: the
history's newest point is up to 5 minutes old itself, so a minute more changes little."""

_UNITS = {"m": 60, "h": 3600, "d": 86400}

__all__ = ["CcxtSource", "SourceTuning"]


@dataclass
class _Stats:
    requests: int = 0
    weight_peak: int | None = None
    oi_read_at: list[float] = field(default_factory=list)

    def oi_spread_s(self) -> float | None:
        """Seconds between the cycle's first and last OI answer (0 for one bulk answer)."""
        return max(self.oi_read_at) - min(self.oi_read_at) if self.oi_read_at else None


def _timeframe(text: str) -> timedelta:
    """ccxt timeframe (``5m``, ``1h``, ``1d``) → its length."""
    return timedelta(seconds=int(text[:-1]) * _UNITS[text[-1]])


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class CcxtSource:
    """Market data from one exchange through ccxt (async), normalised to ``MarketSnapshot``.

    Args:
        exchange: ``EXCHANGE`` id: ``binanceusdm``, ``bybit`` or ``okx``.
        api_url: ``EXCHANGE_API_URL``: replaces scheme and host of every REST endpoint.
        symbols: ``SYMBOLS``: an explicit universe (ids or aliases).
        top_n: ``UNIVERSE_TOP_N``: the N perps with the most 24h quote volume.
        cycle_interval_s: ``COLLECT_INTERVAL``; data older than two intervals is stale.
        tuning: timeouts, retries, breaker, concurrency.
        profile: override the exchange profile (tests, new exchanges).
        jitter: random numbers in [0, 1) for backoff.
        clock: monotonic seconds for the circuit breaker and the exchange pauses (tests
            step it past a cool-off or a ban).
    """

    def __init__(
        self,
        exchange: str,
        *,
        api_url: str | None = None,
        symbols: Sequence[str] = (),
        top_n: int | None = None,
        cycle_interval_s: float = 300.0,
        tuning: SourceTuning | None = None,
        profile: ExchangeProfile | None = None,
        jitter: Callable[[], float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.profile = profile or profile_for(exchange)
        self.exchange = self.profile.exchange_id
        self.label = f"{self.exchange} (live)"
        self.tuning = tuning or SourceTuning()
        self._symbols, self._top_n = tuple(symbols), top_n
        self._max_age = timedelta(seconds=2 * cycle_interval_s)
        self._jitter = jitter or random.SystemRandom().random
        self._clock = clock
        self._gate = ExchangeGate(self.tuning.weight, max_wait_s=self.tuning.max_pause_wait_s, clock=clock)
        self._banned_until = float("-inf")
        self._ex: Any = new_exchange(self.profile, self.tuning, self._gate, api_url)
        self._breaker = CircuitBreaker(
            self.exchange,
            threshold=self.tuning.breaker_threshold,
            cool_off_s=self.tuning.breaker_cool_off_s,
            clock=clock,
        )
        self._sem = asyncio.Semaphore(self.tuning.concurrency or self.profile.concurrency)
        hist = self.profile.oi_history
        self._history_limiter = (
            WindowLimiter(hist.max_requests, hist.window_s + hist.margin_s)
            if hist.max_requests is not None
            else None
        )
        self._markets: dict[str, Mapping[str, Any]] = {}
        self._universe: list[str] | None = None
        self._cache: dict[str, tuple[float, Mapping[str, Any]]] = {}
        self._current_oi_answer: tuple[float, Mapping[str, Any]] | None = None
        self._current_oi_lock = asyncio.Lock()
        self._unfooted: set[str] = set()  # symbols whose history disagreed with their OI, logged
        self.last_oi_spread_s: float | None = None
        """Seconds between the first and last OI answer of the last cycle (None: no OI read)."""
        self._thread = LoopThread(f"ccxt-{self.exchange}")

    # -- the public API: each call runs on the client's own loop ------------------------

    async def load_universe(self) -> list[str]:
        """Reload markets and pick the symbols to collect (exchange ids); call hourly."""
        return await self._thread.run(self._load_universe)

    async def fetch_cycle(self, now: datetime) -> FetchReport:
        """One snapshot per symbol of the universe; failed symbols are reported, not raised.

        Raises:
            ExchangeUnavailableError: the circuit is open, the exchange asked us to stay
                away, or a required bulk call failed after its retries.
            ExchangeDataError: a required bulk call answered junk.
        """
        require_aware("now", now)
        return await self._thread.run(lambda: self._fetch_cycle(now))

    async def fetch_oi_history(self, symbol: str, since: datetime, until: datetime) -> list[OiPoint]:
        """5-minute OI points of one symbol with ``since <= ts <= until`` (aware UTC), oldest first.

        Pages through the exchange's OI-history endpoint (Binance ``openInterestHist``,
        under its own request limiter); points beyond the endpoint's lookback are not
        asked for. Where the history may count both sides (Bybit), the points come on the
        footing of the cycle's OI, or not at all if the two disagree (``oi_footing``).
        """
        require_aware("since", since)
        require_aware("until", until)
        return await self._thread.run(lambda: self._fetch_oi_history(symbol, since, until))

    async def listings(self) -> list[Listing | VenueOnly]:
        """Every collectable market read for the instrument map (``bot.core.aggregate_listing``).

        The markets of the last universe load; a source that does not collect (its process
        holds only the aggregate's lease) loads them again at each call.
        """
        return await self._thread.run(self._listings)

    async def close(self) -> None:
        """Close the exchange's HTTP session and end the client's thread (always call it)."""
        await self._thread.close(self._ex.close)

    # -- the work, on the client's loop ---------------------------------------------------

    async def _load_universe(self) -> list[str]:
        stats = _Stats()
        await self._load_markets(stats, reload=self._universe is not None)
        volumes = await self._volumes(stats) if self._top_n and not self._symbols else None
        chosen = universe.select(
            self._markets.values(),
            settle=self.profile.settle,
            symbols=self._symbols,
            top_n=self._top_n,
            volumes=volumes,
        )
        universe.log_changes(self.exchange, self._universe, chosen)
        self._universe = chosen
        return list(chosen)

    async def _listings(self) -> list[Listing | VenueOnly]:
        if self._universe is None:
            # Not collected here: nothing else reloads its markets (hourly, by the caller).
            await self._load_markets(_Stats(), reload=bool(self._markets))
        return [listing_from_market(self.exchange, m, self.profile.settle) for m in self._markets.values()]

    async def _fetch_cycle(self, now: datetime) -> FetchReport:
        started = time.perf_counter()
        self._refuse_if_down("cycle")
        if self._universe is None:
            await self._load_universe()
        symbols = list(self._universe or ())
        stats = _Stats()
        bulk = {call.role: asyncio.create_task(self._bulk(call, stats)) for call in self.profile.bulk}
        per_symbol = {}
        if (oi := self.profile.per_symbol_oi) is not None:
            per_symbol = {s: asyncio.create_task(self._symbol_oi(s, oi, stats)) for s in symbols}
        tasks = [*bulk.values(), *per_symbol.values()]
        answers: dict[str, Mapping[str, Any] | None] = {}
        try:
            for call in self.profile.bulk:
                if call.required:  # nothing can be built without it: fail fast
                    answers[call.role] = await bulk[call.role]
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        await asyncio.gather(*tasks, return_exceptions=True)
        oi_results: dict[str, normalize.Part | BaseException] = {}
        for symbol, task in per_symbol.items():
            error = task.exception()
            if error is not None and not isinstance(error, SourceError):
                raise error  # a bug of ours, not an exchange fault: do not file it as one
            oi_results[symbol] = error if error is not None else task.result()
        for call in self.profile.bulk:
            if not call.required:
                answers[call.role] = bulk[call.role].result()
        report = assembly.build_report(
            self.profile,
            symbols,
            self._markets,
            answers,
            oi_results,
            now=now,
            max_age=self._max_age,
            requests=stats.requests,
            weight_used=stats.weight_peak,
            duration_s=time.perf_counter() - started,
        )
        self.last_oi_spread_s = stats.oi_spread_s()
        self._log_cycle(report, self.last_oi_spread_s)
        return report

    async def _fetch_oi_history(self, symbol: str, since: datetime, until: datetime) -> list[OiPoint]:
        stats = _Stats()
        if not self._markets:
            await self._load_markets(stats, reload=False)
        market = self._markets.get(symbol)
        if market is None:
            raise ExchangeDataError(
                f"{self.exchange}: unknown symbol {symbol}", kind=reasons.REASON_BAD_SYMBOL
            )
        hist = self.profile.oi_history
        step = _timeframe(hist.timeframe)
        if hist.lookback_s is not None:
            since = max(since, datetime.now(UTC) - timedelta(seconds=hist.lookback_s) + step)
        points: dict[datetime, OiPoint] = {}
        start = since
        while start <= until:
            end = min(until, start + step * (hist.page_limit - 1))
            if self._history_limiter is not None:
                await self._history_limiter.acquire()
            async with self._sem:
                rows = await self._call(
                    stats,
                    f"oi history {symbol}",
                    hist.method,
                    market["symbol"],
                    hist.timeframe,
                    _ms(start),
                    hist.page_limit,
                    {"until": _ms(end)},
                )
            found, issues = normalize.oi_history_points(
                rows, contract_size=market.get("contractSize"), in_contracts=self.profile.oi_in_contracts
            )
            if issues:
                logger.warning(
                    "%s oi history %s: %d rows rejected (%s)", self.exchange, symbol, len(issues), issues[0]
                )
            points.update((p.ts, p) for p in found if since <= p.ts <= until)
            start = end + timedelta(milliseconds=1)  # contiguous windows: no grid point falls between
        found = [points[ts] for ts in sorted(points)]
        if self.profile.history_oi_may_count_both_sides and found:
            return await self._on_current_footing(symbol, market, found, stats)
        return found

    async def _on_current_footing(
        self, symbol: str, market: Mapping[str, Any], points: list[OiPoint], stats: _Stats
    ) -> list[OiPoint]:
        """``points`` on the footing of the cycle's OI (see ``oi_footing``); none if they disagree."""
        current = await self._current_oi(market, stats)
        newest = points[-1].oi_contracts
        scale = oi_footing.history_scale(current, newest)
        if scale is None:
            if symbol not in self._unfooted:
                self._unfooted.add(symbol)
                logger.warning(
                    "%s oi history %s: current OI %s is neither the newest history point %s "
                    "nor half of it (within %.0f%%); not backfilled, it scores partial until "
                    "it has a day of its own",
                    self.exchange,
                    symbol,
                    current,
                    newest,
                    100 * oi_footing.TOLERANCE,
                )
            return []
        return oi_footing.scaled(points, scale)

    async def _current_oi(self, market: Mapping[str, Any], stats: _Stats) -> float | None:
        """The cycle's OI of one market, from a bulk answer shared by a backfill's symbols."""
        call = next((c for c in self.profile.bulk if c.role == "funding" and self._carries_oi(c)), None)
        if call is None:
            return None
        async with self._current_oi_lock:  # one request for the symbols backfilled together
            held = self._current_oi_answer
            if held is None or time.monotonic() - held[0] > CURRENT_OI_REUSE_S:
                raw = await self._call(stats, "current oi", call.method, params=dict(call.params))
                held = self._current_oi_answer = (time.monotonic(), assembly.keyed(call, raw))
        row = held[1].get(market["symbol"])
        return normalize.from_funding_rate(row, self.profile.info_fields).oi_contracts

    # -- calls ----------------------------------------------------------------------------

    def _refuse_if_down(self, what: str) -> None:
        if not self._breaker.allow():
            raise ExchangeUnavailableError(
                f"{self.exchange} {what}: circuit open",
                kind=reasons.REASON_CIRCUIT_OPEN,
                retry_after=self._breaker.retry_in(),
            )
        left = self._gate.paused_for()
        if left > self.tuning.max_pause_wait_s:
            raise ExchangeUnavailableError(
                f"{self.exchange} {what}: exchange paused for {left:.0f}s",
                kind=reasons.REASON_PAUSED,
                retry_after=left,
            )

    def _headers(self) -> Mapping[str, Any] | None:
        headers = self._ex.last_response_headers
        return headers if isinstance(headers, Mapping) else None

    async def _call(self, stats: _Stats, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """One ccxt call with breaker, pause, retries and error translation."""
        attempt = 0
        while True:
            attempt += 1
            self._refuse_if_down(what)
            stats.requests += 1
            call = self._gate.start_call()
            try:
                with translate_ccxt_errors(f"{self.exchange} {what}", self._headers):
                    result = await getattr(self._ex, method)(*args, **kwargs)
            except ExchangeUnavailableError as exc:
                if exc.rate_limited:
                    self._pause_after(exc, what)  # before the others go on
                self._gate.answered(call, rate_limited=exc.rate_limited)
                if exc.kind in (reasons.REASON_PAUSED, reasons.REASON_CIRCUIT_OPEN):
                    stats.requests -= 1  # refused by our gate before sending
                    raise  # and not an exchange failure
                long_pause = self._gate.paused_for() > self.tuning.max_pause_wait_s
                if attempt >= self.tuning.max_attempts or long_pause:
                    # A rate limit is the exchange answering, not failing: its pause keeps
                    # us away already. Counted by the breaker, a burst of 429s met by the
                    # requests in flight and the probes after each pause opened the circuit
                    # (60 s and an ERROR) for a 1-second Retry-After.
                    if not exc.rate_limited:
                        self._breaker.record_failure(str(exc))
                    raise
                # After a 429 the gate holds every request; other failures back off here.
                delay = 0.0 if exc.rate_limited else self._backoff(attempt)
                logger.info("%s %s: retry %d in %.2fs (%s)", self.exchange, what, attempt, delay, exc.kind)
                await asyncio.sleep(delay)
                continue
            except BaseException:
                self._gate.answered(call, rate_limited=False)  # a data error, or cancelled
                raise
            self._gate.answered(call, rate_limited=False)
            self._observe_weight(stats)
            self._breaker.record_success()
            return result

    def _pause_after(self, exc: ExchangeUnavailableError, what: str) -> None:
        """Hold every request of the exchange after a rate-limit answer (see ``_pause_for``).

        An IP ban is logged once, when it starts: the answers to requests already in
        flight extend the pause quietly.
        """
        seconds = self._pause_for(exc)
        if exc.retry_after is not None or self.profile.ban_pause(exc.http_status) is None:
            self._gate.pause(seconds, what)
            return
        now = self._clock()
        if now >= self._banned_until:
            logger.warning(
                "%s: IP banned (HTTP %s without Retry-After, on %s); no request for %.0fs, "
                "the ban's documented minimum",
                self.exchange,
                exc.http_status,
                what,
                seconds,
            )
        self._banned_until = max(self._banned_until, now + seconds)
        self._gate.pause(seconds, what, log=False)

    def _pause_for(self, exc: ExchangeUnavailableError) -> float:
        """How long a rate-limit answer keeps the whole exchange away.

        ``Retry-After`` when the exchange sent one; else an IP ban's documented minimum
        (Bybit's bare 403 lasts at least 10 minutes, and retrying sooner only meets it
        again); else the default pause.
        """
        if exc.retry_after is not None:
            return exc.retry_after
        ban = self.profile.ban_pause(exc.http_status)
        return ban if ban is not None else self.tuning.default_pause_s

    def _backoff(self, attempt: int) -> float:
        t = self.tuning
        return backoff_delay(attempt, base_s=t.backoff_base_s, cap_s=t.backoff_cap_s, jitter=self._jitter)

    def _observe_weight(self, stats: _Stats) -> None:
        budget = self._gate.budget
        if budget is None:
            return
        value = normalize.to_float(header(self._headers(), budget.header))
        if value is None:
            return
        used = int(value)
        self._gate.observe_used_weight(used)
        stats.weight_peak = used if stats.weight_peak is None else max(stats.weight_peak, used)

    async def _load_markets(self, stats: _Stats, *, reload: bool) -> None:
        markets = await self._call(stats, "load markets", "load_markets", reload)
        self._markets = {
            m["id"]: m
            for m in (markets or {}).values()
            if isinstance(m, Mapping) and universe.is_collectable(m, self.profile.settle)
        }
        weight = self.profile.weight
        if weight is not None:
            info = await self._call(stats, "exchange info", weight.info_method)
            budget = weight_budget(info, weight.header_prefix)
            if budget is None:
                budget = Budget(weight.default_limit, weight.default_window_s, f"{weight.header_prefix}1M")
                logger.warning(
                    "%s: no weight budget in exchange info; assuming %d", self.exchange, budget.limit
                )
            if budget != self._gate.budget:
                logger.info(
                    "%s request-weight budget %d per %.0fs (%s)",
                    self.exchange,
                    budget.limit,
                    budget.window_s,
                    budget.header,
                )
            self._gate.budget = budget

    async def _bulk(self, call: BulkCall, stats: _Stats) -> Mapping[str, Any] | None:
        """One bulk answer keyed by unified symbol (or index key); optional failures → cache or None."""
        cached = self._cache.get(call.method)
        if cached is not None and call.ttl_s and time.monotonic() - cached[0] < call.ttl_s:
            return cached[1]
        try:
            raw = await self._call(stats, call.method, call.method, params=dict(call.params))
            if self._carries_oi(call):
                stats.oi_read_at.append(time.monotonic())
        except (ExchangeUnavailableError, ExchangeDataError) as exc:
            if call.required:
                raise
            logger.warning(
                "%s %s failed (%s); %s",
                self.exchange,
                call.method,
                exc.kind,
                "using the last good answer" if cached else "its fields are missing this cycle",
            )
            return cached[1] if cached else None
        keyed = assembly.keyed(call, raw)
        if call.ttl_s:
            self._cache[call.method] = (time.monotonic(), keyed)
        return keyed

    def _carries_oi(self, call: BulkCall) -> bool:
        fields = self.profile.info_fields
        return call.role == "oi" or (
            call.role == "funding" and fields is not None and fields.oi_amount is not None
        )

    async def _symbol_oi(self, symbol: str, oi: SymbolOi, stats: _Stats) -> normalize.Part:
        market = self._markets.get(symbol)
        if market is None:  # markets reloaded mid-cycle without it
            raise ExchangeDataError(
                f"open interest {symbol}: no longer listed", kind=reasons.REASON_BAD_SYMBOL
            )
        market_id = market["id"]
        async with self._sem:
            raw = await self._call(stats, f"open interest {symbol}", oi.method, {oi.id_param: market_id})
        stats.oi_read_at.append(time.monotonic())
        part = normalize.from_symbol_open_interest(
            raw,
            market_id=market_id,
            fields=oi,
            contract_size=market.get("contractSize"),
            in_contracts=self.profile.oi_in_contracts,
        )
        if part.oi_contracts is None:
            detail = "; ".join(part.issues) or "no open interest in the answer"
            raise ExchangeDataError(f"open interest {symbol}: {detail}", kind=reasons.REASON_JUNK)
        return part

    async def _volumes(self, stats: _Stats) -> dict[str, float | None]:
        call = next(c for c in self.profile.bulk if c.role == self.profile.volume_role)
        answer = await self._bulk(BulkCall(call.role, call.method, call.params, required=True), stats)
        out: dict[str, float | None] = {}
        for market_id, market in self._markets.items():
            row = (answer or {}).get(market["symbol"])
            out[market_id] = (
                assembly.part_for(self.profile, call.role, row, market).volume_24h_usd
                if row is not None
                else None
            )
        return out

    def _log_cycle(self, report: FetchReport, oi_spread_s: float | None) -> None:
        failed = Counter(f.reason for f in report.failures)
        logger.info(
            "%s cycle: %d ok, %d failed%s, %d warnings, %d requests, weight %s, OI spread %s, %.2fs",
            self.exchange,
            len(report.snapshots),
            len(report.failures),
            f" ({', '.join(f'{k} {v}' for k, v in failed.most_common())})" if failed else "",
            len(report.warnings),
            report.requests,
            report.weight_used if report.weight_used is not None else "n/a",
            f"{oi_spread_s:.2f}s" if oi_spread_s is not None else "n/a",
            report.duration_s,
        )
        # Data that stopped or went bad must be visible in the log, not only in counts.
        for what, items in (("failed", report.failures), ("junk fields dropped", report.warnings)):
            if items:
                examples = "; ".join(f"{i.symbol} {i.reason}: {i.detail}" for i in items[:3])
                logger.warning("%s cycle: %d %s, e.g. %s", self.exchange, len(items), what, examples)
