"""The demo market through collect → score → diff → outbox → delivery yields the reviewed events."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.e2e.pipeline import CHATS, build, replay, replay_times

GOLDEN = Path(__file__).parents[1] / "data" / "golden_replay_events.txt"


def event_line(e) -> str:  # type: ignore[no-untyped-def]
    a = e.after
    return (
        f"{a.ts:%Y-%m-%d %H:%M} {e.symbol:9} {e.kind.value:12} {e.old_band.value:>9} -> {e.new_band.value:9} "
        f"score {a.score:3} {a.bias.value:7} {a.regime.value}"
    )


@pytest.mark.slow
async def test_replay_produces_exactly_the_golden_events(tmp_path: Path) -> None:
    record = tmp_path / "sent.jsonl"
    run = build(f"sqlite:///{tmp_path / 'dps.sqlite3'}", record)
    start = run.source.market.first_time_with_history(24)
    assert start is not None
    await run.cycle.backfill(start)
    reports = await replay(run, replay_times(run.source, start))
    run.storage.close()

    lines = [event_line(e) for r in reports for e in r.alerts]
    if os.environ.get("DPS_UPDATE_GOLDEN") == "1":  # regenerate, then review the diff before committing
        GOLDEN.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert lines == GOLDEN.read_text(encoding="utf-8").splitlines()

    # The episodes the generator placed are among them.
    text = "\n".join(lines)
    assert "SUIUSDT   band_up      stretched -> stressed" in text
    assert "ARBUSDT   squeeze_risk" in text
    # Every event reached both chats, exactly once each.
    sent = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    for key in CHATS:
        payloads = [s["payload"] for s in sent if s["chat"] == key.chat_id]
        assert len(payloads) == len(set(payloads))
        shown = sum(p.count(" · score ") for p in payloads)
        assert shown == len(lines)
