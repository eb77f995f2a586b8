"""Funding normalisation: every rate compared on an 8-hour footing.

Symbols settle every 1h, 4h or 8h; a rate is only comparable after scaling it to 8h.
"""

from __future__ import annotations

import math


def to_8h_equivalent(rate_pct: float, interval_h: float) -> float:
    """Scale a per-interval funding rate to its 8-hour equivalent.

    Args:
        rate_pct: funding per settlement interval, in %.
        interval_h: settlement interval in hours (> 0).

    Returns:
        The rate that would be paid over 8 hours at this pace, in %.
    """
    return rate_pct * 8.0 / interval_h


def annualise_8h(rate_8h_pct: float, periods_per_year: float) -> float:
    """Simple (non-compounded) annualised funding, in %, as traders quote it."""
    return rate_8h_pct * periods_per_year


def excess_over_baseline(rate_8h_pct: float, baseline_8h_pct: float, deadband_pct: float) -> float:
    """Funding beyond the baseline, with a dead band that absorbs noise.

    Args:
        rate_8h_pct: funding per 8h, in %.
        baseline_8h_pct: the exchange's neutral funding per 8h, in %.
        deadband_pct: |excess| up to this counts as zero, in %.

    Returns:
        Signed excess in %, shrunk toward zero by the dead band.
    """
    excess = rate_8h_pct - baseline_8h_pct
    return math.copysign(max(abs(excess) - deadband_pct, 0.0), excess)


# Real settlement intervals run from 1h to 8h; anything outside this window is junk data.
MIN_INTERVAL_H = 0.25
MAX_INTERVAL_H = 168.0


def valid_interval(interval_h: float | None) -> float | None:
    """Return the interval if it is a plausible finite number of hours, else None."""
    if interval_h is None or not math.isfinite(interval_h):
        return None
    if not MIN_INTERVAL_H <= interval_h <= MAX_INTERVAL_H:
        return None
    return float(interval_h)
