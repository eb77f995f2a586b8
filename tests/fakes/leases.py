"""``bot.ports.LeaseStore`` in memory, and the contract every lease store keeps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bot.core.records import LeaseInfo
from bot.ports import LeaseStore
from tests.fakes.clock import EPOCH
from tests.fakes.serialised import serialised

TTL = timedelta(seconds=30)


@serialised
class FakeLeaseStore:
    """Leases in a dict; the same rules as the SQL store."""

    def __init__(self) -> None:
        self.leases: dict[str, LeaseInfo] = {}
        self.since: dict[str, datetime] = {}  # when each lease's holder took it

    def acquire(self, name: str, holder: str, now: datetime, ttl: timedelta) -> datetime | None:
        current = self.leases.get(name)
        if current is not None and current.holder != holder and current.expires_at > now:
            return None
        if current is None or current.holder != holder:
            self.since[name] = now
        expires = now + ttl
        if current is not None and current.holder == holder:
            expires = max(expires, current.expires_at)  # a late renewal never shortens it
        self.leases[name] = LeaseInfo(name, holder, expires)
        return self.since[name]

    def release(self, name: str, holder: str) -> None:
        current = self.leases.get(name)
        if current is not None and current.holder == holder:
            del self.leases[name]

    def lease(self, name: str) -> LeaseInfo | None:
        return self.leases.get(name)


def check_first_claim_wins_and_others_wait(store: LeaseStore) -> None:
    assert store.lease("collector:x") is None
    assert store.acquire("collector:x", "a", EPOCH, TTL)
    assert not store.acquire("collector:x", "b", EPOCH + timedelta(seconds=5), TTL)
    info = store.lease("collector:x")
    assert info is not None
    assert (info.holder, info.expires_at) == ("a", EPOCH + TTL)


def check_the_holder_renews(store: LeaseStore) -> None:
    assert store.acquire("collector:x", "a", EPOCH, TTL)
    assert store.acquire("collector:x", "a", EPOCH + timedelta(seconds=20), TTL)
    assert not store.acquire("collector:x", "b", EPOCH + timedelta(seconds=40), TTL)  # renewed to 50 s
    info = store.lease("collector:x")
    assert info is not None
    assert info.expires_at == EPOCH + timedelta(seconds=50)


def check_an_expired_lease_is_taken_over(store: LeaseStore) -> None:
    assert store.acquire("collector:x", "a", EPOCH, TTL)
    assert store.acquire("collector:x", "b", EPOCH + TTL, TTL)  # expired exactly now
    assert not store.acquire("collector:x", "a", EPOCH + TTL + timedelta(seconds=1), TTL)
    info = store.lease("collector:x")
    assert info is not None
    assert info.holder == "b"


def check_release_frees_it_for_others_only_by_the_holder(store: LeaseStore) -> None:
    assert store.acquire("collector:x", "a", EPOCH, TTL)
    store.release("collector:x", "b")  # not b's: nothing happens
    assert not store.acquire("collector:x", "b", EPOCH, TTL)
    store.release("collector:x", "a")
    assert store.acquire("collector:x", "b", EPOCH, TTL)


def check_the_tenure_is_kept_by_renewals_and_starts_again_after_a_takeover(store: LeaseStore) -> None:
    assert store.acquire("collector:x", "a", EPOCH, TTL) == EPOCH
    assert store.acquire("collector:x", "a", EPOCH + timedelta(seconds=20), TTL) == EPOCH
    # Expired but nobody took it: still a's first tenure (nobody else can have written).
    assert store.acquire("collector:x", "a", EPOCH + timedelta(seconds=90), TTL) == EPOCH
    later = EPOCH + timedelta(seconds=200)
    assert store.acquire("collector:x", "b", later, TTL) == later
    store.release("collector:x", "b")
    again = later + timedelta(seconds=1)
    assert store.acquire("collector:x", "a", again, TTL) == again  # a holds it again, a new tenure


def check_leases_are_independent_by_name(store: LeaseStore) -> None:
    assert store.acquire("collector:binanceusdm", "a", EPOCH, TTL)
    assert store.acquire("collector:okx", "b", EPOCH, TTL)


def check_a_renewal_computed_earlier_never_shortens_the_lease(store: LeaseStore) -> None:
    # A renewal whose ``now`` was read before a long wait for the write lock lands after
    # one read later: the later expiry stays.
    assert store.acquire("collector:x", "a", EPOCH + timedelta(seconds=20), TTL)
    assert store.acquire("collector:x", "a", EPOCH, TTL)
    info = store.lease("collector:x")
    assert info is not None
    assert info.expires_at == EPOCH + timedelta(seconds=20) + TTL


LEASE_CHECKS: tuple[Callable[[LeaseStore], None], ...] = (
    check_a_renewal_computed_earlier_never_shortens_the_lease,
    check_first_claim_wins_and_others_wait,
    check_the_holder_renews,
    check_an_expired_lease_is_taken_over,
    check_release_frees_it_for_others_only_by_the_holder,
    check_the_tenure_is_kept_by_renewals_and_starts_again_after_a_takeover,
    check_leases_are_independent_by_name,
)
