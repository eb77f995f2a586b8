"""``EXCHANGES``: several venues in one process, ``EXCHANGE`` still read, a clash named."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.errors import ConfigError

VENUE_NAMES = (
    "EXCHANGE",
    "EXCHANGES",
    "EXCHANGE_API_URL",
    "EXCHANGE_API_URLS__BYBIT",
    "EXCHANGE_API_URLS__OKX",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in (*VENUE_NAMES, *(n.upper() for n in Settings.model_fields)):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    return tmp_path


def test_one_venue_by_default(clean_env: Path) -> None:
    settings = load_settings()
    assert settings.exchanges == ["binanceusdm"]
    assert settings.exchange == "binanceusdm"


def test_exchange_alone_still_picks_the_one_venue(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE", "okx")
    settings = load_settings()
    assert settings.exchanges == ["okx"]
    assert settings.exchange == "okx"


def test_exchanges_lists_every_venue_and_the_first_is_the_exchange_commands_show(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXCHANGES", "Bybit, binanceusdm ,okx,")
    settings = load_settings()
    assert settings.exchanges == ["bybit", "binanceusdm", "okx"]
    assert settings.exchange == "bybit"


def test_exchange_agreeing_with_the_first_venue_is_accepted(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXCHANGE", "binanceusdm")  # an older .env, extended with EXCHANGES
    monkeypatch.setenv("EXCHANGES", "binanceusdm,bybit,okx")
    assert load_settings().exchanges == ["binanceusdm", "bybit", "okx"]


def test_exchange_disagreeing_with_exchanges_stops_start_up_naming_both(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXCHANGE", "okx")
    monkeypatch.setenv("EXCHANGES", "binanceusdm,bybit")
    with pytest.raises(ConfigError, match=r"EXCHANGE=okx disagrees with EXCHANGES=binanceusdm,bybit"):
        load_settings()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("binanceusdm,kraken", "EXCHANGES: .*unsupported exchange 'kraken'"),
        ("bybit,okx,bybit", "EXCHANGES: .*bybit listed more than once"),
    ],
)
def test_a_wrong_venue_list_is_named(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("EXCHANGES", value)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_each_venue_may_have_its_own_api_url(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGES", "binanceusdm,bybit,okx")
    monkeypatch.setenv("EXCHANGE_API_URL", "http://proxy.example:8080/")
    monkeypatch.setenv("EXCHANGE_API_URLS__OKX", "http://127.0.0.1:9001/")
    settings = load_settings()
    assert settings.api_url_for("okx") == "http://127.0.0.1:9001"
    assert settings.api_url_for("bybit") == "http://proxy.example:8080"  # the shared one
    assert settings.api_url_for("binanceusdm") == "http://proxy.example:8080"


def test_an_api_url_for_a_venue_not_collected_is_named(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXCHANGES", "binanceusdm,okx")
    monkeypatch.setenv("EXCHANGE_API_URLS__BYBIT", "http://127.0.0.1:9001")
    with pytest.raises(ConfigError, match="EXCHANGE_API_URLS names bybit, not in EXCHANGES"):
        load_settings()


def test_a_venue_api_url_must_be_http(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGES", "okx")
    monkeypatch.setenv("EXCHANGE_API_URLS__OKX", "ftp://127.0.0.1:9001")
    with pytest.raises(ConfigError, match=r"EXCHANGE_API_URLS.*must start with http"):
        load_settings()
