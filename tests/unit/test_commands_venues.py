"""The read commands with three venues: the aggregate first, a venue on request.

Parsing of the venue words, ``/score``'s per-venue lines (with and without the aggregate's
shares in this process), ``/top`` and ``/chart`` on the aggregate or one venue, and the
single-venue answers left exactly as they were.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import arguments as argp
from bot.app.command_set import command_set_for
from bot.app.views import ChartReply, ErrorKind, ScoreCardReply, SettingsReply, TableReply, TextReply
from bot.core.aggregate import AGGREGATE_EXCHANGE, Aggregate
from bot.core.records import ChatKey, ChatKind, Platform, ScoreRecord
from bot.core.scoring import score
from bot.errors import InputError
from bot.render.documents import reply_document
from bot.render.plain_text import document_text
from tests.fakes.contract import store_scores
from tests.fakes.scored_market import INPUTS, LATEST, ChartSpy, ask, error_of, make_layer, populate, snapshot
from tests.fakes.storage import FakeStorage
from tests.fakes.venue_market import (
    PEPE,
    VENUE_SYMBOLS,
    VENUES,
    pepe_aggregate,
    pepe_record,
    three_venues,
    venue_layer,
)

# --- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "venue"),
    [("bybit", "bybit"), ("Bybit", "bybit"), ("OKX", "okx"), ("binance", "binanceusdm"), ("all", "all")],
)
def test_top_takes_a_venue_by_id_or_common_name(text: str, venue: str) -> None:
    assert argp.parse_top(f"5 {text} short", VENUES) == argp.TopArgs(5, argp.TopFilter.SHORT, venue=venue)


@given(st.permutations(["7", "squeeze", "okx"]))
def test_top_words_parse_the_same_in_any_order(order: list[str]) -> None:
    assert argp.parse_top(" ".join(order), VENUES) == argp.TopArgs(7, argp.TopFilter.SQUEEZE, venue="okx")


def test_an_unknown_venue_is_answered_with_the_configured_ones() -> None:
    with pytest.raises(InputError) as caught:
        argp.parse_top("kraken", VENUES)
    assert str(caught.value) == "'kraken' is not a venue here; the venues are: all, binanceusdm, bybit, okx."


def test_a_venue_not_collected_by_a_single_venue_bot_is_named_as_such() -> None:
    with pytest.raises(InputError, match=r"^'bybit' is not a venue here; the venues are: binanceusdm\.$"):
        argp.parse_top("bybit", ("binanceusdm",))
    with pytest.raises(InputError, match="not a venue here"):
        argp.parse_chart("btc all", ("binanceusdm",))


def test_a_single_venue_bot_answers_other_words_as_before() -> None:
    with pytest.raises(InputError, match=r"^I don't understand 'banana'\. Usage: /top \[N\]"):
        argp.parse_top("banana", ("binanceusdm",))
    assert argp.parse_top("5 short", ("binanceusdm",)) == argp.TopArgs(5, argp.TopFilter.SHORT)


def test_two_venues_in_one_top_are_refused() -> None:
    with pytest.raises(InputError, match="I don't understand 'okx'"):
        argp.parse_top("bybit okx", VENUES)


@pytest.mark.parametrize("text", ["btc okx 7d", "btc 7d okx", "btc OKX 1w"])
def test_chart_takes_a_venue_and_a_window_in_either_order(text: str) -> None:
    assert argp.parse_chart(text, VENUES) == argp.ChartArgs("btc", "7d", timedelta(days=7), "okx")


def test_chart_without_venue_or_window_is_the_default_market_over_24h() -> None:
    assert argp.parse_chart("btc", VENUES) == argp.ChartArgs("btc", "24h", timedelta(hours=24))
    with pytest.raises(InputError, match="not a venue here"):
        argp.parse_chart("btc kraken", VENUES)
    with pytest.raises(InputError, match="Usage: /chart SYMBOL \\[VENUE\\]"):
        argp.parse_chart("btc okx 7d more", VENUES)


# --- /score -----------------------------------------------------------------------------------


def card_text(reply: object) -> str:
    assert isinstance(reply, ScoreCardReply), reply
    return document_text(reply_document(reply))


async def test_score_shows_the_aggregate_then_each_venue_and_the_lone_stretch() -> None:
    layer = venue_layer(three_venues(FakeStorage()), {"PEPE": pepe_aggregate()})
    reply = await ask(layer, "score", "1000pepeusdt")
    assert isinstance(reply, ScoreCardReply)
    assert reply.card.latest.exchange == AGGREGATE_EXCHANGE
    assert reply.card.latest.symbol == "PEPE"
    lines = card_text(reply).splitlines()
    assert lines[0].startswith(f"PEPE · score {pepe_record(AGGREGATE_EXCHANGE).result.score} (lean)")
    binance = pepe_record("binanceusdm").result
    assert f"Binance 1000PEPEUSDT: {binance.score} stressed · SHORT · 38 % of OI" in card_text(reply)
    assert (
        "- Bybit 1000PEPEUSDT: 4 neutral · NEUTRAL · 42 % of OI · funding +0.0100%/8h · basis +0.00%" in lines
    )
    assert any(line.startswith("- OKX PEPE-USDT-SWAP: 4 neutral · NEUTRAL · 20 % of OI") for line in lines)
    assert lines[-2:] == [
        "Spread across venues: funding 0.5000 pt/8h · basis 1.30 pt",
        "Stressed on Binance only, 38 % of OI",
    ]


async def test_without_the_aggregate_in_process_each_venue_resolves_the_asset_and_shares_are_a_dash() -> None:
    layer = venue_layer(three_venues(FakeStorage()))
    reply = await ask(layer, "score", "pepe")
    assert isinstance(reply, ScoreCardReply) and reply.venues is not None
    rows = {(r.venue, r.symbol): r for r in reply.venues.rows}
    assert set(rows) == {(v, PEPE[v][0]) for v in VENUES}
    assert all(r.oi_share is None for r in rows.values())
    assert rows[("bybit", "1000PEPEUSDT")].score == 4
    # The flag still stands (no share to quote).
    assert card_text(reply).splitlines()[-1] == "Stressed on Binance only"


async def test_score_of_a_symbol_the_aggregate_lacks_is_the_first_venues_card() -> None:
    layer = venue_layer(three_venues(FakeStorage()))
    take = await ask(layer, "score", "take")
    assert isinstance(take, ScoreCardReply) and take.venues is None
    assert (take.card.latest.exchange, take.card.latest.symbol) == ("binanceusdm", "TAKEUSDT")
    unknown = error_of(await ask(layer, "score", "nosuchcoin"), ErrorKind.UNKNOWN_SYMBOL)
    assert unknown.message == "I don't know the symbol 'nosuchcoin' on binanceusdm."
    # BTC is on the aggregate: the card is the aggregate's, listing the three venues' symbols.
    reply = await ask(layer, "score", "btc")
    assert isinstance(reply, ScoreCardReply) and reply.venues is not None
    assert [(r.venue, r.symbol) for r in reply.venues.rows] == [
        ("binanceusdm", "BTCUSDT"),
        ("bybit", "BTCUSDT"),
        ("okx", "BTC-USDT-SWAP"),
    ]


async def test_a_single_venue_card_has_no_venue_lines() -> None:
    layer = make_layer(populate(FakeStorage()))
    reply = await ask(layer, "score", "btc")
    assert isinstance(reply, ScoreCardReply) and reply.venues is None
    assert "By venue" not in card_text(reply)


# --- /top and /chart ----------------------------------------------------------------------------


async def test_top_ranks_the_aggregate_by_default_and_one_venue_on_request() -> None:
    layer = venue_layer(three_venues(FakeStorage()))
    default = await ask(layer, "top")
    assert isinstance(default, TableReply)
    assert default.title == "Top 10 · all venues"
    assert {r.symbol for r in default.table.rows} == {*VENUE_SYMBOLS[AGGREGATE_EXCHANGE], "PEPE"}
    bybit = await ask(layer, "top", "bybit short")
    assert isinstance(bybit, TableReply)
    assert bybit.title == "Top 10 · SHORT bias · Bybit"
    assert bybit.table.rows and {r.symbol for r in bybit.table.rows} <= {
        *VENUE_SYMBOLS["bybit"],
        "1000PEPEUSDT",
    }
    assert all(r.result.bias.value == "SHORT" for r in bybit.table.rows)
    assert bybit.table.summary.count == len(VENUE_SYMBOLS["bybit"]) + 1


async def test_top_of_an_unknown_venue_lists_the_configured_ones() -> None:
    layer = venue_layer(three_venues(FakeStorage()))
    reply = error_of(await ask(layer, "top", "kraken"), ErrorKind.BAD_INPUT)
    assert "all, binanceusdm, bybit, okx" in reply.message


async def test_top_falls_back_to_the_first_venue_while_the_aggregate_has_no_scores() -> None:
    storage = FakeStorage()
    for venue in VENUES:
        populate(storage, symbols=VENUE_SYMBOLS[venue], exchange=venue)
    reply = await ask(venue_layer(storage), "top")
    assert isinstance(reply, TableReply)
    assert reply.title == "Top 10 · Binance"


async def test_chart_draws_the_aggregate_by_default_and_a_venue_by_name() -> None:
    spy = ChartSpy()
    layer = venue_layer(three_venues(FakeStorage()), chart=spy)
    default = await ask(layer, "chart", "btc")
    assert isinstance(default, ChartReply)
    assert {r.exchange for r in spy.views[-1].records} == {AGGREGATE_EXCHANGE}
    assert default.caption.startswith("BTC (all venues) · Derivatives Pressure Score, last 24h")
    okx = await ask(layer, "chart", "btc okx 7d")
    assert isinstance(okx, ChartReply)
    assert spy.views[-1].symbol == "BTC-USDT-SWAP"
    assert {r.exchange for r in spy.views[-1].records} == {"okx"}
    assert okx.caption.startswith("BTC-USDT-SWAP (OKX) · Derivatives Pressure Score, last 7d")
    assert okx.filename == "dps-okx-BTC-USDT-SWAP-7d.png"


async def test_chart_of_a_symbol_the_aggregate_lacks_is_the_first_venues() -> None:
    spy = ChartSpy()
    layer = venue_layer(three_venues(FakeStorage()), chart=spy)
    reply = await ask(layer, "chart", "take")
    assert isinstance(reply, ChartReply)
    assert reply.caption.startswith("TAKEUSDT (Binance) · ")
    assert {r.exchange for r in spy.views[-1].records} == {"binanceusdm"}
    unknown = error_of(await ask(layer, "chart", "nosuchcoin"), ErrorKind.UNKNOWN_SYMBOL)
    assert unknown.message == "I don't know the symbol 'nosuchcoin' on binanceusdm."


async def test_score_with_the_aggregate_reads_nothing_once_its_markets_are_prepared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The aggregate's card, its past and each member's line come from the prepared markets:
    the same card as the store's reads give, without a read."""
    storage = three_venues(FakeStorage())
    clock = [0.0]
    layer = venue_layer(
        storage, {"PEPE": pepe_aggregate()}, recheck=timedelta(seconds=2), monotonic=lambda: clock[0]
    )
    await ask(layer, "score", "pepe")  # prepares every venue's market and the aggregate's
    reads: list[str] = []
    for name in (
        "latest_scores",
        "past_scores",
        "score_at_many",
        "score_card",
        "score_history",
        "scores_at",
        "score_mark",
    ):
        real = getattr(storage.scores, name)

        def counted(*a: object, _real: object = real, _name: str = name, **kw: object) -> object:
            reads.append(_name)
            return _real(*a, **kw)  # type: ignore[operator]

        monkeypatch.setattr(storage.scores, name, counted)
    clock[0] = 1.9  # within the recheck: the prepared markets are trusted
    reply = await ask(layer, "score", "pepe")
    assert reads == []
    assert isinstance(reply, ScoreCardReply) and reply.venues is not None
    monkeypatch.undo()
    latest = reply.card.latest.ts
    now = LATEST + timedelta(minutes=2)  # ask's default
    members = pepe_aggregate().venues
    stored = storage.scores.scores_at(
        [
            (AGGREGATE_EXCHANGE, "PEPE", latest - timedelta(hours=1)),
            (AGGREGATE_EXCHANGE, "PEPE", latest - timedelta(hours=24)),
            *((p.venue, p.symbol, now) for p in members),
        ],
        timedelta(minutes=10),
    )
    assert (reply.card.hour_ago, reply.card.day_ago) == (stored[0], stored[1])
    assert any(found is not None for found in stored[2:])  # the lines are not all blank
    lines = {(row.venue, row.symbol): row.score for row in reply.venues.rows}
    assert lines == {
        (p.venue, p.symbol): None if found is None else found.result.score
        for p, found in zip(members, stored[2:], strict=True)
    }
    assert sorted(p.venue for p in members) == sorted(VENUES)


