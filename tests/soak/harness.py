"""Soak and chaos: ``dps run`` against the fake exchange, Bot API and Discord while things break.

The harness starts the three fakes on 127.0.0.1, signs six chats up in the database
(four on Telegram, two Discord channels), and runs ``tests.soak.child`` — the real
``bot.runner.run`` with a clock running ``speed`` times faster than wall time — for
``cycles`` five-minute cycles of the bundled replay market. Meanwhile a chaos schedule
injects exchange latency spikes, 429 and 418 bursts, 5xx, malformed JSON, a delisting and a
new listing, Telegram RetryAfter, a chat that blocks the bot, a group migrated to a
supergroup, a Discord 429, faults on a later part of a message (a digest's chart photo on
Telegram, a file upload on Discord: 502, 503, a dropped connection), and ``kills`` kill -9
restarts at seeded random moments.

At the end it heals every fault, lets the outbox drain, stops the bot with SIGTERM and
compares what the database says was due (the outbox) with what the fakes received, part
by part (each text part, chart photo and Discord message of every outbox message):
``SoakReport.problems()`` lists every broken promise.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import re
import signal
import sqlite3
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.document import from_json
from bot.core.models import Band
from bot.core.records import ChatKey, ChatKind, ChatSettings, Platform
from bot.render import discord_embeds, telegram_html
from bot.storage.facade import open_storage
from tests.fakes.discord_api import TOKEN as DISCORD_TOKEN
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.exchange import FakeExchange
from tests.fakes.telegram_api import FakeTelegram
from tests.soak.market import ReplayDrivenMarket, utc

ROOT = Path(__file__).resolve().parents[2]
CYCLE = timedelta(minutes=5)
CYCLE_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) INFO bot\.runner: cycle (\d{4}-\d\d-\d\d \d\d:\d\d) UTC: "
    r".* duration=([\d.]+)s$"
)
HELD_BACK = "ZEREBROUSDT"  # listed mid-run
DELISTED = "DENTUSDT"  # delisted mid-run
SYMBOLS = (
    # The demo's episodes (SUI turns stressed, ARB squeeze risk, SPK, LAB, ONDO), BTC, the
    # delisting and the new listing, and some more. ccxt spaces requests 50 ms apart, so
    # the universe sets how long a cycle takes, and so how fast the clock may run.
    "SUIUSDT",
    "ARBUSDT",
    "SPKUSDT",
    "LABUSDT",
    "ONDOUSDT",
    "BTCUSDT",
    DELISTED,
    HELD_BACK,
    "AAVEUSDT",
    "AVAXUSDT",
    "ENAUSDT",
    "INJUSDT",
    "LDOUSDT",
    "TAKEUSDT",
    "GALAUSDT",
    "1000SHIBUSDT",
)
KILL = "kill -9"
TG_PRIVATE, TG_NY, TG_BLOCKER, TG_GROUP, TG_SUPERGROUP = 7001, 7002, 7003, -7004, -1007004
DC_ALERTS, DC_DIGEST = 1_300_000_000_000_000_101, 1_300_000_000_000_000_102


Part = tuple[object, ...]
"""One platform call's content as the fake recorded it: a text, a photo, a Discord message."""


@dataclass(frozen=True)
class ChatPlan:
    """One chat the soak signs up before the bot first starts."""

    key: ChatKey
    kind: ChatKind
    timezone: str
    digest_at: dtime


CHATS = (
    ChatPlan(ChatKey(Platform.TELEGRAM, str(TG_PRIVATE)), ChatKind.PRIVATE, "UTC", dtime(6, 0)),
    ChatPlan(ChatKey(Platform.TELEGRAM, str(TG_NY)), ChatKind.PRIVATE, "America/New_York", dtime(8, 0)),
    ChatPlan(ChatKey(Platform.TELEGRAM, str(TG_BLOCKER)), ChatKind.PRIVATE, "UTC", dtime(9, 0)),
    ChatPlan(ChatKey(Platform.TELEGRAM, str(TG_GROUP)), ChatKind.GROUP, "Europe/Berlin", dtime(10, 0)),
    ChatPlan(ChatKey(Platform.DISCORD, str(DC_ALERTS)), ChatKind.GROUP, "UTC", dtime(7, 30)),
    ChatPlan(ChatKey(Platform.DISCORD, str(DC_DIGEST)), ChatKind.GROUP, "Asia/Tokyo", dtime(20, 0)),
)


