"""The /chart PNG: valid, non-empty, whatever the history looks like."""

from __future__ import annotations

import struct
from datetime import timedelta

import pytest

from bot.app.views import ChartView
from bot.core.models import ScoreInputs
from bot.core.records import ScoreRecord
from bot.core.scoring import score
from bot.render.chart import DPI, SIZE_IN, render_chart
from tests.fakes.scored_market import FLOORS, LATEST, STEP, record

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def view(records: list[ScoreRecord], label: str | None = "synthetic demo market (replay)") -> ChartView:
    return ChartView(
        symbol=records[0].symbol, window="24h", records=tuple(records), band_floors=FLOORS, source_label=label
    )


def history(symbol: str, hours: int) -> list[ScoreRecord]:
    steps = int(timedelta(hours=hours) / STEP)
    return [record(symbol, LATEST - STEP * k) for k in range(steps, -1, -1)]


@pytest.mark.parametrize("symbol", ["SPKUSDT", "BTCUSDT", "1000000MOGUSDT"])
def test_a_day_of_history_makes_a_png(symbol: str) -> None:
    png = render_chart(view(history(symbol, 24)))
    assert png.startswith(PNG_MAGIC)
    assert len(png) > 5_000
    assert png_size(png) == (round(SIZE_IN[0] * DPI), round(SIZE_IN[1] * DPI))


def test_a_single_point_and_no_label_still_make_a_png() -> None:
    png = render_chart(view([record("ARBUSDT", LATEST)], label=None))
    assert png.startswith(PNG_MAGIC)
    assert len(png) > 1_000


def test_extremes_and_missing_inputs_are_drawn() -> None:
    empty = ScoreInputs(None, None, None, None, None, None)
    wild = ScoreInputs(500.0, 500.0, 500.0, 3.0, 1.0, 10.0)
    records = [
        ScoreRecord("x", "ODD$USDT", LATEST - timedelta(hours=1), empty, score(empty)),
        ScoreRecord("x", "ODD$USDT", LATEST, wild, score(wild)),
    ]
    png = render_chart(view(records, label="50$ of $x_1$ math"))  # no mathtext surprises
    assert png.startswith(PNG_MAGIC)
