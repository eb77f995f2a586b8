"""Charts drawn in a short-lived child process, awaited without blocking the event loop.

A chart costs tens of milliseconds of CPU and matplotlib ~50 MB of memory; neither belongs
in the bot process. ``ChartWorker`` starts ``python -m bot.render.chart_child`` (a fresh
interpreter: it inherits none of the bot's memory and imports only the drawing code) on
the first chart, talks to it over a pipe with asyncio streams, and lets it exit once idle.

Why an asyncio subprocess and not a ``ProcessPoolExecutor``: a spawn-context pool re-runs
the parent's main module in the child (for ``dps`` that imports the whole bot), and a pool
cannot abandon a drawing that hangs; here a timeout kills the child outright and the next
chart starts a fresh one.

* One worker serves every chart of a digest run (it stays up until ``idle_s`` passes with
  no request), one request at a time.
* Identical requests (the same digest picture for many chats) are drawn once: recent
  results are cached by the request's bytes; a request that just failed fails fast for
  ``retry_after_s`` instead of timing out once per chat.
* A timeout, a crash or a failed start raises ``ChartError``: the digest goes out without
  its picture, ``/chart`` says it could not draw.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from bot.app.digest import DigestPicture
from bot.app.views import ChartView
from bot.errors import ChartError
from bot.render.chart_child import ERROR, MODULE, PNG, READY, REPLY_HEADER, request_frame

logger = logging.getLogger(__name__)

IDLE_S = 60.0
"""A worker with no request for this long exits and returns its memory."""
START_TIMEOUT_S = 60.0
"""Start-up (mostly importing matplotlib; its first run builds a font cache)."""
DRAW_TIMEOUT_S = 20.0
"""One chart; a child that takes longer is killed."""
CACHE_SIZE = 16
RETRY_AFTER_S = 60.0
STOP_TIMEOUT_S = 5.0


@dataclass
class WorkerStats:
    """What the worker did: for the logs, the bench and the tests."""

    starts: int = 0
    drawn: int = 0
    cache_hits: int = 0
    failures: int = 0
    start_seconds: float | None = None  # the latest start: spawn to ready, seen from the bot
    import_seconds: float | None = None  # the latest start: the child's own import time
    peak_rss_kib: int = 0  # the largest peak any worker reported


class ChartWorker:
    """Draws ``/chart`` and digest charts in a child process (see the module docstring)."""

    def __init__(
        self,
        *,
        idle_s: float = IDLE_S,
        start_timeout_s: float = START_TIMEOUT_S,
        draw_timeout_s: float = DRAW_TIMEOUT_S,
        retry_after_s: float = RETRY_AFTER_S,
        cache_size: int = CACHE_SIZE,
        command: tuple[str, ...] = (sys.executable, "-m", MODULE),
    ) -> None:
        """``command`` starts the child (tests start a broken one to see failures handled)."""
        self._idle_s = idle_s
        self._start_timeout_s = start_timeout_s
        self._draw_timeout_s = draw_timeout_s
        self._retry_after_s = retry_after_s
        self._cache_size = cache_size
        self._command = command
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._failed: dict[bytes, float] = {}  # request → monotonic time it may be retried
        self._idle_timer: asyncio.TimerHandle | None = None
        self._retiring: asyncio.Task[None] | None = None
        self.stats = WorkerStats()

    @property
    def pid(self) -> int | None:
        """The running child's pid (``None`` when no worker is up)."""
        return None if self._process is None else self._process.pid

    async def chart(self, view: ChartView) -> bytes:
        """``/chart``'s PNG (``bot.app.command_registry.ChartRenderer``)."""
        return await self._draw("view", view)

    async def digest(self, picture: DigestPicture) -> bytes:
        """The digest's PNG (``bot.app.digest.DigestChart``)."""
        return await self._draw("digest", picture)

    async def close(self) -> None:
        """Stop the worker, if one is up (the bot's shutdown)."""
        self._cancel_idle_timer()
        if self._retiring is not None:
            await self._retiring  # an idle exit under way: let it finish rather than orphan it
        async with self._lock:
            await self._stop()

    async def _draw(self, kind: str, argument: object) -> bytes:
        request = pickle.dumps((kind, argument), protocol=pickle.HIGHEST_PROTOCOL)
        async with self._lock:  # one request at a time; an identical waiter finds it cached
            self._cancel_idle_timer()
            try:
                return await self._answer(request)
            finally:
                self._arm_idle_timer()

    async def _answer(self, request: bytes) -> bytes:
        cached = self._cache.get(request)
        if cached is not None:
            self._cache.move_to_end(request)
            self.stats.cache_hits += 1
            return cached
        if self._failed.get(request, 0.0) > time.monotonic():
            raise ChartError("this chart failed a moment ago; not retrying it yet")
        try:
            png = await self._roundtrip(request)
        except ChartError:
            self.stats.failures += 1
            now = time.monotonic()
            self._failed = {r: until for r, until in self._failed.items() if until > now}
            self._failed[request] = now + self._retry_after_s
            raise
        self._failed.pop(request, None)
        self._cache[request] = png
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        self.stats.drawn += 1
        return png

    async def _roundtrip(self, request: bytes) -> bytes:
        reused = self._process is not None
        try:
            return await self._exchange(request)
        except _WorkerGoneError:
            if not reused:
                raise ChartError("the chart worker stopped unexpectedly") from None
        # The worker died while idle (killed, out of memory): one more try on a fresh one.
        try:
            return await self._exchange(request)
        except _WorkerGoneError:
            raise ChartError("the chart worker stopped unexpectedly") from None

    async def _exchange(self, request: bytes) -> bytes:
        process = await self._started()
        stdin, stdout = _pipes(process)
        try:
            stdin.write(request_frame(request))
            status, body = await asyncio.wait_for(self._reply(stdout), self._draw_timeout_s)
        except TimeoutError as exc:
            await self._stop(kill=True)
            limit = f"{self._draw_timeout_s:g} s"
            raise ChartError(f"the chart worker took over {limit} and was stopped") from exc
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            await self._stop(kill=True)
            raise _WorkerGoneError from exc
        if status == ERROR:
            raise ChartError(f"the chart could not be drawn: {body.decode(errors='replace')}")
        if status != PNG:
            await self._stop(kill=True)
            raise ChartError(f"the chart worker answered out of turn ({status!r})")
        return body

    async def _reply(self, stdout: asyncio.StreamReader) -> tuple[bytes, bytes]:
        status, peak, size = REPLY_HEADER.unpack(await stdout.readexactly(REPLY_HEADER.size))
        body = await stdout.readexactly(size)
        self.stats.peak_rss_kib = max(self.stats.peak_rss_kib, peak)
        return status, body

    async def _started(self) -> asyncio.subprocess.Process:
        if self._process is not None and self._process.returncode is None:
            return self._process
        await self._stop(kill=True)  # a worker that died between charts: reap it
        began = time.perf_counter()
        try:
            process = await asyncio.create_subprocess_exec(
                *self._command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=_child_env(),
            )
        except OSError as exc:
            raise ChartError(f"the chart worker could not start: {exc}") from exc
        self._process = process
        try:
            status, body = await asyncio.wait_for(self._reply(_pipes(process)[1]), self._start_timeout_s)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
            await self._stop(kill=True)
            raise ChartError("the chart worker did not start") from exc
        if status != READY:
            await self._stop(kill=True)
            raise ChartError(f"the chart worker did not start ({status!r})")
        self.stats.starts += 1
        self.stats.start_seconds = time.perf_counter() - began
        self.stats.import_seconds = float(body.decode())
        logger.info(
            "chart worker %d started in %.2f s (imports %.2f s)",
            process.pid,
            self.stats.start_seconds,
            self.stats.import_seconds,
        )
        return process

    async def _stop(self, *, kill: bool = False) -> None:
        """End the child: EOF on its stdin lets it exit; ``kill`` (or a stuck one) ends it now."""
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            if kill:
                process.kill()
            elif process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                process.kill()
                await process.wait()
        self._process = None  # only now: ``pid is None`` means the child is gone
        logger.info("chart worker %d stopped (peak RSS %.0f MB)", process.pid, self.stats.peak_rss_kib / 1024)

    def _arm_idle_timer(self) -> None:
        if self._process is not None:
            self._idle_timer = asyncio.get_running_loop().call_later(self._idle_s, self._retire_soon)

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _retire_soon(self) -> None:
        self._idle_timer = None
        self._retiring = asyncio.get_running_loop().create_task(self._retire())

    async def _retire(self) -> None:
        async with self._lock:
            if self._idle_timer is None:  # no request re-armed it while we waited
                await self._stop()


class _WorkerGoneError(Exception):
    """The child's pipe closed mid-request: it crashed or was killed."""


def _pipes(process: asyncio.subprocess.Process) -> tuple[asyncio.StreamWriter, asyncio.StreamReader]:
    if process.stdin is None or process.stdout is None:  # never: both are requested as pipes
        raise ChartError("the chart worker has no pipes")
    return process.stdin, process.stdout


def _child_env() -> dict[str, str]:
    """The bot's environment, with this ``bot`` package importable even from an uninstalled tree."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env["MPLBACKEND"] = "Agg"
    return env
