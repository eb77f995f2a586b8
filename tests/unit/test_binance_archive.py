"""``dps import binance-archive`` on small files written here in the archive's exact layouts.

Paths follow the archive (``data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-…zip``);
each zip holds one CSV named like it; ``.CHECKSUM`` sidecars are ``sha256sum`` output.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.backtest.archive_files import ArchiveFile
from bot.backtest.binance_archive import HEADER, Selection, import_archive, selection_from
from bot.cli import main
from bot.errors import InputError

METRICS_HEADER = (
    "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
    "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio"
)
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate"
DAY = "2024-01-01"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def write_zip(path: Path, text: str, checksum: str | None = "good") -> Path:
    """A zip holding one CSV named like it, and (unless None) a sha256sum sidecar."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(path.name.replace(".zip", ".csv"), text)
    path.write_bytes(buffer.getvalue())
    if checksum is not None:
        digest = hashlib.sha256(buffer.getvalue()).hexdigest() if checksum == "good" else "0" * 64
        path.with_name(path.name + ".CHECKSUM").write_text(f"{digest}  {path.name}")
    return path


def metrics_zip(root: Path, symbol: str, day: str, rows: list[str], header: bool = True) -> Path:
    path = root / f"data/futures/um/daily/metrics/{symbol}/{symbol}-metrics-{day}.zip"
    return write_zip(path, "\n".join(([METRICS_HEADER] if header else []) + rows) + "\n")


def metrics_row(symbol: str, at: str, oi: str = "100.5", oi_usd: str = "4020000.25") -> str:
    return f"{DAY} {at},{symbol},{oi},{oi_usd},1.05,1.2,1.31,0.97"


def kline_row(open_at: str, close: str, micro: bool = False) -> str:
    opened = ms(f"{DAY}T{open_at}")
    last = opened + 299_999
    if micro:
        opened, last = opened * 1000, opened * 1000 + 299_999_999
    return f"{opened},{close},{close},{close},{close},0,{last},0,300,0,0,0"


def klines_zip(
    root: Path, kind: str, symbol: str, rows: list[str], header: bool = True, day: str = DAY
) -> Path:
    path = root / f"data/futures/um/daily/{kind}/{symbol}/5m/{symbol}-5m-{day}.zip"
    return write_zip(path, "\n".join(([KLINE_HEADER] if header else []) + rows) + "\n")


def funding_zip(root: Path, symbol: str, rows: list[tuple[str, int, str]], month: str = "2024-01") -> Path:
    path = root / f"data/futures/um/monthly/fundingRate/{symbol}/{symbol}-fundingRate-{month}.zip"
    lines = [FUNDING_HEADER] + [f"{ms(at) + 7},{hours},{rate}" for at, hours, rate in rows]
    return write_zip(path, "\n".join(lines) + "\n")


def market_lines(path: Path) -> list[str]:
    return gzip.decompress(path.read_bytes()).decode().splitlines()


def standard(root: Path, symbol: str = "BTCUSDT") -> None:
    """An hour of a well-behaved symbol: rows 00:00…00:55, klines from 23:55 the day before."""
    rows = [metrics_row(symbol, f"00:{m:02d}:00") for m in range(0, 60, 5)]
    metrics_zip(root, symbol, DAY, rows)
    before = f"{ms('2023-12-31T23:55:00')},99,99,99,99,0,{ms('2023-12-31T23:55:00') + 299_999},0,1,0,0,0"
    klines_zip(
        root,
        "markPriceKlines",
        symbol,
        [before] + [kline_row(f"00:{m:02d}:00", f"{100 + m}") for m in range(0, 60, 5)],
    )
    index_before = before.replace(",99,99,99,99,", ",98,98,98,98,")
    klines_zip(
        root,
        "indexPriceKlines",
        symbol,
        [index_before] + [kline_row(f"00:{m:02d}:00", f"{99 + m}.5") for m in range(0, 60, 5)],
    )
    funding_zip(
        root, symbol, [("2024-01-01T00:00:00", 8, "0.00010000"), ("2024-01-01T08:00:00", 8, "-0.00002500")]
    )


