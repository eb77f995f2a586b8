"""A collector process per venue under ``dps run`` (``VENUE_PROCESSES=per-venue``, the default).

In one process the venues share one interpreter lock, and Binance's 500 per-symbol answers
are CPU-bound: the round of three took 1.3x the slowest venue alone; a process each brought
it to 1.1x (docs/performance.md, "Three venues together"). So ``dps run`` starts a child
per venue (``python -m bot.venue_children VENUE``), supervised by ``bot.supervisor``: it
is started again with a back-off when it dies, and stopped with its parent.

The child gets the parent's settings on its stdin (no chat or API token: it sends nothing)
with ``COLLECT_VENUES`` set to its venue. It knows every venue of ``EXCHANGES``, since alert
fan-out, titles ("· Bybit") and digests depend on them, but collects only its own, under
that venue's lease, and delivers nothing: the parent delivers, sums the aggregate and does
the digests and retention. After each stored cycle the child prints one line on its stdout
(``CYCLE`` and the cycle's summary), from which the parent records ``/status``'s line and
starts the aggregate once every venue stored its cycle. It stops on SIGTERM or when its
stdin closes (the parent stopped it, or died: no orphan is left).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING

from bot.supervisor import Supervised

if TYPE_CHECKING:
    from bot.config import Settings

logger = logging.getLogger(__name__)

CYCLE = b"dps-cycle "
"""How a child's stdout line announcing a stored cycle starts (then its summary line)."""
STOP_TIMEOUT_S = 45.0
"""How long a stopping child may take to finish its cycle under way (its schedule waits 30 s
for it) before it is killed: within the service's stop timeout (deploy/dps.service, 60 s)."""


class VenueChild(Supervised):
    """One venue's collector process; ``heard`` turns its cycle lines into ``on_cycle`` calls."""

    def __init__(
        self,
        venue: str,
        settings: bytes,
        on_cycle: Callable[[str, str], Coroutine[object, object, None]],
        *,
        on_exit: Callable[[str, int], Coroutine[object, object, None]] | None = None,
        backoff_s: float = 1.0,
        backoff_max_s: float = 60.0,
    ) -> None:
        super().__init__(
            f"{venue}'s collector process",
            [sys.executable, "-m", "bot.venue_children", venue],
            settings,
            logger,
            backoff_s=backoff_s,
            backoff_max_s=backoff_max_s,
            stop_timeout_s=STOP_TIMEOUT_S,
            terminate=True,
        )
        self.venue = venue
        self._on_cycle = on_cycle
        self._on_exit = on_exit
        self._told: set[asyncio.Task[None]] = set()
        self._announced: int | None = None  # the child whose first cycle was logged

    def _began(self, pid: int) -> None:
        logger.info("%s started (%d)", self.name, pid)

    async def _exited(self, pid: int) -> None:
        if self._on_exit is None:
            return
        try:
            await self._on_exit(self.venue, pid)
        except Exception:  # the replacement then waits for the leases to lapse
            logger.exception("%s: the dead child's leases were not released", self.name)

    def heard(self, line: bytes, pid: int) -> bool | None:
        if not line.startswith(CYCLE):
            return None
        if self._announced != pid:
            self._announced = pid
            logger.info("%s (%d) stored its first cycle", self.name, pid)
        task = asyncio.create_task(self._on_cycle(self.venue, line[len(CYCLE) :].decode(errors="replace")))
        self._told.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._told.discard)
        return True

    async def stop(self) -> None:
        """Stop the child, then let the parent finish hearing of its last cycles."""
        await super().stop()
        await asyncio.gather(*self._told, return_exceptions=True)


class VenueChildren:
    """Every venue's child process (``start_venue_children``)."""

    def __init__(self, children: list[VenueChild]) -> None:
        self.children = children

    async def stop(self) -> None:
        """Stop every child at once (each finishes its cycle under way, or is killed)."""
        await asyncio.gather(*(child.stop() for child in self.children))


def start_venue_children(
    settings: Settings,
    on_cycle: Callable[[str, str], Coroutine[object, object, None]],
    *,
    on_exit: Callable[[str, int], Coroutine[object, object, None]] | None = None,
    backoff_s: float = 1.0,
    backoff_max_s: float = 60.0,
) -> VenueChildren:
    """Start a collector process for each venue of ``EXCHANGES``; ``on_cycle(venue, line)``
    is awaited in this loop after each cycle a child stored, ``on_exit(venue, pid)`` after a
    child died, before its replacement starts."""
    children = [
        VenueChild(
            venue,
            child_settings(settings, venue),
            on_cycle,
            on_exit=on_exit,
            backoff_s=backoff_s,
            backoff_max_s=backoff_max_s,
        )
        for venue in settings.exchanges
    ]
    for child in children:
        child.start()
    return VenueChildren(children)


def child_settings(settings: Settings, venue: str) -> bytes:
    """The settings one venue's child is built with, as one JSON line: the parent's own (which
    may not all come from the environment) for that venue alone, without any token and
    without the dashboard (the parent serves it)."""
    data = settings.model_dump(mode="json")
    data["telegram_bot_token"] = data["discord_bot_token"] = data["web_api_token"] = None
    data["web_port"] = None
    data["collect_venues"] = [venue]
    return json.dumps(data).encode()


def _child_main(argv: list[str]) -> int:
    """One venue's collector: settings from stdin, collect until SIGTERM or stdin closes."""
    from bot.config import load_settings
    from bot.libraries import configure_libraries

    if len(argv) != 1:
        print("usage: python -m bot.venue_children VENUE (started by dps run)", file=sys.stderr)
        return 2
    venue = argv[0]
    # Its own session: a Ctrl-C reaches the parent only, which stops it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = load_settings(**json.loads(sys.stdin.buffer.readline()))
    if settings.collect_venues != [venue]:
        print(f"the settings are not {venue}'s", file=sys.stderr)
        return 2
    # Its lines name its venue: the parent's log interleaves every child's.
    configure_libraries(settings.log_level, fmt=f"%(asctime)s %(levelname)s [{venue}] %(name)s: %(message)s")
    return asyncio.run(_collect(settings))


async def _collect(settings: Settings) -> int:
    from bot.roles import Role
    from bot.runner import run

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    def read_until_eof() -> None:  # a daemon thread: it must not hold the interpreter's exit
        try:
            for _ in sys.stdin.buffer:
                pass  # no news from the parent yet: only the pipe's end matters
            loop.call_soon_threadsafe(stop.set)
        except RuntimeError:  # the loop is closed: the run already ended
            return

    threading.Thread(target=read_until_eof, name="stdin", daemon=True).start()

    def stored(venue: str, line: str) -> None:
        sys.stdout.buffer.write(CYCLE + line.replace("\n", " ").encode() + b"\n")
        sys.stdout.buffer.flush()

    return await run(settings, role=Role.COLLECTOR, stop=stop, on_cycle=stored)


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
