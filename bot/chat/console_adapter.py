"""The console chat adapter: commands typed in a terminal (or piped in), replies printed.

The console is one private chat (``Platform.CONSOLE``) whose user is the operator. Lines
that start with ``/`` go to the command layer; a chart is written as a PNG file under
``chart_dir`` and its path printed. The adapter is also the console's ``bot.ports.Sink``:
alerts queued for console chats are printed. No chat SDK is involved.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncGenerator
from contextlib import aclosing, suppress
from pathlib import Path
from typing import TextIO

from bot.app.commands import CommandHandler, CommandRequest
from bot.app.views import ChartReply
from bot.core.document import Document
from bot.core.records import ChatKey, ChatKind, Platform
from bot.core.send_outcome import PartAccepted, SendOutcome, Sent
from bot.ports import Clock
from bot.render.documents import reply_document
from bot.render.plain_text import document_text
from bot.render.text import safe_filename

CONSOLE_CHAT = ChatKey(Platform.CONSOLE, "console")
CONSOLE_USER = "console"
QUIT_WORDS = frozenset({"quit", "exit", "/quit", "/exit"})
NOT_A_COMMAND = "Commands start with / — try /help (quit or Ctrl-D to leave)."


async def read_lines(stream: TextIO) -> AsyncGenerator[str, None]:
    """Lines of ``stream`` as they arrive, without blocking the event loop.

    A blocking ``readline`` runs in a daemon thread: a terminal has no portable
    non-blocking read, and a daemon thread still stuck waiting for a line does not keep
    the process alive at exit (an executor thread would).
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def put(item: str | None) -> None:
        with suppress(RuntimeError):  # the loop has closed: nobody is listening any more
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def pump() -> None:
        try:
            for line in iter(stream.readline, ""):
                put(line)
        except (OSError, ValueError, UnicodeDecodeError):  # closed or undecodable input ends it
            pass
        put(None)

    threading.Thread(target=pump, name="console-stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


class ConsoleAdapter:
    """Translates console lines into command requests and replies into printed text.

    Args:
        commands: the command layer.
        clock: the application's clock (the demo's is accelerated).
        chart_dir: where ``/chart`` PNGs are written.
        out: where replies and alerts are printed (stdout by default).
    """

    platform = Platform.CONSOLE

    def __init__(
        self,
        commands: CommandHandler,
        clock: Clock,
        *,
        chart_dir: Path,
        out: TextIO | None = None,
        chat: ChatKey = CONSOLE_CHAT,
        user_id: str = CONSOLE_USER,
    ) -> None:
        self._commands = commands
        self._clock = clock
        self._chart_dir = chart_dir
        self._out = out
        self.chat = chat
        self._user = user_id
        self._sent_images = 0

    # The rest of bot.ports.ChatAdapter: the console has nothing to connect, and it always
    # answers its own terminal (``run``), whatever any commands lease says.
    async def start(self, serve_commands: bool = True) -> None:
        """Nothing to connect (``bot.ports.ChatAdapter``)."""

    async def serve_commands(self, on: bool) -> None:
        """Nothing to switch: the console answers whoever types at it."""

    async def stop(self) -> None:
        """Nothing to close."""

    def print(self, text: str) -> None:
        """Write ``text`` and a newline; characters the terminal cannot show are replaced."""
        out = self._out or sys.stdout
        try:
            out.write(text + "\n")
        except UnicodeEncodeError:
            encoding = getattr(out, "encoding", None) or "ascii"
            out.write((text + "\n").encode(encoding, "replace").decode(encoding))
        out.flush()

    async def send(
        self,
        chat: ChatKey,
        document: Document,
        attachment: bytes | None = None,
        *,
        start: int = 0,
        on_part: PartAccepted | None = None,
    ) -> SendOutcome:
        """Print an alert or digest (``bot.ports.Sink``); an image goes to a PNG file.

        One print is the whole message: a single part.
        """
        if start >= 1:
            return Sent()  # printed before the retry: nothing left
        where = "" if chat == self.chat else f" for {chat.platform.value}:{chat.chat_id}"
        text = f"── alert{where} ──\n{document_text(document)}"
        if attachment is not None:
            self._sent_images += 1
            path = self._chart_dir / f"message-{self._sent_images}.png"
            self._chart_dir.mkdir(parents=True, exist_ok=True)
            path.write_bytes(attachment)
            text += f"\nChart written to {path}"
        self.print(text)
        if on_part is not None:
            await on_part(1)
        return Sent()

    async def handle_line(self, line: str) -> str | None:
        """The text to print for one input line (``None`` for a blank line)."""
        text = line.strip()
        if not text:
            return None
        if not text.startswith("/"):
            return NOT_A_COMMAND
        parts = text.split(maxsplit=1)
        name, args = parts[0], parts[1] if len(parts) > 1 else ""
        request = CommandRequest(
            chat=self.chat,
            chat_kind=ChatKind.PRIVATE,
            user_id=self._user,
            is_chat_admin=True,
            command=name,
            args=args,
            now=self._clock.now(),
        )
        reply = await self._commands.handle(request)
        rendered = document_text(reply_document(reply))
        if isinstance(reply, ChartReply):
            rendered += f"\nChart written to {self.save_chart(reply)}"
        return rendered

    def save_chart(self, reply: ChartReply) -> Path:
        """Write the chart's PNG under ``chart_dir`` (same name again overwrites) and return its path."""
        name = safe_filename(reply.filename)
        self._chart_dir.mkdir(parents=True, exist_ok=True)
        path = self._chart_dir / name
        path.write_bytes(reply.png)
        return path

    async def run(self, stream: TextIO | None = None) -> int:
        """Answer commands from ``stream`` (stdin by default) until its end or ``quit``.

        Returns:
            How many lines were answered.
        """
        answered = 0
        async with aclosing(read_lines(stream or sys.stdin)) as lines:
            async for line in lines:
                if line.strip().lower() in QUIT_WORDS:
                    break
                printed = await self.handle_line(line)
                if printed is not None:
                    self.print(printed)
                    answered += 1
        return answered
