"""Print the seed rows scored by this project beside the seed's own scores (Markdown).

docs/scoring.md embeds this output between markers; a test keeps the two in step.
Run: ``python scripts/seed_comparison.py``.
"""

from __future__ import annotations

import csv
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.app.evaluate_csv import parse_evaluate_csv
from bot.core.bands import band_for
from bot.core.params import DEFAULT_PARAMS
from bot.core.scoring import score

ROOT = Path(__file__).resolve().parents[1]
SEED_ROWS = ROOT / "tests" / "data" / "seed_rows.csv"
SEED_REFERENCE = ROOT / "tests" / "data" / "seed_reference.csv"


@dataclass(frozen=True)
class Agreement:
    """How the code's reading of the seed rows compares with the seed's own."""

    spearman: float
    same_band: int
    same_bias: int
    median_abs_diff: float
    average: float
    clear_rows: int
    clear_same_bias: int
    rows: int


def _ranks(values: Sequence[float]) -> list[float]:
    """Average ranks (ties share the mean of their positions), as Spearman's rho needs."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson's r of the average ranks)."""
    ra, rb = _ranks(a), _ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    num = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    den = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return num / den


def agreement() -> Agreement:
    """Score the seed rows and measure the agreement figures of docs/scoring.md."""
    rows = parse_evaluate_csv(SEED_ROWS.read_text(encoding="utf-8").splitlines())
    with SEED_REFERENCE.open(encoding="utf-8") as handle:
        reference = {r["symbol"]: r for r in csv.DictReader(handle)}
    ours, seeds, same_band, same_bias, clear, clear_same = [], [], 0, 0, 0, 0
    for row in rows:
        result, ref = score(row.inputs), reference[row.symbol]
        seed_score = int(ref["score"])
        ours.append(result.score)
        seeds.append(seed_score)
        same_band += band_for(seed_score, DEFAULT_PARAMS.band_floors) is result.band
        same_bias += result.bias.value == ref["bias"]
        funding, basis = row.inputs.funding_pct, row.inputs.basis_pct
        if funding is None or basis is None:
            continue
        # Rows whose funding and basis both clearly say one side, and the seed agrees.
        long_side = funding > 0.01 and basis > 0.05 and ref["bias"] == "LONG"
        short_side = funding < 0 and basis < -0.05 and ref["bias"] == "SHORT"
        if long_side or short_side:
            clear += 1
            clear_same += result.bias.value == ref["bias"]
    return Agreement(
        spearman=spearman(ours, seeds),
        same_band=same_band,
        same_bias=same_bias,
        median_abs_diff=statistics.median(abs(x - y) for x, y in zip(ours, seeds, strict=True)),
        average=statistics.fmean(ours),
        clear_rows=clear,
        clear_same_bias=clear_same,
        rows=len(rows),
    )


def agreement_markdown(a: Agreement) -> str:
    """The agreement figures against the targets of issue 15, as a Markdown table."""

    def verdict(met: bool, miss: str) -> str:
        return "met" if met else f"missed by {miss}"

    n = a.rows
    lines = [
        "| figure | ours | target | verdict |",
        "|---|---:|---:|---|",
        f"| Spearman with the seed's scores | {a.spearman:.3f} | ≥ 0.62 | "
        f"{verdict(a.spearman >= 0.62, f'{0.62 - a.spearman:.3f}')} |",
        f"| same band | {a.same_band} of {n} | ≥ 42 | {verdict(a.same_band >= 42, str(42 - a.same_band))} |",
        f"| same bias | {a.same_bias} of {n} | ≥ 45 | {verdict(a.same_bias >= 45, str(45 - a.same_bias))} |",
        f"| median absolute difference | {a.median_abs_diff:g} | ≤ 6 | "
        f"{verdict(a.median_abs_diff <= 6, f'{a.median_abs_diff - 6:g}')} |",
        f"| average score | {a.average:.1f} | 12–20 | {verdict(12 <= a.average <= 20, 'range')} |",
        f"| clear rows with the seed's bias | {a.clear_same_bias} of {a.clear_rows} | ≥ 14 | "
        f"{verdict(a.clear_same_bias >= 14, str(14 - a.clear_same_bias))} |",
    ]
    return "\n".join(lines)


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
    out += ["", agreement_markdown(agreement())]
    return "\n".join(out)


if __name__ == "__main__":
    print(comparison_markdown())
