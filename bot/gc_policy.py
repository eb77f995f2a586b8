"""How ``dps run`` configures Python's garbage collector.

The process keeps a few hundred thousand objects for its whole life: imported modules
(ccxt alone is most of them), the exchange's loaded markets, SQLAlchemy's mappers and
compiled statements. A full (generation 2) collection traverses every one of them, about
a tenth of a second on the machines we measure on, and it runs at whatever moment the
allocation counters say: in the middle of a ``/top``. Moving those objects out of the
collector's sight once start-up is over keeps full collections proportional to what the
process allocates afterwards, a few milliseconds.

A collection cycle holds the collector off while it computes and stores
(``collector_paused``); both live here so the one policy owns every switch of it.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_pause_lock = threading.Lock()
_pauses = 0  # cycles inside ``collector_paused`` now (several venues' cycles can overlap)
_resume = False  # whether the first of them found the collector enabled


def after_start() -> int:
    """Collect, then freeze what survived: call once start-up is done; returns the objects frozen.

    "Done" means the database is migrated, the exchange's markets are loaded and the
    backfill has run: everything loaded by then lives as long as the process. The collect
    first frees start-up's garbage, which frozen would never be freed. Freezing again later
    (after a lease takeover's backfill) is harmless: it moves only the survivors since.

    It never switches the collector on: with several venues, one venue's start-up ends
    while another's cycle may hold it paused, and that pause's end resumes it.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold Python's cyclic garbage collector off while a cycle computes and stores.

    A 5,000-symbol cycle allocates a few hundred thousand container objects (readings,
    states, records, rows), most alive until the cycle ends: the allocation counters then
    fire hundreds of young and several full collections per cycle, each traversing those
    same live objects again; measured at a fifth of a cycle's time. Paused, they are
    traversed once, by the first collection after it. Reference counting still frees
    everything acyclic meanwhile, so the pause defers only cyclic garbage, one cycle's worth.
    Counted, so overlapping cycles (several venues) resume it only when the last one ends,
    and a collector already disabled by someone else stays disabled.
    """
    global _pauses, _resume
    with _pause_lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()
