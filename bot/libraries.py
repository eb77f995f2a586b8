"""Every library-wide setting, made once at start-up by ``configure_libraries``.

Environment variables and the levels and filters of other libraries' loggers belong to
the whole process: set at import time or in a constructor they would depend on what
happened to be imported or built first (and a filter added per instance piles up). The
entry points (``bot.cli``, and the test harnesses that run ``bot.runner.run``) call
``configure_libraries`` once, before anything is built. No SDK is imported here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping

from bot.logsafety import setup_logging

LIBRARY_ENVIRONMENT: Mapping[str, str] = {
    # python-telegram-bot 22: RetryAfter.retry_after is a timedelta (it warns without this).
    "PTB_TIMEDELTA": "true",
}
"""Environment the chat SDKs read; set unless the operator set it already."""

_LOGGER_LEVELS: Mapping[str, int] = {
    # bot.scheduler logs skips and misses once, in our words; APScheduler would say them twice.
    "apscheduler.scheduler": logging.ERROR,
    # Job runs and failures too: bot.scheduler logs a failure once, with a traceback only for bugs.
    "apscheduler.executors": logging.CRITICAL,
}
_PTB_LIMITER = "telegram.ext.AIORateLimiter"
_DISCORD_CLIENT = "discord.client"


class DropRetryAfterGiveUp(logging.Filter):
    """PTB's limiter logs a traceback when it hands a 429 back; delivery logs its own line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Rate limit hit after maximum")


class DropVoiceWarnings(logging.Filter):
    """The bot has no voice: discord.py's start-up warnings about voice libraries are noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().endswith("voice will NOT be supported")


def configure_libraries(
    level: str | int,
    secrets: Iterable[str] = (),
    *,
    fmt: str | None = None,
    quiet_scheduler_skips: bool = False,
) -> None:
    """Set up logging (secrets redacted) and every library-wide setting; idempotent.

    Args:
        level: the root log level (``LOG_LEVEL``).
        secrets: values never to log (the chat tokens).
        fmt: the log line format (default: time, level, logger, message).
        quiet_scheduler_skips: mute the scheduler's "skipped: still running" warnings. The
            demo ticks as fast as it can, so skipped runs are expected there, not news.
    """
    setup_logging(level, secrets, fmt)
    tune_libraries(quiet_scheduler_skips=quiet_scheduler_skips)


def tune_libraries(*, quiet_scheduler_skips: bool = False) -> None:
    """The library-wide settings without the root logging set-up; idempotent.

    ``configure_libraries`` calls it after the root level is set (httpx's level follows
    it). The test suite calls it alone, since pytest owns the root logger there.
    """
    for name, value in LIBRARY_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for name, logger_level in _LOGGER_LEVELS.items():
        logging.getLogger(name).setLevel(logger_level)
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # httpx logs every request at INFO: a line per Telegram long poll and per message
        # sent would bury the bot's own lines. DEBUG keeps them (redacted) for digging.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    _filter_once(_PTB_LIMITER, DropRetryAfterGiveUp)
    _filter_once(_DISCORD_CLIENT, DropVoiceWarnings)
    if quiet_scheduler_skips:
        logging.getLogger("bot.scheduler").setLevel(logging.ERROR)


def _filter_once(logger_name: str, kind: type[logging.Filter]) -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, kind) for f in logger.filters):
        logger.addFilter(kind())
