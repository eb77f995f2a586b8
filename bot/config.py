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


def _supported_exchange(value: str) -> str:
    if value not in PROFILES:
        raise ValueError(f"unsupported exchange {value!r}; choose one of {', '.join(PROFILES)}")
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


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
    # Every venue collected, the first being the one commands show; empty: [EXCHANGE].
    exchanges: Annotated[list[str], NoDecode] = Field(default_factory=list)
    exchange_api_url: str | None = None
    # With several venues, ``dps run`` collects each in a child process of its own
    # (per-venue: no venue waits for another's interpreter lock) or all in its own (one).
    venue_processes: Literal["per-venue", "one"] = "per-venue"
    # The venues this process collects (set by ``dps run`` for its per-venue children);
    # empty: every venue of EXCHANGES. Alerts and digests still follow all of EXCHANGES.
    collect_venues: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # EXCHANGE_API_URLS__<VENUE>: one venue's own endpoint, in place of EXCHANGE_API_URL.
    exchange_api_urls: dict[str, str] = Field(default_factory=dict)
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

    _split_symbols = field_validator("symbols", "admin_ids", "exchanges", "collect_venues", mode="before")(
        _split_csv
    )

    @field_validator("symbols")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return [s.upper() for s in value]

    @field_validator("exchange")
    @classmethod
    def _supported(cls, value: str) -> str:
        return _supported_exchange(value)

    @field_validator("exchanges")
    @classmethod
    def _venues(cls, value: list[str]) -> list[str]:
        venues = [v.lower() for v in value]
        for venue in venues:
            _supported_exchange(venue)
        repeated = sorted({v for v in venues if venues.count(v) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed more than once")
        return venues

    @field_validator("collect_venues")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [v.lower() for v in value]

    @field_validator("exchange_api_urls")
    @classmethod
    def _venue_urls(cls, value: dict[str, str]) -> dict[str, str]:
        urls = {}
        for venue, url in value.items():
            urls[venue.lower()] = _http_url(url)
        return urls

    @model_validator(mode="after")
    def _one_venue_list(self) -> Self:
        # EXCHANGE names the single venue of older set-ups; EXCHANGES lists them all. Both
        # set must agree on the venue commands show, or which one is meant is a guess.
        if not self.exchanges:
            self.exchanges = [self.exchange]
        elif "exchange" in self.model_fields_set and self.exchange != self.exchanges[0]:
            raise PydanticCustomError(
                "exchanges",
                "EXCHANGE={exchange} disagrees with EXCHANGES={exchanges} (whose first venue is the one "
                "commands show); set EXCHANGES only, or make EXCHANGE its first venue",
                {"exchange": self.exchange, "exchanges": ",".join(self.exchanges)},
            )
        self.exchange = self.exchanges[0]
        unknown = sorted(set(self.exchange_api_urls) - set(self.exchanges))
        if unknown:
            raise PydanticCustomError(
                "exchange_api_urls",
                "EXCHANGE_API_URLS names {unknown}, not in EXCHANGES ({exchanges})",
                {"unknown": ", ".join(unknown), "exchanges": ",".join(self.exchanges)},
            )
        strangers = [v for v in self.collect_venues if v not in self.exchanges]
        if strangers:
            raise PydanticCustomError(
                "collect_venues",
                "COLLECT_VENUES names {unknown}, not in EXCHANGES ({exchanges})",
                {"unknown": ", ".join(strangers), "exchanges": ",".join(self.exchanges)},
            )
        return self

    @property
    def venue_children(self) -> bool:
        """Whether ``dps run`` (collecting) runs each venue's collection in a child process."""
        return self.venue_processes == "per-venue" and len(self.exchanges) > 1 and not self.collect_venues

    def api_url_for(self, exchange: str) -> str | None:
        """The REST endpoint override of one venue: its own, else ``EXCHANGE_API_URL``."""
        return self.exchange_api_urls.get(exchange, self.exchange_api_url)

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
        return None if value is None else _http_url(value)


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