async def test_help_names_the_venue_argument_only_with_several_venues() -> None:
    several = await ask(venue_layer(three_venues(FakeStorage())), "help")
    single = await ask(make_layer(populate(FakeStorage())), "help")
    assert isinstance(several, TextReply) and isinstance(single, TextReply)
    commands = {s.heading: s.lines for s in several.sections}["Commands"]
    assert any(line.startswith("/top [N] [long|short|squeeze] [VENUE] — ") for line in commands)
    assert any(line.startswith("/chart SYMBOL [VENUE] [24h|7d] — ") for line in commands)
    assert "[VENUE]" not in document_text(reply_document(single))


# --- /score SYMBOL VENUE ----------------------------------------------------------------------


async def test_score_with_a_venue_shows_that_venues_own_card() -> None:
    layer = venue_layer(three_venues(FakeStorage()), {"PEPE": pepe_aggregate()})
    bybit = await ask(layer, "score", "btc bybit")
    assert isinstance(bybit, ScoreCardReply) and bybit.venues is None
    assert (bybit.card.latest.exchange, bybit.card.latest.symbol) == ("bybit", "BTCUSDT")
    okx = await ask(layer, "score", "pepe OKX")
    assert isinstance(okx, ScoreCardReply)
    assert (okx.card.latest.exchange, okx.card.latest.symbol) == ("okx", "PEPE-USDT-SWAP")
    aggregate = await ask(layer, "score", "pepe all")
    assert isinstance(aggregate, ScoreCardReply) and aggregate.venues is not None
    assert aggregate.card.latest.exchange == AGGREGATE_EXCHANGE


