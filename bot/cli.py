"""The ``dps`` command line. Nothing imports this module."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.app.evaluate_csv import parse_evaluate_csv
from bot.app.views import rank
from bot.core.scoring import score
from bot.errors import DpsError, InputError
from bot.render.table import markdown_table, score_json

EXIT_BAD_INPUT = 2


def _read_text(path: str) -> list[str]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte {exc.start})") from exc


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a CSV of inputs without any exchange or database."""
    try:
        rows = parse_evaluate_csv(_read_text(args.file))
    except InputError as exc:
        print(f"dps evaluate: {args.file}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    scored = [(row.symbol, row.inputs, score(row.inputs)) for row in rows]
    if args.json:
        for symbol, inputs, result in sorted(scored, key=lambda s: (-s[2].score, s[0])):
            print(score_json(symbol, inputs, result))
    else:
        print(markdown_table(rank(scored)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dps", description="Derivatives Pressure Score bot")
    sub = parser.add_subparsers(dest="command", required=True)
    evaluate = sub.add_parser("evaluate", help="score a CSV of inputs (no exchange, no database)")
    evaluate.add_argument("file", help="CSV: symbol,oi_1h,oi_4h,oi_24h,funding,funding_interval_h,basis")
    evaluate.add_argument("--json", action="store_true", help="one JSON object per line")
    evaluate.set_defaults(handler=cmd_evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dps`` console script."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except DpsError as exc:
        print(f"dps {args.command}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; that is not an error of ours.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces the dead pipe until exit
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
