"""A database filled by the bundled replay market, and the web app over it.

The replay's last steps go through the real pipeline (``build_demo``: the same wiring as
``dps run``), so the dashboard shows exactly what ``/top`` answers.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot.bootstrap import App, build_demo
from bot.config import load_settings
from bot.demo import ReplayClock
from bot.web.site import build_web_app
from bot.web_launch import web_deps


@dataclass
class Replayed:
    """An app whose database holds the replay's cycles up to ``clock.current``."""

    app: App
    clock: ReplayClock
    steps: list[datetime]  # the replay steps not run yet
    loop: asyncio.AbstractEventLoop

    def run_cycle(self) -> datetime:
        """Run the next replay step's cycle into the database; its time."""
        moment = self.steps.pop(0)
        self.clock.current = moment
        self.loop.run_until_complete(self.app.collector.cycle.run(moment))
        # As ``dps run`` does after a stored cycle: the chats' queries prepare the new market.
        self.app.commands.queries.refresh(self.app.collector.exchange)
        return moment

    def close(self) -> None:
        self.loop.run_until_complete(self.app.close())
        self.loop.close()


def replayed(db: Path, *, cycles: int, held_back: int = 0, symbols: tuple[str, ...] = ()) -> Replayed:
    """The replay's last ``cycles + held_back`` steps; the last ``held_back`` are left to run."""
    settings = load_settings(database_url=f"sqlite:///{db}", symbols=list(symbols))
    clock = ReplayClock(datetime.min.replace(tzinfo=UTC))
    demo = build_demo(settings, clock=clock, out=io.StringIO())
    steps = demo.steps[-(cycles + held_back) :]
    loop = asyncio.new_event_loop()
    run = Replayed(demo.app, clock, steps, loop)
    clock.current = steps[0]
    loop.run_until_complete(demo.app.collector.cycle.backfill(steps[0]))
    for _ in range(cycles):
        run.run_cycle()
    return run


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replayed]:
    """Every symbol of the replay, its last two cycles stored (the last one is the seed's)."""
    run = replayed(tmp_path_factory.mktemp("web") / "web.sqlite3", cycles=2)
    yield run
    run.close()


@pytest.fixture(scope="module")
def client(market: Replayed) -> Iterator[TestClient]:
    """The web app over ``market`` (no API token)."""
    with TestClient(build_web_app(web_deps(market.app))) as test_client:
        yield test_client
