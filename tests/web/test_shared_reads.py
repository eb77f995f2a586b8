"""Mark reads shared by the requests queued together, never by one queued after; cards kept
while the mark stays put."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.core.records import ScoreCard, ScoreMark
from bot.web.shared_reads import SharedMarkReads
from tests.fakes.contract import EX, T0, record
from tests.fakes.market_stores import FakeScoreStore

WINDOW = timedelta(minutes=10)


def stores() -> tuple[FakeScoreStore, SharedMarkReads]:
    inner = FakeScoreStore()
    inner.insert([record("BTCUSDT", T0), record("ETHUSDT", T0)])
    return inner, SharedMarkReads(inner)


async def test_requests_queued_together_share_one_read() -> None:
    _, shared = stores()

    async def request() -> object:
        return shared.score_mark(EX, WINDOW)

    marks = await asyncio.gather(*(request() for _ in range(5)))
    assert shared.reads == 1
    assert len({id(m) for m in marks}) == 1


async def test_a_request_queued_after_the_read_sees_what_was_stored_since() -> None:
    inner, shared = stores()

    async def request() -> ScoreMark | None:
        return shared.score_mark(EX, WINDOW)

    before = await asyncio.create_task(request())
    inner.insert([record("BTCUSDT", T0 + timedelta(minutes=5))])  # a cycle stored
    after = await asyncio.create_task(request())  # queued after the first read
    assert before is not None and after is not None
    assert after.newest == T0 + timedelta(minutes=5) != before.newest
    assert shared.reads == 2


def test_outside_a_loop_every_call_reads() -> None:
    _, shared = stores()
    shared.score_mark(EX, WINDOW)
    shared.score_mark(EX, WINDOW)
    assert shared.reads == 2


async def test_a_card_is_read_again_once_the_mark_moved() -> None:
    inner, shared = stores()

    async def request() -> ScoreCard | None:
        shared.score_mark(EX, WINDOW)
        return shared.score_card(EX, "BTCUSDT", tolerance=WINDOW)

    first = await asyncio.create_task(request())
    assert await asyncio.create_task(request()) is first  # same mark: kept
    newer = record("BTCUSDT", T0 + timedelta(minutes=5))
    inner.insert([newer])
    card = await asyncio.create_task(request())
    assert card is not None and card is not first
    assert card.latest.ts == newer.ts


def test_without_a_mark_read_for_it_a_card_is_always_read() -> None:
    inner, shared = stores()
    first = shared.score_card(EX, "BTCUSDT", tolerance=WINDOW)
    inner.insert([record("BTCUSDT", T0 + timedelta(minutes=5))])
    card = shared.score_card(EX, "BTCUSDT", tolerance=WINDOW)
    assert first is not None and card is not None
    assert card.latest.ts == T0 + timedelta(minutes=5)
