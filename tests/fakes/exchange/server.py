"""The fake exchange's HTTP server: routing, request recording, latency and fault injection.

One aiohttp server on 127.0.0.1 (port 0) speaks all three dialects at once (their paths do
not overlap), so the real ccxt client reaches it through ``EXCHANGE_API_URL``. The payload
builders live in ``binance.py``, ``bybit.py`` and ``okx.py``; this module decides *whether*
and *how* a request is answered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from tests.fakes.exchange.limits import BinanceGuard, BybitGuard, Refusal, RequestLimit, Windows, okx_admit
from tests.fakes.exchange.market import FakeMarket

FaultKind = Literal["status", "delay", "malformed", "omit"]
Params = Mapping[str, str]


@dataclass
class Reply:
    """What a dialect handler answers: a status, a JSON-able payload and extra headers."""

    payload: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    """One endpoint: ``key`` names it for faults and recording; ``weight`` is Binance's;
    ``limit`` is the endpoint's own request limit, where the venue documents one."""

    path: str
    key: str
    handler: Callable[[FakeExchange, Params], Reply]
    symbol_param: str | None = None
    weight: Callable[[Params], int] = lambda _params: 0
    dialect: str = "binance"
    limit: RequestLimit | None = None


@dataclass
class Fault:
    """A programmed misbehaviour of one endpoint (optionally for one symbol).

    Kinds:
        ``status``: answer ``status`` with ``body`` (JSON-able or text) and ``headers``.
        ``delay``: sleep ``delay_s`` first (latency, or a timeout beyond the client's); with
            ``until``, first hold the answer until the test sets that event (a venue that is
            slow for exactly as long as a test needs, whatever the machine's speed).
        ``malformed``: answer 200 with truncated JSON.
        ``omit``: leave ``symbol`` out of a bulk answer (the dialect handler asks).
    ``times`` limits how many requests it hits (``None`` = all); ``hits`` counts them.
    """

    endpoint: str
    kind: FaultKind
    symbol: str | None = None
    status: int = 503
    body: Any = "Service Unavailable"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    until: asyncio.Event | None = None
    times: int | None = None
    hits: int = 0

    def active(self) -> bool:
        return self.times is None or self.hits < self.times


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it (``t`` is ``time.monotonic()`` on arrival).

    ``weight`` is what it counts against its venue's IP limit: Binance's request weight,
    1 for a Bybit or OKX request (their limits count requests). Refused requests count
    too, as they do at the venues.
    """

    key: str
    path: str
    params: dict[str, str]
    t: float
    wall: float
    dialect: str = "?"
    weight: int = 0


def peak_in_window(requests: list[Recorded], window_s: float) -> int:
    """The most weight of ``requests`` that arrived within any ``window_s`` seconds."""
    times = sorted((r.t, r.weight) for r in requests)
    peak = total = first = 0
    for t, weight in times:
        total += weight
        while t - times[first][0] >= window_s:
            total -= times[first][1]
            first += 1
        peak = max(peak, total)
    return peak


BINANCE_WEIGHT_LIMIT = 2400
"""Binance USD-M's published request weight per minute (exchangeInfo ``rateLimits``)."""


