"""Wires the web side (``bot.web``) to a built ``App``: ``dps web``, and ``dps run`` with ``WEB_PORT``.

Kept out of ``bot.web`` so that the adapter never sees the composition root, and out of
``bot.bootstrap`` so that a process without ``WEB_PORT`` never imports Starlette, uvicorn or
Jinja2 (each import below happens only when the dashboard is served).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.app.queries import Queries
from bot.bootstrap import App, SystemClock, build_app, package_version

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.web.server import WebServer
    from bot.web.site import WebDeps

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8080
"""``dps web`` without ``WEB_PORT``."""


def web_deps(app: App) -> WebDeps:
    """What the dashboard reads, from the app's read side (the same as ``/top`` and ``/score``)."""
    from bot.web.site import WebDeps

    token = app.settings.web_api_token
    return WebDeps(
        queries=web_queries(app),
        alert_states=app.collector.storage.alert_states,
        clock=app.clock,
        exchange=app.collector.exchange,
        source_label=app.commands.context.source_label,
        chart=app.charts.chart,
        api_token=None if token is None else token.get_secret_value(),
        last_cycle=app.last_cycle,
        version=package_version(),
    )


def web_queries(app: App) -> Queries:
    """A read side of the web's own, over the app's stores, set up as the chats' one.

    Not the chats' instance: beside the bot the server runs in a thread of its own, and
    ``Queries`` keeps its market between calls without a lock. Its mark reads are shared by
    the requests queued together (``bot.web.shared_reads``).
    """
    from bot.web.shared_reads import SharedMarkReads

    storage = app.collector.storage
    settings = app.settings
    return Queries(
        SharedMarkReads(storage.scores),
        storage.snapshots,
        storage.outbox,
        exchange=app.collector.exchange,
        source_label=app.commands.context.source_label,
        band_floors=settings.scoring.to_params().band_floors,
        # As ``CommandLayer`` sets it: two collection intervals (tests/web checks they agree).
        stale_after=2 * timedelta(seconds=settings.collect_interval),
        venues=tuple(c.exchange for c in app.collectors),
        venue_cycle=app.last_cycle.of,
    )


async def start_web(app: App, *, port: int | None = None) -> WebServer | None:
    """Serve the dashboard beside the bot when ``WEB_PORT`` is set; ``None`` (nothing imported) when not.

    ``port`` replaces a set ``WEB_PORT`` (0: any free port, as tests want).

    Raises:
        OSError: the address could not be bound.
    """
    if app.settings.web_port is None:
        return None
    port = app.settings.web_port if port is None else port
    from bot.web.server import WebServer

    server = WebServer(web_deps(app), app.settings.web_host, port)
    await server.start()
    logger.info("dashboard at %s", server.address)
    return server


async def serve_dashboard(settings: Settings, *, port: int | None = None) -> int:
    """``dps web``: the dashboard and API over the database, until SIGINT or SIGTERM."""
    from bot.web.server import dashboard_address, serve_web

    app = build_app(settings, clock=SystemClock())
    chosen = port or settings.web_port or DEFAULT_PORT
    try:
        print(f"dashboard at {dashboard_address(settings.web_host, chosen)} (Ctrl-C stops)", flush=True)
        await serve_web(web_deps(app), settings.web_host, chosen)
    finally:
        await app.close()
    return 0
