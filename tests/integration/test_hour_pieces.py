"""Sampled reads of a symbol list (slots cut at the hour buckets' edges) agree with the
whole-market reads (slots read whole from the time key), slot by slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.storage.facade import Storage
from tests.fakes.contract import EX, record, snapshot

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
SYMBOLS = [f"S{i:02d}USDT" for i in range(55)]


def missing(symbol_index: int, k: int) -> bool:
    """Gaps, so a slot's first row is often not at its start nor in its first hour."""
    return (k * 7 + symbol_index * 3) % 5 < 2


@pytest.mark.parametrize(
    ("every", "slot"),
    [
        (timedelta(minutes=50), timedelta(minutes=45)),  # slots across the hours' edges
        (timedelta(hours=3), timedelta(hours=2, minutes=10)),  # a slot over three hours
        (timedelta(minutes=30), timedelta(minutes=10)),
        # Slots at hour starts (a list reads each hour's first row): /track's, and longer.
        (timedelta(hours=1), timedelta(minutes=10)),
        (timedelta(hours=2), timedelta(hours=1)),
        (timedelta(hours=1), timedelta(minutes=3)),
    ],
)
def test_symbol_lists_sample_as_the_whole_market_does(
    storage: Storage, every: timedelta, slot: timedelta
) -> None:
    times = [T0 + k * STEP for k in range(12 * 9)]
    snaps = [
        snapshot(s, ts) for k, ts in enumerate(times) for i, s in enumerate(SYMBOLS) if not missing(i, k)
    ]
    storage.snapshots.add_snapshots(snaps)
    storage.cycles.save_cycle(exchange=EX, scores=[record(s.symbol, s.ts) for s in snaps])
    start, end = T0 + timedelta(minutes=20), times[-1] - timedelta(minutes=7)
    whole_marks = storage.snapshots.mark_samples(EX, start, end, every=every, slot=slot)
    whole_bands = storage.scores.band_history(EX, start, end, every=every, slot=slot)
    assert whole_marks and whole_bands
    for listed in (SYMBOLS[:3], SYMBOLS):  # the few-symbols size and more
        marks = storage.snapshots.mark_samples(EX, start, end, listed, every=every, slot=slot)
        bands = storage.scores.band_history(EX, start, end, listed, every=every, slot=slot)
        assert marks == {s: whole_marks[s] for s in listed if s in whole_marks}
        assert bands == {s: whole_bands[s] for s in listed if s in whole_bands}
