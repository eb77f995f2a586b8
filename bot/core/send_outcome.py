"""What a chat sink reports after trying to send one message, and how it reports progress.

Each chat adapter maps its library's faults onto these outcomes; the delivery job turns
them into outbox updates. Nothing here knows any chat library.

One message can take several platform calls (*parts*: a long text in pieces, then its
chart). A sink numbers the parts from 0 by a split that depends on the payload and
attachment only, so the same message always has the same parts; it starts at the part it
is told to resume at and reports each part the platform accepted (``PartAccepted``), so a
retry after a failure on part 3 does not send parts 1 and 2 again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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


PartAccepted = Callable[[int], Awaitable[None]]
"""Awaited by a sink after each part the platform accepted, with the number of parts of the
message accepted so far (parts before the resume point included), before the next part
goes out. If it raises (the progress could not be stored), the sink stops and lets the
exception through. A coroutine, so storing the progress waits off the event loop."""
