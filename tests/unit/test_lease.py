"""The collector lease as one process sees it: take, renew, wait on standby, take over, release."""

from __future__ import annotations

import asyncio
import socket
import threading
from datetime import datetime, timedelta

import pytest

from bot.app.lease import Lease, collector_lease, collector_lease_name, release_leases_of_dead_child
from bot.errors import StorageError
from tests.fakes.clock import EPOCH
from tests.fakes.leases import FakeLeaseStore
from tests.waiting import DEADLINE_S, wait_for

TTL = timedelta(seconds=90)


def pair() -> tuple[FakeLeaseStore, Lease, Lease]:
    store = FakeLeaseStore()
    return (
        store,
        collector_lease(store, "binanceusdm", ttl=TTL, holder="a"),
        collector_lease(store, "binanceusdm", ttl=TTL, holder="b"),
    )


def test_one_collector_per_exchange_and_the_standby_takes_over_after_silence(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="bot.app.lease")
    _, a, b = pair()
    assert a.hold(EPOCH) and a.held
    assert not b.hold(EPOCH + timedelta(seconds=1))
    assert "standby: lease collector:binanceusdm held by a" in caplog.text
    for k in range(1, 10):  # a renews every 30 s: b never gets it
        assert a.hold(EPOCH + timedelta(seconds=30 * k))
        assert not b.hold(EPOCH + timedelta(seconds=30 * k + 1))
    silent_since = EPOCH + timedelta(seconds=270)  # a's last renewal
    assert not b.hold(silent_since + TTL - timedelta(seconds=1))
    assert b.hold(silent_since + TTL)
    assert not a.hold(silent_since + TTL + timedelta(seconds=1))  # a wakes up: lost it
    assert "lost" in caplog.text
    assert caplog.text.count("standby:") == 1  # said once per wait, not on every try


def test_a_clean_stop_hands_over_at_once() -> None:
    _, a, b = pair()
    assert a.hold(EPOCH)
    a.release()
    assert not a.held
    assert b.hold(EPOCH + timedelta(seconds=1))


def test_another_exchange_has_its_own_lease() -> None:
    store = FakeLeaseStore()
    assert collector_lease(store, "binanceusdm", ttl=TTL, holder="a").hold(EPOCH)
    assert collector_lease(store, "okx", ttl=TTL, holder="b").hold(EPOCH)


class BrokenStore(FakeLeaseStore):
    def acquire(self, *args: object, **kwargs: object) -> bool:
        raise StorageError("database is locked")


def test_unable_to_confirm_the_lease_means_not_collecting() -> None:
    lease = collector_lease(BrokenStore(), "binanceusdm", ttl=TTL, holder="a")
    assert not lease.hold(EPOCH)
    assert not lease.held


# --- off the loop: what the runner's heartbeat and cycles call on the event loop ------------


class GatedStore(FakeLeaseStore):
    """Each write waits (as on a busy SQLite file) until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.threads: list[str] = []

    def _wait(self) -> None:
        self.threads.append(threading.current_thread().name)
        self.entered.set()
        assert self.opened.wait(DEADLINE_S), "the event loop never ran while the write waited"

    def acquire(self, name: str, holder: str, now: datetime, ttl: timedelta) -> datetime | None:
        self._wait()
        return super().acquire(name, holder, now, ttl)

    def release(self, name: str, holder: str) -> None:
        self._wait()
        super().release(name, holder)


async def test_hold_off_loop_waits_for_the_store_on_a_writer_thread_while_the_loop_runs() -> None:
    store = GatedStore()
    lease = collector_lease(store, "binanceusdm", ttl=TTL, holder="a")
    other = collector_lease(FakeLeaseStore(), "okx", ttl=TTL, holder="a")
    holding = asyncio.create_task(lease.hold_off_loop(EPOCH))
    await wait_for(store.entered.is_set, "the renewal to reach the store")
    assert other.hold(EPOCH)  # the loop does other work meanwhile
    assert not holding.done() and not lease.held
    store.opened.set()
    assert await holding
    assert lease.held
    assert store.threads[0].startswith("dps-write")

    store.entered.clear()
    releasing = asyncio.create_task(lease.release_off_loop())
    await wait_for(store.entered.is_set, "the release to reach the store")
    await releasing
    assert not lease.held
    assert store.lease("collector:binanceusdm") is None
    assert all(t.startswith("dps-write") for t in store.threads)


async def test_hold_off_loop_behaves_as_hold() -> None:
    store = FakeLeaseStore()
    a = collector_lease(store, "binanceusdm", ttl=TTL, holder="a")
    b = collector_lease(store, "binanceusdm", ttl=TTL, holder="b")
    assert await a.hold_off_loop(EPOCH)
    assert not await b.hold_off_loop(EPOCH + timedelta(seconds=1))  # standby
    assert await b.hold_off_loop(EPOCH + TTL)  # a fell silent
    assert not await a.hold_off_loop(EPOCH + TTL + timedelta(seconds=1))
    assert not await collector_lease(BrokenStore(), "x", ttl=TTL, holder="a").hold_off_loop(EPOCH)


def test_a_dead_childs_leases_are_released_and_no_one_elses() -> None:
    store = FakeLeaseStore()
    host = socket.gethostname()
    dead, other = f"{host}:4242:a1b2c3", f"{host}:42420:d4e5f6"  # a pid that starts the same
    names = [collector_lease_name(v) for v in ("bybit", "all", "okx", "binanceusdm")]
    assert store.acquire(names[0], dead, EPOCH, TTL)
    assert store.acquire(names[1], dead, EPOCH, TTL)
    assert store.acquire(names[2], other, EPOCH, TTL)
    assert store.acquire(names[3], "elsewhere:4242:a1b2c3", EPOCH, TTL)  # another host's pid 4242
    assert release_leases_of_dead_child(store, names, 4242) == names[:2]
    assert store.lease(names[0]) is None and store.lease(names[1]) is None
    assert store.lease(names[2]) is not None and store.lease(names[3]) is not None
    # Its replacement takes the venue's lease at once, not a lease period later.
    assert collector_lease(store, "bybit", ttl=TTL).hold(EPOCH + timedelta(seconds=1))
