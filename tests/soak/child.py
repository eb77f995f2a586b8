"""``dps run`` for the soak: the real ``bot.runner.run`` with a faster clock.

Run as ``python -m tests.soak.child``. Settings come from the environment exactly as for
``dps run``; on top, ``SOAK_SIM_ORIGIN`` (ISO time), ``SOAK_WALL_ORIGIN`` (epoch seconds)
and ``SOAK_SPEED`` define the simulated clock, shared with the fakes and continuing across
restarts, and ``SOAK_DISCORD_REST`` / ``SOAK_DISCORD_GATEWAY`` point discord.py at the
fake Discord (discord.py has no base-URL setting, so the harness patches it here, as the
tests do).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import discord
import yarl

from bot.collector.client import SourceTuning
from bot.config import load_settings
from bot.errors import DpsError
from bot.libraries import configure_libraries
from bot.runner import run


@dataclass(frozen=True)
class ScaledClock:
    """Simulated UTC: ``sim_origin`` at ``wall_origin``, running ``speed`` times faster."""

    sim_origin: datetime
    wall_origin: float
    speed: float

    def now(self) -> datetime:
        return self.sim_origin + timedelta(seconds=(time.time() - self.wall_origin) * self.speed)


def clock_from_env() -> ScaledClock:
    return ScaledClock(
        datetime.fromisoformat(os.environ["SOAK_SIM_ORIGIN"]),
        float(os.environ["SOAK_WALL_ORIGIN"]),
        float(os.environ["SOAK_SPEED"]),
    )


def main() -> int:
    rest, gateway = os.environ.get("SOAK_DISCORD_REST"), os.environ.get("SOAK_DISCORD_GATEWAY")
    if rest and gateway:
        discord.http.Route.BASE = rest
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    settings = load_settings()
    secrets = [t.get_secret_value() for t in (settings.telegram_bot_token, settings.discord_bot_token) if t]
    configure_libraries(settings.log_level, secrets)
    clock = clock_from_env()
    # Sped up with the clock, or a cycle would outlast its sped-up interval: ccxt's spacing
    # (requests no published limit covers) and our share of the venue's budgets (the
    # harness grows the fake's budget with the clock's speed too).
    spacing = os.environ.get("SOAK_RATE_LIMIT_MS")
    tuning = SourceTuning(rate_limit_ms=float(spacing), budget_scale=clock.speed) if spacing else None
    try:
        return asyncio.run(run(settings, clock=clock, speed=clock.speed, tuning=tuning))
    except DpsError as exc:
        print(f"soak child: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
