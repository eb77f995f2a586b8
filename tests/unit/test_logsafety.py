"""Secrets never reach a log line: tokens and URL passwords are masked, tracebacks included."""

from __future__ import annotations

import logging

import pytest

from bot.logsafety import RedactingFilter

TOKEN = "123456:AAE-very-secret-token"  # noqa: S105 - a fake token to redact


def test_tokens_and_url_passwords_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.secrets")
    caplog.handler.addFilter(RedactingFilter([TOKEN]))
    with caplog.at_level(logging.INFO, logger="test.secrets"):
        logger.info("calling https://api.telegram.org/bot%s/getMe", TOKEN)
        logger.warning("load markets failed: GET http://user:s3cretpw@127.0.0.1:9/fapi/v1/exchangeInfo")
        try:
            raise RuntimeError(f"boom with {TOKEN}")
        except RuntimeError:
            logger.exception("job failed")
    text = caplog.text
    assert TOKEN not in text and "s3cretpw" not in text
    assert "bot***/getMe" in text and "http://***:***@127.0.0.1:9" in text
    assert "boom with ***" in text
