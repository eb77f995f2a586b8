"""The chart worker: charts drawn in a child process that imports only the drawing code.

Real child processes throughout; the failure cases start a child that misbehaves on purpose
(never answers, dies mid-request, never starts).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.app.digest import DigestPicture
from bot.app.views import ChartView
from bot.core.models import Bias, Regime
from bot.errors import ChartError
from bot.render.chart_worker import ChartWorker
from tests.fakes.contract import record, result
from tests.fakes.scored_market import FLOORS, LATEST, STEP
from tests.fakes.scored_market import record as scored
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DAY = datetime(2026, 11, 20, 7, 55, tzinfo=UTC)
BOT_ONLY = ("ccxt", "telegram", "discord", "sqlalchemy", "alembic", "apscheduler", "aiohttp", "bot.storage")


def picture(shift: int = 0) -> DigestPicture:
    top = (
        record("SPKUSDT", DAY, result(70 + shift, Bias.SHORT, Regime.SHORT_CROWDED)),
        record("BTCUSDT", DAY, result(10, Bias.NEUTRAL, Regime.BALANCED)),
    )
    return DigestPicture(date(2026, 11, 20), "synthetic demo market (replay)", top)


def view() -> ChartView:
    records = tuple(scored("SPKUSDT", LATEST - STEP * k) for k in range(12, -1, -1))
    return ChartView(symbol="SPKUSDT", window="24h", records=records, band_floors=FLOORS)


def python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_the_child_draws_both_charts_and_imports_only_the_drawing_code(tmp_path: Path) -> None:
    modules = tmp_path / "modules.json"
    # The real child's loop; at EOF it lists what it had imported.
    code = (
        "import json, sys\n"
        "from bot.render.chart_child import main\n"
        "main()\n"
        f"json.dump(sorted(sys.modules), open({str(modules)!r}, 'w'))\n"
    )
    worker = ChartWorker(command=python(code))
    try:
        assert (await worker.chart(view())).startswith(PNG_MAGIC)
        assert (await worker.digest(picture())).startswith(PNG_MAGIC)
    finally:
        await worker.close()
    loaded = json.loads(modules.read_text())
    assert "matplotlib" in loaded
    assert [m for m in loaded if m.split(".")[0] in BOT_ONLY or m.startswith(BOT_ONLY)] == []
    assert worker.stats.starts == 1
    assert worker.stats.start_seconds is not None and worker.stats.import_seconds is not None
    assert worker.stats.peak_rss_kib > 0


async def test_one_worker_serves_many_charts_and_draws_equal_ones_once() -> None:
    worker = ChartWorker()
    try:
        first = await worker.digest(picture())
        pid = worker.pid
        for _ in range(5):  # five more chats with the same digest
            assert await worker.digest(picture()) == first
        other = await worker.digest(picture(shift=5))
        assert other != first
        assert worker.pid == pid
    finally:
        await worker.close()
    assert (worker.stats.starts, worker.stats.drawn, worker.stats.cache_hits) == (1, 2, 5)
    assert pid is not None and not alive(pid)


async def test_an_idle_worker_exits_and_the_next_chart_starts_a_fresh_one() -> None:
    worker = ChartWorker(idle_s=0.2)
    try:
        await worker.digest(picture())
        pid = worker.pid
        assert pid is not None
        await wait_for(lambda: worker.pid is None, "the idle worker to exit")
        assert not alive(pid)
        assert (await worker.digest(picture(shift=1))).startswith(PNG_MAGIC)
        assert worker.pid not in (None, pid)
    finally:
        await worker.close()
    assert worker.stats.starts == 2


async def test_a_worker_killed_while_idle_is_replaced_for_the_next_chart() -> None:
    worker = ChartWorker()
    try:
        await worker.digest(picture())
        pid = worker.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert (await worker.digest(picture(shift=2))).startswith(PNG_MAGIC)
        assert worker.pid not in (None, pid)
    finally:
        await worker.close()
    assert worker.stats.starts == 2


READY_THEN = (
    "import sys\n"
    "from bot.render.chart_child import READY, reply_frame\n"
    "sys.stdout.buffer.write(reply_frame(READY, b'0.1')); sys.stdout.buffer.flush()\n"
    "sys.stdin.buffer.read(4)\n"
)


async def test_a_hung_chart_times_out_and_the_child_is_killed() -> None:
    worker = ChartWorker(
        command=python(READY_THEN + "import threading; threading.Event().wait()\n"), draw_timeout_s=0.5
    )
    try:
        with pytest.raises(ChartError, match=r"took over 0\.5 s"):
            await worker.digest(picture())
        assert worker.pid is None
        with pytest.raises(ChartError, match="failed a moment ago"):  # the same chart fails fast
            await worker.digest(picture())
    finally:
        await worker.close()
    assert worker.stats.failures == 1


async def test_a_child_crashing_mid_chart_is_a_chart_error() -> None:
    worker = ChartWorker(command=python(READY_THEN + "sys.exit(3)\n"))
    try:
        with pytest.raises(ChartError, match="stopped unexpectedly"):
            await worker.chart(view())
        assert worker.pid is None
    finally:
        await worker.close()


@pytest.mark.parametrize(
    "command",
    [python("import sys; sys.exit(1)"), ("/nonexistent/python",), python("print('hello')")],
    ids=["exits", "missing", "talks-nonsense"],
)
async def test_a_worker_that_cannot_start_is_a_chart_error(command: tuple[str, ...]) -> None:
    worker = ChartWorker(command=command, start_timeout_s=30)
    try:
        with pytest.raises(ChartError, match=r"(could|did) not start"):
            await worker.chart(view())
    finally:
        await worker.close()


async def test_a_drawing_error_is_reported_and_the_worker_lives_on() -> None:
    worker = ChartWorker()
    empty = ChartView(symbol="SPKUSDT", window="24h", records=(), band_floors=FLOORS)
    try:
        with pytest.raises(ChartError, match="could not be drawn"):
            await worker.chart(empty)
        pid = worker.pid
        assert (await worker.chart(view())).startswith(PNG_MAGIC)
        assert worker.pid == pid
    finally:
        await worker.close()
