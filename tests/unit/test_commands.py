"""The command layer's read commands, error paths and hostile input, over the fake stores.

Settings commands, admin rules and the rate limit are in ``test_command_settings.py``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app.arguments import TOP_MAX
from bot.app.command_limits import RateLimit
from bot.app.commands import APOLOGY, COMMANDS, CommandLayer, CommandRequest
from bot.app.views import (
    ChartReply,
    ChartView,
    ErrorKind,
    ErrorReply,
    ScoreCardReply,
    StatusReply,
    TableReply,
    TextReply,
    TrackReply,
)
from bot.core.bands import legend_lines
from bot.core.models import Band, Bias
from bot.core.records import ChatKind, OutboxMessage
from bot.errors import ChartError, StorageError
from bot.render.table import markdown_table
from bot.render.text import render_text
from tests.fakes.contract import note
from tests.fakes.scored_market import (
    FAKE_PNG,
    FLOORS,
    GROUP_CHAT,
    LATEST,
    PRIVATE_CHAT,
    SOURCE,
    SYMBOLS,
    ChartSpy,
    ask,
    chat_state,
    error_of,
    make_layer,
    populate,
    request,
)
from tests.fakes.storage import FakeStorage


@pytest.fixture
def storage() -> FakeStorage:
    return populate(FakeStorage())


@pytest.fixture
def layer(storage: FakeStorage) -> CommandLayer:
    return make_layer(storage)


@pytest.mark.parametrize("command", sorted(COMMANDS))
async def test_every_listed_command_is_answered(layer: CommandLayer, command: str) -> None:
    reply = await ask(layer, "/" + command)
    assert not (isinstance(reply, ErrorReply) and reply.kind is ErrorKind.UNKNOWN_COMMAND)


# --- /start and /help ----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["/help", "help", "/HELP", "/help@DpsBot", "/start"])
async def test_help_explains_the_bot_lists_every_command_and_the_legend(
    layer: CommandLayer, command: str
) -> None:
    reply = await ask(layer, command)
    assert isinstance(reply, TextReply)
    assert reply.source_label == SOURCE
    text = render_text(reply)
    for spec in COMMANDS.values():
        assert spec.usage in text
    for line in legend_lines(FLOORS):
        assert line in text
    assert "How to read it" in text
    assert "0-14 neutral" in text
    assert SOURCE in text


async def test_start_stores_a_private_chat_with_default_settings(
    layer: CommandLayer, storage: FakeStorage
) -> None:
    await ask(layer, "/start")
    assert len(storage.chats.chats) == 1


async def test_start_by_a_group_member_does_not_sign_the_group_up(
    layer: CommandLayer, storage: FakeStorage
) -> None:
    reply = await ask(layer, "/start", chat=GROUP_CHAT, kind=ChatKind.GROUP)
    assert isinstance(reply, TextReply)
    assert storage.chats.chats == {}


# --- /score --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "symbol"),
    [
        ("btc", "BTCUSDT"),
        ("BTC", "BTCUSDT"),
        ("BTCUSDT", "BTCUSDT"),
        ("btcusdt", "BTCUSDT"),
        ("BTC/USDT:USDT", "BTCUSDT"),
        ("BTC-USDT-SWAP", "BTCUSDT"),
        ("shib", "1000SHIBUSDT"),
        ("mog", "1000000MOGUSDT"),
    ],
)
async def test_score_finds_the_symbol_however_it_is_typed(
    layer: CommandLayer, typed: str, symbol: str
) -> None:
    reply = await ask(layer, "/score", typed)
    assert isinstance(reply, ScoreCardReply)
    assert reply.card.latest.symbol == symbol


async def test_score_card_has_every_component_the_changes_and_the_data_age(
    layer: CommandLayer, storage: FakeStorage
) -> None:
    reply = await ask(layer, "/score", "shib")
    assert isinstance(reply, ScoreCardReply)
    card = reply.card
    assert card.hour_ago is not None
    assert card.day_ago is not None
    assert card.hour_ago.ts == LATEST - timedelta(hours=1)
    assert card.day_ago.ts == LATEST - timedelta(hours=24)
    assert reply.change_1h == card.latest.result.score - card.hour_ago.result.score
    assert reply.change_24h == card.latest.result.score - card.day_ago.result.score
    assert reply.age == timedelta(minutes=2)
    assert not reply.stale
    text = render_text(reply)
    r = card.latest.result
    for expected in (
        "1000SHIBUSDT",
        f"score {r.score}",
        r.band.value,
        r.bias.value,
        r.label,
        "OI change: 1h -0.06% · 4h +2.0% · 24h +9.2%",
        "+0.005% per 4h = +0.010% per 8h",  # the 4h rate, its 8h equivalent
        "+11.0% annualised",
        "Basis (mark/index): -0.03%",
        "since 1h ago",
        "since 24h ago",
        "2025-01-06 12:00 UTC (2 min old)",
        SOURCE,
    ):
        assert expected in text, expected
    assert "STALE" not in text


async def test_a_partial_score_is_flagged(layer: CommandLayer) -> None:
    reply = await ask(layer, "/score", "mog")
    assert isinstance(reply, ScoreCardReply)
    assert reply.card.latest.result.partial
    text = render_text(reply)
    assert "partial" in text
    assert "4h —" in text


async def test_score_on_old_data_says_stale(layer: CommandLayer) -> None:
    reply = await ask(layer, "/score", "btc", now=LATEST + timedelta(minutes=11))
    assert isinstance(reply, ScoreCardReply)
    assert reply.stale
    assert "STALE" in render_text(reply)


async def test_score_of_an_unknown_symbol_offers_close_matches(layer: CommandLayer) -> None:
    reply = error_of(await ask(layer, "/score", "bct"), ErrorKind.UNKNOWN_SYMBOL)
    assert "BTCUSDT" in reply.suggestions
    text = render_text(reply)
    assert "'bct'" in text
    assert "Did you mean: BTCUSDT" in text


@pytest.mark.parametrize("args", ["", "   ", "btc eth"])
async def test_score_needs_exactly_one_symbol(layer: CommandLayer, args: str) -> None:
    reply = error_of(await ask(layer, "/score", args), ErrorKind.BAD_INPUT)
    assert "Usage: /score SYMBOL" in reply.message


# --- /top ----------------------------------------------------------------------------------


async def test_top_is_the_seed_table_ranked_with_a_summary_of_the_whole_market(layer: CommandLayer) -> None:
    reply = await ask(layer, "/top")
    assert isinstance(reply, TableReply)
    rows = reply.table.rows
    assert [row.rank for row in rows] == list(range(1, len(SYMBOLS) + 1))  # 8 symbols < N=10
    scores = [row.result.score for row in rows]
    assert scores == sorted(scores, reverse=True)
    summary = reply.table.summary
    assert summary.count == len(SYMBOLS)
    assert summary.long + summary.short + summary.neutral == len(SYMBOLS)
    assert reply.as_of == LATEST
    assert not reply.stale
    text = render_text(reply)
    assert text.startswith("Derivatives Pressure Score · Top 10")
    assert "Avg stress" in text
    assert SOURCE in text
    assert "* partial" in text  # MOG is partial
    markdown = markdown_table(reply.table)  # `dps top`'s pipe format
    assert "| # | Symbol | Score |" in markdown
    assert SOURCE in markdown


@pytest.mark.parametrize(
    ("args", "limit", "bias"),
    [("3", 3, None), ("short", 10, Bias.SHORT), ("2 long", 2, Bias.LONG), ("long 2", 2, Bias.LONG)],
)
async def test_top_takes_n_and_a_side_in_any_order(
    layer: CommandLayer, args: str, limit: int, bias: Bias | None
) -> None:
    reply = await ask(layer, "/top", args)
    assert isinstance(reply, TableReply)
    assert len(reply.table.rows) <= limit
    assert reply.table.rows
    if bias is not None:
        assert {row.result.bias for row in reply.table.rows} == {bias}
    assert reply.table.summary.count == len(SYMBOLS)  # the header still covers everything


async def test_top_squeeze_shows_only_squeeze_risk_regimes(layer: CommandLayer) -> None:
    reply = await ask(layer, "/top", "squeeze")
    assert isinstance(reply, TableReply)
    assert [row.symbol for row in reply.table.rows] == ["ARBUSDT"]
    assert "squeeze risk" in reply.title


async def test_top_caps_n_at_fifty_and_says_so(storage: FakeStorage) -> None:
    many = tuple(f"X{i:02d}USDT" for i in range(60))
    layer = make_layer(populate(FakeStorage(), symbols=many, history=timedelta(0)))
    for args in ("500", "99999999999999999999999"):
        reply = await layer.handle(request("/top", args))
        assert isinstance(reply, TableReply)
        assert len(reply.table.rows) == TOP_MAX
        assert any("at most 50" in note for note in reply.notes)


async def test_top_with_a_filter_nothing_matches_says_so() -> None:
    layer = make_layer(populate(FakeStorage(), symbols=("BTCUSDT",)))
    reply = await layer.handle(request("/top", "short"))
    assert isinstance(reply, TableReply)
    assert reply.table.rows == ()
    assert "No symbol matches" in render_text(reply)


@pytest.mark.parametrize("args", ["0", "-3", "banana", "long short", "5 5", "٣", "1.5"])
async def test_top_rejects_what_it_does_not_understand(layer: CommandLayer, args: str) -> None:
    reply = error_of(await ask(layer, "/top", args), ErrorKind.BAD_INPUT)
    assert "/top [N] [long|short|squeeze]" in reply.message


async def test_top_on_old_data_shows_it_marked_stale(layer: CommandLayer) -> None:
    reply = await ask(layer, "/top", now=LATEST + timedelta(hours=2))
    assert isinstance(reply, TableReply)
    assert reply.stale
    assert "STALE" in render_text(reply)


# --- before the first collection -----------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "args"),
    [("/top", ""), ("/score", "btc"), ("/chart", "btc"), ("/track", ""), ("/track", "btc")],
)
async def test_reads_before_any_data_say_there_is_none_yet(command: str, args: str) -> None:
    layer = make_layer(FakeStorage())
    reply = error_of(await layer.handle(request(command, args)), ErrorKind.NO_DATA)
    assert "No scores yet" in reply.message


# --- /track --------------------------------------------------------------------------------


async def test_track_answers_for_the_market_and_for_one_symbol(layer: CommandLayer) -> None:
    market = await ask(layer, "/track")
    assert isinstance(market, TrackReply)
    assert (market.symbol, market.exchange, market.source_label) == (None, "binanceusdm", SOURCE)
    assert [g.band for g in market.record.bands] == list(Band)
    one = await ask(layer, "/track", "eth")
    assert isinstance(one, TrackReply) and one.symbol == "ETHUSDT"
    # populate() stores 25 h of scores and only the latest snapshots: no outcome is known.
    assert all(g.known == 0 and not g.enough and g.median_move_pct is None for g in one.record.bands)
    assert "not enough history yet" in render_text(one)


@pytest.mark.parametrize(
    ("args", "kind", "said"),
    [
        ("../../", ErrorKind.UNKNOWN_SYMBOL, "I don't know the symbol '../../'"),
        ("x" * 500, ErrorKind.UNKNOWN_SYMBOL, "I don't know the symbol 'xxxxxxxx"),
        ("x" * 501, ErrorKind.BAD_INPUT, "too much text"),
        ("sui", ErrorKind.UNKNOWN_SYMBOL, "I don't know the symbol 'sui'"),
        ("btc eth", ErrorKind.BAD_INPUT, "One symbol at most"),
    ],
)
async def test_track_refuses_what_it_cannot_answer_and_stores_nothing(
    layer: CommandLayer, storage: FakeStorage, args: str, kind: ErrorKind, said: str
) -> None:
    before = chat_state(storage)
    reply = error_of(await ask(layer, "/track", args), kind)
    assert said in reply.message
    assert chat_state(storage) == before


# --- /chart --------------------------------------------------------------------------------


async def test_chart_renders_the_symbols_history_over_the_window(storage: FakeStorage) -> None:
    spy = ChartSpy()
    layer = make_layer(storage, chart=spy)
    reply = await layer.handle(request("/chart", "spk"))
    assert isinstance(reply, ChartReply)
    assert reply.png == FAKE_PNG
    assert reply.filename == "dps-SPKUSDT-24h.png"
    assert "SPKUSDT" in reply.caption
    assert reply.source_label == SOURCE
    view = spy.views[-1]
    assert view.symbol == "SPKUSDT"
    assert view.window == "24h"
    assert view.band_floors == FLOORS
    assert view.records[0].ts >= LATEST - timedelta(hours=24)
    assert view.records[-1].ts == LATEST
    assert [r.ts for r in view.records] == sorted(r.ts for r in view.records)

    week = await layer.handle(request("/chart", "spk 7d"))
    assert isinstance(week, ChartReply)
    assert spy.views[-1].window == "7d"
    assert spy.views[-1].records[0].ts == LATEST - timedelta(hours=25)  # all there is


@pytest.mark.parametrize("args", ["", "btc 1y", "btc 24h extra"])
async def test_chart_rejects_bad_arguments(layer: CommandLayer, args: str) -> None:
    error_of(await ask(layer, "/chart", args), ErrorKind.BAD_INPUT)


async def test_chart_says_so_when_the_chart_worker_fails(storage: FakeStorage) -> None:
    async def failing(_: ChartView) -> bytes:
        raise ChartError("the chart worker took over 20 s and was stopped")

    layer = make_layer(storage, chart=failing)
    reply = error_of(await layer.handle(request("/chart", "spk")), ErrorKind.UNAVAILABLE)
    assert "could not be drawn just now" in reply.message
    assert "worker" not in reply.message  # the operator's detail stays in the log


async def test_chart_without_a_renderer_says_charts_are_unavailable(storage: FakeStorage) -> None:
    layer = make_layer(storage, chart=None, charts=False)
    error_of(await layer.handle(request("/chart", "btc")), ErrorKind.UNAVAILABLE)


# --- /status -------------------------------------------------------------------------------


async def test_status_reports_exchange_symbols_collection_age_and_outbox(storage: FakeStorage) -> None:
    chat = storage.chats.ensure_chat(GROUP_CHAT, kind=ChatKind.GROUP, now=LATEST)
    storage.outbox.enqueue([OutboxMessage(f"k{i}", chat.ref, note("alert"), LATEST) for i in range(3)])
    layer = make_layer(storage, last_cycle=lambda: "8 symbols scored, 0 failed in 0.4s")
    reply = await layer.handle(request("/status"))
    assert isinstance(reply, StatusReply)
    assert reply.exchange == "binanceusdm"
    assert reply.symbols == len(SYMBOLS)
    assert reply.last_collection == LATEST
    assert not reply.stale
    assert reply.outbox == (("pending", 3),)
    text = render_text(reply)
    for expected in ("binanceusdm", "Symbols tracked: 8", "2 min ago (fresh)", "pending 3", "0.4s", SOURCE):
        assert expected in text


async def test_status_says_stale_when_data_is_older_than_two_intervals(layer: CommandLayer) -> None:
    reply = await ask(layer, "/status", now=LATEST + timedelta(minutes=10, seconds=1))
    assert isinstance(reply, StatusReply)
    assert reply.stale
    assert "STALE" in render_text(reply)
    fresh = await ask(layer, "/status", now=LATEST + timedelta(minutes=10))
    assert isinstance(fresh, StatusReply)
    assert not fresh.stale


async def test_status_before_any_collection() -> None:
    reply = await make_layer(FakeStorage()).handle(request("/status"))
    assert isinstance(reply, StatusReply)
    assert reply.last_collection is None
    assert "none has finished yet" in render_text(reply)


# --- labels, unknown commands, failures ----------------------------------------------------


@pytest.mark.parametrize(
    ("command", "args"),
    [("/help", ""), ("/score", "btc"), ("/top", ""), ("/chart", "btc"), ("/status", ""), ("/alerts", "")],
)
async def test_the_source_label_is_shown_whenever_set(storage: FakeStorage, command: str, args: str) -> None:
    labelled = render_text(await make_layer(storage).handle(request(command, args)))
    assert SOURCE in labelled
    plain = render_text(await make_layer(storage, source_label=None).handle(request(command, args)))
    assert "Source:" not in plain


@pytest.mark.parametrize("command", ["/foo", "/", "", "/scoreboard", "/" + "x" * 5000, "/sc\x00ore", "/🚀"])
async def test_an_unknown_command_points_to_help(layer: CommandLayer, command: str) -> None:
    reply = error_of(await ask(layer, command), ErrorKind.UNKNOWN_COMMAND)
    assert "/help" in reply.message
    assert len(reply.message) < 120
    assert "\x00" not in reply.message


class BrokenScores:
    """A score store whose reads fail the way a bug or a dead database would."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name: str) -> object:
        def fail(*args: object, **kwargs: object) -> object:
            raise self.error

        return fail


