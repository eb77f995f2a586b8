"""The dashboard and the API with several venues: the aggregate by default, one venue on
request (query string, no script needed), anything else refused and escaped."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from starlette.testclient import TestClient

from bot.core.aggregate import AGGREGATE_EXCHANGE
from bot.web.site import WebDeps, build_web_app
from tests.fakes.scored_market import LATEST, make_layer, populate
from tests.fakes.storage import FakeStorage
from tests.fakes.venue_market import VENUE_SYMBOLS, three_venues, venue_layer

NOW = LATEST + timedelta(minutes=2)


class FixedClock:
    def now(self) -> datetime:
        return NOW


def client_over(storage: FakeStorage, *, venues: bool = True) -> TestClient:
    layer = venue_layer(storage) if venues else make_layer(storage)
    deps = WebDeps(
        queries=layer.queries, alert_states=storage.alert_states, clock=FixedClock(), exchange="binanceusdm"
    )
    return TestClient(build_web_app(deps))


def table_symbols(html: str) -> set[str]:
    return set(re.findall(r'<a href="/symbol/[^"]*">([^<]+)</a>', html))


def venue_links(html: str) -> dict[str, bool]:
    nav = re.search(r'<ul class="filters venues"[^>]*>(.*?)</ul>', html, re.S)
    assert nav is not None, "no venue filter on the page"
    links = re.findall(r'<a href="[^"]*"( aria-current="page")?>([^<]+)</a>', nav.group(1))
    return {label: bool(current) for current, label in links}


@pytest.fixture
def client() -> TestClient:
    return client_over(three_venues(FakeStorage()))


def test_the_dashboard_shows_the_aggregate_by_default_and_says_so(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert VENUE_SYMBOLS[AGGREGATE_EXCHANGE][0] in table_symbols(page.text)
    assert set(VENUE_SYMBOLS[AGGREGATE_EXCHANGE]) <= table_symbols(page.text)
    assert "TAKEUSDT" not in page.text  # a venue's own symbol, not aggregated
    assert "on all venues" in page.text
    assert venue_links(page.text) == {"All venues": True, "Binance": False, "Bybit": False, "OKX": False}


@pytest.mark.parametrize("venue", ["binanceusdm", "bybit", "okx", "all"])
def test_a_venue_link_shows_that_venue_alone_and_every_other_link_keeps_it(
    client: TestClient, venue: str
) -> None:
    page = client.get("/", params={"venue": venue}).text
    want = set(VENUE_SYMBOLS[venue])
    assert want <= table_symbols(page)
    others = {s for e, symbols in VENUE_SYMBOLS.items() if e != venue for s in symbols} - want
    assert not others & table_symbols(page)
    current = [label for label, on in venue_links(page).items() if on]
    assert len(current) == 1
    # Sorting, filtering, searching and the script's refresh stay on the venue.
    assert f'href="?filter=short&amp;venue={venue}"' in page
    assert re.search(rf'<a href="\?sort=symbol&amp;dir=asc&amp;venue={venue}">Symbol</a>', page)
    assert f'<input type="hidden" name="venue" value="{venue}">' in page
    assert f'data-src="/table?venue={venue}"' in page
    fragment = client.get("/table", params={"venue": venue}).text
    assert table_symbols(fragment) == table_symbols(page)


def test_the_venue_combines_with_the_filter_and_the_search(client: TestClient) -> None:
    page = client.get("/", params={"venue": "bybit", "q": "spk"}).text
    assert table_symbols(page) == {"SPKUSDT"}


@pytest.mark.parametrize("raw", ["kraken", "<script>alert(1)</script>", "ALL"])
def test_an_unknown_venue_is_a_400_naming_the_venues_escaped(client: TestClient, raw: str) -> None:
    for path in ("/", "/table", "/api/v1/top"):
        answer = client.get(path, params={"venue": raw})
        assert answer.status_code == 400, path
        assert "all, binanceusdm, bybit, okx" in answer.text
        if path == "/api/v1/top":
            assert answer.headers["content-type"] == "application/json"
        else:
            assert "<script>" not in answer.text


def test_the_api_top_takes_a_venue_and_names_the_exchange_it_shows(client: TestClient) -> None:
    default = client.get("/api/v1/top").json()
    assert default["exchange"] == AGGREGATE_EXCHANGE
    assert {r["symbol"] for r in default["rows"]} >= set(VENUE_SYMBOLS[AGGREGATE_EXCHANGE])
    okx = client.get("/api/v1/top", params={"venue": "okx", "limit": "1"}).json()
    assert okx["exchange"] == "okx"
    assert okx["rows"][0]["symbol"] in VENUE_SYMBOLS["okx"]
    assert len(okx["rows"]) == 1
    assert "OKX" in okx["title"]


def test_without_aggregate_scores_the_default_is_the_first_venue() -> None:
    storage = three_venues(FakeStorage())
    storage.scores.rows = {k: r for k, r in storage.scores.rows.items() if r.exchange != AGGREGATE_EXCHANGE}
    client = client_over(storage)
    page = client.get("/").text
    assert "TAKEUSDT" in table_symbols(page)
    assert venue_links(page)["Binance"] is True
    assert client.get("/api/v1/top").json()["exchange"] == "binanceusdm"


def test_a_single_venue_site_has_no_venue_filter_and_refuses_one() -> None:
    client = client_over(populate(FakeStorage()), venues=False)
    page = client.get("/")
    assert page.status_code == 200
    assert 'class="filters venues"' not in page.text
    answer = client.get("/api/v1/top", params={"venue": "binanceusdm"})
    assert answer.status_code == 400
    assert "one venue only" in answer.json()["error"]["message"]


def test_the_openapi_document_lists_the_venue_parameter(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/top", "/api/v1/score/{symbol}", "/api/v1/history/{symbol}"):
        names = [p["name"] for p in schema["paths"][path]["get"]["parameters"]]
        assert "venue" in names, path


@pytest.mark.parametrize(
    ("venue", "text", "symbol"),
    [("bybit", "btc", "BTCUSDT"), ("okx", "eth", "ETH-USDT-SWAP"), ("binanceusdm", "take", "TAKEUSDT")],
)
def test_the_api_score_and_history_take_a_venue(
    client: TestClient, venue: str, text: str, symbol: str
) -> None:
    card = client.get(f"/api/v1/score/{text}", params={"venue": venue})
    assert card.status_code == 200, card.text
    body = card.json()
    assert (body["exchange"], body["symbol"], body["venues"]) == (venue, symbol, None)
    history = client.get(f"/api/v1/history/{text}", params={"venue": venue}).json()
    assert (history["exchange"], history["symbol"]) == (venue, symbol)
    assert history["points"][-1]["score"] == body["score"]


def test_the_api_score_of_all_venues_is_the_aggregate_with_a_row_per_venue(client: TestClient) -> None:
    body = client.get("/api/v1/score/btc", params={"venue": "all"}).json()
    assert (body["exchange"], body["symbol"]) == (AGGREGATE_EXCHANGE, "BTC")
    rows = {r["exchange"]: r["symbol"] for r in body["venues"]["rows"]}
    assert rows == {"binanceusdm": "BTCUSDT", "bybit": "BTCUSDT", "okx": "BTC-USDT-SWAP"}
    assert all(0 <= r["oi_share"] <= 1 for r in body["venues"]["rows"] if r["oi_share"] is not None)


def test_without_a_venue_the_api_score_stays_the_first_venues(client: TestClient) -> None:
    body = client.get("/api/v1/score/btc").json()
    assert (body["exchange"], body["symbol"], body["venues"]) == ("binanceusdm", "BTCUSDT", None)


def test_a_symbol_missing_on_the_venue_asked_is_a_404_naming_it(client: TestClient) -> None:
    answer = client.get("/api/v1/score/spk", params={"venue": "binanceusdm"})
    assert answer.status_code == 404
    assert "binanceusdm" in answer.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/api/v1/score/btc", "/api/v1/history/btc"])
def test_the_symbol_apis_refuse_an_unknown_venue_and_a_venue_on_a_single_venue_site(
    client: TestClient, path: str
) -> None:
    answer = client.get(path, params={"venue": "<b>kraken</b>"})
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/json"
    assert "all, binanceusdm, bybit, okx" in answer.json()["error"]["message"]
    single = client_over(populate(FakeStorage()), venues=False)
    refused = single.get(path, params={"venue": "binanceusdm"})
    assert refused.status_code == 400
    assert "one venue only" in refused.json()["error"]["message"]
