"""Plain-text rendering details that the command tests do not pin down."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from bot.app.views import ErrorKind, ErrorReply, SettingsReply, TextReply, TextSection
from bot.core.durations import age_text
from bot.core.events import EventKind
from bot.core.models import Band
from bot.core.records import ChatSettings
from bot.render.text import render_text


@pytest.mark.parametrize(
    ("age", "text"),
    [
        (timedelta(seconds=-5), "0s"),
        (timedelta(seconds=45), "45s"),
        (timedelta(minutes=12, seconds=59), "12 min"),
        (timedelta(hours=3), "3 h"),
        (timedelta(hours=3, minutes=5), "3 h 5 min"),
        (timedelta(days=2), "2 d"),
        (timedelta(days=2, hours=4, minutes=1), "2 d 4 h"),
    ],
)
def test_age_text(age: timedelta, text: str) -> None:
    assert age_text(age) == text


def test_text_reply_sections_and_source() -> None:
    reply = TextReply(
        "Title",
        (TextSection(None, ("intro",)), TextSection("Heading", ("one", "two"))),
        source_label="synthetic",
    )
    # The source label sits under the title, as on every other message.
    assert render_text(reply) == "Title\nSource: synthetic\nintro\n\nHeading\n- one\n- two"


def test_settings_reply_lists_every_setting() -> None:
    settings = ChatSettings(
        alerts_enabled=False,
        min_band=Band.STRESSED,
        event_kinds=frozenset({EventKind.SQUEEZE_RISK}),
        watchlist_only=True,
        quiet_start=time(22),
        quiet_end=time(7),
        digest_enabled=True,
        digest_time=time(7, 30),
    )
    text = render_text(SettingsReply(settings, "Europe/Berlin", 3, "Alerts are off."))
    assert text.splitlines() == [
        "Settings for this chat",
        "Saved. Alerts are off.",
        "Alerts: off · from the stressed band up",
        "Kinds: squeeze_risk",
        "Symbols: watchlist only (3 symbols)",
        "Quiet hours: 22:00–07:00 Europe/Berlin",
        "Digest: on at 07:30 Europe/Berlin",
        "Timezone: Europe/Berlin",
    ]


def test_error_reply_with_and_without_suggestions() -> None:
    assert render_text(ErrorReply(ErrorKind.BAD_INPUT, "No.")) == "No."
    reply = ErrorReply(ErrorKind.UNKNOWN_SYMBOL, "Unknown.", suggestions=("BTCUSDT", "BTCDOMUSDT"))
    assert render_text(reply) == "Unknown.\nDid you mean: BTCUSDT, BTCDOMUSDT?"
