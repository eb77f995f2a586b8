"""The command registry: every chat command declared once, every surface generated from it.

A ``Command`` holds what each surface needs: its name, one-line summary and usage (for
``/help``, the Telegram menu and Discord's descriptions), its typed options (Discord
slash-command options: kind, required, choices, autocomplete), who may use it, whether
the ``dps`` command line offers it as a read-only query, and its handler. Adapters and
the CLI read the registry; none of them lists commands of its own.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING

from bot.app.views import ChartView, Reply
from bot.core.records import ChatKey, ChatKind, require_aware

if TYPE_CHECKING:  # the context's services import this module for CommandRequest
    from bot.app.chat_settings import ChatSettingsCommands
    from bot.app.queries import Aggregates, CycleLine, Queries
    from bot.app.track import TrackHistory

ChartRenderer = Callable[[ChartView], Awaitable[bytes]]
"""Draws a chart view as PNG bytes (the chart worker, injected); may raise ``ChartError``."""

NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
"""A command or option name every platform accepts (Telegram: 1-32 of a-z, 0-9 and _)."""
SUMMARY_MAX = 100
"""Discord's limit for a description, the tightest of the surfaces."""


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """One command as an adapter received it.

    Attributes:
        chat: where it was sent (and where settings changes apply).
        chat_kind: private chats may change their own settings; groups and channels
            need an admin.
        user_id: the sender's platform id, as text.
        is_chat_admin: the platform says the sender administers this chat.
        command: the command name, with or without ``/`` and a ``@botname`` suffix.
        args: everything after the command name.
        now: when it was received (aware UTC).
    """

    chat: ChatKey
    chat_kind: ChatKind
    user_id: str
    is_chat_admin: bool
    command: str
    args: str
    now: datetime

    def __post_init__(self) -> None:
        require_aware("CommandRequest.now", self.now)


class Access(Enum):
    """Who may use a command outside private chats."""

    ANYONE = "anyone"
    ADMIN = "admin"
    """Chat admins (or ``ADMIN_IDS``) only: it always changes settings."""
    ADMIN_WITH_ARGS = "admin with arguments"
    """Anyone may look; only admins may change (any arguments mean a change)."""


class OptionKind(Enum):
    """The type of an option's value."""

    TEXT = "text"
    INTEGER = "integer"


class Completion(Enum):
    """Where an option's suggestions come from while it is typed."""

    SYMBOL = "symbol"
    """Symbols of the latest collection."""
    SYMBOLS = "symbols"
    """The last of several space-separated symbols."""


