"""``make demo`` (``dps demo --live``): the whole pipeline on the synthetic replay, accelerated.

``bot.bootstrap.build_demo`` wires it; this module only drives it: one replay step per
scheduler tick on a clock that jumps to each step (every venue's cycle, then the
aggregate's), then a few commands and the cross-venue view. Besides the replay it collects
two synthetic venues derived from it (``bot.collector.replay_venues``), so the aggregate
``all`` sums three books. It imports no adapter.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TextIO

from bot.app.aggregate import AggregateSource
from bot.app.aggregate_view import asset_breakdown
from bot.bootstrap import App, build_demo
from bot.config import Settings
from bot.core.aggregate import AGGREGATE_EXCHANGE
from bot.core.aggregate_card import breakdown_lines
from bot.core.records import ChatKind, ChatSettings
from bot.runner import Process
from bot.scheduler import Jobs, Schedule
from bot.web_launch import start_web

DEMO_DIGEST_AT = time(8, 0)
TICK = timedelta(seconds=0.02)
SHOWN = ("/top 10", "/score spk", "/status")
CROSS_VENUE_TOP = 10
CROSS_VENUE_ASSET = "SPK"  # the card shown across venues (the most stressed book; on all three)


@dataclass
class ReplayClock:
    """The demo's accelerated clock: one replay step per cycle."""

    current: datetime

    def now(self) -> datetime:
        return self.current


async def _idle() -> None:
    return None


def _pct(value: float | None, decimals: int) -> str:
    return "–" if value is None else f"{value:+.{decimals}f}%"


def cross_venue_view(app: App, now: datetime) -> list[str]:
    """The aggregate's top and one asset's line per venue, as they stand at ``now``.

    Printed from what exists (the score store and the aggregate's last cycle) while the chat
    commands still show the first venue (issue 18 item 4); plain lines, as the console's.
    """
    aggregate = app.aggregate
    if aggregate is None or not isinstance(aggregate.source, AggregateSource):
        return []
    scores = aggregate.storage.scores
    stale_after = timedelta(seconds=2 * app.settings.collect_interval)
    venues = ", ".join(c.exchange for c in app.collectors)
    records = sorted(
        scores.latest_scores(AGGREGATE_EXCHANGE, since=now - stale_after),
        key=lambda r: (-r.result.score, r.symbol),
    )
    lines = [
        f"\nCross-venue view: every asset summed over {venues} (exchange {AGGREGATE_EXCHANGE!r}).",
        f"> top {CROSS_VENUE_TOP} of the aggregate ({aggregate.label}: {venues}, all synthetic)",
        " #  Asset    Score  Bias     OI 1h   OI 24h  Funding/8h  Basis   Regime",
    ]
    for rank, r in enumerate(records[:CROSS_VENUE_TOP], start=1):
        i, res = r.inputs, r.result
        lines.append(
            f"{rank:>2}  {r.symbol:<8} {res.score:>3}  {res.bias.value:<7} {_pct(i.oi_1h_pct, 2):>7} "
            f"{_pct(i.oi_24h_pct, 1):>7} {_pct(i.funding_pct, 3):>10} {_pct(i.basis_pct, 2):>7}  {res.label}"
        )
    found = asset_breakdown(aggregate.source, scores, CROSS_VENUE_ASSET, now, stale_after)
    if found is not None:
        lines.append(f"> {CROSS_VENUE_ASSET} across venues")
        lines.extend(breakdown_lines(found))
    return lines


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
    for other in app.collectors[1:]:
        say(f"Also collected: {other.exchange}, a {other.label}.")
    say(f"Replaying {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC, one 5-minute cycle per tick.\n")
    web = None
    try:
        web = await start_web(app)  # only with WEB_PORT (make demo sets it)
    except OSError as exc:
        say(f"The dashboard is not served: {exc}.\n")
    if web is not None:
        say(f"Dashboard (synthetic market, while the demo runs): {web.address}\n")

    # Each venue backfills its day of history on its first cycle, the aggregate derives its
    # own from theirs on its first run: as ``dps run`` starts.
    process = Process(app, backfill=True)
    done = asyncio.Event()
    it = iter(steps)

    async def tick() -> None:  # one replay step: cycle, digest, delivery, on the replay clock
        moment = next(it, None)
        if moment is None:
            done.set()
            return
        clock.current = moment
        for collector in app.collectors:
            await process.venue_cycle(collector)
        await process.aggregate_cycle()
        await app.digest.tick(moment)
        await process.deliver()

    schedule = Schedule(Jobs(tick, _idle, _idle, _idle, cycle_every=TICK))
    schedule.start()
    await done.wait()
    await schedule.stop()
    # The replay's own last cycle (the synthetic venues' are in /status below).
    say(f"\nReplay finished: {app.last_cycle.of(app.collector.exchange) or app.last_cycle.line or ''}\n")
    for line in SHOWN:
        say(f"> {line}")
        say(await app.console.handle_line(line) or "")
    for line in cross_venue_view(app, end):
        say(line)
    if interactive:
        say("\nType commands (/help, /score btc, /top 5 short, /chart spk); Ctrl-D to quit.")
        await app.console.run()
    if web is not None:
        await web.stop()
    await app.close()
    return 0
