"""The lease contract on the fake and on a real database after the real migrations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.ports import LeaseStore
from bot.storage.facade import Storage, open_storage
from tests.fakes.leases import LEASE_CHECKS, FakeLeaseStore


@pytest.fixture
def sql(tmp_path: Path) -> Iterator[Storage]:
    storage = open_storage(f"sqlite:///{tmp_path / 'leases.sqlite3'}")
    yield storage
    storage.close()


@pytest.mark.parametrize("check", LEASE_CHECKS, ids=lambda c: c.__name__)
def test_fake_keeps_the_lease_contract(check: Callable[[LeaseStore], None]) -> None:
    check(FakeLeaseStore())


@pytest.mark.parametrize("check", LEASE_CHECKS, ids=lambda c: c.__name__)
def test_sql_keeps_the_lease_contract(sql: Storage, check: Callable[[LeaseStore], None]) -> None:
    check(sql.leases)
