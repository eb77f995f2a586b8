"""glibc tuning of ``dps run``: the arena cap (set on glibc, left to an operator who chose)
and giving the heap's free pages back after a cycle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from bot import malloc_arenas

GLIBC = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None


@pytest.fixture(autouse=True)
def libc_looked_up_again() -> Iterator[None]:
    # The C library is looked up once per process: a test replacing the lookup must not
    # see an earlier test's answer, nor leave its own to the next.
    malloc_arenas._libc.cache_clear()
    yield
    malloc_arenas._libc.cache_clear()


def _in_child(env: dict[str, str]) -> str:
    code = "from bot.malloc_arenas import cap_arenas; print(cap_arenas())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_the_cap_is_set_on_glibc() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert _in_child(env) == "True"


def test_an_operator_s_malloc_arena_max_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert malloc_arenas.cap_arenas() is False
    assert _in_child({**os.environ, "MALLOC_ARENA_MAX": "4"}) == "False"


def test_a_c_library_without_mallopt_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.setattr(malloc_arenas.ctypes.util, "find_library", lambda _name: None)
    assert malloc_arenas.cap_arenas() is False


_FRAGMENTED_HEAP = """
import ctypes, json
from bot.malloc_arenas import give_back

def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) / 1024

libc = ctypes.CDLL('libc.so.6')
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
# 32 MB in 64 KB blocks (below glibc's mmap threshold: they come from the heap), touched.
blocks = [libc.malloc(64 * 1024) for _ in range(512)]
for block in blocks:
    ctypes.memset(block, 1, 64 * 1024)
# All freed but the last: the free space lies below a live block, not at the heap's top,
# so glibc keeps it resident, as it kept the holes the cycles' grown arrays left.
for block in blocks[:-1]:
    libc.free(block)
before = rss()
returned = give_back()
print(json.dumps({"returned": returned, "before": before, "after": rss()}))
"""


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_give_back_returns_the_free_pages_inside_the_heap() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FRAGMENTED_HEAP], capture_output=True, text=True, check=True
    )
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert said["returned"] is True
    assert said["before"] - said["after"] > 16  # MB: most of the 32 MB freed below the live block


def test_give_back_without_glibc_returns_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(malloc_arenas.ctypes.util, "find_library", lambda _name: None)
    assert malloc_arenas.give_back() is False


_BIG_BLOCK_AFTER_A_BIGGER_ONE = """
import ctypes, json, sys
from bot.malloc_arenas import fix_mmap_threshold

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
        "keepcost",
    )]

libc = ctypes.CDLL('libc.so.6')
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
libc.mallinfo2.restype = MallInfo2
fixed = fix_mmap_threshold() if sys.argv[1] == "fixed" else None
libc.free(libc.malloc(8 << 20))  # as start-up's big reads: mapped, then freed
mapped_before = libc.mallinfo2().hblkhd
block = libc.malloc(1 << 20)  # a cycle's large transient buffer
print(json.dumps({"fixed": fixed, "mapped": libc.mallinfo2().hblkhd - mapped_before >= 1 << 20}))
"""


def _big_block(how: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", _BIG_BLOCK_AFTER_A_BIGGER_ONE, how],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    said: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return said


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_a_fixed_mmap_threshold_keeps_large_blocks_off_the_heap() -> None:
    # glibc's own way: the freed 8 MB block raised the threshold, so 1 MB comes from the heap.
    assert _big_block("default") == {"fixed": None, "mapped": False}
    assert _big_block("fixed") == {"fixed": True, "mapped": True}


def test_an_operator_s_mmap_threshold_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert malloc_arenas.fix_mmap_threshold() is False


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_dps_run_s_tuning_sets_both_on_glibc() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    code = "from bot.malloc_arenas import tune; print(tune())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['arenas', 'mmap']"
