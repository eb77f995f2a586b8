"""Fan-out: which chats hear about which events, batched one message per chat per cycle.

A chat hears an event when all of these hold:

* the chat is enabled and its alerts are on;
* it wants the event's kind;
* the event concerns a band at or above the chat's minimum (for a cooling, the band it
  cooled *from*: "BTC left stressed" matters to a chat that only follows stressed);
* the event's venue (``exchange``: a venue's ccxt id, or ``all`` for the cross-venue
  aggregate) is one the chat follows (``ChatSettings.alert_venues``; with several venues
  ``plan_fanout`` reads it with ``followed_venues``: the aggregate for chats that chose none). Every
  cycle (each venue's and the aggregate's) fans its own events out, so a chat following the
  aggregate hears one story per asset, not one per venue;
* the symbol is on its watchlist, when the chat is watchlist-only;
* it is not inside the chat's quiet hours (in the chat's own timezone). Alerts that fall
  in quiet hours are dropped, not queued: they would be stale by morning, and the digest
  covers the night.

Each chat gets at most ``daily_cap`` events per chat-local day; the message that reaches the
cap says how many more were suppressed instead of going silent, and counts as one more, so
the rest of that day stays quiet until local midnight.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.aggregate import AGGREGATE_EXCHANGE
from bot.core.events import AlertEvent
from bot.core.models import Band
from bot.core.records import Chat, ChatSettings

DEFAULT_DAILY_CAP = 50


@dataclass(frozen=True, slots=True)
class Audience:
    """A chat as the fan-out sees it.

    Attributes:
        chat / settings: the chat and its preferences.
        watchlist: symbols on its watchlist (for watchlist-only chats).
        alerts_today: events already sent to it since its local midnight.
    """

    chat: Chat
    settings: ChatSettings
    watchlist: frozenset[str]
    alerts_today: int


@dataclass(frozen=True, slots=True)
class AlertBatch:
    """One chat's message for one cycle: its events ranked by score, and what the cap held back."""

    chat: Chat
    events: tuple[AlertEvent, ...]
    suppressed: int
    idempotency_key: str

    @property
    def counted(self) -> int:
        """What this batch adds to the chat's daily count; the cap notice counts as one."""
        return len(self.events) + (1 if self.suppressed else 0)


def zone(name: str) -> ZoneInfo:
    """The chat's timezone; an unknown name falls back to UTC rather than losing alerts."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_midnight(now: datetime, tz_name: str) -> datetime:
    """The start of the chat-local day containing ``now``, as an aware datetime."""
    local = now.astimezone(zone(tz_name))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def in_quiet_hours(settings: ChatSettings, tz_name: str, now: datetime) -> bool:
    """Is ``now`` inside the chat's quiet window (which may wrap midnight)?"""
    start, end = settings.quiet_start, settings.quiet_end
    if start is None or end is None or start == end:
        return False
    local: time = now.astimezone(zone(tz_name)).time().replace(tzinfo=None)
    if start < end:
        return start <= local < end
    return local >= start or local < end


def relevant_band(event: AlertEvent) -> Band:
    """The band an event is about: the higher of before and after."""
    return max(event.old_band, event.new_band, key=lambda b: b.rank)


def wants(audience: Audience, event: AlertEvent, venues: frozenset[str] | None = None) -> bool:
    """Does this chat's configuration ask for this event (quiet hours aside)?

    ``venues``: the venues the chat follows (``followed_venues``); ``None``, its stored choice.
    """
    s = audience.settings
    if not (audience.chat.enabled and s.alerts_enabled):
        return False
    if event.kind.value not in {k.value for k in s.event_kinds}:
        return False
    followed = s.alert_venues if venues is None else venues
    if followed and event.exchange not in followed:
        return False
    if relevant_band(event).rank < s.min_band.rank:
        return False
    return not (s.watchlist_only and event.symbol not in audience.watchlist)


def idempotency_key(chat: Chat, events: Sequence[AlertEvent]) -> str:
    """Same chat + same events → same key, so re-enqueueing after a crash is a no-op."""
    digest = hashlib.sha256("\n".join(sorted(e.event_id for e in events)).encode()).hexdigest()[:24]
    return f"alert:{chat.ref}:{digest}"


def plan_fanout(
    events: Sequence[AlertEvent],
    audiences: Sequence[Audience],
    now: datetime,
    daily_cap: int = DEFAULT_DAILY_CAP,
    *,
    venues: Sequence[str] = (),
) -> list[AlertBatch]:
    """Decide every chat's message for this cycle.

    Args:
        events: this cycle's events.
        audiences: every chat that might hear them.
        now: the cycle time (aware UTC), for quiet hours.
        daily_cap: most events per chat per local day.
        venues: with several venues, every venue collected and the aggregate: each chat
            hears the venues ``followed_venues`` gives it (the aggregate when it chose
            none), so a chat following the aggregate hears one story per asset, not one
            per venue. Empty (one venue): a chat that chose no venue hears every event.

    Returns:
        One batch per chat that has something to hear, events ranked by score (highest
        first). The batch that reaches the cap carries the count of what it held back.
    """
    ranked = sorted(events, key=lambda e: (-e.after.score, e.symbol, e.kind.value))
    batches: list[AlertBatch] = []
    for audience in audiences:
        if in_quiet_hours(audience.settings, audience.chat.timezone, now):
            continue
        followed = followed_venues(audience.settings, venues, AGGREGATE_EXCHANGE) if venues else None
        wanted = [e for e in ranked if wants(audience, e, followed)]
        if not wanted:
            continue
        room = daily_cap - audience.alerts_today
        if room <= 0:
            continue  # the cap was reached earlier today and that message said so
        shown = wanted[:room]
        held = len(wanted) - len(shown)
        batches.append(
            AlertBatch(
                chat=audience.chat,
                events=tuple(shown),
                suppressed=held,
                idempotency_key=idempotency_key(audience.chat, wanted),
            )
        )
    return batches


def followed_venues(settings: ChatSettings, configured: Sequence[str], default: str) -> frozenset[str]:
    """The venues a chat hears: its choice among ``configured``, else ``default``.

    A choice naming only venues no longer collected (``EXCHANGES`` changed) falls back to
    the default rather than leaving the chat silent.
    """
    chosen = settings.alert_venues & frozenset(configured)
    return chosen or frozenset({default})
