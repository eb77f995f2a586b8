"""How many glibc malloc arenas ``dps run`` lets its threads use.

glibc gives each thread that allocates while the others' arenas are busy an arena of its
own (up to eight per core), and an arena keeps the memory it once held. ``dps run`` has a
dozen threads (the exchange client's loop, the cycle's worker, the database writers, the
chat libraries'): each new one's first allocations grew the process by a step that stayed,
which read as a slope of +0.17 MB a cycle in ``bench/bench_memory.py``; with two arenas it
was +0.035 (docs/performance.md, "Memory"). Python objects come from its own allocator,
shared by every thread; what the arenas hold is the larger buffers (SQLite's pages, JSON
answers), whose threads rarely allocate at the same moment, so sharing costs little.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

logger = logging.getLogger(__name__)

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def cap_arenas(limit: int = ARENAS) -> bool:
    """Allow at most ``limit`` malloc arenas from now on; whether the cap was set.

    Call it before the threads start (arenas made before stay). Not set where the C
    library is not glibc, nor when the operator chose with ``MALLOC_ARENA_MAX``.
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to cap
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(_M_ARENA_MAX, limit))
    if not done:
        logger.debug("malloc arenas not capped: mallopt refused")
    return done
