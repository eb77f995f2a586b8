"""Target: while 1,000 chats' digests with charts are prepared and sent, ``/top`` answered
through the command layer keeps p99 under 50 ms.

One process, one event loop, as in ``dps run``: a SQLite store with 500 symbols scored now
and a day ago, 1,000 Telegram chats due for their digest. The digest run is the product's
``DigestJob.tick`` (each chat's digest with its chart into the outbox) followed by
``Delivery.drain_backlog`` (the SQL outbox through a sink). The sink is in-process: it
records each message and yields to the event loop once per send, as a network sink does;
the charts it received are counted from its records. Meanwhile ``/top`` arrives every 20 ms
on a fixed schedule and goes through ``CommandLayer.handle`` and the Telegram HTML
rendering; its latency runs from its scheduled arrival to its rendered answer, so a stalled
event loop counts in full.

Runs: the chart worker as wired (equal digests drawn once); the chart worker with every
chat's chart made distinct (1,000 drawings: the worker's worst case); and the baseline,
the old way: ``digest_chart`` called inside the event loop for every chat.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import p, write_section
from bot.app.command_limits import RateLimit
from bot.app.commands import CommandLayer, CommandPorts, CommandRequest
from bot.app.delivery import Delivery
from bot.app.digest import DigestJob, DigestPicture
from bot.app.views import TableReply
from bot.core.document import Document
from bot.core.models import Band, Bias, Regime
from bot.core.params import DEFAULT_PARAMS
from bot.core.records import ChatKey, ChatKind, ChatSettings, Platform, ScoreRecord
from bot.core.send_outcome import PartAccepted, SendOutcome, Sent
from bot.render.chart_worker import ChartWorker
from bot.render.documents import digest_document, reply_document
from bot.render.telegram_html import render_document
from bot.storage.facade import Storage, open_storage
from tests.fakes.contract import EX, record, result

TARGET_P99_S = 0.050
SYMBOLS = 500
PROBE_EVERY_S = 0.020
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
IDLE_S = 10.0
TELEGRAM_RATE = 30.0
"""Messages a second: Telegram's broadcast limit, at which the Telegram adapter sends."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def check(ok: bool, what: str) -> None:
    """Stop the bench when what it measures is not what it claims to measure."""
    if not ok:
        raise SystemExit(f"bench_charts: {what}")


class PacedSink:
    """``bot.ports.Sink`` in process: records every message; ``rate`` paces sends like the
    Telegram adapter's broadcast limiter (``None``: as fast as the loop goes, one yield per send).
    """

    def __init__(self, rate: float | None) -> None:
        self.attachments: list[bytes | None] = []
        self._rate = rate
        self._next = 0.0

    async def send(
        self,
        chat: ChatKey,
        document: Document,
        attachment: bytes | None = None,
        *,
        start: int = 0,
        on_part: PartAccepted | None = None,
    ) -> SendOutcome:
        loop = asyncio.get_running_loop()
        slot = loop.time()
        if self._rate is not None:
            slot = max(slot, self._next)
            self._next = slot + 1 / self._rate
        await asyncio.sleep(slot - loop.time())
        self.attachments.append(attachment)
        if on_part is not None:
            on_part(1)
        return Sent()


def seed(storage: Storage, chats: int, rng: random.Random) -> None:
    """500 symbols scored 5 minutes and a day ago; ``chats`` chats due for their digest at 08:00 UTC."""
    biases = [
        (Bias.LONG, Regime.LONG_BIAS),
        (Bias.SHORT, Regime.SHORT_CROWDED),
        (Bias.NEUTRAL, Regime.BALANCED),
    ]
    for ts in (NOW - timedelta(hours=24, minutes=5), NOW - timedelta(minutes=5)):
        records: list[ScoreRecord] = []
        for k in range(SYMBOLS):
            bias, regime = rng.choice(biases)
            records.append(record(f"S{k:03d}USDT", ts, result(rng.randint(0, 99), bias, regime, Band.LEAN)))
        storage.cycles.save_cycle(exchange=EX, scores=records)
    for k in range(chats):
        chat = storage.chats.ensure_chat(
            ChatKey(Platform.TELEGRAM, str(100_000 + k)), kind=ChatKind.PRIVATE, now=NOW, timezone="UTC"
        )
        storage.chats.save_settings(chat.ref, ChatSettings(digest_enabled=True, digest_time=NOW.time()))


@dataclass
class Run:
    name: str
    chats: int
    rate: float | None
    top: list[float] = field(default_factory=list)  # seconds, scheduled arrival → rendered answer
    digests: int = 0
    sent: int = 0
    with_chart: int = 0  # sent messages whose attachment is a PNG (the sink's records)
    drawn: int = 0
    seconds: float = 0.0
    worker_start_s: float | None = None
    worker_peak_mb: float | None = None
    matplotlib_in_bot: bool = False


