"""``dps run``'s GC policy: start-up's garbage is collected before the survivors are frozen."""

from __future__ import annotations

import gc
import weakref

from bot import gc_policy


class Node:
    """Something that can hold a reference cycle."""

    def __init__(self) -> None:
        self.me: Node | None = None


def test_after_start_collects_start_up_garbage_then_freezes_what_survives() -> None:
    kept = Node()
    garbage = Node()
    garbage.me = garbage  # a cycle: only the cyclic collector frees it
    dead = weakref.ref(garbage)
    del garbage
    was_enabled = gc.isenabled()
    gc.disable()  # no automatic collection may free it first
    try:
        gc_policy.after_start()
        assert dead() is None  # collected, not frozen alive for the life of the process
        assert gc.get_freeze_count() > 0
        assert kept.me is None
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()
