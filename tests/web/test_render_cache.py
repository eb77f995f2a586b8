"""Bodies rendered once per key, off the loop, with concurrent misses waiting for that one
rendering; bounded by bytes; a failed rendering is not kept."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot.web.http_cache import etag_of
from bot.web.render_cache import RenderCache


async def test_concurrent_misses_render_once_and_off_the_loop() -> None:
    cache = RenderCache()
    threads: list[threading.Thread] = []
    release = threading.Event()

    def render() -> bytes:
        threads.append(threading.current_thread())
        release.wait(5)
        return b"<table>...</table>"

    waiting = [asyncio.create_task(cache.get("k", render)) for _ in range(5)]
    # the loop is free while it renders: this runs before the rendering is let go
    await asyncio.to_thread(lambda: None)
    release.set()
    answers = await asyncio.gather(*waiting)
    assert len(threads) == 1 and threads[0] is not threading.current_thread()
    assert {a.body for a in answers} == {b"<table>...</table>"}
    assert answers[0].etag == etag_of(b"<table>...</table>")
    assert cache.renders == 1
    assert (await cache.get("k", render)).body == b"<table>...</table>"
    assert cache.renders == 1


async def test_other_keys_render_their_own_body() -> None:
    cache = RenderCache()
    first = await cache.get(("table", 1), lambda: b"one")
    second = await cache.get(("table", 2), lambda: b"two")
    assert (first.body, second.body) == (b"one", b"two")
    assert first.etag != second.etag


async def test_the_least_recently_used_bodies_go_first_beyond_the_byte_bound() -> None:
    cache = RenderCache(max_bytes=250)
    await cache.get("a", lambda: b"a" * 100)
    await cache.get("b", lambda: b"b" * 100)
    assert cache.peek("a") is not None  # now the most recently used
    await cache.get("c", lambda: b"c" * 100)
    assert cache.peek("b") is None
    assert cache.peek("a") is not None and cache.peek("c") is not None


async def test_a_failed_rendering_reaches_its_waiters_and_is_not_kept() -> None:
    cache = RenderCache()

    def broken() -> bytes:
        raise ValueError("template error")

    with pytest.raises(ValueError, match="template error"):
        await cache.get("k", broken)
    assert cache.peek("k") is None
    assert (await cache.get("k", lambda: b"fine")).body == b"fine"
