"""``dps backtest`` through ``bot.cli.main``: the JSON report, the side files, the exit codes."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import pytest

from bot.backtest.command import parse_moment, terminal_progress
from bot.cli import main
from bot.core.events import EventKind
from bot.core.models import Band, Regime
from tests.backtest_markets import crash_market

EVENT_KEYS = {"ts", "symbol", "kind", "from_band", "to_band", "score", "bias", "regime"}
HORIZON_KEYS = {
    "n",
    "median_abs_return_pct",
    "lift_abs_return",
    "n_vol",
    "median_rel_vol",
    "lift_rel_vol",
    "n_oi",
    "oi_drop_share",
    "lift_oi_drop",
}


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return crash_market(tmp_path_factory.mktemp("market") / "m.csv.gz", symbols=4, days=4)


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["backtest", *args, "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON object
    report: dict[str, object] = json.loads(out)
    return report


def test_json_report_has_the_documented_keys(market: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = run_json(capsys, str(market))
    assert set(report) == {"input", "readings", "alerts", "diff_events", "outcomes"}
    assert set(report["input"]) == {  # type: ignore[arg-type]
        "file", "rows", "exchanges", "symbols", "duplicates", "conflicting_duplicates", "unsorted_rows",
        "first_ts", "last_ts", "span_hours", "cycles", "cycles_scored", "since", "until",
    }  # fmt: skip
    alerts = report["alerts"]
    assert isinstance(alerts, dict)
    assert set(alerts) == {
        "total", "by_kind", "band_alerts", "per_symbol_day", "band_per_symbol_day", "reversals_2h",
        "suppressed_by_cap",
    }  # fmt: skip
    assert set(alerts["by_kind"]) == {k.value for k in EventKind}
    assert set(alerts["per_symbol_day"]) == {"days", "median", "max", "max_symbol", "max_date"}
    outcomes = report["outcomes"]
    assert isinstance(outcomes, dict)
    assert outcomes["horizons"] == ["1h", "4h", "24h"]
    for table, keys in (
        ("bands", [b.value for b in Band]),
        ("regimes", [r.value for r in Regime]),
        ("baseline_funding", [b.value for b in Band]),
        ("baseline_oi_24h", [b.value for b in Band]),
        ("alert_kinds", [k.value for k in EventKind]),
    ):
        assert [g["key"] for g in outcomes[table]] == keys
        for g in outcomes[table]:
            assert set(g) == {"key", "readings", "horizons"}
            assert list(g["horizons"]) == ["1h", "4h", "24h"]
            assert all(set(h) == HORIZON_KEYS for h in g["horizons"].values())


def test_events_and_readings_files(market: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events, readings = tmp_path / "events.jsonl", tmp_path / "readings.csv"
    report = run_json(capsys, str(market), "--events", str(events), "--readings", str(readings))
    lines = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    alerts = report["alerts"]
    assert isinstance(alerts, dict)
    assert len(lines) == alerts["total"] > 0
    for e in lines:
        assert set(e) == EVENT_KEYS
        assert e["ts"].endswith("Z") and datetime.fromisoformat(e["ts"]).utcoffset() is not None
        assert e["kind"] in {k.value for k in EventKind}
        assert e["from_band"] in {b.value for b in Band} and e["to_band"] in {b.value for b in Band}
        assert e["bias"] in {"LONG", "SHORT", "NEUTRAL"}
        assert e["regime"] in {r.value for r in Regime}
        assert 0 <= e["score"] <= 100
    assert [e["ts"] for e in lines] == sorted(e["ts"] for e in lines)
    # The crowded books climbed: someone was told about a stressed long book.
    assert any(e["to_band"] == "stressed" and e["bias"] == "LONG" for e in lines)

    with readings.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["ts", "symbol", "score", "band", "bias", "regime", "mark_price"]
    body = rows[1:]
    counts = report["readings"]
    assert isinstance(counts, dict)
    assert len(body) == counts["total"] == 4 * (4 * 288 + 1)
    first = body[0]
    assert (
        first[0] == "2026-01-01T00:00:00Z" and first[1] == "CR00USDT" and first[3] in {b.value for b in Band}
    )
    assert float(first[6]) == pytest.approx(10.0, rel=0.01)
    # Every event is one of the readings, with the same score, band, bias and regime.
    by_key = {(r[0], r[1]): r for r in body}
    for e in lines:
        r = by_key[(e["ts"], e["symbol"])]
        assert (int(r[2]), r[4], r[5]) == (e["score"], e["bias"], e["regime"])


def test_text_report_names_the_sections(market: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", str(market)]) == 0
    out = capsys.readouterr().out
    for needle in (
        "alerts to a chat with default settings",
        "score bands",
        "naive baseline: |funding|",
        "stressed",
    ):
        assert needle in out


def test_since_until_window(market: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = run_json(capsys, str(market), "--since", "2026-01-02", "--until", "2026-01-02")
    i = report["input"]
    assert isinstance(i, dict)
    assert i["cycles_scored"] == 288 and i["cycles"] == 4 * 288 + 1
    assert (i["since"], i["until"]) == ("2026-01-02T00:00:00Z", "2026-01-02T23:59:59Z")


def test_a_malformed_market_exits_2_naming_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "exchange,symbol,ts,oi_contracts,mark_price,index_price,funding_rate,funding_interval_h\n"
        "x,AUSDT,2026-01-01T00:00:00Z,1,2,2,0.0001,8\n"
        "x,AUSDT,2026-01-01T00:05:00Z,1,two,2,0.0001,8\n",
        encoding="utf-8",
    )
    events = tmp_path / "events.jsonl"
    assert main(["backtest", str(bad), "--events", str(events)]) == 2
    err = capsys.readouterr().err
    assert "line 3, column mark_price: not a number: 'two'" in err
    assert "Traceback" not in err
    assert not events.exists()  # nothing half-written


@pytest.mark.parametrize(
    "args",
    [
        ["--since", "last tuesday"],
        ["--since", "2026-01-03", "--until", "2026-01-02"],
    ],
)
def test_bad_window_arguments_exit_2(
    market: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", str(market), *args]) == 2
    assert "--since" in capsys.readouterr().err


def test_parse_moment_reads_dates_times_and_offsets() -> None:
    assert parse_moment("2026-01-02", "--since").isoformat() == "2026-01-02T00:00:00+00:00"
    assert (
        parse_moment("2026-01-02", "--until", end_of_day=True).isoformat()
        == "2026-01-02T23:59:59.999999+00:00"
    )
    assert parse_moment("2026-01-02T10:00", "--since").isoformat() == "2026-01-02T10:00:00+00:00"
    assert parse_moment("2026-01-02T12:00+02:00", "--since").isoformat() == "2026-01-02T10:00:00+00:00"


def test_progress_line_redraws_in_place_and_ends_the_line() -> None:
    stream = io.StringIO()
    show = terminal_progress(stream)
    for done in range(1, 201):
        show(done, 200)
    text = stream.getvalue()
    assert text.count("\r") == 101  # once per percent (0 to 100), not once per cycle
    assert text.endswith("cycle 200 of 200 (100 %)\n")
