"""The bot's commands: each one's declaration next to its handler.

Adding a command means adding its handler and one ``Command`` to ``COMMAND_SET`` here:
``/help``, the Telegram menu, the Discord slash commands and the ``dps`` query
subcommands are generated from the registry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from bot.app import arguments as argp
from bot.app.command_registry import (
    Access,
    Choice,
    Command,
    CommandContext,
    CommandRegistry,
    CommandRequest,
    Completion,
    Option,
    OptionKind,
)
from bot.app.off_loop import off_loop
from bot.app.queries import NO_DATA
from bot.app.views import (
    ChartReply,
    ErrorKind,
    ErrorReply,
    Reply,
    ScoreCardReply,
    TableReply,
    TextReply,
    TextSection,
    TrackReply,
)
from bot.core.aggregate import AGGREGATE_EXCHANGE
from bot.core.aggregate_card import VENUE_NAMES
from bot.core.bands import legend_lines
from bot.core.durations import age_text
from bot.errors import ChartError, InputError

ABOUT = (
    "One number per perpetual-futures symbol, 0 to 100: how stressed its derivatives book is. "
    "It blends open-interest change over 1h / 4h / 24h, the funding rate (compared on an 8h "
    "footing) and the perp-index basis, with the side that is stacked (LONG / SHORT / NEUTRAL) "
    "and a regime in words. I answer the commands below, alert when a symbol crosses into a "
    "higher stress band or enters squeeze risk, and can post a daily digest."
)
DIRECTION_NOTE = (
    "The score is direction-aware: a LONG regime at 70 means longs are heavily stacked; a "
    "SHORT regime at 70 means shorts are. Squeeze-risk regimes are where OI builds against "
    "the funding bias; those tend to resolve violently."
)


async def start(ctx: CommandContext, request: CommandRequest, args: str) -> Reply:
    """Welcome the user; store the chat (default settings) when the sender may."""
    if ctx.may_change(request) and isinstance(busy := await ctx.settings.ensure(request), ErrorReply):
        return busy
    return help_reply(ctx, "Welcome to the Derivatives Pressure Score bot")


async def help_(ctx: CommandContext, request: CommandRequest, args: str) -> Reply:
    """Explain the bot, list the commands and show how to read the score."""
    return help_reply(ctx, "Derivatives Pressure Score")


def help_reply(ctx: CommandContext, title: str) -> TextReply:
    """The help text: what the bot does, every command of the registry, how to read a score."""
    commands = tuple(f"{c.usage} — {c.summary}" for c in ctx.registry)
    return TextReply(
        title=title,
        sections=(
            TextSection(None, (ABOUT,)),
            TextSection("Commands", commands),
            TextSection("How to read it", (*legend_lines(ctx.band_floors), DIRECTION_NOTE)),
            TextSection(None, ("In groups and channels only admins can change settings.",)),
        ),
        source_label=ctx.source_label,
    )


async def score(ctx: CommandContext, request: CommandRequest, args: str) -> Reply:
    """Show the score card of one symbol: with several venues, the aggregate's card of its
    asset with a line per venue (a symbol the aggregate lacks: the first venue's card)."""
    parts = argp.words(args)
    queries = ctx.queries
    if queries.venues and len(parts) == 2:
        await queries.current()
        return venue_score(ctx, request, parts[0], parts[1])
    if len(parts) != 1:
        if queries.venues:
            raise InputError("Usage: /score SYMBOL [VENUE] — e.g. /score btc or /score btc bybit")
        raise InputError("Usage: /score SYMBOL — one symbol, e.g. /score btc or /score 1000SHIBUSDT")
    await queries.current()  # the card then comes from the prepared markets: no statement here
    if queries.venues:
        asset = queries.find(parts[0], AGGREGATE_EXCHANGE)
        if not isinstance(asset, ErrorReply):
            found = queries.card(asset, request.now, AGGREGATE_EXCHANGE)
            if found is not None:
                return with_gaps(ctx, found)
    symbol = queries.find(parts[0])
    if isinstance(symbol, ErrorReply):
        return symbol
    card = ctx.queries.card(symbol, request.now)
    if card is None:
        return ErrorReply(ErrorKind.NO_DATA, f"No score stored for {symbol.symbol} yet.")
    return card


def venue_score(ctx: CommandContext, request: CommandRequest, text: str, place: str) -> Reply:
    """``/score SYMBOL VENUE``: that venue's own card of the symbol (``all``: the aggregate's)."""
    queries = ctx.queries
    venue = argp.find_venue(place, queries.venues)
    if venue is None:
        raise argp.unknown_venue(place, queries.venues)
    symbol = queries.find(text, venue)
    if isinstance(symbol, ErrorReply):
        if symbol.kind is ErrorKind.UNKNOWN_SYMBOL:
            shown = (
                "all venues (the aggregate)" if venue == AGGREGATE_EXCHANGE else VENUE_NAMES.get(venue, venue)
            )
            return replace(symbol, message=f"{argp.echo(text)!r} is not listed on {shown}.")
        return symbol
    card = queries.card(symbol, request.now)
    if card is None:
        return ErrorReply(ErrorKind.NO_DATA, f"No score stored for {symbol.symbol} on {venue} yet.")
    return with_gaps(ctx, card)


def missing_venues(ctx: CommandContext, assets: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The assets whose last aggregate lacks a venue's open interest, with those venues (known
    where this process computes the aggregate)."""
    latest = {} if ctx.aggregates is None else ctx.aggregates()
    return {a: agg.missing for a in assets if (agg := latest.get(a)) is not None and agg.missing}


def with_gaps(ctx: CommandContext, card: ScoreCardReply) -> ScoreCardReply:
    """An aggregate card naming the venues missing from its sum, so a partial aggregate never
    reads as the whole market (where this process computes the aggregate; elsewhere the card
    keeps its partial mark)."""
    cross = card.venues
    if cross is None:
        return card
    asset = card.card.latest.symbol
    missing = missing_venues(ctx, [asset]).get(asset, ())
    return replace(card, venues=replace(cross, missing=missing))


async def top(ctx: CommandContext, request: CommandRequest, args: str) -> Reply:
    """Show the ranked table, optionally filtered."""
    queries = ctx.queries
    parsed = argp.parse_top(args, queries.venues)
    await queries.current()  # the table then comes from the prepared market: no statement here
    if parsed.venue == AGGREGATE_EXCHANGE:
        return top_gaps(ctx, queries.top(parsed, request.now))
    if parsed.venue is not None or not queries.venues:
        return queries.top(parsed, request.now)
    # Several venues: the aggregate, or the first venue while the aggregate has no scores.
    found = queries.top(replace(parsed, venue=AGGREGATE_EXCHANGE), request.now)
    if isinstance(found, ErrorReply) and found.kind is ErrorKind.NO_DATA:
        return queries.top(replace(parsed, venue=queries.exchange), request.now)
    return top_gaps(ctx, found)


def top_gaps(ctx: CommandContext, reply: TableReply | ErrorReply) -> TableReply | ErrorReply:
    """The aggregate's table with a note naming the rows summed without a venue (they carry
    the partial mark): "Missing a venue: BTC (Bybit)"."""
    if isinstance(reply, ErrorReply):
        return reply
    gaps = missing_venues(ctx, [r.symbol for r in reply.table.rows])
    if not gaps:
        return reply
    listed = [f"{a} ({', '.join(VENUE_NAMES.get(v, v) for v in vs)})" for a, vs in gaps.items()]
    return replace(reply, notes=(*reply.notes, f"Missing a venue, OI changes left out: {'; '.join(listed)}."))


async def watch(ctx: CommandContext, request: CommandRequest, args: str) -> Reply:
    """Add symbols to the chat's watchlist."""
    await ctx.queries.current()
    return await ctx.settings.watch(request, args)


