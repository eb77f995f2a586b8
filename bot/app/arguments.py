"""Parse and validate command arguments before anything is read or written.

Every parser is pure and raises ``InputError`` with a message that is safe to show; the
command layer only touches a store once the whole argument text has parsed.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import time, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

from bot.core.aggregate import AGGREGATE_EXCHANGE
from bot.core.aggregate_card import VENUE_NAMES
from bot.core.events import EventKind
from bot.core.models import Band
from bot.errors import InputError

MAX_ARG_CHARS = 500
MAX_SYMBOLS_PER_COMMAND = 20
TOP_DEFAULT = 10
TOP_MAX = 50
ECHO_CHARS = 32

CHART_WINDOWS: dict[str, tuple[str, timedelta]] = {
    "24h": ("24h", timedelta(hours=24)),
    "1d": ("24h", timedelta(hours=24)),
    "7d": ("7d", timedelta(days=7)),
    "1w": ("7d", timedelta(days=7)),
}
CHART_WINDOW_CHOICES = ("24h", "7d")
"""The windows menus offer (``CHART_WINDOWS`` also takes their aliases)."""

_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_NUMBER = re.compile(r"[0-9]{1,9}")
# Categories that never belong in an argument: controls, formatting (bidi overrides,
# zero-width), surrogates, private use and unassigned code points.
_FORBIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def echo(text: str, limit: int = ECHO_CHARS) -> str:
    """User text made safe to quote back: printable characters only, shortened."""
    shown = "".join(ch for ch in text if ch.isprintable())
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def check_text(args: str) -> str:
    """The argument text, if it is short plain text; whitespace runs count as separators."""
    if len(args) > MAX_ARG_CHARS:
        raise InputError(
            f"That is too much text ({len(args):,} characters): commands take at most "
            f"{MAX_ARG_CHARS} characters of arguments."
        )
    if any(unicodedata.category(ch) in _FORBIDDEN for ch in args if ch not in "\t\n\r"):
        raise InputError("Arguments must be plain printable text (no control or formatting characters).")
    return args.strip()


def words(args: str) -> list[str]:
    """Whitespace- and comma-separated words."""
    return [w for w in re.split(r"[\s,]+", args) if w]


def symbol_words(args: str, usage: str) -> list[str]:
    """The symbols of ``/watch`` and friends: at least one, at most ``MAX_SYMBOLS_PER_COMMAND``."""
    found = list(dict.fromkeys(words(args)))
    if not found:
        raise InputError(f"Usage: {usage}")
    if len(found) > MAX_SYMBOLS_PER_COMMAND:
        raise InputError(
            f"That is {len(found):,} symbols; send at most {MAX_SYMBOLS_PER_COMMAND} in one command."
        )
    return found


class TopFilter(StrEnum):
    """The optional filter of ``/top``."""

    LONG = "long"
    SHORT = "short"
    SQUEEZE = "squeeze"


TOP_FILTER_LABELS = {
    TopFilter.LONG: "long bias",
    TopFilter.SHORT: "short bias",
    TopFilter.SQUEEZE: "squeeze risk",
}
"""How menus name each filter."""


AGGREGATE_WORDS = frozenset({AGGREGATE_EXCHANGE, "aggregate"})
"""What people type for the cross-venue aggregate (``all``)."""


def venue_names(venues: Sequence[str]) -> str:
    """The venues a command may name, for messages: ``all, binanceusdm, bybit, okx``."""
    shown = (AGGREGATE_EXCHANGE, *venues) if len(venues) > 1 else tuple(venues)
    return ", ".join(shown)


def find_venue(word: str, venues: Sequence[str]) -> str | None:
    """The venue ``word`` names among ``venues`` (ccxt id or common name, any case), or
    ``all`` for the aggregate when there are several; ``None`` when it names none of them."""
    low = word.lower()
    if low in AGGREGATE_WORDS and len(venues) > 1:
        return AGGREGATE_EXCHANGE
    for venue in venues:
        if low in (venue.lower(), VENUE_NAMES.get(venue, venue).lower()):
            return venue
    return None


def _looks_like_venue(word: str) -> bool:
    # A known venue's name or the aggregate's: the answer then lists the configured venues.
    low = word.lower()
    return low in AGGREGATE_WORDS or any(low in (v, n.lower()) for v, n in VENUE_NAMES.items())


def unknown_venue(word: str, venues: Sequence[str]) -> InputError:
    """The refusal of a venue this bot does not collect, listing the ones it does."""
    return InputError(f"{echo(word)!r} is not a venue here; the venues are: {venue_names(venues)}.")


@dataclass(frozen=True, slots=True)
class TopArgs:
    """``/top [N] [long|short|squeeze] [VENUE]``; ``capped`` says a larger N was asked for;
    ``venue`` is ``None`` for the default (the aggregate when there are several venues)."""

    limit: int = TOP_DEFAULT
    filter: TopFilter | None = None
    capped: bool = False
    venue: str | None = None


TOP_USAGE = f"/top [N] [long|short|squeeze] — N from 1 to {TOP_MAX}, e.g. /top 5 short"
TOP_VENUE_USAGE = f"/top [N] [long|short|squeeze] [VENUE] — N from 1 to {TOP_MAX}, e.g. /top 5 short bybit"


def parse_top(args: str, venues: Sequence[str] = ()) -> TopArgs:
    """Parse ``/top`` arguments in any order; a venue word names one of ``venues``."""
    usage = TOP_VENUE_USAGE if len(venues) > 1 else TOP_USAGE
    limit: int | None = None
    chosen: TopFilter | None = None
    venue: str | None = None
    capped = False
    for word in words(args):
        low = word.lower()
        if low in {f.value for f in TopFilter}:
            if chosen is not None:
                raise InputError(f"Pick one filter. Usage: {usage}")
            chosen = TopFilter(low)
        elif word.isascii() and word.isdigit() and limit is None:
            # Check the length first: int() of a huge digit string is slow or refused.
            digits = word.lstrip("0") or "0"
            number = int(digits) if _NUMBER.fullmatch(digits) else TOP_MAX + 1
            if number < 1:
                raise InputError(f"N must be from 1 to {TOP_MAX}. Usage: {usage}")
            capped = number > TOP_MAX
            limit = min(number, TOP_MAX)
        elif venue is None and (found := find_venue(word, venues)) is not None:
            venue = found
        elif venue is None and word.isalpha() and (len(venues) > 1 or _looks_like_venue(word)):
            raise unknown_venue(word, venues)
        else:
            raise InputError(f"I don't understand {echo(word)!r}. Usage: {usage}")
    return TopArgs(limit=limit or TOP_DEFAULT, filter=chosen, capped=capped, venue=venue)


@dataclass(frozen=True, slots=True)
class ChartArgs:
    """``/chart SYMBOL [VENUE] [24h|7d]``; ``venue`` ``None``: the default market."""

    symbol: str
    window_label: str
    window: timedelta
    venue: str | None = None


def parse_chart(args: str, venues: Sequence[str] = ()) -> ChartArgs:
    """``/chart SYMBOL [VENUE] [24h|7d]``, venue and window in either order."""
    parts = words(args)
    several = len(venues) > 1
    if not parts or len(parts) > (3 if several else 2):
        usage = (
            "/chart SYMBOL [VENUE] [24h|7d], e.g. /chart btc okx 7d"
            if several
            else "/chart SYMBOL [24h|7d], e.g. /chart btc 7d"
        )
        raise InputError(f"Usage: {usage}")
    window: tuple[str, timedelta] | None = None
    venue: str | None = None
    for word in parts[1:]:
        if window is None and (found := CHART_WINDOWS.get(word.lower())) is not None:
            window = found
        elif venue is None and (place := find_venue(word, venues)) is not None:
            venue = place
        elif venue is None and word.isalpha() and (several or _looks_like_venue(word)):
            raise unknown_venue(word, venues)
        else:
            raise InputError(f"The chart window is 24h or 7d, not {echo(word)!r}.")
    label, length = window or CHART_WINDOWS["24h"]
    return ChartArgs(parts[0], label, length, venue)


TRACK_USAGE = "/track [SYMBOL] — the whole market, or one symbol, e.g. /track btc"


def parse_track(args: str) -> str | None:
    """``/track [SYMBOL]`` → the symbol text, or ``None`` for the whole market."""
    parts = words(args)
    if len(parts) > 1:
        raise InputError(f"One symbol at most. Usage: {TRACK_USAGE}")
    return parts[0] if parts else None


def parse_clock(text: str) -> time:
    """``HH:MM`` (24-hour) as a wall-clock time."""
    match = _CLOCK.fullmatch(text)
    if match is None:
        raise InputError(f"{echo(text)!r} is not a time: use HH:MM, 24-hour, e.g. 08:00.")
    return time(int(match.group(1)), int(match.group(2)))


@cache
def _zones() -> Mapping[str, str]:
    """Every IANA zone name by its lower-case form (read once: it scans the tz database)."""
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def parse_timezone(text: str) -> str:
    """The IANA zone ``text`` names, any case (``europe/berlin`` → ``Europe/Berlin``)."""
    # Only names in the database: ZoneInfo() itself would also try paths and odd keys.
    found = _zones().get(text.lower()) if text.isascii() else None
    if found is None:
        raise InputError(f"{echo(text)!r} is not an IANA timezone; use a name like Europe/Berlin or UTC.")
    return found


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """A validated change to a chat's settings (and maybe its timezone), with what to say."""

    fields: Mapping[str, Any]  # ChatSettings field → new value, for dataclasses.replace
    message: str
    timezone: str | None = None


