"""Target: the dashboard page p99 under 50 ms and the API p99 under 20 ms at 200 requests/s over
loopback, with 500 symbols, while the bot beside the dashboard's process runs cycles.

The state is ``bench_queries``'s (its helpers, not a copy): the app built and started as
``dps run`` builds and starts it, collecting from the fake exchange (a child process) serving
500 generated perpetuals, over the cached SQLite file holding 30 days of 5-minute scores for
them. The dashboard is served by ``bot.web_launch.start_web_child``, as ``dps run`` does with
``WEB_PORT``: uvicorn in a process of its own beside the bot's, reading the same database.

The load comes from another child process (its own interpreter: it shares neither the bot's
event loop nor its GIL) speaking HTTP/1.1 over raw asyncio sockets, keep-alive connections
from a pool (a new one opened when every pooled one is busy). It is open-loop: request k is
due at start + k / rate whatever happened to the ones before, and its latency runs from that
due time to the last byte of the answer, so a stall of the server (or of the generator)
shows as latency instead of slowing the schedule down. The mix: the dashboard page ``/``,
the table fragment ``/table`` the page polls (with the ``If-None-Match`` of the last answer,
as the browser's revalidating poll sends it), ``/api/v1/top`` and
``/api/v1/score/<random symbol>``.

Four phases, same process and server: (a) cycles run (``Process.cycle`` and ``deliver``, a
``--cycle-gap`` pause after each), (b) baseline: the same schedule with no cycle running,
(c) a tenth of the rate with cycles running, (d) cycles with no web request at all: what a
cycle takes when nothing else is served, against which (a)'s cycles are compared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_queries import (
    CYCLE_GAP_S,
    SYMBOLS,
    History,
    Startup,
    Watch,
    check,
    fake_exchange,
    log,
    ms,
    prepare_history,
    production_settings,
    run_cycles,
    started_app,
    symbol_names,
)
from bench.common import median, p, verdict, write_section
from bot import malloc_arenas
from bot.web_launch import start_web_child

RATE = 200.0  # requests per second
LOADED_S = 30.0  # phase (a)
BASELINE_S = 15.0  # phase (b)
REFERENCE_S = 15.0  # phase (c), at REFERENCE_SHARE of the rate
REFERENCE_SHARE = 0.1
QUIET_S = 15.0  # phase (d): cycles, no requests
CYCLE_SLOWDOWN_MAX = 1.25  # (a)'s median cycle at most this many times (d)'s
TIMEOUT_S = 5.0  # a request unanswered this long is abandoned (the run's length stays bounded)
POOL = 32  # keep-alive connections opened before the schedule starts
PAGE_TARGET_S = 0.050
API_TARGET_S = 0.020
# What each request asks for, by weight: the page, its poll, the two API reads.
MIX = (("page", 0.15), ("table", 0.35), ("top", 0.25), ("score", 0.25))
TITLES = {
    "page": "dashboard page `/`",
    "table": "table fragment `/table`",
    "top": "`/api/v1/top`",
    "score": "`/api/v1/score/{symbol}`",
}


# -- the load generator (child process) ---------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection to the server on loopback."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._streams is None:
            self._streams = await asyncio.open_connection("127.0.0.1", self.port)
        return self._streams

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None

    async def get(self, path: str, etag: str | None) -> tuple[int, dict[str, str], int]:
        """Status, headers (lower-case names) and decoded body length of ``GET path``, asked
        with ``Accept-Encoding: gzip`` as a browser asks; a gzip body is read whole and
        decompressed (as a browser must before it can show it)."""
        reader, writer = await self.open()
        extra = f"If-None-Match: {etag}\r\n" if etag else ""
        host = f"Host: 127.0.0.1:{self.port}\r\nAccept-Encoding: gzip\r\n"
        request = f"GET {path} HTTP/1.1\r\n{host}{extra}\r\n"
        writer.write(request.encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        headers = {}
        for line in head[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = b""
        if status in (204, 304) or status < 200:
            pass
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while chunk := int((await reader.readuntil(b"\r\n")).strip(), 16):
                body += (await reader.readexactly(chunk + 2))[:-2]
            await reader.readuntil(b"\r\n")
        if headers.get("content-encoding", "").lower() == "gzip":
            body = zlib.decompress(body, wbits=31)
        size = len(body)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, size


async def generate(port: int, rate: float, seconds: float, seed: int) -> dict[str, Any]:
    """Send the schedule; every request's kind, due time, send time, end time and status."""
    rng = random.Random(seed)
    names = symbol_names()
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(POOL):
        conn = Connection(port)
        await conn.open()
        pool.put_nowait(conn)
    opened = retried = 0
    etag: str | None = None
    results: list[tuple[str, float, float, float, int, int]] = []

    async def one(kind: str, path: str, due: float) -> None:
        nonlocal opened, retried, etag
        sent = time.perf_counter()
        if pool.empty():
            opened += 1
            conn = Connection(port)
        else:
            conn = pool.get_nowait()
        tag = etag if kind == "table" else None
        try:
            try:
                status, headers, size = await asyncio.wait_for(conn.get(path, tag), TIMEOUT_S)
            except (ConnectionError, asyncio.IncompleteReadError):
                # The server closed an idle keep-alive connection: a browser reconnects too.
                retried += 1
                conn.close()
                status, headers, size = await asyncio.wait_for(conn.get(path, tag), TIMEOUT_S)
        except TimeoutError:
            conn.close()  # its answer may still come: the connection is not reused
            results.append((kind, due, sent, time.perf_counter(), 0, 0))
            return
        done = time.perf_counter()
        if kind == "table" and "etag" in headers:
            etag = headers["etag"]
        pool.put_nowait(conn)
        results.append((kind, due, sent, done, status, size))

    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    paths = {"page": "/", "table": "/table", "top": "/api/v1/top"}
    tasks = []
    start = time.perf_counter() + 0.2
    for k in range(int(rate * seconds)):
        due = start + k / rate
        kind = rng.choices(kinds, weights)[0]
        path = f"/api/v1/score/{rng.choice(names)}" if kind == "score" else paths[kind]
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(kind, path, due)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()
    return {"results": results, "opened": opened, "retried": retried}


