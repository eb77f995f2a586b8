"""Wires the web side (``bot.web``) to a built ``App``: ``dps web``, ``dps run`` with ``WEB_PORT``
(the dashboard's own process, ``python -m bot.web_launch``, supervised by ``bot.web_supervisor``)
and the demo (a thread of its process).

Kept out of ``bot.web`` so that the adapter never sees the composition root, and out of
``bot.bootstrap`` so that a process without ``WEB_PORT`` never imports Starlette, uvicorn or
Jinja2 (each import below happens only when the dashboard is served).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import socket
import sys
import threading
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from bot import gc_policy
from bot.app.queries import Queries
from bot.bootstrap import App, LastCycle, SystemClock, build_app, package_version
from bot.storage.db import refuse_writes
from bot.web_supervisor import SERVING, WebChild

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.storage.facade import Storage
    from bot.web.server import WebServer
    from bot.web.shared_reads import SharedMarkReads
    from bot.web.site import WebDeps

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8080
"""``dps web`` without ``WEB_PORT``."""


def web_deps(app: App) -> WebDeps:
    """What the dashboard reads, from the app's read side (the same as ``/top`` and ``/score``)."""
    from bot.web.shared_reads import SharedMarkReads
    from bot.web.site import WebDeps

    token = app.settings.web_api_token
    # The preparing thread's own read side, over a store whose marks it pins (bot.web.site).
    preparing_store = SharedMarkReads(app.collector.storage.scores)
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
        preparing=web_queries(app, preparing_store),
        stale_after=stale_after(app.settings),
        preparing_store=preparing_store,
    )


def stale_after(settings: Settings) -> timedelta:
    """When the web's scores count as stale: two collection intervals, as ``CommandLayer``
    sets it (tests/web checks they agree)."""
    return 2 * timedelta(seconds=settings.collect_interval)


def web_queries(app: App, scores: SharedMarkReads | None = None) -> Queries:
    """A read side of the web's own, over the app's stores, set up as the chats' one.

    Not the chats' instance: beside the bot the server runs in a thread of its own, and
    ``Queries`` keeps its market between calls without a lock. Its mark reads are shared by
    the requests queued together (``bot.web.shared_reads``); ``scores``: over that one.
    """
    from bot.web.shared_reads import SharedMarkReads

    storage = app.collector.storage
    settings = app.settings
    return Queries(
        SharedMarkReads(storage.scores) if scores is None else scores,
        storage.snapshots,
        storage.outbox,
        exchange=app.collector.exchange,
        source_label=app.commands.context.source_label,
        band_floors=settings.scoring.to_params().band_floors,
        stale_after=stale_after(settings),
        venues=tuple(c.exchange for c in app.collectors),
        venue_cycle=app.last_cycle.of,
        recheck=timedelta(0),  # a mark check per request, shared by those queued together
    )


async def start_web(app: App, *, port: int | None = None) -> WebServer | None:
    """Serve the dashboard in a thread of this process when ``WEB_PORT`` is set; ``None``
    (nothing imported) when not. The demo's way: its pages follow the replay's clock.

    ``port`` replaces a set ``WEB_PORT`` (0: any free port, as tests want).

    Raises:
        ListenError: the address could not be bound (an OSError too).
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
    from bot.web.listen import bind, dashboard_address
    from bot.web.server import serve_web

    chosen = port or settings.web_port or DEFAULT_PORT
    address = dashboard_address(settings.web_host, chosen)
    listening = bind(settings.web_host, chosen, address)  # ListenError before anything is built
    with listening:
        app = build_app(settings, clock=SystemClock())
        try:
            print(f"dashboard at {address} (Ctrl-C stops)", flush=True)
            await serve_web(web_deps(app), settings.web_host, listening)
        finally:
            await app.close()
    return 0


def start_web_child(
    app: App, *, port: int | None = None, backoff_s: float = 1.0, backoff_max_s: float = 60.0
) -> WebChild | None:
    """``dps run`` with ``WEB_PORT``: bind the address, then serve it from a supervised child
    process (``bot.web_supervisor``) over the same database; ``None`` without ``WEB_PORT``.

    ``port`` replaces a set ``WEB_PORT`` (0: any free port, as tests want).

    Raises:
        ListenError: the address could not be bound (an OSError too).
    """
    settings = app.settings
    if settings.web_port is None:
        return None
    port = settings.web_port if port is None else port
    from bot.web.listen import bind, dashboard_address

    address = dashboard_address(settings.web_host, port)
    listening = bind(settings.web_host, port, address)
    child = WebChild(
        [sys.executable, "-m", "bot.web_launch", "--fd", str(listening.fileno())],
        child_settings(settings),
        listening,
        dashboard_address(settings.web_host, int(listening.getsockname()[1])),
        backoff_s=backoff_s,
        backoff_max_s=backoff_max_s,
        news=lambda: _cycle_news(app.last_cycle),
    )
    child.start()
    return child


def _cycle_news(last_cycle: LastCycle) -> bytes:
    """The latest cycles' lines (the bot's, for the child's ``/api/v1/status``)."""
    return json.dumps({"line": last_cycle.line, "by_venue": last_cycle.by_venue}).encode()


