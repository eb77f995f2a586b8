"""A webhook as the stores hand it over: where it POSTs, its secret, its failure record.

Pure and standard-library only. A webhook is also a chat (platform ``webhook``): its
settings and watchlist live with the chat, so the fan-out and the digest treat it like
any other; this record holds only what a chat platform would have kept itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.core.records import require_aware


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """One webhook.

    Attributes:
        chat_ref: the store's id of its chat.
        webhook_id: its chat id on the ``webhook`` platform (what ``dps webhook remove`` takes).
        url: where messages are POSTed.
        secret: the HMAC key of the signature header; never shown or logged after ``add``.
        failures: permanent failures in a row (a delivery resets it).
        enabled: False once disabled after repeated permanent failures.
    """

    chat_ref: int
    webhook_id: str
    url: str
    secret: str = field(repr=False)
    failures: int
    enabled: bool
    created_at: datetime

    def __post_init__(self) -> None:
        require_aware("WebhookEndpoint.created_at", self.created_at)
