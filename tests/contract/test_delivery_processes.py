"""Two ``dps run --role telegram`` processes drain one PostgreSQL outbox: each message once.

Rows are claimed with ``SELECT … FOR UPDATE SKIP LOCKED``, so the processes share the
work without sending anything twice. Only one of them long-polls Telegram for commands
(the ``telegram:commands`` lease); both deliver.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.records import ChatKey, ChatKind, OutboxMessage, Platform
from bot.storage.facade import open_storage
from tests.contract.test_roles import Proc, start, stop
from tests.fakes.telegram_api import FakeTelegram
from tests.postgres import PostgresDatabases

CHATS = 240
REPEATS = 3  # the first 20 chats get three messages each


@pytest.mark.slow
@pytest.mark.postgresql
async def test_two_delivery_processes_send_every_message_exactly_once(
    postgres_databases: PostgresDatabases, tmp_path: Path
) -> None:
    url = postgres_databases.acquire()
    storage = open_storage(url)
    now = datetime.now(UTC)
    refs = [
        storage.chats.ensure_chat(
            ChatKey(Platform.TELEGRAM, str(10_000 + k)), kind=ChatKind.PRIVATE, now=now
        ).ref
        for k in range(CHATS)
    ]
    async with FakeTelegram() as telegram:
        telegram.latency = 0.15  # a batch then takes seconds: both processes get some
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_BASE_URL": telegram.base_url,
            "TELEGRAM_MAX_RATE": "1000",
            "COLLECTOR_LEASE_SECONDS": "3",
            "NO_PROXY": "127.0.0.1,localhost",
            "LOG_LEVEL": "INFO",
        }
        env.pop("DISCORD_BOT_TOKEN", None)
        procs: list[Proc] = []
        try:
            for name in ("a", "b"):
                procs.append(await start(name, env, tmp_path, role="telegram"))
            for p in procs:
                await p.wait_for("Telegram: ")
            messages = [
                OutboxMessage(f"m-{ref}-{n}", ref, f"alert {n} for chat {ref}", now)
                for k, ref in enumerate(refs)
                for n in range(REPEATS if k < 20 else 1)
            ]
            storage.outbox.enqueue(messages)
            async with asyncio.timeout(90):
                while len(telegram.sent()) < len(messages):  # noqa: ASYNC110 - the fake fills it
                    await asyncio.sleep(0.1)
            await asyncio.sleep(2.5)  # one more delivery tick each: anything sent twice shows now
            stopping = time.monotonic()
            for p in procs:
                assert await stop(p) == 0, p.log()
        finally:
            for p in procs:
                if p.proc.returncode is None:
                    await stop(p, signal.SIGKILL)
    storage.close()
    postgres_databases.release(url)
    got = Counter((m.chat_id, m.plain) for m in telegram.sent())
    assert len(got) == len(messages)
    assert set(got.values()) == {1}, [k for k, n in got.items() if n > 1][:5]
    for p in procs:
        assert "delivered " in p.log(), p.log()  # both processes took part
        assert "Traceback" not in p.log()
    polled = [p for p in procs if (at := p.seen("Telegram: polling as")) is not None and at < stopping]
    assert len(polled) == 1  # one poller per bot token (the other took over only when it stopped)
