"""A cycle computes and stores with the cyclic garbage collector paused, and resumes it after.

The pause is counted: overlapping cycles (several venues in one process) resume the
collector only when the last one ends, and a collector someone else disabled stays off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from typing import Any

import pytest

from bot import gc_policy
from bot.app.cycle import CollectionCycle, CycleDeps
from bot.app.snapshot_scoring import ScoredSymbol
from bot.core.collection import FetchReport
from bot.core.diff import DiffParams
from bot.core.params import DEFAULT_PARAMS
from bot.gc_policy import collector_paused
from bot.render.documents import alert_document
from tests.fakes import FakeStorage
from tests.unit.test_cycle import STEP, T0, ScriptedSource, snap


@pytest.fixture(autouse=True)
def collector_enabled() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_inside_and_on_again_after() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_resumes_the_collector() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("the store failed")
    assert gc.isenabled()


def test_overlapping_pauses_resume_only_when_the_last_ends() -> None:
    first, second = ExitStack(), ExitStack()
    first.enter_context(collector_paused())
    second.enter_context(collector_paused())
    first.close()  # one venue's cycle ends while another's still runs
    assert not gc.isenabled()
    second.close()
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_start_up_ending_under_a_cycle_leaves_the_collector_paused() -> None:
    # Several venues: one venue's start-up ends (``after_start``) while another's cycle runs.
    try:
        with collector_paused():
            gc_policy.after_start()
            assert not gc.isenabled()
        assert gc.isenabled()
    finally:
        gc.unfreeze()  # frozen objects are never freed: give the rest of the run them back


class Recording:
    """A port whose ``method`` records whether the collector was enabled at each call."""

    def __init__(self, port: object, method: str) -> None:
        self._port, self._method = port, method
        self.enabled: list[bool] = []

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._port, name)
        if name != self._method:
            return found

        def recorded(*args: Any, **kwargs: Any) -> Any:
            self.enabled.append(gc.isenabled())
            return found(*args, **kwargs)

        return recorded


async def test_a_cycle_reads_scores_and_stores_with_the_collector_paused() -> None:
    storage = FakeStorage()
    history = Recording(storage.snapshots, "market_history")
    store = Recording(storage.cycles, "save_cycle")
    deps = CycleDeps(
        "fakex",
        ScriptedSource(),
        snapshots=history,  # type: ignore[arg-type]  # a recording proxy of the port
        alert_states=storage.alert_states,
        chats=storage.chats,
        outbox=storage.outbox,
        cycles=store,  # type: ignore[arg-type]
    )
    cycle = CollectionCycle(deps, DEFAULT_PARAMS, DiffParams(), alert_document)
    await cycle.backfill(T0)
    reports = [await cycle.run(T0 + i * STEP) for i in range(3)]
    assert [r.scored for r in reports] == [1, 1, 1]
    assert history.enabled and not any(history.enabled)
    assert store.enabled == [False, False, False]
    assert gc.isenabled()


class WideSource(ScriptedSource):
    """Two hundred symbols, so a cycle leaves thousands of young objects behind its pause."""

    async def load_universe(self) -> list[str]:
        return [f"S{i:03d}USDT" for i in range(200)]

    async def fetch_cycle(self, now: datetime) -> FetchReport:
        snapshots = tuple(snap(f"S{i:03d}USDT", now, 1000.0 + i) for i in range(200))
        return FetchReport(snapshots=snapshots, failures=(), requests=1, weight_used=None, duration_s=0.0)


async def test_the_cycles_records_are_gone_when_the_collector_resumes() -> None:
    # The collector's first pass after the pause walks every young object still alive: the
    # cycle's records must be freed by then, not walked (and promoted) once more.
    storage = FakeStorage()
    store = Recording(storage.cycles, "save_cycle")
    deps = CycleDeps(
        "fakex",
        WideSource(),
        storage.snapshots,
        storage.alert_states,
        storage.chats,
        storage.outbox,
        cycles=store,  # type: ignore[arg-type]  # a recording proxy of the port
    )
    cycle = CollectionCycle(deps, DEFAULT_PARAMS, DiffParams(), alert_document)
    await cycle.run(T0)
    alive_at_first_pass: list[int] = []

    def first_pass_after_the_store(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and len(store.enabled) == 2 and not alive_at_first_pass:
            alive_at_first_pass.append(sum(isinstance(o, ScoredSymbol) for o in gc.get_objects()))

    gc.callbacks.append(first_pass_after_the_store)
    try:
        report = await cycle.run(T0 + STEP)
    finally:
        gc.callbacks.remove(first_pass_after_the_store)
    assert report.scored == 200
    assert alive_at_first_pass == [len(report.top)]  # the report's top five, no more
