"""Duties only one process may do at a time, by lease: held while done, taken over on silence.

``collector:<exchange>``: every process that would collect (``--role collector`` or
``all``) tries to hold it before each cycle and renews it on a heartbeat. The holder
collects, scores, raises alerts and enqueues digests. ``telegram:commands``: Telegram
lets one process per bot poll for updates, so only the holder answers Telegram commands;
every Telegram process delivers. The others wait on standby and take over once the holder
has not renewed for a whole lease period (it crashed, hung, or lost its database), or at
once when it stops cleanly and releases it.

``hold`` and ``release`` write: on the event loop's thread use ``hold_off_loop`` and
``release_off_loop``, which wait for the database on a writer thread
(``bot.app.off_loop.write_off_loop``) while commands and sends go on.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Iterable
from datetime import datetime, timedelta

from bot.app.off_loop import write_off_loop
from bot.core.records import LeaseClaim
from bot.errors import StorageError
from bot.ports import LeaseStore

logger = logging.getLogger(__name__)


def holder_id() -> str:
    """``host:pid:random``: names this process in the lease row and the log."""
    return f"{_holder_prefix(os.getpid())}{secrets.token_hex(3)}"


def _holder_prefix(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:"


def release_leases_of_dead_child(store: LeaseStore, names: Iterable[str], pid: int) -> list[str]:
    """Give up the leases of ``names`` that a child process of this one held when it died.

    Its lease would otherwise hold its replacement off for a whole ``ttl`` (nobody renews
    it, but nobody may take it before it lapses). Only for a child known dead (its exit was
    reaped): a process that no longer runs writes nothing, so no fence is needed; the lease
    is deleted only while its holder is still that child (``host:pid:``), so one taken over
    meanwhile stays its new holder's.

    Returns:
        The names of the leases released.
    """
    prefix, released = _holder_prefix(pid), []
    for name in names:
        info = store.lease(name)
        if info is not None and info.holder.startswith(prefix):
            store.release(name, info.holder)
            released.append(name)
    return released


class Lease:
    """One named lease as seen by one process.

    Args:
        store: where leases live (the shared database).
        name: the duty, e.g. ``collector:binanceusdm``.
        ttl: how long a renewal holds; a standby takes over after this much silence.
        duty: what the holder does, for the log (``collects``).
        holder: this process's name (a fresh ``holder_id()`` by default).
    """

    def __init__(
        self, store: LeaseStore, name: str, *, ttl: timedelta, duty: str, holder: str | None = None
    ) -> None:
        self.name = name
        self.duty = duty
        self.holder = holder or holder_id()
        self.ttl = ttl
        self._store = store
        self._held = False
        self._since: datetime | None = None  # when this holder's current tenure began
        self._waiting_told = False

    @property
    def held(self) -> bool:
        """Whether the last ``hold`` succeeded (this process is the collector)."""
        return self._held

    def hold(self, now: datetime) -> bool:
        """Take or renew the lease; False (on standby) while another process holds it."""
        return self._settle(self._acquire(now))

    async def hold_off_loop(self, now: datetime) -> bool:
        """``hold``, its write waiting for the database on a writer thread, at most one
        ``ttl``: a renewal that waited longer than the lease lasts confirms nothing."""
        return self._settle(await write_off_loop(self.ttl.total_seconds(), self._acquire, now))

    def _acquire(self, now: datetime) -> datetime | None:
        try:
            return self._store.acquire(self.name, self.holder, now, self.ttl)
        except StorageError as exc:
            # Unable to confirm: behave as not holding, so two collectors never both run.
            logger.warning("lease %s: %s", self.name, exc)
            return None

    def _settle(self, since: datetime | None) -> bool:
        ok = since is not None
        # A new tenure while we thought we held it: we stalled, and another process held it
        # (and may have written) in between.
        if ok and (not self._held or since != self._since):
            logger.info("lease %s taken by %s: this process %s", self.name, self.holder, self.duty)
            self._waiting_told = False
        elif not ok and self._held:
            logger.warning("lease %s lost: another process %s now", self.name, self.duty)
        elif not ok and not self._waiting_told:
            self._say_waiting()
        self._held = ok
        self._since = since
        return ok

    def claim(self, now: datetime) -> LeaseClaim:
        """A fence for a write: it commits only while this process still holds the lease,
        in the tenure its last ``hold`` saw (never after the lease changed hands meanwhile)."""
        return LeaseClaim(self.name, self.holder, now + self.ttl, since=self._since)

    def _say_waiting(self) -> None:
        self._waiting_told = True
        try:
            info = self._store.lease(self.name)
        except StorageError:
            info = None
        if info is not None:
            logger.info(
                "standby: lease %s held by %s until %s; taking over if it lapses",
                self.name,
                info.holder,
                f"{info.expires_at:%H:%M:%S} UTC",
            )

    def release(self) -> None:
        """Give the lease up on a clean stop, so a standby takes over at once."""
        if self._let_go():
            self._release()

    async def release_off_loop(self) -> None:
        """``release``, its write on a writer thread (a worker's usual wait)."""
        if self._let_go():
            await write_off_loop(None, self._release)

    def _let_go(self) -> bool:
        """Forget the tenure; whether there was one to give up."""
        if not self._held:
            return False
        self._held = False
        self._since = None
        return True

    def _release(self) -> None:
        try:
            self._store.release(self.name, self.holder)
            logger.info("lease %s released", self.name)
        except StorageError as exc:
            logger.warning("lease %s not released (%s); it lapses by itself", self.name, exc)


def collector_lease(store: LeaseStore, exchange: str, *, ttl: timedelta, holder: str | None = None) -> Lease:
    """One collector per exchange."""
    return Lease(store, collector_lease_name(exchange), ttl=ttl, duty="collects", holder=holder)


def collector_lease_name(exchange: str) -> str:
    """The name of ``exchange``'s collector lease."""
    return f"collector:{exchange}"


def commands_lease(store: LeaseStore, platform: str, *, ttl: timedelta) -> Lease:
    """One process answering a platform's commands (Telegram allows one poller per bot)."""
    return Lease(store, f"{platform}:commands", ttl=ttl, duty=f"answers {platform} commands")
