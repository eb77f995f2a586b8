"""Delivery processes against one PostgreSQL outbox: 1, 2 and 4 ``dps run --role telegram``.

A throwaway PostgreSQL 15 cluster (the one the tests use: local, fsync off) holds an outbox
of ``--messages`` alerts, one per chat; 1, 2 or 4 processes drain it through the real
Telegram adapter to the fake Bot API on 127.0.0.1, which answers each send after
``--latency`` seconds (a network round trip) and records it. Telegram's own cap (30
messages/s per bot) is lifted here (``TELEGRAM_MAX_RATE``) so that what scales is our
claim-and-send path; with a real bot token the cap, shared by every process, is the limit.
The rate is messages ÷ time from the first to the last accepted send; every message must
arrive exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

from bench.common import verdict, write_section
from bot.core.document import Document
from bot.core.records import ChatKey, ChatKind, OutboxMessage, Platform
from bot.storage.facade import open_storage
from tests.contract.processes import Proc, start, stop
from tests.fakes.telegram_api import FakeTelegram
from tests.postgres import PostgresDatabases, find_postgres_bin, throwaway_cluster


@dataclass
class Result:
    processes: int
    messages: int
    seconds: float
    rate: float
    duplicates: int
    lost: int
    shares: list[int]


async def drain_with(processes: int, messages: int, latency: float, url: str, workdir: Path) -> Result:
    storage = open_storage(url)
    now = datetime.now(UTC)
    refs = [
        storage.chats.ensure_chat(
            ChatKey(Platform.TELEGRAM, str(100_000 + k)), kind=ChatKind.PRIVATE, now=now
        ).ref
        for k in range(messages)
    ]
    async with FakeTelegram() as telegram:
        # This measures how fast processes drain one outbox, above Telegram's 30/s on purpose
        # (TELEGRAM_MAX_RATE is raised too); the flood limits are bench_telegram's subject.
        telegram.lift_limits()
        telegram.latency = latency
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_BASE_URL": telegram.base_url,
            "TELEGRAM_MAX_RATE": "1000",
            "LOG_LEVEL": "INFO",
        }
        env.pop("DISCORD_BOT_TOKEN", None)
        procs: list[Proc] = []
        try:
            for k in range(processes):
                procs.append(await start(f"p{k}", env, workdir, role="telegram"))
            for p in procs:
                await p.wait_for("Telegram: ")
            storage.outbox.enqueue(
                [OutboxMessage(f"m-{ref}", ref, Document(f"alert for chat {ref}"), now) for ref in refs]
            )
            async with asyncio.timeout(900):
                while len(telegram.sent()) < messages:  # noqa: ASYNC110 - the fake fills it
                    await asyncio.sleep(0.1)
            await asyncio.sleep(2.5)  # a duplicate would arrive by now
            for p in procs:
                await stop(p)
        finally:
            for p in procs:
                if p.proc.returncode is None:
                    await stop(p, signal.SIGKILL)
    storage.close()
    sent = telegram.sent()
    per_chat = Counter(m.chat_id for m in sent)
    span = sent[-1].at - sent[0].at
    shares = [sum(_delivered(line) for line in p.lines) for p in procs]
    return Result(
        processes=processes,
        messages=messages,
        seconds=span,
        rate=(len(sent) - 1) / span,
        duplicates=sum(n - 1 for n in per_chat.values()),
        lost=messages - len(per_chat),
        shares=shares,
    )


def _delivered(line: str) -> int:
    """N of a ``delivered N (…)`` log line, else 0."""
    if "bot.runner: delivered " not in line:
        return 0
    return int(line.split("bot.runner: delivered ", 1)[1].split()[0])


def row(r: Result, base: float) -> str:
    return (
        f"| {r.processes} | {r.messages:,} | {r.seconds:.1f} s | {r.rate:.0f}/s | {r.rate / base:.2f}× | "
        f"{' / '.join(f'{s:,}' for s in r.shares)} | {r.duplicates} | {r.lost} |"
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        print("PostgreSQL is not installed: nothing to measure", file=sys.stderr)
        return 1
    results: list[Result] = []
    with throwaway_cluster(bin_dir) as server, tempfile.TemporaryDirectory() as tmp:
        databases = PostgresDatabases(server)
        try:
            for processes in (1, 2, 4):
                url = databases.acquire()
                results.append(await drain_with(processes, args.messages, args.latency, url, Path(tmp)))
                print(row(results[-1], results[0].rate), flush=True)
                databases.release(url)
        finally:
            databases.close()
    base = results[0].rate
    ok = all(r.duplicates == 0 and r.lost == 0 for r in results)
    runs = f"{len(results)} runs, {sum(r.messages for r in results):,} messages"
    verdicts = "\n\n".join(
        [
            verdict(f"no message lost ({runs})", sum(r.lost for r in results), 0, "lost"),
            verdict(f"no message duplicated ({runs})", sum(r.duplicates for r in results), 0, "duplicated"),
        ]
    )
    table = "\n".join(row(r, base) for r in results)
    write_section(
        "delivery_processes",
        f"""## Delivery processes on one PostgreSQL outbox

{args.messages:,} alerts, one per chat, drained by 1, 2 and 4 `dps run --role telegram`
processes through the real Telegram adapter to the fake Bot API, which takes
{args.latency * 1000:.0f} ms per send. Rows are claimed with `SELECT … FOR UPDATE SKIP LOCKED`;
each process sends to 16 chats at a time. Telegram's cap is lifted (`TELEGRAM_MAX_RATE=1000`):
with a real bot token the 30 messages/s per bot is shared by all processes, so more
processes buy failover and headroom for other platforms, not more Telegram messages.
PostgreSQL is the tests' throwaway cluster (local, fsync off). Lost and duplicated are
counted in the fake Bot API's own record of the messages it accepted, per chat id.
Baseline: one process draining alone.

{verdicts}

| processes | messages | first to last send | rate | vs one | sent by each | duplicates | lost |
|---:|---:|---:|---:|---:|---|---:|---:|
{table}
""",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
