"""One more try for a write the database refused only because it stayed locked.

On SQLite a transaction that met other writers past the busy timeout fails with
"database is locked" (``StorageBusyError``) and was rolled back whole, so running it again
is safe. Writers queue (this process's in ``bot.storage.write_queue``, others' in SQLite's
busy timeout), so the retry waits for the lock to free before it writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from bot.errors import StorageBusyError

logger = logging.getLogger(__name__)

R = TypeVar("R")


def retry_once_when_busy(what: str, write: Callable[[], R]) -> R:
    """Run ``write``; when the database was locked, say so and run it once more.

    Raises:
        StorageBusyError: it was locked again (the caller reports the loss).
        StorageError: any other failure, at once.
    """
    try:
        return write()
    except StorageBusyError as exc:
        logger.warning("%s: the database was locked (%s); trying once more", what, exc)
    return write()
