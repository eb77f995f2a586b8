"""The replay market: loading (bundled or from a path), indexing, and malformed files."""

from __future__ import annotations

import gzip
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.collector.replay import (
    COLUMNS,
    SYNTHETIC_LABEL,
    ReplayMarket,
    parse_snapshots,
)
from bot.errors import SourceDataError

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HEADER = ",".join(COLUMNS)
GOOD = [
    "replay,AAAUSDT,2026-11-20T11:55:00Z,100,1000,10.01,10,10.02,0.0001,8,2026-11-20T16:00:00Z,5e6",
    "replay,BBBUSDT,2026-11-20T11:55:00Z,200,400,2,2,2,-5e-05,4,2026-11-20T12:00:00Z,1e6",
    "replay,AAAUSDT,2026-11-20T12:00:00Z,110,1100,10.01,10,10.02,0.0001,8,2026-11-20T16:00:00Z,5e6",
    "replay,BBBUSDT,2026-11-20T12:00:00Z,,,,,,,,,",
]


@pytest.fixture(scope="module")
def bundled() -> ReplayMarket:
    return ReplayMarket.bundled()


def write_gz(path: Path, lines: list[str]) -> Path:
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def test_the_bundled_market_covers_four_days_of_5_minute_steps(bundled: ReplayMarket) -> None:
    times = bundled.times()
    assert times[-1] == END
    assert times[0] == END - timedelta(days=4)
    assert len(times) == 4 * 24 * 12 + 1
    assert all(b - a == timedelta(minutes=5) for a, b in itertools.pairwise(times))
    assert all(t.tzinfo is UTC for t in times)
    assert len(bundled.symbols()) == 68
    assert "BTCUSDT" in bundled.symbols()


def test_snapshots_at_a_time_are_sorted_and_complete(bundled: ReplayMarket) -> None:
    snaps = bundled.snapshots_at(END)
    assert [s.symbol for s in snaps] == bundled.symbols()
    assert {s.exchange for s in snaps} == {"replay"}
    assert all(s.ts == END for s in snaps)
    assert bundled.snapshots_at(END + timedelta(minutes=1)) == []


def test_the_bundled_market_is_labelled_synthetic(bundled: ReplayMarket) -> None:
    assert SYNTHETIC_LABEL == "synthetic demo market (replay)"
    assert bundled.label == SYNTHETIC_LABEL


def test_oi_history_is_the_backfill_up_to_a_time(bundled: ReplayMarket) -> None:
    until = END - timedelta(hours=1, minutes=2)
    history = bundled.oi_history("BTCUSDT", until)
    assert history[-1][0] == END - timedelta(hours=1, minutes=5)
    assert len(history) == 4 * 24 * 12 - 12
    assert [ts for ts, _ in history] == sorted(ts for ts, _ in history)
    btc = {s.ts: s.oi_contracts for s in bundled.snapshots_at(history[-1][0]) if s.symbol == "BTCUSDT"}
    assert history[-1][1] == btc[history[-1][0]]
    assert bundled.oi_history("NOPEUSDT", END) == []
    assert bundled.oi_history("BTCUSDT", END - timedelta(days=5)) == []


def test_mark_history_is_the_price_series_up_to_a_time(tmp_path: Path) -> None:
    market = ReplayMarket.from_path(write_gz(tmp_path / "m.csv.gz", [HEADER, *GOOD]))
    assert market.mark_history("AAAUSDT", END) == [(END - timedelta(minutes=5), 10.01), (END, 10.01)]
    assert market.mark_history("AAAUSDT", END - timedelta(minutes=1)) == [(END - timedelta(minutes=5), 10.01)]
    # A snapshot without a mark price adds no point; unknown symbols have none.
    assert market.mark_history("BBBUSDT", END) == [(END - timedelta(minutes=5), 2.0)]
    assert market.mark_history("NOPEUSDT", END) == []


def test_first_time_with_history(bundled: ReplayMarket) -> None:
    assert bundled.first_time_with_history(24) == END - timedelta(days=3)
    assert bundled.first_time_with_history(24 * 5) is None


# How fast the bundled market loads is measured by bench/bench_replay.py (target < 1 s).


