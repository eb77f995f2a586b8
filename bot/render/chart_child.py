"""The chart worker process: ``python -m bot.render.chart_child``, driven by ``chart_worker``.

It imports only the drawing code (``bot.render.chart``: matplotlib, the views and the
core), never the bot's SDKs or database, so it starts small and the bot stays free of
matplotlib. It reads requests from stdin until EOF and answers each on stdout.

The pipe protocol, one frame per message:

* request (parent → child): 4-byte big-endian length, then a pickle of ``(kind, argument)``;
  ``kind`` is ``"view"`` (a ``ChartView``) or ``"digest"`` (a ``DigestPicture``).
* reply (child → parent): the header ``>cQI`` (status, the child's peak RSS in KiB, body
  length), then the body. Status ``R``: ready (body: the import time in seconds, ASCII),
  sent once after start-up; ``P``: a PNG; ``E``: a drawing error (body: its text, UTF-8).
"""

from __future__ import annotations

import pickle
import resource
import struct
import sys
import time
from collections.abc import Callable
from typing import Any, BinaryIO

REQUEST_HEADER = struct.Struct(">I")
REPLY_HEADER = struct.Struct(">cQI")
READY, PNG, ERROR = b"R", b"P", b"E"
MODULE = "bot.render.chart_child"


def peak_rss_kib() -> int:
    """This process's peak resident set size in KiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def request_frame(payload: bytes) -> bytes:
    """A request frame around an already pickled ``(kind, argument)``."""
    return REQUEST_HEADER.pack(len(payload)) + payload


def reply_frame(status: bytes, body: bytes) -> bytes:
    """A reply frame: status, this process's peak RSS and the body."""
    return REPLY_HEADER.pack(status, peak_rss_kib(), len(body)) + body


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None  # EOF: the parent is done (or gone)


def serve(requests: BinaryIO, replies: BinaryIO) -> int:
    """Import the drawing code, say ready, then draw each request until EOF."""
    started = time.perf_counter()
    from bot.render.chart import digest_chart, render_chart  # the expensive part of start-up

    draw: dict[str, Callable[[Any], bytes]] = {"view": render_chart, "digest": digest_chart}
    replies.write(reply_frame(READY, f"{time.perf_counter() - started:.4f}".encode()))
    replies.flush()
    while (header := _read_exactly(requests, REQUEST_HEADER.size)) is not None:
        (size,) = REQUEST_HEADER.unpack(header)
        payload = _read_exactly(requests, size)
        if payload is None:
            break
        try:
            # Frames come only from the bot process that started us, over a private pipe.
            kind, argument = pickle.loads(payload)  # noqa: S301
            frame = reply_frame(PNG, draw[kind](argument))
        except Exception as exc:  # one bad chart must not end the worker
            frame = reply_frame(ERROR, f"{type(exc).__name__}: {exc}".encode())
        replies.write(frame)
        replies.flush()
    return 0


def main() -> int:
    """Serve the pipe; stray prints go to stderr so they cannot corrupt a frame."""
    replies = sys.stdout.buffer
    sys.stdout = sys.stderr
    return serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    sys.exit(main())