ALERTS_USAGE = (
    "/alerts on|off · /alerts min lean|stretched|stressed · "
    "/alerts kinds band_up,band_down,squeeze_risk,bias_flip|all · "
    "/alerts watchlist on|off · /alerts quiet HH:MM-HH:MM|off"
)
MIN_BANDS = (Band.LEAN, Band.STRETCHED, Band.STRESSED)
ALERTS_ACTIONS = ("on", "off", "min", "kinds", "watchlist", "quiet")
"""The first word of ``/alerts`` when it changes something."""


def _on_off(word: str, usage: str) -> bool:
    low = word.lower()
    if low not in ("on", "off"):
        raise InputError(f"Expected on or off, not {echo(word)!r}. Usage: {usage}")
    return low == "on"


def _kinds(parts: list[str]) -> frozenset[EventKind]:
    if [p.lower() for p in parts] == ["all"]:
        return frozenset(EventKind)
    kinds: set[EventKind] = set()
    for part in parts:
        value = part.lower().replace("-", "_")
        if value not in {k.value for k in EventKind}:
            names = ", ".join(k.value for k in EventKind)
            raise InputError(f"Unknown alert kind {echo(part)!r}; the kinds are {names} (or all).")
        kinds.add(EventKind(value))
    if not kinds:
        raise InputError(f"Name at least one kind, or use /alerts off. Usage: {ALERTS_USAGE}")
    return frozenset(kinds)


