"""ccxt exceptions → the project's error tree, in one context manager; URL override rules."""

from __future__ import annotations

from datetime import UTC, datetime

import ccxt
import pytest

from bot.collector.client import redacted, rewrite_api_urls
from bot.collector.errors import (
    ANSWER_HEADERS,
    ANSWER_STATUS,
    ExchangeUnavailableError,
    parse_retry_after,
    translate_ccxt_errors,
)
from bot.core import collection as reasons
from bot.errors import SourceDataError, SourceUnavailableError


@pytest.mark.parametrize(
    ("raised", "expected", "kind"),
    [
        (ccxt.RequestTimeout, SourceUnavailableError, reasons.REASON_TIMEOUT),
        (ccxt.DDoSProtection, SourceUnavailableError, reasons.REASON_RATE_LIMITED),
        (ccxt.RateLimitExceeded, SourceUnavailableError, reasons.REASON_RATE_LIMITED),
        (ccxt.ExchangeNotAvailable, SourceUnavailableError, reasons.REASON_UNAVAILABLE),
        (ccxt.OnMaintenance, SourceUnavailableError, reasons.REASON_UNAVAILABLE),
        (ccxt.NetworkError, SourceUnavailableError, reasons.REASON_UNAVAILABLE),
        (ccxt.BadSymbol, SourceDataError, reasons.REASON_BAD_SYMBOL),
        (ccxt.BadResponse, SourceDataError, reasons.REASON_JUNK),
        (ccxt.NullResponse, SourceDataError, reasons.REASON_JUNK),
        (ccxt.BadRequest, SourceDataError, reasons.REASON_EXCHANGE_ERROR),
        (ccxt.ExchangeError, SourceDataError, reasons.REASON_EXCHANGE_ERROR),
        (ccxt.NotSupported, SourceDataError, reasons.REASON_EXCHANGE_ERROR),
        (TypeError, SourceDataError, reasons.REASON_JUNK),
        (KeyError, SourceDataError, reasons.REASON_JUNK),
    ],
)
def test_each_ccxt_error_class_maps_to_one_project_error(
    raised: type[Exception], expected: type[Exception], kind: str
) -> None:
    original = raised("binanceusdm GET https://fapi.binance.com/fapi/v1/openInterest 503")
    with pytest.raises(expected) as caught, translate_ccxt_errors("openInterest BTCUSDT"):
        raise original
    assert caught.value.__cause__ is original
    assert getattr(caught.value, "kind", None) == kind
    assert "openInterest BTCUSDT" in str(caught.value)


def test_rate_limit_carries_retry_after_from_the_response_headers() -> None:
    headers = {"retry-after": "7", "X-MBX-USED-WEIGHT-1M": "2401"}  # any case
    with pytest.raises(ExchangeUnavailableError) as caught, translate_ccxt_errors("x", lambda: headers):
        raise ccxt.DDoSProtection("binanceusdm 429 Too Many Requests")
    assert caught.value.rate_limited
    assert caught.value.retry_after == 7.0


def test_rate_limit_reads_the_headers_of_its_own_answer() -> None:
    # Our ccxt subclass tags the exception with its answer (client._gated_class); ccxt's
    # last_response_headers may already hold a concurrent request's answer by then.
    exc = ccxt.DDoSProtection("binanceusdm GET .../openInterest 418")
    setattr(exc, ANSWER_STATUS, 418)
    setattr(exc, ANSWER_HEADERS, {"Retry-After": "7200"})
    someone_elses = {"X-MBX-USED-WEIGHT-1M": "12"}
    with pytest.raises(ExchangeUnavailableError) as caught, translate_ccxt_errors("x", lambda: someone_elses):
        raise exc
    assert caught.value.retry_after == 7200.0
    assert caught.value.http_status == 418


def test_rate_limit_without_retry_after_leaves_it_unknown() -> None:
    with pytest.raises(ExchangeUnavailableError) as caught, translate_ccxt_errors("x", lambda: None):
        raise ccxt.RateLimitExceeded("bybit 10006 Too many visits!")
    assert caught.value.retry_after is None


def test_errors_from_outside_ccxt_pass_through() -> None:
    with pytest.raises(RuntimeError), translate_ccxt_errors("x"):
        raise RuntimeError("a bug of ours stays a bug")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("120", 120.0), (" 1.5 ", 1.5), ("-3", 0.0), ("soon", None), (None, None), ("nan", None)],
)
def test_retry_after_delta_seconds(value: object, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 25 Nov 2026 12:02:00 GMT", now) == 120.0


def test_api_url_replaces_scheme_and_host_of_every_endpoint() -> None:
    urls = {
        "fapiPublic": "https://fapi.binance.com/fapi/v1",
        "fapiData": "https://fapi.binance.com/futures/data",
        "public": "https://api.{hostname}",
        "nested": {"rest": "https://{hostname}"},
    }
    assert rewrite_api_urls(urls, "http://127.0.0.1:8080") == {
        "fapiPublic": "http://127.0.0.1:8080/fapi/v1",
        "fapiData": "http://127.0.0.1:8080/futures/data",
        "public": "http://127.0.0.1:8080",
        "nested": {"rest": "http://127.0.0.1:8080"},
    }
    assert rewrite_api_urls(urls["fapiPublic"], "https://proxy.example/binance/") == (
        "https://proxy.example/binance/fapi/v1"
    )


def test_logged_url_never_shows_credentials() -> None:
    assert redacted("https://user:s3cret@proxy.example:8443/binance") == "https://proxy.example:8443"
