"""Each venue's documented request limits, refused the way that venue refuses them.

Binance USD-M (developers.binance.com, "General Info" → Limits; error code -1003):

- request weight per IP (``REQUEST_WEIGHT`` 2400 per minute in exchangeInfo), reported in
  ``X-MBX-USED-WEIGHT-1M`` on every answer; over it → HTTP 429, ``Retry-After``, body
  ``{"code": -1003, "msg": "Too many requests; current limit of IP(..) is 2400 requests per
  minute. ..."}``;
- endpoint families with their own request count besides weight: ``/futures/data/*``
  (openInterestHist) 1000 requests per 5 minutes per IP, ``fundingInfo`` 500 per 5 minutes
  (shared with ``fundingRate``);
- "repeatedly violating rate limits and/or failing to back off after receiving 429s will
  result in an automated IP ban (HTTP status 418)", bans "scale in duration for repeat
  offenders, from 2 minutes to 3 days", body ``Way too many requests; IP banned until
  <ms>``. Binance does not publish how many requests after a 429 make a ban; the fake
  answers 429 to every request during the ``Retry-After``, counts as a strike only one
  that arrives more than ``on_the_wire_s`` after the 429 left (earlier ones may have left
  the client before the 429 reached it: a concurrent client has many in flight), and
  bans on the ``strikes_to_ban``-th, doubling the ban each time.

Bybit v5 (bybit-exchange.github.io/docs/v5/rate-limit): public market endpoints have no UID,
so only the HTTP IP limit applies: 600 requests in any 5-second window; over it, HTTP 403
"access too frequent" and the IP is banned for at least 10 minutes. (``retCode`` 10006
"Too many visits!" is the per-UID limit of authenticated endpoints.)

OKX v5 (www.okx.com/docs-v5): a limit per endpoint and per rule ("IP", "IP + Instrument
ID", "IP + Instrument Type"); over it, HTTP 429 ``{"code": "50011", "msg": "Too Many
Requests", "data": []}``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.exchange.server import FakeExchange, Params, Reply, Route

FAKE_IP = "127.0.0.1"


@dataclass(frozen=True)
class RequestLimit:
    """At most ``count`` requests in any ``window_s`` seconds, per bucket.

    ``group`` names the bucket (routes that share a limit share a group); ``per`` is the
    request parameter the venue counts separately (OKX "IP + Instrument ID": ``instId``),
    ``None`` = one bucket per IP.
    """

    count: int
    window_s: float
    group: str
    per: str | None = None


@dataclass(frozen=True)
class Refusal:
    """One request the fake refused for a rate limit (``t`` on the fake's clock)."""

    t: float
    key: str
    status: int
    retry_after_s: float | None


class Windows:
    """Sliding-window request counts; every request counts, refused or not.

    ``overrides`` replaces a group's documented limit (tests shrink 1000 per 5 minutes
    to a handful). ``scale`` multiplies every documented limit (not an override): a bench
    whose client spends scaled budgets (``SourceTuning.budget_scale``) scales its fakes'
    limits by the same factor, or the fake refuses what the scaled client may send (and a
    faster interpreter sends it sooner).
    """

    def __init__(self) -> None:
        self._starts: dict[tuple[str, str], deque[float]] = {}
        self.overrides: dict[str, RequestLimit] = {}
        self.scale = 1.0

    def effective(self, limit: RequestLimit) -> RequestLimit:
        override = self.overrides.get(limit.group)
        if override is not None:
            return override
        if self.scale == 1.0:
            return limit
        return replace(limit, count=max(1, int(limit.count * self.scale)))

    def hit(self, limit: RequestLimit, params: Params, now: float) -> float | None:
        """Count a request; ``None`` when it fits, else seconds until the window has room."""
        limit = self.effective(limit)
        bucket = (limit.group, params.get(limit.per, "") if limit.per else "")
        starts = self._starts.setdefault(bucket, deque())
        while starts and now - starts[0] >= limit.window_s:
            starts.popleft()
        starts.append(now)
        if len(starts) <= limit.count:
            return None
        return limit.window_s - (now - starts[-1 - limit.count]) if limit.count else limit.window_s


def _per_window(window_s: float) -> str:
    if window_s == 60:
        return "minute"
    if window_s % 60 == 0:
        return f"{window_s / 60:g} minutes"
    return f"{window_s:g} seconds"


@dataclass
class BinanceGuard:
    """Binance's IP weight, per-endpoint counts, 429 back-off and escalating 418 bans.

    Attributes:
        strikes_to_ban: requests during a 429's ``Retry-After`` that earn a 418 (the ones
            before it are answered 429 again).
        on_the_wire_s: a request arriving this soon after the 429 left is answered 429
            but is no strike: it may have left before the 429 arrived.
        ban_first_s / ban_max_s: the first ban and the cap; each ban doubles the last.
        bans: how many bans were handed out.
    """

    strikes_to_ban: int = 3
    on_the_wire_s: float = 0.25
    ban_first_s: float = 120.0
    ban_max_s: float = 3 * 86400.0
    bans: int = 0
    backoff_until: float = 0.0
    banned_until: float = 0.0
    strikes: int = 0
    noted_at: float = 0.0
    _weight: dict[int, int] = field(default_factory=dict)

    def used_weight(self, fake: FakeExchange, route: Route, params: Params) -> int:
        window = int(fake.wall() // fake.weight_window_s)  # Binance's windows follow the clock
        self._weight[window] = self._weight.get(window, 0) + route.weight(params)
        return self._weight[window]

    def admit(
        self, fake: FakeExchange, route: Route, params: Params, used: int, headers: dict[str, str]
    ) -> Reply | None:
        """The refusal for this request, or ``None`` to answer it."""
        now = fake.clock()
        if now < self.banned_until:
            return self._banned(fake, now, headers)
        if now < self.backoff_until:
            if now - self.noted_at > self.on_the_wire_s:
                self.strikes += 1
            if self.strikes >= self.strikes_to_ban:
                return self._ban(fake, now, headers)
            return self._too_many(
                fake,
                now,
                self.backoff_until - now,
                fake.weight_limit,
                fake.weight_window_s,
                headers,
                note=False,
            )
        if route.limit is not None:
            wait = fake.windows.hit(route.limit, params, now)
            if wait is not None:
                limit = fake.windows.effective(route.limit)
                return self._too_many(fake, now, wait, limit.count, limit.window_s, headers)
        if used > fake.weight_limit and fake.weight_header is None:
            wait = fake.weight_window_s - fake.wall() % fake.weight_window_s
            return self._too_many(fake, now, wait, fake.weight_limit, fake.weight_window_s, headers)
        return None

    def note_429(self, now: float, retry_after_s: float) -> None:
        """A 429 left: until ``Retry-After`` has passed, further requests are strikes."""
        if now >= self.backoff_until:
            self.strikes = 0
        self.noted_at = now
        self.backoff_until = max(self.backoff_until, now + retry_after_s)

    def _too_many(
        self,
        fake: FakeExchange,
        now: float,
        wait_s: float,
        limit: int,
        window_s: float,
        headers: dict[str, str],
        *,
        note: bool = True,
    ) -> Reply:
        from tests.fakes.exchange.server import Reply

        retry_after = max(1, math.ceil(wait_s))
        if note:
            self.note_429(now, retry_after)
        msg = (
            f"Too many requests; current limit of IP({FAKE_IP}) is {limit} requests per "
            f"{_per_window(window_s)}. Please use the websocket for live updates to avoid polling the API."
        )
        return Reply({"code": -1003, "msg": msg}, 429, {**headers, "Retry-After": str(retry_after)})

    def _ban(self, fake: FakeExchange, now: float, headers: dict[str, str]) -> Reply:
        self.bans += 1
        self.banned_until = now + min(self.ban_max_s, self.ban_first_s * 2 ** (self.bans - 1))
        self.backoff_until, self.strikes = 0.0, 0
        return self._banned(fake, now, headers)

    def _banned(self, fake: FakeExchange, now: float, headers: dict[str, str]) -> Reply:
        from tests.fakes.exchange.server import Reply

        left = self.banned_until - now
        until_ms = int((fake.wall() + left) * 1000)
        msg = (
            f"Way too many requests; IP({FAKE_IP}) banned until {until_ms}. "
            "Please use the websocket for live updates to avoid bans."
        )
        return Reply({"code": -1003, "msg": msg}, 418, {**headers, "Retry-After": str(math.ceil(left))})


@dataclass
class BybitGuard:
    """Bybit's HTTP IP limit: ``count`` requests per ``window_s``, then a ``ban_s`` ban (403)."""

    limit: RequestLimit = field(default_factory=lambda: RequestLimit(600, 5.0, "bybit-ip"))
    ban_s: float = 600.0
    banned_until: float = 0.0

    def admit(self, fake: FakeExchange, params: Params) -> Reply | None:
        from tests.fakes.exchange.server import Reply

        now = fake.clock()
        if now >= self.banned_until and fake.windows.hit(self.limit, params, now) is not None:
            self.banned_until = now + self.ban_s
        if now < self.banned_until:
            # No JSON and no Retry-After: Bybit's edge answers the banned IP itself.
            return Reply("403 Forbidden: access too frequent", 403)
        return None


def okx_admit(fake: FakeExchange, route: Route, params: Params) -> Reply | None:
    """OKX's per-endpoint limit of ``route`` (if any): HTTP 429 with code 50011 when over it."""
    from tests.fakes.exchange.server import Reply

    if route.limit is None or fake.windows.hit(route.limit, params, fake.clock()) is None:
        return None
    body: dict[str, Any] = {"code": "50011", "msg": "Too Many Requests", "data": []}
    return Reply(body, 429)
