"""The dashboard's address: bound by whoever serves it, shown to people.

Apart from ``bot.web.server`` so that ``dps run`` can bind the address for the dashboard's
process without loading the web stack (Starlette, uvicorn, Jinja2) itself.
"""

from __future__ import annotations

import socket

from bot.errors import ListenError


def dashboard_address(host: str, port: int) -> str:
    """The address to print for people (``http://127.0.0.1:8080/``)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def bind(host: str, port: int, address: str) -> socket.socket:
    """A listening, non-blocking socket on ``host:port`` (``address`` names it in the error).

    Bound here, not by uvicorn: uvicorn answers a failed bind with SystemExit, which would
    escape the bot's event loop; an OSError lets the caller say what went wrong.

    Raises:
        ListenError: the address could not be bound (in use, not allowed, unknown host); an
            OSError too.
    """
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ListenError(f"the web server could not listen on {address}: {exc.strerror or exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ListenError(f"the web server could not listen on {address}: {exc.strerror or exc}") from exc
    return sock
