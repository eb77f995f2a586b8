"""The JSON API over the replayed market: the numbers of /top and /score, cached, read-only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from bot.app.arguments import TopArgs, TopFilter
from bot.app.views import TableReply
from bot.web.site import build_web_app
from bot.web_launch import web_deps
from tests.web.conftest import Replayed

TOKEN = "s3cret-token"  # noqa: S105 - a test's own token


def test_top_lists_every_symbol_ranked_with_the_summary(client: TestClient, market: Replayed) -> None:
    answer = client.get("/api/v1/top")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    reply = market.app.commands.queries.top(TopArgs(limit=1000), market.clock.now())
    assert isinstance(reply, TableReply)
    assert [r["symbol"] for r in body["rows"]] == [r.symbol for r in reply.table.rows]
    assert len(body["rows"]) == 68
    assert body["rows"][0]["rank"] == 1
    assert body["summary"]["count"] == 68
    assert body["summary"]["long"] == reply.table.summary.long
    assert body["source_label"] == "synthetic demo market (replay)"
    assert body["stale"] is False
    assert body["title"] == "Top 68 · replay"  # the demo has three venues: the table names its own
    assert max(body["rows"], key=lambda r: abs(r["funding_8h_pct"]))["symbol"] == "SPKUSDT"


def test_top_filters_and_limits(client: TestClient, market: Replayed) -> None:
    shorts = client.get("/api/v1/top?filter=short&limit=5").json()["rows"]
    assert 0 < len(shorts) <= 5
    assert all(r["bias"] == "SHORT" for r in shorts)
    reply = market.app.commands.queries.top(TopArgs(limit=5, filter=TopFilter.SHORT), market.clock.now())
    assert isinstance(reply, TableReply)
    assert [r["symbol"] for r in shorts] == [r.symbol for r in reply.table.rows]


def test_score_answers_the_card_by_any_name_top_accepts(client: TestClient, market: Replayed) -> None:
    body = client.get("/api/v1/score/spk").json()
    card = market.app.commands.queries.card("SPKUSDT", market.clock.now())
    assert card is not None
    assert body["symbol"] == "SPKUSDT"
    assert body["score"] == card.card.latest.result.score
    assert body["bias"] == card.card.latest.result.bias.value
    assert body["label"] == card.card.latest.result.label
    assert body["components"]["funding_8h_pct"] == pytest.approx(-0.565, abs=1e-3)
    assert client.get("/api/v1/score/1000shib").json()["symbol"] == "1000SHIBUSDT"


def test_history_has_the_window_s_scores_oldest_first(client: TestClient) -> None:
    body = client.get("/api/v1/history/SPKUSDT?window=24h").json()
    assert body["window"] == "24h"
    times = [p["ts"] for p in body["points"]]
    assert len(times) == 2 and times == sorted(times)
    assert client.get("/api/v1/history/SPKUSDT").json()["window"] == "24h"
    assert client.get("/api/v1/history/SPKUSDT?window=7d").json()["window"] == "7d"


def test_status(client: TestClient) -> None:
    body = client.get("/api/v1/status").json()
    assert body["symbols"] == 68
    assert body["exchange"] == "replay"
    assert body["stale"] is False


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/api/v1/score/NOPEUSDT", 404, "I don't know the symbol"),
        ("/api/v1/score/SPKUSDX", 404, "SPKUSDT"),
        ("/api/v1/history/SPKUSDT?window=5y", 400, "24h or 7d"),
        ("/api/v1/history/SPKUSDT?window=" + "9" * 5000, 400, "24h or 7d"),
        ("/api/v1/top?filter=sideways", 400, "Unknown filter"),
        ("/api/v1/top?limit=0", 400, "limit"),
        ("/api/v1/top?limit=99999999999999999999", 400, "limit"),
        ("/api/v1/top?limit=-3", 400, "limit"),
        ("/api/v1/top?limit=%C2%B2", 400, "limit"),
        ("/api/v1/top?limit=5001", 400, "limit"),
        ("/api/v1/score/" + "A" * 500, 400, "1 to 32 characters"),
        ("/api/v1/score/BTC%00USDT", 400, ""),
        ("/api/v1/nothing", 404, "openapi.json"),
    ],
)
def test_garbage_gets_a_clear_json_error(client: TestClient, path: str, status: int, fragment: str) -> None:
    answer = client.get(path)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert error["status"] == status
    assert fragment in error["message"] or fragment in error.get("suggestions", [])
    assert "Traceback" not in answer.text


def test_etag_and_cache_control_give_a_304_while_nothing_changed(client: TestClient) -> None:
    first = client.get("/api/v1/top")
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    again = client.get("/api/v1/top", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    other = client.get("/api/v1/top", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    assert client.get("/api/v1/top?filter=long").headers["etag"] != tag


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/api/v1/top", "/api/v1/score/BTCUSDT", "/", "/symbol/BTCUSDT"])
def test_writes_are_refused_with_405(client: TestClient, method: str, path: str) -> None:
    answer = client.request(method, path, content=b"{}")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD"


def test_head_is_answered_without_a_body(client: TestClient) -> None:
    answer = client.head("/api/v1/status")
    assert answer.status_code == 200
    assert answer.content == b""


def test_the_openapi_schema_lists_every_endpoint(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/api/v1/top",
        "/api/v1/score/{symbol}",
        "/api/v1/history/{symbol}",
        "/api/v1/status",
    }
    # every documented path answers
    for path in ("/api/v1/top", "/api/v1/score/BTCUSDT", "/api/v1/history/BTCUSDT", "/api/v1/status"):
        assert client.get(path).status_code == 200


@pytest.fixture(scope="module")
def guarded(market: Replayed) -> Iterator[TestClient]:
    with TestClient(build_web_app(replace(web_deps(market.app), api_token=TOKEN))) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer", ""],
)
def test_with_a_token_set_the_api_wants_it(guarded: TestClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    answer = guarded.get("/api/v1/top", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert "bearer token" in answer.json()["error"]["message"]


def test_with_the_right_token_the_api_answers_privately(guarded: TestClient) -> None:
    answer = guarded.get("/api/v1/top", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "private, no-cache"
    # the pages stay open: the token guards the API
    assert guarded.get("/").status_code == 200
