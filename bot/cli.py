"""The ``dps`` command line. Nothing imports this module."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.app.command_registry import CommandRegistry
from bot.app.command_set import COMMAND_SET
from bot.app.evaluate_csv import parse_evaluate_csv
from bot.app.views import rank
from bot.core.scoring import score
from bot.errors import DpsError, InputError
from bot.libraries import configure_libraries
from bot.render.table import markdown_table, score_json
from bot.roles import Role

if TYPE_CHECKING:
    from bot.config import Settings

EXIT_BAD_INPUT = 2
EXIT_STALE = 1
"""``dps status``: no collection yet, or the newest is older than two intervals."""


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


def _secrets(settings: Settings) -> list[str]:
    tokens = (settings.telegram_bot_token, settings.discord_bot_token, settings.web_api_token)
    return [t.get_secret_value() for t in tokens if t is not None]


def cmd_run(args: argparse.Namespace) -> int:
    """Run the bot: schedule, collector, delivery, digests and the chat adapters."""
    import asyncio

    from bot.config import load_settings
    from bot.runner import run

    settings = load_settings()
    configure_libraries(settings.log_level, _secrets(settings))
    return asyncio.run(run(settings, role=Role(args.role)))


def cmd_web(args: argparse.Namespace) -> int:
    """Serve the read-only dashboard and JSON API over the database."""
    import asyncio

    from bot.config import load_settings
    from bot.web_launch import serve_dashboard

    if args.port is not None and not 1 <= args.port <= 65535:
        raise InputError(f"--port must be from 1 to 65535, not {args.port}")
    settings = load_settings()
    configure_libraries(settings.log_level, _secrets(settings))
    return asyncio.run(serve_dashboard(settings, port=args.port))


def cmd_demo(args: argparse.Namespace) -> int:
    """Score the bundled (synthetic) replay market's last snapshot and print the table."""
    if args.live:
        return _demo_live(args)
    from bot.app.snapshot_scoring import score_snapshots
    from bot.collector.replay import SYNTHETIC_LABEL, ReplayMarket
    from bot.core.params import DEFAULT_PARAMS

    market = ReplayMarket.bundled()
    last = market.times()[-1]
    scored = score_snapshots(
        market.snapshots_at(last),
        lambda s: market.oi_history(s, last),
        last,
        DEFAULT_PARAMS,
        price_history=lambda s: market.mark_history(s, last),
    )
    rows = [(s.snapshot.symbol, s.inputs, s.result) for s in scored]
    label = f"{SYNTHETIC_LABEL} — not market data; snapshot {last:%Y-%m-%d %H:%M} UTC"
    print(markdown_table(rank(rows, limit=args.top, source_label=label)))
    return 0


def _demo_live(args: argparse.Namespace) -> int:
    """The whole pipeline on the replay market with an accelerated clock (``make demo``)."""
    import asyncio
    import logging
    import tempfile

    from bot.config import load_settings
    from bot.demo import demo

    configure_libraries(
        logging.WARNING, fmt="%(levelname)s %(name)s: %(message)s", quiet_scheduler_skips=True
    )
    with tempfile.TemporaryDirectory(prefix="dps-demo-") as tmp:
        # A fresh database per demo run: the replay always starts from the same state.
        settings = load_settings(database_url=f"sqlite:///{tmp}/demo.sqlite3", symbols=[])
        interactive = sys.stdin.isatty() and not args.no_input
        return asyncio.run(demo(settings, interactive=interactive))


