"""The JSON a webhook receives: the message document in its JSON form, with its id and time.

``{"id": …, "sent_at": …, "document": {…}, "chart": null | {"name", "content_type", "base64"}}``.
``document`` is ``bot.core.document.to_data`` (the outbox's own stored form: title, tone,
typed blocks, ``version``); ``id`` is the idempotency key, the same on every retry.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from bot.core.document import Document, to_data


def webhook_body(key: str, document: Document, attachment: bytes | None, now: datetime) -> bytes:
    """The exact bytes POSTed (and signed) for one message."""
    chart: dict[str, Any] | None = None
    if attachment is not None:
        ref = document.chart
        chart = {
            "name": ref.filename if ref is not None else "chart.png",
            "content_type": "image/png",
            "base64": base64.b64encode(attachment).decode("ascii"),
        }
    data = {
        "id": key,
        "sent_at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "document": to_data(document),
        "chart": chart,
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
