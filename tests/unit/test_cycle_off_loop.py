"""The cycle's blocking steps run off the event loop, and it computes and stores the same.

Each port a cycle calls synchronously (the history read, the states read, the chats read
for fan-out, the store) is in turn held on a gate the test opens from the event loop: if
that step ran on the loop, the test could not run until it ended.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from bot.app.cycle import CollectionCycle, CycleDeps, CycleReport
from bot.core.diff import DiffParams
from bot.core.models import Band
from bot.core.params import DEFAULT_PARAMS
from bot.core.records import ChatKey, ChatKind, ChatSettings, Platform
from bot.render.documents import alert_document
from tests.fakes import FakeStorage
from tests.unit.test_cycle import STEP, T0, ScriptedSource
from tests.waiting import DEADLINE_S, behind_queued, wait_for

CYCLES = 8  # alerts come from the fourth on: every step below runs, fan-out included


class Gated:
    """A port whose ``method`` blocks, the first time it is called, until the gate opens."""

    def __init__(self, port: object, method: str) -> None:
        self._port = port
        self._method = method
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.from_loop_thread: bool | None = None

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._port, name)
        if name != self._method:
            return found

        def gated(*args: Any, **kwargs: Any) -> Any:
            if not self.entered.is_set():
                self.from_loop_thread = threading.current_thread() is threading.main_thread()
                self.entered.set()
                # The bound only keeps a broken build from hanging: the assertions then fail.
                self.opened.wait(DEADLINE_S)
            return found(*args, **kwargs)

        return gated


def build(
    storage: FakeStorage, port: str | None = None, method: str = ""
) -> tuple[CollectionCycle, Gated | None]:
    chat = storage.chats.ensure_chat(ChatKey(Platform.CONSOLE, "me"), kind=ChatKind.PRIVATE, now=T0)
    storage.chats.save_settings(chat.ref, ChatSettings(min_band=Band.LEAN))
    ports: dict[str, Any] = {
        "snapshots": storage.snapshots,
        "alert_states": storage.alert_states,
        "chats": storage.chats,
        "outbox": storage.outbox,
        "cycles": storage.cycles,
    }
    gate = None
    if port is not None:
        gate = ports[port] = Gated(ports[port], method)
    deps = CycleDeps("fakex", ScriptedSource(), **ports)
    return CollectionCycle(deps, DEFAULT_PARAMS, DiffParams(), alert_document), gate


async def cycles(cycle: CollectionCycle) -> list[CycleReport]:
    await cycle.backfill(T0)
    return [await cycle.run(T0 + i * STEP) for i in range(CYCLES)]


def outcome(storage: FakeStorage, reports: list[CycleReport]) -> tuple[object, ...]:
    return (
        [(r.scored, r.partial, r.alerts, r.messages) for r in reports],
        storage.scores.score_history("fakex", "BTCUSDT", T0, T0 + CYCLES * STEP),
        storage.alert_states.load_alert_states("fakex"),
        [(m.idempotency_key, m.payload) for m in storage.outbox.entries.values()],
    )


@pytest.mark.parametrize(
    ("port", "method"),
    [
        ("snapshots", "market_history"),  # the history read at the first cycle
        ("alert_states", "load_alert_states"),  # the states read at the first cycle
        ("chats", "alert_chats"),  # the fan-out's read at the first alert
        ("cycles", "save_cycle"),  # the one transaction of each cycle
    ],
)
async def test_the_event_loop_runs_while_a_cycle_step_blocks_and_the_results_are_the_same(
    port: str, method: str
) -> None:
    reference = FakeStorage()
    expected = outcome(reference, await cycles(build(reference)[0]))

    storage = FakeStorage()
    cycle, gate = build(storage, port, method)
    assert gate is not None
    running = asyncio.create_task(cycles(cycle))
    # This wait polls from the event loop: it ends only while the blocked step leaves it free.
    await wait_for(gate.entered.is_set, f"the cycle to call {method}")
    gate.opened.set()
    reports = await running
    assert gate.from_loop_thread is False
    assert sum(r.events for r in reports) >= 1
    assert outcome(storage, reports) == expected


async def test_a_cycle_cancelled_mid_store_ends_after_the_store_and_reads_its_states_again() -> None:
    storage = FakeStorage()
    cycle, gate = build(storage, "cycles", "save_cycle")
    assert gate is not None
    await cycle.backfill(T0)
    running = asyncio.create_task(cycle.run(T0))
    await wait_for(gate.entered.is_set, "the cycle's store to begin")
    running.cancel()
    seen = behind_queued(running.done, gate.opened.set)
    with pytest.raises(asyncio.CancelledError):
        await running
    assert seen == [False]  # still storing when cancelled: a shutdown awaiting it waits too
    # The transaction ran to its end; the memory was not updated, so the next cycle reads
    # the states back from the store rather than trusting a cycle it never saw finish.
    assert storage.scores.score_history("fakex", "BTCUSDT", T0, T0)
    assert cycle.remembered_states() is None
    report = await cycle.run(T0 + STEP)
    assert report.scored == 1
    assert cycle.remembered_states() == storage.alert_states.load_alert_states("fakex")
