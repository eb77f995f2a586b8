"""The fake Telegram Bot API, driven by the real python-telegram-bot client over HTTP.

These pin down what the adapter tests rely on: PTB's requests are understood, its error
classes come out of the fake's answers, and Telegram's HTML and flood rules are enforced.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from telegram import (
    Bot,
    BotCommand,
    ChatFullInfo,
    ChatMemberAdministrator,
    ChatMemberMember,
    ChatMemberOwner,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from tests.fakes.telegram_api import FakeTelegram, HtmlError, parse_html

USER = 555
GROUP = -100777
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture(autouse=True)
def ptb_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # RetryAfter.retry_after warns (an error under -W error) unless PTB_TIMEDELTA is set;
    # httpx would send 127.0.0.1 through any proxy named in the environment.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:  # shadows the contract conftest's exchange fake
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url) as client:
        yield client


# --- identity and routing -------------------------------------------------------------------


async def test_get_me_identifies_the_bot(fake: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.username, me.id, me.is_bot) == ("dps_test_bot", 123456, True)
    assert me.can_join_groups is True
    assert me.can_read_all_group_messages is False
    assert fake.base_url.startswith("http://127.0.0.1:")
    assert fake.base_url.endswith("/bot")
    assert [c.method for c in fake.calls][:1] == ["getMe"]


async def test_wrong_token_is_invalid_token(fake: FakeTelegram) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=fake.base_url):
            pass


async def test_unknown_method_is_not_found(bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")


# --- sendMessage ------------------------------------------------------------------------------


async def test_plain_message_is_recorded_and_echoed(fake: FakeTelegram, bot: Bot) -> None:
    message = await bot.send_message(USER, "score BTC: 72")
    assert message.text == "score BTC: 72"
    assert message.chat.id == USER
    assert message.chat.type == "private"
    assert message.from_user is not None
    assert message.from_user.id == 123456
    [sent] = fake.sent(USER)
    assert (sent.method, sent.chat_id, sent.text, sent.parse_mode) == (
        "sendMessage",
        "555",
        "score BTC: 72",
        None,
    )
    assert sent.thread_id is None
    assert sent.reply_to is None
    assert not sent.has_photo


async def test_html_message_records_raw_and_visible_text(fake: FakeTelegram, bot: Bot) -> None:
    html = '<b>BTC</b> &lt;72&gt; <a href="https://x.test/?a=1&amp;b=2">chart</a>'
    message = await bot.send_message(GROUP, html, parse_mode=ParseMode.HTML, message_thread_id=42)
    assert message.text == "BTC <72> chart"
    assert message.chat.type == "supergroup"
    assert message.message_thread_id == 42
    [sent] = fake.sent(GROUP)
    assert (sent.text, sent.plain, sent.parse_mode, sent.thread_id) == (html, "BTC <72> chart", "HTML", "42")


async def test_json_fields_are_decoded_and_ids_kept_as_sent(fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(GROUP, "re", reply_parameters=ReplyParameters(message_id=7), message_thread_id=3)
    call = next(c for c in fake.calls if c.method == "sendMessage")
    assert call.params["chat_id"] == str(GROUP)
    assert call.params["message_thread_id"] == "3"
    assert call.params["reply_parameters"] == {"message_id": 7}
    assert fake.sent()[0].reply_to == 7


MALFORMED_HTML = [
    "a < b",
    "<b>x",
    "<script>alert(1)</script>",
    "x </b>",
    "<b>x</i>",
    "<b><i>x</b></i>",
    "<span>x</span>",
    "<br/>",
    '<a href="x>y',
    "<b",
    "fees & funding",
    "&nbsp;",
    "<code class=x+y>z</code>",
    "<a href=https://x.test>link</a>",  # unquoted values are simple tokens only
]


async def test_malformed_html_is_bad_request(fake: FakeTelegram, bot: Bot) -> None:
    for text in ("a < b", "<b>x", "<script>", "fees & funding"):
        with pytest.raises(BadRequest, match="parse entities"):
            await bot.send_message(USER, text, parse_mode=ParseMode.HTML)
    assert fake.sent() == []
    await bot.send_message(USER, "a < b")  # only HTML mode parses


@pytest.mark.parametrize("text", MALFORMED_HTML)
def test_malformed_html_is_refused_by_the_parser(text: str) -> None:
    with pytest.raises(HtmlError):
        parse_html(text)


@pytest.mark.parametrize(
    ("text", "visible"),
    [
        ("a > b", "a > b"),
        ("<b>1</b><strong>2</strong><i>3</i><em>4</em><u>5</u><ins>6</ins>", "123456"),
        ("<s>1</s><strike>2</strike><del>3</del><tg-spoiler>4</tg-spoiler>", "1234"),
        ('<span class="tg-spoiler">hidden</span>', "hidden"),
        ('<pre><code class="language-python">x = 1 &lt; 2</code></pre>', "x = 1 < 2"),
        ("<blockquote expandable>long</blockquote><blockquote>q</blockquote>", "longq"),
        ("<B>caps</B> and <i>short close</>", "caps and short close"),  # "</>" closes the innermost
        ("&#60;&#x3C;&quot;&amp;", '<<"&'),
        ("<a href=x.test>link</a>", "link"),
    ],
)
def test_valid_html_parses_to_the_visible_text(text: str, visible: str) -> None:
    assert parse_html(text) == visible


def test_lenient_html_keeps_a_stray_ampersand_like_tdlib() -> None:
    assert parse_html("fees & funding &amp &lt", strict=False) == "fees & funding & <"
    with pytest.raises(HtmlError, match="byte offset 5"):
        parse_html("fees & funding")
    with pytest.raises(HtmlError, match="byte offset 4"):  # UTF-8 bytes: "€" is three
        parse_html("€ <x>")


async def test_too_long_text_is_bad_request(bot: Bot) -> None:
    with pytest.raises(BadRequest) as caught:
        await bot.send_message(USER, "x" * 5000)
    assert str(caught.value) == "Message is too long"


async def test_length_is_counted_after_html_parsing(fake: FakeTelegram, bot: Bot) -> None:
    html = "<b>x</b>" * 4000  # 32000 characters raw, 4000 visible
    await bot.send_message(USER, html, parse_mode=ParseMode.HTML)
    assert fake.sent()[0].plain == "x" * 4000
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(USER, "<b>x</b>" * 4097, parse_mode=ParseMode.HTML)
    await bot.send_message(USER, "&amp;" * 4096, parse_mode=ParseMode.HTML)


async def test_empty_text_is_bad_request(bot: Bot) -> None:
    for text in ("   ", "<b></b>", "<b> </b>\n"):
        with pytest.raises(BadRequest, match="Message text is empty"):
            await bot.send_message(USER, text, parse_mode=ParseMode.HTML)


# --- sendPhoto ----------------------------------------------------------------------------------


async def test_photo_with_caption(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(USER, PNG, caption="y" * 1025)
    caption = "<b>" + "y" * 1024 + "</b>"
    message = await bot.send_photo(USER, PNG, caption=caption, parse_mode=ParseMode.HTML)
    assert message.caption == "y" * 1024
    assert message.photo[-1].width > 0
    assert message.photo[-1].file_id
    [sent] = fake.sent(USER)
    assert (sent.method, sent.has_photo, sent.photo_bytes, sent.text) == ("sendPhoto", True, PNG, caption)


async def test_photo_caption_html_is_checked(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="parse entities"):
        await bot.send_photo(USER, PNG, caption="<b>open", parse_mode=ParseMode.HTML)


async def test_document_is_recorded(fake: FakeTelegram, bot: Bot) -> None:
    message = await bot.send_document(USER, b"a,b\n1,2\n", filename="scores.csv", caption="csv")
    assert message.document is not None
    assert message.document.file_size == 8
    assert [(m.method, m.text, m.has_photo) for m in fake.sent()] == [("sendDocument", "csv", False)]


# --- faults -------------------------------------------------------------------------------------


async def test_blocked_chat_is_forbidden_until_unblocked(fake: FakeTelegram, bot: Bot) -> None:
    fake.block(USER)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(USER, "hi")
    await bot.send_message(USER + 1, "other chats still work")
    fake.unblock(USER)
    await bot.send_message(USER, "hi again")
    assert [m.text for m in fake.sent()] == ["other chats still work", "hi again"]


async def test_migrated_group_is_chat_migrated(fake: FakeTelegram, bot: Bot) -> None:
    fake.migrate(-777, GROUP)
    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(-777, "hi")
    assert caught.value.new_chat_id == GROUP
    await bot.send_message(GROUP, "hi")
    assert [m.chat_id for m in fake.sent()] == [str(GROUP)]


async def test_fail_next_429_is_retry_after_once(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next(
        "sendMessage",
        status=429,
        description="Too Many Requests: retry after 3",
        parameters={"retry_after": 3},
    )
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "hi")
    assert caught.value.retry_after == timedelta(seconds=3)
    assert fake.too_many_requests == 1
    await bot.send_message(USER, "hi")
    assert len(fake.sent()) == 1


async def test_fail_next_targets_a_chat_and_counts_times(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", status=500, description="Internal Server Error", chat_id=GROUP, times=2)
    await bot.send_message(USER, "unaffected")
    for _ in range(2):
        with pytest.raises(NetworkError) as caught:
            await bot.send_message(GROUP, "hi")
        assert not isinstance(caught.value, BadRequest)
    await bot.send_message(GROUP, "third time lucky")
    assert [m.text for m in fake.sent()] == ["unaffected", "third time lucky"]


async def test_group_limit_gives_exactly_the_excess_as_429(fake: FakeTelegram, bot: Bot) -> None:
    fake.enforce_limits()
    refused: list[RetryAfter] = []
    for n in range(25):
        try:
            await bot.send_message(GROUP, f"alert {n}")
        except RetryAfter as exc:
            refused.append(exc)
    assert [exc.retry_after for exc in refused] == [timedelta(seconds=1)] * 5
    assert fake.too_many_requests == 5
    assert len(fake.sent(GROUP)) == 20
    await bot.send_message(-100888, "another group has its own budget")
    await bot.send_message(USER, "private chats have no per-minute budget")


async def test_overall_limit_is_a_one_second_window(fake: FakeTelegram, bot: Bot) -> None:
    fake.enforce_limits(per_second=3, retry_after=2)
    for n in range(3):
        await bot.send_message(USER + n, "ok")
    with pytest.raises(RetryAfter):
        await bot.send_message(USER + 9, "one too many")
    assert fake.too_many_requests == 1
    await asyncio.sleep(1.05)
    await bot.send_message(USER + 9, "the window slid")


async def test_latency_is_added_to_sends(fake: FakeTelegram, bot: Bot) -> None:
    fake.latency = 0.2
    started = time.monotonic()
    await bot.send_message(USER, "slow")
    assert time.monotonic() - started >= 0.2


async def test_wait_for_sent(fake: FakeTelegram, bot: Bot) -> None:
    async def later() -> None:
        await asyncio.sleep(0.05)
        await bot.send_message(GROUP, "one")
        await bot.send_message(GROUP, "two")

    task = asyncio.create_task(later())
    sent = await fake.wait_for_sent(2, chat_id=GROUP, timeout=5)
    await task
    assert [m.text for m in sent] == ["one", "two"]
    with pytest.raises(AssertionError, match=r"expected 3 sent to chat -100777 within 0.1s; got 2"):
        await fake.wait_for_sent(3, chat_id=GROUP, timeout=0.1)


# --- commands and members -----------------------------------------------------------------------


async def test_commands_round_trip(fake: FakeTelegram, bot: Bot) -> None:
    assert await bot.set_my_commands([BotCommand("score", "Score a symbol"), ("top", "Most crowded")])
    assert fake.commands == [
        {"command": "score", "description": "Score a symbol"},
        {"command": "top", "description": "Most crowded"},
    ]
    assert [c.command for c in await bot.get_my_commands()] == ["score", "top"]


async def test_invalid_commands_are_bad_request(fake: FakeTelegram, bot: Bot) -> None:
    invalid = [
        [],
        [BotCommand("Score", "upper case")],
        [BotCommand("score-x", "dash")],
        [BotCommand("s" * 33, "too long a name")],
        [BotCommand("score", "")],
        [BotCommand("score", "d" * 257)],
        [BotCommand(f"c{n}", "many") for n in range(101)],
    ]
    for commands in invalid:
        with pytest.raises(BadRequest):
            await bot.set_my_commands(commands)
    assert fake.commands == []


async def test_chat_members_parse_to_ptb_classes(fake: FakeTelegram, bot: Bot) -> None:
    fake.creators[GROUP] = 1
    fake.admins[GROUP] = {2}
    owner = await bot.get_chat_member(GROUP, 1)
    admin = await bot.get_chat_member(GROUP, 2)
    member = await bot.get_chat_member(GROUP, 3)
    assert isinstance(owner, ChatMemberOwner)
    assert isinstance(admin, ChatMemberAdministrator)
    assert admin.can_manage_chat
    assert isinstance(member, ChatMemberMember)
    assert (owner.user.id, admin.user.id, member.user.id) == (1, 2, 3)
    admins = await bot.get_chat_administrators(GROUP)
    assert [(type(m), m.user.id) for m in admins] == [(ChatMemberOwner, 1), (ChatMemberAdministrator, 2)]


async def test_get_chat_parses(bot: Bot) -> None:
    chat = await bot.get_chat(GROUP)
    assert isinstance(chat, ChatFullInfo)
    assert (chat.id, chat.type) == (GROUP, "supergroup")


# --- getUpdates ---------------------------------------------------------------------------------


async def test_get_updates_honours_offset(fake: FakeTelegram, bot: Bot) -> None:
    first = fake.push_message(USER, "one")
    second = fake.push_message(USER, "two")
    third = fake.push_message(USER, "three")
    assert [u.update_id for u in await bot.get_updates()] == [first, second, third]
    assert [u.update_id for u in await bot.get_updates(offset=second)] == [second, third]
    # Confirmed updates are forgotten: no offset now starts from the second.
    assert [u.update_id for u in await bot.get_updates(limit=1)] == [second]
    assert await bot.get_updates(offset=third + 1) == ()
    assert fake.push_update(
        {"message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}}}
    ) == (third + 1)


async def test_delete_webhook_can_drop_the_backlog(fake: FakeTelegram, bot: Bot) -> None:
    fake.push_message(USER, "old")
    assert await bot.delete_webhook()
    assert len(await bot.get_updates()) == 1
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == ()


async def test_empty_long_poll_is_held_but_short(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=5) == ()
    held = time.monotonic() - started
    assert 0.8 <= held < 1.3  # held (no busy loop), yet capped for fast tests


async def test_push_wakes_a_waiting_poll(fake: FakeTelegram, bot: Bot) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    update_id = fake.push_message(USER, "/start")
    updates = await poll
    assert time.monotonic() - started < 0.6
    assert [u.update_id for u in updates] == [update_id]


async def test_a_second_poller_terminates_the_first(fake: FakeTelegram, bot: Bot) -> None:
    # A second Bot: one Bot's getUpdates connection pool holds a single request at a time.
    async with Bot(fake.token, base_url=fake.base_url) as other:
        first = asyncio.create_task(bot.get_updates(timeout=5))
        await asyncio.sleep(0.1)
        assert await other.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await first


async def test_pushed_command_carries_a_bot_command_entity(fake: FakeTelegram, bot: Bot) -> None:
    fake.push_message(USER, "/score BTC  eth")
    fake.push_message(GROUP, "/top@dps_test_bot 5", chat_type="supergroup", user_id=7, thread_id=99)
    fake.push_message(-100555, "/score BTC", chat_type="channel")
    fake.push_message(GROUP, "/config", chat_type="supergroup", sender_chat_id=GROUP)
    fake.push_message(USER, "no command here")
    private, topic, post, anonymous, plain = await bot.get_updates()
    assert private.message is not None
    assert private.message.entities == (MessageEntity("bot_command", 0, 6),)
    assert private.message.from_user is not None
    assert private.message.from_user.id == 1001
    assert topic.message is not None
    assert topic.message.entities[0].length == len("/top@dps_test_bot")
    assert (topic.message.message_thread_id, topic.message.is_topic_message) == (99, True)
    assert topic.message.chat.is_forum is True
    assert post.channel_post is not None
    assert post.channel_post.from_user is None
    assert post.channel_post.chat.type == "channel"
    assert anonymous.message is not None
    assert anonymous.message.sender_chat is not None
    assert anonymous.message.sender_chat.id == GROUP
    assert anonymous.message.from_user is not None
    assert anonymous.message.from_user.id == 1087968824
    assert plain.message is not None
    assert plain.message.entities == ()


async def test_allowed_updates_filters_like_telegram(fake: FakeTelegram, bot: Bot) -> None:
    member_update = {
        "chat_member": {
            "chat": {"id": GROUP, "type": "supergroup", "title": "g"},
            "from": {"id": 1, "is_bot": False, "first_name": "A"},
            "date": 0,
            "old_chat_member": {"status": "left", "user": {"id": 2, "is_bot": False, "first_name": "B"}},
            "new_chat_member": {"status": "member", "user": {"id": 2, "is_bot": False, "first_name": "B"}},
        }
    }
    fake.push_update(member_update)
    message_id = fake.push_message(USER, "hi")
    # chat_member is opt-in; a type not asked for is dropped, not kept for later.
    assert [u.update_id for u in await bot.get_updates()] == [message_id]
    member_id = fake.push_update(member_update)
    updates = await bot.get_updates(offset=message_id + 1, allowed_updates=[Update.CHAT_MEMBER])
    assert [(u.update_id, u.chat_member is not None) for u in updates] == [(member_id, True)]
    # An update the poller does not want neither ends its long poll early nor lingers.
    fake.long_poll_cap = 0.4
    started = time.monotonic()
    poll = asyncio.create_task(
        bot.get_updates(offset=member_id + 1, timeout=5, allowed_updates=[Update.CHAT_MEMBER])
    )
    await asyncio.sleep(0.1)
    fake.push_message(USER, "not wanted")
    assert await poll == ()
    assert time.monotonic() - started >= 0.35
    assert await bot.get_updates() == ()


# --- the real Application ---------------------------------------------------------------------


async def test_application_polls_and_replies(fake: FakeTelegram) -> None:
    async def score(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"score {context.args}")

    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).job_queue(None).build()
    app.add_handler(CommandHandler("score", score))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=timedelta(seconds=10), drop_pending_updates=True)
        fake.push_message(GROUP, "/score@dps_test_bot BTC eth", chat_type="supergroup")
        [sent] = await fake.wait_for_sent(1, timeout=5)
        stopping = time.monotonic()
        await app.updater.stop()
        await app.stop()
    assert time.monotonic() - stopping < 1.0
    assert (sent.chat_id, sent.text, sent.reply_to) == (str(GROUP), "score ['BTC', 'eth']", 1)
    methods = [c.method for c in fake.calls]
    assert methods[:2] == ["getMe", "deleteWebhook"]
    assert "getUpdates" in methods