@dataclass(frozen=True, slots=True)
class Choice:
    """One allowed value of an option, with the label a menu shows."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Option:
    """One typed option of a command; its values join, in order, into the argument text."""

    name: str
    description: str
    kind: OptionKind = OptionKind.TEXT
    required: bool = False
    choices: tuple[Choice, ...] = ()
    completion: Completion | None = None
    minimum: int | None = None
    maximum: int | None = None

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ValueError(f"option name {self.name!r} is not 1-32 of a-z, 0-9 and _")
        if not 1 <= len(self.description) <= SUMMARY_MAX:
            raise ValueError(f"option {self.name!r}: the description must be 1-{SUMMARY_MAX} characters")


@dataclass(frozen=True, slots=True)
class CommandContext:
    """What handlers may use: the services of one ``CommandLayer`` and facts about the bot.

    Attributes:
        registry: the command set this layer answers (``/help`` lists it).
        queries / track / settings: the read side, ``/track``'s history and the settings commands.
        exchange / source_label / band_floors: what the scores are and how they are banded.
        chart: renders ``/chart`` PNGs (``None``: charts are unavailable).
        last_cycle: a line about the latest cycle this process ran.
        version: the installed package's version.
        started: when this process started (``None`` when unknown, e.g. on a replay clock).
        may_change: whether the sender may change this chat's settings.
        aggregates: each asset's last aggregate, where this process computes it (``None``
            elsewhere): which venues an aggregate card or row is missing.
    """

    registry: CommandRegistry
    queries: Queries
    track: TrackHistory
    settings: ChatSettingsCommands
    exchange: str
    source_label: str | None
    band_floors: tuple[int, int, int]
    chart: ChartRenderer | None
    last_cycle: CycleLine | None
    version: str
    started: datetime | None
    may_change: Callable[[CommandRequest], bool]
    aggregates: Aggregates | None = None


Handler = Callable[[CommandContext, CommandRequest, str], Awaitable[Reply]]
"""Answers one command: the context, the request, and its checked argument text."""


@dataclass(frozen=True, slots=True)
class Command:
    """One command, declared once.

    Attributes:
        name: without the ``/``.
        summary: one line for ``/help``, the Telegram menu and Discord (at most 100 characters).
        usage: how it is typed, e.g. ``/score SYMBOL``.
        handler: answers it.
        options: its typed options, in the order their values are typed.
        access: who may use it outside private chats.
        cli: the ``dps`` command line offers it as a read-only query (``dps NAME [WORDS…]``).
        slow: it can take longer than Discord's 3 s, so its interaction is deferred at once.
        asks_admin: the answer depends on the sender being an admin even though the
            command changes no settings (``/start`` signs a group up only for an admin).
        shows: argument texts that only show settings (``/alerts venues``): anyone may send them.
    """

    name: str
    summary: str
    usage: str
    handler: Handler
    options: tuple[Option, ...] = ()
    access: Access = Access.ANYONE
    cli: bool = False
    slow: bool = False
    asks_admin: bool = False
    shows: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ValueError(f"command name {self.name!r} is not 1-32 of a-z, 0-9 and _")
        if not 1 <= len(self.summary) <= SUMMARY_MAX:
            raise ValueError(f"/{self.name}: the summary must be 1-{SUMMARY_MAX} characters")
        names = [o.name for o in self.options]
        if len(set(names)) != len(names):
            raise ValueError(f"/{self.name}: option names repeat")

    def needs_admin(self, args: str) -> bool:
        """Whether these arguments change settings, so that outside private chats only admins may."""
        shown = args.strip()
        if self.access is Access.ADMIN_WITH_ARGS:
            return bool(shown) and shown.lower() not in self.shows
        return self.access is Access.ADMIN

    def admin_matters(self, args: str) -> bool:
        """Whether the answer depends on the sender being a chat admin (worth an API call)."""
        return self.needs_admin(args) or self.asks_admin


def command_name(text: str) -> str:
    """``/Score@dps_bot`` → ``score``: the bare, lower-case command name."""
    return text.strip().removeprefix("/").split("@", 1)[0].lower()


class CommandRegistry:
    """An ordered, immutable set of commands, looked up by name."""

    def __init__(self, commands: Iterable[Command]) -> None:
        self._commands: dict[str, Command] = {}
        for command in commands:
            if command.name in self._commands:
                raise ValueError(f"/{command.name} is declared twice")
            self._commands[command.name] = command

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands.values())

    def __len__(self) -> int:
        return len(self._commands)

    def __contains__(self, name: object) -> bool:
        return name in self._commands

    def names(self) -> tuple[str, ...]:
        """The command names in declaration order."""
        return tuple(self._commands)

    def get(self, text: str) -> Command | None:
        """The command ``text`` names (``/Top@bot`` finds ``top``), or ``None``."""
        name = command_name(text)
        return self._commands.get(name) if NAME.fullmatch(name) else None

    def with_command(self, command: Command) -> CommandRegistry:
        """A new registry with ``command`` added at the end."""
        return CommandRegistry((*self, command))

    def replacing(self, *commands: Command) -> CommandRegistry:
        """A new registry with each of ``commands`` in place of the one of the same name."""
        new = {c.name: c for c in commands}
        unknown = set(new) - set(self._commands)
        if unknown:
            raise ValueError(f"no command to replace: {', '.join(sorted(unknown))}")
        return CommandRegistry(new.get(c.name, c) for c in self)

    def queries(self) -> tuple[Command, ...]:
        """The read-only commands the ``dps`` command line offers."""
        return tuple(c for c in self if c.cli)
