"""The README's webhook section stays true: its verification snippet accepts what the bot
signs and refuses anything else, and its example body has the shape the bot sends."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.chat.webhook_body import webhook_body
from bot.core.document import Document, Paragraph
from bot.core.webhook_signature import header_value

README = Path(__file__).parents[2] / "README.md"
KEY = "the-secret-0123456789"


def section() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("## Webhooks", 1)[1].split("\n## ", 1)[0]


def snippet_verified() -> Any:
    [code] = re.findall(r"```python\n(.*?)```", section(), re.S)
    scope: dict[str, Any] = {}
    exec(code, scope)  # noqa: S102 - the README's own snippet, run as a reader would
    return scope["verified"]


def test_the_snippet_accepts_the_bots_signature_and_nothing_else() -> None:
    verified = snippet_verified()
    now = int(datetime.now(UTC).timestamp())
    body = webhook_body("alert:1:abc", Document("t", (Paragraph("x"),)), None, datetime.now(UTC))
    header = header_value(KEY, now, body)
    assert verified(KEY, header, body)
    assert not verified("another-secret-0123456", header, body)
    assert not verified(KEY, header, body.replace(b'"x"', b'"y"'))
    assert not verified(KEY, header_value(KEY, now - 3600, body), body)
    assert not verified(KEY, "t=abc,v1=00", body)


def test_the_example_body_has_the_fields_the_bot_sends() -> None:
    [example] = re.findall(r"```json\n(.*?)```", section(), re.S)
    shown = json.loads(example.replace("…", "..."))
    sent = json.loads(webhook_body("k", Document("t", (Paragraph("x"),)), None, datetime.now(UTC)))
    assert shown.keys() == sent.keys()
    assert shown["document"].keys() == sent["document"].keys()
    assert shown["document"]["blocks"][0].keys() == sent["document"]["blocks"][0].keys()
