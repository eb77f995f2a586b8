"""``dps run``'s garbage-collector policy: start-up's garbage freed, its survivors frozen."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot import gc_policy
from bot.bootstrap import build_app
from bot.collector.replay_source import ReplaySource
from bot.config import load_settings
from bot.runner import Process
from tests.fakes.clock import FakeClock


class Node:
    """A container the collector tracks."""

    other: Node | None = None


def tracked(obj: object) -> bool:
    """Whether a collection would traverse ``obj`` (frozen objects are out of its sight)."""
    return any(o is obj for o in gc.get_objects())


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    # Frozen objects are never freed: give the rest of the test run its collector back.
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_after_start_frees_the_garbage_and_freezes_what_survives() -> None:
    kept = Node()
    a, b = Node(), Node()
    a.other, b.other = b, a  # a reference cycle: only a collection frees it
    gone = weakref.ref(a)
    del a, b
    assert tracked(kept)
    frozen = gc_policy.after_start()
    assert gone() is None  # collected, not frozen for the process's life
    assert not tracked(kept)
    assert frozen == gc.get_freeze_count() > 0
    later = Node()
    assert tracked(later)  # what comes after start-up is collected as usual


async def test_a_collector_freezes_after_its_first_cycle_only(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'dps.sqlite3'}")
    replay = ReplaySource(symbols=settings.symbols, cycle_interval_s=settings.collect_interval)
    start = replay.market.first_time_with_history(24)
    assert start is not None
    clock = FakeClock(start)
    app = build_app(settings, clock=clock, replay=replay, chart_dir=tmp_path / "charts")
    try:
        process = Process(app, backfill=True)
        assert gc.get_freeze_count() == 0
        await process.cycle()  # backfill + the first cycle: start-up is over
        assert app.last_cycle.line is not None
        first = gc.get_freeze_count()
        assert first > 0
        clock.advance(timedelta(minutes=5))
        await process.cycle()
        assert app.last_cycle.line is not None
        # Later cycles freeze nothing more (frozen objects can still die: never more).
        assert gc.get_freeze_count() <= first
    finally:
        await app.close()
