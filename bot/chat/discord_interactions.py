"""Slash commands: a Discord interaction in, a ``CommandRequest`` to the command layer, embeds out.

Every slash command is built from the command layer's registry (options, choices, symbol
autocomplete, the Manage Server hint for settings commands); none is declared here. Each
one rebuilds the argument text a person would type after the command
(``/top n:10 filter:short`` → ``"10 short"``) and hands it to the channel-agnostic
command layer, which validates it, checks who may change settings and answers; nothing
here decides anything about commands. The chat is the channel (a thread is its parent
channel plus the thread id), so alerts switched on there are delivered there.

Interactions die unless answered within 3 s: slow commands (``/chart``) are deferred at once, anything
else that has not answered after ``ANSWER_WITHIN`` seconds is deferred too, and the
answer follows. Refusals are ephemeral. A failure in this translation still answers,
with a generic ephemeral apology; an interaction Discord no longer knows (not answered
within its 3 s) is let go with a warning, since nothing can reach that person any more.

``CommandSync`` syncs the command set only when it changed since the last sync (a hash
kept in the database): Discord limits how many commands may be created a day.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Optional

import discord
from discord import app_commands
from discord.app_commands import Choice

from bot.app.command_registry import Access, Command, Completion, Option, OptionKind
from bot.app.commands import APOLOGY, CommandLayer, CommandRequest
from bot.app.views import ErrorKind, ErrorReply, Reply
from bot.chat.discord_messages import send_kwargs
from bot.core.records import ChatKey, ChatKind, Platform
from bot.errors import StorageError
from bot.ports import Clock, StateStore
from bot.render.discord_embeds import DiscordMessage, render_reply

logger = logging.getLogger(__name__)

Interaction = discord.Interaction[discord.Client]
Tree = app_commands.CommandTree[discord.Client]

ANSWER_WITHIN = 2.0
"""Seconds to wait for the command layer before deferring (Discord allows 3 in all)."""
MAX_CHOICES = 25
MAX_CHOICE_CHARS = 100
UNREADABLE = "Sorry, I could not read that command's options. /help lists what I can do."
UNKNOWN_INTERACTION = 10062
"""Discord's code for an interaction it no longer knows (not answered within 3 s)."""
SYNCED_STATE = "discord:commands"
"""``StateStore`` name (``:<application id>`` appended) of the last synced command set's hash."""


AutocompleteCallback = Callable[[Interaction, str], Coroutine[Any, Any, list[Choice[str]]]]


def _summary(text: str) -> str:
    return (text[:1].upper() + text[1:])[:100]


def chat_of(interaction: Interaction) -> tuple[ChatKey, ChatKind]:
    """The chat a command came from, and whether it is private (a DM with the bot)."""
    channel = interaction.channel
    if isinstance(channel, discord.Thread) and channel.parent_id is not None:
        key = ChatKey(Platform.DISCORD, str(channel.parent_id), str(channel.id))
    elif interaction.channel_id is not None:
        key = ChatKey(Platform.DISCORD, str(interaction.channel_id))
    else:
        raise ValueError("an interaction without a channel")
    private = interaction.guild_id is None and (channel is None or isinstance(channel, discord.DMChannel))
    return key, ChatKind.PRIVATE if private else ChatKind.GROUP


def is_server_admin(interaction: Interaction) -> bool:
    """The member may manage the server (Manage Server, or Administrator) where they asked."""
    if interaction.guild_id is None:
        return False
    permissions = interaction.permissions
    return permissions.manage_guild or permissions.administrator


def _args(*parts: object) -> str:
    """Option values joined as typed text; options left out are skipped."""
    return " ".join(str(p) for p in parts if p is not None and str(p) != "")