def load_main(port: int, rate: float, seconds: float, seed: int) -> None:
    """Child: drive the server at ``port`` and print the results as one JSON document."""
    print(json.dumps(asyncio.run(generate(port, rate, seconds, seed))), flush=True)


# -- the measured run ---------------------------------------------------------------------


@dataclass
class Request:
    kind: str
    latency: float  # due time to the answer's last byte
    send_lag: float  # how late the generator sent it
    cycle: bool
    status: int


@dataclass
class Phase:
    name: str
    requests: list[Request] = field(default_factory=list)
    seconds: float = 0.0
    opened: int = 0
    retried: int = 0
    cycles: int = 0
    cycle_s: list[float] = field(default_factory=list)  # the cycles that finished during the phase
    load: tuple[float, float] = (0.0, 0.0)


async def drive(name: str, port: int, rate: float, seconds: float, seed: int, watch: Watch) -> Phase:
    """One phase: the generator's schedule against ``port``; the requests with their cycle overlap."""
    load = os.getloadavg()[0]
    cycles_before = len(watch.cycles)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--load",
        str(port),
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
        "--seed",
        str(seed),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await child.communicate()
    check(child.returncode == 0, f"the load generator exited with {child.returncode}")
    got = json.loads(out)
    result = Phase(name, seconds=seconds, opened=got["opened"], retried=got["retried"])
    result.load = (load, os.getloadavg()[0])
    result.cycles = len(watch.cycles) - cycles_before
    result.cycle_s = [b - a for a, b in watch.cycles[cycles_before:]]
    for kind, due, sent, done, status, size in got["results"]:
        expected = (0, 200, 304) if kind == "table" else (0, 200)
        check(status in expected and (status in (0, 304) or size > 0), f"{kind}: HTTP {status}, {size} bytes")
        # Both processes read CLOCK_MONOTONIC (perf_counter), so the spans compare.
        cycle = watch.cycle_started is not None and watch.cycle_started < done
        cycle = cycle or any(a < done and b > due for a, b in watch.cycles[cycles_before:])
        result.requests.append(Request(kind, done - due, sent - due, cycle, status))
    return result


