"""Building the one ccxt exchange instance of a source: throttle, gate, URLs, timeouts.

Kept apart from ``ccxt_source`` so the rules for the instance sit in one screen: ccxt's
throttle on, its retry-on-failure off, our ``ExchangeGate`` after its throttle, and
``EXCHANGE_API_URL`` applied to every REST URL of the exchange.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bot.collector.ccxt_loading import exchange_class
from bot.collector.errors import ANSWER_HEADERS, ANSWER_STATUS
from bot.collector.profiles import ExchangeProfile
from bot.collector.request_budget import ExchangeGate, WeightPolicy

logger = logging.getLogger(__name__)


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
        rate_limit_ms: ccxt ``rateLimit`` (``None`` = the profile's, else ccxt's own).
        weight: when to slow down against the request-weight budget.
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


def _gated_class(base: type[Any]) -> type[Any]:
    """``base`` with the gate awaited after ccxt's throttle grants a slot, and error answers tagged.

    ccxt calls ``throttle`` from ``fetch2`` right before signing and sending, so waiting
    there holds requests that already sit in ccxt's queue when a 429 pauses the exchange.

    ccxt raises for an error answer from ``handle_errors`` (body codes) or right after it,
    synchronously, from ``handle_http_status_code`` (status codes). Both hooks tag the
    exception with that answer's status and headers: ``last_response_headers`` is shared
    by concurrent requests, so by the time the exception reaches us it may already hold
    another answer's headers (and lose a ban's ``Retry-After``).
    """

    async def throttle(self: Any, cost: Any = None) -> Any:
        result = await base.throttle(self, cost)
        gate: ExchangeGate | None = getattr(self, "dps_gate", None)
        if gate is not None:
            await gate.wait()
        return result

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
            "throttle": throttle,
            "handle_errors": handle_errors,
            "handle_http_status_code": handle_http_status_code,
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
    return exchange
