"""Durations in words, for chat lines and reports (shared by the read side and the renderers)."""

from __future__ import annotations

from datetime import timedelta


def age_text(age: timedelta) -> str:
    """A short human duration: ``45s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    seconds = max(int(age.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
