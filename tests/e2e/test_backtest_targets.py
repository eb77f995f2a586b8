"""Issue 15's alert targets on the bundled replay, through `dps backtest --json` itself."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).parents[2]
MARKET = ROOT / "bot" / "data" / "demo_market.csv.gz"
GOLDEN = ROOT / "tests" / "data" / "golden_replay_events.txt"
PROMPT = timedelta(minutes=15)


def golden_time(symbol: str, words: str) -> datetime:
    """When the reviewed golden file has ``symbol``'s event containing ``words``."""
    for line in GOLDEN.read_text(encoding="utf-8").splitlines():
        if symbol in line and words in line:
            return datetime.strptime(line[:16], "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    raise AssertionError(f"no {symbol} {words!r} in {GOLDEN.name}")


@pytest.mark.slow
def test_the_replay_meets_every_alert_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events_file = tmp_path / "events.jsonl"
    assert main(["backtest", str(MARKET), "--json", "--events", str(events_file)]) == 0
    report = json.loads(capsys.readouterr().out)
    alerts = report["alerts"]
    assert alerts["band_alerts"] <= 45  # 137 before the hold and the reversal window
    assert alerts["band_per_symbol_day"]["max"] <= 3  # 16
    assert alerts["reversals_2h"] <= 3  # 79
    events = [json.loads(line) for line in events_file.read_text(encoding="utf-8").splitlines()]

    def first(symbol: str, kind: str, to_band: str | None = None) -> datetime:
        times = [
            datetime.fromisoformat(e["ts"])
            for e in events
            if e["symbol"] == symbol and e["kind"] == kind and (to_band is None or e["to_band"] == to_band)
        ]
        assert times, (symbol, kind, to_band)
        return min(times)

    # The scripted episodes still alert promptly, against the reviewed golden times.
    sui = first("SUIUSDT", "band_up", "stressed")
    assert abs(sui - golden_time("SUIUSDT", "stretched -> stressed")) <= PROMPT
    arb = first("ARBUSDT", "squeeze_risk")
    assert abs(arb - golden_time("ARBUSDT", "squeeze_risk")) <= PROMPT
    # And against the generator's script (scripts/gen_demo_market.py): stressed 20:50, squeeze 18:40.
    assert abs(sui - datetime(2026, 11, 17, 20, 50, tzinfo=UTC)) <= PROMPT
    assert abs(arb - datetime(2026, 11, 18, 18, 40, tzinfo=UTC)) <= PROMPT