def _heard(last_cycle: LastCycle, news: bytes) -> None:
    """Take the bot's cycle lines as this process's own (``_cycle_news``); a malformed line is ignored."""
    try:
        lines = json.loads(news)
        line, by_venue = lines["line"], lines["by_venue"]
    except (ValueError, TypeError, KeyError):
        return
    if isinstance(line, str | None) and isinstance(by_venue, dict):
        last_cycle.line = line
        last_cycle.by_venue = {str(k): str(v) for k, v in by_venue.items()}


def child_settings(settings: Settings) -> bytes:
    """The settings the dashboard's process is built with, as one JSON line: the bot's own
    (which may not all come from the environment), without the chat tokens it has no use for."""
    data = settings.model_dump(mode="json")
    token = settings.web_api_token
    data["web_api_token"] = None if token is None else token.get_secret_value()
    data["telegram_bot_token"] = data["discord_bot_token"] = None
    return json.dumps(data).encode()


def read_only(storage: Storage) -> bool:
    """Make every connection ``storage`` opens from now on refuse writes; whether it did
    (``bot.storage.db.refuse_writes``: SQLite only).

    The dashboard's process only reads: a bug or a hostile request there must not be able to
    change what the bot stored.
    """
    return refuse_writes(storage.engine)


def _child_main(argv: list[str]) -> int:
    """The dashboard's process: settings from stdin, serve on the inherited socket until
    stdin closes (the bot stopped or died)."""
    from bot.config import load_settings
    from bot.libraries import configure_libraries

    if len(argv) != 2 or argv[0] != "--fd":
        print("usage: python -m bot.web_launch --fd N (started by dps run)", file=sys.stderr)
        return 2
    # Its life is the bot's: it stops when its stdin closes, never on a signal meant for the
    # bot (systemd sends SIGTERM to the whole service; a child that exited then would be
    # reported dead and started again while the bot stops).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = load_settings(**json.loads(sys.stdin.buffer.readline()))
    token = settings.web_api_token
    configure_libraries(settings.log_level, [] if token is None else [token.get_secret_value()])
    listening = socket.socket(fileno=int(argv[1]))
    return asyncio.run(_serve_child(settings, listening))


def _freeze_warmed() -> None:
    # Not gc_policy.after_start(): its full collection first would hold the interpreter for
    # tens of milliseconds while requests are served (only start-up's garbage was worth it,
    # and after_start collected that before serving). The young generations are enough.
    gc.collect(1)
    gc.freeze()
    logger.debug("the dashboard's first views are prepared: %d objects frozen", gc.get_freeze_count())


async def _serve_child(settings: Settings, listening: socket.socket) -> int:
    from bot.web.server import serve_socket

    loop = asyncio.get_running_loop()
    closed: asyncio.Future[None] = loop.create_future()

    def close() -> None:
        if not closed.done():
            closed.set_result(None)

    app = build_app(settings, clock=SystemClock())
    read_only(app.collector.storage)
    # As the bot does once started: what was loaded by now lives as long as the process, and
    # full collections traversing it would pause requests (bot.gc_policy).
    gc_policy.after_start()

    def read_until_eof() -> None:  # a daemon thread: it must not hold the interpreter's exit
        try:
            for news in sys.stdin.buffer:
                loop.call_soon_threadsafe(_heard, app.last_cycle, news)
            loop.call_soon_threadsafe(close)
        except RuntimeError:  # the loop is closed: the server already ended on its own
            return

    threading.Thread(target=read_until_eof, name="stdin", daemon=True).start()

    def serving() -> None:
        sys.stdout.buffer.write(SERVING + b"\n")
        sys.stdout.buffer.flush()

    # Once more when the first views are prepared: what serving them loaded for good (the
    # statements compiled, the templates) would otherwise be traversed by every full
    # collection, tens of milliseconds with the interpreter held, between requests.
    deps = replace(web_deps(app), prepared_first=_freeze_warmed)
    try:
        await serve_socket(deps, settings.web_host, listening, closed, serving)
    finally:
        await app.close()
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
