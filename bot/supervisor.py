"""A child process of ``dps run``, kept running: started, restarted when it dies, stopped.

Shared by the dashboard's process (``bot.web_supervisor``) and the per-venue collectors
(``bot.venue_children``). The child reads its settings as the first line of its stdin,
then whatever news the parent sends, and exits when that pipe closes: on ``stop``, and
when the parent dies without stopping it (kill -9), since the kernel closes the parent's
end then. A pipe works wherever Python does; a parent-death signal is Linux-only.

A child that dies is started again after a back-off that doubles while it keeps dying;
its exit is logged once (as a warning) until it has run healthily for a while again, so
a crash loop does not flood the log. Nothing the child does can stop the parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Sequence

NEWS_EVERY_S = 1.0
"""How often the parent's news is looked at, and sent to the child when it changed."""


class Supervised:
    """Supervises one child process (see the module docstring): ``start`` once, ``stop`` on shutdown.

    Args:
        name: what the log calls the child ("the dashboard's process").
        command: the child's command line.
        settings: the bytes written to the child's stdin first (its settings, one line).
        log: the logger of the part that owns the child (its lines carry that name).
        pass_fds: file descriptors the child inherits.
        backoff_s: the first pause before a restart; doubled per exit, up to ``backoff_max_s``.
        backoff_max_s: the longest pause, and how long a child must run healthily to be
            counted healthy again (the pause then starts again from ``backoff_s``).
        news: what the child should know of the parent now (one line, no newline); sent on
            start and whenever it changes, looked at every ``NEWS_EVERY_S``.
        stop_timeout_s: how long ``stop`` waits for the child to finish before killing it.
        terminate: ``stop`` also sends SIGTERM (a child that stops on it); otherwise closing
            its stdin is the only cue.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        settings: bytes,
        log: logging.Logger,
        *,
        pass_fds: Sequence[int] = (),
        backoff_s: float = 1.0,
        backoff_max_s: float = 60.0,
        news: Callable[[], bytes] | None = None,
        stop_timeout_s: float = 5.0,
        terminate: bool = False,
    ) -> None:
        self.name = name
        self._command = list(command)
        self._settings = settings
        self._log = log
        self._pass_fds = tuple(pass_fds)
        self._news = news
        self._sent: bytes | None = None
        self._backoff_s, self._backoff_max_s = backoff_s, backoff_max_s
        self._stop_timeout_s = stop_timeout_s
        self._terminate = terminate
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._news_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.started = 0
        """How many children were started (tests and the benches read it)."""
        self.healthy = 0
        """How many of them said they were healthy (``heard`` returned True for a line)."""
        self.pauses: list[float] = []
        """Each pause before a restart, in seconds."""

    @property
    def stopping(self) -> bool:
        """Whether ``stop`` was called (an exit then is no failure)."""
        return self._stopping

    @property
    def pid(self) -> int | None:
        """The current child's process id, if one runs."""
        proc = self._proc
        return None if proc is None or proc.returncode is not None else proc.pid

    def start(self) -> None:
        """Start the first child and keep one running until ``stop``."""
        self._task = asyncio.create_task(self._supervise(), name=self.name)
        if self._news is not None:
            self._news_task = asyncio.create_task(self._send_news(), name=f"{self.name}: news")

    async def stop(self) -> None:
        """Stop the child (it finishes what it does, at most ``stop_timeout_s``; then it is killed)."""
        self._stopping = True
        task, self._task = self._task, None
        proc = self._proc
        if proc is not None and proc.returncode is None:
            await self._end(proc)
        for running in (task, self._news_task):
            if running is not None:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
        self._news_task = None
        proc = self._proc  # one started while the first was ending
        if proc is not None and proc.returncode is None:
            await self._end(proc)

    def heard(self, line: bytes, pid: int) -> bool | None:
        """A line the child printed: True if it says the child is healthy, False if it was
        otherwise understood, None if it is not the parent's (it is printed as it came)."""
        return None

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        delay, quiet = self._backoff_s, False
        while not self._stopping:
            began, healthy = loop.time(), self.healthy
            try:
                code: int | str = await self._run_one()
            except Exception as exc:  # e.g. the interpreter could not be started: retry later
                code = repr(exc)
            if self.stopping:  # the property: mypy would take the loop's test as still true
                return
            proc = self._proc
            if proc is not None and proc.returncode is not None:
                await self._exited(proc.pid)
            if self.healthy > healthy and loop.time() - began >= self._backoff_max_s:
                delay, quiet = self._backoff_s, False  # it ran long enough: a new failure is news
            if quiet:
                self._log.debug("%s exited again (%s); restarting in %.1f s", self.name, code, delay)
            else:
                self._log.warning(
                    "%s exited (%s); restarting it in %.1f s, with a growing pause while it keeps "
                    "exiting (further exits are not logged until it runs %.0f s)",
                    self.name,
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
        self._check_can_start()
        proc = await asyncio.create_subprocess_exec(
            *self._command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            pass_fds=self._pass_fds,
            # Its own process group: a Ctrl-C in the terminal reaches the parent, which stops it.
            start_new_session=True,
        )
        self._proc = proc
        self.started += 1
        self._began(proc.pid)
        if proc.stdin is None or proc.stdout is None:
            raise RuntimeError("the child's pipes are missing")
        self._sent = None  # a new child knows nothing yet
        with contextlib.suppress(OSError):  # it died at once: its exit code says more
            proc.stdin.write(self._settings + b"\n")
            self._tell(proc)
            await proc.stdin.drain()
        while line := await proc.stdout.readline():
            understood = self.heard(line.rstrip(), proc.pid)
            if understood:
                self.healthy += 1
            elif understood is None:  # not ours: what the child printed goes where the parent prints
                sys.stdout.write(line.decode(errors="replace"))
        return await proc.wait()

    def _began(self, pid: int) -> None:
        """A child was just started (a subclass may say so)."""

    async def _exited(self, pid: int) -> None:
        """The child ``pid`` died (reaped, not stopped): before its replacement starts, a
        subclass may undo what it left behind. Must not raise."""

    def _check_can_start(self) -> None:
        """Raise if a child cannot be started now (a subclass's resources are gone)."""

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

    async def _end(self, proc: asyncio.subprocess.Process) -> None:
        """Close the child's stdin (and SIGTERM it, with ``terminate``): it finishes and exits;
        SIGKILL if it lingers."""
        if proc.stdin is not None:
            proc.stdin.close()
        if self._terminate:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), self._stop_timeout_s)
            return
        except TimeoutError:
            self._log.warning(
                "%s (%d) did not stop in %.0f s: killed", self.name, proc.pid, self._stop_timeout_s
            )
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
