"""The bot process never imports matplotlib: its charts come from the chart worker process.

A fresh interpreter builds the app the way ``dps demo`` does (``build_demo``: the same
``build_app`` wiring as ``dps run``), replays until the digest goes out with its chart,
answers ``/chart`` through the console, and reports what it had imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

SCRIPT = """
import asyncio, io, json, sys
from datetime import UTC, datetime

from bot.bootstrap import build_demo
from bot.config import load_settings
from bot.core.records import ChatKind, ChatSettings
from bot.demo import DEMO_DIGEST_AT, ReplayClock
from bot.runner import Process


async def main() -> None:
    settings = load_settings(database_url="sqlite:///bot.sqlite3", symbols=[])
    clock = ReplayClock(datetime.min.replace(tzinfo=UTC))
    out = io.StringIO()
    demo = build_demo(settings, clock=clock, out=out)
    app = demo.app
    clock.current = demo.steps[0]
    chats = app.collector.storage.chats
    chat = chats.ensure_chat(app.console.chat, kind=ChatKind.PRIVATE, now=clock.current)
    chats.save_settings(chat.ref, ChatSettings(digest_enabled=True, digest_time=DEMO_DIGEST_AT))
    # As the demo ticks: every venue (each backfills on its first cycle), then the aggregate
    # the chat's digest follows by default.
    process = Process(app, backfill=True)
    digests = 0
    for moment in demo.steps:
        clock.current = moment
        for collector in app.collectors:
            await process.venue_cycle(collector)
        await process.aggregate_cycle()
        digests += await app.digest.tick(moment)
        await process.deliver()
        if digests:
            break
    answer = await app.console.handle_line("/chart spk")
    worker = app.charts.stats
    await app.close()
    report = {
        "digests": digests,
        "answer": answer,
        "printed": out.getvalue(),
        "matplotlib": sorted(m for m in sys.modules if m.split(".")[0] == "matplotlib"),
        "chart_module": "bot.render.chart" in sys.modules,
        "worker_starts": worker.starts,
        "worker_pid_after_close": app.charts.pid,
    }
    print(json.dumps(report))


asyncio.run(main())
"""


@pytest.mark.slow
def test_digest_and_chart_arrive_as_pngs_while_the_bot_never_imports_matplotlib(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["digests"] >= 1
    assert report["matplotlib"] == []
    assert report["chart_module"] is False
    assert report["worker_starts"] == 1  # the digest's and /chart's charts: one worker
    assert report["worker_pid_after_close"] is None

    charts = tmp_path / "data" / "charts"
    digest_png = charts / "message-1.png"  # the console sink's attachment of the digest
    assert "Daily Derivatives Pressure digest" in report["printed"]
    assert f"Chart written to {Path('data/charts/message-1.png')}" in report["printed"]
    assert digest_png.read_bytes().startswith(PNG_MAGIC)
    # /chart draws the aggregate of the demo's three venues by default.
    chart_png = charts / "dps-all-SPK-24h.png"
    assert str(Path("data/charts/dps-all-SPK-24h.png")) in report["answer"]
    assert chart_png.read_bytes().startswith(PNG_MAGIC)
    assert chart_png.stat().st_size > 2000
