"""Target: the bundled demo market loads in under 1 s in a fresh interpreter.

``make demo`` and every replay test start by loading it, so a slow loader is felt at once.
The baseline, measured in the same run, is the floor of the same work: decompressing the
file and splitting it into CSV rows with the standard library, nothing parsed or indexed.
A fresh interpreter each time, so no earlier object slows the garbage collector.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import median, p, verdict, write_section

ROOT = Path(__file__).resolve().parents[1]
REPEAT = 7
TARGET_S = 1.0
LOAD = """
import time
from bot.collector.replay import ReplayMarket
t = time.perf_counter(); ReplayMarket.bundled(); print(time.perf_counter() - t)
"""
FLOOR = """
import csv, gzip, io, time
from importlib import resources
from bot.collector.replay import DEMO_MARKET_FILE, DEMO_MARKET_PACKAGE
t = time.perf_counter()
raw = resources.files(DEMO_MARKET_PACKAGE).joinpath(DEMO_MARKET_FILE).read_bytes()
rows = sum(1 for _ in csv.reader(io.StringIO(gzip.decompress(raw).decode("utf-8"))))
print(time.perf_counter() - t)
"""


def fresh(code: str) -> float:
    """Seconds the measured part of ``code`` took, in a new interpreter."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout)


def main() -> None:
    load = [fresh(LOAD) for _ in range(REPEAT)]
    floor = [fresh(FLOOR) for _ in range(REPEAT)]
    rows = [
        "| measure | median | p90 | target |",
        "|---|---:|---:|---:|",
        f"| `ReplayMarket.bundled()`, fresh interpreter | {median(load) * 1000:.0f} ms | "
        f"{p(load, 0.9) * 1000:.0f} ms | < {TARGET_S * 1000:.0f} ms |",
        f"| baseline: decompress and split into CSV rows only | {median(floor) * 1000:.0f} ms | "
        f"{p(floor, 0.9) * 1000:.0f} ms | — |",
    ]
    text = "## Loading the bundled demo market\n\n" + "\n".join(rows)
    text += "\n\n" + verdict(f"p90 of {REPEAT} fresh loads under {TARGET_S:g} s", p(load, 0.9), TARGET_S, "s")
    text += (
        "\n\nBaseline: the floor of the same work, the file decompressed and split into CSV rows"
        " with the standard library, nothing parsed or indexed."
        " Measured here rather than asserted in the suite, which makes no timed assertions."
    )
    print(text)
    write_section("replay", text)


if __name__ == "__main__":
    main()
