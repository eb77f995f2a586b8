"""The replay engine and its report on markets built here, and on the bundled demo market."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from itertools import product
from pathlib import Path
from typing import Any

import pytest

from bot.backtest.engine import BacktestOptions, run_backtest
from bot.backtest.market_file import read_market
from bot.backtest.summary import summary
from bot.core.events import EventKind
from tests.backtest_markets import crash_market, independent_market

DEMO = Path(__file__).parents[2] / "bot" / "data" / "demo_market.csv.gz"
STEP_S = 300.0
HORIZON_S = {"1h": 3600.0, "4h": 4 * 3600.0, "24h": 24 * 3600.0}


def group(report: dict[str, Any], table: str, key: str) -> dict[str, Any]:
    return next(g for g in report["outcomes"][table] if g["key"] == key)


@pytest.mark.slow
def test_stress_that_precedes_crashes_shows_as_lift(tmp_path: Path) -> None:
    report = summary(run_backtest(read_market(crash_market(tmp_path / "crash.csv"))))
    stressed = group(report, "bands", "stressed")["horizons"]["24h"]
    assert stressed["n"] >= 100  # the crowded books did read stressed, many times
    assert stressed["lift_abs_return"] > 1.5
    # The crash also took OI down by 30 %: every stressed reading was followed by the drop.
    assert stressed["oi_drop_share"] == pytest.approx(1.0)
    assert report["alerts"]["by_kind"]["band_up"] >= 1


def _relative_se_of_median_abs(n_eff: float) -> float:
    """Relative standard error of the sample median of |X|, X normal, from ``n_eff`` draws.

    The median m of |X| is 0.674σ and the density of |X| there is 0.636/σ, so the
    median's standard error is 1 / (2 · 0.636/σ · √n) = 0.786σ/√n, or 1.17 m / √n.
    """
    return 1.17 / math.sqrt(n_eff)


@pytest.mark.slow
def test_when_the_future_is_independent_of_the_inputs_the_lift_is_one_within_noise(tmp_path: Path) -> None:
    report = summary(run_backtest(read_market(independent_market(tmp_path / "indep.csv"))))
    checked = 0
    # The score's bands and the two naive baselines' bands: none can see the future.
    for table in ("bands", "baseline_funding", "baseline_oi_24h"):
        neutral = group(report, table, "neutral")["horizons"]
        for key, label in product(("lean", "stretched", "stressed"), HORIZON_S):
            h = group(report, table, key)["horizons"][label]
            # Readings of one symbol less than a horizon apart share most of their future:
            # count one independent draw per horizon's worth of 5-minute readings. Symbols
            # are independent of each other, so this undercounts, and the bound is loose
            # rather than flaky.
            n_eff = h["n"] * STEP_S / HORIZON_S[label]
            n_ref = neutral[label]["n"] * STEP_S / HORIZON_S[label]
            if min(n_eff, n_ref) < 1:
                continue
            se = math.hypot(_relative_se_of_median_abs(n_eff), _relative_se_of_median_abs(n_ref))
            if 3 * se > 0.3:
                continue  # too few independent draws: a lift of 1.3 would pass, no test
            # Three standard errors: the price is the same random walk for every reading,
            # so the true lift is exactly 1; the data are seeded, so this is deterministic.
            assert abs(h["lift_abs_return"] - 1) < 3 * se, (key, label, h["lift_abs_return"], se)
            checked += 1
    assert checked >= 4


@pytest.mark.slow
def test_the_bundled_replay_report_is_internally_consistent() -> None:
    market = read_market(DEMO)
    run = run_backtest(market)
    report = summary(run)
    i, r, a = report["input"], report["readings"], report["alerts"]
    assert (i["rows"], i["symbols"], i["duplicates"], i["unsorted_rows"]) == (78_404, 68, 0, 0)
    assert i["cycles"] == i["cycles_scored"] == len({t for s in market.series for t in s.ts})
    assert r["total"] == i["rows"]  # every row scored exactly once
    assert r["complete"] + r["partial"] == r["total"]
    for figures in (a, report["diff_events"]):
        assert sum(figures["by_kind"].values()) == figures["total"]
        assert figures["band_alerts"] == figures["by_kind"]["band_up"] + figures["by_kind"]["band_down"]
        days = figures["per_symbol_day"]
        if figures["total"]:
            assert days["max"] >= days["median"] >= 1
        assert figures["reversals_2h"] <= figures["band_alerts"]
    # The chat hears a subset of the diff engine's events, kind by kind.
    assert a["total"] <= report["diff_events"]["total"]
    for kind in EventKind:
        assert a["by_kind"][kind.value] <= report["diff_events"]["by_kind"][kind.value]
    outcomes = report["outcomes"]
    sizes = [g["readings"] for g in outcomes["bands"]]
    assert sum(sizes) == r["complete"]
    assert sum(g["readings"] for g in outcomes["regimes"]) == r["complete"]
    # The naive baselines are cut into exactly the score's band sizes.
    for name in ("baseline_funding", "baseline_oi_24h"):
        assert [g["readings"] for g in outcomes[name]] == sizes
    assert [g["readings"] for g in outcomes["alert_kinds"]] == list(a["by_kind"].values())
    neutral = outcomes["bands"][0]
    assert neutral["key"] == "neutral"
    for h in neutral["horizons"].values():
        assert h["lift_abs_return"] == 1.0
        assert h["n"] <= neutral["readings"]


def test_since_and_until_limit_the_cycles_scored_but_not_the_history(tmp_path: Path) -> None:
    market = read_market(crash_market(tmp_path / "m.csv", symbols=2, days=3))
    since = datetime(2026, 1, 2, tzinfo=UTC)
    until = datetime(2026, 1, 2, 12, tzinfo=UTC)
    run = run_backtest(market, BacktestOptions(since=since, until=until))
    assert run.cycles_scored == 12 * 12 + 1
    assert run.cycles == 3 * 288 + 1
    for series, log in zip(market.series, run.readings, strict=True):
        times = [series.ts[row] for row in log.rows]
        assert min(times) == since.timestamp() and max(times) == until.timestamp()
        # A day of history before --since: the first reading is already complete.
        assert log.partial[0] == 0