async def unwatch(ctx: CommandContext, request: CommandRequest, args: str) -> Reply:
    """Remove symbols (or all) from the chat's watchlist."""
    return await ctx.settings.unwatch(request, args)


async def watchlist(ctx: CommandContext, request: CommandRequest, args: str) -> Reply:
    """Show the watchlist with current scores."""
    await ctx.queries.current()
    return await ctx.settings.watchlist(request, args)


async def alerts(ctx: CommandContext, request: CommandRequest, args: str) -> Reply:
    """Show or change the chat's alert settings."""
    return await ctx.settings.alerts(request, args)


async def digest(ctx: CommandContext, request: CommandRequest, args: str) -> Reply:
    """Show or change the chat's daily digest."""
    return await ctx.settings.digest(request, args)


async def chart(ctx: CommandContext, request: CommandRequest, args: str) -> Reply:
    """Draw the symbol's score and components over 24h or 7d as a PNG (with several venues:
    the aggregate's by default, or the venue named)."""
    parsed = argp.parse_chart(args, ctx.queries.venues)
    label, window = parsed.window_label, parsed.window
    queries = ctx.queries
    await queries.current()
    exchange = parsed.venue or (AGGREGATE_EXCHANGE if queries.venues else queries.exchange)
    symbol = queries.resolve(parsed.symbol, exchange)
    if parsed.venue is None and exchange != queries.exchange and isinstance(symbol, ErrorReply):
        # As /score: the aggregate has no scores yet, or lacks the symbol: the first venue.
        exchange = queries.exchange
        symbol = queries.resolve(parsed.symbol, exchange)
    if isinstance(symbol, ErrorReply):
        return symbol
    if ctx.chart is None:
        return ErrorReply(ErrorKind.UNAVAILABLE, "Charts are not available here.")
    # Hours of one symbol's scores: read off the loop, as the chart is drawn.
    view = await off_loop(ctx.queries.chart, symbol, label, window, request.now, exchange)
    if view is None:
        return ErrorReply(ErrorKind.NO_DATA, f"No scores stored for {symbol} in the last {label}.")
    try:
        png = await ctx.chart(view)  # drawn in the chart worker: the event loop stays free
    except ChartError:
        return ErrorReply(
            ErrorKind.UNAVAILABLE, "The chart could not be drawn just now; please try again in a minute."
        )
    last = view.records[-1].result
    # A single venue's caption and file name are as they always were.
    shown, name = symbol, f"dps-{symbol}-{label}.png"
    if ctx.queries.venues:
        place = "all venues" if exchange == AGGREGATE_EXCHANGE else VENUE_NAMES.get(exchange, exchange)
        shown, name = f"{symbol} ({place})", f"dps-{exchange}-{symbol}-{label}.png"
    caption = (
        f"{shown} · Derivatives Pressure Score, last {label} · now {last.score} "
        f"({last.band.value}, {last.bias.value})"
    )
    return ChartReply(png=png, caption=caption, filename=name, source_label=ctx.source_label)


