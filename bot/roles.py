"""What one ``dps run`` process does (``--role``): the one list ``bot.cli`` and the runner share.

Standard library only, so ``dps --help`` lists the roles without importing the bot.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What one ``dps run`` process does (``--role``)."""

    ALL = "all"  # everything: collect (under the lease), commands, delivery
    COLLECTOR = "collector"  # collect, score, diff, enqueue alerts and digests
    TELEGRAM = "telegram"  # Telegram commands and delivery
    DISCORD = "discord"  # Discord commands and delivery

    @property
    def collects(self) -> bool:
        """Whether this role runs the collection cycle (under the collector lease)."""
        return self in (Role.ALL, Role.COLLECTOR)
