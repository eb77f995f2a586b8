"""The write-lock policy, checked while the storage tests run.

Every repository transaction that writes must begin with SQLite's write lock
(``bot.storage.db.write_transaction``): a deferred one that reads first fails with
"database is locked" when another connection commits in between. This recorder
watches every SQLite statement: an INSERT, UPDATE or DELETE run by a repository
method (a function in ``bot/storage/repositories`` or ``retention.py`` that opens its
own transaction, i.e. takes no ``session``) on a connection that did not begin
IMMEDIATE is a violation.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import Engine, event

from bot.storage.db import IMMEDIATE

_STORAGE = Path(__file__).resolve().parents[2] / "bot" / "storage"
_OWNERS = (str(_STORAGE / "repositories"), str(_STORAGE / "retention.py"))
_WRITES = ("INSERT", "UPDATE", "DELETE")


def _transaction_owner(frame: FrameType | None) -> str | None:
    """The repository function on the stack that opened the transaction, if any."""
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith(_OWNERS) and "session" not in code.co_varnames[: code.co_argcount]:
            return f"{Path(code.co_filename).name}:{code.co_qualname}"
        frame = frame.f_back
    return None


class WriteLockPolicy:
    """Records repository writes on SQLite that ran without the write lock taken at BEGIN."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self.checked = 0
        self._lock = threading.Lock()

    def _before_execute(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if conn.dialect.name != "sqlite" or not statement.lstrip().upper().startswith(_WRITES):
            return
        owner = _transaction_owner(sys._getframe(1))
        if owner is None:
            return
        with self._lock:
            self.checked += 1
            if not conn.get_execution_options().get(IMMEDIATE, False):
                self.violations.append(f"{owner}: {statement.split()[0]} without BEGIN IMMEDIATE")

    def start(self) -> None:
        """Watch every engine (class-level listener)."""
        event.listen(Engine, "before_cursor_execute", self._before_execute)

    def stop(self) -> None:
        """Stop watching."""
        event.remove(Engine, "before_cursor_execute", self._before_execute)
