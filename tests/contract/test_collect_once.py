"""``dps collect --once`` as a user runs it, against the fake exchange over HTTP."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

from tests.fakes.exchange import FakeExchange

ROOT = Path(__file__).parents[2]


async def dps(cwd: Path, env: dict[str, str], *words: str) -> tuple[int | None, str, str]:
    """Run the ``dps`` command line in a real process; (exit status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *words,
        cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode, out.decode(), err.decode()


async def test_collect_once_fills_the_database(fake: FakeExchange, tmp_path: Path) -> None:
    db = tmp_path / "dps.sqlite3"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SYMBOLS", "UNIVERSE", "EXCHANGE"))},
        "DATABASE_URL": f"sqlite:///{db}",
        "EXCHANGE": "binanceusdm",
        "EXCHANGE_API_URL": fake.url,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    code, text, err = await dps(tmp_path, env, "collect", "--once")
    assert code == 0, err[-2000:]
    assert "Traceback" not in err
    trading = len(list(fake.market.trading()))
    assert f"collected {trading} symbols" in text
    assert "scored:" in text and "failed: 0" in text
    with sqlite3.connect(db) as conn:
        live = conn.execute("SELECT count(DISTINCT symbol) FROM scores").fetchone()[0]
        backfilled = conn.execute(
            "SELECT count(*) FROM market_snapshots WHERE mark_price IS NULL"
        ).fetchone()[0]
    assert live == trading
    assert backfilled > 0  # a cold start backfills 24h of OI history first
    assert fake.calls("openInterestHist")

    # The one-shot CLI answers from what was stored, through the chat command layer.
    for words, expected in (
        (["top", "3"], "Top 3"),
        (["status"], "Symbols tracked:"),
        (["score", "btc"], "BTCUSDT"),
    ):
        code, said, _ = await dps(tmp_path, env, *words)
        assert code == 0
        assert expected in said, said


async def test_collect_once_with_a_bad_setting_names_it(tmp_path: Path) -> None:
    env = {**os.environ, "EXCHANGE": "kraken", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"}
    code, _, err = await dps(tmp_path, env, "collect", "--once")
    assert code == 2
    assert "EXCHANGE" in err and "Traceback" not in err


async def test_status_exits_1_while_nothing_fresh_is_stored(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}
    code, said, err = await dps(tmp_path, env, "status")
    assert code == 1, err
    assert "none has finished yet" in said