def test_rows_join_oi_prices_closed_by_then_and_the_funding_in_force(tmp_path: Path) -> None:
    standard(tmp_path)
    out = tmp_path / "market.csv.gz"
    report = import_archive(tmp_path, out)
    lines = market_lines(out)
    assert lines[0] == HEADER
    # 00:00 is priced by the kline opened 23:55 (closed at 00:00), never by the one opening then.
    assert lines[1] == (
        "binanceusdm,BTCUSDT,2024-01-01T00:00:00Z,100.5,4020000.25,99,98,,0.0001,8,2024-01-01T08:00:00Z,"
    )
    assert lines[2] == (
        "binanceusdm,BTCUSDT,2024-01-01T00:05:00Z,100.5,4020000.25,100,99.5,,0.0001,8,2024-01-01T08:00:00Z,"
    )
    assert lines[-1].startswith("binanceusdm,BTCUSDT,2024-01-01T00:55:00Z,100.5,4020000.25,150,149.5,")
    assert len(lines) == 13
    assert report.rows_written == 12 and report.symbols == ["BTCUSDT"]
    assert report.checksums_verified == 4 and report.zips_without_checksum == 0
    assert not report.dropped and not report.gaps


def test_settled_rate_is_used_from_its_settlement_until_the_next(tmp_path: Path) -> None:
    symbol = "ETHUSDT"
    times = ["07:55:00", "08:00:00", "11:55:00", "12:00:00"]
    metrics_zip(tmp_path, symbol, DAY, [metrics_row(symbol, t) for t in times])
    marks = [kline_row(f"{h:02d}:{m:02d}:00", "2000") for h in (7, 11) for m in (50, 55)]
    klines_zip(tmp_path, "markPriceKlines", symbol, marks)
    klines_zip(tmp_path, "indexPriceKlines", symbol, marks)
    # 4h settlements; the archive's calc_time carries a few ms of jitter (+7 ms here).
    funding_zip(
        tmp_path,
        symbol,
        [
            ("2024-01-01T04:00:00", 4, "0.0003"),
            ("2024-01-01T08:00:00", 4, "0.0005"),
            ("2024-01-01T12:00:00", 4, "-0.0001"),
        ],
    )
    out = tmp_path / "m.csv.gz"
    import_archive(tmp_path, out)
    cells = [line.split(",") for line in market_lines(out)[1:]]
    got = [(c[2][11:16], c[8], c[9], c[10][11:16]) for c in cells]
    assert got == [
        ("07:55", "0.0003", "4", "08:00"),
        ("08:00", "0.0005", "4", "12:00"),
        ("11:55", "0.0005", "4", "12:00"),
        ("12:00", "-0.0001", "4", ""),
    ]


