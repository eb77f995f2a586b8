"""The SQL stores, migrated on SQLite and on PostgreSQL, honour the store contract (as the fakes do)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.storage.facade import Storage
from tests.fakes.contract import CHECKS, Stores


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
def test_sql_stores_honour_the_store_contract(check: Callable[[Stores], None], storage: Storage) -> None:
    check(storage)
