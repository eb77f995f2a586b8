"""One collector per exchange: the collector lease, held while cycles run, taken over on silence.

Every process that would collect (``--role collector`` or ``all``) tries to hold the
lease ``collector:<exchange>`` before each cycle and renews it on a heartbeat. The
holder collects, scores, raises alerts and enqueues digests; the others wait on standby
and take over once the holder has not renewed for a whole lease period (it crashed, hung,
or lost its database connection), or at once when it stops cleanly and releases it.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from datetime import datetime, timedelta

from bot.errors import StorageError
from bot.ports import LeaseStore

logger = logging.getLogger(__name__)


def holder_id() -> str:
    """``host:pid:random``: names this process in the lease row and the log."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class CollectorLease:
    """The lease ``collector:<exchange>`` as seen by one process.

    Args:
        store: where leases live (the shared database).
        exchange: the exchange this process would collect.
        ttl: how long a renewal holds; a standby takes over after this much silence.
        holder: this process's name (a fresh ``holder_id()`` by default).
    """

    def __init__(
        self, store: LeaseStore, exchange: str, *, ttl: timedelta, holder: str | None = None
    ) -> None:
        self.name = f"collector:{exchange}"
        self.holder = holder or holder_id()
        self.ttl = ttl
        self._store = store
        self._held = False
        self._waiting_told = False

    @property
    def held(self) -> bool:
        """Whether the last ``hold`` succeeded (this process is the collector)."""
        return self._held

    def hold(self, now: datetime) -> bool:
        """Take or renew the lease; False (on standby) while another process holds it."""
        try:
            ok = self._store.acquire(self.name, self.holder, now, self.ttl)
        except StorageError as exc:
            # Unable to confirm: behave as not holding, so two collectors never both run.
            logger.warning("collector lease %s: %s", self.name, exc)
            ok = False
        if ok and not self._held:
            logger.info("collector lease %s taken by %s: this process collects", self.name, self.holder)
            self._waiting_told = False
        elif not ok and self._held:
            logger.warning("collector lease %s lost: another process collects now", self.name)
        elif not ok and not self._waiting_told:
            self._say_waiting()
        self._held = ok
        return ok

    def _say_waiting(self) -> None:
        self._waiting_told = True
        try:
            info = self._store.lease(self.name)
        except StorageError:
            info = None
        if info is not None:
            logger.info(
                "standby: collector lease %s held by %s until %s; taking over if it lapses",
                self.name,
                info.holder,
                f"{info.expires_at:%H:%M:%S} UTC",
            )

    def release(self) -> None:
        """Give the lease up on a clean stop, so a standby takes over at once."""
        if not self._held:
            return
        self._held = False
        try:
            self._store.release(self.name, self.holder)
            logger.info("collector lease %s released", self.name)
        except StorageError as exc:
            logger.warning("collector lease %s not released (%s); it lapses by itself", self.name, exc)
