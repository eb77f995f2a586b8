"""Settings from the environment or ``.env``, validated once at start-up.

Only ``bot.cli`` and the composition root import this module. Every setting is listed
with a comment in ``.env.example``; a wrong one stops start-up with a message naming it.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.collector.profiles import BINANCE_USDM, PROFILES
from bot.core.params import ScoringParams
from bot.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///./data/dps.sqlite3"
"""A SQLite file under ``./data/`` (relative to the working directory), created on demand."""


class ScoringSettings(BaseModel):
    """Overrides of the scoring defaults (``SCORING__<NAME>``); unset means the default."""

    funding_baseline_8h_pct: float | None = None
    funding_deadband_pct: float | None = None
    funding_scale_pct: float | None = None
    basis_deadband_pct: float | None = None
    basis_scale_pct: float | None = None
    funding_weight: float | None = None
    basis_weight: float | None = None
    base_gain: float | None = None
    build_gain: float | None = None
    unwind_gain: float | None = None
    oi_only_gain: float | None = None
    crowded_funding: float | None = None
    crowded_basis: float | None = None
    building_threshold: float | None = None
    unwind_threshold: float | None = None
    saturation: float | None = None
    side_min_positioning: float | None = None
    price_direction_threshold: float | None = None

    def to_params(self) -> ScoringParams:
        """The scoring configuration with these overrides applied."""
        overrides = {k: v for k, v in self.model_dump().items() if v is not None}
        try:
            return ScoringParams(**overrides)
        except ValueError as exc:
            raise ConfigError(f"SCORING: {exc}") from exc


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """All runtime settings. Tokens are ``SecretStr`` so they never print."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        env_ignore_empty=True,
        extra="ignore",
    )

    database_url: str = DEFAULT_DATABASE_URL
    exchange: str = BINANCE_USDM.exchange_id
    exchange_api_url: str | None = None
    symbols: Annotated[list[str], NoDecode] = Field(default_factory=list)
    universe_top_n: int | None = Field(default=None, ge=1, le=2000)
    collect_interval: int = Field(default=300, ge=30, le=3600, description="seconds")
    collector_lease_seconds: int = Field(default=90, ge=2, le=3600)
    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_max_rate: float = Field(default=29.0, gt=0, le=1000)
    discord_bot_token: SecretStr | None = None
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    digest_time: time = time(8, 0)
    digest_timezone: str = "UTC"
    snapshot_retention_days: int = Field(default=14, ge=1, le=3650)
    score_retention_days: int = Field(default=90, ge=1, le=3650)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)

    _split_symbols = field_validator("symbols", "admin_ids", mode="before")(_split_csv)

    @field_validator("symbols")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return [s.upper() for s in value]

    @field_validator("exchange")
    @classmethod
    def _supported(cls, value: str) -> str:
        if value not in PROFILES:
            raise ValueError(f"unsupported exchange {value!r}; choose one of {', '.join(PROFILES)}")
        return value

    @field_validator("digest_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("exchange_api_url", "telegram_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning validation failures into a ConfigError naming the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "__".join(str(part) for part in err["loc"]).upper() or "settings"
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid setting " + "; ".join(problems)) from None
