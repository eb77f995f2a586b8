"""``/chart`` (and the digest's chart): a PNG of one symbol's score and its components.

Drawn with matplotlib's object API on an explicit Agg canvas, never ``pyplot``: no global
figure registry to leak, no GUI backend. The bot process never imports this module (it
would carry matplotlib's ~50 MB and hold the event loop for tens of milliseconds per
chart): ``bot.render.chart_child`` runs it in the chart worker process.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from bot.app.digest import DigestPicture
from bot.app.views import ChartView
from bot.core.models import Band
from bot.core.params import DEFAULT_PARAMS

BAND_COLOURS = {
    Band.NEUTRAL: "#eef6ee",
    Band.LEAN: "#fbf8e3",
    Band.STRETCHED: "#fdeede",
    Band.STRESSED: "#fbe2e2",
}
SIZE_IN = (8.0, 5.2)
DPI = 100


def render_chart(view: ChartView) -> bytes:
    """The chart as PNG bytes: score over the bands on top, signed components below.

    Components are the score's own building blocks in [-1, 1]: funding and basis
    (positive leans long, negative short), OI build (up) and OI unwind (drawn down).
    """
    times = [r.ts for r in view.records]
    results = [r.result for r in view.records]
    comps = [res.components for res in results]
    marker = "o" if len(times) < 3 else None  # a lone point needs a marker to be seen

    fig = Figure(figsize=SIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))

    edges = (0, *view.band_floors, 100)
    for band, low, high in zip(Band, edges[:-1], edges[1:], strict=True):
        top.axhspan(low, high, color=BAND_COLOURS[band], lw=0)
        top.text(
            1.005,
            (low + high) / 2,
            band.value,
            transform=top.get_yaxis_transform(),
            va="center",
            fontsize=7,
            color="#666666",
            parse_math=False,
        )
    top.plot(times, [res.score for res in results], color="#1f3b73", lw=1.6, marker=marker, label="score")
    top.set_ylim(-2, 102)  # a score pinned at 0 or 100 stays visible
    top.set_ylabel("score")

    bottom.axhline(0, color="#999999", lw=0.8)
    series = (
        ("funding", [c.funding for c in comps], "#c0392b"),
        ("basis", [c.basis for c in comps], "#8e44ad"),
        ("OI build", [c.oi_build for c in comps], "#27ae60"),
        ("OI unwind", [-c.oi_unwind for c in comps], "#7f8c8d"),
    )
    for label, values, colour in series:
        bottom.plot(times, values, color=colour, lw=1.1, marker=marker, label=label)
    bottom.set_ylim(-1.05, 1.05)
    bottom.set_ylabel("components")
    bottom.legend(loc="upper left", fontsize=7, ncols=4, frameon=False)

    # matplotlib leaves these two constructors unannotated.
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    bottom.set_xlabel("UTC")

    last = results[-1]
    title = f"{view.symbol} · Derivatives Pressure Score · last {view.window}"
    title += f" · now {last.score} {last.bias.value}"
    if view.source_label:  # the image may be shared on its own: it names its source too
        title += f"\n{view.source_label}"
    fig.suptitle(title, fontsize=10, parse_math=False)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def digest_chart(digest: DigestPicture) -> bytes:
    """The digest's picture: the top names' scores as bars over the bands, coloured by bias."""
    records = list(reversed(digest.top))  # highest at the top of a horizontal bar chart
    fig = Figure(figsize=(8.0, 0.6 + 0.38 * max(len(records), 1)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    floors = (0, *DEFAULT_PARAMS.band_floors, 100)
    for band, low, high in zip(Band, floors[:-1], floors[1:], strict=True):
        ax.axvspan(low, high, color=BAND_COLOURS[band], lw=0)
    colours = {"LONG": "#2e7d32", "SHORT": "#c62828", "NEUTRAL": "#78909c"}
    names = [r.symbol for r in records]
    scores = [r.result.score for r in records]
    ax.barh(range(len(records)), scores, color=[colours[r.result.bias.value] for r in records])
    ax.set_yticks(range(len(records)), names, fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("Derivatives Pressure Score (green LONG, red SHORT, grey NEUTRAL)")
    title = f"Top stress · {digest.local_date:%d %b %Y}"
    if digest.source_label:
        title += f" · {digest.source_label}"
    ax.set_title(title, fontsize=10, loc="left")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
