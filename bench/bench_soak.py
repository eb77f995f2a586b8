"""The soak-and-chaos run: ``dps run`` for 300+ five-minute cycles while things break.

Drives ``tests.soak.harness`` (read its docstring for the set-up): the real bot in a child
process on a clock running ``--speed`` times faster than wall time, the fake exchange
serving the bundled replay market, the fake Bot API and the fake Discord, a chaos schedule
and ``--kills`` kill -9 restarts. Writes the figures into ``docs/reliability.md`` (between
the ``soak:begin`` / ``soak:end`` markers) and exits 1 when a promise did not hold.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import code_version, machine, verdict
from tests.soak.harness import SoakConfig, SoakReport, run_soak

DOC = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
BEGIN, END = "<!-- soak:begin -->", "<!-- soak:end -->"


def section(report: SoakReport) -> str:
    cfg = report.config
    steady, peak, drift = report.memory()
    problems = report.problems()
    outcome = "**all promises held**" if not problems else "**broken:** " + "; ".join(problems)
    digests = sorted(report.digest_counts.items())
    rows = "\n".join(
        [
            f"| cycles run (5 min each, {cfg.speed:g}× wall time) | {report.cycles} "
            f"(per life: {', '.join(map(str, report.cycles_per_life))}) |",
            f"| kill -9 restarts | {report.kills} |",
            f"| outbox messages due (alerts + digests) | {report.outbox_rows} "
            f"({report.alerts_due} alert batches, {report.digests_due} digests) |",
            f"| delivered, checked against the fakes' own records | {report.delivered} |",
            f"| lost | {len(report.lost)} |",
            f"| duplicated (promise: at most one per crash) | {len(report.duplicates)} |",
            f"| dropped because the chat had blocked the bot | {report.dropped_blocked} |",
            f"| digests per chat and local day | {', '.join(f'{n}' for _, n in digests) or 'none'} "
            f"({len(digests)} chat-days; missing: {len(report.digests_missing)}) |",
            f"| overlapping cycles | {len(report.overlaps)} |",
            f"| ERROR lines or tracebacks in the bot's log | {len(report.log_errors)} |",
            f"| log lines showing a bot token | {len(report.token_leaks)} |",
            f"| 429/418 answered by the fakes | exchange {report.fake_429s.get('exchange', 0)}, "
            f"Telegram {report.fake_429s.get('telegram', 0)}, Discord {report.fake_429s.get('discord', 0)} |",
            f"| memory (longest life, after its first third) | steady {steady:.0f} MB, peak {peak:.0f} MB, "
            f"drift {drift:+.1f} MB |",
            f"| exit status after SIGTERM | {report.final_returncode} |",
            f"| wall time | {report.wall_s:.0f} s |",
        ]
    )
    lines = [
        verdict("no message lost", len(report.lost), 0, "lost"),
        verdict("at most one duplicate per crash", len(report.duplicates), report.kills, "duplicated"),
        verdict(f"all {cfg.cycles} cycles run", report.cycles, cfg.cycles, "cycles", lower_is_better=False),
        verdict("no ERROR line or traceback in the log", len(report.log_errors), 0, "lines"),
    ]
    if drift == drift:  # NaN: a life too short to tell
        lines.append(verdict("memory flat within one life (drift at most 15 MB)", drift, 15.0, "MB"))
    verdicts = "\n\n".join(lines)
    chaos = "\n".join(f"- {line}" for line in report.chaos)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""{BEGIN}
Result: {outcome}.

{verdicts}

| measure | value |
|---|---|
{rows}

What happened, in order (cycle counts and simulated times):

{chaos}

_Measured {stamp} on {code_version()}, {machine()}, with `make bench`
(`bench/bench_soak.py --cycles {cfg.cycles} --speed {cfg.speed:g} --kills {cfg.kills} --seed {cfg.seed}`)._
{END}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--speed", type=float, default=300.0)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dps-soak-") as tmp:
        report = run_soak(
            SoakConfig(Path(tmp), cycles=args.cycles, speed=args.speed, kills=args.kills, seed=args.seed)
        )
    text = section(report)
    print(text)
    doc = DOC.read_text(encoding="utf-8")
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        doc = head + text + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip() + "\n\n" + text + "\n"
    DOC.write_text(doc, encoding="utf-8")
    return 0 if not report.problems() else 1


if __name__ == "__main__":
    sys.exit(main())
