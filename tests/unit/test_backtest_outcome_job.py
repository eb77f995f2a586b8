"""The market's outcomes from the helper process are the ones computed in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.backtest import outcome_job
from bot.backtest.market_file import read_market
from bot.backtest.outcome_job import OutcomeJob, market_outcomes
from tests.backtest_markets import crash_market


def _plain(
    outcomes: outcome_job.MarketOutcomes,
) -> list[list[tuple[str, list[float], list[float], list[int]]]]:
    # NaN != NaN: compare the text of the numbers.
    return [
        [
            (h.horizon.label, list(map(repr, h.abs_return_pct)), list(map(repr, h.rel_vol)), list(h.oi_drop))
            for h in series
        ]
        for series in outcomes
    ]


@pytest.mark.parametrize("cpus", [2, 1])
def test_the_helper_and_the_fallback_agree_with_the_outcomes_computed_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpus: int
) -> None:
    market = read_market(crash_market(tmp_path / "m.csv", symbols=3, days=2))
    monkeypatch.setattr(outcome_job.os, "cpu_count", lambda: cpus)
    job = OutcomeJob(market)
    assert (job._future is not None) == (cpus > 1)
    assert _plain(job.result()) == _plain(market_outcomes(market))
