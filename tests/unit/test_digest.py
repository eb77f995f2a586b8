"""The daily digest: local time per chat, exactly one per local day, restart-safe."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, time, timedelta

import pytest

from bot.app.delivery import Delivery
from bot.app.digest import DigestJob, DigestPicture
from bot.core.document import Heading, Table
from bot.core.models import Bias, Regime
from bot.core.records import ChatKey, ChatKind, ChatSettings, Platform
from bot.errors import ChartError
from bot.render.chart import digest_chart
from bot.render.documents import digest_document
from bot.render.plain_text import document_text
from tests.fakes import FakeSink, FakeStorage
from tests.fakes.contract import EX, record, result, store_scores

DAY = datetime(2026, 11, 20, tzinfo=UTC)


def setup(tz: str = "Europe/Berlin", at: time = time(9, 0)) -> tuple[FakeStorage, DigestJob, int]:
    s = FakeStorage()
    chat = s.chats.ensure_chat(ChatKey(Platform.TELEGRAM, "-100"), kind=ChatKind.GROUP, now=DAY, timezone=tz)
    s.chats.save_settings(chat.ref, ChatSettings(digest_enabled=True, digest_time=at))
    job = DigestJob(
        EX, s.chats, s.scores, s.outbox, s.digests, digest_document, "synthetic demo market (replay)"
    )
    return s, job, chat.ref


def scores_at(s: FakeStorage, ts: datetime, shift: int = 0) -> None:
    store_scores(
        s,
        [
            record("SPKUSDT", ts, result(70 + shift, Bias.SHORT, Regime.SHORT_CROWDED)),
            record("ARBUSDT", ts, result(50 - shift, Bias.SHORT, Regime.SHORT_SQUEEZE_RISK)),
            record("BTCUSDT", ts, result(10, Bias.NEUTRAL, Regime.BALANCED)),
        ],
    )


async def test_sent_once_at_the_chats_local_time() -> None:
    s, job, ref = setup()
    for hour in range(24):
        scores_at(s, DAY + timedelta(hours=hour) - timedelta(minutes=5), shift=hour)
    assert await job.tick(DAY + timedelta(hours=7, minutes=59)) == 0  # 08:59 in Berlin
    assert await job.tick(DAY + timedelta(hours=8)) == 1  # 09:00 in Berlin
    assert await job.tick(DAY + timedelta(hours=8, minutes=1)) == 0
    restarted = DigestJob(EX, s.chats, s.scores, s.outbox, s.digests, digest_document)
    assert await restarted.tick(DAY + timedelta(hours=12)) == 0  # a restart does not send it again
    assert s.outbox.events_for_chat(ref, DAY) == 0  # digests do not eat the alert cap
    assert sum(s.outbox.status_counts().values()) == 1


async def test_the_digest_shows_header_top_movers_squeeze_and_label() -> None:
    s, job, _ = setup(tz="UTC", at=time(8, 0))
    scores_at(s, DAY + timedelta(hours=7, minutes=55) - timedelta(hours=24), shift=0)
    scores_at(s, DAY + timedelta(hours=7, minutes=55), shift=8)
    assert await job.tick(DAY + timedelta(hours=8)) == 1
    (entry,) = s.outbox.claim_due(DAY + timedelta(hours=8), limit=5, claim_for=timedelta(minutes=1))
    text = document_text(entry.payload)
    for needle in (
        "Daily Derivatives Pressure digest",
        "synthetic",
        "Avg stress 43",
        "Short bias 2",
        "Squeeze risk now",
        "data 2026-11-20 07:55 UTC",
    ):
        assert needle in text, needle
    blocks = entry.payload.blocks
    tables = {
        block.text: table
        for block, table in itertools.pairwise(blocks)
        if isinstance(block, Heading) and isinstance(table, Table)
    }
    assert tables["Biggest risers (24h)"].rows == (("SPKUSDT", "78", "+8", "SHORT"),)
    assert tables["Biggest fallers (24h)"].rows == (("ARBUSDT", "42", "-8", "SHORT"),)
    assert [row[0] for row in tables["Squeeze risk now"].rows] == ["ARBUSDT"]


async def test_down_at_digest_time_sends_on_return_the_same_day_and_never_twice() -> None:
    s, job, _ = setup(tz="Asia/Tokyo", at=time(9, 0))  # 00:00 UTC
    scores_at(s, DAY + timedelta(hours=5))
    assert await job.tick(DAY + timedelta(hours=5, minutes=5)) == 1  # came back at 14:05 Tokyo
    assert await job.tick(DAY + timedelta(hours=14, minutes=59)) == 0  # 23:59 Tokyo, same day
    scores_at(s, DAY + timedelta(hours=15))
    assert await job.tick(DAY + timedelta(hours=15, minutes=1)) == 0  # 00:01 next day in Tokyo: not yet
    scores_at(s, DAY + timedelta(hours=23, minutes=58))
    assert await job.tick(DAY + timedelta(hours=24)) == 1  # 09:00 next day in Tokyo


async def test_crash_between_enqueue_and_record_sends_one() -> None:
    s, job, ref = setup(tz="UTC", at=time(8, 0))
    scores_at(s, DAY + timedelta(hours=7, minutes=58))
    now = DAY + timedelta(hours=8)
    original = s.digests.record_digest

    def killed(*_: object) -> bool:
        raise RuntimeError("killed between enqueue and record")

    s.digests.record_digest = killed  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await job.tick(now)
    s.digests.record_digest = original  # type: ignore[method-assign]
    assert await job.tick(now + timedelta(minutes=1)) == 1
    assert sum(s.outbox.status_counts().values()) == 1
    assert s.digests.digest_sent(ref, now.date())


async def test_no_fresh_scores_waits_instead_of_recording() -> None:
    s, job, ref = setup(tz="UTC", at=time(8, 0))
    scores_at(s, DAY - timedelta(hours=3))  # stale
    assert await job.tick(DAY + timedelta(hours=8)) == 0
    assert not s.digests.digest_sent(ref, DAY.date())


async def test_waiting_for_fresh_scores_is_logged_once_per_wait(caplog: pytest.LogCaptureFixture) -> None:
    s, job, ref = setup(tz="UTC", at=time(8, 0))
    scores_at(s, DAY - timedelta(hours=3))  # stale
    caplog.set_level("INFO", logger="bot.app.digest")
    for minute in range(5):
        await job.tick(DAY + timedelta(hours=8, minutes=minute))
    waits = [r for r in caplog.records if "no fresh scores" in r.message]
    assert len(waits) == 1
    scores_at(s, DAY + timedelta(hours=8, minutes=5))
    assert await job.tick(DAY + timedelta(hours=8, minutes=6)) == 1
    assert any("fresh scores again" in r.message for r in caplog.records)
    assert s.digests.digest_sent(ref, DAY.date())


async def test_the_digest_carries_its_chart_to_the_sink() -> None:
    s, _, _ = setup(tz="UTC", at=time(8, 0))
    drawn: list[DigestPicture] = []

    async def chart(picture: DigestPicture) -> bytes:
        drawn.append(picture)
        return digest_chart(picture)

    job = DigestJob(EX, s.chats, s.scores, s.outbox, s.digests, digest_document, None, chart=chart)
    scores_at(s, DAY + timedelta(hours=7, minutes=55))
    assert await job.tick(DAY + timedelta(hours=8)) == 1
    sink = FakeSink()
    report = await Delivery(s.outbox, s.chats, {Platform.TELEGRAM: sink}).drain(DAY + timedelta(hours=8))
    assert report.sent == 1
    (png,) = sink.attachments
    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 2000
    ((_, document),) = sink.sent
    assert document.chart is not None  # the document says a chart goes with it
    (picture,) = drawn
    assert [r.symbol for r in picture.top] == ["SPKUSDT", "ARBUSDT", "BTCUSDT"]


async def test_chats_sharing_a_date_get_one_picture_to_draw() -> None:
    s, _, _ = setup(tz="UTC", at=time(8, 0))
    other = s.chats.ensure_chat(ChatKey(Platform.TELEGRAM, "-300"), kind=ChatKind.GROUP, now=DAY)
    s.chats.save_settings(other.ref, ChatSettings(digest_enabled=True, digest_time=time(8, 0)))
    drawn: list[DigestPicture] = []

    async def chart(picture: DigestPicture) -> bytes:
        drawn.append(picture)
        return b"\x89PNG\r\n\x1a\n"

    job = DigestJob(EX, s.chats, s.scores, s.outbox, s.digests, digest_document, None, chart=chart)
    scores_at(s, DAY + timedelta(hours=7, minutes=55))
    assert await job.tick(DAY + timedelta(hours=8)) == 2
    first, second = drawn
    assert first == second  # equal pictures: the chart worker draws them once


@pytest.mark.parametrize("error", [RuntimeError("no fonts"), ChartError("the chart worker did not start")])
async def test_a_broken_chart_still_sends_the_digest(error: Exception) -> None:
    s, _, _ = setup(tz="UTC", at=time(8, 0))

    async def broken(_: object) -> bytes:
        raise error

    job = DigestJob(EX, s.chats, s.scores, s.outbox, s.digests, digest_document, None, chart=broken)
    scores_at(s, DAY + timedelta(hours=7, minutes=55))
    assert await job.tick(DAY + timedelta(hours=8)) == 1
    (entry,) = s.outbox.claim_due(DAY + timedelta(hours=8), limit=5, claim_for=timedelta(minutes=1))
    assert entry.attachment is None
    assert entry.payload.chart is None  # and the document does not promise one


# --- several venues -------------------------------------------------------------------------

VENUES = (EX, "bybit")


def venue_scores(s: FakeStorage, ts: datetime, venues: tuple[str, ...] = ("all", *VENUES)) -> None:
    for venue in venues:
        symbol = {"all": "SPK", "bybit": "SPKUSDT"}.get(venue, "SPKUSDT")
        s.cycles.save_cycle(exchange=venue, scores=[record(symbol, ts, result(70), exchange=venue)])


def venue_setup(chosen: frozenset[str]) -> tuple[FakeStorage, DigestJob, int]:
    s = FakeStorage()
    chat = s.chats.ensure_chat(
        ChatKey(Platform.TELEGRAM, "-100"), kind=ChatKind.GROUP, now=DAY, timezone="UTC"
    )
    s.chats.save_settings(
        chat.ref, ChatSettings(digest_enabled=True, digest_time=time(8), alert_venues=chosen)
    )
    job = DigestJob(EX, s.chats, s.scores, s.outbox, s.digests, digest_document, None, venues=VENUES)
    return s, job, chat.ref


def queued(s: FakeStorage) -> dict[str, str]:
    return {e.idempotency_key: document_text(e.payload) for e in s.outbox.entries.values()}


async def test_with_several_venues_the_digest_follows_the_aggregate_by_default() -> None:
    s, job, ref = venue_setup(frozenset())
    venue_scores(s, DAY + timedelta(hours=7, minutes=55))
    assert await job.tick(DAY + timedelta(hours=8)) == 1
    (key, text) = next(iter(queued(s).items()))
    assert len(queued(s)) == 1
    assert key == f"digest:{ref}:all:2026-11-20"
    assert "Source: all venues" in text and "SPK " in text and "SPKUSDT" not in text


async def test_a_chat_following_two_venues_gets_one_digest_each_under_its_own_key() -> None:
    s, job, ref = venue_setup(frozenset({"bybit", EX}))
    venue_scores(s, DAY + timedelta(hours=7, minutes=55))
    assert await job.tick(DAY + timedelta(hours=8)) == 1
    texts = queued(s)
    assert set(texts) == {f"digest:{ref}:{EX}:2026-11-20", f"digest:{ref}:bybit:2026-11-20"}
    assert "Source: Binance" in texts[f"digest:{ref}:{EX}:2026-11-20"]
    assert "Source: Bybit" in texts[f"digest:{ref}:bybit:2026-11-20"]
    assert await job.tick(DAY + timedelta(hours=9)) == 0  # recorded once, for the chat's date


async def test_a_followed_venue_without_fresh_scores_holds_the_record_back_without_doubling_the_other() -> (
    None
):
    s, job, ref = venue_setup(frozenset({"bybit", EX}))
    venue_scores(s, DAY + timedelta(hours=7, minutes=55), venues=(EX,))
    assert await job.tick(DAY + timedelta(hours=8)) == 0
    assert set(queued(s)) == {f"digest:{ref}:{EX}:2026-11-20"}
    venue_scores(s, DAY + timedelta(hours=8), venues=("bybit", EX))
    assert await job.tick(DAY + timedelta(hours=8, minutes=1)) == 1
    assert set(queued(s)) == {f"digest:{ref}:{EX}:2026-11-20", f"digest:{ref}:bybit:2026-11-20"}
    assert await job.tick(DAY + timedelta(hours=8, minutes=2)) == 0


async def test_with_one_venue_the_digest_key_and_label_are_as_before() -> None:
    s, job, ref = setup(tz="UTC", at=time(8, 0))
    scores_at(s, DAY + timedelta(hours=7, minutes=55))
    assert await job.tick(DAY + timedelta(hours=8)) == 1
    ((key, text),) = queued(s).items()
    assert key == f"digest:{ref}:2026-11-20"
    assert "Source: synthetic demo market (replay)" in text and "Binance" not in text


class OnWhichThread:
    """A store whose ``methods`` note whether they ran on the event loop's thread."""

    def __init__(self, inner: object, methods: tuple[str, ...], seen: dict[str, bool]) -> None:
        self._inner, self._methods, self._seen = inner, methods, seen

    def __getattr__(self, name: str) -> object:
        found = getattr(self._inner, name)
        if name not in self._methods:
            return found

        def noted(*args: object, **kwargs: object) -> object:
            self._seen[name] = self._seen.get(name, False) or threading.current_thread() is LOOP_THREAD[0]
            return found(*args, **kwargs)

        return noted


