"""``dps run`` on a clock the test moves: ``python -m tests.contract.clocked_run ROLE``.

Settings come from the environment exactly as for ``dps run --role ROLE``. The clock is
read from the file named by ``DPS_TEST_CLOCK`` (``TestClock`` writes it): ``at <ISO time>``
holds the clock still at that time, ``offset <seconds>`` runs it with wall time moved by
that much. Lease decisions and outbox claims then happen at times the test chooses, and
its assertions follow from the clock, not from how long something took. ``bot.runner``
logs at DEBUG here, so the test sees every lease check and outbox drain with its time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import load_settings
from bot.errors import DpsError
from bot.libraries import configure_libraries
from bot.roles import Role
from bot.runner import run

ENV = "DPS_TEST_CLOCK"
DIGEST_EVERY_ENV = "DPS_TEST_DIGEST_EVERY"


class FileClock:
    """``bot.ports.Clock`` read from a file on every call (the test rewrites it atomically)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def now(self) -> datetime:
        mode, value = self._path.read_text(encoding="utf-8").split(maxsplit=1)
        if mode == "at":
            return datetime.fromisoformat(value.strip())
        return datetime.now(UTC) + timedelta(seconds=float(value))


class TestClock:
    """The test's side: sets what every ``clocked_run`` process reads as now."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, path: Path) -> None:
        self.path = path

    def env(self) -> dict[str, str]:
        return {ENV: str(self.path)}

    def hold_at(self, moment: datetime) -> datetime:
        """Stop the clock at ``moment`` (it moves only when told again)."""
        self._write(f"at {moment.isoformat()}")
        return moment

    def run_offset(self, offset: timedelta) -> datetime:
        """Let the clock run with wall time, ``offset`` ahead of it; the clock's time now."""
        self._write(f"offset {offset.total_seconds()}")
        return datetime.now(UTC) + offset  # every process reads at least this from now on

    def _write(self, text: str) -> None:
        part = self.path.with_suffix(".new")
        part.write_text(text, encoding="utf-8")
        part.replace(self.path)  # atomic: a reader sees the old time or the new, never half


def main() -> int:
    settings = load_settings()
    secrets = [t.get_secret_value() for t in (settings.telegram_bot_token, settings.discord_bot_token) if t]
    configure_libraries(settings.log_level, secrets)
    logging.getLogger("bot.runner").setLevel(logging.DEBUG)
    try:
        # A test that waits for a digest sets how often due digests are looked for; by
        # default that is at second 0 of each wall-clock minute, up to a minute's wait.
        every = os.environ.get(DIGEST_EVERY_ENV)
        digest_every = None if every is None else timedelta(seconds=float(every))
        clock = FileClock(Path(os.environ[ENV]))
        return asyncio.run(run(settings, role=Role(sys.argv[1]), clock=clock, digest_every=digest_every))
    except DpsError as exc:
        print(f"clocked_run: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
