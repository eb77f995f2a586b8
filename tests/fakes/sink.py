"""A chat sink that records what it was asked to send and answers from a script."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from bot.core.document import Document
from bot.core.records import ChatKey
from bot.core.send_outcome import PartAccepted, SendOutcome, Sent


class FakeSink:
    """``bot.ports.Sink`` for tests: every send is recorded (the document as plain text);
    outcomes come from ``script``.

    A message is one part here (``starts`` records where each send was told to resume);
    a ``Sent`` from the script reports that part accepted. Once the script is used up
    every send succeeds.
    """

    def __init__(self, script: Iterable[SendOutcome] = ()) -> None:
        self.sent: list[tuple[ChatKey, Document]] = []
        self.attachments: list[bytes | None] = []
        self.starts: list[int] = []
        self._script = deque(script)

    async def send(
        self,
        chat: ChatKey,
        document: Document,
        attachment: bytes | None = None,
        *,
        start: int = 0,
        on_part: PartAccepted | None = None,
    ) -> SendOutcome:
        self.sent.append((chat, document))
        self.attachments.append(attachment)
        self.starts.append(start)
        outcome = self._script.popleft() if self._script else Sent()
        if isinstance(outcome, Sent) and on_part is not None:
            await on_part(1)
        return outcome
