"""Which webhook URLs the bot may POST to.

A webhook URL comes from whoever runs ``dps webhook add``; a bot that POSTs wherever it is
told can be turned against the network it runs in (a cloud metadata address, a database
on localhost). So the URL must be plain http(s) with a host and no credentials, and every
address its host resolves to must be public: private, loopback, link-local, multicast,
reserved and unspecified addresses are refused unless the operator allows private targets
(``WEBHOOK_ALLOW_PRIVATE``). Resolving the host is the adapter's job; it checks every
address here and connects only to one it checked. Pure and standard-library only.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_CHARS = 2048


@dataclass(frozen=True, slots=True)
class Target:
    """A webhook URL's parts the sender needs."""

    url: str
    scheme: str
    host: str
    port: int


class TargetError(ValueError):
    """A webhook URL the bot will not POST to; the message says why."""


def parse_target(url: str) -> Target:
    """Check the form of a webhook URL.

    Raises:
        TargetError: not http(s), no host, credentials in it, a bad port, or too long.
    """
    text = url.strip()
    if len(text) > MAX_URL_CHARS:
        raise TargetError(f"the URL is longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetError("the URL must start with https:// (or http://)")
    if not parts.hostname:
        raise TargetError("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetError("the URL must not carry a user name or password; use --secret to sign instead")
    if parts.fragment:
        raise TargetError("the URL must not have a #fragment")
    return Target(
        url=text,
        scheme=parts.scheme,
        host=parts.hostname,
        port=port if port is not None else (443 if parts.scheme == "https" else 80),
    )


def refused_address(address: str, *, allow_private: bool = False) -> str | None:
    """Why the bot must not connect to ``address`` (an IP literal), or ``None`` when it may."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if ip.is_unspecified or ip.is_multicast:
        return f"{ip} is not a host address"
    if allow_private:
        return None
    for refused, what in (
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        (not ip.is_global, "not public"),
    ):
        if refused:
            return f"{ip} is a {what} address (set WEBHOOK_ALLOW_PRIVATE=1 to allow it)"
    return None