async def settle(port: int) -> float:
    """Wait until the server answers ``/api/v1/status`` within 50 ms again (a backlog left by an
    overloaded phase must not spill into the next); the seconds waited."""
    began = time.perf_counter()
    conn = Connection(port)
    try:
        while time.perf_counter() - began < 60:
            t0 = time.perf_counter()
            await conn.get("/api/v1/status", None)
            if time.perf_counter() - t0 < 0.050:
                break
            await asyncio.sleep(0.2)
    finally:
        conn.close()
    return time.perf_counter() - began


@dataclass
class Run:
    history: History
    rate: float
    startup: Startup = field(default_factory=Startup)
    phases: list[Phase] = field(default_factory=list)
    cycle_s: list[float] = field(default_factory=list)
    quiet_cycle_s: list[float] = field(default_factory=list)  # phase (d)
    settle_s: float = 0.0


async def measure(
    url: str, history: History, tmp: Path, out: TextIO, gap_s: float, scale: float, rate: float
) -> Run:
    run = Run(history, rate)
    check(abs(time.perf_counter() - time.monotonic()) < 0.01, "perf_counter is CLOCK_MONOTONIC here")
    # WEB_PORT set as for ``dps run``; port 0 then picks a free one.
    settings = production_settings(url, history, web_port=8080)
    watch = Watch()
    try:
        async with started_app(settings, tmp, out, run.startup) as (app, process):
            server = start_web_child(app, port=0)
            if server is None or server.bound_port is None:
                raise RuntimeError("bench sanity check failed: start_web_child served the dashboard")
            while server.serving == 0:  # its process imports and builds its app first
                if server.started > 1:
                    raise RuntimeError("bench sanity check failed: the dashboard's process exited")
                await asyncio.sleep(0.05)
            try:
                stop = asyncio.Event()
                cycles = asyncio.create_task(run_cycles(process, watch, stop, gap_s))
                try:
                    log(f"phase (a): {rate:g} requests/s for {LOADED_S * scale:g} s, cycles running")
                    run.phases.append(await drive("a", server.bound_port, rate, LOADED_S * scale, 1, watch))
                finally:
                    stop.set()
                    await cycles
                run.settle_s = await settle(server.bound_port)
                log(f"phase (b): {rate:g} requests/s for {BASELINE_S * scale:g} s, no cycles")
                run.phases.append(await drive("b", server.bound_port, rate, BASELINE_S * scale, 2, watch))
                run.settle_s += await settle(server.bound_port)
                stop = asyncio.Event()
                cycles = asyncio.create_task(run_cycles(process, watch, stop, gap_s))
                try:
                    low = rate * REFERENCE_SHARE
                    log(f"phase (c): {low:g} requests/s for {REFERENCE_S * scale:g} s, cycles running")
                    run.phases.append(await drive("c", server.bound_port, low, REFERENCE_S * scale, 3, watch))
                finally:
                    stop.set()
                    await cycles
                log(f"phase (d): no requests for {QUIET_S * scale:g} s, cycles running")
                before = len(watch.cycles)
                stop = asyncio.Event()
                cycles = asyncio.create_task(run_cycles(process, watch, stop, gap_s))
                try:
                    await asyncio.sleep(QUIET_S * scale)
                finally:
                    stop.set()
                    await cycles
                run.quiet_cycle_s = [b - a for a, b in watch.cycles[before:]]
            finally:
                await server.stop()
            run.cycle_s = [b - a for a, b in watch.cycles]
    finally:
        watch.close()
    check(
        run.phases[0].cycles > 0
        and run.phases[1].cycles == 0
        and run.phases[2].cycles > 0
        and len(run.quiet_cycle_s) > 0,
        "cycles ran in (a), (c) and (d), not in (b)",
    )
    return run


