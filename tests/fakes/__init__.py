"""In-memory fakes of every port in ``bot.ports``, for unit tests.

Each fake keeps the SQL store's semantics (duplicates skipped, foreign keys checked,
times normalised to UTC, naive times refused with ``StorageError``); ``contract`` holds
the behaviour both must share, run against the fakes in ``tests/unit`` and against SQLite
in ``tests/integration``.
"""

from tests.fakes.chat_stores import FakeChatStore, FakeDigestLog, FakeOutboxStore
from tests.fakes.clock import EPOCH, FakeClock
from tests.fakes.market_stores import FakeAlertStateStore, FakeScoreStore, FakeSnapshotStore
from tests.fakes.sink import FakeSink
from tests.fakes.storage import FakeCycleStore, FakeRetention, FakeStorage

__all__ = [
    "EPOCH",
    "FakeAlertStateStore",
    "FakeChatStore",
    "FakeClock",
    "FakeCycleStore",
    "FakeDigestLog",
    "FakeOutboxStore",
    "FakeRetention",
    "FakeScoreStore",
    "FakeSink",
    "FakeSnapshotStore",
    "FakeStorage",
]
