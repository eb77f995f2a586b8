"""Number formatting shared by every renderer (percent with sign, as the seed prints)."""

from __future__ import annotations

from datetime import datetime

MISSING = "—"


def pct(value: float | None, decimals: int) -> str:
    """Signed percent like ``+0.79%``; a dash when missing."""
    if value is None:
        return MISSING
    text = f"{value:+.{decimals}f}%"
    # "-0.00%" reads as a sign error to traders; the seed prints it, we do not.
    return text.replace("-", "+", 1) if float(text[:-1]) == 0 else text


def funding_pct(rate_pct: float | None, interval_h: float | None) -> str:
    """Funding per its own interval, with the interval when it is not the usual 8h."""
    text = pct(rate_pct, 3)
    if rate_pct is not None and interval_h is not None and interval_h != 8:
        text += f"/{interval_h:g}h"
    return text


def utc_text(moment: datetime) -> str:
    """``2025-01-06 12:00 UTC``."""
    return f"{moment:%Y-%m-%d %H:%M} UTC"