def cmd_query(args: argparse.Namespace) -> int:
    """``dps top|score|status|track|…``: answer through the same command layer as the chats."""
    import asyncio

    from bot.bootstrap import data_is_fresh, one_shot
    from bot.config import load_settings

    settings = load_settings()
    line = " ".join([f"/{args.command}", *args.words])
    print(asyncio.run(one_shot(settings, line)))
    if args.command == "status" and not asyncio.run(data_is_fresh(settings)):
        return EXIT_STALE  # monitors can alarm on the exit status alone
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Apply every pending migration to DATABASE_URL."""
    from bot.config import load_settings
    from bot.storage.migrate import current_revision, upgrade

    url = load_settings().database_url
    upgrade(url)
    print(f"database at revision {current_revision(url)}")
    return 0


def cmd_discord_sync(args: argparse.Namespace) -> int:
    """Sync the Discord slash commands now, even if they look unchanged."""
    import asyncio

    from bot.bootstrap import sync_discord_commands
    from bot.config import load_settings

    settings = load_settings()
    configure_libraries(settings.log_level, _secrets(settings))
    count = asyncio.run(sync_discord_commands(settings))
    print(f"synced {count} Discord slash commands")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    """Run one collection cycle into the store and print its summary."""
    import asyncio

    from bot.bootstrap import collect_once
    from bot.config import load_settings

    settings = load_settings()
    configure_libraries(settings.log_level, _secrets(settings))
    report = asyncio.run(collect_once(settings))
    ok = report.scored - report.partial
    failed = sum(report.failures.values())
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(report.failures.items())) or "none"
    print(f"collected {report.fetched} symbols in {report.duration_s:.1f}s with {report.requests} requests")
    print(f"  scored: {ok} complete, {report.partial} partial; failed: {failed} ({reasons})")
    if report.weight_used is not None:
        print(f"  exchange request weight used: {report.weight_used}")
    print(f"  alerts: {report.events} events, {report.messages} messages queued")
    for s in report.top:
        r = s.result
        print(f"  {s.snapshot.symbol:14} {r.score:3} {r.bias.value:7} {r.label}")
    return 0 if report.fetched else 1


def cmd_webhook_add(args: argparse.Namespace) -> int:
    """Check a URL and register it as a webhook; print its id (and the secret if made up)."""
    import asyncio

    from bot.config import load_settings
    from bot.core.events import EventKind
    from bot.core.models import Band
    from bot.webhook_admin import add_webhook, view_line

    names = {k.value for k in EventKind}
    unknown = [k for k in args.kinds if k not in names and k != "all"]
    if unknown or not args.kinds:
        raise InputError(f"--kinds takes {', '.join(sorted(names))} or all, not {','.join(unknown)[:80]!r}")
    kinds = frozenset(EventKind) if "all" in args.kinds else frozenset(EventKind(k) for k in args.kinds)
    added = asyncio.run(
        add_webhook(
            load_settings(),
            args.url,
            secret=args.secret,
            min_band=Band(args.min),
            kinds=kinds,
            symbols=args.symbols,
            digest=not args.no_digest,
            venues=args.venues,
        )
    )
    print(f"added {view_line(added.view)}")
    if added.generated_secret is not None:
        print(f"signing secret (shown only now; give it to the receiver): {added.generated_secret}")
    return 0


def cmd_webhook_list(args: argparse.Namespace) -> int:
    """Print every webhook (never its secret)."""
    from bot.config import load_settings
    from bot.webhook_admin import list_webhooks, view_line

    views = list_webhooks(load_settings())
    print("\n".join(view_line(v) for v in views) or "no webhooks")
    return 0


def cmd_webhook_remove(args: argparse.Namespace) -> int:
    """Delete a webhook and the messages still queued for it."""
    from bot.config import load_settings
    from bot.webhook_admin import remove_webhook

    if not remove_webhook(load_settings(), args.id):
        raise InputError(f"no webhook {args.id[:40]!r} (dps webhook list shows them)")
    print(f"removed {args.id}")
    return 0


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_webhook_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``dps webhook add/list/remove``."""
    webhook = sub.add_parser("webhook", help="signed webhooks: alerts and digests POSTed as JSON")
    webhook_sub = webhook.add_subparsers(dest="webhook_command", required=True)
    add = webhook_sub.add_parser("add", help="check a URL and send alerts and digests to it")
    add.add_argument("url", help="https://… (private addresses only with WEBHOOK_ALLOW_PRIVATE=1)")
    add.add_argument("--secret", help="HMAC key of X-DPS-Signature (default: a new random one, printed once)")
    add.add_argument(
        "--min", choices=["lean", "stretched", "stressed"], default="stretched", help="lowest band alerted"
    )
    add.add_argument(
        "--kinds",
        type=_csv,
        default=["all"],
        help="comma-separated: band_up,band_down,squeeze_risk,bias_flip (default all)",
    )
    add.add_argument("--symbols", type=_csv, default=[], help="only these symbols, e.g. BTCUSDT,ETHUSDT")
    add.add_argument(
        "--venues",
        type=_csv,
        default=[],
        help="with several EXCHANGES: whose alerts, e.g. bybit,okx (default all: the aggregate)",
    )
    add.add_argument("--no-digest", action="store_true", help="alerts only, no daily digest")
    add.set_defaults(handler=cmd_webhook_add)
    webhook_sub.add_parser("list", help="show every webhook").set_defaults(handler=cmd_webhook_list)
    remove = webhook_sub.add_parser("remove", help="delete a webhook and its queued messages")
    remove.add_argument("id", help="the webhook's id (wh-…, from dps webhook list)")
    remove.set_defaults(handler=cmd_webhook_remove)


def cmd_import_binance_archive(args: argparse.Namespace) -> int:
    """Convert files downloaded from Binance's public data archive into a market file."""
    from bot.backtest.binance_archive import import_archive, selection_from

    selection = selection_from(args.symbols, args.from_day, args.to_day)
    report = import_archive(Path(args.dir), Path(args.output), selection)
    print("\n".join(report.lines()), file=sys.stderr)
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    """Replay a market file through scoring, alerts and fan-out; report what the readings were worth."""
    from bot.backtest.command import backtest

    return backtest(
        args.market,
        as_json=args.json,
        events=args.events,
        readings=args.readings,
        since=args.since,
        until=args.until,
    )


