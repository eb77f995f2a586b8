"""Webhook URLs: their form, and the addresses the bot refuses to POST to."""

from __future__ import annotations

import pytest

from bot.core.webhook_targets import Target, TargetError, parse_target, refused_address


def test_a_plain_https_url_is_accepted_with_its_default_port() -> None:
    assert parse_target(" https://hooks.example.com/dps?x=1 ") == Target(
        "https://hooks.example.com/dps?x=1", "https", "hooks.example.com", 443
    )
    assert parse_target("http://127.0.0.1:8081/hook").port == 8081


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com/x", "https://"),
        ("file:///etc/passwd", "https://"),
        ("https:///nohost", "no host"),
        ("https://user:pw@example.com/", "user name"),
        ("https://example.com:99999/", "not a URL"),
        ("https://example.com/#frag", "fragment"),
        ("https://example.com/" + "a" * 2100, "longer"),
        ("javascript:alert(1)", "https://"),
    ],
)
def test_urls_of_the_wrong_form_are_refused_with_the_reason(url: str, says: str) -> None:
    with pytest.raises(TargetError, match=says):
        parse_target(url)


@pytest.mark.parametrize(
    ("address", "what"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1%eth0", "link-local"),
        ("fd00::1", "private"),
        ("100.64.0.1", "not public"),  # carrier-grade NAT
        ("240.0.0.1", "reserved"),
    ],
)
def test_non_public_addresses_are_refused_unless_allowed(address: str, what: str) -> None:
    reason = refused_address(address)
    assert reason is not None and what in reason and "WEBHOOK_ALLOW_PRIVATE" in reason
    assert refused_address(address, allow_private=True) is None


@pytest.mark.parametrize(
    "address",
    [
        "0.0.0.0",  # noqa: S104 (an address refused, not one bound)
        "::",
        "224.0.0.1",
        "ff02::1",
        "example.com",
    ],
)
def test_addresses_that_are_no_host_are_refused_even_when_private_is_allowed(address: str) -> None:
    assert refused_address(address, allow_private=True) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refused_address(address) is None
