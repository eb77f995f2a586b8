"""``dps webhook add/list/remove``: register, show and delete webhooks in the database.

A webhook is a chat on the ``webhook`` platform (its settings decide which alerts it gets,
as ``/alerts`` does for a chat) with a URL and a signing secret. The URL is checked here
(``bot.chat.webhook_adapter.check_url``) and again at every send.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.app.arguments import parse_alert_venues
from bot.app.queries import Queries
from bot.chat.webhook_adapter import check_url
from bot.config import Settings
from bot.core.aggregate import AGGREGATE_EXCHANGE
from bot.core.events import EventKind
from bot.core.models import Band
from bot.core.records import ChatSettings
from bot.core.symbols import compact
from bot.core.webhook_records import WebhookEndpoint
from bot.core.webhook_targets import TargetError
from bot.errors import InputError
from bot.storage.facade import Storage, open_storage

MIN_SECRET_CHARS = 16
MAX_SECRET_CHARS = 200


@dataclass(frozen=True, slots=True)
class WebhookView:
    """One webhook with the settings ``dps webhook list`` shows (never its secret)."""

    endpoint: WebhookEndpoint
    settings: ChatSettings
    symbols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Added:
    """What ``add`` registered, and the secret when it made one up (shown once)."""

    view: WebhookView
    generated_secret: str | None


def _secret(given: str | None) -> tuple[str, bool]:
    if given is None:
        return secrets.token_urlsafe(32), True
    if not MIN_SECRET_CHARS <= len(given) <= MAX_SECRET_CHARS or not given.isprintable():
        raise InputError(
            f"--secret must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} printable characters "
            "(leave it out and one is made up for you)"
        )
    return given, False


def _symbols(given: Sequence[str]) -> tuple[str, ...]:
    keys: list[str] = []
    for text in given:
        key = compact(text)
        if key is None:
            raise InputError(f"{text[:40]!r} is not a symbol (e.g. BTCUSDT)")
        keys.append(key)
    return tuple(dict.fromkeys(keys))


async def add_webhook(
    settings: Settings,
    url: str,
    *,
    secret: str | None = None,
    min_band: Band = Band.STRETCHED,
    kinds: Collection[EventKind] = frozenset(EventKind),
    symbols: Sequence[str] = (),
    digest: bool = True,
    venues: Sequence[str] = (),
) -> Added:
    """Check ``url`` and register a webhook with these alert settings.

    With ``symbols`` it only gets alerts about them (its watchlist); ``digest`` adds the
    daily digest at ``DIGEST_TIME``. With several venues, ``venues`` chooses whose alerts
    and digest it gets, as ``/alerts venues`` does for a chat (``all``: the aggregate);
    its ``symbols`` are then found on each of those venues in their latest collection.

    Raises:
        InputError: the URL is refused (and why), or a bad secret, symbol or venue.
    """
    try:
        target = await check_url(url, allow_private=settings.webhook_allow_private)
    except TargetError as exc:
        raise InputError(f"{exc}") from None
    key, generated = _secret(secret)
    watched = _symbols(symbols)
    if not kinds:
        raise InputError("--kinds needs at least one kind")
    followed = _followed(venues, settings.exchanges)
    storage = open_storage(settings.database_url)
    try:
        elsewhere: dict[str, tuple[str, ...]] = {}
        if followed is None:
            # No choice: the aggregate, like a chat; with several venues ``--symbols`` are
            # the first venue's names, so one limited to them follows that venue.
            several = len(settings.exchanges) > 1
            alert_venues = frozenset({settings.exchange}) if several and watched else frozenset()
        else:
            alert_venues = frozenset() if followed == {AGGREGATE_EXCHANGE} else followed
            if watched:
                elsewhere = _names_on(storage, settings, followed, symbols)
                watched = elsewhere.pop(settings.exchange, ())
        chat_settings = ChatSettings(
            min_band=min_band,
            event_kinds=frozenset(kinds),
            watchlist_only=bool(symbols),
            digest_enabled=digest,
            digest_time=settings.digest_time,
            alert_venues=alert_venues,
        )
        endpoint = storage.webhooks.add_webhook(
            f"wh-{secrets.token_hex(4)}",
            target.url,
            key,
            settings=chat_settings,
            exchange=settings.exchange,
            symbols=watched,
            elsewhere=elsewhere,
            timezone=settings.digest_timezone,
            now=datetime.now(UTC),
        )
    finally:
        storage.close()
    shown = tuple(dict.fromkeys([*watched, *(s for names in elsewhere.values() for s in names)]))
    return Added(WebhookView(endpoint, chat_settings, shown), key if generated else None)


def _followed(venues: Sequence[str], configured: Sequence[str]) -> frozenset[str] | None:
    """The venues ``--venues`` names (``all``: the aggregate), ``None`` when not given."""
    if not venues:
        return None
    change = parse_alert_venues(venues, configured)  # refuses unknown names, lists the venues
    chosen = change.fields["alert_venues"] if change is not None else frozenset()
    return frozenset(chosen) or frozenset({AGGREGATE_EXCHANGE})


def _names_on(
    storage: Storage, settings: Settings, followed: Collection[str], texts: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """What each of ``texts`` is called on each followed venue (the aggregate names assets),
    from the venues' latest collection; a name no followed venue lists is refused."""
    queries = Queries(
        storage.scores,
        storage.snapshots,
        storage.outbox,
        exchange=settings.exchange,
        source_label=None,
        band_floors=settings.scoring.to_params().band_floors,
        stale_after=2 * timedelta(seconds=settings.collect_interval),
        venues=tuple(settings.exchanges),
    )
    found: dict[str, list[str]] = {}
    for text in texts:
        names = {v: s for v in sorted(followed) if isinstance(s := queries.resolve(text, v), str)}
        if not names:
            where = ", ".join(sorted(followed))
            raise InputError(
                f"{text[:40]!r} is not listed on {where} in the latest collection "
                "(symbols are found on the venues once the bot has collected them)"
            )
        for venue, symbol in names.items():
            found.setdefault(venue, []).append(symbol)
    return {venue: tuple(dict.fromkeys(names)) for venue, names in found.items()}


def list_webhooks(settings: Settings) -> list[WebhookView]:
    """Every webhook with its alert settings and symbols."""
    storage = open_storage(settings.database_url)
    try:
        views = []
        for endpoint in storage.webhooks.webhooks():
            watched = tuple(dict.fromkeys(e.symbol for e in storage.chats.watchlist(endpoint.chat_ref)))
            views.append(WebhookView(endpoint, storage.chats.get_settings(endpoint.chat_ref), watched))
        return views
    finally:
        storage.close()


def remove_webhook(settings: Settings, webhook_id: str) -> bool:
    """Delete the webhook and its queued messages; False when no webhook has this id."""
    storage = open_storage(settings.database_url)
    try:
        return storage.webhooks.remove_webhook(webhook_id)
    finally:
        storage.close()


def view_line(view: WebhookView) -> str:
    """One line of ``dps webhook list``."""
    e, s = view.endpoint, view.settings
    state = "enabled" if e.enabled else "DISABLED"
    kinds = ",".join(sorted(k.value for k in s.event_kinds))
    symbols = ",".join(view.symbols) or "all"
    digest = "on" if s.digest_enabled else "off"
    failures = f" · {e.failures} permanent failures in a row" if e.failures else ""
    venues = f" · venues {','.join(sorted(s.alert_venues))}" if s.alert_venues else ""
    return (
        f"{e.webhook_id}  {state}  {e.url}  min {s.min_band.value} · kinds {kinds} · "
        f"symbols {symbols}{venues} · digest {digest}{failures}"
    )
