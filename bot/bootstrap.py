"""Composition root: settings → storage → market source → use cases.

The only module that knows every concrete adapter. ``bot.cli`` calls it; nothing else
imports it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from bot.app.cycle import CollectionCycle, CycleDeps, CycleReport, diff_params_for
from bot.app.track import TrackHistory
from bot.collector.ccxt_source import CcxtSource
from bot.collector.client import SourceTuning
from bot.collector.replay_source import ReplaySource
from bot.config import Settings
from bot.ports import MarketSource, StateStore
from bot.render.documents import alert_document
from bot.storage.db import session_factory
from bot.storage.facade import Storage, open_storage
from bot.storage.repositories.state import SqlStateStore

logger = logging.getLogger(__name__)


@dataclass
class Collector:
    """A market source wired to storage and the collection cycle."""

    storage: Storage
    source: MarketSource
    cycle: CollectionCycle
    exchange: str
    label: str

    async def close(self) -> None:
        await self.source.close()
        self.storage.close()


def build_source(
    settings: Settings, *, replay: bool = False, tuning: SourceTuning | None = None
) -> tuple[MarketSource, str, str]:
    """The market source for the settings: (source, exchange id, label shown to people)."""
    if replay:
        rs = ReplaySource(symbols=settings.symbols, cycle_interval_s=settings.collect_interval)
        return rs, rs.exchange, rs.label
    cs = CcxtSource(
        settings.exchange,
        api_url=settings.exchange_api_url,
        symbols=settings.symbols,
        top_n=settings.universe_top_n,
        cycle_interval_s=settings.collect_interval,
        tuning=tuning,
    )
    return cs, cs.exchange, cs.label


def build_collector(
    settings: Settings, *, replay: bool = False, tuning: SourceTuning | None = None
) -> Collector:
    """Open (and migrate) the database and wire the collection cycle."""
    storage = open_storage(settings.database_url)
    source, exchange, label = build_source(settings, replay=replay, tuning=tuning)
    deps = CycleDeps(
        exchange=exchange,
        source=source,
        snapshots=storage.snapshots,
        alert_states=storage.alert_states,
        chats=storage.chats,
        outbox=storage.outbox,
        cycles=storage.cycles,
    )
    shown = label if replay else None
    history = TrackHistory(
        storage.scores,
        storage.snapshots,
        exchange=exchange,
        keep=timedelta(days=settings.snapshot_retention_days),
    )
    cycle = CollectionCycle(
        deps,
        settings.scoring.to_params(),
        diff_params_for(settings.collect_interval),
        partial(alert_document, source_label=shown),
        evidence=history.evidence_lines,
    )
    return Collector(storage=storage, source=source, cycle=cycle, exchange=exchange, label=label)


def state_store(storage: Storage) -> StateStore:
    """The small named values (``bot_state``) of the same database as ``storage``."""
    return SqlStateStore(session_factory(storage.engine))


async def collect_once(settings: Settings, *, now: datetime | None = None) -> CycleReport:
    """Backfill what is missing, run one cycle into the store, and return its report."""
    collector = build_collector(settings)
    try:
        moment = now or datetime.now(UTC)
        await collector.cycle.backfill(moment)
        return await collector.cycle.run(moment)
    finally:
        await collector.close()
