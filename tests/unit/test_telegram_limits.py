"""The Telegram pacing's worst cases stay inside Telegram's flood limits.

A leaky bucket of capacity ``c`` draining ``r`` a second admits at most ``c + r·w`` in any
``w`` seconds; the limits are those of Telegram's Bot FAQ (and of the fake Bot API, whose
contract tests show it refusing the excess). Timing the buckets for real would take
minutes per group, so their sizes are checked here and their effect end to end in
``tests/contract/test_telegram_adapter.py``.
"""

from __future__ import annotations

from telegram.constants import FloodLimit

from bot.chat import telegram_limits as limits
from tests.fakes.telegram_api import FloodLimits


def worst(capacity: float, per_second: float, window: float) -> float:
    return capacity + per_second * window


def test_a_group_never_gets_more_than_twenty_in_a_minute() -> None:
    most = worst(limits.GROUP_BURST, limits.GROUP_PER_MINUTE / 60, 60)
    assert most <= FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP == 20
    assert limits.GROUP_PER_MINUTE >= 15  # yet a group is not starved


def test_all_chats_together_never_get_more_than_thirty_in_a_second() -> None:
    assert worst(1, limits.BROADCAST_PER_SECOND, 1) <= FloodLimit.MESSAGES_PER_SECOND == 30


def test_one_chat_stays_inside_the_burst_telegram_tolerates() -> None:
    fake = FloodLimits()
    assert limits.CHAT_PER_SECOND <= FloodLimit.MESSAGES_PER_SECOND_PER_CHAT == 1
    assert fake.per_chat_burst > limits.CHAT_BURST  # room for requests bunching in transit
