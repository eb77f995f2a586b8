"""Two ``dps run --role telegram`` processes drain one PostgreSQL outbox: each message once.

Rows are claimed with ``SELECT … FOR UPDATE SKIP LOCKED``, so the processes share the
work without sending anything twice. Only one of them long-polls Telegram for commands
(the ``telegram:commands`` lease); both deliver.

The processes run on a clock the test moves (``clocked_run``). Once everything is sent,
the clock jumps past the outbox claim lease and the test waits until each process has
drained on that clock: a message sent but left claimed would be claimed and sent again
then, and would show in the fake's records.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app.delivery import DEFAULT_CLAIM
from bot.core.records import ChatKey, ChatKind, OutboxMessage, OutboxStatus, Platform
from bot.storage.facade import open_storage
from tests.contract.clocked_run import TestClock
from tests.contract.processes import Proc, start, stop
from tests.fakes.contract import note
from tests.fakes.telegram_api import FakeTelegram
from tests.postgres import PostgresDatabases
from tests.waiting import wait_for

CHATS = 240
REPEATS = 3  # the first 20 chats get three messages each
JUMP = DEFAULT_CLAIM + timedelta(minutes=1)  # past any claim made before the jump


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
    clock = TestClock(tmp_path / "clock")
    clock.run_offset(timedelta(0))
    async with FakeTelegram() as telegram:
        telegram.latency = 0.15  # a batch then takes seconds: both processes get some
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_BASE_URL": telegram.base_url,
            "TELEGRAM_MAX_RATE": "1000",
            # Longer than the clock's jump, so the jump does not hand the polling over.
            "COLLECTOR_LEASE_SECONDS": str(int(JUMP.total_seconds()) * 3),
            "NO_PROXY": "127.0.0.1,localhost",
            "LOG_LEVEL": "INFO",
        }
        env.pop("DISCORD_BOT_TOKEN", None)
        procs: list[Proc] = []
        try:
            for name in ("a", "b"):
                procs.append(await start(name, env, tmp_path, "telegram", clock))
            for p in procs:
                await p.wait_for("Telegram: ")
            messages = [
                OutboxMessage(f"m-{ref}-{n}", ref, note(f"alert {n} for chat {ref}"), now)
                for k, ref in enumerate(refs)
                for n in range(REPEATS if k < 20 else 1)
            ]
            storage.outbox.enqueue(messages)
            await wait_for(
                lambda: storage.outbox.status_counts() == {OutboxStatus.SENT: len(messages)},
                lambda: f"every message marked sent (now {storage.outbox.status_counts()})",
                within=120,
            )
            # Past the claim lease: anything still claimed would be due again now.
            past = clock.run_offset(JUMP)
            await wait_for(
                lambda: all(any(t >= past for t in p.drains()) for p in procs),
                lambda: "a drain by each process after the jump:\n" + "\n".join(p.log() for p in procs),
            )
            polling_before_stop = [p.seen("Telegram: polling as") for p in procs]
            for p in procs:
                assert await stop(p) == 0, p.log()
            got = Counter((m.chat_id, m.plain) for m in telegram.sent())
            assert len(got) == len(messages)
            assert set(got.values()) == {1}, [k for k, n in got.items() if n > 1][:5]
            assert storage.outbox.status_counts() == {OutboxStatus.SENT: len(messages)}
        finally:
            for p in procs:
                if p.proc.returncode is None:
                    await stop(p, signal.SIGKILL)
            storage.close()
    postgres_databases.release(url)
    for p in procs:
        assert "delivered " in p.log(), p.log()  # both processes took part
        assert "Traceback" not in p.log()
    # One poller per bot token (the other took over only when it stopped).
    assert sum(at is not None for at in polling_before_stop) == 1