def add_queries(sub: argparse._SubParsersAction[argparse.ArgumentParser], registry: CommandRegistry) -> None:
    """``dps top``, ``dps score`` …: one subcommand per read-only query of the registry."""
    for command in registry.queries():
        words = command.usage.removeprefix(f"/{command.name}").strip()
        text = f"{words} — {command.summary}" if words else command.summary
        query = sub.add_parser(command.name, help=text.replace("%", "%%"))
        query.add_argument("words", nargs="*", help=words or "none")
        query.set_defaults(handler=cmd_query)


def build_parser(registry: CommandRegistry = COMMAND_SET) -> argparse.ArgumentParser:
    """The ``dps`` argument parser; its query subcommands come from ``registry``."""
    parser = argparse.ArgumentParser(prog="dps", description="Derivatives Pressure Score bot")
    sub = parser.add_subparsers(dest="command", required=True)
    evaluate = sub.add_parser("evaluate", help="score a CSV of inputs (no exchange, no database)")
    evaluate.add_argument("file", help="CSV: symbol,oi_1h,oi_4h,oi_24h,funding,funding_interval_h,basis")
    evaluate.add_argument("--json", action="store_true", help="one JSON object per line")
    evaluate.set_defaults(handler=cmd_evaluate)
    demo = sub.add_parser("demo", help="score the bundled synthetic replay market")
    demo.add_argument("--top", type=int, default=None, help="show only the top N rows")
    demo.add_argument("--live", action="store_true", help="run the whole pipeline on the replay (make demo)")
    demo.add_argument("--no-input", action="store_true", help="do not wait for commands afterwards")
    run = sub.add_parser("run", help="run the bot (Binance by default; adapters whose tokens are set)")
    run.add_argument(
        "--role",
        choices=[r.value for r in Role],
        default=Role.ALL.value,
        help="all (default): everything in one process (with several EXCHANGES each venue is collected "
        "by a child process of its own, see VENUE_PROCESSES); collector: collect, score, alert (one per "
        "exchange, by lease); telegram / discord: that platform's commands and delivery",
    )
    run.set_defaults(handler=cmd_run)
    demo.set_defaults(handler=cmd_demo)
    web = sub.add_parser(
        "web", help="serve the read-only dashboard and JSON API (WEB_HOST, default 127.0.0.1)"
    )
    web.add_argument("--port", type=int, default=None, help="port (default WEB_PORT, else 8080)")
    web.set_defaults(handler=cmd_web)
    add_queries(sub, registry)
    collect = sub.add_parser("collect", help="collect market data into the store")
    collect.add_argument("--once", action="store_true", required=True, help="run exactly one cycle")
    collect.set_defaults(handler=cmd_collect)
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply pending migrations").set_defaults(handler=cmd_db_upgrade)
    discord = sub.add_parser("discord", help="Discord maintenance")
    discord_sub = discord.add_subparsers(dest="discord_command", required=True)
    discord_sub.add_parser(
        "sync", help="sync the slash commands now (a start syncs only when they changed)"
    ).set_defaults(handler=cmd_discord_sync)
    add_webhook_commands(sub)
    imports = sub.add_parser("import", help="convert market data from elsewhere into a market file")
    imports_sub = imports.add_subparsers(dest="import_command", required=True)
    archive = imports_sub.add_parser(
        "binance-archive", help="USD-M futures files downloaded from Binance's public data archive"
    )
    archive.add_argument("dir", help="folder holding the downloaded zips (the archive's layout)")
    archive.add_argument("-o", "--output", required=True, help="market file to write (.csv.gz or .csv)")
    archive.add_argument("--symbols", help="only these symbols, e.g. BTCUSDT,ETHUSDT")
    archive.add_argument("--from", dest="from_day", help="first day, YYYY-MM-DD (UTC, included)")
    archive.add_argument("--to", dest="to_day", help="last day, YYYY-MM-DD (UTC, included)")
    archive.set_defaults(handler=cmd_import_binance_archive)
    backtest = sub.add_parser(
        "backtest", help="replay a market file through scoring, alerts and fan-out (nothing is sent)"
    )
    backtest.add_argument("market", help="market file, gzip or plain CSV (the bundled demo market's format)")
    backtest.add_argument("--json", action="store_true", help="print the report as one JSON object")
    backtest.add_argument("--events", help="write every delivered alert to this file (JSON lines)")
    backtest.add_argument("--readings", help="write every scored reading to this file (CSV)")
    backtest.add_argument("--since", help="score cycles from this ISO 8601 date or time (UTC)")
    backtest.add_argument("--until", help="score cycles up to this ISO 8601 date (whole day) or time")
    backtest.set_defaults(handler=cmd_backtest)
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
