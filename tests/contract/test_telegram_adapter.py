"""The Telegram adapter with the real python-telegram-bot against the fake Bot API on 127.0.0.1.

Commands go in as updates through real getUpdates long polling; replies, alerts and digests
come out through real sendMessage / sendPhoto calls, which the fake checks the way Telegram
does (HTML entities, length limits). Faults are the fake's real HTTP answers.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from bot.app.command_limits import RateLimit
from bot.app.commands import COMMANDS
from bot.app.delivery import Delivery
from bot.chat.telegram_adapter import TelegramAdapter
from bot.chat.telegram_limits import CHAT_BURST, broadcast_limiter
from bot.core.document import ChartRef, Column, ColumnKind, Document, Heading, Paragraph, Table
from bot.core.models import Band
from bot.core.records import Chat, ChatKey, ChatKind, OutboxMessage, OutboxStatus, Platform
from bot.core.send_outcome import ChatGone, Rejected, RetryAfter, Sent
from bot.render.plain_text import document_text
from tests.fakes.clock import FakeClock
from tests.fakes.documents import text_document
from tests.fakes.outbox_rows import stored_outbox
from tests.fakes.scored_market import FAKE_PNG, LATEST, chat_state, make_layer, populate
from tests.fakes.storage import FakeStorage
from tests.fakes.telegram_api import FakeTelegram, SentMessage
from tests.fakes.track_history import stored_history
from tests.waiting import wait_for

NOW = LATEST + timedelta(minutes=2)
USER = 1001
GROUP = -1001500
TOPIC = 7
ADMIN = 9
MEMBER = 10


def key(chat_id: int, thread: int | None = None) -> ChatKey:
    return ChatKey(Platform.TELEGRAM, str(chat_id), None if thread is None else str(thread))


@dataclass
class Bot:
    """The adapter under test, its stores and the fake it talks to."""

    fake: FakeTelegram
    adapter: TelegramAdapter
    storage: FakeStorage

    async def ask(self, text: str, chat_id: int = USER, **kw: object) -> SentMessage:
        """Type ``text`` in a chat and return the (last part of the) reply."""
        before = len(self.fake.sent(chat_id))
        self.fake.push_message(chat_id, text, **kw)  # type: ignore[arg-type]
        sent = await self.fake.wait_for_sent(before + 1, chat_id=chat_id)
        return sent[before]


@pytest.fixture
async def telegram(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTelegram]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with FakeTelegram() as fake:
        fake.admins[GROUP] = {ADMIN}
        yield fake


async def started(
    fake: FakeTelegram, *, rate_limit: RateLimit | None = None, max_retries: int = 0
) -> AsyncIterator[Bot]:
    storage = populate(FakeStorage())
    layer = make_layer(storage, source_label=None, rate_limit=rate_limit or RateLimit(10_000))
    adapter = TelegramAdapter(
        layer,
        FakeClock(NOW),
        token=fake.token,
        base_url=fake.base_url,
        # The product's own limiter against the fake's flood limits (on, as Telegram's
        # are); how many 429s it waits out itself is up to the test.
        rate_limiter=broadcast_limiter(max_retries=max_retries),
        poll_timeout=1,
    )
    await adapter.start()
    try:
        yield Bot(fake, adapter, storage)
    finally:
        await adapter.stop()


@pytest.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    async for made in started(telegram):
        yield made


# --- start-up -----------------------------------------------------------------------------


async def test_start_checks_the_token_and_sets_the_command_menu(bot: Bot) -> None:
    async with asyncio.timeout(10):  # polling starts in the background
        while not any(call.method == "getUpdates" for call in bot.fake.calls):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    methods = [call.method for call in bot.fake.calls]
    assert methods[0] == "getMe"
    assert "setMyCommands" in methods
    assert [c["command"] for c in bot.fake.commands] == list(COMMANDS)
    assert all(c["description"] for c in bot.fake.commands)


async def test_a_refused_token_is_a_clear_start_up_error(telegram: FakeTelegram) -> None:
    from bot.errors import ChatPlatformError

    layer = make_layer(FakeStorage())
    wrong = "999:WRONG"
    adapter = TelegramAdapter(layer, FakeClock(NOW), token=wrong, base_url=telegram.base_url)
    with pytest.raises(ChatPlatformError, match="TELEGRAM_BOT_TOKEN"):
        await adapter.start()
    await adapter.stop()


# --- every command in a private chat ------------------------------------------------------


async def test_score_is_a_compact_html_card(bot: Bot) -> None:
    reply = await bot.ask("/score btc")
    assert reply.parse_mode == "HTML"
    assert reply.text is not None
    first, *rest = reply.text.splitlines()
    assert first.startswith("<b>BTCUSDT · score ")
    assert any(line.startswith("<b>Funding:</b> ") for line in rest)  # a key-value: the key bold
    assert reply.reply_to is None  # private chats are not quoted


async def test_a_reply_whose_html_is_refused_arrives_as_the_documents_plain_text(bot: Bot) -> None:
    bot.fake.fail_next(
        "sendMessage", status=400, description="Bad Request: can't parse entities: unexpected end tag"
    )
    reply = await bot.ask("/status")
    assert reply.parse_mode is None
    assert reply.text is not None
    lines = reply.text.splitlines()
    assert lines[0] == "Status"
    assert "Symbols tracked: 8" in lines  # the key-value as plain text, no markup
    assert "<b>" not in reply.text


async def test_top_is_a_monospace_table(bot: Bot) -> None:
    reply = await bot.ask("/top 5 short")
    assert reply.text is not None
    assert "<pre>" in reply.text
    assert "</pre>" in reply.text
    assert "SPKUSDT" in reply.text


async def test_track_is_a_monospace_table_per_band(bot: Bot) -> None:
    stored_history(bot.storage, "SUIUSDT", 40)
    reply = await bot.ask("/track sui")
    assert reply.text is not None
    assert reply.text.splitlines()[0] == "<b>Track record · SUIUSDT</b>"
    table = reply.text.split("<pre>")[1].split("</pre>")[0].splitlines()
    assert table[0].split() == ["Band", "Readings", "Known", "24h", "move", "vs", "neutral"]
    assert table[-1].split() == ["stressed", "40", "40", "6.0", "%", "3.00×"]
    market = await bot.ask("/track")
    assert market.text is not None and market.text.startswith("<b>Track record · whole market")


async def test_help_has_the_band_legend(bot: Bot) -> None:
    reply = await bot.ask("/help")
    assert reply.text is not None
    for band in Band:
        assert band.value in reply.text.lower()
    assert "/score SYMBOL" in reply.text


async def test_chart_is_a_photo(bot: Bot) -> None:
    reply = await bot.ask("/chart btc")
    assert reply.method == "sendPhoto"
    assert reply.photo_bytes == FAKE_PNG
    assert reply.text is not None
    assert reply.text.startswith("BTCUSDT · Derivatives Pressure Score")


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/start", "Welcome"),
        ("/status", "Symbols tracked: 8"),
        ("/watch btc eth", "Added: BTCUSDT, ETHUSDT"),
        ("/watchlist", "watchlist"),
        ("/alerts min stressed", "from the stressed band up"),
        ("/digest on 07:30 Europe/Berlin", "on at 07:30 Europe/Berlin"),
        ("/unwatch all", "watchlist is empty"),
        ("/nonsense", "Unknown command /nonsense"),
        ("/score@dps_test_bot eth", "ETHUSDT · score"),
    ],
)
async def test_each_command_answers(bot: Bot, command: str, expected: str) -> None:
    reply = await bot.ask(command)
    assert reply.plain is not None
    assert expected.lower() in reply.plain.lower(), reply.plain


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/start", "Welcome"),
        ("/help", "How to read it"),
        ("/score sui", "I don't know the symbol 'sui'"),
        ("/score spk", "SPKUSDT · score"),
        ("/top 3 squeeze", "squeeze risk"),
        ("/status", "Symbols tracked: 8"),
        ("/watch btc", "Added: BTCUSDT"),
        ("/watchlist", "watchlist"),
        ("/unwatch btc", "watch"),
        ("/alerts kinds squeeze_risk", "Kinds: squeeze_risk"),
        ("/digest on 09:00 UTC", "on at 09:00 UTC"),
    ],
)
async def test_each_command_answers_an_admin_inside_a_forum_topic(
    bot: Bot, command: str, expected: str
) -> None:
    reply = await bot.ask(command, GROUP, chat_type="supergroup", user_id=ADMIN, thread_id=TOPIC)
    assert reply.plain is not None
    assert expected.lower() in reply.plain.lower(), reply.plain
    assert reply.thread_id == str(TOPIC)  # answered inside the topic …
    assert reply.reply_to is not None  # … quoting the command


async def test_chart_in_a_topic_is_a_photo_in_that_topic(bot: Bot) -> None:
    reply = await bot.ask("/chart arb 7d", GROUP, chat_type="supergroup", user_id=MEMBER, thread_id=TOPIC)
    assert reply.method == "sendPhoto"
    assert reply.thread_id == str(TOPIC)


async def test_commands_for_another_bot_are_ignored(bot: Bot) -> None:
    bot.fake.push_message(USER, "/score@someone_elses_bot btc")
    reply = await bot.ask("/status")  # answered in order: nothing came before it
    assert reply.text is not None
    assert "Status" in reply.text
    assert len(bot.fake.sent(USER)) == 1


async def test_a_long_top_is_split_under_the_limit(telegram: FakeTelegram) -> None:
    async for made in started(telegram):
        symbols = tuple(f"COIN{k:03d}USDT" for k in range(60))
        populate(made.storage, symbols=symbols)
        made.fake.push_message(USER, "/top 50")
        # The parts go out one after another; the last has the date.
        last_part = lambda fake=made.fake: any("Data as of" in (m.plain or "") for m in fake.sent(USER))  # noqa: E731
        await wait_for(last_part, "the last part")
        replies = made.fake.sent(USER)
        assert len(replies) > 1  # split (the fake refuses any part over 4,096 visible units)
        text = "\n".join(m.plain or "" for m in replies)
        ranks = [int(n) for n in re.findall(r"^\s*(\d+)\s+[A-Z0-9]+USDT\b", text, re.MULTILINE)]
        assert ranks == list(range(1, 51))  # every row once, in order, none lost at a cut


# --- groups, admins and forum topics ------------------------------------------------------


async def test_settings_in_a_group_need_an_admin(bot: Bot) -> None:
    before = chat_state(bot.storage)
    reply = await bot.ask("/alerts on", GROUP, chat_type="supergroup", user_id=MEMBER)
    assert reply.text is not None
    assert "only this chat's admins" in reply.text
    assert chat_state(bot.storage) == before
    assert any(c.method == "getChatMember" for c in bot.fake.calls)
    assert reply.reply_to is not None  # groups: the reply quotes the command


async def test_start_from_a_group_admin_signs_the_group_up(bot: Bot) -> None:
    await bot.ask("/start", GROUP, chat_type="supergroup", user_id=MEMBER)
    assert bot.storage.chats.get_chat(key(GROUP)) is None  # a member's /start only explains
    reply = await bot.ask("/start", GROUP, chat_type="supergroup", user_id=ADMIN)
    assert reply.text is not None
    assert "Welcome" in reply.text
    assert bot.storage.chats.get_chat(key(GROUP)) is not None


async def test_reading_commands_in_a_group_need_no_admin_lookup(bot: Bot) -> None:
    reply = await bot.ask("/score btc", GROUP, chat_type="supergroup", user_id=MEMBER)
    assert reply.text is not None
    assert "BTCUSDT" in reply.text
    assert not any(c.method == "getChatMember" for c in bot.fake.calls)


async def test_admin_switches_alerts_on_in_a_topic_and_alerts_go_there(bot: Bot) -> None:
    reply = await bot.ask("/alerts on", GROUP, chat_type="supergroup", user_id=ADMIN, thread_id=TOPIC)
    assert reply.thread_id == str(TOPIC)
    assert reply.text is not None
    assert "Saved" in reply.text
    chat = bot.storage.chats.get_chat(key(GROUP, TOPIC))
    assert chat is not None
    assert chat.kind is ChatKind.GROUP
    alert = Document("Derivatives Pressure alerts", (Heading("SUIUSDT stretched → stressed"),))
    outcome = await bot.adapter.send(chat.key, alert)
    assert outcome == Sent()
    shown = bot.fake.sent(GROUP)[-1]
    assert shown.thread_id == str(TOPIC)
    assert shown.text == "<b>Derivatives Pressure alerts</b>\n\n<b>SUIUSDT stretched → stressed</b>"


async def test_an_anonymous_admin_may_change_settings(bot: Bot) -> None:
    reply = await bot.ask("/digest on", GROUP, chat_type="supergroup", user_id=MEMBER, sender_chat_id=GROUP)
    assert reply.text is not None
    assert "Saved" in reply.text
    assert not any(c.method == "getChatMember" for c in bot.fake.calls)


async def test_admin_ids_may_change_settings_anywhere(bot: Bot) -> None:
    reply = await bot.ask("/watch btc", GROUP, chat_type="supergroup", user_id=42)  # ADMIN_IDS
    assert reply.text is not None
    assert "Added: BTCUSDT" in reply.text


async def test_slow_down_reply_when_a_user_sends_too_many_commands(telegram: FakeTelegram) -> None:
    async for made in started(telegram, rate_limit=RateLimit(burst=2, refill=timedelta(minutes=1))):
        await made.ask("/status")
        await made.ask("/status")
        reply = await made.ask("/status")
        assert reply.text is not None
        assert "Slow down" in reply.text


# --- hostile input ------------------------------------------------------------------------

HOSTILE = (
    "",
    "x" * 10_000,
    "<b>bold</b><script>alert(1)</script>&amp;",
    "*bold* _it_ [link](http://example.com) `code`",
    "🚀🔥💀 ＢＴＣ",
    "-5",
    "99999999999999999999999",
    "\u202e\u200b btc",
)


@pytest.mark.slow
async def test_hostile_input_for_every_command_gets_a_clear_reply_and_stores_nothing(bot: Bot) -> None:
    # Each input from its own user: a hundred commands typed into one chat within seconds
    # would (rightly) be paced to Telegram's one message a second per chat.
    chat = USER + 100
    for name in COMMANDS:
        for args in HOSTILE:
            chat += 1
            before = chat_state(bot.storage)
            reply = await bot.ask(f"/{name} {args}".rstrip(), chat)
            assert reply.parse_mode == "HTML" or reply.method == "sendPhoto", (name, args)
            assert reply.text, (name, args)
            assert "Traceback" not in reply.text
            if name != "start":  # /start stores the chat, whatever follows it
                assert chat_state(bot.storage) == before, (name, args, reply.text)


# --- outbox delivery through the adapter: each fault -------------------------------------


@dataclass
class Outbox:
    bot: Bot
    delivery: Delivery

    def enqueue(self, chat_id: int, text: str, *, attachment: bytes | None = None) -> int:
        chats = self.bot.storage.chats
        chat = chats.ensure_chat(key(chat_id), kind=ChatKind.GROUP, now=NOW)
        self.bot.storage.outbox.enqueue(
            [
                OutboxMessage(
                    f"m-{chat_id}-{text[:10]}",
                    chat.ref,
                    text_document(text, attachment),
                    NOW,
                    attachment=attachment,
                )
            ]
        )
        return chat.ref

    def status(self, chat_id: int, text: str) -> OutboxStatus:
        return stored_outbox(self.bot.storage, f"m-{chat_id}-{text[:10]}").status


@pytest.fixture
def outbox(bot: Bot) -> Outbox:
    storage = bot.storage
    return Outbox(bot, Delivery(storage.outbox, storage.chats, {Platform.TELEGRAM: bot.adapter}))


async def test_digest_with_chart_is_text_then_photo(bot: Bot) -> None:
    table = Table(
        (Column("Symbol"), Column("Score", ColumnKind.NUMBER), Column("Bias")), (("SUIUSDT", "72", "LONG"),)
    )
    doc = Document("Daily digest", (table, ChartRef("digest.png", "Top names")))
    parts: list[int] = []

    async def accepted(n: int) -> None:
        parts.append(n)

    assert await bot.adapter.send(key(GROUP), doc, FAKE_PNG, on_part=accepted) == Sent()
    text, photo = bot.fake.sent(GROUP)
    assert text.text == "<b>Daily digest</b>\n<pre>Symbol   Score  Bias\nSUIUSDT     72  LONG</pre>"
    assert photo.photo_bytes == FAKE_PNG
    assert parts == [1, 2]


async def test_a_chart_only_document_is_one_captioned_photo(bot: Bot) -> None:
    doc = Document("BTC <24h> & more", (ChartRef("btc.png", "BTC <24h>"),), source_label="demo")
    assert await bot.adapter.send(key(USER), doc, FAKE_PNG) == Sent()
    (photo,) = bot.fake.sent(USER)
    assert photo.method == "sendPhoto" and photo.photo_bytes == FAKE_PNG
    assert photo.plain == "BTC <24h> & more\nSource: demo"


async def test_retry_after_is_honoured(outbox: Outbox) -> None:
    outbox.bot.fake.fail_next(
        "sendMessage",
        status=429,
        description="Too Many Requests: retry after 7",
        parameters={"retry_after": 7},
    )
    outcome = await outbox.bot.adapter.send(key(USER), Document("hello"))
    assert outcome == RetryAfter(7.0)


async def test_a_blocked_chat_is_disabled_and_gets_nothing_more(outbox: Outbox) -> None:
    outbox.bot.fake.block(GROUP)
    outbox.enqueue(GROUP, "first alert")
    outbox.enqueue(GROUP, "second alert")
    report = await outbox.delivery.drain(NOW)
    assert report.chats_disabled == 1
    chat = outbox.bot.storage.chats.get_chat(key(GROUP))
    assert chat is not None
    assert not chat.enabled
    assert outbox.bot.fake.sent(GROUP) == []
    sends = [c for c in outbox.bot.fake.calls if c.method == "sendMessage"]
    assert len(sends) == 1  # the second was dropped without trying


async def test_a_migrated_group_is_moved_and_the_message_resent(outbox: Outbox) -> None:
    new_id = -1009999
    outbox.bot.fake.migrate(GROUP, new_id)
    ref = outbox.enqueue(GROUP, "moving alert")
    report = await outbox.delivery.drain(NOW)
    assert report.sent == 1
    assert report.chats_moved == 1
    chat = outbox.bot.storage.chats.chat_by_ref(ref)
    assert chat is not None
    assert chat.key == key(new_id)
    assert len(outbox.bot.fake.sent(new_id)) == 1


async def test_a_parse_error_is_retried_once_as_plain_text(outbox: Outbox) -> None:
    outbox.bot.fake.fail_next(
        "sendMessage", status=400, description="Bad Request: can't parse entities: unexpected end tag"
    )
    outcome = await outbox.bot.adapter.send(key(USER), Document("Alert <with> & odd text"))
    assert outcome == Sent()
    (sent,) = outbox.bot.fake.sent(USER)
    assert sent.parse_mode is None
    assert sent.text == "Alert <with> & odd text"


async def test_network_trouble_is_transient_and_retried_later(outbox: Outbox) -> None:
    outbox.bot.fake.fail_next("sendMessage", status=502, description="Bad Gateway")
    outbox.enqueue(USER, "flaky alert")
    report = await outbox.delivery.drain(NOW)
    assert report.retrying == 1
    assert outbox.status(USER, "flaky alert") is OutboxStatus.PENDING
    report = await outbox.delivery.drain(NOW + timedelta(minutes=10))
    assert report.sent == 1


async def test_other_bad_requests_give_up(bot: Bot) -> None:
    bot.fake.fail_next("sendMessage", status=400, description="Bad Request: message is too long")
    outcome = await bot.adapter.send(key(USER), Document("x"))
    assert outcome == Rejected("Bad request: Message is too long")
    assert bot.fake.sent() == []


async def test_an_alert_long_in_utf16_units_is_split_not_refused(bot: Bot) -> None:
    # 70 lines of 50 rockets: 3,570 characters to Python, 7,069 UTF-16 units to Telegram.
    doc = Document("Alerts", tuple(Paragraph("🚀" * 50) for _ in range(70)))
    assert await bot.adapter.send(key(USER), doc) == Sent()
    parts = bot.fake.sent(USER)
    assert len(parts) == 2
    assert "\n".join(m.plain or "" for m in parts) == document_text(doc)


async def test_a_topic_that_was_deleted_is_a_gone_chat(bot: Bot) -> None:
    # The fake knows no topic 77 in this group: Telegram's "message thread not found".
    outcome = await bot.adapter.send(key(GROUP, 77), Document("alert for a topic that is gone"))
    assert outcome == ChatGone("Bad request: Message thread not found")
    assert bot.fake.sent() == []


async def test_a_burst_to_one_chat_is_paced_not_refused(bot: Bot) -> None:
    # More messages than Telegram's per-chat burst, at once: the limiter spaces them out
    # (about one a second after the burst) instead of collecting 429s.
    count = CHAT_BURST + 3
    outcomes = await asyncio.gather(
        *(bot.adapter.send(key(USER), Document(f"alert {n}")) for n in range(count))
    )
    assert outcomes == [Sent()] * count
    assert sorted(m.text or "" for m in bot.fake.sent(USER)) == [f"<b>alert {n}</b>" for n in range(count)]
    assert bot.fake.too_many_requests == 0


async def test_the_default_limiter_waits_out_one_429_itself(telegram: FakeTelegram) -> None:
    async for made in started(telegram, max_retries=1):
        telegram.fail_next(
            "sendMessage", status=429, description="Too Many Requests", parameters={"retry_after": 1}
        )
        assert await made.adapter.send(key(USER), Document("patient alert")) == Sent()
        assert len(telegram.sent(USER)) == 1


async def test_being_removed_from_a_group_disables_it(bot: Bot) -> None:
    bot.storage.chats.ensure_chat(key(GROUP), kind=ChatKind.GROUP, now=NOW)
    chat_key = key(GROUP)
    # Written on a writer thread: on the loop's, a wait for the database stalls every command.
    loop_thread, written_on = threading.current_thread(), []
    update = bot.storage.chats.update_chat

    def watched(chat: Chat) -> None:
        written_on.append(threading.current_thread() is loop_thread)
        update(chat)

    bot.storage.chats.update_chat = watched  # type: ignore[method-assign]
    bot.fake.push_update(
        {
            "my_chat_member": {
                "chat": {"id": GROUP, "type": "supergroup", "title": "Desk"},
                "from": {"id": ADMIN, "is_bot": False, "first_name": "Admin"},
                "date": 1_700_000_000,
                "old_chat_member": {
                    "status": "member",
                    "user": {"id": 123456, "is_bot": True, "first_name": "DPS", "username": "dps_test_bot"},
                },
                "new_chat_member": {
                    "status": "kicked",
                    "until_date": 0,
                    "user": {"id": 123456, "is_bot": True, "first_name": "DPS", "username": "dps_test_bot"},
                },
            }
        }
    )
    async with asyncio.timeout(10):
        while (chat := bot.storage.chats.get_chat(chat_key)) is not None and chat.enabled:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    assert chat is not None
    assert not chat.enabled
    assert written_on == [False]