class SlashCommands:
    """The whole command set as slash commands over one command layer."""

    def __init__(self, commands: CommandLayer, clock: Clock) -> None:
        self._commands = commands
        self._clock = clock

    # --- autocomplete ----------------------------------------------------------------

    async def symbol_choices(self, interaction: Interaction, current: str) -> list[Choice[str]]:
        """Symbols of the latest collection matching what was typed, highest score first."""
        symbols = self._commands.symbols(current.strip(), limit=MAX_CHOICES)
        return [Choice(name=s, value=s) for s in symbols]

    async def symbol_list_choices(self, interaction: Interaction, current: str) -> list[Choice[str]]:
        """Completes the last of several symbols (``btc et`` → ``btc ETHUSDT``)."""
        head, _, last = current.rpartition(" ")
        prefix = f"{head.strip()} " if head.strip() else ""
        values = [prefix + s for s in self._commands.symbols(last, limit=MAX_CHOICES)]
        return [Choice(name=v, value=v) for v in values if len(v) <= MAX_CHOICE_CHARS]

    # --- the commands ----------------------------------------------------------------

    def install(self, tree: Tree) -> None:
        """Add every command of the layer's registry to ``tree`` (synced in ``setup_hook``)."""
        for command in self._commands.registry:
            tree.add_command(self.slash_command(command))
        tree.error(self.on_error)

    def slash_command(self, command: Command) -> app_commands.Command[Any, ..., None]:
        """One registry command as a slash command: its options typed, described and completed.

        The callback's signature is built from the options (discord.py reads the options
        from it); the values arrive as keyword arguments and are joined, in declaration
        order, into the text a person would type after the command.
        """
        names = [option.name for option in command.options]

        async def callback(interaction: Interaction, **values: Any) -> None:
            await self.run(interaction, command.name, _args(*(values.get(n) for n in names)))

        interaction_parameter = inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Interaction
        )
        parameters = [interaction_parameter, *(_parameter(o) for o in command.options)]
        callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        if command.options:
            app_commands.describe(**{o.name: o.description for o in command.options})(callback)
        choices = {
            o.name: [Choice(name=c.label, value=c.value) for c in o.choices]
            for o in command.options
            if o.choices
        }
        if choices:
            app_commands.choices(**choices)(callback)
        completions = {
            o.name: self._completion(o.completion) for o in command.options if o.completion is not None
        }
        if completions:
            app_commands.autocomplete(**completions)(callback)
        if command.access is not Access.ANYONE:
            # A hint to Discord (hidden from members without Manage Server); the command layer
            # checks again at run time, where ADMIN_IDS may also change settings.
            app_commands.default_permissions(manage_guild=True)(callback)
        return app_commands.Command(
            name=command.name, description=_summary(command.summary), callback=callback
        )

    def _completion(self, completion: Completion) -> AutocompleteCallback:
        if completion is Completion.SYMBOLS:
            return self.symbol_list_choices
        return self.symbol_choices

    # --- answering -------------------------------------------------------------------

    async def run(self, interaction: Interaction, command: str, args: str) -> None:
        """Answer one slash command through the command layer; always answers."""
        try:
            key, kind = chat_of(interaction)
            request = CommandRequest(
                chat=key,
                chat_kind=kind,
                user_id=str(interaction.user.id),
                is_chat_admin=is_server_admin(interaction),
                command=command,
                args=args,
                now=self._clock.now(),
            )
            found = self._commands.registry.get(command)
            if found is not None and found.slow:
                await interaction.response.defer(thinking=True)
            reply = await self._reply_in_time(interaction, request)
            await self.answer(interaction, render_reply(reply))
        except Exception as exc:  # the person must still get an answer; the log gets the traceback
            if _expired(exc):  # every later call with this interaction fails the same way
                logger.warning("Discord dropped /%s: not answered within its 3 s", command)
                return
            logger.exception("Discord adapter failed answering /%s", command)
            await self._apologise(interaction, APOLOGY)

    async def _reply_in_time(self, interaction: Interaction, request: CommandRequest) -> Reply:
        """The command layer's reply, deferring the interaction if it is slow to come."""
        task = asyncio.ensure_future(self._commands.handle(request))
        try:
            if not interaction.response.is_done():
                done, _ = await asyncio.wait({task}, timeout=ANSWER_WITHIN)
                if not done:
                    await interaction.response.defer(thinking=True)
            return await task
        finally:
            task.cancel()  # a no-op once it finished; stops work nobody would read

    async def answer(self, interaction: Interaction, messages: Sequence[DiscordMessage]) -> None:
        """Send the reply: as the interaction response, or in place of a deferred one.

        A deferred ("thinking…") response is public, so an ephemeral answer deletes it
        and follows up privately; further messages are follow-ups.
        """
        first, *rest = messages
        response = interaction.response
        if not response.is_done():
            await response.send_message(ephemeral=first.ephemeral, **send_kwargs(first))
        elif first.ephemeral:
            await interaction.delete_original_response()
            await interaction.followup.send(ephemeral=True, **send_kwargs(first))
        else:
            await interaction.edit_original_response(**send_kwargs(first, files_key="attachments"))
        for message in rest:
            await interaction.followup.send(ephemeral=message.ephemeral, **send_kwargs(message))

    async def _apologise(self, interaction: Interaction, text: str) -> None:
        try:
            messages = render_reply(ErrorReply(ErrorKind.INTERNAL, text))
            if interaction.response.is_done():
                await interaction.followup.send(ephemeral=True, **send_kwargs(messages[0]))
            else:
                await interaction.response.send_message(ephemeral=True, **send_kwargs(messages[0]))
        except Exception:  # the interaction may have expired: nothing more can be done
            logger.exception("could not send the apology either")

    async def on_error(self, interaction: Interaction, error: app_commands.AppCommandError) -> None:
        """Options discord.py could not read (or an unknown command): log and say so."""
        logger.warning("Discord command not run: %s: %s", type(error).__name__, str(error)[:200])
        await self._apologise(interaction, UNREADABLE)