async def test_score_with_an_unknown_venue_or_a_symbol_not_listed_there_says_so() -> None:
    layer = venue_layer(three_venues(FakeStorage()))
    unknown = error_of(await ask(layer, "score", "btc kraken"), ErrorKind.BAD_INPUT)
    assert unknown.message == "'kraken' is not a venue here; the venues are: all, binanceusdm, bybit, okx."
    missing = error_of(await ask(layer, "score", "gala okx"), ErrorKind.UNKNOWN_SYMBOL)
    assert missing.message == "'gala' is not listed on OKX."
    usage = error_of(await ask(layer, "score", "btc bybit okx"), ErrorKind.BAD_INPUT)
    assert usage.message.startswith("Usage: /score SYMBOL [VENUE]")


async def test_a_single_venue_bot_answers_score_with_two_words_as_before() -> None:
    layer = make_layer(populate(FakeStorage()))
    reply = error_of(await ask(layer, "score", "btc bybit"), ErrorKind.BAD_INPUT)
    assert reply.message == "Usage: /score SYMBOL — one symbol, e.g. /score btc or /score 1000SHIBUSDT"


# --- /alerts venues -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "chosen"),
    [
        (["bybit", "okx"], {"bybit", "okx"}),
        (["Bybit", "bybit"], {"bybit"}),
        (["binance"], {"binanceusdm"}),
        (["all"], set()),  # the default, stored as no choice
        (["aggregate"], set()),
        (["all", "okx"], {"all", "okx"}),
    ],
)
def test_alert_venues_parse_names_and_ids(words: list[str], chosen: set[str]) -> None:
    change = argp.parse_alert_venues(words, VENUES)
    assert change is not None and change.fields == {"alert_venues": frozenset(chosen)}


