"""The console adapter: lines in, command requests out, replies and alerts printed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.app.commands import CommandRequest
from bot.app.views import ChartReply, Reply, TextReply
from bot.chat.console_adapter import CONSOLE_CHAT, NOT_A_COMMAND, ConsoleAdapter, read_lines
from bot.core.document import Document, Heading, Paragraph
from bot.core.records import ChatKey, ChatKind, Platform
from bot.core.send_outcome import Sent
from bot.render.chart_worker import ChartWorker
from tests.fakes.clock import FakeClock
from tests.fakes.scored_market import FAKE_PNG, LATEST, SOURCE, make_layer, populate
from tests.fakes.storage import FakeStorage
from tests.fakes.track_history import stored_history


class RecordingHandler:
    """A command handler that records requests and answers with a fixed reply."""

    def __init__(self, reply: Reply | None = None) -> None:
        self.requests: list[CommandRequest] = []
        self.reply = reply or TextReply("ok")

    async def handle(self, request: CommandRequest) -> Reply:
        self.requests.append(request)
        return self.reply


def adapter(handler: object, tmp_path: Path, out: io.StringIO | None = None) -> ConsoleAdapter:
    return ConsoleAdapter(
        handler,  # type: ignore[arg-type]
        FakeClock(LATEST),
        chart_dir=tmp_path / "charts",
        out=out if out is not None else io.StringIO(),
    )


async def test_a_line_becomes_a_private_admin_request_from_the_console(tmp_path: Path) -> None:
    handler = RecordingHandler()
    console = adapter(handler, tmp_path)
    assert await console.handle_line("  /top   5 short \n") == "ok"
    (req,) = handler.requests
    assert req.chat == CONSOLE_CHAT
    assert req.chat.platform is Platform.CONSOLE
    assert req.chat_kind is ChatKind.PRIVATE
    assert req.is_chat_admin
    assert req.command == "/top"
    assert req.args == "5 short"
    assert req.now == LATEST


async def test_blank_lines_are_skipped_and_other_text_gets_a_hint(tmp_path: Path) -> None:
    handler = RecordingHandler()
    console = adapter(handler, tmp_path)
    assert await console.handle_line("   \n") is None
    assert await console.handle_line("hello") == NOT_A_COMMAND
    assert handler.requests == []


async def test_run_answers_until_quit_and_prints_every_reply(tmp_path: Path) -> None:
    out = io.StringIO()
    layer = make_layer(populate(FakeStorage()))
    console = ConsoleAdapter(layer, FakeClock(LATEST), chart_dir=tmp_path, out=out)
    script = "/score btc\n\nwhat?\n/top 3 short\n/nope\nquit\n/status\n"
    answered = await console.run(io.StringIO(script))
    printed = out.getvalue()
    assert answered == 4
    assert "BTCUSDT · score" in printed
    assert "Top 3 · SHORT bias" in printed
    assert NOT_A_COMMAND in printed
    assert "Unknown command /nope" in printed
    assert "Status" not in printed  # after quit
    assert SOURCE in printed


async def test_run_stops_at_end_of_input(tmp_path: Path) -> None:
    handler = RecordingHandler()
    assert await adapter(handler, tmp_path).run(io.StringIO("/help\n/help")) == 2


async def test_a_chart_is_written_as_a_png_and_its_path_printed(tmp_path: Path) -> None:
    reply = ChartReply(png=FAKE_PNG, caption="BTC chart", filename="dps-BTCUSDT-24h.png", source_label=SOURCE)
    console = adapter(RecordingHandler(reply), tmp_path)
    printed = await console.handle_line("/chart btc")
    path = tmp_path / "charts" / "dps-BTCUSDT-24h.png"
    assert path.read_bytes() == FAKE_PNG
    assert printed is not None
    assert f"Chart written to {path}" in printed
    assert "BTC chart" in printed
    assert SOURCE in printed


@pytest.mark.parametrize(("filename", "saved"), [("../../etc/evil", "etc_evil.png"), ("", "chart.png")])
async def test_a_chart_file_name_cannot_escape_the_chart_directory(
    tmp_path: Path, filename: str, saved: str
) -> None:
    reply = ChartReply(png=FAKE_PNG, caption="c", filename=filename)
    path = adapter(RecordingHandler(), tmp_path).save_chart(reply)
    assert path == tmp_path / "charts" / saved


@pytest.mark.slow
async def test_a_real_chart_end_to_end(tmp_path: Path) -> None:
    charts = ChartWorker()  # the bot's own wiring: drawn in the chart worker process
    layer = make_layer(populate(FakeStorage()), chart=charts.chart)
    console = ConsoleAdapter(layer, FakeClock(LATEST), chart_dir=tmp_path, out=io.StringIO())
    try:
        printed = await console.handle_line("/chart spk 7d")
    finally:
        await charts.close()
    assert printed is not None
    path = tmp_path / "dps-SPKUSDT-7d.png"
    assert str(path) in printed
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


async def test_track_through_the_console(tmp_path: Path) -> None:
    storage = FakeStorage()
    stored_history(storage, "SUIUSDT", 40)
    stored_history(storage, "ARBUSDT", 45)
    console = adapter(make_layer(storage, source_label=None), tmp_path)
    text = await console.handle_line("/track")
    assert text is not None
    lines = text.splitlines()
    assert lines[0] == "Track record · whole market (binanceusdm)"
    assert "over 5 d 23 h of stored history (2026-11-14 00:00 UTC to 2026-11-19 23:00 UTC)" in lines[1]
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:7]}
    assert rows == {
        "neutral": ["203", "158", "2.0", "%", "1.00×"],
        "lean": ["0", "0", "not", "enough", "history", "yet"],
        "stretched": ["0", "0", "not", "enough", "history", "yet"],
        "stressed": ["85", "80", "6.0", "%", "3.00×"],
    }
    assert "A band needs 30 readings with a known outcome from 3 different days" in text
    unknown = await console.handle_line("/track ../../")
    assert unknown == "I don't know the symbol '../../' on binanceusdm."


async def test_send_prints_an_alert_and_reports_it_sent(tmp_path: Path) -> None:
    out = io.StringIO()
    console = adapter(RecordingHandler(), tmp_path, out)
    alert = Document(
        "Derivatives Pressure alerts",
        (Heading("BTCUSDT lean → stretched"), Paragraph("data 2026-11-20 12:00 UTC", indent=True)),
        source_label="synthetic",
    )
    assert await console.send(CONSOLE_CHAT, alert) == Sent()
    assert await console.send(ChatKey(Platform.CONSOLE, "other"), Document("second")) == Sent()
    printed = out.getvalue()
    assert (
        "alert ──\nDerivatives Pressure alerts\nSource: synthetic\n\nBTCUSDT lean → stretched\n"
        "  data 2026-11-20 12:00 UTC\n"
    ) in printed
    assert "for console:other ──\nsecond\n" in printed


def test_printing_survives_a_terminal_that_cannot_show_every_character(tmp_path: Path) -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    console = ConsoleAdapter(RecordingHandler(), FakeClock(LATEST), chart_dir=tmp_path, out=out)  # type: ignore[arg-type]
    console.print("Avg stress 16 · Long bias 22 → ok")
    assert raw.getvalue() == b"Avg stress 16 ? Long bias 22 ? ok\n"


async def test_read_lines_yields_each_line_then_ends() -> None:
    lines = [line async for line in read_lines(io.StringIO("a\nb\n\nc"))]
    assert lines == ["a\n", "b\n", "\n", "c"]


class BrokenStream(io.StringIO):
    def readline(self, size: int | None = -1) -> str:
        raise ValueError("I/O operation on closed file")


async def test_read_lines_ends_quietly_on_a_broken_stream() -> None:
    assert [line async for line in read_lines(BrokenStream())] == []
