"""``bot.ports.StateStore`` in memory, and the contract every state store keeps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bot.ports import StateStore
from tests.fakes.clock import EPOCH


class FakeStateStore:
    """Named values in a dict; ``puts`` counts the writes (a test can see a sync recorded)."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[str, datetime]] = {}
        self.puts = 0

    def get(self, name: str) -> str | None:
        stored = self.values.get(name)
        return None if stored is None else stored[0]

    def put(self, name: str, value: str, now: datetime) -> None:
        self.values[name] = (value, now)
        self.puts += 1


def check_a_missing_name_is_none(store: StateStore) -> None:
    assert store.get("discord:commands:1") is None


def check_put_then_get(store: StateStore) -> None:
    store.put("discord:commands:1", "abc123", EPOCH)
    assert store.get("discord:commands:1") == "abc123"


def check_put_replaces_the_value(store: StateStore) -> None:
    store.put("discord:commands:1", "old", EPOCH)
    store.put("discord:commands:1", "new", EPOCH + timedelta(hours=1))
    assert store.get("discord:commands:1") == "new"


def check_names_are_independent(store: StateStore) -> None:
    store.put("discord:commands:1", "one", EPOCH)
    store.put("discord:commands:2", "two", EPOCH)
    assert (store.get("discord:commands:1"), store.get("discord:commands:2")) == ("one", "two")


def check_a_long_value_is_kept_whole(store: StateStore) -> None:
    value = "f" * 64 + "é" * 1000  # a hash, or anything longer: the column is TEXT
    store.put("x", value, EPOCH)
    assert store.get("x") == value


STATE_CHECKS: tuple[Callable[[StateStore], None], ...] = (
    check_a_missing_name_is_none,
    check_put_then_get,
    check_put_replaces_the_value,
    check_names_are_independent,
    check_a_long_value_is_kept_whole,
)
