"""Library-wide settings are made once, at start-up, by ``configure_libraries``: not on
import, not per instance. Each check runs in a fresh interpreter, whose logging and
environment nothing else has touched."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.libraries import LIBRARY_ENVIRONMENT
from bot.roles import Role

ROOT = Path(__file__).parents[2]
TOKEN = "123456:AAE-never-log-this-token"  # noqa: S105 - a made-up token
DISCORD_TOKEN = "discord-made-up-token"  # noqa: S105 - a made-up token


def python(code: str, tmp_path: Path, **env: str) -> str:
    """Run ``code`` in a fresh interpreter without chat tokens or SDK settings; its stdout."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in LIBRARY_ENVIRONMENT and not k.endswith("_BOT_TOKEN") and k != "DATABASE_URL"
    }
    clean["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=tmp_path,  # no .env of the repository
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_configure_libraries_is_idempotent_and_redacts_tokens_once(tmp_path: Path) -> None:
    out = python(
        f"""
        import logging, os
        from bot.libraries import configure_libraries
        from bot.logsafety import RedactingFilter
        configure_libraries("INFO", [{TOKEN!r}])
        configure_libraries("INFO", [{TOKEN!r}])
        handlers = logging.getLogger().handlers
        print("handlers", len(handlers))
        print("redactors", [sum(isinstance(f, RedactingFilter) for f in h.filters) for h in handlers])
        print("limiter filters", len(logging.getLogger("telegram.ext.AIORateLimiter").filters))
        print("voice filters", len(logging.getLogger("discord.client").filters))
        print("PTB_TIMEDELTA", os.environ.get("PTB_TIMEDELTA"))
        print("apscheduler", logging.getLogger("apscheduler.executors").level)
        print("scheduler", logging.getLogger("bot.scheduler").getEffectiveLevel())
        logging.getLogger("bot.chat.telegram_adapter").warning("calling /bot%s/getMe", {TOKEN!r})
        """,
        tmp_path,
    )
    assert "handlers 1" in out
    assert "redactors [1]" in out
    assert "limiter filters 1" in out and "voice filters 1" in out
    assert "PTB_TIMEDELTA true" in out
    assert f"apscheduler {logging.CRITICAL}" in out
    assert f"scheduler {logging.INFO}" in out  # the scheduler's own warnings are kept
    assert TOKEN not in out and "calling /bot***/getMe" in out


def test_the_demo_mutes_the_scheduler_skips_by_parameter(tmp_path: Path) -> None:
    out = python(
        """
        import logging
        from bot.libraries import configure_libraries
        configure_libraries(logging.WARNING, quiet_scheduler_skips=True)
        logging.getLogger("bot.scheduler").warning("job cycle skipped: the previous run is still going")
        logging.getLogger("bot.runner").warning("STALE: still said")
        """,
        tmp_path,
    )
    assert "skipped" not in out and "STALE: still said" in out


def test_importing_and_building_the_adapters_changes_nothing_library_wide(tmp_path: Path) -> None:
    out = python(
        """
        import logging, os
        from bot.chat.discord_adapter import DiscordAdapter
        from bot.chat.telegram_adapter import TelegramAdapter
        from tests.fakes.clock import FakeClock
        TelegramAdapter(None, FakeClock(), token="123:abc")
        TelegramAdapter(None, FakeClock(), token="123:abc")
        DiscordAdapter(None, FakeClock(), token="abc")
        print("PTB_TIMEDELTA", os.environ.get("PTB_TIMEDELTA"))
        print("limiter filters", len(logging.getLogger("telegram.ext.AIORateLimiter").filters))
        print("apscheduler", logging.getLogger("apscheduler.executors").level)
        """,
        tmp_path,
    )
    assert "PTB_TIMEDELTA None" in out
    assert "limiter filters 0" in out
    assert f"apscheduler {logging.NOTSET}" in out


BUILD = """
    import asyncio, sys
    from bot.bootstrap import SystemClock, build_app
    from bot.config import load_settings
    from bot.roles import Role
    app = build_app(load_settings(database_url="sqlite:///dps.sqlite3"), clock=SystemClock(), role=Role.ALL)
    print("platforms", sorted(d.adapter.platform.value for d in app.chats))
    print("sdks", sorted(m for m in ("telegram", "discord") if m in sys.modules))
    asyncio.run(app.close())
"""


@pytest.mark.slow
def test_a_chat_sdk_is_imported_only_when_its_token_is_set(tmp_path: Path) -> None:
    assert "sdks []" in python(BUILD, tmp_path)
    telegram_only = python(BUILD, tmp_path, TELEGRAM_BOT_TOKEN=TOKEN)
    assert "platforms ['telegram']" in telegram_only and "sdks ['telegram']" in telegram_only
    discord_only = python(BUILD, tmp_path, DISCORD_BOT_TOKEN=DISCORD_TOKEN)
    assert "platforms ['discord']" in discord_only and "sdks ['discord']" in discord_only


def test_every_role_is_a_run_choice_and_nothing_else() -> None:
    from bot.cli import build_parser

    parser = build_parser()
    for role in Role:
        assert parser.parse_args(["run", "--role", role.value]).role == role.value
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--role", "everything"])
