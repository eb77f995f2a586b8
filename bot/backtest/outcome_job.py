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
import threading
from array import array
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

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


def _helper(conn: Connection, params: OutcomeParams) -> None:
    """In the forked helper: each series' outcomes, sent as soon as they are known."""
    try:
        if _market is None:  # pragma: no cover - only a helper started without the fork
            raise RuntimeError("outcome helper started without the market")
        for series in _market.series:
            conn.send(forward_outcomes(price_path(series), params))
    except Exception:  # no traceback on the user's terminal: the replay's side reports it
        return
    finally:
        conn.close()


class OutcomeJob:
    """Start the computation for ``market`` now; ``result()`` waits for it (or computes it here).

    The helper sends one series at a time and a thread here takes them in as they come,
    so neither process holds a second copy of the answer and the helper is gone long
    before the replay ends.
    """

    def __init__(self, market: MarketFile, params: OutcomeParams = DEFAULT_OUTCOME_PARAMS) -> None:
        global _market
        self._market, self._params = market, params
        self._received: MarketOutcomes = []
        self._process: BaseProcess | None = None
        self._reader: threading.Thread | None = None
        if (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods():
            return
        context = multiprocessing.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)
        _market = market  # the forked helper inherits the reference; nothing is copied
        try:
            process = context.Process(target=_helper, args=(sender, params), daemon=True)
            process.start()
        except OSError as exc:
            logger.warning("no outcome helper process (%s); computing after the replay", exc)
            receiver.close()
            return
        finally:
            _market = None
            sender.close()
        self._process = process
        self._reader = threading.Thread(target=self._receive, args=(receiver,), daemon=True)
        self._reader.start()

    def _receive(self, conn: Connection) -> None:
        try:
            while True:
                self._received.append(conn.recv())
        except (EOFError, OSError):
            pass  # the helper is done (or gone): result() checks what arrived
        finally:
            conn.close()

    @property
    def helped(self) -> bool:
        """Whether a helper process is working on it."""
        return self._process is not None

    def result(self) -> MarketOutcomes:
        """The outcomes; computed in this process when the helper could not give them all."""
        if self._process is not None and self._reader is not None:
            self._reader.join()
            self._process.join()
            if len(self._received) == len(self._market.series) and self._process.exitcode == 0:
                return self._received
            logger.warning(
                "the outcome helper process failed (exit %s, %d of %d series); computing here",
                self._process.exitcode,
                len(self._received),
                len(self._market.series),
            )
        return market_outcomes(self._market, self._params)
