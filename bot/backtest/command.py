"""``dps backtest MARKET``: read the file, replay it, print the report, write the side files."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TextIO

from bot.backtest.engine import BacktestOptions, Progress, run_backtest
from bot.backtest.market_file import read_market
from bot.backtest.outcome_job import OutcomeJob
from bot.backtest.report import report_json, report_text, write_events
from bot.backtest.summary import summary
from bot.errors import InputError


def parse_moment(text: str, option: str, *, end_of_day: bool = False) -> datetime:
    """An ISO 8601 time or date from the command line, as aware UTC.

    A time without an offset is read as UTC. A bare date is its midnight, or with
    ``end_of_day`` the last microsecond of that day (so ``--until 2026-11-19`` includes
    the 19th).

    Raises:
        InputError: not an ISO 8601 date or time; the message names the option.
    """
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1, microseconds=-1) if end_of_day else moment
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option}: not an ISO 8601 date or time: {text[:40]!r}") from None
    return moment.replace(tzinfo=UTC) if moment.utcoffset() is None else moment.astimezone(UTC)


def terminal_progress(stream: TextIO) -> Progress:
    """A plain-text progress line on ``stream``, redrawn with ``\\r`` at each new percent."""
    shown = [-1]

    def show(done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        if percent != shown[0]:
            shown[0] = percent
            stream.write(f"\rbacktest: cycle {done:,} of {total:,} ({percent} %)")
            if done >= total:
                stream.write("\n")
            stream.flush()

    return show


def _open_out(path: str, what: str) -> TextIO:
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot write: {exc.strerror or exc}") from exc


def backtest(
    market: str,
    *,
    as_json: bool = False,
    events: str | None = None,
    readings: str | None = None,
    since: str | None = None,
    until: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    progress: Callable[[TextIO], Progress | None] | None = None,
) -> int:
    """Run the command; returns the exit status (0). Bad input raises ``InputError``.

    Args:
        market: the market file (gzip or plain CSV).
        as_json: print one JSON object instead of the text report.
        events / readings: write the delivered alerts (JSON lines) / every scored
            reading (CSV) to these paths.
        since / until: the window of cycles scored (ISO 8601 dates or times).
        out / err: where the report and the progress go (default stdout / stderr).
        progress: builds the progress callback for ``err`` (default: a progress line
            when ``err`` is a terminal, else none).
    """
    stdout = out or sys.stdout
    stderr = err or sys.stderr
    options = BacktestOptions(
        since=None if since is None else parse_moment(since, "--since"),
        until=None if until is None else parse_moment(until, "--until", end_of_day=True),
    )
    if options.since and options.until and options.since > options.until:
        raise InputError("--since is after --until")
    data = read_market(Path(market))
    outcomes = OutcomeJob(data)  # alongside the replay: they depend on the market alone
    default = terminal_progress(stderr) if stderr.isatty() else None
    show = default if progress is None else progress(stderr)
    readings_file = None if readings is None else _open_out(readings, "--readings")
    try:
        run = run_backtest(data, options, readings_out=readings_file, progress=show)
    finally:
        if readings_file is not None:
            readings_file.close()
    if events is not None:
        with _open_out(events, "--events") as handle:
            write_events(handle, run.alerts)
    report = summary(run, market=outcomes.result())
    stdout.write((report_json(report) if as_json else report_text(report)) + "\n")
    return 0
