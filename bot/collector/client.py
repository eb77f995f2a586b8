"""Building the one ccxt exchange instance of a source: throttle, gate, URLs, timeouts.

Kept apart from ``ccxt_source`` so the rules for the instance sit in one screen: a request
under one of the venue's published limits is paced by our ``VenueLimiter`` (a share of
that limit) instead of ccxt's fixed spacing, any other request by ccxt's throttle; our
``ExchangeGate`` (pauses after 429/418/403, weight header) right before each request;
ccxt's retry-on-failure off; ``EXCHANGE_API_URL`` applied to every REST URL.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bot.collector.ccxt_loading import exchange_class
from bot.collector.errors import ANSWER_HEADERS, ANSWER_STATUS
from bot.collector.iso_time import fast_iso8601
from bot.collector.profiles import ExchangeProfile
from bot.collector.request_budget import ExchangeGate, WeightPolicy
from bot.collector.venue_limiter import Charge, Grants, VenueLimiter

logger = logging.getLogger(__name__)

_GRANTS: ContextVar[Grants] = ContextVar("venue_grants", default=())
"""What the current request was granted by the limiter (``throttle`` runs inside ``fetch2``)."""


@dataclass(frozen=True, slots=True)
class SourceTuning:
    """Knobs with production defaults; tests shrink the times.

    Attributes:
        timeout_s: ccxt (aiohttp) timeout per request.
        max_attempts: tries per call, the first included.
        backoff_base_s / backoff_cap_s: jittered exponential backoff between tries.
        default_pause_s: exchange pause after a 429/418 that carries no ``Retry-After``.
        max_pause_wait_s: a longer pause is not waited out inside a cycle: calls fail
            fast (``paused``) and the next cycle tries again.
        breaker_threshold / breaker_cool_off_s: the circuit breaker (see ``circuit``).
        concurrency: per-symbol calls at once (``None`` = the profile's).
        rate_limit_ms: ccxt ``rateLimit`` for requests no published limit covers
            (``None`` = the profile's, else ccxt's own).
        budget_share: the share of each published limit (``ExchangeProfile.rate_windows``)
            our limiter spends; the rest is headroom.
        budget_margin_s: added to each limit's window (we count starts, the venue arrivals).
        budget_scale: multiplies every published limit; 1 in production (a soak whose
            clock runs N times faster than wall time scales its fake's budgets, and ours,
            by N).
        weight: when to slow down against the weight the exchange reports back.
    """

    timeout_s: float = 10.0
    max_attempts: int = 3
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 8.0
    default_pause_s: float = 10.0
    max_pause_wait_s: float = 60.0
    breaker_threshold: int = 5
    breaker_cool_off_s: float = 60.0
    concurrency: int | None = None
    rate_limit_ms: float | None = None
    budget_share: float = 0.5
    budget_margin_s: float = 0.5
    budget_scale: float = 1.0
    weight: WeightPolicy = field(default_factory=WeightPolicy)


def rewrite_api_urls(urls: Any, base_url: str) -> Any:
    """Replace scheme and host of every URL in ccxt's ``urls['api']`` (nested dicts too).

    A path in ``base_url`` is kept as a prefix (``https://proxy/binance`` +
    ``/fapi/v1``); ccxt's ``{hostname}`` placeholders go away with the host.
    """
    if isinstance(urls, str):
        base, url = urlsplit(base_url), urlsplit(urls)
        return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + url.path, url.query, ""))
    if isinstance(urls, dict):
        return {key: rewrite_api_urls(value, base_url) for key, value in urls.items()}
    return urls


def redacted(url: str) -> str:
    """Scheme, host and port only: a proxy URL may carry a user and password."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


def _tag(exc: BaseException, answer: tuple[Any, Any]) -> None:
    setattr(exc, ANSWER_STATUS, answer[0])
    setattr(exc, ANSWER_HEADERS, answer[1])


class _Request:
    """ccxt's cost of one request, with our charge against the venue's limits."""

    __slots__ = ("ccxt_cost", "charge")

    def __init__(self, ccxt_cost: Any, charge: Charge) -> None:
        self.ccxt_cost, self.charge = ccxt_cost, charge


def _gated_class(base: type[Any]) -> type[Any]:
    """``base`` paced by our limiter and gate, with error answers tagged.

    ccxt's ``fetch2`` computes a request's cost (``calculate_rate_limiter_cost``, which
    sees the path and parameters) and awaits ``throttle(cost)`` right before signing and
    sending. Here the cost carries our charge: a request under a published limit waits in
    ``VenueLimiter`` and skips ccxt's fixed spacing (our limiter enforces the real budget),
    any other request keeps ccxt's throttle. Then the gate: waiting there, right before
    the request, holds requests already granted when a 429 pauses the exchange.

    ccxt raises for an error answer from ``handle_errors`` (body codes) or right after it,
    synchronously, from ``handle_http_status_code`` (status codes). Both hooks tag the
    exception with that answer's status and headers: ``last_response_headers`` is shared
    by concurrent requests, so by the time the exception reaches us it may already hold
    another answer's headers (and lose a ban's ``Retry-After``).

    ``iso8601`` is ccxt's answer at less CPU (``iso_time``): its parsers call it for
    every row, on the lock the other venues' clients need too.
    """

    def calculate_rate_limiter_cost(
        self: Any, api: Any, method: Any, path: Any, params: Any, config: Any = None
    ) -> Any:
        cost = base.calculate_rate_limiter_cost(self, api, method, path, params, config or {})
        limiter: VenueLimiter | None = getattr(self, "dps_limiter", None)
        charge = limiter.charge(str(path), params if isinstance(params, dict) else {}) if limiter else ()
        return _Request(cost, charge)

    async def throttle(self: Any, cost: Any = None) -> Any:
        request = cost if isinstance(cost, _Request) else _Request(cost, ())
        limiter: VenueLimiter | None = getattr(self, "dps_limiter", None)
        if limiter is not None and request.charge:
            _GRANTS.set(await limiter.acquire(request.charge))
            result = None
        else:
            result = await base.throttle(self, request.ccxt_cost)
        gate: ExchangeGate | None = getattr(self, "dps_gate", None)
        if gate is not None:
            await gate.wait()
        return result

    async def fetch2(self: Any, *args: Any, **kwargs: Any) -> Any:
        # Runs throttle in this same task, so its grants are visible here afterwards.
        token = _GRANTS.set(())
        try:
            return await base.fetch2(self, *args, **kwargs)
        finally:
            VenueLimiter.settle(_GRANTS.get())
            _GRANTS.reset(token)

    def handle_errors(
        self: Any, code: Any, reason: Any, url: Any, method: Any, headers: Any, *rest: Any
    ) -> Any:
        self.dps_answer = (code, headers)
        try:
            return base.handle_errors(self, code, reason, url, method, headers, *rest)
        except Exception as exc:
            _tag(exc, self.dps_answer)
            raise

    def handle_http_status_code(self: Any, *args: Any) -> Any:
        try:
            return base.handle_http_status_code(self, *args)
        except Exception as exc:
            _tag(exc, getattr(self, "dps_answer", (None, None)))
            raise

    return type(
        f"Gated{base.__name__}",
        (base,),
        {
            "calculate_rate_limiter_cost": calculate_rate_limiter_cost,
            "fetch2": fetch2,
            "throttle": throttle,
            "handle_errors": handle_errors,
            "handle_http_status_code": handle_http_status_code,
            "iso8601": staticmethod(fast_iso8601(base.iso8601)),
        },
    )


def new_exchange(
    profile: ExchangeProfile, tuning: SourceTuning, gate: ExchangeGate, api_url: str | None
) -> Any:
    """A ccxt async exchange for ``profile``, gated by ``gate``; close it with ``await .close()``."""
    config: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": int(tuning.timeout_s * 1000),
        # Never ccxt's retry-on-failure: it retries 429s at once, without Retry-After.
        "options": {**profile.ccxt_options, "maxRetriesOnFailure": 0},
    }
    rate_limit = tuning.rate_limit_ms or profile.rate_limit_ms
    if rate_limit is not None:
        config["rateLimit"] = rate_limit
    exchange = _gated_class(exchange_class(profile.ccxt_class))(config)
    if api_url:
        exchange.urls["api"] = rewrite_api_urls(exchange.urls["api"], api_url)
        logger.info("%s REST endpoints redirected to %s", profile.exchange_id, redacted(api_url))
    exchange.dps_gate = gate
    exchange.dps_limiter = (
        VenueLimiter(
            profile.rate_windows,
            share=tuning.budget_share,
            margin_s=tuning.budget_margin_s,
            scale=tuning.budget_scale,
        )
        if profile.rate_windows
        else None
    )
    return exchange