def test_from_path_round_trip(tmp_path: Path) -> None:
    market = ReplayMarket.from_path(write_gz(tmp_path / "m.csv.gz", [HEADER, *GOOD]))
    assert market.symbols() == ["AAAUSDT", "BBBUSDT"]
    assert market.times() == [END - timedelta(minutes=5), END]
    aaa, bbb = market.snapshots_at(END)
    assert aaa.oi_contracts == 110.0
    assert aaa.funding_rate == 0.0001
    assert aaa.next_funding_time == datetime(2026, 11, 20, 16, tzinfo=UTC)
    # Empty cells are missing values, and a snapshot without OI adds no OI point.
    assert (bbb.oi_contracts, bbb.index_price, bbb.funding_interval_h, bbb.next_funding_time) == (
        None,
        None,
        None,
        None,
    )
    assert market.oi_history("BBBUSDT", END) == [(END - timedelta(minutes=5), 200.0)]


def test_quoted_csv_reads_the_same_as_plain() -> None:
    quoted = [HEADER] + [",".join(f'"{cell}"' for cell in line.split(",")) for line in GOOD]
    assert parse_snapshots("\n".join(quoted)) == parse_snapshots("\n".join([HEADER, *GOOD]))


def test_from_snapshots(bundled: ReplayMarket) -> None:
    snaps = bundled.snapshots_at(END)[:3]
    market = ReplayMarket.from_snapshots(reversed(snaps))
    assert market.snapshots_at(END) == snaps
    assert market.times() == [END]


BAD_ROWS = [
    ("replay,AAAUSDT,2026-11-20T12:05:00Z,1,2,3", "expected 12 fields"),
    ("replay,AAAUSDT,2026-11-20T12:05:00Z,lots,1,1,1,1,0,8,,1", "oi_contracts: not a number"),
    ("replay,AAAUSDT,2026-11-20T12:05:00Z,1,1,1,nan,1,0,8,,1", "index_price: not a finite number"),
    ("replay,AAAUSDT,2026-11-20T12:05:00Z,1,1,1,1,1,0,inf,,1", "funding_interval_h: not a finite"),
    ("replay,AAAUSDT,2026-11-20T12:05:00,1,1,1,1,1,0,8,,1", "without a UTC offset"),
    ("replay,AAAUSDT,yesterday,1,1,1,1,1,0,8,,1", "ts: not an ISO-8601 time"),
    ("replay,AAAUSDT,,1,1,1,1,1,0,8,,1", "ts: missing"),
    ("replay,AAAUSDT,2026-11-20T12:05:00Z,1,1,1,1,1,0,8,soon,1", "next_funding_time"),
    ("replay,,2026-11-20T12:05:00Z,1,1,1,1,1,0,8,,1", "empty exchange or symbol"),
    ("replay,AAAUSDT,2026-11-20T12:00:00Z,1,1,1,1,1,0,8,,1", "appears twice"),
    ("replay,AAAUSDT,2026-11-20T13:00:00+01:00,1,1,1,1,1,0,8,,1", "appears twice"),
    ('replay,"AAAUSDT,2026-11-20T12:05:00Z,1,1,1,1,1,0,8,,1', "not valid CSV"),
]


@pytest.mark.parametrize(("row", "words"), BAD_ROWS, ids=[w for _, w in BAD_ROWS])
def test_a_malformed_row_is_named_by_line(tmp_path: Path, row: str, words: str) -> None:
    lines = [HEADER, *GOOD[:3], "", row, GOOD[3]]
    with pytest.raises(SourceDataError, match=words) as caught:
        ReplayMarket.from_path(write_gz(tmp_path / "bad.csv.gz", lines))
    assert "bad.csv.gz: line 6:" in str(caught.value)


def test_a_wrong_header_is_line_1() -> None:
    with pytest.raises(SourceDataError, match="line 1: header must be"):
        parse_snapshots("symbol,ts\nAAA,2026-11-20T12:00:00Z\n")
    with pytest.raises(SourceDataError, match="line 1"):
        parse_snapshots("")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(SourceDataError, match="cannot open"):
        ReplayMarket.from_path(tmp_path / "missing.csv.gz")
    plain = tmp_path / "plain.csv.gz"
    plain.write_text(HEADER)
    with pytest.raises(SourceDataError, match="unreadable"):
        ReplayMarket.from_path(plain)
