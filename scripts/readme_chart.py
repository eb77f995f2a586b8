"""Draw the README's ``/chart`` picture from the bundled demo market.

Replays the synthetic market through the real pipeline up to SUI's stressed crossing,
then asks ``/chart sui 24h`` through the command layer and keeps the PNG it returns.
Usage: ``.venv/bin/python scripts/readme_chart.py [OUT.png]``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bot.collector.replay_source import ReplaySource
from bot.config import load_settings
from bot.runner import ReplayClock, build_app

UNTIL = datetime(2026, 11, 17, 21, 0, tzinfo=UTC)


async def draw(tmp: str) -> None:
    """Replay into a database under ``tmp`` and write the chart under ``tmp/charts``."""
    settings = load_settings(database_url=f"sqlite:///{Path(tmp) / 'chart.sqlite3'}")
    clock = ReplayClock(UNTIL)
    app = build_app(settings, replay=True, clock=clock, chart_dir=Path(tmp) / "charts")
    source = app.collector.source
    if not isinstance(source, ReplaySource):
        raise TypeError("needs the replay source")
    steps = [t for t in source.market.times() if t <= UNTIL]
    start = source.market.first_time_with_history(24)
    if start is None:
        raise RuntimeError("the demo market holds less than a day")
    await app.collector.cycle.backfill(start)
    for moment in (t for t in steps if t >= start):
        clock.current = moment
        await app.collector.cycle.run(moment)
    print(await app.console.handle_line("/chart sui 24h"))
    await app.close()


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(draw(tmp))
        png = next(Path(tmp, "charts").glob("*.png"))
        out.write_bytes(png.read_bytes())


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img/chart-reply.png"))