async def track(ctx: CommandContext, request: CommandRequest, args: str) -> Reply:
    """How the stored readings played out per band (one symbol's, or the whole market's)."""
    text = argp.parse_track(args)
    symbol: str | None = None
    if text is not None:
        await ctx.queries.current()
        found = ctx.queries.resolve(text)
        if isinstance(found, ErrorReply):
            return found
        symbol = found
    # The first read of the whole market's history takes seconds: off the event loop.
    record = await asyncio.to_thread(ctx.track.record, symbol)
    if record is None:
        return ErrorReply(ErrorKind.NO_DATA, NO_DATA)
    return TrackReply(record=record, exchange=ctx.exchange, symbol=symbol, source_label=ctx.source_label)


async def status(ctx: CommandContext, request: CommandRequest, args: str) -> Reply:
    """Report the exchange, symbols tracked, the latest collection's age and the outbox."""
    line = None if ctx.last_cycle is None else ctx.last_cycle()
    # Several statements (each venue's newest snapshot, the outbox's counts): off the loop.
    return await off_loop(ctx.queries.status, request.now, line)


DOCS = "README.md (commands, configuration) and docs/ (scoring, alerts, operations) in the repository"


async def about(ctx: CommandContext, request: CommandRequest, args: str) -> Reply:
    """Say what is answering: version, exchange, where the data comes from, uptime, the docs."""
    source = ctx.source_label or f"live market data from {ctx.exchange}"
    running = "unknown" if ctx.started is None else age_text(request.now - ctx.started)
    lines = (
        f"Version: {ctx.version}",
        f"Exchange: {ctx.exchange}",
        f"Data: {source}",
        f"Running for: {running}",
        f"Docs: {DOCS}",
    )
    return TextReply(
        title="About this bot", sections=(TextSection(None, lines),), source_label=ctx.source_label
    )


SYMBOL = Option("symbol", "Ticker, e.g. BTC or 1000SHIBUSDT", required=True, completion=Completion.SYMBOL)