@pytest.mark.parametrize(
    ("error", "kind", "message"),
    [
        (RuntimeError("secret internals"), ErrorKind.INTERNAL, APOLOGY),
        (StorageError("database is locked"), ErrorKind.UNAVAILABLE, "database did not answer"),
    ],
)
async def test_a_failure_inside_is_logged_and_answered_with_an_apology(
    storage: FakeStorage,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    kind: ErrorKind,
    message: str,
) -> None:
    layer = make_layer(storage)
    layer.queries._scores = BrokenScores(error)  # type: ignore[assignment]
    with caplog.at_level(logging.ERROR, logger="bot.app.commands"):
        reply = error_of(await layer.handle(request("/top")), kind)
    assert message in reply.message
    assert "secret" not in reply.message
    assert "Traceback" not in reply.message
    assert any(record.exc_info for record in caplog.records)


def test_a_request_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        request("/top", now=LATEST.replace(tzinfo=None))


# --- hostile input -------------------------------------------------------------------------

HOSTILE = [
    "x" * 1_000_000,
    " ".join(["btc"] * 10_000),
    " ".join(f"S{i}USDT" for i in range(10_000)),
    "btc\x00",
    "\x1b[2J\x1b[31mred",
    "btc\u202eeth",
    "'; DROP TABLE chats; --",
    "1 OR 1=1",
    "🚀🚀🚀 to the moon",
    "on 08:00 ../../etc/passwd",
    "on 99:99 Mars/Olympus",
    "kinds " + ",".join(["band_up"] * 5000),
    "min " + "stressed" * 100,
    "quiet 22:00-22:00",
    "\ud800",
]


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("args", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_arguments_get_a_clear_reply_and_store_nothing(
    layer: CommandLayer, storage: FakeStorage, command: str, args: str
) -> None:
    before = chat_state(storage)
    reply = await ask(layer, "/" + command, args)
    assert render_text(reply)
    if isinstance(reply, ErrorReply):
        assert reply.kind is not ErrorKind.INTERNAL
        assert chat_state(storage) == before


_PROPERTY_STORAGE = populate(FakeStorage())
_PROPERTY_LAYER = make_layer(_PROPERTY_STORAGE, rate_limit=RateLimit(burst=10**9))
command_names = st.one_of(st.sampled_from(sorted(COMMANDS)), st.text(max_size=40))
arg_texts = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="ascii"), max_size=60),
    st.lists(st.sampled_from(["btc", "shib", "on", "off", "min", "kinds", "7d", "long", "08:00", "UTC"])).map(
        " ".join
    ),
    st.sampled_from(HOSTILE),
)


@given(command=command_names, args=arg_texts, kind=st.sampled_from(list(ChatKind)), admin=st.booleans())
def test_any_text_to_any_command_gets_a_reply_and_invalid_input_stores_nothing(
    command: str, args: str, kind: ChatKind, admin: bool
) -> None:
    before = chat_state(_PROPERTY_STORAGE)
    req = CommandRequest(
        chat=PRIVATE_CHAT if kind is ChatKind.PRIVATE else GROUP_CHAT,
        chat_kind=kind,
        user_id="7",
        is_chat_admin=admin,
        command=command,
        args=args,
        now=LATEST + timedelta(minutes=1),
    )
    reply = asyncio.run(_PROPERTY_LAYER.handle(req))
    assert render_text(reply)
    if isinstance(reply, ErrorReply):
        assert reply.kind is not ErrorKind.INTERNAL, reply
        assert chat_state(_PROPERTY_STORAGE) == before