async def probe_top(layer: CommandLayer, run: Run, stop: asyncio.Event) -> None:
    """``/top`` every 20 ms on a fixed schedule (from rotating chats), timed from its arrival."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for k in itertools.count():
        arrival = start + k * PROBE_EVERY_S
        if arrival > loop.time():
            await asyncio.sleep(arrival - loop.time())
        if stop.is_set():
            return
        request = CommandRequest(
            chat=ChatKey(Platform.TELEGRAM, str(100_000 + k % run.chats)),
            chat_kind=ChatKind.PRIVATE,
            user_id=str(100_000 + k % run.chats),
            is_chat_admin=False,
            command="top",
            args="",
            now=NOW,
        )
        reply = await layer.handle(request)
        check(isinstance(reply, TableReply), f"/top answered {reply!r}")
        render_document(reply_document(reply))
        run.top.append(loop.time() - arrival)


async def one_run(name: str, chats: int, workdir: Path, mode: str, rate: float | None = TELEGRAM_RATE) -> Run:
    storage = open_storage(f"sqlite:///{workdir}/{name}.sqlite3")
    seed(storage, chats, random.Random(17))
    run = Run(name, chats, rate)
    worker = ChartWorker()
    chart: Callable[[DigestPicture], Awaitable[bytes]] | None
    drawn = 0
    if mode == "inline":
        from bot.render.chart import digest_chart  # the old way: matplotlib in the bot process

        async def inline(picture: DigestPicture) -> bytes:
            nonlocal drawn
            drawn += 1
            return digest_chart(picture)

        chart = inline
    elif mode == "distinct":
        serial = itertools.count()

        async def distinct(picture: DigestPicture) -> bytes:
            return await worker.digest(replace(picture, source_label=f"chat {next(serial)}"))

        chart = distinct
    elif mode == "none":
        chart = None
    else:
        chart = worker.digest
    layer = CommandLayer(
        CommandPorts(
            chats=storage.chats, scores=storage.scores, snapshots=storage.snapshots, outbox=storage.outbox
        ),
        exchange=EX,
        source_label=None,
        admin_ids=[],
        band_floors=DEFAULT_PARAMS.band_floors,
        collect_interval=timedelta(minutes=5),
        chart=worker.chart,
        rate_limit=RateLimit(burst=1_000_000),  # the probe's chats would otherwise be throttled
    )
    sink = PacedSink(rate)
    delivery = Delivery(storage.outbox, storage.chats, {Platform.TELEGRAM: sink})
    job = DigestJob(
        EX, storage.chats, storage.scores, storage.outbox, storage.digests, digest_document, chart=chart
    )
    for _ in range(20):  # warm the /top path (statement caches) before measuring
        await layer.handle(
            CommandRequest(ChatKey(Platform.TELEGRAM, "1"), ChatKind.PRIVATE, "1", False, "top", "", NOW)
        )
    stop = asyncio.Event()
    prober = asyncio.create_task(probe_top(layer, run, stop))
    began = time.perf_counter()
    try:
        if mode == "idle":  # the reference: /top alone, nothing else on the loop
            await asyncio.sleep(IDLE_S)
            run.digests = run.sent = chats
        else:
            run.digests = await job.tick(NOW)
            run.sent = (await delivery.drain_backlog(lambda: NOW)).sent
        run.seconds = time.perf_counter() - began
    finally:
        stop.set()
        await prober
        run.matplotlib_in_bot = "matplotlib" in sys.modules
        await worker.close()
        storage.close()
    run.with_chart = sum(1 for a in sink.attachments if a is not None and a.startswith(PNG_MAGIC))
    run.drawn = drawn if mode == "inline" else worker.stats.drawn
    run.worker_start_s = worker.stats.start_seconds
    run.worker_peak_mb = worker.stats.peak_rss_kib / 1024 if worker.stats.peak_rss_kib else None
    check(run.digests == chats and run.sent == chats, f"{name}: {run.digests} digests, {run.sent} sent")
    return run


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def verdict(run: Run) -> str:
    p99 = p(run.top, 0.99)
    target = f"`/top` p99 under 50 ms while {run.chats:,} chats' digests with charts are prepared and sent"
    measured = f"p99 {ms(p99)} over {len(run.top):,} `/top` answers, charts in the chart worker"
    if p99 < TARGET_P99_S:
        return f"Verdict: {target} — **met** ({measured})."
    return f"Verdict: {target} — **missed by {ms(p99 - TARGET_P99_S)}** ({measured})."


def row(run: Run, how: str) -> str:
    top = run.top
    start = "—" if run.worker_start_s is None else f"{run.worker_start_s:.2f} s"
    peak = "—" if run.worker_peak_mb is None else f"{run.worker_peak_mb:.0f} MB"
    pace = "unpaced" if run.rate is None else f"{run.rate:g}/s"
    return (
        f"| {how} | {run.chats:,} | {pace} | {ms(p(top, 0.5))} | {ms(p(top, 0.99))} | {ms(max(top))} | "
        f"{len(top):,} | {run.drawn:,} | {run.with_chart:,} | {run.seconds:.1f} s | {start} | {peak} | "
        f"{'yes' if run.matplotlib_in_bot else 'no'} |"
    )


def section(runs: dict[str, Run], bot_peak_mb: float) -> str:
    worker, inline = runs["worker"], runs["inline"]
    return "\n".join(
        [
            "## Chart drawing and the event loop",
            "",
            "Chats due for their digest, 500 symbols on SQLite, one event loop as in `dps run`: "
            "`DigestJob.tick` (each digest with its chart into the outbox) then "
            "`Delivery.drain_backlog` through an in-process sink paced at Telegram's broadcast limit "
            f"({TELEGRAM_RATE:g} messages/s, the Telegram adapter's pace; one run unpaced). `/top` "
            "arrives every 20 ms on a fixed schedule through `CommandLayer.handle` and the Telegram "
            "HTML rendering; its latency is from the scheduled arrival to the rendered answer, so a "
            "stalled loop counts in full. Digests sent with a chart are counted from the sink's "
            "records (attachments with a PNG header); charts drawn from the worker's (or the "
            "baseline's) own count.",
            "",
            verdict(worker),
            "",
            "| run | chats | sink | `/top` p50 | p99 | max | answers | charts drawn | sent with a chart "
            "| digest run | worker start-up | worker peak RSS | matplotlib in the bot |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            row(worker, "chart worker, as wired (equal digests drawn once)"),
            row(runs["unpaced"], "chart worker, sink unpaced"),
            row(runs["distinct"], "chart worker, every chat's chart distinct (its worst case)"),
            row(inline, "baseline: drawn in the event loop per chat (the old way)"),
            row(runs["none"], "reference: the same digests without a chart"),
            row(runs["idle"], "reference: `/top` alone, no digest run (the machine's floor)"),
            "",
            f"Baseline: the same run ({inline.chats:,} chats) with `digest_chart` called inside the "
            "event loop for every chat, as `DigestJob` did before the chart worker.",
            "",
            "The worker starts on the first chart (`python -m bot.render.chart_child`: the drawing "
            "code and matplotlib only), serves every chart of the run and exits after 60 s idle; "
            "start-up is seen from the bot (spawn to ready), peak RSS is the worker's own. "
            "The two reference rows say how much of the p99 is not the charts: the same digest run "
            "without any chart (`Delivery` claims 100 outbox rows per batch in one synchronous read, "
            "and `DigestJob` reads the scores of 500 symbols twice), and `/top` alone on the machine "
            "as loaded at the time. "
            f"The bench process peaked at {bot_peak_mb:.0f} MB RSS (matplotlib loaded for the baseline).",
        ]
    )


async def main_async(chats: int, distinct_chats: int, baseline_chats: int) -> None:
    plan = {
        "worker": (chats, "worker", TELEGRAM_RATE),
        "unpaced": (chats, "worker", None),
        "distinct": (distinct_chats, "distinct", TELEGRAM_RATE),
        "none": (chats, "none", TELEGRAM_RATE),
        "idle": (chats, "idle", TELEGRAM_RATE),
        "inline": (baseline_chats, "inline", TELEGRAM_RATE),  # last: it loads matplotlib here
    }
    runs: dict[str, Run] = {}
    with tempfile.TemporaryDirectory(prefix="bench-charts-") as tmp:
        for name, (n, mode, rate) in plan.items():
            log(f"{name}: {n} chats ...")
            run = await one_run(name, n, Path(tmp), mode, rate)
            log(
                f"  /top p50 {ms(p(run.top, 0.5))} p99 {ms(p(run.top, 0.99))}, "
                f"drawn {run.drawn}, {run.seconds:.1f} s"
            )
            check(mode == "inline" or not run.matplotlib_in_bot, f"{name} loaded matplotlib into the bot")
            runs[name] = run
    bot_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    markdown = section(runs, bot_peak_mb)
    print(markdown)
    path = write_section("charts", markdown)
    log(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--distinct-chats", type=int, default=1000, help="chats of the worst-case run")
    parser.add_argument("--baseline-chats", type=int, default=1000, help="chats of the inline baseline")
    args = parser.parse_args()
    asyncio.run(main_async(args.chats, args.distinct_chats, args.baseline_chats))


if __name__ == "__main__":
    main()
