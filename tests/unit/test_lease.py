"""The collector lease as one process sees it: take, renew, wait on standby, take over, release."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app.lease import Lease, collector_lease
from bot.errors import StorageError
from tests.fakes.clock import EPOCH
from tests.fakes.leases import FakeLeaseStore

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