class FakeExchange:
    """A fake Binance USD-M / Bybit v5 / OKX v5 public REST API over a ``FakeMarket``.

    Attributes:
        market: the instruments served (mutate it to list / delist / glitch).
        latency_s: added to every answer.
        requests: every request received, in arrival order.
        peak_in_flight: per endpoint, the most requests it was answering at once.
        weight_limit / weight_window_s: Binance's request-weight budget, served in
            exchangeInfo ``rateLimits``, counted per window and enforced with a 429.
        weight_header: when set, every Binance answer reports this used weight instead
            of the real count (``weight_header_times`` answers, then the real count again).
        binance / bybit: each venue's limit state (429 back-off, 418 bans, 403 ban); OKX's
            per-endpoint limits sit on its routes. See ``limits``.
        refusals: every request refused for a rate limit, in order.
        clock: monotonic seconds for back-offs, bans and request windows (a test may
            replace it to step past a ban).
        wall: epoch seconds; Binance's weight windows follow it (each minute).
    """

    def __init__(self, market: FakeMarket | None = None, latency_s: float = 0.0) -> None:
        self.market = market or FakeMarket.default()
        self.latency_s = latency_s
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.weight_limit = BINANCE_WEIGHT_LIMIT
        self.weight_window_s = 60.0
        self.weight_header: int | None = None
        self.weight_header_times: int | None = None
        self.clock: Callable[[], float] = time.monotonic
        self.wall: Callable[[], float] = time.time
        self.windows = Windows()
        self.binance = BinanceGuard()
        self.bybit = BybitGuard()
        self.refusals: list[Refusal] = []
        self._in_flight: Counter[str] = Counter()
        self.peak_in_flight: Counter[str] = Counter()
        self._routes: dict[str, Route] = {}
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on 127.0.0.1 on a free port; returns the base URL."""
        from tests.fakes.exchange import binance, bybit, okx

        for route in (*binance.ROUTES, *bybit.ROUTES, *okx.ROUTES):
            self._routes[route.path] = route
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        # A short shutdown timeout: "timeout" faults leave handlers sleeping.
        self._runner = web.AppRunner(app, shutdown_timeout=0.2, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- test controls -------------------------------------------------------------

    def scale_limits(self, factor: float) -> None:
        """Multiply every published limit by ``factor``: Binance's weight budget and every
        request window (``Windows.scale``). For a client whose budgets are scaled alike
        (``SourceTuning.budget_scale``), in one call so that no limit is left unscaled."""
        self.weight_limit = round(BINANCE_WEIGHT_LIMIT * factor)
        self.windows.scale = factor

    def inject(self, endpoint: str, kind: FaultKind, **options: Any) -> Fault:
        """Add a fault (see ``Fault``); returns it so a test can check ``hits`` or remove it."""
        fault = Fault(endpoint=endpoint, kind=kind, **options)
        self.faults.append(fault)
        return fault

    def heal(self) -> None:
        """Remove every fault."""
        self.faults.clear()

    def calls(self, key: str) -> list[Recorded]:
        """Requests to one endpoint (route key, e.g. ``openInterest``)."""
        return [r for r in self.requests if r.key == key]

    def peak_weight(self, window_s: float, *, dialect: str | None = None, key: str | None = None) -> int:
        """The most weight that arrived in any ``window_s`` seconds (from the request log).

        ``dialect`` keeps one venue's requests (``binance``, ``bybit``, ``okx``); ``key``
        one endpoint's (OKX limits each endpoint on its own).
        """
        chosen = [
            r
            for r in self.requests
            if (dialect is None or r.dialect == dialect) and (key is None or r.key == key)
        ]
        return peak_in_window(chosen, window_s)

    def omitted(self, endpoint: str) -> set[str]:
        """Symbols an ``omit`` fault removes from this endpoint's bulk answer (counts a hit)."""
        out = set()
        for fault in self.faults:
            if fault.endpoint == endpoint and fault.kind == "omit" and fault.active() and fault.symbol:
                fault.hits += 1
                out.add(fault.symbol)
        return out

    # -- request handling ------------------------------------------------------------

    def _fault_for(self, route: Route, params: Params) -> Fault | None:
        symbol = params.get(route.symbol_param) if route.symbol_param else None
        for fault in self.faults:
            if fault.endpoint != route.key or fault.kind == "omit" or not fault.active():
                continue
            if fault.symbol is not None and fault.symbol != symbol:
                continue
            fault.hits += 1
            return fault
        return None

    def _weight_header_name(self) -> str:
        window = self.weight_window_s
        unit, num = ("M", window / 60) if window % 60 == 0 else ("S", window)
        return f"X-MBX-USED-WEIGHT-{int(num)}{unit}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        route = self._routes.get(request.path)
        dialect = route.dialect if route else "?"
        weight = (route.weight(params) if dialect == "binance" else 1) if route else 0
        self.requests.append(
            Recorded(
                route.key if route else "?",
                request.path,
                params,
                time.monotonic(),
                time.time(),
                dialect,
                weight,
            )
        )
        if route is None:
            return web.json_response({"code": -1, "msg": f"no route {request.path}"}, status=404)
        self._in_flight[route.key] += 1
        self.peak_in_flight[route.key] = max(self.peak_in_flight[route.key], self._in_flight[route.key])
        try:
            return await self._answer(route, params)
        finally:
            self._in_flight[route.key] -= 1

    def _refusal(self, route: Route, params: Params, headers: dict[str, str]) -> Reply | None:
        """The venue's rate-limit answer to this request, or ``None``; fills Binance's headers."""
        if route.dialect == "bybit":
            return self.bybit.admit(self, params)
        if route.dialect == "okx":
            return okx_admit(self, route, params)
        used = self.binance.used_weight(self, route, params)
        reported = used
        if self.weight_header is not None and (
            self.weight_header_times is None or self.weight_header_times > 0
        ):
            reported = self.weight_header
            if self.weight_header_times is not None:
                self.weight_header_times -= 1
        headers[self._weight_header_name()] = str(reported)
        return self.binance.admit(self, route, params, used, headers)

    async def _answer(self, route: Route, params: dict[str, str]) -> web.StreamResponse:
        headers: dict[str, str] = {}
        refusal = self._refusal(route, params, headers)
        if refusal is not None:
            retry_after = refusal.headers.get("Retry-After")
            self.refusals.append(
                Refusal(self.clock(), route.key, refusal.status, float(retry_after) if retry_after else None)
            )
            return _json(refusal.payload, refusal.status, {**headers, **refusal.headers})
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        fault = self._fault_for(route, params)
        if fault is not None:
            if fault.kind == "delay":
                if fault.until is not None:
                    await fault.until.wait()
                await asyncio.sleep(fault.delay_s)
            elif fault.kind == "malformed":
                return web.Response(
                    text='{"symbol": "BTCUSDT", "openInterest": "12', content_type="application/json"
                )
            elif fault.kind == "status":
                if route.dialect == "binance" and fault.status == 429:
                    # A programmed 429 binds the client like a real one: back off or be banned.
                    self.binance.note_429(self.clock(), float(fault.headers.get("Retry-After", 0)))
                return _json(fault.body, fault.status, {**headers, **fault.headers})
        reply = route.handler(self, params)
        return _json(reply.payload, reply.status, {**headers, **reply.headers})


def _json(body: Any, status: int, headers: dict[str, str]) -> web.Response:
    if isinstance(body, str):
        return web.Response(text=body, status=status, headers=headers, content_type="text/plain")
    return web.Response(
        text=json.dumps(body), status=status, headers=headers, content_type="application/json"
    )
