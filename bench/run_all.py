"""Run every bench script and rebuild docs/performance.md from their sections."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "performance.md"
INTRO = """# Performance

Each figure is measured by a script in `bench/` (`make bench` runs them all), side by side
with its baseline in the same run, on the machine named under it. The suite itself makes no
timed assertions.
"""


def main() -> int:
    failed = []
    # --stitch rebuilds the page from the sections already measured, without re-running them.
    scripts = [] if "--stitch" in sys.argv else sorted(HERE.glob("bench_*.py"))
    for script in scripts:
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            failed.append(script.name)
    sections = [p.read_text(encoding="utf-8") for p in sorted((HERE / "results").glob("*.md"))]
    DOC.write_text(INTRO + "\n" + "\n".join(sections), encoding="utf-8")
    print(f"wrote {DOC}")
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