# -- the report ---------------------------------------------------------------------------

PHASES = {
    "a": "(a) cycles running",
    "b": "(b) baseline: no cycles",
    "c": "(c) a tenth of the rate, cycles running",
}
GROUPS = (
    ("page", ("page",)),
    ("table", ("table",)),
    ("top", ("top",)),
    ("score", ("score",)),
    ("API", ("top", "score")),
)


def rows_of(ph: Phase) -> Iterator[str]:
    for title, kinds in GROUPS:
        reqs = [r for r in ph.requests if r.kind in kinds]
        times = [r.latency for r in reqs]
        over = [r.latency for r in reqs if r.cycle]
        # The generator's own lateness (its process starved of a core) is in the latency
        # above, as a stall of the server is; this column leaves it out, to tell them apart.
        from_send = [r.latency - r.send_lag for r in reqs]
        label = "API, both endpoints" if title == "API" else TITLES[title]
        yield (
            f"| {PHASES[ph.name]} | {label} | {len(reqs)} | {ms(median(times))} | {ms(p(times, 0.99))} "
            f"| {ms(max(times))} | {len(over)} | {ms(p(over, 0.99)) if over else '—'} "
            f"| {ms(p(from_send, 0.99))} |"
        )


def p99(ph: Phase, kinds: tuple[str, ...]) -> float:
    return p([r.latency for r in ph.requests if r.kind in kinds], 0.99)


def cycle_line(run: Run) -> str:
    spans = [
        (f"({ph.name}) at {len(ph.requests) / ph.seconds:.0f} requests/s", ph.cycle_s)
        for ph in run.phases
        if ph.cycle_s
    ]
    spans.append(("(d) with no web request", run.quiet_cycle_s))
    return "; ".join(
        f"{label}: {len(times)} cycles, {ms(median(times))} and {ms(max(times))}" for label, times in spans
    )


