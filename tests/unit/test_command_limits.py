"""The per-user command limit: a token bucket (burst 20, one more every 3 s), on a fake clock.

The limiter itself, then the command layer's "Slow down" reply.
"""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app.command_limits import RateLimit, TokenBucketLimiter
from bot.app.commands import CommandLayer
from bot.app.views import ErrorKind, ErrorReply
from bot.core.records import ChatKey, Platform
from bot.render.text import render_text
from tests.fakes.clock import FakeClock
from tests.fakes.scored_market import LATEST, ask, error_of, make_layer, populate
from tests.fakes.storage import FakeStorage

NOW = LATEST + timedelta(minutes=2)
SECOND = timedelta(seconds=1)


# --- the limiter ---------------------------------------------------------------------------


def test_the_defaults_are_a_burst_of_20_and_one_command_every_3_seconds() -> None:
    assert RateLimit() == RateLimit(burst=20, refill=timedelta(seconds=3))


def test_a_full_bucket_takes_the_burst_at_once_then_one_per_refill() -> None:
    clock = FakeClock(NOW)
    limiter = TokenBucketLimiter(RateLimit())
    for _ in range(20):
        assert limiter.check("u", clock.now()) is None
    assert limiter.check("u", clock.now()) == 3 * SECOND
    assert limiter.check("u", clock.advance(2 * SECOND)) == SECOND
    assert limiter.check("u", clock.advance(SECOND)) is None  # the first token back
    assert limiter.check("u", clock.now()) == 3 * SECOND
    # Idle for a minute: 20 refills, a full bucket again, and no more than that.
    clock.advance(timedelta(minutes=5))
    accepted = 0
    while limiter.check("u", clock.now()) is None:
        accepted += 1
    assert accepted == 20


def test_a_user_retrying_every_few_seconds_gets_through() -> None:
    """The old limit (10 per 60 s, every attempt counted) never let this user back in."""
    clock = FakeClock(NOW)
    limiter = TokenBucketLimiter(RateLimit())
    for _ in range(20):
        limiter.check("u", clock.now())
    outcomes = []
    for _ in range(10):  # one attempt every 2 s; tokens come back every 3 s
        outcomes.append(limiter.check("u", clock.advance(2 * SECOND)) is None)
    assert outcomes == [False, True, True, False, True, True, False, True, True, False]


def test_refusals_do_not_spend_tokens() -> None:
    hammered, patient = TokenBucketLimiter(RateLimit()), TokenBucketLimiter(RateLimit())
    for limiter in (hammered, patient):
        for _ in range(20):
            assert limiter.check("u", NOW) is None
    for ms in range(0, 3000, 7):  # hammering: an attempt every 7 ms, all refused
        assert hammered.check("u", NOW + timedelta(milliseconds=ms)) is not None
    assert hammered.check("u", NOW + 3 * SECOND) is None
    assert patient.check("u", NOW + 3 * SECOND) is None


def test_users_have_their_own_buckets() -> None:
    limiter = TokenBucketLimiter(RateLimit(burst=1, refill=timedelta(minutes=1)))
    assert limiter.check("a", NOW) is None
    assert limiter.check("a", NOW) == timedelta(minutes=1)
    assert limiter.check("b", NOW) is None


def test_the_limiter_forgets_users_whose_bucket_is_full_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TokenBucketLimiter, "PRUNE_AT", 100)
    limiter = TokenBucketLimiter(RateLimit(burst=1, refill=timedelta(seconds=60)))
    for user in range(100):
        assert limiter.check(user, NOW) is None
    assert limiter.check("late", NOW + timedelta(minutes=5)) is None
    assert len(limiter) == 1
    # A user still owed a refill is kept: forgetting them would hand out a fresh burst.
    assert limiter.check("late", NOW + timedelta(minutes=5)) == timedelta(seconds=60)


@pytest.mark.parametrize("limit", [{"burst": 0}, {"refill": timedelta(0)}, {"refill": timedelta(seconds=-1)}])
def test_a_rate_limit_must_be_positive(limit: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="RateLimit"):
        RateLimit(**limit)  # type: ignore[arg-type]


# --- properties ----------------------------------------------------------------------------

# Attempt times as milliseconds after NOW, in order (several may share one instant).
_attempts = st.lists(st.integers(0, 120_000), min_size=1, max_size=200).map(sorted)
_limits = st.builds(
    RateLimit,
    burst=st.integers(1, 25),
    refill=st.integers(1, 10_000).map(lambda ms: ms * timedelta(milliseconds=1)),
)


