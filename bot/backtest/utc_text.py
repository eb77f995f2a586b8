"""The one way the backtest package writes a time: ISO 8601 UTC, to the second, with a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime

UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""``strftime`` pattern for an aware UTC datetime, e.g. ``2024-01-01T00:05:00Z``."""


def utc_text(moment: datetime | float) -> str:
    """An aware datetime or epoch seconds → ``2024-01-01T00:05:00Z``."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime(UTC_FORMAT)
