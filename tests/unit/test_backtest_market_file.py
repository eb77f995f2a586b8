"""Reading market files: both encodings, optional columns, repeats and disorder, and every format error."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import pytest

from bot.backtest.market_file import COLUMNS, read_market
from bot.errors import InputError

HEADER = ",".join(COLUMNS)
ROW_A1 = "bin,AUSDT,2026-01-01T00:00:00Z,100,1000,10.5,10.4,10.5,0.0001,8,2026-01-01T08:00:00Z,5e6"
ROW_A2 = "bin,AUSDT,2026-01-01T00:05:00Z,101,1010,10.6,10.5,10.6,0.0002,8,2026-01-01T08:00:00Z,5e6"
ROW_B1 = "bin,BUSDT,2026-01-01T00:00:00+00:00,7,70,2.0,2.0,,-0.0003,4,,"


def write(tmp_path: Path, lines: list[str], name: str = "m.csv") -> Path:
    path = tmp_path / name
    text = "\n".join(lines) + "\n"
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_plain_and_gzip_files_read_the_same(tmp_path: Path) -> None:
    lines = [HEADER, ROW_A1, ROW_B1, ROW_A2]
    plain = read_market(write(tmp_path, lines))
    packed = read_market(write(tmp_path, lines, "m.csv.gz"))
    for m in (plain, packed):
        assert [(s.exchange, s.symbol, len(s)) for s in m.series] == [
            ("bin", "AUSDT", 2),
            ("bin", "BUSDT", 1),
        ]
        assert (m.rows, m.duplicates, m.unsorted) == (3, 0, 0)
    a, b = plain.series
    assert list(a.column("mark_price")) == [10.5, 10.6]
    assert b.column("funding_rate")[0] == -0.0003  # funding may be negative
    assert math.isnan(b.column("last_price")[0]) and math.isnan(b.next_funding[0])  # empty cells
    assert list(packed.series[0].column("oi_contracts")) == list(a.column("oi_contracts"))


def test_optional_columns_may_be_left_out_and_columns_come_in_any_order(tmp_path: Path) -> None:
    header = "symbol,exchange,ts,funding_interval_h,funding_rate,index_price,mark_price,oi_contracts"
    m = read_market(write(tmp_path, [header, "AUSDT,bin,2026-01-01T00:00:00Z,8,0.0001,10,10.1,55"]))
    s = m.series[0]
    assert (s.symbol, s.column("oi_contracts")[0], s.column("mark_price")[0]) == ("AUSDT", 55.0, 10.1)
    assert math.isnan(s.column("volume_24h_usd")[0]) and math.isnan(s.column("oi_usd")[0])


def test_repeated_and_unsorted_rows_are_counted_sorted_and_the_first_kept(tmp_path: Path) -> None:
    changed = ROW_A1.replace(",100,1000,", ",999,1000,")
    m = read_market(write(tmp_path, [HEADER, ROW_A2, ROW_A1, ROW_B1, ROW_A1, changed]))
    a = m.series[0]
    assert m.rows == 5
    assert m.unsorted == 1  # A1 after A2; the repeats are not counted again as disorder
    assert (m.duplicates, m.conflicting) == (2, 1)
    assert list(a.column("oi_contracts")) == [100.0, 101.0]  # sorted, the first A1 kept
    assert list(a.ts) == sorted(a.ts)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "the file is empty"),
        ([HEADER], "no data rows"),
        ([HEADER.replace(",funding_rate", "")], "missing required column(s): funding_rate"),
        ([HEADER.replace("mark_price", "mark")], "unknown column(s) mark"),
        ([HEADER + ",symbol"], "named twice: symbol"),
        (
            [HEADER, ROW_A1, ROW_A2.replace("10.6,10.5", "abc,10.5")],
            "line 3, column mark_price: not a number: 'abc'",
        ),
        (
            [HEADER, ROW_A1.replace("2026-01-01T00:00:00Z", "yesterday", 1)],
            "line 2, column ts: not an ISO 8601 time",
        ),
        (
            [HEADER, ROW_A1.replace("2026-01-01T00:00:00Z", "2026-01-01T00:00:00", 1)],
            "line 2, column ts: time without a UTC offset",
        ),
        ([HEADER, ROW_A1.replace("08:00:00Z", "8 o'clock")], "line 2, column next_funding_time"),
        ([HEADER, ROW_A1.replace(",100,", ",-100,")], "line 2, column oi_contracts: must not be negative"),
        ([HEADER, ROW_A1.replace(",0.0001,", ",inf,")], "line 2, column funding_rate: not a finite number"),
        ([HEADER, ROW_B1.replace(",70,", ",nan,")], "line 2, column oi_usd: not a finite number: 'nan'"),
        ([HEADER, ROW_B1.replace(",-0.0003,", ",-inf,")], "line 2, column funding_rate: not a finite number"),
        ([HEADER, ROW_B1.replace(",7,70,", ",7,-70,")], "line 2, column oi_usd: must not be negative"),
        ([HEADER, ROW_A1, "bin,AUSDT,2026-01-01T00:10:00Z,1"], "line 3: expected 12 fields, found 4"),
        ([HEADER, ROW_A1.replace("AUSDT", "")], "line 2, column symbol: empty"),
        ([HEADER, ROW_A1, 'bin,"AUSDT'], "line 3: not valid CSV"),
    ],
)
def test_a_malformed_file_names_the_line_and_column(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_market(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_missing_file_and_a_corrupt_gzip_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot open"):
        read_market(tmp_path / "nope.csv.gz")
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(("\n".join([HEADER, ROW_A1, ROW_A2]) + "\n").encode())[:-20])
    with pytest.raises(InputError, match="unreadable"):
        read_market(broken)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="not UTF-8"):
        read_market(binary)


def test_chunks_quotes_and_blank_lines_read_the_same_as_one_row_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.backtest.market_file as market_file

    lines = [HEADER, ROW_A2, ROW_B1, "", ROW_A1, ROW_A2, ROW_B1.replace(",7,70,", ",8,80,")]
    whole = read_market(write(tmp_path, lines))
    # Chunks of two lines: disorder and repeats that straddle chunks are still counted.
    monkeypatch.setattr(market_file, "CHUNK_LINES", 2)
    small = read_market(write(tmp_path, lines, "small.csv"))
    # A quoted cell sends the file through the csv module.
    quoted = read_market(
        write(tmp_path, [HEADER, *(f'"bin",{r.split(",", 1)[1]}' if r else r for r in lines[1:])], "q.csv")
    )
    for m in (whole, small, quoted):
        assert (m.rows, m.unsorted, m.duplicates, m.conflicting) == (5, 1, 2, 1)
        assert [list(s.column("oi_contracts")) for s in m.series] == [[100.0, 101.0], [7.0]]
