"""How ``dps run`` tunes glibc's allocator: how many arenas its threads use, and giving back.

glibc gives each thread that allocates while the others' arenas are busy an arena of its
own (up to eight per core), and an arena keeps the memory it once held. ``dps run`` has a
dozen threads (the exchange client's loop, the cycle's worker, the database writers, the
chat libraries'): each new one's first allocations grew the process by a step that stayed,
which read as a slope of +0.17 MB a cycle in ``bench/bench_memory.py``; with two arenas it
was +0.035 (docs/performance.md, "Memory"). Python objects come from its own allocator,
shared by every thread; what the arenas hold is the larger buffers (SQLite's pages, JSON
answers), whose threads rarely allocate at the same moment, so sharing costs little.

Two more settings came from tracing the bench's slope (``bench/bench_memory.py --trace``;
threads, SQLite's memory and Python's arenas were flat after cycle 20, only glibc's heaps
grew): glibc had raised its mmap threshold after start-up freed its big mapped buffers, so
each cycle's large transient buffers came from the heap, which grew in ~1 MB steps that
stayed while its free bytes went from 7 to 12 MB over 150 cycles (``fix_mmap_threshold``);
and what is free inside a heap is handed back after each cycle (``give_back``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os

logger = logging.getLogger(__name__)

ARENAS = 2
MMAP_THRESHOLD = 128 * 1024
"""Blocks this large or larger get a memory map of their own (glibc's initial threshold, fixed)."""
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameters (malloc.h)
_M_ARENA_MAX = -8


def tune() -> list[str]:
    """What ``dps run`` sets before its threads start: the arena cap and a fixed mmap
    threshold (``cap_arenas``, ``fix_mmap_threshold``); the names of those set."""
    done = [name for name, set_it in (("arenas", cap_arenas), ("mmap", fix_mmap_threshold)) if set_it()]
    return done


def fix_mmap_threshold(limit: int = MMAP_THRESHOLD) -> bool:
    """Serve every block of ``limit`` bytes or more by a memory map of its own; whether set.

    glibc starts at 128 KB but raises the threshold to the size of each mapped block
    freed (up to 32 MB): after start-up's big reads freed theirs, a cycle's large
    transient buffers (a fetched page of rows, a JSON answer, a list of thousands of
    points) came from the heap instead, which then grew by the biggest of them and kept
    the pages (``bench/bench_memory.py --trace``: mapped bytes flat at 2 MB while the
    heap rose in ~1 MB steps). Set explicitly, the threshold stays: such a buffer is
    unmapped when freed, its pages back to the kernel at once. Not set when the operator
    chose with ``MALLOC_MMAP_THRESHOLD_``.
    """
    if os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        return False
    return _mallopt(_M_MMAP_THRESHOLD, limit)


def cap_arenas(limit: int = ARENAS) -> bool:
    """Allow at most ``limit`` malloc arenas from now on; whether the cap was set.

    Call it before the threads start (arenas made before stay). Not set where the C
    library is not glibc, nor when the operator chose with ``MALLOC_ARENA_MAX``.
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    return _mallopt(_M_ARENA_MAX, limit)


def _mallopt(param: int, value: int) -> bool:
    libc = _libc()
    try:
        mallopt = libc.mallopt if libc is not None else None
    except AttributeError:  # not glibc (musl, macOS): nothing to tune
        return False
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(param, value))
    if not done:
        logger.debug("mallopt(%d, %d) refused", param, value)
    return done


def give_back() -> bool:
    """Return the C heap's free whole pages to the kernel (glibc's ``malloc_trim(0)``).

    Whether any memory was returned; False where the C library is not glibc. Blocking
    (it locks each arena in turn): call it off the event loop.
    """
    libc = _libc()
    try:
        trim = libc.malloc_trim if libc is not None else None
    except AttributeError:  # not glibc: its allocator returns memory its own way
        return False
    if trim is None:
        return False
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    return bool(trim(0))


@functools.cache
def _libc() -> ctypes.CDLL | None:
    # Looked up once: ``find_library`` runs ``ldconfig`` in a child process, and
    # ``give_back`` is called after every cycle.
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None
