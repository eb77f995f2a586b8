"""How ``dps run`` configures Python's garbage collector.

The process keeps a few hundred thousand objects for its whole life: imported modules
(ccxt alone is most of them), the exchange's loaded markets, SQLAlchemy's mappers and
compiled statements. A full (generation 2) collection traverses every one of them, about
a tenth of a second on the machines we measure on, and it runs at whatever moment the
allocation counters say: in the middle of a ``/top``. Moving those objects out of the
collector's sight once start-up is over keeps full collections proportional to what the
process allocates afterwards, a few milliseconds.
"""

from __future__ import annotations

import gc


def after_start() -> int:
    """Collect, then freeze what survived: call once start-up is done; returns the objects frozen.

    "Done" means the database is migrated, the exchange's markets are loaded and the
    backfill has run: everything loaded by then lives as long as the process. The collect
    first frees start-up's garbage, which frozen would never be freed. Freezing again later
    (after a lease takeover's backfill) is harmless: it moves only the survivors since.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
