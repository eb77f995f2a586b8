"""Serving the web app with uvicorn: on its own (``dps web``), in a process of its own beside
``dps run`` (``serve_socket``), or in a thread of the bot's process (``WebServer``: the demo).

In a thread, the server runs on its own event loop, and leaves the
process's signals to the runner (uvicorn would otherwise take SIGINT and SIGTERM for itself).
On the bot's loop, a burst of web requests queued ahead of cycles and chat commands and
could stall them for seconds; on its own loop it only shares the interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Generator
from dataclasses import replace

import uvicorn

from bot.app.command_registry import ChartRenderer
from bot.app.views import ChartView
from bot.web.listen import bind, dashboard_address
from bot.web.site import WebDeps, build_web_app

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the process it runs in."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _config(deps: WebDeps, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        build_web_app(deps),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        # On: the app prepares its common views while it is served (bot.web.prepared).
        lifespan="on",
        # A request line or header block beyond this is refused before it reaches the app.
        h11_max_incomplete_event_size=16 * 1024,
    )


async def serve_web(deps: WebDeps, host: str, listening: socket.socket) -> None:
    """``dps web``: serve on ``listening`` (bound by the caller, so a taken port is a clean
    error rather than uvicorn's exit) until SIGINT or SIGTERM."""
    # Our own handlers, not uvicorn's: uvicorn re-raises the signal once it has shut down,
    # which would kill the process before the caller closes the app (and exit -15, not 0).
    server = _EmbeddedServer(_config(deps, host, int(listening.getsockname()[1])))
    loop = asyncio.get_running_loop()

    def stop() -> None:
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        await server.serve(sockets=[listening])
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def serve_socket(
    deps: WebDeps,
    host: str,
    listening: socket.socket,
    until: asyncio.Future[None],
    serving: Callable[[], None],
) -> None:
    """The dashboard's own process beside ``dps run``: serve on ``listening`` (bound by the
    bot and inherited) until ``until`` is done; ``serving()`` once it accepts. Signals are the
    process's business (uvicorn's own handlers are not installed).
    """
    server = _ChildServer(_config(deps, host, int(listening.getsockname()[1])), serving)

    async def stop_when_until() -> None:
        await asyncio.shield(until)
        server.should_exit = True

    watcher = asyncio.create_task(stop_when_until())
    try:
        await server.serve(sockets=[listening])
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


class _ChildServer(_EmbeddedServer):
    """An embedded uvicorn server that says when it started (uvicorn has no hook for it)."""

    def __init__(self, config: uvicorn.Config, serving: Callable[[], None]) -> None:
        super().__init__(config)
        self._serving = serving

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._serving()


def _drawn_on(loop: asyncio.AbstractEventLoop, chart: ChartRenderer) -> ChartRenderer:
    """``chart`` called from another loop: the chart worker's lock and child belong to ``loop``."""

    async def on_loop(view: ChartView) -> bytes:
        return await chart(view)

    async def draw(view: ChartView) -> bytes:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(on_loop(view), loop))

    return draw


class WebServer:
    """The dashboard served beside the bot: ``start`` once, ``stop`` on shutdown.

    uvicorn runs on an event loop of its own in a daemon thread (see the module docstring).
    """

    def __init__(self, deps: WebDeps, host: str, port: int) -> None:
        self._deps = deps
        self._server: _EmbeddedServer | None = None
        self._host, self._port = host, port
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.address = dashboard_address(host, port)

    @property
    def bound_port(self) -> int | None:
        """The port actually listened on (``port=0`` picks a free one), once started."""
        return None if self._socket is None else int(self._socket.getsockname()[1])

    async def start(self) -> None:
        """Listen: once this returns, connections are accepted (the kernel queues the first
        ones until uvicorn's loop takes them).

        Raises:
            OSError: the address could not be bound (in use, not allowed, unknown host).
        """
        self._socket = bind(self._host, self._port, self.address)
        deps = self._deps
        if deps.chart is not None:
            deps = replace(deps, chart=_drawn_on(asyncio.get_running_loop(), deps.chart))
        self._server = server = _EmbeddedServer(_config(deps, self._host, self._port))
        listening = self._socket
        self._thread = threading.Thread(target=_serve, args=(server, listening), name="web", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Close the listener and finish open requests (at most ``STOP_TIMEOUT_S``)."""
        thread, server = self._thread, self._server
        if thread is None or server is None:
            return
        server.should_exit = True  # uvicorn's loop looks at it every tenth of a second
        await asyncio.to_thread(thread.join, STOP_TIMEOUT_S)
        if thread.is_alive():
            server.force_exit = True
            await asyncio.to_thread(thread.join, STOP_TIMEOUT_S)
        if thread.is_alive():
            logger.warning("the web server's thread did not end within %.0f s", 2 * STOP_TIMEOUT_S)
        self._thread = self._server = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _serve(server: uvicorn.Server, listening: socket.socket) -> None:
    try:
        asyncio.run(server.serve(sockets=[listening]))
    except Exception:  # a thread's error would otherwise go to stderr unlogged
        logger.exception("the web server stopped on an error")
