"""``bot.supervisor``: a child that dies is told of (``_exited``) before its replacement starts;
one stopped with its parent is not."""

from __future__ import annotations

import logging
import sys

from bot.supervisor import Supervised
from tests.waiting import wait_for

# Reads its settings line, then exits at once (a crash) or, told "wait", waits for stdin to close.
CHILD = "import sys; line = sys.stdin.readline(); 'wait' in line and sys.stdin.read(); sys.exit(3)"


class Recorded(Supervised):
    """Records the order of starts and exits, by pid."""

    def __init__(self, settings: bytes) -> None:
        super().__init__(
            "a test child",
            [sys.executable, "-c", CHILD],
            settings,
            logging.getLogger(__name__),
            backoff_s=0.01,
            backoff_max_s=0.02,
        )
        self.events: list[tuple[str, int]] = []

    def _began(self, pid: int) -> None:
        self.events.append(("began", pid))

    async def _exited(self, pid: int) -> None:
        self.events.append(("exited", pid))


async def test_a_dead_child_is_told_of_before_its_replacement_starts() -> None:
    child = Recorded(b"crash")
    child.start()
    try:
        await wait_for(lambda: len(child.events) >= 5, "three starts and two exits")
    finally:
        await child.stop()
    began = [pid for kind, pid in child.events if kind == "began"]
    # Each start but the first comes right after the previous child's exit, named by its pid.
    for i, (kind, pid) in enumerate(child.events[:5]):
        assert kind == ("began" if i % 2 == 0 else "exited")
        if kind == "exited":
            assert pid == began[i // 2]


async def test_a_child_stopped_with_its_parent_is_not_an_exit_to_undo() -> None:
    child = Recorded(b"wait")
    child.start()
    await wait_for(lambda: child.pid is not None, "the child to start")
    await child.stop()
    assert [kind for kind, _ in child.events] == ["began"]
