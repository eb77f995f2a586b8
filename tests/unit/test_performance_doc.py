"""Every published figure says which commit it was measured on and whether it met its target.

docs/performance.md is stitched from the benches' sections (`make bench`); the soak section of
docs/reliability.md is written by bench/bench_soak.py. A section without a commit stamp, measured
on uncommitted code, or without a verdict line computed from the measurement fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.common import VERDICT, section_problems, sections, verdict

ROOT = Path(__file__).parents[2]
PERFORMANCE = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
RELIABILITY = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
SOAK_BEGIN, SOAK_END = "<!-- soak:begin -->", "<!-- soak:end -->"

PUBLISHED = sections(PERFORMANCE)


@pytest.mark.parametrize("title", list(PUBLISHED))
def test_each_performance_section_has_a_commit_stamp_and_a_verdict(title: str) -> None:
    assert section_problems(PUBLISHED[title]) == [], f"docs/performance.md, '## {title}'"


def test_the_performance_page_has_sections() -> None:
    assert len(PUBLISHED) >= 5


def test_the_soak_section_has_a_commit_stamp_and_a_verdict() -> None:
    assert SOAK_BEGIN in RELIABILITY and SOAK_END in RELIABILITY
    soak = RELIABILITY.split(SOAK_BEGIN, 1)[1].split(SOAK_END, 1)[0]
    assert section_problems(soak) == [], "docs/reliability.md, the soak section"


GOOD = """## A bench

Verdict: under 0.5 s — **met** (0.144 s).

_Measured 2026-12-04 14:12 UTC on commit 9f2bcb1, AMD EPYC, 2 cores, Python 3.11 (reference workload 37 ms)._
"""


def test_a_complete_section_has_no_problems() -> None:
    assert section_problems(GOOD) == []


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        (GOOD.replace(" on commit 9f2bcb1", ""), "stamp"),
        (GOOD.replace("_Measured 2026-12-04 14:12 UTC", "_Measured 4 December"), "stamp"),
        (GOOD.replace("9f2bcb1", "9f2bcb1 with uncommitted changes"), "uncommitted"),
        (GOOD.replace(" (reference workload 37 ms)", ""), "reference workload"),
        (GOOD.replace("Verdict: under 0.5 s — **met** (0.144 s).", "Under 0.5 s: **met**."), "Verdict"),
        (GOOD.replace("**met** (0.144 s).", "**met**."), "Verdict"),
    ],
)
def test_a_section_missing_a_stamp_or_a_verdict_is_reported(broken: str, problem: str) -> None:
    problems = section_problems(broken)
    assert len(problems) == 1 and problem in problems[0]


def test_sections_are_split_on_level_two_headings() -> None:
    page = "# Title\n\nintro\n\n## One\n\na\n\n### sub\n\n## Two\n\nb\n"
    assert list(sections(page)) == ["One", "Two"]
    assert "### sub" in sections(page)["One"]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("under 0.3 s", 0.635, 0.3, "s"), "Verdict: under 0.3 s — **missed by 0.335 s** (0.635 s)."),
        (("under 0.3 s", 0.18, 0.3, "s"), "Verdict: under 0.3 s — **met** (0.18 s)."),
        (("under 200 MB", 242.0, 200.0, "MB"), "Verdict: under 200 MB — **missed by 42 MB** (242 MB)."),
        (("no message lost", 0, 0, "lost"), "Verdict: no message lost — **met** (0 lost)."),
        (("no message lost", 3, 0, "lost"), "Verdict: no message lost — **missed by 3 lost** (3 lost)."),
        (("at most 50 %", 50.0, 50.0, "%"), "Verdict: at most 50 % — **met** (50%)."),
    ],
)
def test_verdict_lines_lower_is_better(args: tuple[str, float, float, str], line: str) -> None:
    assert verdict(*args) == line
    assert VERDICT.fullmatch(line)


def test_verdict_lines_higher_is_better() -> None:
    met = verdict("at least 27 messages/s", 27.59, 27.0, "messages/s", lower_is_better=False)
    missed = verdict("at least 27 messages/s", 25.5, 27.0, "messages/s", lower_is_better=False)
    assert met == "Verdict: at least 27 messages/s — **met** (27.6 messages/s)."
    assert missed == "Verdict: at least 27 messages/s — **missed by 1.50 messages/s** (25.5 messages/s)."
    assert VERDICT.fullmatch(met) and VERDICT.fullmatch(missed)
