"""Opt-in timing of one 5,000-symbol cycle write (`pytest -m bench`); the target is 0.5 s."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from bot.storage.facade import Storage
from tests.fakes.contract import EX, T0, record, result, snapshot

SYMBOLS = 5000


@pytest.mark.bench
def test_one_cycle_of_5000_symbols_is_written_well_under_half_a_second(storage: Storage) -> None:
    timings = []
    for cycle in range(5):
        ts = T0 + cycle * timedelta(minutes=5)
        snaps = [snapshot(f"S{i}USDT", ts, oi=1000.0 + i) for i in range(SYMBOLS)]
        scores = [record(f"S{i}USDT", ts, result(i % 100)) for i in range(SYMBOLS)]
        started = time.perf_counter()
        saved = storage.cycles.save_cycle(exchange=EX, snapshots=snaps, scores=scores)
        timings.append(time.perf_counter() - started)
        assert (saved.snapshots, saved.scores) == (SYMBOLS, SYMBOLS)
    print(f"cycle write of {SYMBOLS} snapshots + scores: best {min(timings):.3f}s, worst {max(timings):.3f}s")
    assert max(timings) < 0.5
    assert len(storage.scores.latest_scores(EX, since=T0)) == SYMBOLS
