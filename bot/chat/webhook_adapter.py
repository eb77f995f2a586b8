"""Webhooks, the third kind of chat: each outbox message POSTed, signed, to the operator's URL.

The body is the message document's JSON form (``bot.chat.webhook_body``); the request
carries ``X-DPS-Signature`` (``bot.core.webhook_signature``) and the outbox entry's
idempotency key in ``X-DPS-Delivery``, the same on every retry, so a receiver can drop a
repeat (a retry after a timeout may deliver a message twice). Outcomes match the other
sinks: 2xx is delivered; 429 (with its ``Retry-After``), 5xx, timeouts and network errors
are retried through the outbox with back-off; any other answer is a permanent failure of
that message, and after ``disable_after`` of those in a row the webhook is disabled.

The host is resolved and every address checked (``bot.core.webhook_targets``) at each
send, not only at ``dps webhook add``: a name can be pointed at another address later.
The request then goes to the address that was checked, not to a second lookup.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket

import httpx

from bot.app.off_loop import write_off_loop
from bot.chat.webhook_body import webhook_body
from bot.core import document as doc_json
from bot.core.document import Document
from bot.core.records import ChatKey, Platform
from bot.core.send_outcome import ChatGone, PartAccepted, Rejected, RetryAfter, SendOutcome, Sent, Transient
from bot.core.webhook_records import WebhookEndpoint
from bot.core.webhook_signature import HEADER, header_value
from bot.core.webhook_targets import Target, TargetError, parse_target, refused_address
from bot.ports import Clock, WebhookStore

logger = logging.getLogger(__name__)

DELIVERY_HEADER = "X-DPS-Delivery"
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_DISABLE_AFTER = 5
MAX_RETRY_AFTER_S = 3600.0


async def checked_addresses(target: Target, *, allow_private: bool) -> list[str]:
    """Every address ``target``'s host resolves to, each allowed by ``refused_address``.

    Raises:
        TargetError: the host does not resolve, or one of its addresses is refused (one bad
            address is enough: the connection could go to any of them).
    """
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM
        )
    except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
        raise TargetError(f"{target.host} does not resolve: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise TargetError(f"{target.host} does not resolve")
    for address in addresses:
        why = refused_address(address, allow_private=allow_private)
        if why is not None:
            raise TargetError(why if address == target.host else f"{target.host}: {why}")
    return addresses


async def check_url(url: str, *, allow_private: bool) -> Target:
    """The parsed ``url`` after its form and every address of its host were checked.

    Raises:
        TargetError: why the bot will not POST there.
    """
    target = parse_target(url)
    await checked_addresses(target, allow_private=allow_private)
    return target


def _retry_after(response: httpx.Response) -> float | None:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return min(seconds, MAX_RETRY_AFTER_S) if seconds >= 0 else None


def _content_key(chat: ChatKey, document: Document, attachment: bytes | None) -> str:
    digest = hashlib.sha256(f"{chat.chat_id}\n{doc_json.to_json(document)}".encode())
    digest.update(attachment or b"")
    return f"content-{digest.hexdigest()[:32]}"


class WebhookSink:
    """``bot.ports.KeyedSink`` for the ``webhook`` platform (no commands come in).

    Args:
        store: the webhooks' URLs, secrets and failure counts.
        clock: the signature's timestamp.
        allow_private: POST to private, loopback and link-local addresses too
            (``WEBHOOK_ALLOW_PRIVATE``).
        timeout_s: per request; a timeout is retried.
        disable_after: permanent failures in a row before the webhook is disabled.
        user_agent: the ``User-Agent`` header.
    """

    platform = Platform.WEBHOOK

    def __init__(
        self,
        store: WebhookStore,
        clock: Clock,
        *,
        allow_private: bool = False,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        disable_after: int = DEFAULT_DISABLE_AFTER,
        user_agent: str = "dps-webhook",
    ) -> None:
        self._store = store
        self._clock = clock
        self._allow_private = allow_private
        self._disable_after = disable_after
        self._user_agent = user_agent
        # No proxy from the environment: the request must reach the address that was checked.
        self._client = httpx.AsyncClient(timeout=timeout_s, trust_env=False, follow_redirects=False)

    async def send(
        self,
        chat: ChatKey,
        document: Document,
        attachment: bytes | None = None,
        *,
        start: int = 0,
        on_part: PartAccepted | None = None,
    ) -> SendOutcome:
        """``send_keyed`` under a key made from the message itself, for a caller without one."""
        key = _content_key(chat, document, attachment)
        return await self.send_keyed(key, chat, document, attachment, start=start, on_part=on_part)

    async def send_keyed(
        self,
        key: str,
        chat: ChatKey,
        document: Document,
        attachment: bytes | None = None,
        *,
        start: int = 0,
        on_part: PartAccepted | None = None,
    ) -> SendOutcome:
        """POST the message (one part: the document with its chart) to the chat's webhook."""
        if start >= 1:
            return Sent()  # the one part was accepted before a crash stored it as sent
        endpoint = self._store.webhook(chat.chat_id)
        if endpoint is None:
            return ChatGone(error="webhook removed")
        try:
            target = parse_target(endpoint.url)
            address = (await checked_addresses(target, allow_private=self._allow_private))[0]
        except TargetError as exc:
            return await self._permanent(endpoint, f"refused target: {exc}")
        now = self._clock.now()
        body = webhook_body(key, document, attachment, now)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
            HEADER: header_value(endpoint.secret, int(now.timestamp()), body),
            DELIVERY_HEADER: key,
            "Host": _host_header(target),
        }
        url = httpx.URL(target.url).copy_with(host=address)
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            response = await self._client.post(url, content=body, headers=headers, extensions=extensions)
        except httpx.TimeoutException:
            return Transient(error="webhook timed out")
        except httpx.HTTPError as exc:
            return Transient(error=f"webhook unreachable: {type(exc).__name__}")
        return await self._outcome(endpoint, response, on_part)

    async def _outcome(
        self, endpoint: WebhookEndpoint, response: httpx.Response, on_part: PartAccepted | None
    ) -> SendOutcome:
        status = response.status_code
        if 200 <= status < 300:
            if on_part is not None:
                await on_part(1)
            if endpoint.failures:
                await write_off_loop(None, self._store.record_delivery, endpoint.chat_ref)
            return Sent()
        if status == 429:
            wait = _retry_after(response)
            return RetryAfter(seconds=wait) if wait is not None else Transient(error="webhook answered 429")
        if status >= 500:
            return Transient(error=f"webhook answered {status}")
        return await self._permanent(endpoint, f"webhook answered {status}")

    async def _permanent(self, endpoint: WebhookEndpoint, error: str) -> SendOutcome:
        # Off the event loop: the write may wait for the database (``write_off_loop``).
        failures = await write_off_loop(None, self._store.record_failure, endpoint.chat_ref)
        # The id and the error only: the URL's path may itself hold a token, and the secret never shows.
        logger.warning(
            "webhook %s failed for good (%s): %d permanent failures in a row",
            endpoint.webhook_id,
            error,
            failures,
        )
        if failures >= self._disable_after:
            return ChatGone(error=f"{failures} permanent failures in a row, the last: {error}")
        return Rejected(error=error)

    async def close(self) -> None:
        """Close the HTTP connections; safe to call twice."""
        await self._client.aclose()


def _host_header(target: Target) -> str:
    default = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default else f"{host}:{target.port}"