def _parameter(option: Option) -> inspect.Parameter:
    """The callback parameter discord.py reads ``option`` from."""
    kind: Any = str
    if option.kind is OptionKind.INTEGER:
        low = option.minimum
        high = option.maximum
        kind = app_commands.Range[int, low, high] if low is not None or high is not None else int
    annotation = kind if option.required else Optional[kind]  # noqa: UP045 - a runtime type object
    default = inspect.Parameter.empty if option.required else None
    return inspect.Parameter(
        option.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def _expired(exc: Exception) -> bool:
    return isinstance(exc, discord.NotFound) and exc.code == UNKNOWN_INTERACTION


def commands_hash(tree: Tree) -> str:
    """A hash of exactly what ``tree.sync()`` sends for the global commands."""
    payload = [command.to_dict(tree) for command in tree.get_commands()]
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class CommandSync:
    """Syncs the slash commands only when they differ from the last synced set.

    Discord allows about 200 command creations a day per server, so a bot restarted
    often (a crash loop, deploys) must not sync on every start. The hash of the synced
    payload is kept per application in ``state``; without a state store every start
    syncs. A storage failure never stops the bot: it syncs (or keeps Discord's set).
    """

    def __init__(self, state: StateStore | None, clock: Clock) -> None:
        self._state = state
        self._clock = clock

    async def sync(self, tree: Tree, application_id: int | None, *, force: bool = False) -> int | None:
        """Sync if the set changed (or ``force``); the number synced, or None when skipped.

        Raises:
            discord.HTTPException: Discord refused the commands (nothing is recorded).
        """
        name = f"{SYNCED_STATE}:{application_id}"
        digest = commands_hash(tree)
        if not force and self._stored(name) == digest:
            logger.info("Discord slash commands unchanged since the last sync: not synced")
            return None
        synced = await tree.sync()
        logger.info("synced %d Discord slash commands", len(synced))
        if self._state is not None:
            try:
                self._state.put(name, digest, self._clock.now())
            except StorageError as exc:
                logger.warning(
                    "could not record the synced Discord commands (next start syncs again): %s", exc
                )
        return len(synced)

    def _stored(self, name: str) -> str | None:
        if self._state is None:
            return None
        try:
            return self._state.get(name)
        except StorageError as exc:
            logger.warning("could not read the synced Discord commands' hash (syncing): %s", exc)
            return None
