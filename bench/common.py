"""Helpers shared by the bench scripts: timing, machine description, results file."""

from __future__ import annotations

import functools
import os
import platform
import random
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# The shapes a published section must carry (tests/unit/test_performance_doc.py checks them).
STAMP = re.compile(
    r"_Measured \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC on commit (?P<commit>[0-9a-f]{7,40})"
    r"(?P<dirty> with uncommitted changes)?"
)
# ``machine``'s figure for the interpreter and host the section was measured with.
REFERENCE = re.compile(r"\(reference workload \d+(?:\.\d+)? ms\)")
VERDICT = re.compile(
    r"^Verdict: (?P<target>.+?) — \*\*(?P<outcome>met|missed by (?P<by>[^*]+))\*\* \((?P<figure>.+)\)\.$",
    re.M,
)


def machine() -> str:
    """One line naming this machine: CPU model, cores, memory, Python, and the time of the
    reference workload (``reference_ms``) on this interpreter and host."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GB, Python {platform.python_version()}"
        f" (reference workload {reference_ms():.1f} ms)"
    )


@functools.cache
def reference_ms() -> float:
    """Milliseconds this interpreter takes, on this host now, to score 5,000 fixed inputs
    (``bot.core.scoring.score``; the best of five runs).

    Two runs' figures compare only at the same reference: a host is not equally fast all
    day (a virtual machine shares its CPUs), and a CPython built without profile-guided and
    link-time optimisation (pyenv's default) takes about a quarter longer than one built
    with them (the deploy image's ``python:3.11-slim``, Debian's ``python3.11``).
    """
    from bot.core.models import ScoreInputs
    from bot.core.params import ScoringParams
    from bot.core.scoring import score

    rng = random.Random(20261205)
    inputs = [
        ScoreInputs(
            *(rng.gauss(0.0, scale) for scale in (1.5, 4.0, 12.0)),
            rng.gauss(0.01, 0.03),
            8.0,
            rng.gauss(0.0, 0.25),
            *(rng.gauss(0.0, scale) for scale in (1.0, 2.0, 4.0)),
        )
        for _ in range(5000)
    ]
    params = ScoringParams()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for item in inputs:
            score(item, params)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls to ``fn`` (after one warm-up call)."""
    fn()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def p(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def code_version() -> str:
    """The commit measured, and whether the code differed from it (a figure holds for that code only)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return run.stdout.strip() if run.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "an unknown commit"
    dirty = git("status", "--porcelain", "--", "bot", "bench", "tests", "pyproject.toml")
    dirty = "\n".join(line for line in dirty.splitlines() if "bench/results/" not in line)
    return f"commit {commit}" + (" with uncommitted changes" if dirty else "")


def verdict(target: str, measured: float, limit: float, unit: str, *, lower_is_better: bool = True) -> str:
    """The section's verdict line for one target, computed from the measurement.

    ``Verdict: <target> — **met** (<figure>).`` or ``… — **missed by <X>** (<figure>).``,
    where X is how far ``measured`` is on the wrong side of ``limit``. The limit itself
    counts as met either way, so a count target ("0 lost") is written with limit 0.
    """
    figure = _amount(measured, unit)
    gap = measured - limit if lower_is_better else limit - measured
    if gap <= 0:
        return f"Verdict: {target} — **met** ({figure})."
    return f"Verdict: {target} — **missed by {_amount(gap, unit)}** ({figure})."


def _amount(value: float, unit: str) -> str:
    """A figure with its unit, as few decimals as tell it apart ("0.335 s", "12 MB", "3")."""
    if value == int(value) and abs(value) >= 1:
        text = f"{int(value):,}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    if not unit:
        return text
    return f"{text}{unit}" if unit in ("%", "×", "x") else f"{text} {unit}"


def write_section(name: str, markdown: str) -> Path:
    """Store one bench's Markdown section; run_all.py stitches them into docs/performance.md."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.md"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    stamp += f" on {code_version()}"
    path.write_text(f"{markdown.rstrip()}\n\n_Measured {stamp}, {machine()}._\n", encoding="utf-8")
    return path


def sections(markdown: str) -> dict[str, str]:
    """The ``## `` sections of a page, by title (the text before the first one is left out)."""
    out = {}
    for chunk in re.split(r"^(?=## )", markdown, flags=re.M):
        if chunk.startswith("## "):
            title, _, _ = chunk.partition("\n")
            out[title[3:].strip()] = chunk
    return out


def section_problems(text: str) -> list[str]:
    """What a published section lacks: a commit stamp on clean code naming the reference
    workload's time, at least one verdict line."""
    problems = []
    stamp = STAMP.search(text)
    if stamp is None:
        problems.append("no '_Measured YYYY-MM-DD HH:MM UTC on commit <hash>' stamp")
    elif stamp.group("dirty"):
        problems.append(f"measured on commit {stamp.group('commit')} with uncommitted changes")
    elif not REFERENCE.search(text, stamp.end()):
        problems.append("no '(reference workload N ms)' after the stamp: the figures cannot be compared")
    if not VERDICT.search(text):
        problems.append("no 'Verdict: <target> — **met**/**missed by X** (<figure>).' line")
    return problems