def test_unsorted_duplicated_gappy_metrics_with_empty_cells_are_reported(tmp_path: Path) -> None:
    symbol = "BTCUSDT"
    standard(tmp_path, symbol)
    rows = [
        metrics_row(symbol, "00:30:00"),
        metrics_row(symbol, "00:05:00"),
        metrics_row(symbol, "00:00:00"),
        metrics_row(symbol, "00:05:00"),  # exact duplicate
        metrics_row(symbol, "00:00:00", oi="111"),  # same time, other values
        metrics_row(symbol, "00:35:00", oi='""', oi_usd='""'),
        metrics_row(symbol, "00:40:00", oi_usd='""'),
    ]
    metrics_zip(tmp_path, symbol, DAY, rows)
    out = tmp_path / "m.csv.gz"
    report = import_archive(tmp_path, out)
    lines = market_lines(out)
    assert [line.split(",")[2][11:16] for line in lines[1:]] == ["00:00", "00:05", "00:30", "00:40"]
    assert lines[1].split(",")[3] == "100.5"  # the first of the two 00:00 rows is kept
    assert lines[4].split(",")[3:5] == ["100.5", ""]  # oi_usd may be empty
    assert [(g.first, g.last, g.slots) for g in report.gaps] == [
        (ms("2024-01-01T00:10:00") // 1000, ms("2024-01-01T00:25:00") // 1000, 4)
    ]
    assert report.identical_duplicates == {"BTCUSDT": 1}
    text = "\n".join(report.lines())
    assert "gaps: 4 missing 5-minute metrics rows in 1 gaps" in text
    assert "BTCUSDT: 4 in 1: 2024-01-01T00:10:00Z…2024-01-01T00:25:00Z (4)" in text
    assert "dropped 3 metrics rows" in text
    assert "BTCUSDT: 1 exact duplicates" in text
    assert "BTCUSDT: empty sum_open_interest: 2024-01-01T00:35:00Z" in text
    assert (
        "BTCUSDT-metrics-2024-01-01.zip:6: same time as BTCUSDT-metrics-2024-01-01.zip:4 with other values"
        in text
    )


def test_headerless_and_microsecond_klines_give_the_same_market(tmp_path: Path) -> None:
    standard(tmp_path / "a")
    standard(tmp_path / "b")
    rows = [kline_row(f"00:{m:02d}:00", f"{100 + m}", micro=True) for m in range(0, 60, 5)]
    before = kline_row("00:00:00", "99", micro=True).replace(
        str(ms(f"{DAY}T00:00:00") * 1000), str(ms("2023-12-31T23:55:00") * 1000), 1
    )
    before = before.replace(
        str(ms(f"{DAY}T00:00:00") * 1000 + 299_999_999), str(ms("2023-12-31T23:55:00") * 1000 + 299_999_999)
    )
    klines_zip(tmp_path / "b", "markPriceKlines", "BTCUSDT", [before, *rows], header=False)
    import_archive(tmp_path / "a", tmp_path / "a.csv.gz")
    import_archive(tmp_path / "b", tmp_path / "b.csv.gz")
    assert market_lines(tmp_path / "a.csv.gz") == market_lines(tmp_path / "b.csv.gz")


def test_an_older_kline_prices_a_row_up_to_15_minutes_then_the_row_is_dropped(tmp_path: Path) -> None:
    symbol = "SOLUSDT"
    metrics_zip(tmp_path, symbol, DAY, [metrics_row(symbol, f"00:{m:02d}:00") for m in (5, 10, 15, 20, 25)])
    mark = [kline_row("00:00:00", "20")]  # closes 00:05; nothing after it
    klines_zip(tmp_path, "markPriceKlines", symbol, mark)
    klines_zip(
        tmp_path, "indexPriceKlines", symbol, [kline_row(f"00:{m:02d}:00", "19.9") for m in range(0, 30, 5)]
    )
    funding_zip(tmp_path, symbol, [("2024-01-01T00:00:00", 8, "0.0001")])
    out = tmp_path / "m.csv.gz"
    report = import_archive(tmp_path, out)
    assert [line.split(",")[2][11:16] for line in market_lines(out)[1:]] == [
        "00:05",
        "00:10",
        "00:15",
        "00:20",
    ]
    assert report.older_kline == 3
    text = "\n".join(report.lines())
    assert "SOLUSDT: no mark price kline closed in the 15 min up to this time: 2024-01-01T00:25:00Z" in text


def test_index_comes_from_the_premium_index_when_index_klines_are_missing(tmp_path: Path) -> None:
    symbol = "ARBUSDT"
    metrics_zip(tmp_path, symbol, DAY, [metrics_row(symbol, "00:05:00")])
    klines_zip(tmp_path, "markPriceKlines", symbol, [kline_row("00:00:00", "100")])
    klines_zip(tmp_path, "premiumIndexKlines", symbol, [kline_row("00:00:00", "0.001")])
    funding_zip(tmp_path, symbol, [("2024-01-01T00:00:00", 8, "0.0001")])
    out = tmp_path / "m.csv.gz"
    report = import_archive(tmp_path, out)
    cells = market_lines(out)[1].split(",")
    assert cells[5:7] == ["100", "99.9000999"]
    assert float(cells[5]) / float(cells[6]) - 1 == pytest.approx(0.001, rel=1e-8)  # basis = premium
    assert report.derived_index == {"ARBUSDT": 1}


def test_a_symbol_missing_a_kind_is_skipped_and_reported_unless_asked_for(tmp_path: Path) -> None:
    standard(tmp_path)
    metrics_zip(tmp_path, "DOGEUSDT", DAY, [metrics_row("DOGEUSDT", "00:05:00")])
    klines_zip(tmp_path, "markPriceKlines", "PEPEUSDT", [kline_row("00:00:00", "1")])
    report = import_archive(tmp_path, tmp_path / "m.csv.gz")
    assert report.symbols == ["BTCUSDT"]
    assert report.skipped_symbols == {
        "DOGEUSDT": "no fundingRate, no markPriceKlines, no indexPriceKlines or premiumIndexKlines files",
        "PEPEUSDT": "no metrics, no fundingRate, no indexPriceKlines or premiumIndexKlines files",
    }
    assert "skipped symbol PEPEUSDT: no metrics, no fundingRate" in "\n".join(report.lines())
    with pytest.raises(InputError, match="DOGEUSDT: no fundingRate, no markPriceKlines"):
        import_archive(tmp_path, tmp_path / "n.csv.gz", Selection(symbols=frozenset({"BTCUSDT", "DOGEUSDT"})))
    with pytest.raises(InputError, match="XRPUSDT: no metrics files"):
        import_archive(tmp_path, tmp_path / "n.csv.gz", Selection(symbols=frozenset({"XRPUSDT"})))
    assert not (tmp_path / "n.csv.gz").exists()


def test_symbols_and_dates_select(tmp_path: Path) -> None:
    standard(tmp_path, "BTCUSDT")
    standard(tmp_path, "ETHUSDT")
    metrics_zip(tmp_path, "ETHUSDT", "2024-01-02", ["2024-01-02 00:05:00,ETHUSDT,1,2,1,1,1,1"])  # not read
    eth = [metrics_row("ETHUSDT", f"00:{m:02d}:00") for m in range(0, 60, 5)]
    metrics_zip(tmp_path, "ETHUSDT", DAY, [*eth, "2024-01-02 00:00:00,ETHUSDT,1,2,1,1,1,1"])
    out = tmp_path / "m.csv.gz"
    report = import_archive(tmp_path, out, selection_from("ethusdt", "2024-01-01", "2024-01-01"))
    lines = market_lines(out)[1:]
    assert {line.split(",")[1] for line in lines} == {"ETHUSDT"}
    assert len(lines) == 12
    assert report.outside_dates == 1


def test_a_settled_rate_older_than_two_intervals_is_not_carried(tmp_path: Path) -> None:
    symbol = "BTCUSDT"
    standard(tmp_path, symbol)
    funding_zip(tmp_path, symbol, [("2023-12-31T08:00:00", 8, "0.0001")])
    with pytest.raises(InputError, match="no rows to write") as caught:
        import_archive(tmp_path, tmp_path / "m.csv.gz")
    assert "funding stale: the last settlement in the files is 2023-12-31T08:00:00Z" in str(caught.value)


def test_a_funding_settlement_missing_between_two_is_reported(tmp_path: Path) -> None:
    standard(tmp_path)
    funding_zip(
        tmp_path, "BTCUSDT", [("2023-12-31T16:00:00", 8, "0.0001"), ("2024-01-01T08:00:00", 8, "0.0002")]
    )
    report = import_archive(tmp_path, tmp_path / "m.csv.gz")
    assert "  BTCUSDT: none between 2023-12-31T16:00:00Z and 2024-01-01T08:00:00Z" in report.lines()
    assert report.rows_written == 12  # bridged: 16:00's rate is within two intervals


def test_a_checksum_mismatch_refuses_the_import_naming_every_file(tmp_path: Path) -> None:
    standard(tmp_path)
    bad = metrics_zip(tmp_path, "BTCUSDT", DAY, [metrics_row("BTCUSDT", "00:05:00")])
    bad.with_name(bad.name + ".CHECKSUM").write_text("0" * 64 + f"  {bad.name}")
    out = tmp_path / "m.csv.gz"
    with pytest.raises(InputError, match=r"1 files fail their \.CHECKSUM") as caught:
        import_archive(tmp_path, out)
    assert f"{bad}: sha256 " in str(caught.value)
    assert not out.exists()
    assert main(["import", "binance-archive", str(tmp_path), "-o", str(out)]) == 2


def test_zips_without_checksums_are_read_and_counted(tmp_path: Path) -> None:
    standard(tmp_path)
    for sidecar in tmp_path.rglob("*.CHECKSUM"):
        sidecar.unlink()
    report = import_archive(tmp_path, tmp_path / "m.csv.gz")
    assert (report.checksums_verified, report.zips_without_checksum) == (0, 4)


def test_a_corrupt_zip_names_the_file(tmp_path: Path) -> None:
    standard(tmp_path)
    path = next(tmp_path.rglob("*-metrics-*.zip"))
    path.write_bytes(path.read_bytes()[:40])
    path.with_name(path.name + ".CHECKSUM").unlink()
    with pytest.raises(InputError, match=rf"{path}: corrupt zip"):
        import_archive(tmp_path, tmp_path / "m.csv.gz")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [
                METRICS_HEADER.replace("sum_open_interest,", "open_interest,", 1),
                metrics_row("BTCUSDT", "00:05:00"),
            ],
            "line 1, column 'sum_open_interest': header has 'open_interest'",
        ),
        ([metrics_row("BTCUSDT", "00:05:00") + ",extra"], "line 1: expected 8 columns"),
        (
            [metrics_row("BTCUSDT", "00:05:00"), metrics_row("BTCUSDT", "00:10:00", oi="12,5")],
            "line 2: expected 8 columns",
        ),
        (
            [metrics_row("BTCUSDT", "00:05:00", oi="n/a")],
            "line 1, column 'sum_open_interest': not a number: 'n/a'",
        ),
        (
            [metrics_row("BTCUSDT", "00:05:00").replace("00:05:00", "5 past")],
            "line 1, column 'create_time': not a time",
        ),
        ([metrics_row("ETHUSDT", "00:05:00")], "line 1, column 'symbol': 'ETHUSDT' in a file of BTCUSDT"),
    ],
)
def test_malformed_metrics_name_file_line_and_column(tmp_path: Path, rows: list[str], message: str) -> None:
    standard(tmp_path)
    path = metrics_zip(tmp_path, "BTCUSDT", DAY, rows, header=False)
    with pytest.raises(InputError, match="^" + str(path).replace(".", r"\.") + ": " + _escape(message)):
        import_archive(tmp_path, tmp_path / "m.csv.gz")


