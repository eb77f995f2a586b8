"""What happens to a stored chat when its platform says it is gone or has moved.

Both the delivery job (a send answered "blocked" or "migrated") and the chat adapters
(a membership change, a migration notice) report these; one place decides what is kept.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.core.records import Chat, ChatKey
from bot.errors import StorageError
from bot.ports import ChatStore

logger = logging.getLogger(__name__)


def disable_chat(chats: ChatStore, chat: Chat | None, reason: str) -> None:
    """Stop sending to ``chat`` (blocked, kicked, channel deleted); its settings are kept."""
    if chat is not None and chat.enabled:
        chats.update_chat(replace(chat, enabled=False))
        logger.warning("disabled chat %s:%s (%s)", chat.key.platform.value, chat.key.chat_id, reason[:200])


def move_chat(chats: ChatStore, chat: Chat | None, new: ChatKey) -> None:
    """Give ``chat`` its new address, keeping its settings and watchlist."""
    if chat is None or chat.key == new:
        return
    try:
        chats.update_chat(replace(chat, key=new))
    except StorageError as exc:
        # The new address already has a chat of its own (it wrote to the bot first): keep
        # both records; a message on its way is delivered there anyway.
        logger.warning("chat %s moved to %s, which is already known: %s", chat.key.chat_id, new.chat_id, exc)
        return
    logger.info("chat %s moved to %s", chat.key.chat_id, new.chat_id)