def test_alert_venues_refuse_garbage_and_unknown_venues_listing_the_configured_ones() -> None:
    for word in ("kraken", "btc", "12", "<b>"):
        with pytest.raises(InputError) as caught:
            argp.parse_alert_venues(["bybit", word], VENUES)
        assert str(caught.value).endswith(
            "is not a venue here; the venues are: all, binanceusdm, bybit, okx."
        )
    assert argp.parse_alert_venues([], VENUES) is None  # show the choice
    with pytest.raises(
        InputError, match=r"^Only one venue is collected here \(binanceusdm\): alerts follow it\.$"
    ):
        argp.parse_alert_venues(["bybit"], ("binanceusdm",))


@given(st.lists(st.sampled_from(["all", *VENUES, "Bybit", "OKX", "binance"]), min_size=1, max_size=6))
def test_alert_venues_are_the_same_in_any_order(words: list[str]) -> None:
    change = argp.parse_alert_venues(words, VENUES)
    again = argp.parse_alert_venues(list(reversed(words)), VENUES)
    assert change is not None and again is not None and change.fields == again.fields


async def test_alerts_venues_choose_show_and_go_back_to_the_default() -> None:
    storage = three_venues(FakeStorage())
    layer = venue_layer(storage)
    shown = await ask(layer, "alerts", "venues")
    assert isinstance(shown, TextReply)
    assert (
        shown.sections[0].lines[0]
        == "Alerts and the daily digest follow all venues (the aggregate), the default."
    )
    assert storage.chats.chats == {}  # looking stores nothing
    saved = await ask(layer, "alerts", "venues okx bybit")
    assert isinstance(saved, SettingsReply)
    assert saved.changed == "Alerts and the daily digest follow Bybit and OKX: each one's own."
    (chat,) = storage.chats.chats.values()
    assert storage.chats.get_settings(chat.ref).alert_venues == {"bybit", "okx"}
    shown = await ask(layer, "alerts", "venues")
    assert isinstance(shown, TextReply)
    assert shown.sections[0].lines[0] == "Alerts and the daily digest follow Bybit and OKX."
    back = await ask(layer, "alerts", "venues all")
    assert isinstance(back, SettingsReply)
    assert storage.chats.get_settings(chat.ref).alert_venues == frozenset()


