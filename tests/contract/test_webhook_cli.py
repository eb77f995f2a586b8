"""``dps webhook add/list/remove`` in-process, on a SQLite file: checks, output, exit codes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_settings
from bot.core.events import EventKind
from bot.core.models import Band
from bot.storage.facade import open_storage
from tests.fakes.contract import record


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    url = f"sqlite:///{tmp_path / 'dps.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("WEBHOOK_ALLOW_PRIVATE", raising=False)
    return url


def out_and_code(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address (set WEBHOOK_ALLOW_PRIVATE=1"),
        ("http://localhost/hook", "localhost: 127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
        ("https://10.1.2.3/", "10.1.2.3 is a private address"),
        ("http://[::1]:9/", "::1 is a loopback address"),
        ("ftp://hooks.example/", "the URL must start with https://"),
        ("https://user:pw@hooks.example/", "must not carry a user name or password"),
    ],
)
def test_add_refuses_targets_the_bot_must_not_post_to(
    env: str, capsys: pytest.CaptureFixture[str], url: str, why: str
) -> None:
    code, out, err = out_and_code(capsys, "webhook", "add", url)
    assert code == 2 and out == ""
    assert err.startswith("dps webhook: ") and why in err
    assert "Traceback" not in err
    assert out_and_code(capsys, "webhook", "list")[1] == "no webhooks\n"


def test_add_list_remove_with_private_targets_allowed(
    env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "1")
    code, out, _ = out_and_code(
        capsys,
        "webhook", "add", "http://127.0.0.1:9/hook",
        "--min", "stressed", "--kinds", "band_up,squeeze_risk",
        "--symbols", "btc/usdt, ETHUSDT", "--no-digest",
    )  # fmt: skip
    assert code == 0
    first, secret_line = out.splitlines()
    assert "signing secret (shown only now" in secret_line
    secret = secret_line.rsplit(" ", 1)[1]
    assert len(secret) >= 32
    code, out, _ = out_and_code(capsys, "webhook", "add", "http://127.0.0.1:9/b", "--secret", "x" * 20)
    assert code == 0 and "signing secret" not in out  # the operator's own secret is not echoed

    storage = open_storage(env)
    try:
        hooks = storage.webhooks.webhooks()
        settings = storage.chats.get_settings(hooks[0].chat_ref)
        watched = [e.symbol for e in storage.chats.watchlist(hooks[0].chat_ref)]
    finally:
        storage.close()
    assert [h.secret for h in hooks] == [secret, "x" * 20]
    assert settings.min_band is Band.STRESSED
    assert settings.event_kinds == {EventKind.BAND_UP, EventKind.SQUEEZE_RISK}
    assert settings.watchlist_only and not settings.digest_enabled
    assert watched == ["BTCUSDT", "ETHUSDT"]
    assert first.startswith(f"added {hooks[0].webhook_id}  enabled  http://127.0.0.1:9/hook")

    code, listed, _ = out_and_code(capsys, "webhook", "list")
    assert code == 0 and len(listed.splitlines()) == 2
    assert secret not in listed and "x" * 20 not in listed
    assert "symbols BTCUSDT,ETHUSDT · digest off" in listed
    assert (
        "min stretched · kinds band_down,band_up,bias_flip,squeeze_risk · symbols all · digest on" in listed
    )

    assert out_and_code(capsys, "webhook", "remove", hooks[0].webhook_id)[:2] == (
        0,
        f"removed {hooks[0].webhook_id}\n",
    )
    code, _, err = out_and_code(capsys, "webhook", "remove", hooks[0].webhook_id)
    assert code == 2 and "no webhook" in err
    assert hooks[0].webhook_id not in out_and_code(capsys, "webhook", "list")[1]


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("--kinds", "band_up,moon"), "--kinds takes band_down, band_up, bias_flip, squeeze_risk or all"),
        (("--secret", "short"), "--secret must be 16 to 200 printable characters"),
        (("--symbols", "BTC USDT!"), "is not a symbol"),
    ],
)
def test_bad_options_get_a_clear_message(
    env: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    why: str,
) -> None:
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "1")
    code, out, err = out_and_code(capsys, "webhook", "add", "http://127.0.0.1:9/", *args)
    assert (code, out) == (2, "") and why in err
    assert load_settings().webhook_allow_private


def test_with_several_venues_a_webhook_follows_the_aggregate_unless_limited_to_symbols(
    env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("EXCHANGES", "binanceusdm,bybit,okx")
    assert out_and_code(capsys, "webhook", "add", "http://127.0.0.1:9/all")[0] == 0
    assert out_and_code(capsys, "webhook", "add", "http://127.0.0.1:9/btc", "--symbols", "btcusdt")[0] == 0
    storage = open_storage(env)
    try:
        chosen = {p.chat.key.chat_id: p.settings.alert_venues for p in storage.chats.alert_chats()}
    finally:
        storage.close()
    assert sorted(chosen.values(), key=len) == [frozenset(), frozenset({"binanceusdm"})]


def collected(url: str) -> None:
    """A latest collection on each venue and the aggregate: BTC listed everywhere (the
    aggregate names the asset), SHIB on Binance as 1000SHIBUSDT, on Bybit as SHIB1000USDT
    and not on OKX."""
    now = datetime.now(UTC).replace(microsecond=0)
    listed = {
        "binanceusdm": ("BTCUSDT", "1000SHIBUSDT"),
        "bybit": ("BTCUSDT", "SHIB1000USDT"),
        "okx": ("BTCUSDT",),
        "all": ("BTC", "SHIB"),
    }
    storage = open_storage(url)
    try:
        for exchange, symbols in listed.items():
            storage.cycles.save_cycle(
                exchange=exchange, scores=[record(s, now, exchange=exchange) for s in symbols]
            )
    finally:
        storage.close()


def test_venues_choose_whose_alerts_a_webhook_gets_and_its_symbols_are_found_on_each(
    env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("EXCHANGES", "binanceusdm,bybit,okx")
    collected(env)
    code, out, _ = out_and_code(
        capsys,
        "webhook",
        "add",
        "http://127.0.0.1:9/v",
        "--venues",
        "Bybit,binanceusdm",
        "--symbols",
        "btc,shib",
    )
    assert code == 0
    # "shib" names SHIB on each venue, whatever its multiplier: Binance's 1000SHIBUSDT and
    # Bybit's SHIB1000USDT (one rule, ``instruments.canonical``).
    assert "symbols BTCUSDT,1000SHIBUSDT,SHIB1000USDT · venues binanceusdm,bybit" in out
    code, out, _ = out_and_code(
        capsys, "webhook", "add", "http://127.0.0.1:9/a", "--venues", "all", "--symbols", "btc"
    )
    assert code == 0 and "symbols BTC ·" in out and "venues" not in out  # the aggregate: the default
    storage = open_storage(env)
    try:
        profiles = {p.chat.key.chat_id: p for p in storage.chats.alert_chats()}
        watched = {
            ref: sorted((e.exchange, e.symbol) for e in storage.chats.watchlist(p.chat.ref))
            for ref, p in profiles.items()
        }
    finally:
        storage.close()
    by_venues = {p.settings.alert_venues: watched[ref] for ref, p in profiles.items()}
    assert by_venues == {
        frozenset({"binanceusdm", "bybit"}): [
            ("binanceusdm", "1000SHIBUSDT"),
            ("binanceusdm", "BTCUSDT"),
            ("bybit", "BTCUSDT"),
            ("bybit", "SHIB1000USDT"),
        ],
        frozenset(): [("all", "BTC")],
    }
    assert all(p.settings.watchlist_only for p in profiles.values())


@pytest.mark.parametrize(
    ("exchanges", "args", "why"),
    [
        (
            "binanceusdm,bybit,okx",
            ("--venues", "kraken"),
            "'kraken' is not a venue here; the venues are: all, binanceusdm, bybit, okx",
        ),
        ("binanceusdm", ("--venues", "bybit"), "Only one venue is collected here (binanceusdm)"),
        (
            "binanceusdm,bybit,okx",
            ("--venues", "okx", "--symbols", "shib"),
            "'shib' is not listed on okx in the latest collection",
        ),
    ],
)
def test_bad_venues_get_a_clear_message_and_add_nothing(
    env: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    exchanges: str,
    args: tuple[str, ...],
    why: str,
) -> None:
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("EXCHANGES", exchanges)
    collected(env)
    code, out, err = out_and_code(capsys, "webhook", "add", "http://127.0.0.1:9/", *args)
    assert (code, out) == (2, "") and why in err and "Traceback" not in err
    assert out_and_code(capsys, "webhook", "list")[1] == "no webhooks\n"
