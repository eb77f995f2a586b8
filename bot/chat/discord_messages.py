"""Turn the embed data of ``bot.render.discord_embeds`` into discord.py objects.

Kept apart from the renderer because ``bot.render`` must not import discord.py. Every
send carries ``AllowedMentions.none()``: even if some text slipped through escaping,
nobody gets pinged.
"""

from __future__ import annotations

import io
from typing import Any

import discord

from bot.render.discord_embeds import DiscordMessage, EmbedData, FileData

NO_MENTIONS = discord.AllowedMentions.none()


def to_embed(data: EmbedData) -> discord.Embed:
    """One ``discord.Embed`` from its data (an empty description is left out)."""
    embed = discord.Embed(title=data.title, description=data.description or None, colour=data.colour)
    if data.footer:
        embed.set_footer(text=data.footer)
    if data.image:
        embed.set_image(url=data.image)
    return embed


def to_file(data: FileData) -> discord.File:
    """A fresh ``discord.File`` (each send needs its own: discord.py reads and closes it)."""
    return discord.File(io.BytesIO(data.data), filename=data.filename)


def send_kwargs(message: DiscordMessage, *, files_key: str = "files") -> dict[str, Any]:
    """Keyword arguments for ``send``/``send_message``/``followup.send`` (``files_key``
    ``attachments`` for ``edit_original_response``)."""
    kwargs: dict[str, Any] = {
        "embeds": [to_embed(e) for e in message.embeds],
        "allowed_mentions": NO_MENTIONS,
    }
    if message.file is not None:
        kwargs[files_key] = [to_file(message.file)]
    return kwargs