async def test_alerts_venues_with_an_unknown_venue_store_nothing() -> None:
    storage = three_venues(FakeStorage())
    layer = venue_layer(storage)
    reply = error_of(await ask(layer, "alerts", "venues bybit kraken"), ErrorKind.BAD_INPUT)
    assert "the venues are: all, binanceusdm, bybit, okx." in reply.message
    assert storage.chats.chats == {}


async def test_alerts_venues_in_a_group_are_for_admins() -> None:
    storage = three_venues(FakeStorage())
    group = ChatKey(Platform.TELEGRAM, "-100")
    reply = await ask(venue_layer(storage), "alerts", "venues bybit", chat=group, kind=ChatKind.GROUP)
    error_of(reply, ErrorKind.NOT_ALLOWED)
    assert storage.chats.chats == {}
    shown = await ask(venue_layer(storage), "alerts", "venues", chat=group, kind=ChatKind.GROUP)
    assert isinstance(shown, TextReply)  # looking is for anyone
    assert storage.chats.chats == {}


def test_the_discord_alerts_command_offers_venues_from_the_configured_ones() -> None:
    registry = command_set_for(VENUES)
    alerts = registry.get("alerts")
    assert alerts is not None
    action, _, venue = alerts.options
    assert "venues" in [c.value for c in action.choices]
    assert [c.value for c in venue.choices] == ["all", *VENUES]
    score = registry.get("score")
    assert score is not None and [o.name for o in score.options] == ["symbol", "venue"]
    single = command_set_for(("binanceusdm",))
    single_alerts = single.get("alerts")
    assert single_alerts is not None and "venues" not in [
        c.value for o in single_alerts.options for c in o.choices
    ]


# --- a venue missing from the aggregate -------------------------------------------------------


def without_bybit(agg: Aggregate) -> Aggregate:
    """The aggregate of a cycle in which Bybit had no fresh snapshot: ``combine`` left OI out."""
    parts = tuple(
        replace(v, oi_share=None, funding_8h_pct=None, basis_pct=None) if v.venue == "bybit" else v
        for v in agg.venues
    )
    return replace(agg, venues=parts, complete=False)


