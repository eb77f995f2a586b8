"""``make demo`` (``dps demo --live``): the whole pipeline on the synthetic replay, accelerated.

``bot.bootstrap.build_demo`` wires it; this module only drives it: one replay step per
scheduler tick on a clock that jumps to each step, then a few commands. It imports no
adapter.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TextIO

from bot.bootstrap import build_demo
from bot.config import Settings
from bot.core.records import ChatKind, ChatSettings
from bot.runner import Process
from bot.scheduler import Jobs, Schedule
from bot.web_launch import start_web

DEMO_DIGEST_AT = time(8, 0)
TICK = timedelta(seconds=0.02)
SHOWN = ("/top 10", "/score spk", "/status")


@dataclass
class ReplayClock:
    """The demo's accelerated clock: one replay step per cycle."""

    current: datetime

    def now(self) -> datetime:
        return self.current


async def _idle() -> None:
    return None


async def demo(settings: Settings, *, interactive: bool, out: TextIO | None = None) -> int:
    """Replay the bundled market through the pipeline, show a few commands, then (if
    ``interactive``) answer commands typed at the console until Ctrl-D."""
    clock = ReplayClock(datetime.min.replace(tzinfo=UTC))
    wired = build_demo(settings, clock=clock, out=out)
    app, steps = wired.app, wired.steps
    start, end = steps[0], steps[-1]
    clock.current = start
    chats = app.collector.storage.chats
    chat = chats.ensure_chat(app.console.chat, kind=ChatKind.PRIVATE, now=start)
    chats.save_settings(chat.ref, ChatSettings(digest_enabled=True, digest_time=DEMO_DIGEST_AT))
    say = app.console.print
    say(f"Derivatives Pressure Score — demo on the {app.collector.label}.")
    say("This market is SYNTHETIC: generated from the seed dashboard, not real trading data.")
    say(f"Replaying {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC, one 5-minute cycle per tick.\n")
    await app.collector.cycle.backfill(start)
    web = None
    try:
        web = await start_web(app)  # only with WEB_PORT (make demo sets it)
    except OSError as exc:
        say(f"The dashboard is not served: {exc}.\n")
    if web is not None:
        say(f"Dashboard (synthetic market, while the demo runs): {web.address}\n")

    process = Process(app)
    done = asyncio.Event()
    it = iter(steps)

    async def tick() -> None:  # one replay step: cycle, digest, delivery, on the replay clock
        moment = next(it, None)
        if moment is None:
            done.set()
            return
        clock.current = moment
        await process.cycle()
        await app.digest.tick(moment)
        await process.deliver()

    schedule = Schedule(Jobs(tick, _idle, _idle, _idle, cycle_every=TICK))
    schedule.start()
    await done.wait()
    await schedule.stop()
    say(f"\nReplay finished: {app.last_cycle.line or ''}\n")
    for line in SHOWN:
        say(f"> {line}")
        say(await app.console.handle_line(line) or "")
    if interactive:
        say("\nType commands (/help, /score btc, /top 5 short, /chart spk); Ctrl-D to quit.")
        await app.console.run()
    if web is not None:
        await web.stop()
    await app.close()
    return 0
