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
does not flood the log. Nothing the child does can stop the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import Callable, Sequence

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0
NEWS_EVERY_S = 1.0
"""How often the bot's news is looked at, and sent to the child when it changed."""
SERVING = b"serving"
"""The line the child prints on its stdout once it accepts connections."""


class WebChild:
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
        self._command = list(command)
        self._news = news
        self._sent: bytes | None = None
        self._settings = settings
        self._socket: socket.socket | None = listening
        self.address = address
        self._backoff_s, self._backoff_max_s = backoff_s, backoff_max_s
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._news_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.started = 0
        """How many children were started (tests and the bench read it)."""
        self.serving = 0
        """How many of them said they accept connections."""
        self._served = asyncio.Event()
        self.pauses: list[float] = []
        """Each pause before a restart, in seconds."""

    @property
    def bound_port(self) -> int | None:
        """The port listened on (``port=0`` picks a free one)."""
        return None if self._socket is None else int(self._socket.getsockname()[1])

    @property
    def stopping(self) -> bool:
        """Whether ``stop`` was called (an exit then is no failure)."""
        return self._stopping

    @property
    def pid(self) -> int | None:
        """The current child's process id, if one runs."""
        proc = self._proc
        return None if proc is None or proc.returncode is not None else proc.pid

    async def until_serving(self) -> None:
        """Return once a child has said it accepts connections."""
        await self._served.wait()

    def start(self) -> None:
        """Start the first child and keep one running until ``stop``."""
        self._task = asyncio.create_task(self._supervise(), name="web-child")
        if self._news is not None:
            self._news_task = asyncio.create_task(self._send_news(), name="web-news")

    async def stop(self) -> None:
        """Stop the child (its open requests finish, at most ``STOP_TIMEOUT_S``; then it is
        killed) and close the socket."""
        self._stopping = True
        task, self._task = self._task, None
        proc = self._proc
        if proc is not None and proc.returncode is None:
            await _end(proc)
        for running in (task, self._news_task):
            if running is not None:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
        self._news_task = None
        proc = self._proc  # one started while the first was ending
        if proc is not None and proc.returncode is None:
            await _end(proc)
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        delay, quiet = self._backoff_s, False
        while not self._stopping:
            began, served = loop.time(), self.serving
            try:
                code: int | str = await self._run_one()
            except Exception as exc:  # e.g. the interpreter could not be started: retry later
                code = repr(exc)
            if self.stopping:
                return
            if self.serving > served and loop.time() - began >= self._backoff_max_s:
                delay, quiet = self._backoff_s, False  # it served long enough: a new failure is news
            if quiet:
                logger.debug("the dashboard's process exited again (%s); restarting in %.1f s", code, delay)
            else:
                logger.warning(
                    "the dashboard's process exited (%s); restarting it in %.1f s, with a growing pause "
                    "while it keeps exiting (further exits are not logged until it serves %.0f s)",
                    code,
                    delay,
                    self._backoff_max_s,
                )
                quiet = True
            self.pauses.append(delay)
            await asyncio.sleep(delay)
            delay = min(2 * delay, self._backoff_max_s)

    async def _run_one(self) -> int:
        """Start a child, pass it its settings, follow its stdout until it exits; its exit code."""
        if self._socket is None:
            raise RuntimeError("the listening socket is closed")
        proc = await asyncio.create_subprocess_exec(
            *self._command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            pass_fds=(self._socket.fileno(),),
            # Its own process group: a Ctrl-C in the terminal reaches the bot, which stops it.
            start_new_session=True,
        )
        self._proc = proc
        self.started += 1
        if proc.stdin is None or proc.stdout is None:
            raise RuntimeError("the child's pipes are missing")
        self._sent = None  # a new child knows nothing yet
        with contextlib.suppress(OSError):  # it died at once: its exit code says more
            proc.stdin.write(self._settings + b"\n")
            self._tell(proc)
            await proc.stdin.drain()
        while line := await proc.stdout.readline():
            if line.rstrip() == SERVING:
                self.serving += 1
                self._served.set()
                level = logging.INFO if self.serving == 1 else logging.DEBUG
                logger.log(level, "dashboard at %s (its own process, %d)", self.address, proc.pid)
            else:  # not ours: what the child printed goes where the bot prints
                sys.stdout.write(line.decode(errors="replace"))
        return await proc.wait()

    async def _send_news(self) -> None:
        while True:
            await asyncio.sleep(NEWS_EVERY_S)
            proc = self._proc
            if proc is not None and proc.returncode is None:
                self._tell(proc)

    def _tell(self, proc: asyncio.subprocess.Process) -> None:
        """Write the news to ``proc`` if it changed since it was last told (a line of a few
        hundred bytes: the pipe's buffer takes it without waiting)."""
        if self._news is None or proc.stdin is None or proc.stdin.is_closing():
            return
        news = self._news()
        if news != self._sent:
            with contextlib.suppress(OSError):
                proc.stdin.write(news + b"\n")
                self._sent = news


async def _end(proc: asyncio.subprocess.Process) -> None:
    """Close the child's stdin (it finishes its open requests and exits); SIGKILL if it lingers."""
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
        return
    except TimeoutError:
        logger.warning("the dashboard's process %d did not stop in %.0f s: killed", proc.pid, STOP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()
