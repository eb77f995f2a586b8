"""Settings: .env.example lists every setting, loads as the defaults, and errors name the setting."""

from __future__ import annotations

import re
import shutil
from dataclasses import fields
from pathlib import Path

import pytest

from bot.config import ScoringSettings, Settings, load_settings
from bot.core.params import DEFAULT_PARAMS, ScoringParams
from bot.errors import ConfigError

ROOT = Path(__file__).parents[2]


def _documented_names() -> set[str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Z0-9_]+)=", text, flags=re.MULTILINE))


def _setting_names() -> set[str]:
    names = {name.upper() for name in Settings.model_fields if name != "scoring"}
    names |= {f"SCORING__{name.upper()}" for name in ScoringSettings.model_fields}
    return names


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in _setting_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_env_example_lists_every_setting() -> None:
    assert _documented_names() == _setting_names()


def test_env_example_as_is_loads_the_defaults(clean_env: Path) -> None:
    shutil.copy(ROOT / ".env.example", clean_env / ".env")
    settings = load_settings()
    assert settings.exchange == "binanceusdm"
    assert settings.telegram_bot_token is None and settings.discord_bot_token is None
    assert settings.scoring.to_params() == DEFAULT_PARAMS


def test_lists_and_overrides_from_the_environment(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYMBOLS", "btcusdt, ethusdt,")
    monkeypatch.setenv("ADMIN_IDS", "42,7")
    monkeypatch.setenv("SCORING__FUNDING_SCALE_PCT", "0.1")
    settings = load_settings()
    assert settings.symbols == ["BTCUSDT", "ETHUSDT"]
    assert settings.admin_ids == [42, 7]
    assert settings.scoring.to_params().funding_scale_pct == 0.1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EXCHANGE", "kraken"),
        ("COLLECT_INTERVAL", "5"),
        ("DIGEST_TIMEZONE", "Mars/Olympus"),
        ("ADMIN_IDS", "alice"),
        ("EXCHANGE_API_URL", "ftp://x"),
        ("DIGEST_TIME", "25:99"),
    ],
)
def test_a_wrong_setting_is_named(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_bad_scoring_override_is_named(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORING__FUNDING_SCALE_PCT", "0")
    with pytest.raises(ConfigError, match="SCORING"):
        load_settings().scoring.to_params()


def test_scoring_overrides_that_clash_stop_loading(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each value alone is fine; ScoringParams refuses the pair, before anything starts.
    monkeypatch.setenv("SCORING__FUNDING_WEIGHT", "0")
    monkeypatch.setenv("SCORING__BASIS_WEIGHT", "0")
    with pytest.raises(
        ConfigError, match=r"SCORING: ScoringParams\.funding_weight \+ basis_weight must be > 0"
    ):
        load_settings()
    monkeypatch.setenv("SCORING__SATURATION", "fast")
    with pytest.raises(ConfigError, match="SCORING__SATURATION: Input should be a valid number"):
        load_settings()


def test_every_tunable_scoring_parameter_is_a_setting() -> None:
    floats = {f.name for f in fields(ScoringParams) if f.type in ("float", float)}
    assert set(ScoringSettings.model_fields) == floats - {"annualisation_periods_8h"}
    for name in ScoringSettings.model_fields:  # each one reaches the parameters
        assert getattr(ScoringSettings(**{name: 0.5}).to_params(), name) == 0.5


def test_readme_configuration_table_names_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n\n|", 1)[1].split("\n\n", 1)[0]
    first_cells = re.findall(r"^\| ([^|]+) \|", table, flags=re.MULTILINE)
    named = {name for cell in first_cells for name in re.findall(r"`([A-Z0-9_]+(?:__<NAME>)?)`", cell)}
    expected = {name.upper() for name in Settings.model_fields if name != "scoring"} | {"SCORING__<NAME>"}
    assert named == expected


def test_tokens_never_print(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:SECRET-TOKEN")
    settings = load_settings()
    assert "SECRET-TOKEN" not in repr(settings) and "SECRET-TOKEN" not in str(settings)
    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == "123456:SECRET-TOKEN"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SCORING__FUNDING_SCALE_PCT", "inf"),
        ("SCORING__BUILD_GAIN", "nan"),
        ("SCORING__CROWDED_BASIS", "-inf"),
    ],
)
def test_scoring_overrides_must_be_finite(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    # inf passes every "> 0" check and NaN none of the "< 1" ones: each would score every
    # symbol NaN or 0 without a word, so start-up stops and names the setting.
    monkeypatch.setenv(name, value)
    field = name.removeprefix("SCORING__").lower()
    with pytest.raises(ConfigError, match=rf"ScoringParams\.{field} must be a finite number"):
        load_settings()


def test_horizon_values_must_be_finite() -> None:
    from bot.core.params import HorizonParams

    bad = (HorizonParams(hours=1, scale_pct=3.0, weight=float("nan")),)
    with pytest.raises(ValueError, match=r"horizons\[0\]\.weight must be a finite number"):
        ScoringParams(horizons=bad)
    good = tuple(HorizonParams(hours=h, scale_pct=3.0, weight=1.0) for h in (1, 4, 24))
    assert ScoringParams(horizons=good).horizons == good


@pytest.mark.parametrize("hours", [(1,), (1, 4), (4, 1, 24), (1, 4, 24, 48), (1, 8, 24)])
def test_the_horizons_must_be_the_inputs_three(hours: tuple[int, ...]) -> None:
    # The inputs are the 1h, 4h and 24h changes: any other set could not score at all, or
    # would weigh a change under another horizon's name.
    from bot.core.params import HorizonParams

    horizons = tuple(HorizonParams(hours=h, scale_pct=3.0, weight=1.0) for h in hours)
    with pytest.raises(ValueError, match=r"horizons must be the 1h, 4h and 24h horizons"):
        ScoringParams(horizons=horizons)
    with pytest.raises(ValueError, match=r"price_horizons must be the 1h, 4h and 24h horizons"):
        ScoringParams(price_horizons=horizons)