def report(run: Run, elapsed_s: float, gap_s: float) -> str:
    a = run.phases[0]
    table = [
        "| phase | request | requests | p50 | p99 | max | overlapped a cycle | p99 of those "
        "| p99 from the send |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ph in run.phases:
        table.extend(rows_of(ph))
    verdicts = "\n".join(
        [
            verdict(
                f"{TITLES['page']} p99 under 50 ms at {run.rate:g} requests/s while cycles run",
                p99(a, ("page",)) * 1000,
                PAGE_TARGET_S * 1000,
                "ms",
            ),
            verdict(
                f"{TITLES['table']} p99 under 50 ms at {run.rate:g} requests/s while cycles run",
                p99(a, ("table",)) * 1000,
                PAGE_TARGET_S * 1000,
                "ms",
            ),
            verdict(
                f"API p99 under 20 ms at {run.rate:g} requests/s while cycles run",
                p99(a, ("top", "score")) * 1000,
                API_TARGET_S * 1000,
                "ms",
            ),
            verdict(
                f"the median cycle at {run.rate:g} requests/s at most {CYCLE_SLOWDOWN_MAX:g} times "
                "the median cycle with no web request",
                median(a.cycle_s) / median(run.quiet_cycle_s),
                CYCLE_SLOWDOWN_MAX,
                "×",
            ),
        ]
    )
    counts = "; ".join(
        f"({ph.name}) {len(ph.requests)} requests in {ph.seconds:g} s, "
        f"{sum(r.status in (200, 304) for r in ph.requests) / ph.seconds:.0f}/s answered, "
        f"{sum(r.status == 304 for r in ph.requests)} fragment polls answered 304, "
        f"{sum(r.status == 0 for r in ph.requests)} abandoned unanswered after {TIMEOUT_S:g} s, "
        f"{ph.opened} connections opened beyond the pool of {POOL}, {ph.retried} retried on a closed one, "
        f"sent late by p99 {ms(p([r.send_lag for r in ph.requests], 0.99))}"
        for ph in run.phases
    )
    loads = "; ".join(f"({ph.name}) {ph.load[0]:.1f} → {ph.load[1]:.1f}" for ph in run.phases)
    h = run.history
    return f"""## The dashboard and the API at 200 requests/s while cycles run (500 symbols)

The app built and started as `dps run` builds and starts it (`bench/bench_queries.py`'s
set-up: role `all`, the fake exchange serving {SYMBOLS} Binance USD-M perpetuals from a child
process, backfill and first cycle, `gc_policy.after_start()`; {run.startup.seconds:.0f} s), over
the SQLite file holding 30 days of 5-minute scores for those symbols ({h.rows:,} rows; {h.how}).
The dashboard is served by `start_web_child` as `dps run` serves it when `WEB_PORT` is set:
uvicorn in a process of its own beside the bot's (which binds the address and supervises it),
reading the same database. In phase (a) cycles run in the bot's process, a {gap_s:g} s pause
after each.

Cycles (fetch of {SYMBOLS} symbols, score, store, deliver), median and max:
{cycle_line(run)}.

The load: a separate process (its own interpreter, so neither the bot's event loop nor its
GIL) sends HTTP/1.1 over loopback on keep-alive connections, {run.rate:g} requests/s, open-loop:
each request has a due time fixed in advance and is sent then, whether or not earlier ones
were answered, and its latency is measured **from that due time** to the answer's last byte,
so a stall of the server is counted in full rather than hidden by a schedule that waits for
it. The mix, drawn at random: {", ".join(f"{TITLES[k]} {w:.0%}" for k, w in MIX)}
(the fragment with the `If-None-Match` of its last answer, as the page's poll sends it);
every request says `Accept-Encoding: gzip`, as browsers do, and a gzip answer is read whole
and decompressed before it counts as answered.
"Overlapped a cycle": a cycle was in flight between the request's due time and its answer.
"From the send": the same answers timed from the moment the generator actually sent each
request, leaving out how late it was (its own process waiting for a core); the verdicts use
the due time.
A request unanswered after {TIMEOUT_S:g} s is abandoned and counted at that latency (so the
figures are then lower bounds); between the phases the bench waited {run.settle_s:.1f} s for
the server to answer `/api/v1/status` within 50 ms again, so no backlog of (a) spills into (b).

{chr(10).join(table)}

{counts}. The machine's load average (1 minute, {os.cpu_count()} cores) at the start and end
of each phase: {loads}.

{verdicts}

Baseline (b): the same schedule against the same server right after, with no cycle running.
For reference (c): a tenth of the rate, cycles running again: the latency of a server that is
not saturated, what the cycles alone add to it.
The script (`bench/bench_web.py`) ran for {elapsed_s / 60:.1f} minutes.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycle-gap", type=float, default=CYCLE_GAP_S, help="seconds between cycles")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the phases' durations")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "dps-bench-queries",
        help="where the history database is kept between runs (shared with bench_queries)",
    )
    parser.add_argument("--load", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=RATE, help="requests per second")
    parser.add_argument("--seconds", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    malloc_arenas.tune()  # as ``bot.runner.run`` does before it builds the app
    if args.load is not None:
        load_main(args.load, args.rate, args.seconds, args.seed)
        return
    began = time.perf_counter()
    history = prepare_history(args.cache_dir)
    log(f"history: {history.rows:,} rows ({history.how}) in {history.built_s:.0f} s")
    with (
        fake_exchange() as url,
        tempfile.TemporaryDirectory(prefix="dps-bench-web-") as tmp,
        open(os.devnull, "w", encoding="utf-8") as out,
    ):
        run = asyncio.run(measure(url, history, Path(tmp), out, args.cycle_gap, args.scale, args.rate))
    text = report(run, time.perf_counter() - began, args.cycle_gap)
    print(text)
    # A trial run or an experiment does not replace the published one.
    if args.scale == 1.0 and args.rate == RATE:
        write_section("web", text)


if __name__ == "__main__":
    main()
