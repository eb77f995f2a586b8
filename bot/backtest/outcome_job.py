"""The market's forward outcomes, computed in a second process while the replay runs.

The outcomes of a row (what the price and OI did after it) depend on the market alone,
not on the scores, so they can be worked out alongside the replay instead of after it. A
forked helper process does it (it shares the parsed file with this one, nothing is copied
in); its answer is about 50 bytes a row. Where no second process can be had (one CPU, no
``fork``), or the helper fails, the same function runs here, after the replay.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from array import array
from concurrent.futures import Future, ProcessPoolExecutor

from bot.backtest.market_file import MarketFile, Series
from bot.core.outcomes import (
    DEFAULT_OUTCOME_PARAMS,
    HorizonOutcomes,
    OutcomeParams,
    PricePath,
    forward_outcomes,
)

logger = logging.getLogger(__name__)
NAN = float("nan")
MarketOutcomes = list[tuple[HorizonOutcomes, ...]]
"""Per series of the market (same order): its outcomes, one per horizon."""

_market: MarketFile | None = None  # the file, as the forked helper inherits it


def price_path(series: Series) -> PricePath:
    """A series' path for the outcomes; zero prices or OI are glitches, not values: missing."""
    mark = array("d", (v if v > 0 else NAN for v in series.column("mark_price")))
    oi = array("d", (v if v > 0 else NAN for v in series.column("oi_contracts")))
    return PricePath(series.ts, mark, oi)


def market_outcomes(market: MarketFile, params: OutcomeParams = DEFAULT_OUTCOME_PARAMS) -> MarketOutcomes:
    """Every series' forward outcomes, here and now."""
    return [forward_outcomes(price_path(s), params) for s in market.series]


def _inherited(params: OutcomeParams) -> MarketOutcomes:
    if _market is None:  # pragma: no cover - only a helper started without the fork
        raise RuntimeError("outcome helper started without the market")
    return market_outcomes(_market, params)


class OutcomeJob:
    """Start the computation for ``market`` now; ``result()`` waits for it (or computes it here)."""

    def __init__(self, market: MarketFile, params: OutcomeParams = DEFAULT_OUTCOME_PARAMS) -> None:
        global _market
        self._market, self._params = market, params
        self._future: Future[MarketOutcomes] | None = None
        if (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods():
            return
        _market = market
        try:
            # The worker is forked at submit, so it inherits the module's reference.
            executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
            self._future = executor.submit(_inherited, params)
            executor.shutdown(wait=False)
        except OSError:
            self._future = None
        finally:
            _market = None

    def result(self) -> MarketOutcomes:
        """The outcomes; computed in this process when the helper could not give them."""
        if self._future is not None:
            try:
                return self._future.result()
            except Exception as exc:  # a lost helper costs time, never the report
                logger.warning("the outcome helper process failed (%s); computing here", exc)
        return market_outcomes(self._market, self._params)
