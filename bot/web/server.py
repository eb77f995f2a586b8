"""Serving the web app with uvicorn: on its own (``dps web``) or beside the bot (``dps run``).

Beside the bot, the server runs as a task on the bot's event loop and leaves the process's
signals to the runner (uvicorn would otherwise take SIGINT and SIGTERM for itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator

import uvicorn

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
        lifespan="off",
        # A request line or header block beyond this is refused before it reaches the app.
        h11_max_incomplete_event_size=16 * 1024,
    )


def dashboard_address(host: str, port: int) -> str:
    """The address to print for people (``http://127.0.0.1:8080/``)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _bind(host: str, port: int) -> socket.socket:
    # Bound here, not by uvicorn: uvicorn answers a failed bind with SystemExit, which would
    # escape the bot's event loop; an OSError lets the caller say what went wrong.
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def serve_web(deps: WebDeps, host: str, port: int) -> None:
    """``dps web``: serve until SIGINT or SIGTERM."""
    await uvicorn.Server(_config(deps, host, port)).serve()


class WebServer:
    """The dashboard served beside the bot: ``start`` once, ``stop`` on shutdown."""

    def __init__(self, deps: WebDeps, host: str, port: int) -> None:
        self._server = _EmbeddedServer(_config(deps, host, port))
        self._host, self._port = host, port
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
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
        try:
            self._socket = _bind(self._host, self._port)
        except OSError as exc:
            reason = exc.strerror or exc
            raise OSError(f"the web server could not listen on {self.address}: {reason}") from exc
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name="web")

    async def stop(self) -> None:
        """Close the listener and finish open requests (at most ``STOP_TIMEOUT_S``)."""
        if self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(self._task, STOP_TIMEOUT_S)
        except TimeoutError:
            self._server.force_exit = True
            await asyncio.wait_for(self._task, STOP_TIMEOUT_S)
        self._task = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
