"""The Starlette application: the dashboard pages and the JSON API over the read side.

Every handler reads through ``Queries`` (the numbers of ``/top`` and ``/score``) and the
alert-state store; nothing here writes. Bad input (a filter, a sort key, a window, a symbol
that is not text) gets a 4xx with a plain message; a store failure a 503; never a traceback.

The views asked most (``CommonViews``) are prepared ahead of requests while the app is served
(``bot.web.prepared``): they may be one poll and one rendering behind the store. Every other
view checks the store's mark per request and is kept per market (``bot.web.render_cache``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app import arguments as argp
from bot.app.arguments import CHART_WINDOWS, TopArgs, TopFilter
from bot.app.command_registry import ChartRenderer
from bot.app.queries import CycleLine, Queries
from bot.app.views import ErrorKind, ErrorReply, ScoreCardReply, TableReply
from bot.core.aggregate import AGGREGATE_EXCHANGE
from bot.core.aggregate_card import venue_name
from bot.core.durations import age_text
from bot.core.events import EventKind, SymbolState
from bot.core.records import ScoreCard
from bot.errors import ChartError, InputError, StorageError
from bot.ports import AlertStateStore, Clock
from bot.render.numbers import pct, utc_text
from bot.render.table import summary_line
from bot.web import payloads
from bot.web.http_cache import cached_response, encoded_response
from bot.web.openapi import openapi_schema
from bot.web.prepared import Prepared
from bot.web.render_cache import RenderCache, Rendered
from bot.web.rows import DESCENDING_FIRST, SEARCH_MAX, SortKey, cells, search_rows, sort_rows
from bot.web.score_bodies import ScoreBodies, score_bodies
from bot.web.security import ReadOnlySecurity, bearer_ok
from bot.web.shared_reads import SharedMarkReads

logger = logging.getLogger(__name__)

JSON = "application/json"
HTML = "text/html; charset=utf-8"
CSS = "text/css; charset=utf-8"
SCRIPT = "text/javascript; charset=utf-8"
SYMBOL_TEXT_MAX = 32
API_LIMIT_MAX = 5000
_LIMIT = re.compile(r"[0-9]{1,4}")

COLUMNS: tuple[tuple[str, SortKey], ...] = (
    ("#", SortKey.RANK),
    ("Symbol", SortKey.SYMBOL),
    ("Score", SortKey.SCORE),
    ("Bias", SortKey.BIAS),
    ("Regime", SortKey.REGIME),
    ("OI 1h", SortKey.OI_1H),
    ("OI 24h", SortKey.OI_24H),
    ("Funding", SortKey.FUNDING),
    ("Basis", SortKey.BASIS),
)

FILTERS: tuple[tuple[str, str], ...] = (
    ("", "All"),
    ("long", "Long"),
    ("short", "Short"),
    ("squeeze", "Squeeze"),
)

EVENT_NAMES = {
    EventKind.BAND_UP: "Band up",
    EventKind.BAND_DOWN: "Band down",
    EventKind.SQUEEZE_RISK: "Squeeze risk",
    EventKind.BIAS_FLIP: "Bias flip",
}


@dataclass(frozen=True)
class WebDeps:
    """What the web side reads, wired by the composition root.

    Attributes:
        queries: the command layer's read side (``CommandLayer.queries``).
        alert_states: the diff engine's per-symbol memory (the symbol page's recent alerts).
        clock: the application's clock.
        exchange: the exchange whose scores are shown.
        source_label: shown on every page when set (the synthetic demo market).
        chart: draws a chart view as PNG (the chart worker's ``chart``); ``None``: no charts.
        api_token: when set, ``/api/v1/`` wants ``Authorization: Bearer <token>``.
        last_cycle: a line about the latest cycle this process ran (``/api/v1/status``).
        version: the package's version, for the OpenAPI document.
        refresh_s: how often the page's script asks whether the table changed.
        preparing: a second read side over the same stores, for the worker thread that
            prepares the common views ahead of requests (``Queries`` is not thread-safe,
            so not ``queries``); ``None``: every view is rendered when first asked.
        stale_after: the read sides' staleness threshold (as ``Queries`` was built with):
            a prepared body is used only while its STALE line still says the truth.
        preparing_store: the score store under ``preparing``: its marks are pinned for one
            preparation (one read per market), and the score cards of ``/api/v1/score`` are
            read from it in one batch; ``None``: those cards are read per request.
        prepared_first: called once, on the serving loop, when the common views were first
            prepared: what the process loaded to serve them (compiled statements and
            templates) lives as long as it does (the dashboard's process freezes it then).
    """

    queries: Queries
    alert_states: AlertStateStore
    clock: Clock
    exchange: str
    source_label: str | None = None
    chart: ChartRenderer | None = None
    api_token: str | None = None
    last_cycle: CycleLine | None = None
    version: str = "unknown"
    refresh_s: int = 15
    preparing: Queries | None = None
    stale_after: timedelta | None = None
    preparing_store: SharedMarkReads | None = None
    prepared_first: Callable[[], None] | None = None


class BadRequestError(Exception):
    """A query or path value the site does not accept; the message is shown as is."""


@dataclass(frozen=True)
class TableQuery:
    """The dashboard's view: filter, search text, sort column and direction, and the venue
    (``None``: the default, the aggregate when several venues are collected)."""

    filter: TopFilter | None
    search: str
    sort: SortKey
    descending: bool
    venue: str | None = None

    @staticmethod
    def of(request: Request, venues: tuple[str, ...] = ()) -> TableQuery:
        """Parse the query string; anything unknown is a ``BadRequestError`` naming it.
        ``venues``: every venue collected when there are several (``Queries.venues``)."""
        params = request.query_params
        wanted = _filter(params.get("filter", ""))
        venue = _venue(params.get("venue", ""), venues)
        search = params.get("q", "").strip()
        if len(search) > SEARCH_MAX:
            raise BadRequestError(f"The search text is too long: at most {SEARCH_MAX} characters.")
        _plain(search)
        raw_sort = params.get("sort", SortKey.RANK.value)
        try:
            sort = SortKey(raw_sort)
        except ValueError:
            names = ", ".join(k.value for k in SortKey)
            raise BadRequestError(
                f"Unknown sort column {argp.echo(raw_sort)!r}: use one of {names}."
            ) from None
        raw_dir = params.get("dir", "desc" if sort in DESCENDING_FIRST else "asc")
        if raw_dir not in ("asc", "desc"):
            raise BadRequestError("The sort direction is asc or desc.")
        return TableQuery(wanted, search, sort, raw_dir == "desc", venue)

    def link(self, **changes: str) -> str:
        """This view's address with some parameters changed (empty ones left out)."""
        values = {
            "filter": "" if self.filter is None else self.filter.value,
            "q": self.search,
            "sort": self.sort.value,
            "dir": "desc" if self.descending else "asc",
            "venue": self.venue or "",
        }
        values.update(changes)
        if values["sort"] == SortKey.RANK.value and values["dir"] == "asc":
            values["sort"] = values["dir"] = ""  # the default view has the plain address
        kept = {k: v for k, v in values.items() if v}
        return "?" + urlencode(kept) if kept else "?"


DEFAULT_QUERY = TableQuery(None, "", SortKey.RANK, SortKey.RANK in DESCENDING_FIRST)
"""The view of ``/`` and ``/table`` with no query string: the one the page's poll asks most."""


@dataclass(frozen=True)
class CommonViews:
    """The views asked most, prepared together from one read of one market
    (``bot.web.prepared``): ``/``, ``/table`` and ``/api/v1/top``, each with no parameter,
    and every ``/api/v1/score/{symbol}`` of the first venue (``scores``; ``None``: read per
    request).

    ``summary`` is the market's (a new object per market ``Queries`` read); ``as_of``, ``stale``
    and ``age`` what the clock added when they were rendered.
    """

    exchange: str
    summary: object
    as_of: datetime
    stale: bool
    age: str
    notes: tuple[str, ...]
    page: Rendered
    table: Rendered
    top: Rendered
    scores: ScoreBodies | None = None


def _filter(raw: str) -> TopFilter | None:
    try:
        return TopFilter(raw) if raw else None
    except ValueError:
        raise BadRequestError(f"Unknown filter {argp.echo(raw)!r}: use long, short or squeeze.") from None


def _venue(raw: str, venues: tuple[str, ...]) -> str | None:
    """The venue a query string names: ``all`` or one of ``venues`` (only when several are
    collected; a single venue's site has nothing to choose)."""
    if not raw:
        return None
    choices = (AGGREGATE_EXCHANGE, *venues) if venues else ()
    if raw not in choices:
        if not choices:
            raise BadRequestError("There is one venue only: leave venue out.")
        raise BadRequestError(f"Unknown venue {argp.echo(raw)!r}: use one of {', '.join(choices)}.")
    return raw


def venue_title(exchange: str) -> str:
    """How the page names what it shows: a venue, or all of them."""
    return "all venues" if exchange == AGGREGATE_EXCHANGE else venue_name(exchange)


def _plain(text: str) -> None:
    try:
        argp.check_text(text)
    except InputError as exc:
        raise BadRequestError(str(exc)) from None


def _symbol_text(raw: str) -> str:
    if not raw or len(raw) > SYMBOL_TEXT_MAX:
        raise BadRequestError(f"A symbol is 1 to {SYMBOL_TEXT_MAX} characters.")
    _plain(raw)
    return raw


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.web", "templates"),
        autoescape=True,  # every value from the market or a person is escaped, in every template
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["path"] = lambda s: quote(str(s), safe="")
    return env


def _static(name: str) -> bytes:
    return resources.files("bot.web").joinpath("static", name).read_bytes()


class Site:
    """The routes' handlers over one ``WebDeps``."""

    def __init__(self, deps: WebDeps) -> None:
        self.deps = deps
        self._env = _environment()
        self._css = _static("dashboard.css")
        self._js = _static("dashboard.js")
        self._openapi = json.dumps(openapi_schema(deps.version), indent=1).encode()
        self._rendered = RenderCache()
        # Per exchange: the market the newest head came from (see ``_market_key``).
        self._summaries: dict[str, tuple[object, int]] = {}
        self._market_number = 0
        # The stored part of the score cards of one market (``_score_card``).
        self._cards: tuple[object, dict[str, ScoreCard]] = (None, {})
        self.common: Prepared[CommonViews] | None = None
        """The common views, when ``deps`` has a read side to prepare them with."""
        preparing = deps.preparing
        if preparing is not None and deps.stale_after is not None:
            prepare = functools.partial(self._prepare_common, preparing)
            self.common = Prepared(prepare, first=deps.prepared_first)

    # --- helpers ------------------------------------------------------------------------

    def _render(self, name: str, **context: Any) -> bytes:
        label = self.deps.source_label
        return self._env.get_template(name).render(source_label=label, **context).encode()

    def _page(self, request: Request, name: str, *, status: int = 200, **context: Any) -> Response:
        return cached_response(request, self._render(name, **context), HTML, status=status)

    def _error_page(
        self, request: Request, status: int, message: str, suggestions: tuple[str, ...] = ()
    ) -> Response:
        body = self._render("error.html", status=status, message=message, suggestions=suggestions)
        return Response(body, status_code=status, media_type=HTML, headers={"Cache-Control": "no-store"})

    def _json(self, request: Request, body: dict[str, Any], *, status: int = 200) -> Response:
        data = json.dumps(body, separators=(",", ":")).encode()
        if status != 200:
            return Response(data, status_code=status, media_type=JSON, headers={"Cache-Control": "no-store"})
        return cached_response(request, data, JSON, private=self.deps.api_token is not None)

    def _api_error(
        self, request: Request, status: int, message: str, suggestions: tuple[str, ...] = ()
    ) -> Response:
        return self._json(request, payloads.error_json(status, message, suggestions), status=status)

    def _now(self) -> datetime:
        return self.deps.clock.now()

    def _top(
        self, exchange: str, wanted: TopFilter | None, limit: int | None, queries: Queries | None = None
    ) -> TableReply | ErrorReply:
        queries = queries or self.deps.queries
        if limit is None:  # every symbol: the market's size is the table's ("Top 68")
            market = queries.market(exchange)
            limit = max(1, len(market.records)) if market is not None else 1
        return queries.top(TopArgs(limit=limit, filter=wanted, venue=exchange), self._now())

    def _head(
        self, venue: str | None, wanted: TopFilter | None, queries: Queries | None = None
    ) -> tuple[str, TableReply | ErrorReply]:
        """The exchange shown and the table's first row only (one store read, one row built):
        its market, notes and staleness say which kept body answers, before the whole table
        is asked for. No venue named: the aggregate when several venues are collected (the
        first venue while the aggregate has no scores yet), as ``/top`` answers."""
        queries, now = queries or self.deps.queries, self._now()
        if venue is None and queries.venues:
            head = queries.top(TopArgs(limit=1, filter=wanted, venue=AGGREGATE_EXCHANGE), now)
            if not (isinstance(head, ErrorReply) and head.kind is ErrorKind.NO_DATA):
                return AGGREGATE_EXCHANGE, head
        exchange = venue or queries.exchange
        return exchange, queries.top(TopArgs(limit=1, filter=wanted, venue=exchange), now)

    def _stale_age(self, reply: TableReply) -> str:
        """The age the STALE line shows ("" while fresh: the body must not change then)."""
        return age_text(max(self._now() - reply.as_of, timedelta(0))) if reply.stale else ""

    def _market_key(self, exchange: str, head: TableReply, age: str) -> Hashable:
        """Everything a body depends on but the view: the exchange's market, and what the
        clock adds (the notes, the STALE line and its age)."""
        # ``Queries`` hands out one summary object per market it read: a new object is a new
        # market (a cycle stored). Were it ever built per call, every request would render:
        # slower, never wrong. Kept per exchange, so views of two venues in turn do not
        # count as new markets.
        kept = self._summaries.get(exchange)
        if kept is None or kept[0] is not head.table.summary:
            self._market_number += 1
            kept = self._summaries[exchange] = (head.table.summary, self._market_number)
        return (exchange, kept[1], head.stale, head.notes, age)

    def _prepare_common(self, queries: Queries, previous: CommonViews | None) -> CommonViews | None:
        """The common views of the market now stored, or ``None`` while ``previous`` still
        holds or there is nothing to show (run in a worker thread, over ``deps.preparing``).
        Each market's mark is read once for all of them (``SharedMarkReads.pinned``)."""
        store = self.deps.preparing_store
        with contextlib.nullcontext() if store is None else store.pinned():
            return self._prepare_pinned(queries, store, previous)

    def _prepare_pinned(
        self, queries: Queries, store: SharedMarkReads | None, previous: CommonViews | None
    ) -> CommonViews | None:
        exchange, head = self._head(None, None, queries)
        if isinstance(head, ErrorReply):
            return None  # no scores yet: requests take the path that says so
        age = self._stale_age(head)
        # ``/api/v1/score`` answers the first venue's cards (``Queries.resolve``'s default).
        prepared = None if store is None else queries.cards(queries.exchange)
        scored = None if prepared is None else prepared[0]
        kept_scores = None if previous is None else previous.scores
        if kept_scores is not None and kept_scores.market is not scored:
            kept_scores = None
        if (
            previous is not None
            and previous.exchange == exchange
            and previous.summary is head.table.summary
            and (previous.stale, previous.age, previous.notes) == (head.stale, age, head.notes)
            and (kept_scores is not None or scored is None)
        ):
            return None
        reply = self._top(exchange, None, None, queries)
        if isinstance(reply, ErrorReply):
            return None
        context = _table_context(DEFAULT_QUERY, reply, age)
        table = Rendered.of(self._render("table.html", table=context, message=None))
        page = Rendered.of(
            self._render(
                "dashboard.html",
                table_html=_rendered_html(table.body),
                **self._dashboard_context(DEFAULT_QUERY, exchange, queries.venues),
            )
        )
        top = Rendered.of(json.dumps(payloads.top_json(reply, exchange), separators=(",", ":")).encode())
        scores, deps = kept_scores, self.deps
        if scores is None and prepared is not None and deps.stale_after is not None:
            label, shown = deps.source_label, deps.exchange
            scores = score_bodies(prepared[1], prepared[0], shown, label)
        views = (page, table, top, scores)
        return CommonViews(exchange, head.table.summary, head.as_of, head.stale, age, head.notes, *views)

    def _common_views(self) -> CommonViews | None:
        """The prepared common views, if their STALE line still tells the truth now (the clock
        moves on between preparations; the market they show is at most one poll and one
        preparation behind the store, ``bot.web.prepared``)."""
        if self.common is None or self.common.current is None or self.deps.stale_after is None:
            return None
        views = self.common.current
        age = max(self._now() - views.as_of, timedelta(0))
        stale = age > self.deps.stale_after
        if (stale, age_text(age) if stale else "") != (views.stale, views.age):
            return None
        return views

    async def _table_body(self, query: TableQuery) -> tuple[str, Rendered | ErrorReply]:
        if query == DEFAULT_QUERY and (views := self._common_views()) is not None:
            return views.exchange, views.table
        exchange, head = self._head(query.venue, query.filter)
        if isinstance(head, ErrorReply):
            return exchange, head
        age = self._stale_age(head)
        key = ("table", self._market_key(exchange, head, age), query)
        found = self._rendered.peek(key)
        if found is not None:
            return exchange, found
        reply = self._top(exchange, query.filter, None)
        if isinstance(reply, ErrorReply):  # the market went away meanwhile (retention)
            return exchange, reply
        return exchange, await self._rendered.get(
            key, lambda: self._render("table.html", table=_table_context(query, reply, age), message=None)
        )

    # --- pages --------------------------------------------------------------------------

    def _dashboard_context(self, query: TableQuery, shown: str, venues: tuple[str, ...]) -> dict[str, Any]:
        """The page's values around its table (pure: also run in the preparing thread)."""
        filters = [
            {"label": label, "href": query.link(filter=value), "on": (query.filter or "") == value}
            for value, label in FILTERS
        ]
        # Several venues: one link per venue, the aggregate first (it is the default view).
        venue_links = [
            {
                "label": "All venues" if v == AGGREGATE_EXCHANGE else venue_name(v),
                "href": query.link(venue=v),
                "on": v == shown,
            }
            for v in ((AGGREGATE_EXCHANGE, *venues) if venues else ())
        ]
        return {
            "query": query,
            "filters": filters,
            "venues": venue_links,
            "refresh_s": self.deps.refresh_s,
            "table_src": "/table" + query.link(),
            "exchange": venue_title(shown) if venues else self.deps.exchange,
        }

    async def dashboard(self, request: Request) -> Response:
        """The ranked table under its summary line; works without JavaScript."""
        venues = self.deps.queries.venues
        query = TableQuery.of(request, venues)
        if query == DEFAULT_QUERY and (views := self._common_views()) is not None:
            return _send(request, views.page, HTML)
        shown, fragment = await self._table_body(query)
        context = self._dashboard_context(query, shown, venues)
        if isinstance(fragment, ErrorReply):
            table = _rendered_html(self._render("table.html", table=None, message=fragment.message))
            return self._page(request, "dashboard.html", table_html=table, **context)
        # The page holds the fragment's very bytes (one table rendering serves both), so the
        # fragment's ETag keys it.
        page = await self._rendered.get(
            ("page", fragment.etag, query),
            lambda: self._render("dashboard.html", table_html=_rendered_html(fragment.body), **context),
        )
        return _send(request, page, HTML)

    async def table(self, request: Request) -> Response:
        """The table alone, for the page's script to swap in after a cycle."""
        _, fragment = await self._table_body(TableQuery.of(request, self.deps.queries.venues))
        if isinstance(fragment, ErrorReply):
            return self._page(request, "table.html", table=None, message=fragment.message)
        return _send(request, fragment, HTML)

    async def symbol_page(self, request: Request) -> Response:
        """One symbol: its score card, its chart and its recent alerts."""
        found = self._resolve(_symbol_text(request.path_params["symbol"]))
        if isinstance(found, ErrorReply):
            status = 503 if found.kind is ErrorKind.NO_DATA else 404
            return self._error_page(request, status, found.message, found.suggestions)
        now = self._now()
        card = self.deps.queries.card(found, now)
        if card is None:
            return self._error_page(request, 404, f"No stored score for {found} yet.")
        r, i = card.card.latest.result, card.card.latest.inputs
        facts = [
            ("Score", f"{r.score}" + (" (partial)" if r.partial else "")),
            ("Band", r.band.value),
            ("Bias", r.bias.value),
            ("Regime", r.label),
            ("OI 1h", pct(i.oi_1h_pct, 2)),
            ("OI 4h", pct(i.oi_4h_pct, 1)),
            ("OI 24h", pct(i.oi_24h_pct, 1)),
            ("Funding (8h)", pct(r.components.funding_8h_pct, 3)),
            ("Basis", pct(i.basis_pct, 2)),
            ("Change 1h", _change(card.change_1h)),
            ("Change 24h", _change(card.change_24h)),
        ]
        state = self.deps.alert_states.load_alert_state(self.deps.exchange, found)
        return self._page(
            request,
            "symbol.html",
            symbol=found,
            band=r.band.value,
            score=r.score,
            facts=facts,
            as_of=utc_text(card.card.latest.ts),
            age=age_text(card.age),
            stale=card.stale,
            alerts=_alerts(state),
            charts=self.deps.chart is not None,
        )

    async def chart_png(self, request: Request) -> Response:
        """The symbol's chart, drawn by the chart worker process."""
        found = self._resolve(_symbol_text(request.path_params["symbol"]))
        if isinstance(found, ErrorReply):
            return Response(found.message, status_code=404, media_type="text/plain; charset=utf-8")
        label, window = _window(request.query_params.get("window", "24h"))
        if self.deps.chart is None:
            return Response("Charts are not available here.", status_code=503, media_type="text/plain")
        view = self.deps.queries.chart(found, label, window, self._now())
        if view is None:
            return Response(f"No scores of {found} in that window.", status_code=404, media_type="text/plain")
        try:
            png = await self.deps.chart(view)
        except ChartError:
            return Response(
                "The chart could not be drawn just now; try again in a minute.",
                status_code=503,
                media_type="text/plain",
            )
        return cached_response(request, png, "image/png", cache_control="max-age=60")

    async def asset(self, request: Request) -> Response:
        """The page's stylesheet and script (same origin: the CSP allows nothing else)."""
        name = request.path_params["name"]
        found = {"dashboard.css": (self._css, CSS), "dashboard.js": (self._js, SCRIPT)}.get(name)
        if found is not None:
            return cached_response(request, found[0], found[1], cache_control="max-age=300")
        return self._error_page(request, 404, "No such file.")

    # --- API ----------------------------------------------------------------------------

    async def api_top(self, request: Request) -> Response:
        """``/api/v1/top?filter=short&limit=20&venue=bybit``."""
        wanted = _filter(request.query_params.get("filter", ""))
        venue = _venue(request.query_params.get("venue", ""), self.deps.queries.venues)
        raw_limit = request.query_params.get("limit", "")
        limit = None
        if raw_limit:
            if not _LIMIT.fullmatch(raw_limit) or not 1 <= int(raw_limit) <= API_LIMIT_MAX:
                raise BadRequestError(f"limit is a whole number from 1 to {API_LIMIT_MAX}.")
            limit = int(raw_limit)
        private = self.deps.api_token is not None
        if (wanted, venue, limit) == (None, None, None) and (views := self._common_views()) is not None:
            return _send(request, views.top, JSON, private=private)
        exchange, head = self._head(venue, wanted)
        if isinstance(head, ErrorReply):
            return self._api_error(request, 503, head.message)
        key = ("top", self._market_key(exchange, head, self._stale_age(head)), wanted, limit)
        found = self._rendered.peek(key)
        if found is None:
            reply = self._top(exchange, wanted, limit)
            if isinstance(reply, ErrorReply):
                return self._api_error(request, 503, reply.message)
            found = await self._rendered.get(
                key, lambda: json.dumps(payloads.top_json(reply, exchange), separators=(",", ":")).encode()
            )
        return _send(request, found, JSON, private=private)

    async def api_score(self, request: Request) -> Response:
        """``/api/v1/score/{symbol}?venue=bybit``: the first venue's cards are prepared with the
        common views (``CommonViews.scores``); a name the prepared market does not know, or
        another venue (``all``: the aggregate, with a line per venue), is looked up as the
        other views are."""
        text = _symbol_text(request.path_params["symbol"])
        venue = _venue(request.query_params.get("venue", ""), self.deps.queries.venues)
        if venue is None:
            prepared = self._score_body(text)
            if prepared is not None:
                return cached_response(request, prepared, JSON, private=self.deps.api_token is not None)
        exchange = venue or self.deps.exchange
        found = self._resolve(text, venue)
        if isinstance(found, ErrorReply):
            status = 503 if found.kind is ErrorKind.NO_DATA else 404
            return self._api_error(request, status, found.message, found.suggestions)
        card = self._score_card(found) if venue is None else self.deps.queries.card(found, self._now(), venue)
        if card is None:
            return self._api_error(request, 404, f"No stored score for {found} yet.")
        return self._json(request, payloads.score_json(card, exchange))

    async def api_history(self, request: Request) -> Response:
        """``/api/v1/history/{symbol}?window=24h&venue=bybit``."""
        venue = _venue(request.query_params.get("venue", ""), self.deps.queries.venues)
        found = self._resolve(_symbol_text(request.path_params["symbol"]), venue)
        label, window = _window(request.query_params.get("window", "24h"))
        if isinstance(found, ErrorReply):
            status = 503 if found.kind is ErrorKind.NO_DATA else 404
            return self._api_error(request, status, found.message, found.suggestions)
        exchange = venue or self.deps.exchange
        view = self.deps.queries.chart(found, label, window, self._now(), venue)
        return self._json(request, payloads.history_json(view, found, label, exchange))

    async def api_status(self, request: Request) -> Response:
        """``/api/v1/status``."""
        line = None if self.deps.last_cycle is None else self.deps.last_cycle()
        return self._json(request, payloads.status_json(self.deps.queries.status(self._now(), line)))

    async def api_openapi(self, request: Request) -> Response:
        """The OpenAPI document (open, like the page: it holds no data)."""
        return cached_response(request, self._openapi, JSON)

    def _score_body(self, text: str) -> bytes | None:
        """The prepared card of the symbol ``text`` names, at the clock's time (``None``: none
        prepared for it). No store read: the market it resolves in is at most one poll and one
        preparation behind the store, as the other common views (``bot.web.prepared``)."""
        views = None if self.common is None else self.common.current
        scores = None if views is None else views.scores
        if scores is None or self.deps.stale_after is None:
            return None
        symbol = scores.market.index.resolve(text).symbol
        body = None if symbol is None else scores.bodies.get(symbol)
        return None if body is None else body.at(self._now(), self.deps.stale_after)

    def _score_card(self, symbol: str) -> ScoreCardReply | None:
        """``Queries.card`` of a symbol ``_resolve`` just found, its stored part kept per market.

        A card's scores (the latest, 1h and 24h before it) change only with the market, but
        reading them costs two statements per request; the age and staleness are the clock's
        and are worked out per request, as ``Queries.card`` does.
        """
        queries, now, stale_after = self.deps.queries, self._now(), self.deps.stale_after
        # The mark ``_resolve`` read for this request is shared (bot.web.shared_reads): no new read.
        market = queries.market()
        if market is None or stale_after is None:
            return queries.card(symbol, now)
        if self._cards[0] is not market:
            self._cards = (market, {})
        kept = self._cards[1].get(symbol)
        if kept is None:
            reply = queries.card(symbol, now)
            if reply is not None and reply.venues is None:
                self._cards[1][symbol] = reply.card
            return reply
        age = max(now - kept.latest.ts, timedelta(0))
        return ScoreCardReply(kept, age, age > stale_after, self.deps.source_label)

    def _resolve(self, text: str, venue: str | None = None) -> str | ErrorReply:
        return self.deps.queries.resolve(text, venue)


def _table_context(query: TableQuery, reply: TableReply, age: str) -> dict[str, Any]:
    """The table template's values (pure: run in a worker thread)."""
    rows = sort_rows(search_rows(reply.table.rows, query.search), query.sort, query.descending)
    headers = []
    for label, key in COLUMNS:
        if key is query.sort:
            next_dir = "asc" if query.descending else "desc"
            state = "descending" if query.descending else "ascending"
        else:
            next_dir = "desc" if key in DESCENDING_FIRST else "asc"
            state = "none"
        headers.append({"label": label, "href": query.link(sort=key.value, dir=next_dir), "sort": state})
    # No "n seconds ago" here: the fragment's ETag must stay put while the data does, so
    # the page's poll is a 304; the age is shown once it matters (STALE).
    return {
        "rows": [cells(r) for r in rows],
        "headers": headers,
        "summary": summary_line(reply.table.summary),
        "summary_values": reply.table.summary,
        "as_of": utc_text(reply.as_of),
        "age": age,
        "stale": reply.stale,
        "notes": reply.notes,
        "searched": bool(query.search),
        "shown": len(rows),
        "total": len(reply.table.rows),
    }


def _send(request: Request, rendered: Rendered, media_type: str, *, private: bool = False) -> Response:
    """A kept body, gzipped when the client accepts it, 304 when it already holds it."""
    body, tag, gzipped = rendered.body, rendered.etag, rendered.gzipped
    return encoded_response(request, body, tag, gzipped, rendered.gzip_etag, media_type, private=private)


def _rendered_html(body: bytes) -> Markup:
    """A body this site's own templates rendered (every value in it escaped there), to embed
    as is: escaping it again would show its tags as text."""
    return Markup(body.decode())  # noqa: S704 - our autoescaped output, not outside text


def _change(points: int | None) -> str:
    return "—" if points is None else f"{points:+d}"


def _window(raw: str) -> tuple[str, Any]:
    found = CHART_WINDOWS.get(raw.lower()) if len(raw) <= 8 else None
    if found is None:
        raise BadRequestError(f"The window is 24h or 7d, not {argp.echo(raw)!r}.")
    return found


def _alerts(state: SymbolState | None) -> list[dict[str, str]]:
    if state is None:
        return []
    ordered = sorted(state.alerts, key=lambda a: a.at, reverse=True)
    return [
        {
            "kind": EVENT_NAMES.get(a.kind, a.kind.value),
            "at": utc_text(a.at),
            "open": "still holds" if a.open else "over",
        }
        for a in ordered
    ]


Handler = Callable[[Request], Awaitable[Response]]


def _guarded(site: Site, handler: Handler, *, api: bool) -> Handler:
    """Adds the bearer check (API only) and turns refusals and store failures into answers."""

    async def endpoint(request: Request) -> Response:
        token = site.deps.api_token
        if api and token is not None and not bearer_ok(request.headers.get("authorization"), token):
            needed = "A bearer token is needed: Authorization: Bearer <token>."
            response = site._api_error(request, 401, needed)
            response.headers["WWW-Authenticate"] = 'Bearer realm="dps"'
            return response
        try:
            return await handler(request)
        except BadRequestError as exc:
            if api:
                return site._api_error(request, 400, str(exc))
            return site._error_page(request, 400, str(exc))
        except StorageError:
            logger.exception("storage failed answering %s", request.url.path[:80])
            message = "The database did not answer just now. Please try again in a minute."
            return site._api_error(request, 503, message) if api else site._error_page(request, 503, message)

    return endpoint


async def _no_icon(request: Request) -> Response:
    # Browsers ask for it on every first visit; "no content" rather than a logged 404.
    return Response(status_code=204, headers={"Cache-Control": "max-age=86400"})


def build_web_app(deps: WebDeps) -> Starlette:
    """The dashboard and the API as one ASGI application (read-only, see ``bot.web.security``)."""
    site = Site(deps)

    def page(path: str, handler: Handler) -> Route:
        return Route(path, _guarded(site, handler, api=False), methods=["GET", "HEAD"])

    def api(path: str, handler: Handler) -> Route:
        return Route(path, _guarded(site, handler, api=True), methods=["GET", "HEAD"])

    routes = [
        page("/", site.dashboard),
        page("/table", site.table),
        # ``path``: an exchange's symbol may hold a slash; the route must still reach it.
        page("/symbol/{symbol:path}", site.symbol_page),
        page("/chart/{symbol:path}", site.chart_png),
        page("/static/{name}", site.asset),
        api("/api/v1/top", site.api_top),
        api("/api/v1/score/{symbol:path}", site.api_score),
        api("/api/v1/history/{symbol:path}", site.api_history),
        api("/api/v1/status", site.api_status),
        Route("/api/v1/openapi.json", site.api_openapi, methods=["GET", "HEAD"]),
        Route("/favicon.ico", _no_icon, methods=["GET", "HEAD"]),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return site._api_error(request, 404, "No such endpoint: see /api/v1/openapi.json.")
        return site._error_page(request, 404, "No such page.")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The common views are prepared while the app is served (uvicorn's lifespan on, a
        # TestClient used as a context manager), not per request.
        preparing = None if site.common is None else asyncio.create_task(site.common.run())
        try:
            yield
        finally:
            if preparing is not None:
                preparing.cancel()
                await asyncio.gather(preparing, return_exceptions=True)

    app = Starlette(
        routes=routes,
        middleware=[Middleware(ReadOnlySecurity)],
        exception_handlers={404: not_found},
        lifespan=lifespan,
    )
    app.state.site = site  # tests and benches look at what was prepared
    return app
