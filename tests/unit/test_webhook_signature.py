"""Webhook signatures: what a receiver computes, and what it must refuse."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from bot.core.webhook_signature import header_value, signature, verify

BODY = b'{"kind":"alert","symbol":"BTCUSDT"}'
T = 1_764_850_000


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # What a receiver writes with nothing but the standard library.
    expected = hmac.new(b"s3cret", f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature("s3cret", T, BODY) == expected
    assert header_value("s3cret", T, BODY) == f"t={T},v1={expected}"


def test_a_valid_header_verifies_within_the_tolerance() -> None:
    header = header_value("s3cret", T, BODY)
    assert verify("s3cret", header, BODY, now=T + 299)
    assert not verify("s3cret", header, BODY, now=T + 301)  # a replay five minutes later


def test_wrong_secret_changed_body_or_changed_time_is_refused() -> None:
    header = header_value("s3cret", T, BODY)
    assert not verify("other", header, BODY, now=T)
    assert not verify("s3cret", header, BODY + b" ", now=T)
    forged = header.replace(f"t={T}", f"t={T + 1}")
    assert not verify("s3cret", forged, BODY, now=T)


def test_malformed_headers_are_not_valid() -> None:
    good = signature("s3cret", T, BODY)
    for header in [
        "",
        "v1=" + good,
        f"t=abc,v1={good}",
        f"t={T},t={T},v1={good}",
        f"t=-{T},v1={good}",
        "garbage",
    ]:
        assert not verify("s3cret", header, BODY, now=T)


@given(st.binary(max_size=2000), st.text(min_size=1, max_size=64), st.integers(0, 10**12 - 1))
def test_every_signed_body_verifies_and_a_flipped_byte_does_not(body: bytes, secret: str, t: int) -> None:
    header = header_value(secret, t, body)
    assert verify(secret, header, body, now=t)
    if body:
        flipped = bytes([body[0] ^ 1]) + body[1:]
        assert not verify(secret, header, flipped, now=t)
