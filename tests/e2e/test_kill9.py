"""Restart safety with a real process killed with SIGKILL at each step of a cycle.

Every alert the uninterrupted run delivers is delivered after a crash and restart too;
nothing is delivered twice, except that a crash between a successful send and its mark may
repeat that one message (at most one per chat).
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def run_pipeline(tmp: Path, *extra: str) -> int:
    cmd = [
        sys.executable,
        "-m",
        "tests.e2e.pipeline",
        f"sqlite:///{tmp / 'dps.sqlite3'}",
        str(tmp / "sent.jsonl"),
    ]
    done = subprocess.run([*cmd, *extra], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode


def deliveries(tmp: Path) -> Counter[tuple[str, str]]:
    lines = (tmp / "sent.jsonl").read_text(encoding="utf-8").splitlines()
    return Counter((d["chat"], d["payload"]) for d in map(json.loads, lines))


def outbox_statuses(tmp: Path) -> Counter[str]:
    with sqlite3.connect(tmp / "dps.sqlite3") as db:
        return Counter(row[0] for row in db.execute("SELECT status FROM outbox"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Counter[tuple[str, str]]:
    tmp = tmp_path_factory.mktemp("reference")
    assert run_pipeline(tmp) == 0
    sent = deliveries(tmp)
    assert sent and max(sent.values()) == 1
    return sent


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "at", "repeats"),
    [
        ("before_save", 3, 0),  # after scoring, before the cycle's transaction
        ("after_save", 3, 0),  # after the outbox write, before delivery
        ("before_send", 5, 0),  # claimed for delivery, not yet sent
        ("after_send", 5, 1),  # sent, not yet marked sent: that one message may repeat
    ],
)
def test_kill_9_at_each_step_loses_nothing_and_repeats_at_most_one_per_chat(
    tmp_path: Path, reference: Counter[tuple[str, str]], point: str, at: int, repeats: int
) -> None:
    assert run_pipeline(tmp_path, "--crash", point, "--crash-at", str(at)) == -signal.SIGKILL
    assert run_pipeline(tmp_path) == 0  # the restart finishes the replay

    sent = deliveries(tmp_path)
    assert set(sent) == set(reference), "every alert is delivered, and only those"
    duplicated = {key: n for key, n in sent.items() if n > 1}
    assert sum(n - 1 for n in duplicated.values()) == repeats
    per_chat = Counter(chat for chat, _ in duplicated)
    assert all(n <= 1 for n in per_chat.values())
    assert outbox_statuses(tmp_path) == Counter({"sent": len(reference)})
