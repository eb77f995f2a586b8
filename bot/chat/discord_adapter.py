"""The Discord chat adapter: slash commands in, embeds out, and alerts pushed to channels.

A discord.py client runs as a task in the application's event loop (``client.start``,
never ``client.run``). Slash commands go through the same command layer as Telegram
(``bot.chat.discord_interactions``); replies and alerts are rendered by
``bot.render.discord_embeds``. The adapter is also the Discord ``bot.ports.Sink``: an
alert or digest goes to the channel (or thread) where it was switched on.

Rate limits are discord.py's: it waits out 429s per bucket itself, up to
``MAX_RATE_LIMIT_WAIT``; a longer wait comes back as ``RetryAfter`` so the delivery job
does not sit in a sleep. The token is never logged.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import discord
from discord import app_commands

from bot.app.commands import CommandLayer
from bot.chat.discord_interactions import CommandSync, SlashCommands, Tree
from bot.chat.discord_messages import send_kwargs
from bot.core.document import Document
from bot.core.records import ChatKey, Platform
from bot.core.send_outcome import ChatGone, PartAccepted, Rejected, RetryAfter, SendOutcome, Sent, Transient
from bot.errors import ChatPlatformError, ConfigError
from bot.ports import Clock, StateStore
from bot.render.discord_embeds import render_document

logger = logging.getLogger(__name__)

START_TIMEOUT = 60.0
"""Seconds ``start`` waits for login and the gateway's READY."""
MAX_RATE_LIMIT_WAIT = 30.0
"""discord.py sleeps through shorter 429 waits; longer ones raise (30 is its minimum)."""
UNKNOWN_RETRY_AFTER = 60.0
"""Wait after a 429 that says nothing about how long (Cloudflare's, without ``Via``)."""
_BAD_TOKEN_CLOSE = 4004
_TOKEN_REFUSED = "Discord refused DISCORD_BOT_TOKEN; reset it in the Developer Portal (Bot → Reset Token)"  # noqa: S105 (a message, not a secret)