def _escape(text: str) -> str:
    return re.escape(text)


def test_malformed_kline_and_funding_cells_name_file_line_and_column(tmp_path: Path) -> None:
    standard(tmp_path)
    mark = klines_zip(tmp_path, "markPriceKlines", "BTCUSDT", [kline_row("00:00:00", "1e")])
    with pytest.raises(InputError, match=_escape(f"{mark}: line 2, column 'close': not a number: '1e'")):
        import_archive(tmp_path, tmp_path / "m.csv.gz")
    standard(tmp_path)
    funding = funding_zip(tmp_path, "BTCUSDT", [("2024-01-01T00:00:00", 0, "0.0001")])
    with pytest.raises(InputError, match=_escape(f"{funding}: line 2, column 'funding_interval_hours'")):
        import_archive(tmp_path, tmp_path / "m.csv.gz")


def test_kline_files_outside_the_archive_folders_are_refused(tmp_path: Path) -> None:
    standard(tmp_path)
    write_zip(tmp_path / "loose" / "BTCUSDT-5m-2024-01-01.zip", KLINE_HEADER + "\n")
    with pytest.raises(InputError, match="cannot tell mark, index or premium klines apart"):
        import_archive(tmp_path, tmp_path / "m.csv.gz")


def test_other_files_are_listed_as_ignored(tmp_path: Path) -> None:
    standard(tmp_path)
    write_zip(
        tmp_path / "data/futures/um/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2024-01-01.zip", KLINE_HEADER + "\n"
    )
    (tmp_path / "notes.txt").write_text("mine")
    zipped = next(tmp_path.rglob("*-metrics-*.zip"))
    extracted = zipped.with_suffix(".csv")
    extracted.write_text("junk that is never read")
    report = import_archive(tmp_path, tmp_path / "m.csv.gz")
    reasons = {path.name: why for path, why in report.ignored_files}
    assert reasons == {
        "BTCUSDT-5m-2024-01-01.zip": "klines files are not used",
        "notes.txt": "name is not in the archive's pattern SYMBOL-KIND-DATE.zip",
        extracted.name: "the zip beside it is read instead",
    }