def _accepted(limit: RateLimit, attempts: list[int]) -> list[int]:
    limiter = TokenBucketLimiter(limit)
    return [ms for ms in attempts if limiter.check("u", NOW + timedelta(milliseconds=ms)) is None]


@given(limit=_limits, attempts=_attempts)
def test_never_more_than_the_burst_plus_the_refills_in_any_window(
    limit: RateLimit, attempts: list[int]
) -> None:
    accepted = _accepted(limit, attempts)
    refill_ms = limit.refill / timedelta(milliseconds=1)
    for i, start in enumerate(accepted):
        for j in range(i, len(accepted)):
            in_window = j - i + 1  # accepted within [start, accepted[j]]
            assert in_window <= limit.burst + (accepted[j] - start) / refill_ms


@given(limit=_limits, attempts=_attempts, extra=st.lists(st.integers(0, 120_000), max_size=50))
def test_a_refused_attempt_never_moves_the_next_acceptance(
    limit: RateLimit, attempts: list[int], extra: list[int]
) -> None:
    """Refused attempts slipped in between leave every acceptance where it was."""
    base = _accepted(limit, attempts)
    limiter = TokenBucketLimiter(limit)
    accepted = []
    for ms, is_extra in sorted([(a, False) for a in attempts] + [(e, True) for e in extra]):
        at = NOW + timedelta(milliseconds=ms)
        if is_extra:
            if copy.deepcopy(limiter).check("u", at) is None:
                continue  # it would be accepted (and rightly spend a token): not a refusal
            assert limiter.check("u", at) is not None
        elif limiter.check("u", at) is None:
            accepted.append(ms)
    assert accepted == base


@given(limit=_limits, attempts=_attempts)
def test_the_wait_said_is_exactly_when_the_next_command_is_accepted(
    limit: RateLimit, attempts: list[int]
) -> None:
    limiter = TokenBucketLimiter(limit)
    for ms in attempts:
        at = NOW + timedelta(milliseconds=ms)
        wait = limiter.check("u", at)
        if wait is not None:
            assert wait > timedelta(0)
            assert limiter.check("u", at + wait - timedelta(microseconds=1)) is not None
            assert limiter.check("u", at + wait) is None
            return


# --- the command layer's reply -------------------------------------------------------------


@pytest.fixture
def storage() -> FakeStorage:
    return populate(FakeStorage())


async def test_a_user_sending_too_fast_is_told_when_to_try_again(storage: FakeStorage) -> None:
    layer = make_layer(storage)  # the default limit
    clock = FakeClock(NOW)
    for _ in range(20):
        assert not isinstance(await ask(layer, "/status", now=clock.now()), ErrorReply)
    limited = error_of(await ask(layer, "/status", now=clock.advance(SECOND)), ErrorKind.RATE_LIMITED)
    assert limited.retry_after == 2 * SECOND
    assert limited.message == (
        "Slow down, please: you can send up to 20 commands at once, then one every 3 seconds. "
        "Try again in 2s."
    )
    assert "Try again in 2s." in render_text(limited)
    # Someone else is not affected; this user is let in at the time the reply said.
    assert not isinstance(await ask(layer, "/status", user="8", now=clock.now()), ErrorReply)
    assert not isinstance(await ask(layer, "/status", now=clock.advance(2 * SECOND)), ErrorReply)
    error_of(await ask(layer, "/status", now=clock.now()), ErrorKind.RATE_LIMITED)


async def test_the_seconds_said_are_rounded_up(storage: FakeStorage) -> None:
    layer = make_layer(storage, rate_limit=RateLimit(burst=1, refill=timedelta(milliseconds=2100)))
    await ask(layer, "/status", now=NOW)
    limited = error_of(await ask(layer, "/status", now=NOW), ErrorKind.RATE_LIMITED)
    assert limited.message.endswith("Try again in 3s.")  # 2.1 s: "2s" would be refused again


async def test_unknown_commands_count_towards_the_limit_too(storage: FakeStorage) -> None:
    layer = make_layer(storage, rate_limit=RateLimit(burst=2))
    await ask(layer, "/nope")
    await ask(layer, "/nope")
    error_of(await ask(layer, "/help"), ErrorKind.RATE_LIMITED)


async def test_the_console_is_not_rate_limited(storage: FakeStorage) -> None:
    layer: CommandLayer = make_layer(storage, rate_limit=RateLimit(burst=1))
    console = ChatKey(Platform.CONSOLE, "console")
    for _ in range(5):
        assert not isinstance(await ask(layer, "/status", chat=console), ErrorReply)
