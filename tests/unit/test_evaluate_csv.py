"""The evaluate CSV contract: percent units, empty = missing, optional interval, clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app.evaluate_csv import parse_evaluate_csv
from bot.errors import CsvFormatError, InputError

HEADER = "symbol,oi_1h,oi_4h,oi_24h,funding,funding_interval_h,basis"
PRICED = HEADER + ",price_1h,price_4h,price_24h"


def test_percent_units_signs_and_missing_cells() -> None:
    rows = parse_evaluate_csv([HEADER, "labusdt,+0.79,,+2.5%,+0.067,4,-0.47"])
    (row,) = rows
    assert row.symbol == "LABUSDT"
    assert row.inputs.oi_1h_pct == pytest.approx(0.79)
    assert row.inputs.oi_4h_pct is None
    assert row.inputs.oi_24h_pct == pytest.approx(2.5)
    assert row.inputs.funding_pct == pytest.approx(0.067)
    assert row.inputs.funding_interval_h == 4.0
    assert row.inputs.basis_pct == pytest.approx(-0.47)


def test_interval_column_is_optional_and_defaults_to_8h() -> None:
    rows = parse_evaluate_csv(["symbol,oi_1h,oi_4h,oi_24h,funding,basis", "BTCUSDT,1,2,3,0.01,0.0", ""])
    assert rows[0].inputs.funding_interval_h == 8.0
    rows = parse_evaluate_csv([HEADER, "BTCUSDT,1,2,3,0.01,,0.0"])
    assert rows[0].inputs.funding_interval_h == 8.0


def test_price_columns_are_optional_percent_changes() -> None:
    rows = parse_evaluate_csv([PRICED, "BTCUSDT,1,2,3,0.01,8,0.0,+0.4%,-1.5,", "ETHUSDT,1,2,3,0.01,8,0.0,,,"])
    btc, eth = (row.inputs for row in rows)
    assert (btc.price_1h_pct, btc.price_4h_pct, btc.price_24h_pct) == (pytest.approx(0.4), -1.5, None)
    assert (eth.price_1h_pct, eth.price_4h_pct, eth.price_24h_pct) == (None, None, None)
    # Any subset, in any order; absent columns are missing prices.
    (row,) = parse_evaluate_csv(
        ["price_24h,symbol,oi_1h,oi_4h,oi_24h,funding,basis", "6,SOLUSDT,1,2,3,0.01,0"]
    )
    assert (row.inputs.price_1h_pct, row.inputs.price_24h_pct) == (None, 6.0)
    (row,) = parse_evaluate_csv([HEADER, "BTCUSDT,1,2,3,0.01,8,0.0"])
    assert (row.inputs.price_1h_pct, row.inputs.price_4h_pct, row.inputs.price_24h_pct) == (None, None, None)


@pytest.mark.parametrize(
    ("lines", "line", "column", "words"),
    [
        ([], 1, None, "empty"),
        (["symbol,oi_1h,oi_24h,funding,basis"], 1, "oi_4h", "missing column"),
        ([HEADER + ",extra"], 1, "extra", "unknown column"),
        (["symbol,symbol,oi_1h,oi_4h,oi_24h,funding,basis"], 1, "symbol", "twice"),
        ([HEADER], 1, None, "no data rows"),
        ([HEADER, "BTC,1,2,3,0.01,8"], 2, None, "expected 7 fields, found 6"),
        ([HEADER, "BTC,1,2,abc,0.01,8,0"], 2, "oi_24h", "not a number"),
        ([HEADER, "BTC,1,2,3,nan,8,0"], 2, "funding", "not a finite number"),
        ([HEADER, "BTC,1,2,3,0.01,8,inf"], 2, "basis", "not a finite number"),
        ([HEADER, "BTC,1,2,3,0.01,0,0"], 2, "funding_interval_h", "hours"),
        ([HEADER, "BTC,1,2,-100,0.01,8,0"], 2, "oi_24h", "cannot fall"),
        ([HEADER, ",1,2,3,0.01,8,0"], 2, "symbol", "empty symbol"),
        ([HEADER, "DROP TABLE;,1,2,3,0.01,8,0"], 2, "symbol", "not a symbol"),
        ([HEADER, "BTC,1,2,3,0.01,8,0", "", "btc,1,2,3,0.01,8,0"], 4, "symbol", "already given on line 2"),
        ([HEADER, 'BTC,"1,2,3,0.01,8,0'], 2, None, "unreadable"),
        ([HEADER + ",price"], 1, "price", "optionally price_1h,price_4h,price_24h"),
        ([PRICED + ",price_4h"], 1, "price_4h", "twice"),
        ([PRICED, "BTC,1,2,3,0.01,8,0,1,2"], 2, None, "expected 10 fields, found 9"),
        ([PRICED, "BTC,1,2,3,0.01,8,0,up,2,3"], 2, "price_1h", "not a number"),
        ([PRICED, "BTC,1,2,3,0.01,8,0,1,nan,3"], 2, "price_4h", "not a finite number"),
        ([PRICED, "BTC,1,2,3,0.01,8,0,1,2,-inf%"], 2, "price_24h", "not a finite number"),
        ([PRICED, "BTC,1,2,3,0.01,8,0,1,2,-100"], 2, "price_24h", "the price cannot fall by -100.0%"),
        (
            [PRICED, "BTC,1,2,3,0.01,8,0,1,2,3", "ETH,1,2,3,0.01,8,0,1,2,1e999"],
            3,
            "price_24h",
            "not a finite",
        ),
    ],
)
def test_malformed_files_name_line_and_column(
    lines: list[str], line: int, column: str | None, words: str
) -> None:
    with pytest.raises(CsvFormatError) as caught:
        parse_evaluate_csv(lines)
    assert caught.value.line == line
    assert caught.value.column == column
    assert words in str(caught.value)


@given(st.lists(st.text(max_size=60), max_size=6))
def test_arbitrary_text_parses_or_fails_with_an_input_error(lines: list[str]) -> None:
    outcome: list[str] = []
    try:
        rows = parse_evaluate_csv([HEADER, *lines])
    except InputError as exc:
        outcome.append(str(exc))
    else:
        assert all(row.symbol for row in rows)
    assert all(message.startswith("line ") for message in outcome)