class _Client(discord.Client):
    """discord.py's client with the command tree and a ready event of our own."""

    def __init__(
        self,
        slash: SlashCommands,
        *,
        sync_commands: bool,
        guild_ready_timeout: float,
        command_sync: CommandSync | None = None,
    ) -> None:
        super().__init__(
            intents=discord.Intents.default(),  # slash commands need no privileged intents
            guild_ready_timeout=guild_ready_timeout,
            max_ratelimit_timeout=MAX_RATE_LIMIT_WAIT,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.tree: Tree = app_commands.CommandTree(self)
        slash.install(self.tree)
        self._sync = command_sync if sync_commands else None
        self.ready = asyncio.Event()

    async def setup_hook(self) -> None:
        """Sync the slash commands if they changed, before the gateway connects."""
        if self._sync is None:
            return
        try:
            await self._sync.sync(self.tree, self.application_id)
        except discord.HTTPException as exc:  # the commands Discord already has keep working
            logger.warning("could not sync Discord slash commands: %s", _describe(exc))

    async def on_ready(self) -> None:
        # Fires again after a reconnect; only the first one matters to ``start``.
        if not self.ready.is_set():
            logger.info("Discord gateway ready as %s (%d servers)", self.user, len(self.guilds))
        self.ready.set()


class DiscordAdapter:
    """Runs the Discord client: answers slash commands and delivers alerts (``Sink``).

    Args:
        commands: the command layer (shared with the other chat adapters).
        clock: the application's clock, for request times.
        token: the bot token (``DISCORD_BOT_TOKEN``).
        sync_commands: sync the slash commands at start-up (when they changed).
        guild_ready_timeout: how long discord.py waits for servers after READY.
        command_state: where the hash of the last synced command set is kept; without
            it every start syncs.
    """

    platform = Platform.DISCORD

    def __init__(
        self,
        commands: CommandLayer,
        clock: Clock,
        *,
        token: str,
        sync_commands: bool = True,
        guild_ready_timeout: float = 2.0,
        command_state: StateStore | None = None,
    ) -> None:
        self._token = token
        self._slash = SlashCommands(commands, clock)
        self._sync = sync_commands
        self._command_sync = CommandSync(command_state, clock)
        self._guild_ready_timeout = guild_ready_timeout
        self._client: _Client | None = None
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:  # never the token
        return f"DiscordAdapter(running={self._client is not None})"

    async def start(self, serve_commands: bool = True) -> None:
        """Log in and connect; returns once the gateway is READY (``bot.ports.ChatAdapter``).

        With ``serve_commands=False`` it only logs in: the process delivers alerts over REST while
        another process (the holder of the ``discord:commands`` lease) answers the slash
        commands — two gateway connections would both answer every interaction.

        Raises:
            ChatPlatformError: Discord refused the token, login or the gateway failed,
                or READY did not come within ``START_TIMEOUT``.
            ConfigError: Discord refused the bot's gateway intents.
        """
        if self._client is not None:
            raise RuntimeError("DiscordAdapter.start called twice")
        if not serve_commands:
            await self._log_in_only()
            return
        client = _Client(
            self._slash,
            sync_commands=self._sync,
            guild_ready_timeout=self._guild_ready_timeout,
            command_sync=self._command_sync,
        )
        task = asyncio.create_task(client.start(self._token), name="discord-client")
        task.add_done_callback(self._ended)
        self._client, self._task = client, task
        ready = asyncio.create_task(client.ready.wait())
        try:
            await asyncio.wait({task, ready}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # shutting down while starting: leave nothing running
            await self.stop()
            raise
        finally:
            ready.cancel()
        if client.ready.is_set():
            return
        error = task.exception() if task.done() and not task.cancelled() else None
        await self.stop()
        if isinstance(error, discord.LoginFailure) or (
            isinstance(error, discord.ConnectionClosed) and error.code == _BAD_TOKEN_CLOSE
        ):
            raise ChatPlatformError(_TOKEN_REFUSED) from error
        if isinstance(error, discord.PrivilegedIntentsRequired):
            raise ConfigError("Discord refused the bot's gateway intents.") from error
        if error is None:
            raise ChatPlatformError(f"Discord was not ready within {START_TIMEOUT:g} s.")
        raise ChatPlatformError(f"Discord could not start: {type(error).__name__}: {error}") from error

    async def _log_in_only(self) -> None:
        client = _Client(self._slash, sync_commands=False, guild_ready_timeout=self._guild_ready_timeout)
        self._client = client
        try:
            await client.login(self._token)
        except discord.LoginFailure as exc:
            await self.stop()
            raise ChatPlatformError(_TOKEN_REFUSED) from exc
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            await self.stop()
            raise ChatPlatformError(f"Discord could not start: {type(exc).__name__}: {exc}") from exc
        logger.info("Discord: logged in to deliver only (another process answers slash commands)")

    async def sync_commands(self) -> int:
        """Log in, sync the slash commands whatever the stored hash says, log out
        (``dps discord sync``); the number of commands Discord now has.

        Raises:
            ChatPlatformError: the token was refused, Discord refused the commands, or
                it could not be reached.
        """
        client = _Client(self._slash, sync_commands=False, guild_ready_timeout=self._guild_ready_timeout)
        try:
            await client.login(self._token)
            return await self._command_sync.sync(client.tree, client.application_id, force=True) or 0
        except discord.LoginFailure as exc:
            raise ChatPlatformError(_TOKEN_REFUSED) from exc
        except discord.HTTPException as exc:
            raise ChatPlatformError(f"Discord refused the slash commands: {_describe(exc)}") from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ChatPlatformError(f"Discord could not be reached: {type(exc).__name__}: {exc}") from exc
        finally:
            await client.close()

    @property
    def answering(self) -> bool:
        """Whether this process is connected to the gateway (answers slash commands)."""
        return self._task is not None

    async def serve_commands(self, on: bool) -> None:
        """Start or stop answering slash commands (the gateway connection); idempotent."""
        if on == self.answering:
            return
        await self.stop()
        await self.start(on)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()  # retrieved here so asyncio never warns about it
        client = self._client
        if error is not None and self._task is task and client is not None and client.ready.is_set():
            logger.error("the Discord client stopped: %s: %s", type(error).__name__, error)

    async def stop(self) -> None:
        """Close the client and wait for its task; safe to call more than once."""
        client, task = self._client, self._task
        self._client, self._task = None, None
        if client is None:
            return
        await client.close()
        if task is not None:
            try:
                await task
            except Exception as exc:  # already reported by start or _ended
                logger.debug("the Discord client ended with %s", type(exc).__name__)

    async def send(
        self,
        chat: ChatKey,
        document: Document,
        attachment: bytes | None = None,
        *,
        start: int = 0,
        on_part: PartAccepted | None = None,
    ) -> SendOutcome:
        """Post an alert batch or digest to the chat's channel (or thread) (``bot.ports.Sink``).

        A deleted channel (404) or a missing permission (403) is ``ChatGone``: the
        delivery job disables that chat. A long document goes out as several messages:
        those are its parts (the chart rides on the last), resumed from ``start``.
        """
        client = self._client
        if client is None or client.is_closed() or client.user is None:
            return Transient("the Discord client is not running")
        try:
            channel_id = int(chat.thread_id or chat.chat_id)
        except ValueError:
            return Rejected(f"not a Discord channel id: {chat.chat_id[:40]!r}")
        channel = client.get_partial_messageable(channel_id)
        messages = render_document(document, attachment)
        try:
            for k in range(start, len(messages)):
                await channel.send(**send_kwargs(messages[k]))
                if on_part is not None:
                    await on_part(k + 1)
        except discord.RateLimited as exc:
            return RetryAfter(exc.retry_after)
        except (discord.NotFound, discord.Forbidden) as exc:
            return ChatGone(_describe(exc))
        except discord.HTTPException as exc:
            if exc.status == 429:
                return RetryAfter(_retry_after(exc))
            if exc.status >= 500:
                return Transient(_describe(exc))
            return Rejected(_describe(exc))
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return Transient(f"{type(exc).__name__}: {exc}")
        return Sent()


def _describe(exc: discord.HTTPException) -> str:
    """``404 (10003): Unknown Channel``: status, Discord's error code and its text."""
    return f"{exc.status} ({exc.code}): {exc.text[:200]}"


def _retry_after(exc: discord.HTTPException) -> float:
    try:
        return float(exc.response.headers.get("Retry-After", UNKNOWN_RETRY_AFTER))
    except (TypeError, ValueError):
        return UNKNOWN_RETRY_AFTER
