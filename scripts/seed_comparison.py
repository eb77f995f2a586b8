"""Print the seed rows scored by this project beside the seed's own scores (Markdown).

docs/scoring.md embeds this output between markers; a test keeps the two in step.
Run: ``python scripts/seed_comparison.py``.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from bot.app.evaluate_csv import parse_evaluate_csv
from bot.core.scoring import score

ROOT = Path(__file__).resolve().parents[1]
SEED_ROWS = ROOT / "tests" / "data" / "seed_rows.csv"
SEED_REFERENCE = ROOT / "tests" / "data" / "seed_reference.csv"


def comparison_markdown() -> str:
    """The comparison table plus summary lines, as Markdown."""
    rows = parse_evaluate_csv(SEED_ROWS.read_text(encoding="utf-8").splitlines())
    with SEED_REFERENCE.open(encoding="utf-8") as handle:
        reference = {r["symbol"]: r for r in csv.DictReader(handle)}
    scored = sorted(((r, score(r.inputs)) for r in rows), key=lambda x: (-x[1].score, x[0].symbol))
    out = [
        "| Symbol | Seed score | Seed bias | Our score | Band | Our bias | Regime | Δ |",
        "|---|---:|---|---:|---|---|---|---:|",
    ]
    for row, result in scored:
        ref = reference[row.symbol]
        delta = result.score - int(ref["score"])
        out.append(
            f"| {row.symbol} | {ref['score']} | {ref['bias']} | {result.score} | {result.band.value} | "
            f"{result.bias.value} | `{result.regime.value}` | {delta:+d} |"
        )
    ours = [r for _, r in scored]
    seed_avg = sum(int(r["score"]) for r in reference.values()) / len(reference)
    bands = Counter(r.band.value for r in ours)
    regimes = Counter(r.regime.value for r in ours)
    biases = Counter(r.bias.value for r in ours)
    out += [
        "",
        f"- Average score: ours **{sum(r.score for r in ours) / len(ours):.1f}**, seed {seed_avg:.1f}.",
        "- Bands: "
        + ", ".join(f"{b} {bands[b]}" for b in ("neutral", "lean", "stretched", "stressed"))
        + ".",
        f"- Bias: LONG {biases['LONG']}, SHORT {biases['SHORT']}, NEUTRAL {biases['NEUTRAL']} "
        f"(seed: LONG 22, SHORT 14, NEUTRAL 32).",
        "- Regimes: "
        + ", ".join(f"`{k}` {v}" for k, v in sorted(regimes.items(), key=lambda kv: -kv[1]))
        + ".",
        f"- Same bias as the seed on {sum(r.bias.value == reference[w.symbol]['bias'] for w, r in scored)} "
        f"of {len(scored)} rows; within ±10 points on "
        f"{sum(abs(r.score - int(reference[w.symbol]['score'])) <= 10 for w, r in scored)}.",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    print(comparison_markdown())