@dataclass
class SoakConfig:
    """What to run: ``cycles`` of 5 minutes each, ``speed`` times faster than wall time."""

    workdir: Path
    cycles: int = 300
    speed: float = 300.0
    rate_limit_ms: float = 5.0
    kills: int = 3
    seed: int = 7
    symbols: tuple[str, ...] = SYMBOLS
    start: datetime = field(default_factory=lambda: utc("2026-11-17 18:00"))
    drain_timeout_s: float = 90.0
    sample_every_s: float = 0.5


@dataclass
class Life:
    """One run of the child process, from start to kill -9 or SIGTERM."""

    number: int
    log: Path
    started_wall: float
    ended_wall: float = 0.0
    returncode: int | None = None
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (wall, MB)


@dataclass
class SoakReport:
    """Everything measured, and ``problems()``: the promises that did not hold."""

    config: SoakConfig
    wall_s: float = 0.0
    cycles: int = 0
    cycles_per_life: list[int] = field(default_factory=list)
    kills: int = 0
    chaos: list[str] = field(default_factory=list)
    outbox_rows: int = 0
    alerts_due: int = 0
    digests_due: int = 0
    delivered: int = 0
    parts_due: int = 0
    parts_delivered: int = 0
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)
    later_part_faults: dict[str, int] = field(default_factory=dict)
    dropped_blocked: int = 0
    digest_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    digests_missing: list[str] = field(default_factory=list)
    overlaps: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    token_leaks: list[str] = field(default_factory=list)
    final_returncode: int | None = None
    lives: list[Life] = field(default_factory=list)
    fake_429s: dict[str, int] = field(default_factory=dict)

    def memory(self) -> tuple[float, float, float]:
        """(steady median MB, peak MB, drift MB) over the longest life after its first third."""
        life = max(self.lives, key=lambda item: len(item.rss_mb), default=None)
        if life is None or len(life.rss_mb) < 6:
            return (float("nan"),) * 3
        samples = [mb for _, mb in life.rss_mb[len(life.rss_mb) // 3 :]]
        half = len(samples) // 2
        first, second = sorted(samples[:half]), sorted(samples[half:])
        median = sorted(samples)[len(samples) // 2]
        drift = second[len(second) // 2] - first[len(first) // 2]
        return median, max(mb for _, mb in life.rss_mb), drift

    def problems(self, *, max_drift_mb: float = 15.0) -> list[str]:
        out = []
        if self.cycles < self.config.cycles:
            out.append(f"only {self.cycles} of {self.config.cycles} cycles ran")
        if self.lost:
            out.append(f"{len(self.lost)} messages lost: {self.lost[:5]}")
        if len(self.duplicates) > self.kills:  # a crash between parts may repeat one part
            out.append(
                f"{len(self.duplicates)} duplicate parts for {self.kills} crashes: {self.duplicates[:5]}"
            )
        if self.out_of_order:
            out.append(f"parts out of order: {self.out_of_order[:5]}")
        bad_digests = {k: n for k, n in self.digest_counts.items() if n != 1}
        if bad_digests:
            out.append(f"digests not exactly once per chat and day: {bad_digests}")
        if self.digests_missing:
            out.append(f"digests never written: {self.digests_missing}")
        if self.overlaps:
            out.append(f"cycles overlapped: {self.overlaps[:5]}")
        if self.log_errors:
            out.append(f"errors in the log: {self.log_errors[:5]}")
        if self.token_leaks:
            out.append(f"a bot token appeared in the log: {self.token_leaks[:3]}")
        if self.final_returncode != 0:
            out.append(f"SIGTERM exit status {self.final_returncode}")
        _, _, drift = self.memory()
        if drift == drift and drift > max_drift_mb:  # NaN: too short to tell
            out.append(f"memory grew {drift:.1f} MB within one life")
        return out


class Soak:
    """Runs one soak (``await Soak(config).run()``)."""

    def __init__(self, config: SoakConfig) -> None:
        self.cfg = config
        self.report = SoakReport(config)
        self.rng = random.Random(config.seed)
        self.market = ReplayDrivenMarket(held_back=(HELD_BACK,))
        self.exchange = FakeExchange(self.market.market)
        # Binance's weight budget is per wall-clock minute; with the clock sped up, so is
        # the budget, or the bot would (rightly) pace itself to a crawl.
        self.exchange.weight_limit = int(2400 * config.speed)
        self.telegram = FakeTelegram()
        self.discord = FakeDiscord()
        self.db = config.workdir / "soak.sqlite3"
        self.wall_origin = 0.0
        self.proc: asyncio.subprocess.Process | None = None
        self.life: Life | None = None
        self.moved: dict[str, str] = {}

    # --- the simulated clock ---------------------------------------------------------

    def sim_now(self) -> datetime:
        return self.cfg.start + timedelta(seconds=(time.time() - self.wall_origin) * self.cfg.speed)

    def sim_ms(self) -> int:
        return int(self.sim_now().timestamp() * 1000)

    # --- set-up ----------------------------------------------------------------------

    def sign_up_chats(self) -> None:
        storage = open_storage(f"sqlite:///{self.db}")
        try:
            for plan in CHATS:
                chat = storage.chats.ensure_chat(
                    plan.key, kind=plan.kind, now=self.cfg.start - timedelta(days=1), timezone=plan.timezone
                )
                storage.chats.save_settings(
                    chat.ref,
                    ChatSettings(min_band=Band.LEAN, digest_enabled=True, digest_time=plan.digest_at),
                )
        finally:
            storage.close()

    def child_env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{self.db}",
            "EXCHANGE": "binanceusdm",
            "EXCHANGE_API_URL": self.exchange.url,
            "COLLECT_INTERVAL": "300",
            "TELEGRAM_BOT_TOKEN": self.telegram.token,
            "TELEGRAM_BASE_URL": self.telegram.base_url,
            "DISCORD_BOT_TOKEN": DISCORD_TOKEN,
            "SOAK_DISCORD_REST": self.discord.rest_base,
            "SOAK_DISCORD_GATEWAY": self.discord.gateway_url,
            "SOAK_SIM_ORIGIN": self.cfg.start.isoformat(),
            "SOAK_WALL_ORIGIN": repr(self.wall_origin),
            "SOAK_SPEED": repr(self.cfg.speed),
            "SOAK_RATE_LIMIT_MS": repr(self.cfg.rate_limit_ms),
            "NO_PROXY": "127.0.0.1,localhost",
            "LOG_LEVEL": "INFO",
            "PYTHONPATH": str(ROOT),
            "SYMBOLS": ",".join(self.cfg.symbols),
        }
        for name in ("UNIVERSE_TOP_N", "ADMIN_IDS"):
            env.pop(name, None)
        return env

    async def spawn(self) -> None:
        number = len(self.report.lives) + 1
        log = self.cfg.workdir / f"life-{number}.log"
        handle = log.open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.soak.child",
            cwd=self.cfg.workdir,
            env=self.child_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=handle,
            stderr=asyncio.subprocess.STDOUT,
        )
        handle.close()
        self.life = Life(number, log, time.time())
        self.report.lives.append(self.life)

    async def end_life(self, how: signal.Signals) -> int:
        assert self.proc is not None and self.life is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(how)
        code = await asyncio.wait_for(self.proc.wait(), timeout=120)
        self.life.ended_wall = time.time()
        self.life.returncode = code
        return code

    # --- chaos -----------------------------------------------------------------------

    def schedule(self) -> list[tuple[int, str, Callable[[], None]]]:
        """(cycle, what, action) in cycle order; the moments scale with ``cycles``."""
        n = self.cfg.cycles
        ex, tg, dc = self.exchange, self.telegram, self.discord

        def at(fraction: float) -> int:
            return max(2, round(n * fraction))

        plan: list[tuple[int, str, Callable[[], None]]] = [
            # Armed from the start: the first digests (text, then a chart) go out at once.
            (
                0,
                "Telegram 502 on sendPhoto (a digest's chart: part 2 of 2)",
                lambda: tg.fail_next("sendPhoto", status=502, description="Bad Gateway"),
            ),
            (
                0,
                "Telegram connection dropped on the second sendPhoto",
                lambda: tg.drop_next("sendPhoto", after=1),
            ),
            (
                0,
                "Discord 503 on a file upload (a digest's chart)",
                lambda: dc.fail_next(
                    ("POST", "/channels/"),
                    503,
                    {"message": "Service Unavailable", "code": 0},
                    uploads_only=True,
                ),
            ),
            (
                0,
                "Discord connection dropped on the next file upload (the 503's retry)",
                lambda: dc.drop_next(("POST", "/channels/"), uploads_only=True),
            ),
            (
                at(0.06),
                "exchange latency spike: premiumIndex +2.5 s x3",
                lambda: ex.inject("premiumIndex", "delay", delay_s=2.5, times=3),
            ),
            (
                at(0.12),
                "exchange 429 burst on openInterest (Retry-After 1) x12",
                lambda: ex.inject(
                    "openInterest",
                    "status",
                    status=429,
                    headers={"Retry-After": "1"},
                    body={"code": -1003, "msg": "Too many requests."},
                    times=12,
                ),
            ),
            (
                at(0.18),
                "exchange 418 (IP ban, Retry-After 2) x2",
                lambda: ex.inject(
                    "premiumIndex",
                    "status",
                    status=418,
                    headers={"Retry-After": "2"},
                    body={"code": -1003, "msg": "Way too many requests; IP banned."},
                    times=2,
                ),
            ),
            (
                at(0.24),
                "exchange 503 on ticker/24hr x4",
                lambda: ex.inject("ticker/24hr", "status", status=503, times=4),
            ),
            (
                at(0.30),
                "exchange malformed JSON on premiumIndex x2",
                lambda: ex.inject("premiumIndex", "malformed", times=2),
            ),
            (at(0.36), f"{DELISTED} delisted", lambda: self.market.delist(DELISTED)),
            (at(0.42), f"{HELD_BACK} listed", lambda: self.market.list_held_back() and None),
            (
                at(0.48),
                "Telegram RetryAfter 2 s x2 on sendMessage",
                lambda: tg.fail_next(
                    "sendMessage",
                    status=429,
                    description="Too Many Requests: retry after 2",
                    parameters={"retry_after": 2},
                    times=2,
                ),
            ),
            (at(0.54), f"Telegram chat {TG_BLOCKER} blocks the bot", lambda: tg.block(TG_BLOCKER)),
            (at(0.60), f"Telegram group {TG_GROUP} migrated to supergroup {TG_SUPERGROUP}", self._migrate),
            (
                at(0.66),
                "Discord 429 (retry_after 0.4 s, with Via) on channel messages",
                lambda: dc.rate_limit_next(("POST", "/channels/"), 0.4),
            ),
            (
                at(0.72),
                "exchange 503 storm on premiumIndex x8 (circuit breaker)",
                lambda: ex.inject("premiumIndex", "status", status=503, times=8),
            ),
        ]
        taken = {cycle for cycle, _, _ in plan}
        kills = 0
        while kills < self.cfg.kills:
            cycle = self.rng.randint(max(3, n // 10), max(4, n - n // 10))
            if cycle in taken:
                continue
            taken.add(cycle)
            plan.append((cycle, KILL, _nothing))
            kills += 1
        return sorted(plan, key=lambda item: item[0])

    def _migrate(self) -> None:
        self.telegram.migrate(TG_GROUP, TG_SUPERGROUP)
        self.moved[str(TG_GROUP)] = str(TG_SUPERGROUP)

    # --- run -------------------------------------------------------------------------

    async def run(self) -> SoakReport:
        began = time.time()
        await self.exchange.start()
        await self.telegram.start()
        await self.discord.start()
        try:
            self.sign_up_chats()
            self.wall_origin = time.time() + 1.0  # the child's clock starts with its first import
            self.market.market.clock_ms = self.sim_ms
            self.market.update(self.cfg.start)
            updater = asyncio.create_task(self._follow_replay())
            sampler = asyncio.create_task(self._sample_memory())
            try:
                await self.spawn()
                await self._chaos_and_kills()
                self.report.fake_429s["exchange"] = sum(
                    f.hits for f in self.exchange.faults if f.kind == "status" and f.status in (418, 429)
                )
                self.exchange.heal()
                for chat in (TG_BLOCKER,):
                    self.telegram.unblock(chat)  # healed, but the chat stays disabled: by design
                await self._drain()
                self.report.final_returncode = await self.end_life(signal.SIGTERM)
            finally:
                updater.cancel()
                sampler.cancel()
                if self.proc is not None and self.proc.returncode is None:
                    self.proc.kill()
                    await self.proc.wait()
            self.verify()
        finally:
            await self.discord.stop()
            await self.telegram.stop()
            await self.exchange.stop()
        self.report.wall_s = time.time() - began
        return self.report

    async def _follow_replay(self) -> None:
        while True:
            self.market.update(self.sim_now())
            await asyncio.sleep(0.02)

    async def _sample_memory(self) -> None:
        while True:
            proc, life = self.proc, self.life
            if proc is not None and life is not None and proc.returncode is None:
                mb = rss_mb(proc.pid)
                if mb is not None:
                    life.rss_mb.append((time.time(), mb))
            await asyncio.sleep(self.cfg.sample_every_s)

    def cycles_done(self) -> int:
        return sum(len(self.cycle_lines(life)) for life in self.report.lives)

    async def _chaos_and_kills(self) -> None:
        plan = self.schedule()
        deadline = time.time() + self.cfg.cycles * CYCLE.total_seconds() / self.cfg.speed * 3 + 120
        while self.cycles_done() < self.cfg.cycles and time.time() < deadline:
            done = self.cycles_done()
            while plan and plan[0][0] <= done:
                _, what, action = plan.pop(0)
                stamp = f"cycle {done} ({self.sim_now():%m-%d %H:%M} sim)"
                if what == KILL:  # the run loop does it: it is async
                    await self.end_life(signal.SIGKILL)
                    self.report.kills += 1
                    self.report.chaos.append(f"{stamp}: kill -9, restarted")
                    await self.spawn()
                else:
                    action()
                    self.report.chaos.append(f"{stamp}: {what}")
            if self.proc is not None and self.proc.returncode is not None:
                self.report.chaos.append(f"the bot exited by itself with {self.proc.returncode}; restarted")
                await self.spawn()
            await asyncio.sleep(0.05)

    async def _drain(self) -> None:
        """Wait until nothing is due or in flight any more (retries included)."""
        deadline = time.time() + self.cfg.drain_timeout_s
        while time.time() < deadline:
            with contextlib.closing(sqlite3.connect(self.db, timeout=5)) as con:
                open_rows = con.execute(
                    "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')"
                ).fetchone()[0]
            if open_rows == 0:
                # A row is sent only after the fake accepted (and recorded) its last part.
                return
            await asyncio.sleep(0.25)

    # --- verification ----------------------------------------------------------------

    @staticmethod
    def cycle_lines(life: Life) -> list[tuple[float, float, str]]:
        """(wall end, duration, data time) of every cycle the life logged."""
        out = []
        if not life.log.exists():
            return out
        for line in life.log.read_text(errors="replace").splitlines():
            m = CYCLE_LINE.match(line)
            if m:
                # The log's time is the host's local time, as time.time() reads it back.
                local = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007
                wall = local.timestamp() + int(m.group(2)) / 1000
                out.append((wall, float(m.group(4)), m.group(3)))
        return out

    def verify(self) -> None:
        r = self.report
        for life in r.lives:
            lines = self.cycle_lines(life)
            r.cycles_per_life.append(len(lines))
            for (end_a, _, at_a), (end_b, dur_b, at_b) in itertools.pairwise(lines):
                if end_b - dur_b < end_a - 0.05:
                    r.overlaps.append(f"life {life.number}: {at_b} started before {at_a} ended")
            tokens = (self.telegram.token, DISCORD_TOKEN)
            for k, line in enumerate(life.log.read_text(errors="replace").splitlines()):
                if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback"):
                    r.log_errors.append(f"life {life.number}: {line[:300]}")
                if any(token in line for token in tokens):
                    r.token_leaks.append(f"life {life.number} line {k + 1}")
        r.cycles = sum(r.cycles_per_life)
        r.fake_429s["telegram"] = self.telegram.too_many_requests
        r.fake_429s["discord"] = sum(1 for p in self.discord.requests if p.status == 429)
        photos_tried = sum(1 for c in self.telegram.calls if c.method == "sendPhoto")
        photos_taken = sum(1 for m in self.telegram.sent() if m.method == "sendPhoto")
        r.later_part_faults["telegram sendPhoto"] = photos_tried - photos_taken
        r.later_part_faults["discord upload"] = sum(
            1 for p in self.discord.requests if p.kind == "message" and p.files and p.status >= 400
        )
        self._verify_deliveries()

    def _rows(self) -> list[dict[str, Any]]:
        with contextlib.closing(sqlite3.connect(self.db)) as con:
            con.row_factory = sqlite3.Row
            rows = con.execute(
                "SELECT o.idempotency_key AS key, o.status, o.payload, o.attachment, o.created_at, "
                "c.platform, c.chat_id, c.enabled FROM outbox o JOIN chats c ON c.id = o.chat_ref "
                "ORDER BY o.id"
            ).fetchall()
        return [dict(row) for row in rows]

    def _received(self, platform: str, chat_id: str) -> list[Part]:
        """Every part the chat received, in order (old and new id of a migrated group)."""
        ids = {chat_id} | {old for old, new in self.moved.items() if new == chat_id}
        if platform == Platform.TELEGRAM.value:
            return [
                ("photo", m.photo_bytes) if m.method == "sendPhoto" else ("text", m.text)
                for m in self.telegram.sent()
                if m.chat_id in ids
            ]
        return [
            _discord_part(p.embeds, p.files)
            for p in self.discord.channel_messages_now()
            if str(p.channel_id) in ids
        ]

    @staticmethod
    def _expected(platform: str, payload: str, attachment: bytes | None) -> list[Part]:
        """The parts one outbox message goes out as, in order (the adapters' split)."""
        document = from_json(payload)  # the stored document, drawn as the adapters do
        if platform == Platform.TELEGRAM.value:
            html = telegram_html.render_document(document, attachment)
            parts: list[Part] = [("text", t) for t in html.texts]
            return parts + ([("photo", html.photo)] if html.photo is not None else [])
        return [
            _discord_part(
                [{"title": e.title, "description": e.description or None} for e in m.embeds],
                [] if m.file is None else [(m.file.filename, m.file.data)],
            )
            for m in discord_embeds.render_document(document, attachment)
        ]

    def _verify_deliveries(self) -> None:
        """Each part of each message due: received once (a crash may repeat one), in order."""
        r = self.report
        rows = self._rows()
        r.outbox_rows = len(rows)
        received: dict[tuple[str, str], list[Part]] = {}
        digest_rows: dict[tuple[str, str], int] = defaultdict(int)
        for row in rows:
            target = (row["platform"], row["chat_id"])
            if target not in received:
                received[target] = self._received(*target)
            shown = received[target]
            is_digest = row["key"].startswith("digest:")
            r.digests_due += is_digest
            r.alerts_due += not is_digest
            where = f"{row['platform']}:{row['chat_id']} {row['key']}"
            parts = self._expected(row["platform"], row["payload"], row["attachment"])
            counts = [shown.count(part) for part in parts]
            if row["status"] == "failed" and not row["enabled"]:
                r.dropped_blocked += 1
                continue
            r.parts_due += len(parts)
            if row["status"] != "sent" or 0 in counts:
                r.lost.append(f"{where} ({row['status']}, parts received {counts})")
                continue
            r.delivered += 1
            r.parts_delivered += len(parts)
            for k, count in enumerate(counts):
                r.duplicates.extend([f"{where} part {k + 1}/{len(parts)}"] * (count - 1))
            firsts = [shown.index(part) for part in parts]
            if firsts != sorted(firsts):
                r.out_of_order.append(f"{where}: parts at {firsts}")
            if is_digest:
                digest_rows[(row["chat_id"], row["key"].rsplit(":", 1)[-1])] += max(counts)
        r.digest_counts = dict(digest_rows)
        self._expect_digests()

    def _expect_digests(self) -> None:
        """Every chat (still reachable) got a digest for each local day whose digest time the run passed."""
        end = self.cfg.start + self.cfg.cycles * CYCLE
        for plan in CHATS:
            chat_id = self.moved.get(plan.key.chat_id, plan.key.chat_id)
            if plan.key.chat_id == str(TG_BLOCKER):
                continue
            zone = ZoneInfo(plan.timezone)
            day = self.cfg.start.astimezone(zone).date()
            while day <= end.astimezone(zone).date():
                due = datetime.combine(day, plan.digest_at, zone).astimezone(UTC)
                # Due with a cycle's margin on both sides (scores must be fresh at the time).
                if self.cfg.start + 2 * CYCLE < due < end - 2 * CYCLE:
                    key = (chat_id, day.isoformat())
                    if key not in self.report.digest_counts:
                        self.report.digests_missing.append(f"{plan.key.platform.value}:{chat_id} {day}")
                day += timedelta(days=1)


def _discord_part(embeds: list[dict[str, Any]], files: list[tuple[str, bytes]]) -> Part:
    return tuple((e.get("title"), e.get("description")) for e in embeds), tuple(files)


def _nothing() -> None:
    return None


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (``None`` once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"VmRSS:\s+(\d+)", status)
    return int(found.group(1)) / 1024 if found else None


def run_soak(config: SoakConfig) -> SoakReport:
    return asyncio.run(Soak(config).run())
