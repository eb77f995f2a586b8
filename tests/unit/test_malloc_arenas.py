"""The malloc arena cap of ``dps run``: set on glibc, left to an operator who chose."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot import malloc_arenas

GLIBC = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None


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