def test_the_output_loads_as_a_replay_market(tmp_path: Path) -> None:
    from bot.collector.replay import ReplayMarket

    standard(tmp_path)
    out = tmp_path / "m.csv.gz"
    import_archive(tmp_path, out)
    market = ReplayMarket.from_path(out)
    snap = market.snapshots_at(datetime(2024, 1, 1, 0, 5, tzinfo=UTC))[0]
    assert (snap.exchange, snap.symbol, snap.oi_contracts, snap.mark_price, snap.index_price) == (
        "binanceusdm",
        "BTCUSDT",
        100.5,
        100.0,
        99.5,
    )
    assert (snap.funding_rate, snap.funding_interval_h, snap.last_price) == (0.0001, 8.0, None)
    assert snap.next_funding_time == datetime(2024, 1, 1, 8, tzinfo=UTC)


# read_market leaves the raw file of a gzip'd market unclosed (GzipFile does not close a
# fileobj it was handed); the warning is its reader's, not this output's.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_output_loads_as_a_backtest_market_file(tmp_path: Path) -> None:
    from bot.backtest.market_file import read_market

    standard(tmp_path)
    standard(tmp_path, "ETHUSDT")
    out = tmp_path / "m.csv.gz"
    import_archive(tmp_path, out)
    market = read_market(out)
    assert [s.symbol for s in market.series] == ["BTCUSDT", "ETHUSDT"]
    assert market.duplicates == 0 and market.unsorted == 0
    btc = market.series[0]
    assert len(btc) == 12
    assert btc.ts[1] == ms("2024-01-01T00:05:00") / 1000
    assert (btc.column("mark_price")[1], btc.column("index_price")[1]) == (100.0, 99.5)
    assert btc.column("funding_rate")[0] == 0.0001


