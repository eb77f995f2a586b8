"""The soak-and-chaos run in short: every promise checked on about 25 cycles with one kill -9.

Exactly once is checked per part: every text part, chart photo and Discord message of every
outbox message, from the fakes' records, with faults injected on later parts.

The full run (300+ cycles, three kills) is ``bench/bench_soak.py``; its figures are in
docs/reliability.md. This one keeps the harness and the promises honest on every commit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.harness import Soak, SoakConfig


@pytest.mark.slow
async def test_short_soak_keeps_every_promise(tmp_path: Path) -> None:
    report = await Soak(SoakConfig(tmp_path, cycles=24, speed=300.0, kills=1, seed=11)).run()
    assert report.problems() == []
    assert report.kills == 1
    assert len(report.lives) == 2
    assert report.delivered >= 10  # alerts and digests really flowed, on both platforms
    assert report.alerts_due > 0
    assert report.digests_due > 0
    # Every message due was delivered, or dropped because its chat had blocked the bot.
    assert report.delivered + report.dropped_blocked == report.outbox_rows
    # Part by part (texts, charts, Discord messages), each once and in order, though later
    # parts failed: a retry resumed at the part that failed instead of repeating the text.
    assert report.parts_delivered == report.parts_due > report.delivered
    assert report.later_part_faults["telegram sendPhoto"] >= 2  # the 502 and the dropped one
    assert report.later_part_faults["discord upload"] >= 2  # the 503 and the dropped one
    assert report.fake_429s["exchange"] > 0  # the chaos really hit the collector
    assert any("migrated" in line for line in report.chaos)
