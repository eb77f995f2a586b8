"""Run every bench script and rebuild docs/performance.md from their sections."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.common import VERDICT, sections  # noqa: E402

DOC = HERE.parent / "docs" / "performance.md"
RELIABILITY = HERE.parent / "docs" / "reliability.md"
INTRO = """# Performance

Each figure is measured by a script in `bench/` (`make bench` runs them all), side by side
with its baseline in the same run, on the machine named under it. The suite itself makes no
timed assertions: its tests wait on outcomes (polling with a generous deadline that fails
loudly, `tests/waiting.py`) or move a clock they control (`tests/fakes/clock.py`; for
`dps run` processes, `tests/contract/clocked_run.py`), and how fast something runs is
measured here, not asserted there. The only durations it checks are lower bounds a slow
machine cannot break: a pause an exchange asked for lasted at least that long.

Every section names the commit it was measured on and ends its figures with one verdict line
per target (`Verdict: <target> — **met** (<figure>).` or `… — **missed by X** (<figure>).`),
computed from the measurement; `make bench` prints them all at the end, and
`tests/unit/test_performance_doc.py` fails when a section lacks its stamp or a verdict.

The machine line names the Python and the **reference workload**: how long that interpreter,
on that host, took to score 5,000 fixed inputs when the section was measured
(`bench/common.py`). Compare two runs' figures only at a similar reference. A virtual host
is not equally fast all day, and the interpreter's build matters as much: a CPython built
with profile-guided and link-time optimisation, as the deploy image's `python:3.11-slim` is,
runs the reference in about four fifths of the time one built without them takes (pyenv's
default): Debian 12's `python3.11` took 37.5 ms against 47.2 for a default pyenv build on the
host below, and the 5,000-symbol cycle 231 against 271 ms, run one after the other. The
published run uses Debian's, an optimised build as production's is: `make venv PYTHON=<that
python3.11>`, then `make bench`.
"""


def main() -> int:
    failed = []
    # --stitch rebuilds the page from the sections already measured, without re-running them.
    scripts = [] if "--stitch" in sys.argv else sorted(HERE.glob("bench_*.py"))
    for script in scripts:
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            failed.append(script.name)
    parts = [p.read_text(encoding="utf-8") for p in sorted((HERE / "results").glob("*.md"))]
    page = INTRO + "\n" + "\n".join(parts)
    DOC.write_text(page, encoding="utf-8")
    print(f"wrote {DOC}")
    summary(page)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


def summary(page: str) -> None:
    """Every verdict line of the page and of the soak section, by section, then the count missed."""
    found = {title: VERDICT.finditer(text) for title, text in sections(page).items()}
    reliability = RELIABILITY.read_text(encoding="utf-8") if RELIABILITY.exists() else ""
    if "<!-- soak:begin -->" in reliability:
        soak = reliability.split("<!-- soak:begin -->", 1)[1].split("<!-- soak:end -->", 1)[0]
        found["Soak (docs/reliability.md)"] = VERDICT.finditer(soak)
    missed = 0
    print("\n== verdicts")
    for title, lines in found.items():
        print(f"{title}:")
        matches = list(lines)
        if not matches:
            print("  (no verdict line)")
        for match in matches:
            missed += match.group("outcome") != "met"
            print(f"  {match.group(0)}")
    print(f"{missed} target(s) missed")


if __name__ == "__main__":
    sys.exit(main())
