"""Symbol resolution: what people type → the exchange's own ids, or close matches."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.core.instruments import canonical
from bot.core.symbols import MAX_SUGGESTIONS, SymbolIndex, bare_base, compact

# Binance-style ids from the seed, plus multiplier and look-alike names.
BINANCE = (
    "BTCUSDT",
    "ETHUSDT",
    "SPKUSDT",
    "ARBUSDT",
    "BTCDOMUSDT",
    "1000SHIBUSDT",
    "1000BONKUSDT",
    "1000000MOGUSDT",
    "1MBABYDOGEUSDT",
    "10000LADYSUSDT",
    "1INCHUSDT",
    "PERPUSDT",
    "0GUSDT",
    "PEOPLEUSDT",
)
OKX = ("BTC-USDT-SWAP", "ETH-USDT-SWAP", "SHIB-USDT-SWAP", "ARB-USDT-SWAP")

binance = SymbolIndex.of(BINANCE)
okx = SymbolIndex.of(OKX)


@pytest.mark.parametrize(
    "typed",
    [
        "btc",
        "BTC",
        "BTCUSDT",
        "btcusdt",
        "BTC/USDT:USDT",
        "btc/usdt",
        "BTC-USDT-SWAP",
        "BTC-USDT",
        "BTC_USDT",
        "  btc  ",
        "$btc",
        "BTCUSDT.P",
        "BTC-PERP",
    ],
)
def test_every_common_spelling_of_btc_finds_the_binance_id(typed: str) -> None:
    assert binance.resolve(typed).symbol == "BTCUSDT"


@pytest.mark.parametrize("typed", ["btc", "BTC", "BTCUSDT", "btcusdt", "BTC/USDT:USDT", "btc-usdt-swap"])
def test_the_same_spellings_find_the_okx_id(typed: str) -> None:
    assert okx.resolve(typed).symbol == "BTC-USDT-SWAP"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("shib", "1000SHIBUSDT"),
        ("SHIB", "1000SHIBUSDT"),
        ("shibusdt", "1000SHIBUSDT"),
        ("SHIB/USDT:USDT", "1000SHIBUSDT"),
        ("1000shib", "1000SHIBUSDT"),
        ("1000SHIBUSDT", "1000SHIBUSDT"),
        ("bonk", "1000BONKUSDT"),
        ("mog", "1000000MOGUSDT"),
        ("MOGUSDT", "1000000MOGUSDT"),
        ("babydoge", "1MBABYDOGEUSDT"),
        ("1mbabydoge", "1MBABYDOGEUSDT"),
        ("ladys", "10000LADYSUSDT"),
    ],
)
def test_multiplier_contracts_are_found_by_their_bare_name(typed: str, expected: str) -> None:
    assert binance.resolve(typed).symbol == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("1inch", "1INCHUSDT"), ("perp", "PERPUSDT"), ("0g", "0GUSDT"), ("btcdom", "BTCDOMUSDT")],
)
def test_names_that_only_look_like_prefixes_or_suffixes_are_left_alone(typed: str, expected: str) -> None:
    assert binance.resolve(typed).symbol == expected


def test_a_plain_listing_wins_over_a_multiplier_one() -> None:
    index = SymbolIndex.of(["SHIBUSDT", "1000SHIBUSDT"])
    assert index.resolve("shib").symbol == "SHIBUSDT"
    assert index.resolve("1000shib").symbol == "1000SHIBUSDT"


def test_two_multiplier_listings_of_one_coin_are_offered_not_guessed() -> None:
    index = SymbolIndex.of(["1000SHIBUSDT", "1MSHIBUSDT"])
    found = index.resolve("shib")
    assert found.symbol is None
    assert set(found.suggestions) == {"1000SHIBUSDT", "1MSHIBUSDT"}


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("bct", "BTCUSDT"),
        ("btcc", "BTCUSDT"),
        ("spkk", "SPKUSDT"),
        ("etth", "ETHUSDT"),
        ("peple", "PEOPLEUSDT"),
    ],
)
def test_an_unknown_symbol_gets_close_matches(typed: str, meant: str) -> None:
    found = binance.resolve(typed)
    assert found.symbol is None
    assert meant in found.suggestions
    assert len(found.suggestions) <= MAX_SUGGESTIONS


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "🚀",
        "btc🚀",
        "ВТС",  # Cyrillic look-alikes are not BTC
        "BTC'; DROP TABLE scores;--",
        "x" * 41,
        "BTC" * 1000,
        "\x00btc",
        "btc\u202e",
    ],
)
def test_junk_resolves_to_nothing(typed: str) -> None:
    assert binance.resolve(typed).symbol is None


def test_compact_and_bare_base() -> None:
    assert compact("btc/usdt:usdt") == "BTCUSDT"
    assert compact("ETH-USDT-SWAP") == "ETHUSDT"
    assert compact("$shib") == "SHIB"
    assert compact("btc usdt") == "BTCUSDT"
    assert compact("🚀") is None
    assert compact("") is None
    assert bare_base("1000000MOGUSDT") == "MOG"
    assert bare_base("1MBABYDOGEUSDT") == "BABYDOGE"
    assert bare_base("1INCHUSDT") == "1INCH"
    assert bare_base("USDT") == "USDT"
    assert bare_base("1000") == "1000"


# Bybit linear and OKX swap ids of the same assets: multipliers before or after the name.
BYBIT = ("BTCUSDT", "SHIB1000USDT", "1000PEPEUSDT", "1000BONKUSDT", "10000LADYSUSDT", "1INCHUSDT", "C98USDT")
OKX_SWAPS = ("BTC-USDT-SWAP", "SHIB-USDT-SWAP", "PEPE-USDT-SWAP", "BONK-USDT-SWAP", "1INCH-USDT-SWAP")


@pytest.mark.parametrize(
    ("typed", "binance_id", "bybit_id", "okx_id"),
    [
        ("shib", "1000SHIBUSDT", "SHIB1000USDT", "SHIB-USDT-SWAP"),
        ("SHIB/USDT:USDT", "1000SHIBUSDT", "SHIB1000USDT", "SHIB-USDT-SWAP"),
        ("$shib", "1000SHIBUSDT", "SHIB1000USDT", "SHIB-USDT-SWAP"),
        ("1000shib", "1000SHIBUSDT", "SHIB1000USDT", "SHIB-USDT-SWAP"),
        ("shib1000usdt", "1000SHIBUSDT", "SHIB1000USDT", "SHIB-USDT-SWAP"),
        ("pepe", "1000PEPEUSDT", "1000PEPEUSDT", "PEPE-USDT-SWAP"),
        ("bonk", "1000BONKUSDT", "1000BONKUSDT", "BONK-USDT-SWAP"),
        ("1inch", "1INCHUSDT", "1INCHUSDT", "1INCH-USDT-SWAP"),
        ("btc", "BTCUSDT", "BTCUSDT", "BTC-USDT-SWAP"),
    ],
)
def test_one_name_finds_the_asset_on_each_venue_whatever_its_multiplier(
    typed: str, binance_id: str, bybit_id: str, okx_id: str
) -> None:
    venues = ((*BINANCE, "1000PEPEUSDT"), BYBIT, OKX_SWAPS)
    found = [SymbolIndex.of(ids).resolve(typed).symbol for ids in venues]
    assert found == [binance_id, bybit_id, okx_id]


@pytest.mark.parametrize(
    ("venue_id", "asset"),
    [
        ("SHIB1000USDT", "SHIB"),
        ("1000PEPEUSDT", "PEPE"),
        ("SHIB-USDT-SWAP", "SHIB"),
        ("1MBABYDOGEUSDT", "BABYDOGE"),
        ("C98USDT", "C98"),
        ("1000XUSDT", "1000X"),  # one letter after a multiplier is a name, not 1000 x "X"
    ],
)
def test_the_bare_base_is_the_instruments_canonical_asset(venue_id: str, asset: str) -> None:
    key = compact(venue_id)
    assert key is not None
    assert bare_base(key) == asset
    read = canonical(key.removesuffix("USDT"))
    assert read is not None and read[0] == asset


def test_a_suffix_multiplier_next_to_a_plain_listing_is_offered_not_guessed() -> None:
    index = SymbolIndex.of(["SHIBUSDT", "SHIB1000USDT", "1000SHIBUSDT"])
    assert index.resolve("shib").symbol == "SHIBUSDT"  # the plain id is its own key
    found = SymbolIndex.of(["SHIB1000USDT", "1000SHIBUSDT"]).resolve("shib")
    assert found.symbol is None
    assert set(found.suggestions) == {"SHIB1000USDT", "1000SHIBUSDT"}


@given(
    name=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=10),
    multiplier=st.sampled_from(["1000", "10000", "1000000"]),
    before=st.booleans(),
)
def test_any_multiplier_listing_is_found_by_its_bare_name(name: str, multiplier: str, before: bool) -> None:
    assume(not name.endswith("USDT"))  # XUSDT typed is read as X quoted in USDT
    venue_id = f"{multiplier}{name}USDT" if before else f"{name}{multiplier}USDT"
    index = SymbolIndex.of([venue_id, "BTCUSDT"])
    assert index.resolve(name.lower()).symbol == (venue_id if name != "BTC" else "BTCUSDT")


def test_an_empty_index_knows_nothing() -> None:
    found = SymbolIndex.of([]).resolve("btc")
    assert found.symbol is None
    assert found.suggestions == ()


# --- properties --------------------------------------------------------------------------

symbol_like = st.from_regex(r"[\$ ]?[A-Za-z0-9]{0,12}([/\-_:. ][A-Za-z0-9]{0,6}){0,3}", fullmatch=True)
any_text = st.one_of(st.text(), st.text(max_size=2000), symbol_like, st.sampled_from(BINANCE + OKX))


@given(text=any_text, okx_market=st.booleans())
def test_resolve_never_raises_and_only_names_known_symbols(text: str, okx_market: bool) -> None:
    index = okx if okx_market else binance
    found = index.resolve(text)
    assert found.symbol is None or found.symbol in index.known
    assert set(found.suggestions) <= index.known
    assert len(found.suggestions) <= MAX_SUGGESTIONS
    if found.symbol is not None:
        assert found.suggestions == ()


@given(ids=st.lists(st.sampled_from(BINANCE), unique=True, min_size=1), data=st.data())
def test_every_known_id_resolves_to_itself_in_any_case(ids: list[str], data: st.DataObject) -> None:
    index = SymbolIndex.of(ids)
    chosen = data.draw(st.sampled_from(ids))
    assert index.resolve(chosen).symbol == chosen
    assert index.resolve(chosen.lower()).symbol == chosen
    assert index.resolve(f"{chosen[:-4]}/USDT:USDT").symbol == chosen
