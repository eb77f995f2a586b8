"""The lease contract on the fake and on a real database after the real migrations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from bot.core.records import LeaseClaim
from bot.errors import LeaseLostError
from bot.ports import CycleStore, LeaseStore
from bot.storage.facade import Storage
from tests.fakes.contract import EX, T0, snapshot
from tests.fakes.leases import LEASE_CHECKS, FakeLeaseStore
from tests.fakes.storage import FakeStorage


@pytest.fixture
def sql(storage: Storage) -> Storage:
    """The migrated stores, on SQLite and on PostgreSQL (see conftest.py)."""
    return storage


@pytest.mark.parametrize("check", LEASE_CHECKS, ids=lambda c: c.__name__)
def test_fake_keeps_the_lease_contract(check: Callable[[LeaseStore], None]) -> None:
    check(FakeLeaseStore())


@pytest.mark.parametrize("check", LEASE_CHECKS, ids=lambda c: c.__name__)
def test_sql_keeps_the_lease_contract(sql: Storage, check: Callable[[LeaseStore], None]) -> None:
    check(sql.leases)


# --- the cycle's fence: a cycle stores only while its collector still holds the lease -------

TTL = timedelta(seconds=90)
NAME = "collector:binanceusdm"


def fenced_cycle(store: CycleStore, holder: str, now: datetime) -> None:
    store.save_cycle(
        exchange=EX,
        snapshots=[snapshot("BTCUSDT", now)],
        outbox=[],
        lease=LeaseClaim(NAME, holder, now + TTL),
    )


@pytest.mark.parametrize("which", ["fake", "sql"])
def test_a_cycle_stores_and_renews_while_the_lease_is_held_and_nothing_once_it_is_lost(
    sql: Storage, which: str
) -> None:
    stores = FakeStorage() if which == "fake" else sql
    assert stores.leases.acquire(NAME, "a", T0, TTL)
    fenced_cycle(stores.cycles, "a", T0 + timedelta(seconds=60))
    info = stores.leases.lease(NAME)
    assert info is not None
    assert info.expires_at == T0 + timedelta(seconds=60) + TTL  # renewed by the cycle itself
    assert stores.snapshots.latest_snapshot_time(EX) == T0 + timedelta(seconds=60)

    later = T0 + timedelta(seconds=60) + TTL
    assert stores.leases.acquire(NAME, "b", later, TTL)  # a stalled past its lease: b took over
    with pytest.raises(LeaseLostError):
        fenced_cycle(stores.cycles, "a", later + timedelta(seconds=1))
    assert stores.snapshots.latest_snapshot_time(EX) == T0 + timedelta(seconds=60)  # nothing stored
    info = stores.leases.lease(NAME)
    assert info is not None
    assert info.holder == "b"


@pytest.mark.parametrize("which", ["fake", "sql"])
def test_a_cycle_whose_claim_was_made_before_a_later_renewal_keeps_the_later_expiry(
    sql: Storage, which: str
) -> None:
    # The cycle built its claim, then queued for the write lock while the heartbeat renewed.
    stores = FakeStorage() if which == "fake" else sql
    since = stores.leases.acquire(NAME, "a", T0, TTL)
    claim = LeaseClaim(NAME, "a", T0 + TTL, since=since)
    renewed = T0 + timedelta(seconds=30)
    assert stores.leases.acquire(NAME, "a", renewed, TTL)
    stores.cycles.save_cycle(exchange=EX, snapshots=[snapshot("BTCUSDT", T0)], lease=claim)
    info = stores.leases.lease(NAME)
    assert info is not None
    assert info.expires_at == renewed + TTL
    assert stores.snapshots.latest_snapshot_time(EX) == T0  # stored: the lease is still ours


@pytest.mark.parametrize("which", ["fake", "sql"])
def test_a_write_begun_in_an_older_tenure_is_refused_though_the_lease_is_ours_again(
    sql: Storage, which: str
) -> None:
    stores = FakeStorage() if which == "fake" else sql
    since = stores.leases.acquire(NAME, "a", T0, TTL)
    assert since == T0
    stale = LeaseClaim(NAME, "a", T0 + TTL, since=since)
    later = T0 + 2 * TTL
    assert stores.leases.acquire(NAME, "b", later, TTL)  # a stalled: b held it (and may have written)
    stores.leases.release(NAME, "b")
    again = stores.leases.acquire(NAME, "a", later + timedelta(seconds=1), TTL)
    assert again == later + timedelta(seconds=1)
    with pytest.raises(LeaseLostError):
        stores.cycles.save_cycle(exchange=EX, snapshots=[snapshot("BTCUSDT", later)], lease=stale)
    assert stores.snapshots.latest_snapshot_time(EX) is None  # nothing stored
    # A claim in the current tenure stores.
    current = LeaseClaim(NAME, "a", later + TTL, since=again)
    stores.cycles.save_cycle(exchange=EX, snapshots=[snapshot("BTCUSDT", later)], lease=current)
    assert stores.snapshots.latest_snapshot_time(EX) == later
