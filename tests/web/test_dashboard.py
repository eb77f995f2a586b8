"""The dashboard over the replayed market: the seed's table, sorting, filters, search, no JS needed."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

from starlette.testclient import TestClient

from bot.app.arguments import TopArgs
from bot.app.views import TableReply
from bot.core.events import EventKind, LastAlert
from bot.render.numbers import utc_text
from bot.render.table import summary_line
from bot.web.site import EVENT_NAMES, build_web_app
from bot.web_launch import web_deps
from tests.waiting import wait_for
from tests.web.conftest import Replayed, replayed

REPLAY_SYMBOLS = 68


class TableRows(HTMLParser):
    """The cells of each ``<tr>`` in ``<tbody>`` (text only), and the page's scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.scripts: list[dict[str, str | None]] = []
        self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self._cell = []
        elif tag == "script":
            self.scripts.append(dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def rows_of(html: str) -> list[list[str]]:
    parser = TableRows()
    parser.feed(html)
    return parser.rows


def top_reply(market: Replayed) -> TableReply:
    reply = market.app.commands.queries.top(TopArgs(limit=1000), market.clock.now())
    assert isinstance(reply, TableReply)
    return reply


def test_the_table_shows_every_symbol_ranked_as_top_does_under_the_summary_line(
    client: TestClient, market: Replayed
) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    rows = rows_of(page.text)
    assert len(rows) == REPLAY_SYMBOLS
    reply = top_reply(market)
    assert [r[1] for r in rows] == [r.symbol for r in reply.table.rows]
    assert [int(r[2].rstrip("*")) for r in rows] == [r.result.score for r in reply.table.rows]
    assert [int(r[0]) for r in rows] == list(range(1, REPLAY_SYMBOLS + 1))
    summary = summary_line(reply.table.summary)
    assert summary.startswith("Avg stress ") and " · Long bias " in summary
    assert summary in page.text
    for header in ("Score", "Bias", "Regime", "OI 1h", "OI 24h", "Funding", "Basis"):
        assert f">{header}</a></th>" in page.text


def test_the_rows_carry_their_band_and_the_page_says_the_market_is_synthetic(
    client: TestClient, market: Replayed
) -> None:
    page = client.get("/").text
    reply = top_reply(market)
    first = reply.table.rows[0]
    assert f'<tr class="band-{first.result.band.value} ' in page
    assert "Synthetic data: synthetic demo market (replay)" in page
    assert "STALE" not in page


def test_the_table_renders_without_javascript(client: TestClient) -> None:
    parser = TableRows()
    parser.feed(client.get("/").text)
    # The rows are in the HTML itself; the one script is external (CSP) and only refreshes it.
    assert len(parser.rows) == REPLAY_SYMBOLS
    assert parser.scripts == [{"src": "/static/dashboard.js", "defer": None}]


def test_sorting_by_funding_puts_spkusdt_first_and_a_second_click_reverses(client: TestClient) -> None:
    page = client.get("/").text
    link = re.search(r'<a href="(\?[^"]*sort=funding[^"]*)">Funding</a>', page)
    assert link is not None
    by_funding = rows_of(client.get("/" + link.group(1).replace("&amp;", "&")).text)
    assert by_funding[0][1] == "SPKUSDT"
    assert len(by_funding) == REPLAY_SYMBOLS
    reversed_page = client.get("/?sort=funding&dir=asc").text
    assert rows_of(reversed_page)[-1][1] == "SPKUSDT"


def test_sorting_by_symbol_and_score(client: TestClient) -> None:
    symbols = [r[1] for r in rows_of(client.get("/?sort=symbol&dir=asc").text)]
    assert symbols == sorted(symbols)
    scores = [int(r[2].rstrip("*")) for r in rows_of(client.get("/?sort=score&dir=asc").text)]
    assert scores == sorted(scores)


def test_the_short_filter_leaves_only_short_rows_and_keeps_the_whole_market_summary(
    client: TestClient, market: Replayed
) -> None:
    page = client.get("/?filter=short").text
    rows = rows_of(page)
    reply = top_reply(market)
    assert rows and all(r[3] == "SHORT" for r in rows)
    assert len(rows) == reply.table.summary.short
    assert summary_line(reply.table.summary) in page
    longs = rows_of(client.get("/?filter=long").text)
    assert longs and all(r[3] == "LONG" for r in longs)


def test_the_squeeze_filter_shows_only_squeeze_risk_regimes(client: TestClient, market: Replayed) -> None:
    rows = rows_of(client.get("/?filter=squeeze").text)
    expected = [r.symbol for r in top_reply(market).table.rows if r.result.regime.is_squeeze_risk]
    if expected:
        assert [r[1] for r in rows] == expected
    else:  # none at the replay's end: the table says so rather than showing other rows
        assert rows == [["No symbol matches."]]


def test_search_finds_symbols_by_part_of_their_name(client: TestClient) -> None:
    rows = rows_of(client.get("/?q=shib").text)
    assert [r[1] for r in rows] == ["1000SHIBUSDT"]
    assert rows_of(client.get("/?q=zzzz").text) == [["No symbol matches."]]


def test_the_table_fragment_is_the_same_table_and_revalidates_with_its_etag(client: TestClient) -> None:
    first = client.get("/table?filter=short")
    assert first.status_code == 200
    assert rows_of(first.text) == rows_of(client.get("/?filter=short").text)
    again = client.get("/table?filter=short", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_the_table_picks_up_the_next_cycle(tmp_path: Path) -> None:
    run = replayed(tmp_path / "next.sqlite3", cycles=1, held_back=1, symbols=("SPKUSDT", "BTCUSDT"))
    try:
        with TestClient(build_web_app(web_deps(run.app))) as web:
            before = web.get("/table")
            unchanged = web.get("/table", headers={"If-None-Match": before.headers["etag"]})
            assert unchanged.status_code == 304  # the page's poll costs nothing while data stays
            moment = run.run_cycle()
            shown = f"{moment:%Y-%m-%d %H:%M} UTC"
            # Prepared without a request, within a poll and a rendering (bot.web.prepared);
            # until then the previous body answers.
            asyncio.run(wait_for(lambda: shown in web.get("/table").text, "the next cycle's table"))
            after = web.get("/table", headers={"If-None-Match": before.headers["etag"]})
            assert after.status_code == 200
            assert shown in after.text
            assert shown not in before.text
    finally:
        run.close()


def test_the_symbol_page_shows_the_card_the_chart_and_the_alerts(
    client: TestClient, market: Replayed
) -> None:
    page = client.get("/symbol/spk")
    assert page.status_code == 200
    card = market.app.commands.queries.card("SPKUSDT", market.clock.now())
    assert card is not None
    assert "<h2>SPKUSDT" in page.text
    assert card.card.latest.result.label in page.text
    assert '<img src="/chart/SPKUSDT?window=24h"' in page.text
    assert "Recent alerts" in page.text


def test_the_symbol_page_lists_the_symbols_remembered_alerts(client: TestClient, market: Replayed) -> None:
    deps = web_deps(market.app)
    before = deps.alert_states.load_alert_state(deps.exchange, "SPKUSDT")
    assert before is not None
    at = before.last.ts
    told = (
        LastAlert(EventKind.BAND_UP, at - timedelta(hours=3), severity=3, open=False),
        LastAlert(EventKind.SQUEEZE_RISK, at - timedelta(minutes=20), severity=3, open=True),
    )
    deps.alert_states.save_alert_states(deps.exchange, [replace(before, alerts=told)])
    try:
        page = client.get("/symbol/spk").text
    finally:
        deps.alert_states.save_alert_states(deps.exchange, [before])
    listed = re.findall(r"<li>(.*?)</li>", page.split("Recent alerts", 1)[1])
    # Newest first, each with its time and whether it still holds.
    assert listed == [
        f"{EVENT_NAMES[EventKind.SQUEEZE_RISK]} · {utc_text(told[1].at)} · still holds",
        f"{EVENT_NAMES[EventKind.BAND_UP]} · {utc_text(told[0].at)} · over",
    ]


def test_an_unknown_symbol_page_is_a_404_with_suggestions(client: TestClient) -> None:
    page = client.get("/symbol/SPKUSDX")
    assert page.status_code == 404
    assert "SPKUSDT" in page.text


class Later:
    """A clock some time after the replay's."""

    def __init__(self, market: Replayed, by: timedelta) -> None:
        self._market, self._by = market, by

    def now(self) -> datetime:
        return self._market.clock.now() + self._by


def test_stale_data_is_said(market: Replayed) -> None:
    deps = replace(web_deps(market.app), clock=Later(market, timedelta(hours=3)))
    with TestClient(build_web_app(deps)) as web:
        page = web.get("/").text
        card = web.get("/symbol/btc").text
    assert "STALE: these scores are 3 h old" in page
    assert "STALE: this score is 3 h old" in card


def test_a_kept_table_still_turns_stale_and_ages_with_the_clock(market: Replayed) -> None:
    later = Later(market, timedelta(0))
    with TestClient(build_web_app(replace(web_deps(market.app), clock=later))) as web:
        fresh = web.get("/table")
        assert "STALE" not in fresh.text
        assert web.get("/table", headers={"If-None-Match": fresh.headers["etag"]}).status_code == 304
        later._by = timedelta(hours=3)  # no cycle since: the same market, now old
        stale = web.get("/table", headers={"If-None-Match": fresh.headers["etag"]})
        assert stale.status_code == 200
        assert "STALE: these scores are 3 h old" in stale.text
        assert "STALE: these scores are 3 h old" in web.get("/").text
        assert web.get("/api/v1/top").json()["stale"] is True
        later._by = timedelta(hours=4)
        older = web.get("/table", headers={"If-None-Match": stale.headers["etag"]})
        assert older.status_code == 200
        assert "STALE: these scores are 4 h old" in older.text