def test_cli_writes_the_file_and_reports_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    standard(tmp_path)
    out = tmp_path / "plain.csv"
    code = main(
        [
            "import",
            "binance-archive",
            str(tmp_path),
            "-o",
            str(out),
            "--symbols",
            "BTCUSDT",
            "--from",
            DAY,
            "--to",
            DAY,
        ]
    )
    assert code == 0
    assert out.read_text().splitlines()[0] == HEADER  # no .gz: plain CSV
    err = capsys.readouterr().err
    assert f"wrote 12 rows, 1 symbols, 2024-01-01T00:00:00Z … 2024-01-01T00:55:00Z to {out}" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--from", "2024-13-01"], "--from: not a date like 2024-01-31: '2024-13-01'"),
        (["--from", "2024-01-02", "--to", "2024-01-01"], "--from 2024-01-02 is after --to 2024-01-01"),
        (["--symbols", " , "], "--symbols: no symbol given"),
    ],
)
def test_cli_refuses_bad_arguments_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    standard(tmp_path)
    assert main(["import", "binance-archive", str(tmp_path), "-o", str(tmp_path / "m.csv.gz"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_cli_on_a_missing_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "binance-archive", str(tmp_path / "nope"), "-o", str(tmp_path / "m.csv.gz")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_selection_keeps_neighbouring_days_files_for_prices_and_funding(tmp_path: Path) -> None:
    file_day = date(2023, 12, 31)
    selection = Selection(first_day=date(2024, 1, 1), last_day=date(2024, 1, 1))
    assert selection.covers_file(ArchiveFile(tmp_path, "markPriceKlines", "X", file_day, file_day))
    assert not selection.covers_file(ArchiveFile(tmp_path, "metrics", "X", file_day, file_day))
    assert not selection.covers_file(
        ArchiveFile(tmp_path, "markPriceKlines", "X", date(2023, 12, 30), date(2023, 12, 30))
    )


def test_monthly_klines_and_daily_funding_files_are_read(tmp_path: Path) -> None:
    standard(tmp_path / "daily")
    root = tmp_path / "monthly"
    standard(root)
    um = root / "data/futures/um"
    for kind in ("markPriceKlines", "indexPriceKlines"):
        daily = um / f"daily/{kind}/BTCUSDT/5m/BTCUSDT-5m-2024-01-01.zip"
        with zipfile.ZipFile(daily) as archive:
            text = archive.read("BTCUSDT-5m-2024-01-01.csv").decode()
        write_zip(um / f"monthly/{kind}/BTCUSDT/5m/BTCUSDT-5m-2024-01.zip", text)
        daily.unlink()
        daily.with_name(daily.name + ".CHECKSUM").unlink()
    monthly = um / "monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip"
    with zipfile.ZipFile(monthly) as archive:
        text = archive.read("BTCUSDT-fundingRate-2024-01.csv").decode()
    write_zip(um / "daily/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01-01.zip", text)
    monthly.unlink()
    monthly.with_name(monthly.name + ".CHECKSUM").unlink()
    report = import_archive(root, tmp_path / "m.csv.gz", selection_from(None, DAY, DAY))
    import_archive(tmp_path / "daily", tmp_path / "d.csv.gz")
    assert market_lines(tmp_path / "m.csv.gz") == market_lines(tmp_path / "d.csv.gz")
    assert report.files_read == {"metrics": 1, "fundingRate": 1, "markPriceKlines": 1, "indexPriceKlines": 1}


@pytest.mark.parametrize(
    ("sidecar", "message"),
    [
        ("not a checksum", "not a sha256sum line"),
        ("{digest}  OTHER-metrics-2024-01-01.zip", "names 'OTHER-metrics-2024-01-01.zip'"),
    ],
)
def test_a_malformed_checksum_file_refuses_the_import(tmp_path: Path, sidecar: str, message: str) -> None:
    standard(tmp_path)
    zipped = next(tmp_path.rglob("*-metrics-*.zip"))
    digest = hashlib.sha256(zipped.read_bytes()).hexdigest()
    zipped.with_name(zipped.name + ".CHECKSUM").write_text(sidecar.format(digest=digest))
    with pytest.raises(InputError, match=message):
        import_archive(tmp_path, tmp_path / "m.csv.gz")


def test_a_binary_mode_checksum_line_passes(tmp_path: Path) -> None:
    standard(tmp_path)
    zipped = next(tmp_path.rglob("*-metrics-*.zip"))
    digest = hashlib.sha256(zipped.read_bytes()).hexdigest()
    zipped.with_name(zipped.name + ".CHECKSUM").write_text(f"{digest.upper()} *{zipped.name}\n")
    assert import_archive(tmp_path, tmp_path / "m.csv.gz").checksums_verified == 4
