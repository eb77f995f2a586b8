"""``dps run`` processes for the multi-process tests, and what they printed.

``start`` runs ``dps run --role ROLE``, or with a ``TestClock`` the same run on a clock the
test moves (``tests/contract/clocked_run.py``); then ``bot.runner`` logs every lease check
and outbox drain with its clock time, and ``checks``/``drains`` read those lines back.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tests.contract.clocked_run import TestClock
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]

CHECK = re.compile(r"leases checked at (\S+): (.*)$")
DRAIN = re.compile(r"outbox drained from (\S+)$")


@dataclass
class Proc:
    """One ``dps run`` process and the lines it printed so far."""

    name: str
    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    def seen(self, text: str) -> int | None:
        """The index of the first line printed with ``text`` in it, or None."""
        return next((i for i, line in enumerate(self.lines) if text in line), None)

    def alive(self) -> bool:
        if self.proc.returncode is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
        return True

    async def wait_for(self, text: str) -> int:
        """Wait until a line with ``text`` is printed (failing at once if the process exits)."""
        await wait_for(lambda: self.seen(text) is not None or not self.alive(), self._waiting(text))
        at = self.seen(text)
        assert at is not None
        return at

    def checks(self) -> list[tuple[datetime, str]]:
        """Every lease check so far: its clock time and the leases' states (``name held``)."""
        return [(datetime.fromisoformat(m[1]), m[2]) for m in map(CHECK.search, self.lines) if m]

    async def check_at(self, at: datetime) -> str:
        """Wait for the first lease check at clock time ``at``; the states it found."""
        await wait_for(
            lambda: any(t == at for t, _ in self.checks()) or not self.alive(),
            self._waiting(f"a lease check at {at:%H:%M:%S.%f}"),
        )
        return next(state for t, state in self.checks() if t == at)

    async def wait_for_check(self, at: datetime, state: str) -> None:
        """Wait for a lease check at clock time ``at`` that found ``state`` (``name held``)."""
        await wait_for(
            lambda: (at, state) in self.checks() or not self.alive(),
            self._waiting(f"a lease check at {at:%H:%M:%S.%f} with {state}"),
        )

    def drains(self) -> list[datetime]:
        """When each outbox drain so far began, on the process's clock."""
        return [datetime.fromisoformat(m[1]) for m in map(DRAIN.search, self.lines) if m]

    def log(self) -> str:
        return "\n".join(self.lines)[-4000:]

    def _waiting(self, what: str) -> Callable[[], str]:
        return lambda: f"{self.name} to print {what!r}; it printed:\n{self.log()}"


async def start(name: str, env: dict[str, str], cwd: Path, role: str, clock: TestClock | None = None) -> Proc:
    """``dps run --role role`` in ``cwd``; on ``clock`` when given."""
    if clock is None:
        command = ["-m", "bot.cli", "run", "--role", role]
    else:
        command = ["-m", "tests.contract.clocked_run", role]
        env = {**env, **clock.env(), "PYTHONPATH": str(ROOT)}  # cwd is elsewhere: find ``tests``
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *command,
        cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    p = Proc(name, proc)
    p.reader = asyncio.create_task(p.read())
    return p


async def stop(p: Proc, how: signal.Signals = signal.SIGTERM) -> int:
    """Signal the process (SIGTERM: a clean stop), wait for it to exit; its exit code."""
    if p.proc.returncode is None:
        p.proc.send_signal(how)
    code = await asyncio.wait_for(p.proc.wait(), timeout=60)
    if p.reader is not None:
        await p.reader
    return code
