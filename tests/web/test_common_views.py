"""The common views (``/``, ``/table``, ``/api/v1/top``) are prepared ahead of requests: a new
cycle is noticed by polling the store, not by a request, and a request arriving while the new
bodies are prepared gets the previous ones at once. Bodies go gzipped to clients that accept it."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from bot.core.records import ScoreRecord
from bot.web import payloads
from bot.web.render_cache import GZIP_MIN_BYTES
from bot.web.site import CommonViews, Site, build_web_app
from bot.web_launch import web_deps
from tests.waiting import wait_for
from tests.web.conftest import Replayed, replayed

PLAIN = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip"}


@pytest.fixture
def market(tmp_path: Path) -> Iterator[Replayed]:
    """Two symbols, one cycle stored and one more to run."""
    run = replayed(tmp_path / "common.sqlite3", cycles=1, held_back=1, symbols=("SPKUSDT", "BTCUSDT"))
    yield run
    run.close()


def _site(web: TestClient) -> Site:
    site = web.app.state.site  # type: ignore[attr-defined]
    assert isinstance(site, Site)
    return site


def _views(site: Site) -> CommonViews:
    assert site.common is not None
    current = site.common.current
    assert current is not None
    return current


def _prepared(site: Site) -> None:
    common = site.common
    assert common is not None
    asyncio.run(wait_for(lambda: common.current is not None, "prepared views"))


def test_a_new_cycle_is_prepared_without_any_request(market: Replayed) -> None:
    with TestClient(build_web_app(web_deps(market.app))) as web:
        site = _site(web)
        _prepared(site)
        before = _views(site)
        moment = market.run_cycle()
        # No request from here on until the new market is prepared.
        asyncio.run(wait_for(lambda: _views(site).as_of == moment, "the new cycle's views"))
        renders = site._rendered.renders
        after = _views(site)
        assert after.table.etag != before.table.etag
        shown = f"{moment:%Y-%m-%d %H:%M} UTC"
        for path, body in (("/", after.page), ("/table", after.table), ("/api/v1/top", after.top)):
            answer = web.get(path, headers=PLAIN)
            assert answer.status_code == 200
            assert answer.content == body.body
            assert answer.headers["etag"] == body.etag
        assert shown in web.get("/table").text
        assert site._rendered.renders == renders  # the requests rendered nothing themselves


def test_a_request_during_a_preparation_gets_the_previous_bodies_at_once(market: Replayed) -> None:
    with TestClient(build_web_app(web_deps(market.app))) as web:
        site = _site(web)
        _prepared(site)
        old = _views(site)
        assert site.common is not None
        prepare = site.common._prepare
        entered, release = threading.Event(), threading.Event()

        def gated(previous: CommonViews | None) -> CommonViews | None:
            entered.set()
            release.wait(timeout=60)
            return prepare(previous)

        site.common._prepare = gated
        try:
            asyncio.run(wait_for(entered.is_set, "a preparation under way"))
            moment = market.run_cycle()  # stored while the preparation cannot finish
            with ThreadPoolExecutor(1) as pool:
                # Were a request to wait for the preparation, it would never come back.
                answers = {
                    path: pool.submit(web.get, path, headers=PLAIN).result(timeout=30)
                    for path in ("/", "/table", "/api/v1/top")
                }
            assert not release.is_set()
            assert answers["/"].content == old.page.body
            assert answers["/table"].content == old.table.body
            assert answers["/api/v1/top"].content == old.top.body
        finally:
            release.set()
        asyncio.run(wait_for(lambda: _views(site).as_of == moment, "the new cycle's views"))
        assert f"{moment:%Y-%m-%d %H:%M} UTC" in web.get("/table").text


def test_the_gzip_body_is_the_plain_one_with_its_own_etag(market: Replayed) -> None:
    with TestClient(build_web_app(web_deps(market.app))) as web:
        _prepared(_site(web))
        for path in ("/", "/table", "/?filter=short", "/table?sort=score"):
            plain = web.get(path, headers=PLAIN)
            zipped = web.get(path, headers=GZIP)
            assert "content-encoding" not in plain.headers
            assert zipped.headers["content-encoding"] == "gzip"
            assert plain.headers["vary"] == zipped.headers["vary"] == "Accept-Encoding"
            assert zipped.content == plain.content  # httpx decoded it
            assert zipped.num_bytes_downloaded < len(plain.content) / 2
            assert zipped.headers["etag"] != plain.headers["etag"]
            refused = web.get(path, headers={"Accept-Encoding": "gzip;q=0, identity"})
            assert "content-encoding" not in refused.headers
        # Two symbols' /top is under a kilobyte: sent as it is, whatever the client accepts.
        small = web.get("/api/v1/top", headers=GZIP)
        assert len(small.content) < GZIP_MIN_BYTES
        assert "content-encoding" not in small.headers


def test_the_kept_gzip_bytes_decompress_to_the_body(market: Replayed) -> None:
    with TestClient(build_web_app(web_deps(market.app))) as web:
        site = _site(web)
        _prepared(site)
        for rendered in (_views(site).page, _views(site).table):
            assert rendered.gzipped is not None
            assert gzip.decompress(rendered.gzipped) == rendered.body


def test_the_page_revalidates_to_a_304_per_encoding(market: Replayed) -> None:
    with TestClient(build_web_app(web_deps(market.app))) as web:
        _prepared(_site(web))
        for headers in (PLAIN, GZIP):
            first = web.get("/", headers=headers)
            again = web.get("/", headers={**headers, "If-None-Match": first.headers["etag"]})
            assert again.status_code == 304
            assert again.content == b""
            assert again.headers["etag"] == first.headers["etag"]
        # One encoding's validator does not stand for the other's bytes.
        plain_tag = web.get("/", headers=PLAIN).headers["etag"]
        crossed = web.get("/", headers={**GZIP, "If-None-Match": plain_tag})
        assert crossed.status_code == 200
        assert crossed.headers["content-encoding"] == "gzip"


def test_a_score_card_is_read_once_per_market(market: Replayed, monkeypatch: pytest.MonkeyPatch) -> None:
    scores = market.app.collector.storage.scores
    past_scores = scores.past_scores
    reads: list[list[str]] = []

    def counted(
        exchange: str, newest: Mapping[str, datetime], ago: Sequence[timedelta], tolerance: timedelta
    ) -> dict[str, tuple[ScoreRecord | None, ...]]:
        reads.append(sorted(newest))
        return past_scores(exchange, newest, ago, tolerance)

    monkeypatch.setattr(scores, "past_scores", counted)
    # The path of a request that finds no prepared card (none prepared yet, or a name the
    # prepared market does not know): here, every request.
    unprepared = replace(web_deps(market.app), preparing=None, preparing_store=None)
    with TestClient(build_web_app(unprepared)) as web:
        first = web.get("/api/v1/score/btc").json()
        # Every card's scores 1h and 24h before the latest, one read with the market (the
        # page's own preparation in a worker thread may read it at the same moment).
        assert reads and all("BTCUSDT" in symbols for symbols in reads)
        kept = len(reads)
        again = web.get("/api/v1/score/BTCUSDT").json()
        assert len(reads) == kept  # kept: the market did not move
        assert again == first | {"age_seconds": again["age_seconds"]}
        expected = market.app.commands.queries.card("BTCUSDT", market.clock.now())
        assert expected is not None
        assert again["age_seconds"] == round(expected.age.total_seconds(), 3)
        assert again["stale"] is expected.stale
        before = len(reads)  # the card asked of the chats' Queries above read too
        moment = market.run_cycle()
        after = web.get("/api/v1/score/BTCUSDT").json()
        assert len(reads) > before  # a new market: read again
        assert after["ts"].startswith(f"{moment:%Y-%m-%dT%H:%M}")


def test_score_cards_are_prepared_with_the_market_and_no_request_reads_the_store(
    market: Replayed, monkeypatch: pytest.MonkeyPatch
) -> None:
    scores = market.app.collector.storage.scores
    reads: list[str] = []
    for name in ("score_mark", "scores_at", "score_at_many", "score_card", "latest_scores"):
        real = getattr(scores, name)

        def counted(*args: object, _real: Any = real, _name: str = name, **kwargs: object) -> Any:
            reads.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(scores, name, counted)
    with TestClient(build_web_app(web_deps(market.app))) as web:
        site = _site(web)
        _prepared(site)
        assert _views(site).scores is not None
        queries, exchange = market.app.commands.queries, site.deps.exchange

        def expected(symbol: str) -> bytes:
            card = queries.card(symbol, market.clock.now())
            assert card is not None
            return json.dumps(payloads.score_json(card, exchange), separators=(",", ":")).encode()

        for asked, symbol in (("btc", "BTCUSDT"), ("SPKUSDT", "SPKUSDT")):
            reads.clear()
            answer = web.get(f"/api/v1/score/{asked}")
            assert reads == []  # prepared: no read of the store at all
            assert answer.status_code == 200
            assert answer.content == expected(symbol)  # the very bytes of the per-request card
            again = web.get(f"/api/v1/score/{asked}", headers={"If-None-Match": answer.headers["etag"]})
            assert again.status_code == 304
        moment = market.run_cycle()
        # No request until the new market's cards are prepared.
        asyncio.run(wait_for(lambda: _views(site).as_of == moment, "the new cycle's views"))
        reads.clear()
        after = web.get("/api/v1/score/BTCUSDT")
        assert reads == []
        assert after.json()["ts"].startswith(f"{moment:%Y-%m-%dT%H:%M}")
        assert after.content == expected("BTCUSDT")
        # A name the prepared market does not know is looked up as before (404, suggestions).
        unknown = web.get("/api/v1/score/NOSUCHCOIN")
        assert unknown.status_code == 404
        assert "NOSUCHCOIN" in unknown.json()["error"]["message"]


def test_one_preparation_reads_each_market_s_mark_once(market: Replayed) -> None:
    deps = web_deps(market.app)
    store = deps.preparing_store
    assert store is not None and deps.preparing is not None
    site = Site(deps)
    made = site._prepare_common(deps.preparing, None)
    assert made is not None and made.scores is not None
    # Several venues here: the aggregate's mark is asked first (nothing stored there in this
    # market, so the views show the first venue's, as the cards do); each mark is read once
    # per preparation however many views use it (the first venue's was read three times).
    assert deps.preparing.venues
    assert made.exchange == deps.preparing.exchange
    assert store.reads == 2
    assert site._prepare_common(deps.preparing, made) is None  # nothing moved: nothing made
    assert store.reads == 4
