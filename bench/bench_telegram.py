"""Target: one alert fanned out to 10,000 Telegram chats at no less than 90 % of Telegram's
~30 messages/s broadcast cap, with zero 429s.

Real pieces: a SQLite outbox (migrated by Alembic) holding one alert for each of ``--chats``
chats (one in ten a group), the delivery job (``Delivery.drain_backlog``, as ``dps run``
drains it), the Telegram adapter with python-telegram-bot 22 and its default limiter, over
HTTP to the fake Bot API on 127.0.0.1 — which enforces Telegram's limits as a sliding window
(at most 30 sends in any second overall, 20 a minute per group, one a second per chat with
short bursts) and answers a send beyond them with 429 and ``retry_after: 1``. The fake answers
each send after a delay drawn uniformly from ``--jitter LOW HIGH`` seconds (seeded): the
sender must keep enough sends in flight to hold the pace.

Baseline, same run: the same delivery through an adapter whose limiter only waits out a
429 (no pacing) to ``--baseline-chats`` chats: what pacing buys.

The achieved rate is messages over the span from the first to the last accepted send, as the
fake recorded them; the 429s are those the fake answered, and every chat must appear exactly
once in the fake's record of accepted sends.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

from telegram.ext import AIORateLimiter

from bench.common import verdict, write_section
from bot.app.delivery import Delivery
from bot.chat.telegram_adapter import BROADCAST_PER_SECOND, TelegramAdapter
from bot.chat.telegram_limits import GROUP_BURST, GROUP_PER_MINUTE
from bot.core.document import Document, Heading, Paragraph
from bot.core.records import ChatKey, ChatKind, OutboxMessage, Platform
from bot.storage.facade import open_storage
from tests.fakes.scored_market import make_layer
from tests.fakes.storage import FakeStorage
from tests.fakes.telegram_api import FakeTelegram

CAP = 30.0
NOW = datetime(2026, 11, 17, 20, 50, tzinfo=UTC)
ALERT = Document(
    "Derivatives Pressure alerts",
    (
        Heading("SUIUSDT stretched → stressed · score 64 (was 58) · LONG"),
        Paragraph("Long crowded · high funding + premium + rising OI", indent=True),
        Paragraph("OI 24h +8.0% → +21.3% · funding/8h +0.031% → +0.052%", indent=True),
        Paragraph("data 2026-11-17 20:50 UTC", indent=True),
    ),
)


@dataclass
class Result:
    chats: int
    seconds: float
    rate: float
    too_many: int
    delivered_once: int
    duplicates: int
    lost: int


async def fan_out(
    chats: int, limiter: AIORateLimiter | None, jitter: tuple[float, float], db: Path
) -> Result:
    storage = open_storage(f"sqlite:///{db}")
    refs = []
    for k in range(chats):
        chat_id = -(1_000_000 + k) if k % 10 == 0 else 1_000_000 + k
        chat = storage.chats.ensure_chat(
            ChatKey(Platform.TELEGRAM, str(chat_id)),
            kind=ChatKind.GROUP if chat_id < 0 else ChatKind.PRIVATE,
            now=NOW,
        )
        refs.append(chat.ref)
    storage.outbox.enqueue([OutboxMessage(f"alert-{ref}", ref, ALERT, NOW) for ref in refs])
    async with FakeTelegram() as fake:
        fake.jitter_answers(*jitter, seed=17)
        fake.enforce_limits(per_second=30, per_group_per_minute=20, per_chat_per_second=1.0, retry_after=1)
        layer = make_layer(FakeStorage())
        adapter = TelegramAdapter(
            layer, _Clock(), token=fake.token, base_url=fake.base_url, rate_limiter=limiter, poll_timeout=1
        )
        await adapter.start()
        delivery = Delivery(storage.outbox, storage.chats, {Platform.TELEGRAM: adapter})
        started = time.perf_counter()
        delivered = 0
        while delivered < chats and time.perf_counter() - started < 3600:
            report = await delivery.drain_backlog(lambda: datetime.now(UTC))
            delivered += report.sent
            if delivered < chats:
                await asyncio.sleep(0.5)  # retries are due after their back-off
        elapsed = time.perf_counter() - started
        await adapter.stop()
        sends = [m for m in fake.sent() if m.method == "sendMessage"]
        per_chat = Counter(m.chat_id for m in sends)
        span = sends[-1].at - sends[0].at if len(sends) > 1 else elapsed
        storage.close()
        return Result(
            chats=chats,
            seconds=elapsed,
            rate=(len(sends) - 1) / span if span > 0 else float("nan"),
            too_many=fake.too_many_requests,
            delivered_once=sum(1 for n in per_chat.values() if n == 1),
            duplicates=sum(n - 1 for n in per_chat.values() if n > 1),
            lost=chats - len(per_chat),
        )


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def row(name: str, r: Result) -> str:
    return (
        f"| {name} | {r.chats:,} | {r.seconds:.1f} s | {r.rate:.2f}/s | {100 * r.rate / CAP:.0f} % | "
        f"{r.too_many} | {r.delivered_once:,} | {r.duplicates} | {r.lost} |"
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--baseline-chats", type=int, default=1_000)
    parser.add_argument(
        "--jitter", type=float, nargs=2, default=(0.03, 0.2), metavar=("LOW", "HIGH"), help="answer delay, s"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paced = await fan_out(args.chats, None, args.jitter, Path(tmp) / "paced.sqlite3")
        print(row("paced", paced), flush=True)
        unpaced = await fan_out(
            args.baseline_chats,
            AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=1),
            args.jitter,
            Path(tmp) / "unpaced.sqlite3",
        )
        print(row("unpaced", unpaced), flush=True)
    ok = paced.rate >= 0.9 * CAP and paced.too_many == 0 and paced.lost == 0 and paced.duplicates == 0
    low, high = (round(x * 1000) for x in args.jitter)
    verdicts = "\n\n".join(
        [
            verdict(
                "at least 90 % of Telegram's 30 messages/s",
                paced.rate,
                0.9 * CAP,
                "messages/s",
                lower_is_better=False,
            ),
            verdict("zero 429s", paced.too_many, 0, "× 429"),
            verdict(
                f"each of the {args.chats:,} chats exactly once",
                paced.chats - paced.delivered_once,
                0,
                "chats not exactly once",
            ),
        ]
    )
    write_section(
        "telegram",
        f"""## Telegram broadcast: one alert to {args.chats:,} chats

