"""The one place where ccxt's exceptions become the project's error tree.

``translate_ccxt_errors()`` wraps every ccxt call. Transient failures (network, timeout,
5xx, rate limit) become ``ExchangeUnavailableError`` (a ``SourceUnavailableError``) and
carry the ``Retry-After`` seconds when the exchange sent them; answers we cannot use
(unknown symbol, junk payload, an exchange error code) become ``ExchangeDataError`` (a
``SourceDataError``). Each keeps the ccxt exception as ``__cause__``. ``kind`` is a stable
code that doubles as the per-symbol failure reason.

ccxt hierarchy (4.5.90): ``BaseError → ExchangeError → {BadRequest → BadSymbol, ...}``;
``BaseError → OperationFailed → NetworkError → {DDoSProtection, RateLimitExceeded,
ExchangeNotAvailable, RequestTimeout, ...}`` and ``OperationFailed → BadResponse``.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bot.collector.ccxt_loading import errors as ccxt
from bot.core import collection as reasons
from bot.errors import SourceDataError, SourceUnavailableError

HeadersGetter = Callable[[], Mapping[str, Any] | None]

ANSWER_STATUS = "dps_http_status"
ANSWER_HEADERS = "dps_response_headers"
"""Attributes our ccxt subclass sets on an exception raised for an HTTP answer: that
answer's status and headers (see ``client._gated_class``)."""


class ExchangeUnavailableError(SourceUnavailableError):
    """A transient exchange failure; retrying later may work.

    Attributes:
        kind: ``timeout``, ``rate_limited``, ``unavailable``, ``circuit_open`` or ``paused``.
        retry_after: seconds the exchange asked us to wait (``Retry-After``), if known.
        http_status: the HTTP status of the answer, when there was one (Bybit's IP ban is
            a bare 403 without ``Retry-After``; the profile knows how long it lasts).
    """

    def __init__(
        self, message: str, *, kind: str, retry_after: float | None = None, http_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after
        self.http_status = http_status

    @property
    def rate_limited(self) -> bool:
        """Whether the exchange pushed back (429/418 or a rate-limit code)."""
        return self.kind == reasons.REASON_RATE_LIMITED


class ExchangeDataError(SourceDataError):
    """The exchange answered, but not with something usable; retrying will not help.

    Attributes:
        kind: ``bad_symbol``, ``junk`` or ``exchange_error``.
    """

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def parse_retry_after(value: object, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date; junk → None."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """A response header by case-insensitive name (ccxt keeps the server's spelling)."""
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted:
            return str(value)
    return None


def _short(exc: BaseException) -> str:
    # ccxt messages embed the whole response body; keep logs and reasons short.
    text = str(exc).replace("\n", " ")
    return f"{type(exc).__name__}: {text[:200]}"


@contextmanager
def translate_ccxt_errors(what: str, headers: HeadersGetter | None = None) -> Iterator[None]:
    """Run one ccxt call; re-raise its failures as ``ExchangeUnavailableError`` / ``ExchangeDataError``.

    Args:
        what: names the call in messages, e.g. ``"openInterest BTCUSDT"``.
        headers: returns the last response headers, read for ``Retry-After`` on a 429/418
            when the exception does not carry its own answer's headers (``ANSWER_HEADERS``).

    Raises:
        ExchangeUnavailableError: network error, timeout, 5xx, 429/418, rate-limit code.
        ExchangeDataError: unknown symbol, bad or junk response, exchange error code.
    """
    try:
        yield
    except ccxt.RequestTimeout as exc:
        raise ExchangeUnavailableError(f"{what}: {_short(exc)}", kind=reasons.REASON_TIMEOUT) from exc
    except (ccxt.DDoSProtection, ccxt.RateLimitExceeded) as exc:
        tagged = getattr(exc, ANSWER_HEADERS, None)
        answer = tagged if isinstance(tagged, Mapping) else (headers() if headers else None)
        status = getattr(exc, ANSWER_STATUS, None)
        raise ExchangeUnavailableError(
            f"{what}: {_short(exc)}",
            kind=reasons.REASON_RATE_LIMITED,
            retry_after=parse_retry_after(header(answer, "Retry-After")),
            http_status=status if isinstance(status, int) else None,
        ) from exc
    except ccxt.NetworkError as exc:  # ExchangeNotAvailable (5xx, refused), OnMaintenance, ...
        raise ExchangeUnavailableError(f"{what}: {_short(exc)}", kind=reasons.REASON_UNAVAILABLE) from exc
    except ccxt.BadSymbol as exc:
        raise ExchangeDataError(f"{what}: {_short(exc)}", kind=reasons.REASON_BAD_SYMBOL) from exc
    except ccxt.BadResponse as exc:  # NullResponse included
        raise ExchangeDataError(f"{what}: {_short(exc)}", kind=reasons.REASON_JUNK) from exc
    except ccxt.OperationFailed as exc:  # any other transient class ccxt may add
        raise ExchangeUnavailableError(f"{what}: {_short(exc)}", kind=reasons.REASON_UNAVAILABLE) from exc
    except ccxt.BaseError as exc:  # ExchangeError and the rest: a refusal we do not retry
        raise ExchangeDataError(f"{what}: {_short(exc)}", kind=reasons.REASON_EXCHANGE_ERROR) from exc
    except (TypeError, KeyError, IndexError, AttributeError, ValueError, ZeroDivisionError) as exc:
        # ccxt's parsers index into whatever JSON arrived; a malformed body surfaces as a
        # plain Python error from inside the call. Nothing else runs in this block.
        raise ExchangeDataError(
            f"{what}: unparseable response ({_short(exc)})", kind=reasons.REASON_JUNK
        ) from exc
