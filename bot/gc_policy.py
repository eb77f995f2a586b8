"""How ``dps run`` configures Python's garbage collector, in one place the benches call too.

Start-up (migration, markets, backfill) leaves hundreds of thousands of long-lived objects
(ccxt's market metadata, SQLAlchemy's mappers, the SDKs' classes). Left to the cyclic GC,
every full collection walks them all again, which shows as tail latency on ``/top``;
frozen, the collector never looks at them. The garbage is collected first, or the freeze
would keep start-up's dead cycles (the backfill's buffers) alive for the life of the process.
"""

from __future__ import annotations

import gc


def after_start() -> None:
    """Collect start-up's garbage, then move every surviving object out of the GC's reach.

    ``dps run`` calls it once start-up is done: after the backfill in a collecting
    process, at start in one that only chats.
    """
    gc.collect()
    gc.freeze()
