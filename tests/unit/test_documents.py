"""Replies, alerts and digests as message documents: the structure every platform draws.

The wording of each reply is pinned down by the command tests (through ``render_text``,
which draws these documents); here: which blocks carry it, the tone and the source label.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.app.commands import CommandLayer
from bot.app.digest import build_digest
from bot.app.fanout import AlertBatch
from bot.app.views import ChartReply, ErrorKind, ErrorReply, SettingsReply
from bot.core.document import (
    BulletList,
    ChartRef,
    ColumnKind,
    Document,
    Footnote,
    Heading,
    KeyValues,
    Paragraph,
    Table,
    Tone,
)
from bot.core.events import EventKind
from bot.core.models import Band, Bias, Regime
from bot.core.records import Chat, ChatKey, ChatKind, ChatSettings, Platform
from bot.render.documents import (
    DIGEST_CHART,
    PARTIAL_NOTE,
    TOP_COLUMNS,
    alert_document,
    digest_document,
    reply_document,
)
from bot.render.plain_text import document_text
from tests.fakes.contract import record, result
from tests.fakes.scored_market import SOURCE, ask, make_layer, populate
from tests.fakes.storage import FakeStorage
from tests.unit.test_fanout import COOLED, UP_LEAN, UP_STRESSED

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CHAT = Chat(1, ChatKey(Platform.TELEGRAM, "1001"), ChatKind.GROUP, "UTC", True, NOW)


@pytest.fixture
def layer() -> CommandLayer:
    return make_layer(populate(FakeStorage()))


def _only(doc: Document, kind: type) -> list:  # type: ignore[type-arg]
    return [b for b in doc.blocks if isinstance(b, kind)]


# --- command replies ----------------------------------------------------------------------


async def test_top_is_a_typed_table_under_the_summary(layer: CommandLayer) -> None:
    doc = reply_document(await ask(layer, "/top"))
    assert doc.title == "Derivatives Pressure Score · Top 10"
    assert doc.source_label == SOURCE
    assert isinstance(doc.blocks[0], Paragraph) and doc.blocks[0].text.startswith("Avg stress")
    (table,) = _only(doc, Table)
    assert table.columns == TOP_COLUMNS
    assert [c.kind for c in table.columns if c.name in ("Score", "OI 24h")] == [
        ColumnKind.NUMBER,
        ColumnKind.PERCENT,
    ]
    assert [row[0] for row in table.rows] == [str(k) for k in range(1, len(table.rows) + 1)]
    assert any(row[2].endswith("*") for row in table.rows)  # MOG is partial...
    notes = [f.text for f in _only(doc, Footnote)]
    assert PARTIAL_NOTE in notes  # ...and the note says what the mark means
    assert any(n.startswith("Data as of") for n in notes)
    assert doc.tone is not Tone.INFO  # coloured by the top name's band


async def test_a_score_card_is_labelled_values(layer: CommandLayer) -> None:
    doc = reply_document(await ask(layer, "/score", "BTCUSDT"))
    assert doc.title.startswith("BTCUSDT · score ")
    (values,) = _only(doc, KeyValues)
    assert [key for key, _ in values.items] == [
        "Change",
        "OI change",
        "Funding",
        "Basis (mark/index)",
        "Data",
    ]
    assert doc.source_label == SOURCE


async def test_help_is_headed_lists(layer: CommandLayer) -> None:
    doc = reply_document(await ask(layer, "/help"))
    headings = _only(doc, Heading)
    assert headings
    assert all(isinstance(doc.blocks[doc.blocks.index(h) + 1], BulletList) for h in headings)


async def test_status_and_settings_are_labelled_values(layer: CommandLayer) -> None:
    status = reply_document(await ask(layer, "/status"))
    assert status.title == "Status"
    assert [k for k, _ in _only(status, KeyValues)[0].items][:3] == [
        "Exchange",
        "Symbols tracked",
        "Last collection",
    ]
    settings = reply_document(SettingsReply(ChatSettings(), "Europe/Berlin", 3, "Alerts are off."))
    assert settings.title == "Settings for this chat"
    assert settings.blocks[0] == Paragraph("Saved. Alerts are off.")
    assert [k for k, _ in _only(settings, KeyValues)[0].items] == [
        "Alerts",
        "Kinds",
        "Symbols",
        "Quiet hours",
        "Digest",
        "Timezone",
    ]


async def test_track_is_a_band_table_with_notes(layer: CommandLayer) -> None:
    doc = reply_document(await ask(layer, "/track"))
    assert doc.title.startswith("Track record · ")
    (table,) = _only(doc, Table)
    assert [c.name for c in table.columns] == ["Band", "Readings", "Known", "24h move", "vs neutral"]
    assert [row[0] for row in table.rows] == [band.value for band in Band]
    assert len(_only(doc, Footnote)) == 2


def test_a_chart_reply_names_its_chart() -> None:
    reply = ChartReply(b"\x89PNG", "BTCUSDT score, 7 days", "btc.png", source_label=SOURCE)
    doc = reply_document(reply)
    assert doc.chart == ChartRef("btc.png", "BTCUSDT score, 7 days")
    assert doc.title == "BTCUSDT score, 7 days"


def test_an_error_is_untitled_and_red_with_its_suggestions() -> None:
    doc = reply_document(
        ErrorReply(ErrorKind.UNKNOWN_SYMBOL, "Unknown.", suggestions=("BTCUSDT", "BTCDOMUSDT"))
    )
    assert doc == Document(
        "", (Paragraph("Unknown."), Paragraph("Did you mean: BTCUSDT, BTCDOMUSDT?")), tone=Tone.ERROR
    )


# --- alerts -------------------------------------------------------------------------------


def test_an_alert_batch_is_one_section_per_event() -> None:
    batch = AlertBatch(CHAT, (UP_STRESSED, COOLED), 0, "k")
    doc = alert_document(batch, "synthetic demo market (replay)", {UP_STRESSED.event_id: "evidence line"})
    assert doc.title == "Derivatives Pressure alerts"
    assert doc.source_label == "synthetic demo market (replay)"
    assert doc.tone is Tone.STRESSED  # the most stressed event's colour
    assert [h.text for h in _only(doc, Heading)] == [
        "SPKUSDT stretched → stressed · score 72 (was 20) · LONG",
        "ETHUSDT cooled stretched → lean · score 28 (was 20) · LONG",
    ]
    first = doc.blocks[1 : doc.blocks.index(_only(doc, Heading)[1])]
    assert [p.text for p in first] == [
        "Long crowded · high funding + premium + rising OI",
        "funding/8h +0.020% → +0.090% · OI 24h +8.0% → +21.3%",  # biggest move first
        "evidence line",
        "data 2026-11-20 12:00 UTC",
    ]
    assert all(isinstance(p, Paragraph) and p.indent for p in first)
    assert not _only(doc, Footnote)


def test_a_capped_batch_ends_with_the_suppressed_count() -> None:
    doc = alert_document(AlertBatch(CHAT, (UP_LEAN,), 6, "k"))
    assert doc.source_label is None
    assert doc.tone is Tone.LEAN
    (note,) = _only(doc, Footnote)
    assert note.text.startswith("6 more suppressed: daily alert cap reached.")
    text = document_text(doc)
    assert "\n\n6 more suppressed" in text  # apart from the last alert's lines
    assert EventKind.BAND_UP.value not in text  # the headline says it in words


# --- the daily digest ---------------------------------------------------------------------


def _digest(chart: bool) -> Document:
    ts = NOW - timedelta(minutes=5)
    latest = [
        record("SPKUSDT", ts, result(78, Bias.SHORT, Regime.SHORT_CROWDED)),
        record("ARBUSDT", ts, result(42, Bias.SHORT, Regime.SHORT_SQUEEZE_RISK)),
    ]
    day_ago = {"SPKUSDT": record("SPKUSDT", ts - timedelta(hours=24), result(70, Bias.SHORT))}
    digest = build_digest(CHAT, date(2026, 11, 20), latest, day_ago, "synthetic demo market (replay)")
    return digest_document(digest, chart=chart)


def test_the_digest_is_headed_tables() -> None:
    doc = _digest(chart=False)
    assert doc.title == "Daily Derivatives Pressure digest · Fri 20 Nov 2026"
    assert doc.source_label == "synthetic demo market (replay)"
    assert isinstance(doc.blocks[0], Paragraph) and doc.blocks[0].text.startswith("Avg stress 60")
    sections = {h.text: doc.blocks[doc.blocks.index(h) + 1] for h in _only(doc, Heading)}
    assert list(sections) == [
        "Top stress",
        "Biggest risers (24h)",
        "Biggest fallers (24h)",
        "Squeeze risk now",
    ]
    assert sections["Top stress"].rows[0][:3] == ("SPKUSDT", "78", "SHORT")  # type: ignore[union-attr]
    assert sections["Biggest risers (24h)"].rows == (("SPKUSDT", "78", "+8", "SHORT"),)  # type: ignore[union-attr]
    assert sections["Biggest fallers (24h)"] == Paragraph("none")
    assert [r[0] for r in sections["Squeeze risk now"].rows] == ["ARBUSDT"]  # type: ignore[union-attr]
    assert _only(doc, Footnote) == [Footnote("data 2026-11-20 11:55 UTC")]
    assert doc.chart is None


def test_the_digest_names_its_chart_only_when_one_goes_with_it() -> None:
    assert _digest(chart=True).chart == ChartRef(DIGEST_CHART, _digest(chart=True).chart.caption)  # type: ignore[union-attr]
    assert _digest(chart=False).chart is None
