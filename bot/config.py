"""Settings from the environment or ``.env``, validated once at start-up.

Only ``bot.cli`` and the composition root import this module. Every setting is listed
with a comment in ``.env.example``; a wrong one stops start-up with a message naming it.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import time
from typing import TYPE_CHECKING, Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.collector.profiles import BINANCE_USDM, PROFILES
from bot.core.params import ScoringParams
from bot.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///./data/dps.sqlite3"
"""A SQLite file under ``./data/`` (relative to the working directory), created on demand."""


# Every float of ScoringParams is a setting, except this calendar fact.
_NOT_SETTINGS = frozenset({"annualisation_periods_8h"})

SCORING_SETTINGS: tuple[str, ...] = tuple(
    f.name for f in fields(ScoringParams) if f.type in ("float", float) and f.name not in _NOT_SETTINGS
)
"""The scoring parameters settable as ``SCORING__<NAME>``, in ``ScoringParams`` order."""


class _ScoringOverrides(BaseModel):
    """Overrides of the scoring defaults (``SCORING__<NAME>``); unset means the default."""

    def to_params(self) -> ScoringParams:
        """The scoring configuration with these overrides applied."""
        try:
            return self._params()
        except ValueError as exc:
            raise ConfigError(f"SCORING: {exc}") from exc

    def _params(self) -> ScoringParams:
        return ScoringParams(**{k: v for k, v in self.model_dump().items() if v is not None})

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        # ScoringParams checks the values together (scales > 0, weights summing above 0):
        # a bad combination stops start-up like a malformed number does.
        try:
            self._params()
        except ValueError as exc:
            raise PydanticCustomError("scoring_params", "{reason}", {"reason": str(exc)}) from None
        return self


if TYPE_CHECKING:
    ScoringSettings = _ScoringOverrides
else:
    # One optional float field per SCORING_SETTINGS name: ScoringParams is their one home.
    ScoringSettings = create_model(
        "ScoringSettings",
        __base__=_ScoringOverrides,
        **{name: (float | None, None) for name in SCORING_SETTINGS},
    )


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
    web_port: int | None = Field(default=None, ge=1, le=65535)
    web_host: str = "127.0.0.1"
    web_api_token: SecretStr | None = None
    # Webhooks may POST to private, loopback and link-local addresses (a receiver on the LAN).
    webhook_allow_private: bool = False
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

    @field_validator("web_host")
    @classmethod
    def _host(cls, value: str) -> str:
        # A host name or an address, nothing that could smuggle a scheme, port or path in.
        if not value or any(ch in value for ch in "/@?# ") or len(value) > 253:
            raise ValueError("must be a host name or an IP address, e.g. 127.0.0.1 or 0.0.0.0")
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
