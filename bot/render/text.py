"""Command replies as plain text (the console, the CLI, plain-text fallbacks), and chart file names.

The text is the reply's message document (``bot.render.documents``) drawn by
``bot.render.plain_text``: one layout for replies, alerts and digests.
"""

from __future__ import annotations

import re

from bot.app.views import Reply
from bot.render.documents import reply_document
from bot.render.plain_text import document_text
from bot.render.table import PARTIAL_NOTE as PARTIAL_NOTE

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str, default: str = "chart.png") -> str:
    """A PNG file name of letters, digits and ``._-`` only (a path, an ``attachment://`` URL)."""
    cleaned = _UNSAFE_FILENAME.sub("_", name).strip("._")[:100]
    if not cleaned:
        return default
    return cleaned if cleaned.lower().endswith(".png") else cleaned + ".png"


def render_text(reply: Reply) -> str:
    """The reply as plain text."""
    return document_text(reply_document(reply))
