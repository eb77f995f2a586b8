"""The market's outcomes from the helper process are the ones computed in place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.backtest import outcome_job
from bot.backtest.market_file import read_market
from bot.backtest.outcome_job import OutcomeJob, market_outcomes
from bot.core.outcomes import DEFAULT_OUTCOME_PARAMS, HorizonOutcomes, OutcomeParams, PricePath
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
    assert job.helped == (cpus > 1)
    assert _plain(job.result()) == _plain(market_outcomes(market))


def test_a_helper_that_dies_midway_costs_time_not_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    market = read_market(crash_market(tmp_path / "m.csv", symbols=3, days=2))
    here = os.getpid()
    real = outcome_job.forward_outcomes
    helper_calls: list[PricePath] = []

    def dies_in_the_helper(
        path: PricePath, params: OutcomeParams = DEFAULT_OUTCOME_PARAMS
    ) -> tuple[HorizonOutcomes, ...]:
        if os.getpid() != here:  # only the helper counts: it sends one series, then dies
            helper_calls.append(path)
            if len(helper_calls) == 2:
                raise RuntimeError("helper lost")
        return real(path, params)

    monkeypatch.setattr(outcome_job.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(outcome_job, "forward_outcomes", dies_in_the_helper)
    expected = _plain(market_outcomes(market))
    job = OutcomeJob(market)
    assert job.helped
    assert _plain(job.result()) == expected
    assert "1 of 3 series" in caplog.text
