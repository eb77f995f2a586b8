"""Logging set-up that never lets a secret through.

A filter on every root handler masks the configured tokens and any ``user:password@`` in
URLs (proxies in ``EXCHANGE_API_URL`` end up quoted in library error messages).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s:]+:[^/@\s]+@", re.IGNORECASE)
MASK = "***"


class RedactingFilter(logging.Filter):
    """Replaces secrets in the formatted message (and its arguments) before any handler sees it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return _USERINFO.sub(rf"\g<scheme>{MASK}:{MASK}@", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self.redact(message), None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def setup_logging(level: str | int, secrets: Iterable[str] = (), fmt: str | None = None) -> None:
    """Configure the root logger, with one redacting filter on each of its handlers.

    Called again (a test harness, then ``dps run``), it adds no second filter: the new
    one, with the secrets given now, replaces the old.
    """
    logging.basicConfig(level=level, format=fmt or "%(asctime)s %(levelname)s %(name)s: %(message)s")
    redactor = RedactingFilter(secrets)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(redactor)
