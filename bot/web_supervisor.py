"""The dashboard's own process beside ``dps run``: started, restarted when it dies, stopped.

Served from the bot's process, the dashboard shared its interpreter (and GIL) with the
collection cycles, and its answers waited for them. In a process of its own it only shares
the database, which it reads; a new cycle reaches the page through the store (its mark).

The bot binds the listening socket and hands it to each child it starts, so the address is
checked once at start-up, and connections arriving while a dead child is replaced queue in
the kernel instead of being refused. The child reads its settings from its stdin, then the
bot's news (the latest cycle's line, for ``/api/v1/status``) as it changes, and exits when
that pipe closes: on ``stop``, and when the bot dies without stopping it (kill -9).
A child that dies is started again after a back-off that doubles while it keeps dying; its
exit is logged once (as a warning) until it has served for a while again, so a crash loop
does not flood the log. Nothing the child does can stop the bot. The machinery is
``bot.supervisor``'s, shared with the per-venue collectors.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Sequence

from bot.supervisor import NEWS_EVERY_S, Supervised

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0
SERVING = b"serving"
"""The line the child prints on its stdout once it accepts connections."""

__all__ = ["NEWS_EVERY_S", "SERVING", "STOP_TIMEOUT_S", "WebChild"]


class WebChild(Supervised):
    """Supervises the dashboard's process (see the module docstring): ``start`` once, ``stop`` on shutdown.

    Args:
        command: the child's command line (it serves on the inherited file descriptor
            ``listening.fileno()``, named in it).
        settings: the bytes written to the child's stdin (its settings, one line).
        listening: the bound, listening socket; closed by ``stop``.
        address: the address shown to people.
        backoff_s: the first pause before a restart; doubled per exit, up to ``backoff_max_s``.
        backoff_max_s: the longest pause, and how long a child must serve to count as healthy
            (the pause then starts again from ``backoff_s``).
        news: what the child should know of the bot now (one line, no newline); sent on
            start and whenever it changes, looked at every ``NEWS_EVERY_S``.
    """

    def __init__(
        self,
        command: Sequence[str],
        settings: bytes,
        listening: socket.socket,
        address: str,
        *,
        backoff_s: float = 1.0,
        backoff_max_s: float = 60.0,
        news: Callable[[], bytes] | None = None,
    ) -> None:
        super().__init__(
            "the dashboard's process",
            command,
            settings,
            logger,
            pass_fds=(listening.fileno(),),
            backoff_s=backoff_s,
            backoff_max_s=backoff_max_s,
            news=news,
            stop_timeout_s=STOP_TIMEOUT_S,
        )
        self._socket: socket.socket | None = listening
        self.address = address
        self._served = asyncio.Event()

    @property
    def serving(self) -> int:
        """How many of the children started said they accept connections."""
        return self.healthy

    @property
    def bound_port(self) -> int | None:
        """The port listened on (``port=0`` picks a free one)."""
        return None if self._socket is None else int(self._socket.getsockname()[1])

    async def until_serving(self) -> None:
        """Return once a child has said it accepts connections."""
        await self._served.wait()

    async def stop(self) -> None:
        """Stop the child (its open requests finish, at most ``STOP_TIMEOUT_S``; then it is
        killed) and close the socket."""
        await super().stop()
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def heard(self, line: bytes, pid: int) -> bool | None:
        if line != SERVING:
            return None
        self._served.set()
        level = logging.INFO if self.healthy == 0 else logging.DEBUG
        logger.log(level, "dashboard at %s (its own process, %d)", self.address, pid)
        return True

    def _check_can_start(self) -> None:
        if self._socket is None:
            raise RuntimeError("the listening socket is closed")