def _quiet(parts: list[str]) -> SettingsChange:
    if [p.lower() for p in parts] == ["off"]:
        return SettingsChange({"quiet_start": None, "quiet_end": None}, "Quiet hours are off.")
    spans = [t for p in parts for t in p.split("-") if t]
    if len(spans) != 2:
        raise InputError(
            "Usage: /alerts quiet HH:MM-HH:MM (chat-local, e.g. 22:00-07:00) or /alerts quiet off"
        )
    start, end = parse_clock(spans[0]), parse_clock(spans[1])
    if start == end:
        raise InputError("Quiet hours need a start and an end that differ.")
    return SettingsChange(
        {"quiet_start": start, "quiet_end": end},
        f"Quiet hours are {start:%H:%M}–{end:%H:%M}: alerts in that window are dropped.",
    )


def parse_alerts(args: str) -> SettingsChange | None:
    """``/alerts`` arguments → a change, or ``None`` to show the current settings."""
    parts = words(args)
    if not parts:
        return None
    head, rest = parts[0].lower(), parts[1:]
    if head in ("on", "off") and not rest:
        on = head == "on"
        return SettingsChange({"alerts_enabled": on}, f"Alerts are {'on' if on else 'off'}.")
    if head == "min" and len(rest) == 1:
        band = rest[0].lower()
        if band not in [b.value for b in MIN_BANDS]:
            raise InputError(f"The minimum band is lean, stretched or stressed, not {echo(rest[0])!r}.")
        return SettingsChange({"min_band": Band(band)}, f"Alerts now start at the {band} band.")
    if head == "kinds" and rest:
        kinds = _kinds(rest)
        names = ", ".join(sorted(k.value for k in kinds))
        return SettingsChange({"event_kinds": kinds}, f"Alert kinds: {names}.")
    if head == "watchlist" and len(rest) == 1:
        only = _on_off(rest[0], ALERTS_USAGE)
        said = "only about symbols on the watchlist" if only else "about every symbol"
        return SettingsChange({"watchlist_only": only}, f"Alerts are {said}.")
    if head == "quiet" and rest:
        return _quiet(rest)
    raise InputError(f"Usage: {ALERTS_USAGE}")


