"""Checkpointing a SQLite file's WAL on a thread of its own, off the writers' commits.

SQLite's auto-checkpoint runs inside the commit that makes the WAL cross its threshold
(1,000 pages): a 5,000-symbol cycle writes more than that, so the collection cycle's own
commit used to copy every page it wrote back into the database file (about a third of the
cycle's writes). The storage's connections switch it off (``wal_autocheckpoint=0``) and
this checkpointer does the copying instead, after each committed write, on its own
connection and thread. The WAL stays bounded:

- every process that opens the storage runs one, so whichever process writes also
  checkpoints (a checkpoint folds in every process's frames, not only its own);
- it also runs at start (a WAL left by a crashed process is folded in) and every
  ``every`` seconds when nothing woke it (frames another process left behind);
- a PASSIVE checkpoint never waits for readers or writers; when readers kept it from
  finishing and the WAL has grown past ``restart_frames``, it asks for a RESTART, which
  waits briefly (``busy_ms``) for those readers to move to the newest snapshot while new
  writers wait, and gives up rather than hold them;
- ``journal_size_limit`` (set on every connection) truncates a reused WAL file back to
  a bounded size.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

SIZE_LIMIT_PRAGMA = "PRAGMA journal_size_limit=67108864"
"""A WAL file is truncated back to 64 MiB when SQLite starts reusing it."""
_CHECKPOINTS = {
    "PASSIVE": "PRAGMA wal_checkpoint(PASSIVE)",
    "RESTART": "PRAGMA wal_checkpoint(RESTART)",
}
RESTART_FRAMES = 16_384
"""WAL frames (pages) past which a checkpoint that readers kept from finishing asks for a RESTART."""


@dataclass(frozen=True, slots=True)
class CheckpointResult:
    """One checkpoint's outcome (SQLite's ``PRAGMA wal_checkpoint`` row)."""

    busy: bool
    wal_frames: int
    checkpointed: int

    @property
    def complete(self) -> bool:
        """Every frame of the WAL is in the database file (the next writer restarts the WAL)."""
        return not self.busy and self.checkpointed >= self.wal_frames


class WalCheckpointer:
    """A thread checkpointing one SQLite file's WAL whenever ``wake`` is called."""

    def __init__(
        self,
        path: Path,
        *,
        every: float = 60.0,
        restart_frames: int = RESTART_FRAMES,
        busy_ms: int = 200,
    ) -> None:
        self._path = path
        self._every = every
        self._restart_frames = restart_frames
        self._busy_ms = busy_ms
        self._cond = threading.Condition()
        self._wakes = 0  # wakes asked for
        self._served = 0  # wakes a finished checkpoint has covered
        self._stopping = False
        self.runs = 0
        """Checkpoints run."""
        self.seconds = 0.0
        """Wall time spent in them: work the database does, outside the writers' commits."""
        self.last: CheckpointResult | None = None
        self._thread = threading.Thread(target=self._loop, name="sqlite-wal-checkpoint", daemon=True)
        self._thread.start()
        self.wake()  # a WAL left by a crash is folded in at once

    def wake(self) -> None:
        """Ask for a checkpoint soon (after a committed write); returns at once."""
        with self._cond:
            self._wakes += 1
            self._cond.notify()

    def settle(self, timeout: float) -> bool:
        """Wait until every wake asked for so far is served; False after ``timeout`` s."""
        with self._cond:
            wanted = self._wakes
            return self._cond.wait_for(lambda: self._served >= wanted or self._stopping, timeout)

    @property
    def alive(self) -> bool:
        """The thread still runs (until ``close``)."""
        return self._thread.is_alive()

    def close(self) -> None:
        """Checkpoint once more, then stop the thread and close its connection."""
        with self._cond:
            self._wakes += 1
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()

    def _loop(self) -> None:
        try:
            # ``timeout`` is the busy timeout, which only a RESTART waits on.
            conn = sqlite3.connect(
                self._path, timeout=self._busy_ms / 1000, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            logger.warning("cannot open %s to checkpoint its WAL: %s", self._path, exc)
            self._finish()
            return
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._wakes > self._served or self._stopping, self._every)
                    wanted, stopping = self._wakes, self._stopping
                self._checkpoint(conn)
                with self._cond:
                    self._served = wanted
                    self._cond.notify_all()
                if stopping:
                    return
        finally:
            conn.close()
            self._finish()

    def _finish(self) -> None:
        with self._cond:
            self._stopping = True
            self._served = self._wakes
            self._cond.notify_all()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        began = time.perf_counter()
        try:
            result = self._run(conn, "PASSIVE")
            if not result.complete and result.wal_frames > self._restart_frames:
                # Readers on older snapshots held the PASSIVE one back and the WAL is long.
                result = self._run(conn, "RESTART")
        except sqlite3.Error as exc:  # a busy or failing disk: the next wake tries again
            logger.warning("WAL checkpoint of %s failed: %s", self._path, exc)
            return
        finally:
            self.seconds += time.perf_counter() - began
        self.runs += 1
        self.last = result

    @staticmethod
    def _run(conn: sqlite3.Connection, mode: str) -> CheckpointResult:
        busy, frames, done = conn.execute(_CHECKPOINTS[mode]).fetchone()
        return CheckpointResult(busy=bool(busy), wal_frames=frames, checkpointed=done)
