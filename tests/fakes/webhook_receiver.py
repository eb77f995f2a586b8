"""A webhook receiver on 127.0.0.1 (port 0): records every POST and answers as told.

It checks nothing itself: a test reads ``requests`` (method, path, headers, exact body
bytes) and verifies signatures with ``bot.core.webhook_signature.verify``, the way a real
receiver would. ``answer`` sets the status (and headers) of the following requests;
``hold`` keeps requests waiting without an answer until released (a timeout).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it, and the status it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """A real HTTP server recording POSTs; ``url`` is set once started."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    held: asyncio.Event | None = None
    ok_left: int | None = None
    _runner: web.AppRunner | None = None

    def answer(self, status: int, **headers: str) -> None:
        """Answer the following requests with ``status`` (and these headers)."""
        self.status, self.headers, self.ok_left = status, dict(headers), None

    def outage_after(self, n: int) -> None:
        """Accept the next ``n`` requests, then answer 503 until ``answer`` is called."""
        self.ok_left = n

    def hold(self) -> None:
        """Leave the following requests unanswered until ``release``."""
        self.held = asyncio.Event()

    def release(self) -> None:
        if self.held is not None:
            self.held.set()
        self.held = None

    def delivered(self) -> list[Received]:
        """The requests answered with a 2xx: what a receiver accepted."""
        return [r for r in self.requests if 200 <= r.status < 300]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.held is not None:
            await self.held.wait()
        status, headers = self.status, self.headers
        if self.ok_left is not None:
            status = 200 if self.ok_left > 0 else 503
            self.ok_left = max(0, self.ok_left - 1)
        self.requests.append(Received(request.path_qs, dict(request.headers), body, status))
        return web.Response(status=status, headers=headers, text="ok" if status < 300 else "no")

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.2, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
