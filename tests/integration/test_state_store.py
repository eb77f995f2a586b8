"""The state-store contract on the fake and on a real database after the real migrations."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.bootstrap import state_store
from bot.ports import StateStore
from bot.storage.facade import Storage, open_storage
from tests.fakes.clock import EPOCH
from tests.fakes.state import STATE_CHECKS, FakeStateStore


@pytest.mark.parametrize("check", STATE_CHECKS, ids=lambda c: c.__name__)
def test_fake_keeps_the_state_contract(check: Callable[[StateStore], None]) -> None:
    check(FakeStateStore())


@pytest.mark.parametrize("check", STATE_CHECKS, ids=lambda c: c.__name__)
def test_sql_keeps_the_state_contract(storage: Storage, check: Callable[[StateStore], None]) -> None:
    check(state_store(storage))


def test_a_value_survives_reopening_the_database(migrated_url: str) -> None:
    first = open_storage(migrated_url, upgrade=False)
    try:
        state_store(first).put("discord:commands:1", "abc", EPOCH)
    finally:
        first.close()
    again = open_storage(migrated_url, upgrade=False)
    try:
        assert state_store(again).get("discord:commands:1") == "abc"
    finally:
        again.close()