async def test_the_aggregate_card_names_a_venue_missing_from_its_sum() -> None:
    layer = venue_layer(three_venues(FakeStorage()), {"PEPE": without_bybit(pepe_aggregate())})
    reply = await ask(layer, "score", "pepe")
    assert isinstance(reply, ScoreCardReply) and reply.venues is not None
    assert reply.venues.missing == ("bybit",)
    assert "Partial: Bybit missing — funding and basis from the others, OI changes left out" in card_text(
        reply
    )
    whole = await ask(venue_layer(three_venues(FakeStorage()), {"PEPE": pepe_aggregate()}), "score", "pepe")
    assert "missing" not in card_text(whole)


async def test_top_of_the_aggregate_notes_the_rows_summed_without_a_venue() -> None:
    layer = venue_layer(three_venues(FakeStorage()), {"PEPE": without_bybit(pepe_aggregate())})
    for args in ("", "all"):
        reply = await ask(layer, "top", args)
        assert isinstance(reply, TableReply)
        assert "Missing a venue, OI changes left out: PEPE (Bybit)." in reply.notes
    bybit = await ask(layer, "top", "bybit")
    assert isinstance(bybit, TableReply) and not any("Missing" in n for n in bybit.notes)


# --- watchlists across venues -----------------------------------------------------------------


async def test_watch_covers_the_asset_on_the_aggregate_and_each_venue_listing_it() -> None:
    storage = three_venues(FakeStorage())
    layer = venue_layer(storage)
    await ask(layer, "watch", "btc take")
    (chat,) = storage.chats.chats.values()
    entries = {(e.exchange, e.symbol) for e in storage.chats.watchlist(chat.ref)}
    assert entries == {
        ("binanceusdm", "BTCUSDT"),
        ("binanceusdm", "TAKEUSDT"),  # listed on Binance only
        (AGGREGATE_EXCHANGE, "BTC"),
        ("bybit", "BTCUSDT"),
        ("okx", "BTC-USDT-SWAP"),
    }
    # A watchlist-only chat following the aggregate (the default) hears BTC from it.
    assert storage.chats.watched_symbols(AGGREGATE_EXCHANGE) == {chat.ref: frozenset({"BTC"})}
    shown = await ask(layer, "watchlist")
    assert isinstance(shown, TextReply) and shown.sections[-1].heading == "Watching 2"
    await ask(layer, "unwatch", "btc")
    assert {(e.exchange, e.symbol) for e in storage.chats.watchlist(chat.ref)} == {
        ("binanceusdm", "TAKEUSDT")
    }
    await ask(layer, "watch", "eth")
    await ask(layer, "unwatch", "all")
    assert storage.chats.watchlist(chat.ref) == []


SHIB = {
    "binanceusdm": "1000SHIBUSDT",
    "bybit": "SHIB1000USDT",
    "okx": "SHIB-USDT-SWAP",
    AGGREGATE_EXCHANGE: "SHIB",
}


def with_shib(storage: FakeStorage) -> FakeStorage:
    """SHIB as each venue names it (a multiplier before, after, or none) at the latest time."""
    store_scores(
        storage,
        [ScoreRecord(e, s, LATEST, INPUTS["BTCUSDT"], score(INPUTS["BTCUSDT"])) for e, s in SHIB.items()],
    )
    storage.snapshots.add_snapshots([snapshot(s, LATEST, e) for e, s in SHIB.items()])
    return storage


async def test_one_name_resolves_an_asset_on_every_venue_whatever_its_multiplier() -> None:
    storage = with_shib(three_venues(FakeStorage()))
    layer = venue_layer(storage)
    for venue in VENUES:
        card = await ask(layer, "score", f"shib {venue}")
        assert isinstance(card, ScoreCardReply), card
        assert (card.card.latest.exchange, card.card.latest.symbol) == (venue, SHIB[venue])
    await ask(layer, "watch", "shib")
    (chat,) = storage.chats.chats.values()
    assert {(e.exchange, e.symbol) for e in storage.chats.watchlist(chat.ref)} == set(SHIB.items())
    await ask(layer, "unwatch", "shib")
    assert storage.chats.watchlist(chat.ref) == []


async def test_a_single_venue_watchlist_is_as_before() -> None:
    storage = populate(FakeStorage())
    await ask(make_layer(storage), "watch", "btc")
    (chat,) = storage.chats.chats.values()
    assert [(e.exchange, e.symbol) for e in storage.chats.watchlist(chat.ref)] == [("binanceusdm", "BTCUSDT")]
