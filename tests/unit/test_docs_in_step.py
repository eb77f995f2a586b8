"""docs/scoring.md embeds the seed comparison; it must match what the code computes today."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_scoring_doc_seed_table_matches_the_code() -> None:
    module = runpy.run_path(str(ROOT / "scripts" / "seed_comparison.py"))
    expected = module["comparison_markdown"]()
    doc = (ROOT / "docs" / "scoring.md").read_text(encoding="utf-8")
    start = doc.index("<!-- seed-comparison:start -->") + len("<!-- seed-comparison:start -->")
    end = doc.index("<!-- seed-comparison:end -->")
    assert doc[start:end].strip() == expected.strip(), "run scripts/seed_comparison.py and paste its output"
