"""A webhook receiver gets every alert exactly once, each with a valid signature, across a
restart of ``dps run`` (real processes, the fake exchange, a real receiver on 127.0.0.1).

The receiver accepts a few queued alerts and then has an outage (503): the rest wait in
the outbox with back-off. The bot is stopped and started again; on a clock moved past
every back-off the second process delivers the rest, and the daily digest (with its
chart) that the bot itself queued for the webhook. Then the clock jumps past the outbox
claim and the test waits for a drain on that clock: a message delivered but left claimed
would be sent again then, and the receiver would see it twice.
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app.delivery import DEFAULT_CLAIM
from bot.chat.webhook_adapter import DELIVERY_HEADER
from bot.core.document import Document, Paragraph, Tone, from_data
from bot.core.events import EventKind
from bot.core.models import Band
from bot.core.records import ChatSettings, OutboxMessage
from bot.core.webhook_signature import HEADER, verify
from bot.storage.facade import open_storage
from tests.contract.clocked_run import DIGEST_EVERY_ENV, TestClock
from tests.contract.processes import Proc, start, stop
from tests.fakes.exchange import FakeExchange
from tests.fakes.webhook_receiver import Received, WebhookReceiver
from tests.waiting import wait_for

SECRET = "restart-test-secret-0123456789"  # noqa: S105 - a made-up signing key
QUEUED = 12
ACCEPTED_BEFORE_OUTAGE = 5
LATER = timedelta(hours=2)  # past every back-off of the first run
JUMP = LATER + DEFAULT_CLAIM + timedelta(minutes=1)  # past any claim made before it


def webhook_rows(db: Path) -> list[tuple[str, str]]:
    """(idempotency key, status) of every outbox row for the webhook."""
    with sqlite3.connect(db) as conn:
        return list(
            conn.execute(
                "SELECT o.idempotency_key, o.status FROM outbox o JOIN chats c ON c.id = o.chat_ref "
                "WHERE c.platform = 'webhook'"
            )
        )


def signed(request: Received, clock_offset: timedelta) -> bool:
    now = (datetime.now(UTC) + clock_offset).timestamp()
    return verify(SECRET, request.headers[HEADER], request.body, now=now)


@pytest.mark.slow
async def test_every_alert_arrives_once_signed_across_a_restart(fake: FakeExchange, tmp_path: Path) -> None:
    db = tmp_path / "dps.sqlite3"
    url = f"sqlite:///{db}"
    now = datetime.now(UTC)
    async with WebhookReceiver() as receiver:
        storage = open_storage(url)
        try:
            ref = storage.webhooks.add_webhook(
                "wh-restart",
                f"{receiver.url}/dps",
                SECRET,
                settings=ChatSettings(
                    min_band=Band.LEAN,
                    event_kinds=frozenset(EventKind),
                    digest_enabled=True,
                    # Due as soon as the second run starts (whatever the time of day), not before.
                    digest_time=(now + LATER).time().replace(second=0, microsecond=0),
                ),
                exchange="binanceusdm",
                symbols=(),
                now=now,
            ).chat_ref
            storage.outbox.enqueue(
                [
                    OutboxMessage(
                        f"alert:{k}",
                        ref,
                        Document("Derivatives Pressure alerts", (Paragraph(f"alert {k}"),), Tone.STRETCHED),
                        now - timedelta(seconds=QUEUED - k),
                    )
                    for k in range(QUEUED)
                ]
            )
        finally:
            storage.close()
        clock = TestClock(tmp_path / "clock")
        clock.run_offset(timedelta(0))
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "EXCHANGE": "binanceusdm",
            "EXCHANGE_API_URL": fake.url,
            "COLLECT_INTERVAL": "30",
            "WEBHOOK_ALLOW_PRIVATE": "1",
            # Due digests looked for every second, not at the next wall-clock minute.
            DIGEST_EVERY_ENV: "1",
        }
        for name in ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN", "WEB_PORT"):
            env.pop(name, None)
        receiver.outage_after(ACCEPTED_BEFORE_OUTAGE)
        queued = {f"alert:{k}" for k in range(QUEUED)}

        def tried() -> set[str]:
            return {r.headers[DELIVERY_HEADER] for r in receiver.requests}

        procs: list[Proc] = []
        try:
            first = await start("first", env, tmp_path, "all", clock)
            procs.append(first)
            await wait_for(
                lambda: queued <= tried() or not first.alive(), "every queued alert to be tried once"
            )
            assert await stop(first) == 0
            before_restart = len(receiver.requests)
            assert len(receiver.delivered()) == ACCEPTED_BEFORE_OUTAGE

            receiver.answer(200)  # the outage is over
            clock.run_offset(LATER)
            fake.market.clock_ms = lambda: int((datetime.now(UTC) + LATER).timestamp() * 1000)  # not stale
            second = await start("second", env, tmp_path, "all", clock)
            procs.append(second)

            def all_sent() -> bool:
                rows = webhook_rows(db)
                raised = {k for k, _ in rows} - queued
                return bool(raised) and queued <= {k for k, _ in rows} and all(s == "sent" for _, s in rows)

            await wait_for(
                lambda: all_sent() or not second.alive(),
                lambda: f"every webhook message to be sent: {webhook_rows(db)}\n{second.log()}",
            )
            jumped = clock.run_offset(JUMP)
            await wait_for(
                lambda: any(t >= jumped for t in second.drains()) or not second.alive(),
                "a drain after the jump past the claim",
            )
            assert await stop(second) == 0
        finally:
            for p in procs:  # a failed wait must not leave a bot running
                if p.proc.returncode is None:
                    p.proc.kill()
                    await p.proc.wait()
                if p.reader is not None:
                    await p.reader

    assert all_sent()
    delivered = Counter(r.headers[DELIVERY_HEADER] for r in receiver.delivered())
    assert set(delivered) == {k for k, _ in webhook_rows(db)}, "every alert of the outbox arrived"
    assert set(delivered) > queued  # the queued ones and the digest the bot raised
    digests = [r.json() for r in receiver.delivered() if r.json()["chart"] is not None]
    assert digests and digests[0]["document"]["title"].startswith("Daily Derivatives Pressure digest")
    assert max(delivered.values()) == 1, f"delivered twice: {delivered}"
    assert all(signed(r, timedelta(0)) for r in receiver.requests[:before_restart])
    assert all(signed(r, LATER) for r in receiver.requests[before_restart:])
    for r in receiver.delivered():
        body = r.json()
        assert body["id"] == r.headers[DELIVERY_HEADER]
        assert from_data(body["document"]).title