COMMAND_SET = CommandRegistry(
    (
        Command(
            "start",
            "what this bot does (and sign this chat up for alerts)",
            "/start",
            start,
            asks_admin=True,
        ),
        Command("help", "this help and how to read the score", "/help", help_),
        Command("score", "the full score card, e.g. /score btc", "/score SYMBOL", score, (SYMBOL,), cli=True),
        Command(
            "top",
            f"the ranked table, N up to {argp.TOP_MAX}",
            "/top [N] [long|short|squeeze]",
            top,
            (
                Option(
                    "n",
                    f"How many rows, 1 to {argp.TOP_MAX} (default {argp.TOP_DEFAULT})",
                    OptionKind.INTEGER,
                    minimum=1,
                    maximum=argp.TOP_MAX,
                ),
                Option(
                    "filter",
                    "Only one kind",
                    choices=tuple(Choice(label, f.value) for f, label in argp.TOP_FILTER_LABELS.items()),
                ),
            ),
            cli=True,
        ),
        Command(
            "watch",
            "add symbols to this chat's watchlist",
            "/watch SYMBOL…",
            watch,
            (
                Option(
                    "symbols",
                    "One or more, separated by spaces, e.g. btc eth shib",
                    required=True,
                    completion=Completion.SYMBOLS,
                ),
            ),
            access=Access.ADMIN,
        ),
        Command(
            "unwatch",
            "remove symbols from the watchlist",
            "/unwatch SYMBOL…|all",
            unwatch,
            (
                Option(
                    "symbols",
                    "One or more, separated by spaces, or all",
                    required=True,
                    completion=Completion.SYMBOLS,
                ),
            ),
            access=Access.ADMIN,
        ),
        Command("watchlist", "the watchlist with current scores", "/watchlist", watchlist),
        Command(
            "alerts",
            "show or change this chat's alerts",
            "/alerts [on|off|min BAND|kinds …|watchlist on|off|quiet HH:MM-HH:MM|off]",
            alerts,
            (
                Option(
                    "action",
                    "What to change (leave out to show the settings)",
                    choices=tuple(Choice(a, a) for a in argp.ALERTS_ACTIONS),
                ),
                Option("settings", "The rest, e.g. stretched · band_up,squeeze_risk · on · 22:00-07:00"),
            ),
            access=Access.ADMIN_WITH_ARGS,
        ),
        Command(
            "digest",
            "the daily digest for this chat",
            "/digest [on|off] [HH:MM] [timezone]",
            digest,
            (
                Option(
                    "switch",
                    "On or off (leave out to show the settings)",
                    choices=(Choice("on", "on"), Choice("off", "off")),
                ),
                Option("settings", "Time and/or timezone, e.g. 08:00 Europe/Berlin"),
            ),
            access=Access.ADMIN_WITH_ARGS,
        ),
        Command(
            "chart",
            "a chart of the score and its components",
            "/chart SYMBOL [24h|7d]",
            chart,
            (
                Option("symbol", "Ticker, e.g. BTC", required=True, completion=Completion.SYMBOL),
                Option(
                    "window",
                    "24h (default) or 7d",
                    choices=tuple(Choice(w, w) for w in argp.CHART_WINDOW_CHOICES),
                ),
            ),
            slow=True,
        ),
        Command(
            "track",
            "how past readings played out: the median 24h move per band vs neutral",
            "/track [SYMBOL]",
            track,
            (
                Option(
                    "symbol",
                    "Ticker, e.g. BTC (leave out for the whole market)",
                    completion=Completion.SYMBOL,
                ),
            ),
            cli=True,
        ),
        Command(
            "status",
            "is data flowing: last collection, its age, the alert queue",
            "/status",
            status,
            cli=True,
        ),
        Command(
            "about",
            "version, exchange, data source, uptime and where the docs are",
            "/about",
            about,
            cli=True,
        ),
    )
)
"""Every command the bot answers, in ``/help`` and menu order."""


def command_set_for(venues: Sequence[str]) -> CommandRegistry:
    """``COMMAND_SET`` for a bot collecting ``venues``: with several, ``/score``, ``/top`` and
    ``/chart`` take a venue (a menu of the configured ones and ``all``) and ``/alerts venues``
    chooses the venues a chat follows; with one, exactly as declared."""
    if len(venues) < 2:
        return COMMAND_SET
    venue = Option(
        "venue",
        "One venue, or all venues (the default)",
        choices=(
            Choice("all venues", AGGREGATE_EXCHANGE),
            *(Choice(VENUE_NAMES.get(v, v), v) for v in venues),
        ),
    )
    named = {c.name: c for c in COMMAND_SET}
    top_, chart_, score_, alerts_ = named["top"], named["chart"], named["score"], named["alerts"]
    # /alerts venues: the action menu gains "venues"; the venue menu names one of them (more
    # are typed into "settings": their values join, so "okx" there and Bybit here are both).
    action, rest = alerts_.options
    action = replace(action, choices=(*action.choices, Choice("venues", "venues")))
    rest = replace(rest, description="The rest, e.g. stretched · band_up,squeeze_risk · 22:00-07:00 · okx")
    followed = replace(venue, description="With venues: a venue to follow, or all venues (the default)")
    return COMMAND_SET.replacing(
        replace(score_, usage="/score SYMBOL [VENUE]", options=(*score_.options, venue)),
        replace(top_, usage="/top [N] [long|short|squeeze] [VENUE]", options=(*top_.options, venue)),
        replace(
            alerts_,
            usage=f"{alerts_.usage.removesuffix(']')}|venues VENUE…|all]",
            options=(action, rest, followed),
            shows=frozenset({"venues"}),  # showing the choice is for anyone, like /alerts
        ),
        replace(chart_, usage="/chart SYMBOL [VENUE] [24h|7d]", options=(*chart_.options, venue)),
    )
