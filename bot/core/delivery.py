"""What a chat sink reports after trying to send one message.

Each chat adapter maps its library's faults onto these outcomes; the delivery job turns
them into outbox updates. Nothing here knows any chat library.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.records import ChatKey


@dataclass(frozen=True, slots=True)
class Sent:
    """Delivered."""


@dataclass(frozen=True, slots=True)
class RetryAfter:
    """The platform asked us to wait (rate limit); not the message's fault."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Transient:
    """A network or server error; retry with back-off."""

    error: str


@dataclass(frozen=True, slots=True)
class ChatGone:
    """The bot was blocked, kicked, or the channel deleted: disable the chat, stop sending."""

    error: str


@dataclass(frozen=True, slots=True)
class ChatMoved:
    """The chat has a new address (Telegram group → supergroup); resend there."""

    new_key: ChatKey


@dataclass(frozen=True, slots=True)
class Rejected:
    """The platform refused this message for good (after any fallback the adapter tried)."""

    error: str


SendOutcome = Sent | RetryAfter | Transient | ChatGone | ChatMoved | Rejected
