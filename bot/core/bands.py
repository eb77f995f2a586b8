"""Score → band, with the seed's legend text."""

from __future__ import annotations

from bot.core.models import Band

BAND_LEGEND: dict[Band, str] = {
    Band.NEUTRAL: "derivatives look balanced, no particular stress",
    Band.LEAN: "one side is building positions, unlikely to squeeze",
    Band.STRETCHED: "meaningful imbalance, watch for volatility",
    Band.STRESSED: "crowded positioning, squeeze or unwind risk",
}


def band_for(score: int, floors: tuple[int, int, int]) -> Band:
    """Return the band a 0–100 score falls in.

    Args:
        score: the integer score.
        floors: the first score of lean, stretched and stressed (default 15, 35, 60).
    """
    lean, stretched, stressed = floors
    if score >= stressed:
        return Band.STRESSED
    if score >= stretched:
        return Band.STRETCHED
    if score >= lean:
        return Band.LEAN
    return Band.NEUTRAL


def band_floor(band: Band, floors: tuple[int, int, int]) -> int:
    """The lowest score inside ``band``."""
    if band is Band.NEUTRAL:
        return 0
    return floors[band.rank - 1]


def band_range(band: Band, floors: tuple[int, int, int]) -> tuple[int, int]:
    """Inclusive (low, high) scores of ``band``."""
    low = band_floor(band, floors)
    high = 100 if band is Band.STRESSED else floors[band.rank] - 1
    return low, high


def legend_lines(floors: tuple[int, int, int]) -> list[str]:
    """The "How to read it" lines, one per band, lowest first."""
    lines = []
    for band in Band:
        low, high = band_range(band, floors)
        lines.append(f"{low}-{high} {band.value}: {BAND_LEGEND[band]}")
    return lines
