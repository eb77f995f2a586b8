"""The lease contract on the fake and on a real database after the real migrations."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.ports import LeaseStore
from bot.storage.facade import Storage
from tests.fakes.leases import LEASE_CHECKS, FakeLeaseStore


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