Targets: at least 90 % of Telegram's ~30 messages/s (27/s), zero 429s, every chat exactly
once, with the fake's answers jittered {low}–{high} ms and its per-chat limit on:
{paced.rate:.2f} messages/s ({100 * paced.rate / CAP:.0f} % of the cap), {paced.too_many} × 429,
{paced.delivered_once:,} of {paced.chats:,} chats got the alert exactly once (counted in the
fake's record of accepted sends).

{verdicts}

Set-up: SQLite outbox, `Delivery.drain_backlog` (as `dps run`), the Telegram adapter
(python-telegram-bot 22, the bot's limiter: {BROADCAST_PER_SECOND}/s spaced evenly, at most
{GROUP_BURST + GROUP_PER_MINUTE} in any minute per group, 1/s per chat) over HTTP to the fake Bot
API on 127.0.0.1, which enforces Telegram's limits (sliding windows overall and per group,
a bucket per chat) on a send's arrival and answers it after a delay drawn uniformly from
{low}–{high} ms (seeded). One chat in ten is a group.
Rate = messages ÷ time from the first to the last accepted send. Baseline: the same delivery
with the limiter's pacing off (it still waits out a 429), to {args.baseline_chats:,} chats.

| run | chats | wall time | rate | of cap | 429s | got it once | duplicates | lost |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
{row("paced (default limiter)", paced)}
{row("baseline: no pacing", unpaced)}

Without pacing, sends arrive as fast as 16 concurrent chats allow, Telegram answers the
excess with 429s, and every 429 halts all sending for a second: fewer messages a second
get through, and a real bot collecting 429s risks a longer ban.
""",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
