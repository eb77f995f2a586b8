"""Pacing sends to Telegram's flood limits, so the bot does not collect 429s.

Telegram's Bot FAQ: about 30 messages a second in all, at most 20 a minute in one group,
and in one chat no more than one a second ("short bursts" tolerated). PTB's
``AIORateLimiter`` covers the first two with leaky buckets; this adds the per-chat pace and
sizes every bucket so that even its worst case stays inside the limit: a leaky bucket of
capacity ``c`` draining ``r`` per second lets ``c + r·w`` through in any ``w`` seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.ext import AIORateLimiter

BROADCAST_PER_SECOND = 29
"""Just under Telegram's 30 messages/s. Spaced evenly (a bucket of one): 1 + 29·1 = 30 in
any second. A burst of 30 followed by the steady rate would put up to 60 into one second."""

GROUP_BURST = 4
GROUP_PER_MINUTE = 15
"""Per group: 4 at once, then 15 a minute, so at most 4 + 15 = 19 in any minute (Telegram
allows 20). A bucket of 20 refilled at 20 a minute would let 40 through in one."""

CHAT_BURST = 3
CHAT_PER_SECOND = 1.0
"""Per chat: a reply in up to three parts goes at once; more than that, one a second."""

_Callback = Callable[..., Coroutine[Any, Any, Any]]


class TelegramRateLimiter(AIORateLimiter):
    """PTB's limiter (overall and per group) with a per-chat pace on sends in front of it.

    The per-chat bucket is taken first, so a message waiting for its chat's turn does not
    hold a slot of the overall or group budget meanwhile.
    """

    def __init__(
        self,
        *,
        chat_burst: int = CHAT_BURST,
        chat_per_second: float = CHAT_PER_SECOND,
        **limits: Any,
    ) -> None:
        super().__init__(**limits)
        self._chat_burst = chat_burst
        self._chat_period = chat_burst / chat_per_second if chat_per_second else 0.0
        self._chats: dict[str, AsyncLimiter] = {}

    def _chat_limiter(self, chat: str) -> AsyncLimiter:
        if len(self._chats) > 1024:  # forget chats whose bucket has drained
            for key, limiter in list(self._chats.items()):
                if key != chat and limiter.has_capacity(limiter.max_rate):
                    del self._chats[key]
        if chat not in self._chats:
            self._chats[chat] = AsyncLimiter(self._chat_burst, self._chat_period)
        return self._chats[chat]

    async def process_request(
        self,
        callback: _Callback,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        chat = data.get("chat_id")
        # Telegram's per-chat limit is on messages; chat actions and lookups are not paced.
        if chat is not None and self._chat_period and _is_message(endpoint):
            await self._chat_limiter(str(chat)).acquire()
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


def _is_message(endpoint: str) -> bool:
    return endpoint.startswith(("send", "copyMessage", "forwardMessage")) and endpoint != "sendChatAction"


def broadcast_limiter(
    per_second: float = BROADCAST_PER_SECOND, *, max_retries: int = 1
) -> TelegramRateLimiter:
    """The bot's limiter: ``per_second`` overall, the group and chat paces above.

    ``max_retries`` 429s are waited out by the limiter itself (pausing every request
    meanwhile, as Telegram asks); the next goes back to the outbox as a retry.
    """
    return TelegramRateLimiter(
        overall_max_rate=1,
        overall_time_period=1 / per_second,
        group_max_rate=GROUP_BURST,
        group_time_period=60 * GROUP_BURST / GROUP_PER_MINUTE,
        max_retries=max_retries,
    )


__all__ = [
    "BROADCAST_PER_SECOND",
    "CHAT_BURST",
    "GROUP_BURST",
    "GROUP_PER_MINUTE",
    "TelegramRateLimiter",
    "broadcast_limiter",
]