LOOP_THREAD: list[threading.Thread] = []


async def test_the_digest_reads_and_writes_off_the_event_loop() -> None:
    # A write may wait behind a cycle's transaction: on the loop's thread every command would.
    LOOP_THREAD[:] = [threading.current_thread()]
    s, _, ref = setup(tz="UTC", at=time(8, 0))
    scores_at(s, DAY + timedelta(hours=8) - timedelta(minutes=5))
    on_loop: dict[str, bool] = {}
    job = DigestJob(
        EX,
        OnWhichThread(s.chats, ("digest_chats",), on_loop),  # type: ignore[arg-type]
        OnWhichThread(s.scores, ("latest_scores", "score_at_many"), on_loop),  # type: ignore[arg-type]
        OnWhichThread(s.outbox, ("enqueue",), on_loop),  # type: ignore[arg-type]
        OnWhichThread(s.digests, ("digest_sent", "record_digest"), on_loop),  # type: ignore[arg-type]
        digest_document,
    )
    assert await job.tick(DAY + timedelta(hours=8)) == 1
    assert on_loop == dict.fromkeys(
        ("digest_chats", "digest_sent", "latest_scores", "score_at_many", "enqueue", "record_digest"), False
    )
    assert s.digests.digest_sent(ref, DAY.date())
