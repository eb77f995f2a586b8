"""The fake Telegram Bot API, driven by the real python-telegram-bot client over HTTP.

These pin down what the adapter tests rely on: PTB's requests are understood, its error
classes come out of the fake's answers, and Telegram's rules are enforced with Telegram's
status codes and error bodies (HTML, MarkdownV2 and Markdown parsing, lengths in UTF-16
code units after parsing, forum topics, flood limits). Time is a ``ManualClock`` the tests
move: the flood windows, the long poll's hold and the added latency never need a sleep.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
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

from tests.fakes.telegram_api import FakeTelegram, HtmlError, ManualClock, parse_html
from tests.fakes.telegram_markdown import MarkdownError, parse_markdown, parse_markdown_v2
from tests.waiting import wait_for

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
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[FakeTelegram]:  # shadows the conftest's exchange fake
    async with FakeTelegram(clock=clock) as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url) as client:
        yield client


async def raw_post(fake: FakeTelegram, method: str, **fields: Any) -> tuple[int, dict[str, Any]]:
    """One Bot API call without PTB, for the status code and the error body as sent.
    ``bytes`` fields are uploaded as files (multipart), everything else as form fields."""
    form = aiohttp.FormData()
    for name, value in fields.items():
        if isinstance(value, bytes):
            form.add_field(name, value, filename=f"{name}.png", content_type="image/png")
        else:
            form.add_field(name, value if isinstance(value, str) else json.dumps(value))
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.base_url}{fake.token}/{method}", data=form) as response,
    ):
        return response.status, await response.json()


def bad_request(description: str) -> dict[str, Any]:
    return {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"}


def too_many_requests(retry_after: int) -> dict[str, Any]:
    return {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }


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
    fake.add_topic(GROUP, 42)
    message = await bot.send_message(GROUP, html, parse_mode=ParseMode.HTML, message_thread_id=42)
    assert message.text == "BTC <72> chart"
    assert message.chat.type == "supergroup"
    assert message.message_thread_id == 42
    [sent] = fake.sent(GROUP)
    assert (sent.text, sent.plain, sent.parse_mode, sent.thread_id) == (html, "BTC <72> chart", "HTML", "42")


async def test_json_fields_are_decoded_and_ids_kept_as_sent(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_topic(GROUP, 3)
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


async def test_lengths_are_utf16_code_units_of_the_visible_text(fake: FakeTelegram) -> None:
    # An emoji outside the BMP is two UTF-16 code units: 2,049 of them are 2,049 characters
    # to Python but 4,098 to Telegram, one message too long.
    assert await raw_post(fake, "sendMessage", chat_id=USER, text="😀" * 2049) == (
        400,
        bad_request("message is too long"),
    )
    assert await raw_post(fake, "sendPhoto", chat_id=USER, photo=PNG, caption="😀" * 513) == (
        400,
        bad_request("message caption is too long"),
    )
    assert fake.sent() == []
    # Markup does not count: 4,096 units visible, many more sent.
    status, answer = await raw_post(
        fake, "sendMessage", chat_id=USER, text="<b>😀</b>" * 2048, parse_mode="HTML"
    )
    assert (status, answer["ok"], answer["result"]["text"]) == (200, True, "😀" * 2048)
    status, answer = await raw_post(
        fake, "sendPhoto", chat_id=USER + 1, photo=PNG, caption="*😀*" * 512, parse_mode="MarkdownV2"
    )
    assert (status, answer["result"]["caption"]) == (200, "😀" * 512)


async def test_too_long_texts_are_refused_through_ptb(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"^Message is too long$"):
        await bot.send_message(USER, "🚀" * 2049)
    with pytest.raises(BadRequest, match=r"^Message caption is too long$"):
        await bot.send_photo(USER, PNG, caption="🚀" * 513)


# --- forum topics -------------------------------------------------------------------------------


async def test_a_thread_that_does_not_exist_is_bad_request(fake: FakeTelegram, bot: Bot) -> None:
    for thread in (5, 99):  # 99: a topic of another chat
        assert await raw_post(fake, "sendMessage", chat_id=GROUP, text="hi", message_thread_id=thread) == (
            400,
            bad_request("message thread not found"),
        )
    fake.push_message(-100888, "/start", chat_type="supergroup", thread_id=99)
    with pytest.raises(BadRequest, match=r"^Message thread not found$"):
        await bot.send_photo(GROUP, PNG, message_thread_id=99)
    assert fake.sent() == []
    fake.add_topic(GROUP, 5)
    message = await bot.send_message(GROUP, "in the topic", message_thread_id=5)
    assert message.message_thread_id == 5
    reply = await bot.send_photo(-100888, PNG, message_thread_id=99)  # known from the pushed message
    assert reply.message_thread_id == 99
    assert [m.thread_id for m in fake.sent()] == ["5", "99"]


# --- MarkdownV2 and Markdown --------------------------------------------------------------------

RESERVED = "Character '{}' is reserved and must be escaped with the preceding '\\'"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("BTC 1.5", RESERVED.format(".")),
        ("funding -0.01%", RESERVED.format("-")),
        ("done!", RESERVED.format("!")),
        ("a (b)", RESERVED.format("(")),
        ("x = y", RESERVED.format("=")),
        ("#top", RESERVED.format("#")),
        ("a > b", RESERVED.format(">")),
        ("a | b", RESERVED.format("|")),
        ("*bold", "Can't find end of Bold entity at byte offset 0"),
        ("€ _it", "Can't find end of Italic entity at byte offset 4"),
        ("__under", "Can't find end of Underline entity at byte offset 0"),
        ("`code", "Can't find end of Code entity at byte offset 0"),
        ("```\npre", "Can't find end of Pre entity at byte offset 0"),
        ("[link](https://x.test", "Can't find end of a URL at byte offset 7"),
        ("*a _b* c_", "Can't find end of Italic entity at byte offset 8"),  # entities nest, never cross
    ],
)
def test_markdown_v2_refuses_what_telegram_refuses(text: str, reason: str) -> None:
    with pytest.raises(MarkdownError) as caught:
        parse_markdown_v2(text)
    assert str(caught.value) == reason


@pytest.mark.parametrize(
    ("text", "visible"),
    [
        ("BTC 1\\.5 \\(\\+3\\.2%\\)\\!", "BTC 1.5 (+3.2%)!"),
        ("*bold* _it_ __under__ ~gone~ ||hidden||", "bold it under gone hidden"),
        ("*bold _both_ bold*", "bold both bold"),
        ("[chart](https://x.test/a\\)b) here", "chart here"),
        ("`x.y = 1`", "x.y = 1"),  # only ` and \\ are special inside code
        ("```python\nprint(1.5)\n```", "print(1.5)\n"),
        (">quoted line\n>another", "quoted line\nanother"),
        ("**>expandable\n>quote||", "expandable\nquote"),
        ("a \\\\ b", "a \\ b"),
    ],
)
def test_markdown_v2_parses_to_the_visible_text(text: str, visible: str) -> None:
    assert parse_markdown_v2(text) == visible


@pytest.mark.parametrize(
    ("text", "visible"),
    [
        ("*bold* _it_ `code` [link](https://x.test)", "bold it code link"),
        ("1.5 - (x) = y! #tag", "1.5 - (x) = y! #tag"),  # nothing else is markup
        ("snake\\_case", "snake_case"),
        ("```\npre *x*```", "pre *x*"),
    ],
)
def test_legacy_markdown_parses_to_the_visible_text(text: str, visible: str) -> None:
    assert parse_markdown(text) == visible


@pytest.mark.parametrize(
    ("text", "offset"), [("snake_case", 5), ("2*3", 1), ("€ `x", 4), ("[link", 0), ("```pre", 0)]
)
def test_legacy_markdown_refuses_an_unclosed_entity(text: str, offset: int) -> None:
    with pytest.raises(MarkdownError) as caught:
        parse_markdown(text)
    assert str(caught.value) == f"Can't find end of the entity starting at byte offset {offset}"


async def test_markdown_errors_are_telegrams_400(fake: FakeTelegram, bot: Bot) -> None:
    assert await raw_post(fake, "sendMessage", chat_id=USER, text="BTC 1.5", parse_mode="MarkdownV2") == (
        400,
        bad_request("can't parse entities: " + RESERVED.format(".")),
    )
    assert await raw_post(
        fake, "sendPhoto", chat_id=USER, photo=PNG, caption="snake_case", parse_mode="Markdown"
    ) == (400, bad_request("can't parse entities: Can't find end of the entity starting at byte offset 5"))
    # PTB drops "Bad Request: " and capitalizes the rest (str.capitalize lowers the "C").
    with pytest.raises(BadRequest, match=r"^Can't parse entities: character '-' is reserved"):
        await bot.send_message(USER, "-1", parse_mode=ParseMode.MARKDOWN_V2)
    assert fake.sent() == []
    message = await bot.send_message(USER, "*BTC* 1\\.5", parse_mode=ParseMode.MARKDOWN_V2)
    assert message.text == "BTC 1.5"
    assert fake.sent()[0].plain == "BTC 1.5"


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


async def test_flood_limits_are_on_from_the_start(fake: FakeTelegram, clock: ManualClock) -> None:
    # Telegram's Bot FAQ: about one message a second in a chat, with short bursts allowed.
    for n in range(5):
        assert (await raw_post(fake, "sendMessage", chat_id=USER, text=f"burst {n}"))[0] == 200
    assert await raw_post(fake, "sendMessage", chat_id=USER, text="one too many") == (
        429,
        too_many_requests(1),
    )
    assert fake.too_many_requests == 1
    clock.advance(1.0)  # one message's worth of the chat's budget comes back each second
    assert (await raw_post(fake, "sendMessage", chat_id=USER, text="a second later"))[0] == 200
    assert (await raw_post(fake, "sendPhoto", chat_id=USER, photo=PNG))[0] == 429
    assert [m.text for m in fake.sent(USER)][-1] == "a second later"


async def test_a_group_gets_twenty_messages_a_minute(
    fake: FakeTelegram, bot: Bot, clock: ManualClock
) -> None:
    refused: list[RetryAfter] = []
    for n in range(25):
        try:
            await bot.send_message(GROUP, f"alert {n}")
        except RetryAfter as exc:
            refused.append(exc)
        clock.advance(1.0)  # within the chat's one a second: only the group's minute refuses
    # retry_after is when the oldest of the twenty leaves the minute: 60 s after it was sent.
    assert [exc.retry_after for exc in refused] == [timedelta(seconds=s) for s in (40, 39, 38, 37, 36)]
    assert len(fake.sent(GROUP)) == 20
    await bot.send_message(-100888, "another group has its own budget")
    await bot.send_message(USER, "private chats have no per-minute budget")
    clock.advance(60 - 25 + 1)  # the first two of the twenty have left the minute
    await bot.send_message(GROUP, "the minute slid")
    await bot.send_message(GROUP, "and again")
    with pytest.raises(RetryAfter):
        await bot.send_message(GROUP, "but not a third time")


async def test_thirty_messages_a_second_across_chats(
    fake: FakeTelegram, bot: Bot, clock: ManualClock
) -> None:
    for n in range(30):
        await bot.send_message(USER + n, "broadcast")
    assert await raw_post(fake, "sendMessage", chat_id=USER + 99, text="thirty-first") == (
        429,
        too_many_requests(1),
    )
    with pytest.raises(RetryAfter):
        await bot.send_photo(USER + 98, PNG)
    clock.advance(0.75)
    with pytest.raises(RetryAfter):
        await bot.send_message(USER + 99, "still the same second")
    clock.advance(0.25)
    await bot.send_message(USER + 99, "the window slid")
    assert fake.too_many_requests == 3
    assert len(fake.sent()) == 31


async def test_refused_sends_do_not_count_against_the_limits(fake: FakeTelegram, clock: ManualClock) -> None:
    for _ in range(10):  # Telegram counts messages it delivered, not requests it refused
        assert (await raw_post(fake, "sendMessage", chat_id=USER, text="<b>", parse_mode="HTML"))[0] == 400
    for n in range(5):
        assert (await raw_post(fake, "sendMessage", chat_id=USER, text=f"ok {n}"))[0] == 200


async def test_limits_can_be_set_and_lifted(fake: FakeTelegram, bot: Bot) -> None:
    fake.enforce_limits(per_second=3, retry_after=7)
    for n in range(3):
        await bot.send_message(USER + n, "ok")
    assert await raw_post(fake, "sendMessage", chat_id=USER + 9, text="over") == (429, too_many_requests(7))
    # Lifted only where a test must outpace Telegram on purpose, and says so.
    fake.lift_limits()
    for n in range(40):
        await bot.send_message(GROUP, f"flood {n}")
    assert len(fake.sent(GROUP)) == 40


async def test_latency_holds_each_send_on_the_clock(fake: FakeTelegram, bot: Bot, clock: ManualClock) -> None:
    fake.latency = 0.2
    send = asyncio.create_task(bot.send_message(USER, "slow"))
    await wait_for(lambda: clock.sleepers == 1, "the send is held")
    clock.advance(0.19)
    assert clock.sleepers == 1  # not yet
    assert fake.sent() == []
    clock.advance(0.01)
    message = await asyncio.wait_for(send, 10)
    assert message.text == "slow"
    assert [m.text for m in fake.sent()] == ["slow"]


async def test_jittered_answers_count_the_send_on_arrival_and_answer_within_the_range(
    fake: FakeTelegram, bot: Bot, clock: ManualClock
) -> None:
    fake.jitter_answers(0.03, 0.2, seed=3)
    first = asyncio.create_task(bot.send_message(USER, "one"))
    await wait_for(lambda: clock.sleepers == 1, "the answer is held")
    assert [m.text for m in fake.sent()] == ["one"]  # arrived and counted before its answer
    clock.advance(0.0299)
    assert clock.sleepers == 1 and not first.done()
    clock.advance(0.2 - 0.0299)
    assert (await asyncio.wait_for(first, 10)).text == "one"
    # A refused send waits for its answer too.
    fake.enforce_limits(per_second=1, retry_after=1)
    await asyncio.gather(bot.send_message(USER, "two"), advance_when_held(clock))
    refused = asyncio.create_task(raw_post(fake, "sendMessage", chat_id=USER + 1, text="three"))
    await wait_for(lambda: clock.sleepers == 1, "the refusal is held")
    clock.advance(0.2)
    assert (await refused)[0] == 429


async def advance_when_held(clock: ManualClock) -> None:
    await wait_for(lambda: clock.sleepers == 1, "the answer is held")
    clock.advance(0.2)


async def test_wait_for_sent(fake: FakeTelegram, bot: Bot) -> None:
    waiting = asyncio.create_task(fake.wait_for_sent(2, chat_id=GROUP, timeout=10))
    await bot.send_message(GROUP, "one")
    assert not waiting.done()
    await bot.send_message(GROUP, "two")
    sent = await waiting
    assert [m.text for m in sent] == ["one", "two"]
    with pytest.raises(AssertionError, match=r"expected 3 sent to chat -100777 within 0.1s; got 2"):
        await fake.wait_for_sent(3, chat_id=GROUP, timeout=0.1)


# --- how uploads arrive -------------------------------------------------------------------------


def address(fake: FakeTelegram) -> tuple[str, int]:
    host, port = fake.base_url.removeprefix("http://").split("/")[0].split(":")
    return host, int(port)


async def exchange_raw(fake: FakeTelegram, request: bytes, pieces: tuple[int, ...] = ()) -> bytes:
    """Send raw HTTP bytes, first in pieces of these sizes (each read by the server on its
    own), then the rest at once; return the raw response."""
    reader, writer = await asyncio.open_connection(*address(fake))
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    at = 0
    for size in (*pieces, len(request)):
        writer.write(request[at : at + size])
        await writer.drain()
        for _ in range(3):  # the server runs in this event loop: let it read this piece alone
            await asyncio.sleep(0)
        at += size
        if at >= len(request):
            break
    async with asyncio.timeout(10):
        response = await reader.read()
    writer.close()
    await writer.wait_closed()
    return response


def multipart_request(fake: FakeTelegram, chat_id: int, photo: bytes, *, closed: bool = True) -> bytes:
    """A sendPhoto request written by hand, as raw HTTP/1.1 bytes (``closed=False``: the
    body lacks its closing delimiter)."""
    boundary = "dps-test-boundary-7d1c"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="chat_id"\r\n\r\n{chat_id}\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="caption"\r\n\r\nchart €\r\n'.encode(),
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="chart.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + photo
        + b"\r\n",
        f"--{boundary}--\r\n".encode() if closed else b"",
    ]
    body = b"".join(parts)
    head = (
        f"POST /bot{fake.token}/sendPhoto HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


@pytest.mark.parametrize(
    "pieces",
    [
        (),  # all at once
        (0, 3),  # the head, three bytes, the rest
        (100, 3),  # cut inside the caption's part
        (200, 1, 1, 1),
        (400, 3),  # cut inside the photo
        (70_000, 5),  # past aiohttp's first 64 KB file read
        (7,) * 300,  # many tiny pieces, then the rest
    ],
)
async def test_an_upload_parses_however_tcp_splits_it(fake: FakeTelegram, pieces: tuple[int, ...]) -> None:
    # aiohttp's streaming multipart reader calls its deprecated unread_data() when one read
    # returns less than a boundary and the next more than its chunk: a warning (an error
    # under -W error) that depended on how the upload happened to arrive over TCP.
    photo = bytes(range(256)) * 600  # 150 KB: more than two of aiohttp's 64 KB file reads
    request = multipart_request(fake, USER, photo)
    head = request.index(b"\r\n\r\n") + 4
    response = await exchange_raw(fake, request, (head + pieces[0], *pieces[1:]) if pieces else ())
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK", response[:300]
    answer = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert answer["result"]["caption"] == "chart €"
    [sent] = fake.sent(USER)
    assert (sent.method, sent.photo_bytes, sent.text) == ("sendPhoto", photo, "chart €")


async def test_a_malformed_multipart_body_is_bad_request(fake: FakeTelegram) -> None:
    response = await exchange_raw(fake, multipart_request(fake, USER, PNG, closed=False))
    assert response.startswith(b"HTTP/1.1 400 ")
    assert json.loads(response.partition(b"\r\n\r\n")[2]) == bad_request(
        "can't parse multipart/form-data body"
    )
    assert fake.sent() == []


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


@pytest.mark.parametrize(
    ("commands", "description"),
    [
        ([{"command": "Score", "description": "upper case"}], "BOT_COMMAND_INVALID"),
        ([{"command": "s" * 33, "description": "too long a name"}], "BOT_COMMAND_INVALID"),
        ([{"command": "score", "description": "d" * 257}], "BOT_COMMAND_DESCRIPTION_INVALID"),
        ([{"command": f"c{n}", "description": "many"} for n in range(101)], "BOT_COMMANDS_TOO_MUCH"),
    ],
)
async def test_refused_commands_answer_like_telegram(
    fake: FakeTelegram, commands: list[dict[str, str]], description: str
) -> None:
    assert await raw_post(fake, "setMyCommands", commands=commands) == (400, bad_request(description))
    assert fake.commands == []


async def test_the_limits_themselves_are_accepted(fake: FakeTelegram, bot: Bot) -> None:
    longest = [BotCommand("s" * 32, "d" * 256), *(BotCommand(f"c_{n}", "x") for n in range(99))]
    assert await bot.set_my_commands(longest)
    assert len(fake.commands) == 100


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


async def test_an_empty_long_poll_is_held_until_its_capped_timeout(
    fake: FakeTelegram, bot: Bot, clock: ManualClock
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await wait_for(lambda: fake.polls_held == 1, "the poll is held")
    clock.advance(fake.long_poll_cap - 0.25)
    assert clock.sleepers == 1  # still held: an empty answer at once would make a busy loop
    clock.advance(0.25)  # the cap (not the 5 s asked for) keeps tests fast
    assert await asyncio.wait_for(poll, 10) == ()
    assert fake.polls_held == 1


async def test_push_wakes_a_waiting_poll(fake: FakeTelegram, bot: Bot) -> None:
    # The clock never moves here: the poll can only end because the push woke it.
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await wait_for(lambda: fake.polls_held == 1, "the poll is held")
    update_id = fake.push_message(USER, "/start")
    updates = await asyncio.wait_for(poll, 10)
    assert [u.update_id for u in updates] == [update_id]


async def test_a_second_poller_terminates_the_first(fake: FakeTelegram, bot: Bot) -> None:
    # A second Bot: one Bot's getUpdates connection pool holds a single request at a time.
    async with Bot(fake.token, base_url=fake.base_url) as other:
        first = asyncio.create_task(bot.get_updates(timeout=5))
        await wait_for(lambda: fake.polls_held == 1, "the first poll is held")
        assert await other.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await asyncio.wait_for(first, 10)


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


async def test_a_clock_timer_is_on_the_clock_before_anything_else_runs() -> None:
    # The long poll's hold ends on such a timer: a test that advances the clock as soon as it
    # sees the hold counted must end it, however the event loop orders its callbacks.
    clock = ManualClock()
    early = clock.timer(1.0)
    later = clock.timer(5.0)
    clock.advance(1.0)
    assert early.done() and not later.done()
    assert clock.sleepers == 1
    clock.cancel(later)
    assert clock.sleepers == 0


async def test_allowed_updates_filters_like_telegram(
    fake: FakeTelegram, bot: Bot, clock: ManualClock
) -> None:
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
    held = fake.polls_held
    poll = asyncio.create_task(
        bot.get_updates(offset=member_id + 1, timeout=5, allowed_updates=[Update.CHAT_MEMBER])
    )
    await wait_for(lambda: fake.polls_held == held + 1, "the poll is held")
    fake.push_message(USER, "not wanted")
    await wait_for(lambda: fake.polls_held == held + 2, "the poll, woken, is held again")
    assert not poll.done()
    clock.advance(fake.long_poll_cap)
    assert await asyncio.wait_for(poll, 10) == ()
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
        # The fake's clock never moves, so a held poll never times out: stopping must not
        # wait for it (the deadline is generous, not a measurement).
        async with asyncio.timeout(10):
            await app.updater.stop()
            await app.stop()
    assert (sent.chat_id, sent.text, sent.reply_to) == (str(GROUP), "score ['BTC', 'eth']", 1)
    methods = [c.method for c in fake.calls]
    assert methods[:2] == ["getMe", "deleteWebhook"]
    assert "getUpdates" in methods