ALERT_VENUES_USAGE = (
    "/alerts venues VENUE… (e.g. /alerts venues bybit okx) · /alerts venues all (the default)"
)


def venue_list(chosen: Collection[str], venues: Sequence[str]) -> str:
    """``all venues (the aggregate)`` or ``Bybit and OKX``, in ``EXCHANGES`` order."""
    order = [AGGREGATE_EXCHANGE, *venues]
    names = [
        "all venues (the aggregate)" if v == AGGREGATE_EXCHANGE else VENUE_NAMES.get(v, v)
        for v in sorted(chosen, key=lambda v: (order.index(v) if v in order else len(order), v))
    ]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def parse_alert_venues(parts: Sequence[str], venues: Sequence[str]) -> SettingsChange | None:
    """``/alerts venues [VENUE…|all]`` → the chat's venue choice (``None``: show it).

    ``all`` alone is the default (stored as no choice: the aggregate, whatever the venues);
    ``all`` beside venues follows the aggregate and those venues too.
    """
    if len(venues) < 2:
        only = venues[0] if venues else "one venue"
        raise InputError(f"Only one venue is collected here ({only}): alerts follow it.")
    if not parts:
        return None
    chosen: set[str] = set()
    for word in parts:
        found = find_venue(word, venues)
        if found is None:
            raise unknown_venue(word, venues)
        chosen.add(found)
    if chosen == {AGGREGATE_EXCHANGE}:
        return SettingsChange(
            {"alert_venues": frozenset()},
            "Alerts and the daily digest follow all venues (the aggregate), the default.",
        )
    return SettingsChange(
        {"alert_venues": frozenset(chosen)},
        f"Alerts and the daily digest follow {venue_list(chosen, venues)}: each one's own.",
    )


DIGEST_USAGE = "/digest on|off [HH:MM] [timezone], e.g. /digest on 08:00 Europe/Berlin"


def parse_digest(args: str) -> SettingsChange | None:
    """``/digest`` arguments → a change, or ``None`` to show the current settings."""
    parts = words(args)
    if not parts:
        return None
    on = _on_off(parts[0], DIGEST_USAGE)
    rest = parts[1:]
    if not on:
        if rest:
            raise InputError(f"/digest off takes nothing else. Usage: {DIGEST_USAGE}")
        return SettingsChange({"digest_enabled": False}, "The daily digest is off.")
    fields: dict[str, Any] = {"digest_enabled": True}
    timezone: str | None = None
    if len(rest) > 2:
        raise InputError(f"Usage: {DIGEST_USAGE}")
    for part in rest:
        if ":" in part and part[:1].isdigit():
            if "digest_time" in fields:
                raise InputError(f"One time only. Usage: {DIGEST_USAGE}")
            fields["digest_time"] = parse_clock(part)
        elif timezone is None:
            timezone = parse_timezone(part)
        else:
            raise InputError(f"One timezone only. Usage: {DIGEST_USAGE}")
    return SettingsChange(fields, "The daily digest is on.", timezone=timezone)
