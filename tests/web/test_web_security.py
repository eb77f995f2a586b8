"""Hostile symbols and query strings: everything is escaped, nothing executes, nothing leaks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from bot.bootstrap import App, build_app
from bot.config import load_settings
from bot.core.events import EventKind, LastAlert, Reading, SymbolState
from bot.core.models import ScoreInputs
from bot.core.records import ScoreRecord
from bot.core.scoring import score
from bot.web.security import CONTENT_SECURITY_POLICY
from bot.web.site import build_web_app
from bot.web_launch import web_deps

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
HOSTILE = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "'-alert(3)-'",
    "{{7*7}}USDT",
)


class FixedClock:
    def now(self) -> datetime:
        return NOW


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """A database whose symbols came from a hostile exchange (scores and alert states)."""
    db = tmp_path_factory.mktemp("hostile") / "hostile.sqlite3"
    app = build_app(load_settings(database_url=f"sqlite:///{db}", symbols=[]), clock=FixedClock())
    inputs = ScoreInputs(oi_1h_pct=2.0, oi_4h_pct=5.0, oi_24h_pct=30.0, funding_pct=0.12, basis_pct=0.4)
    result = score(inputs)
    records = [
        ScoreRecord(app.collector.exchange, symbol, NOW, inputs, result) for symbol in (*HOSTILE, "BTCUSDT")
    ]
    reading = Reading(NOW, result.score, result.band, result.bias, result.regime, result.label)
    states = [
        SymbolState(s, result.band, reading, (LastAlert(EventKind.BAND_UP, NOW, 2, True),)) for s in HOSTILE
    ]
    app.collector.storage.cycles.save_cycle(
        exchange=app.collector.exchange, scores=records, alert_states=states
    )
    yield app
    import asyncio

    asyncio.run(app.close())


@pytest.fixture(scope="module")
def web(hostile_app: App) -> Iterator[TestClient]:
    with TestClient(build_web_app(web_deps(hostile_app))) as client:
        yield client


def _no_raw_markup(html: str) -> None:
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "onerror=alert(2)>" not in html
    assert "49USDT" not in html  # no template evaluated what an exchange sent


def test_hostile_symbols_in_the_table_are_escaped(web: TestClient) -> None:
    page = web.get("/")
    assert page.status_code == 200
    _no_raw_markup(page.text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in page.text
    assert "{{7*7}}USDT" in page.text
    # their links are path-quoted: no quote ends the attribute, no slash starts another path
    assert f'href="/symbol/{quote(HOSTILE[0], safe="")}"' in page.text


@pytest.mark.parametrize("symbol", HOSTILE)
def test_hostile_symbols_pages_and_api_are_escaped(web: TestClient, symbol: str) -> None:
    page = web.get(f"/symbol/{quote(symbol, safe='')}")
    assert page.status_code == 200
    _no_raw_markup(page.text)
    assert "Band up" in page.text  # the alert state was read for this very symbol
    answer = web.get(f"/api/v1/score/{quote(symbol, safe='')}")
    assert answer.status_code == 200
    assert answer.json()["symbol"] == symbol  # JSON carries the value as data, exactly


@pytest.mark.parametrize(
    "query",
    [
        "q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "q=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(2)%3E",
        "filter=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "sort=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "dir=%3Cscript%3E",
        "q=" + "A" * 60_000,
        "filter=" + "x" * 60_000,
        "q=%00%01%1b[31m",
        "q=%E2%80%AEevil",
    ],
)
def test_hostile_query_strings_get_a_plain_400_or_an_escaped_page(web: TestClient, query: str) -> None:
    for path in ("/", "/table"):
        answer = web.get(f"{path}?{query}")
        assert answer.status_code in (200, 400)
        assert "Traceback" not in answer.text
        _no_raw_markup(answer.text)
        assert len(answer.content) < 200_000  # a huge query is not echoed back


def test_searching_for_markup_echoes_it_escaped(web: TestClient) -> None:
    page = web.get("/?q=%22%3E%3Cb%3Ex")
    assert page.status_code == 200
    assert 'value="&#34;&gt;&lt;b&gt;x"' in page.text


@pytest.mark.parametrize("path", ["/", "/table", "/symbol/BTCUSDT", "/api/v1/top", "/nowhere", "/api/v1/x"])
def test_every_response_carries_the_security_headers(web: TestClient, path: str) -> None:
    answer = web.get(path)
    csp = answer.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in csp and "script-src 'self'" in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"


def test_pages_hold_no_inline_script_or_style(web: TestClient) -> None:
    for path in ("/", "/symbol/BTCUSDT", "/nowhere"):
        html = web.get(path).text
        assert "<script>" not in html.replace("&lt;script&gt;", "")
        assert "<style" not in html and " style=" not in html and " onclick=" not in html


def test_stale_hostile_data_is_still_escaped(hostile_app: App) -> None:
    class Later:
        def now(self) -> datetime:
            return NOW + timedelta(days=2)

    from dataclasses import replace

    with TestClient(build_web_app(replace(web_deps(hostile_app), clock=Later()))) as client:
        page = client.get("/").text
    assert "STALE" in page
    _no_raw_markup(page)


def test_no_write_endpoint_exists(web: TestClient) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"):
        for path in ("/", "/api/v1/top", "/api/v1/score/BTCUSDT", "/static/dashboard.js"):
            assert web.request(method, path).status_code == 405


def test_the_bot_reads_no_template_from_the_working_directory(tmp_path: Path, web: TestClient) -> None:
    # Templates come from the installed package (PackageLoader), not from where dps runs.
    assert web.get("/").text.count("Derivatives Pressure Score") >= 1
