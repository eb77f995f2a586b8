"""``make demo`` (``dps demo --live``) runs the whole pipeline and exits by itself without a terminal."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_replays_alerts_digest_table_and_card_then_exits(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--live"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,  # a hang guard only: three venues and the aggregate: ~120 s on a loaded 2-core machine
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "SYNTHETIC" in out
    assert "Traceback" not in done.stderr
    assert "WARNING" not in done.stderr
    assert out.count("── alert ──") > 10
    # Three venues: the demo chat follows the aggregate (the default), its alerts name the asset.
    assert "Derivatives Pressure alerts · all venues" in out
    assert "SUI stretched → stressed" in out  # the placed stressed crossing
    assert "ARB squeeze risk" in out  # the placed squeeze-risk episode
    assert "SUIUSDT stretched" not in out  # no venue's own alert reaches it
    assert out.count("Daily Derivatives Pressure digest") == 4  # 17th (late), 18th, 19th, 20th at 08:00
    # Each digest's chart, drawn in the chart worker, is written by the console sink.
    assert out.count("Chart written to") == 4
    pngs = sorted((tmp_path / "data" / "charts").glob("message-*.png"))
    assert len(pngs) == 4
    assert all(p.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    # The most stressed book leads the table (its score below 100: nothing piles up there).
    # Three venues: /top ranks and /score shows the aggregate (exchange 'all'), named by asset.
    assert "> /top 10" in out and "Top 10 · all venues" in out and re.search(r"\n 1  SPK +9\d  SHORT", out)
    assert "> /score spk" in out and re.search(r"\nSPK · score 9\d \(stressed\) · SHORT", out)
    card = out[out.index("> /score spk") : out.index("> /status")]
    assert re.search(r"- replay-okx SPK-USDT-SWAP: 9\d stressed · SHORT · \d+ % of OI", card)
    # Three venues (the replay and its two synthetic ones) summed into the aggregate.
    assert "Also collected: replay-bybit, a synthetic" in out
    assert "Also collected: replay-okx, a synthetic" in out
    assert re.search(r"Replay finished: cycle \S+ \S+ UTC: symbols=68 ", out)  # the replay's own
    assert "Venue replay-okx: 2026-11-20 12:00 UTC" in out  # /status: each venue
    assert "Cross-venue view: every asset summed over replay, replay-bybit, replay-okx" in out
    view = out[out.index("Cross-venue view") :]
    assert "all synthetic" in view
    assert re.search(r"\n 1  SPK +9\d  SHORT", view)  # the aggregate names the asset, not a symbol
    spk = view[view.index("> SPK across venues") :]
    assert re.search(r"All venues: 9\d stressed", spk)
    shares = [
        int(m)
        for m in re.findall(
            r"^replay(?:-bybit SPKUSDT|-okx SPK-USDT-SWAP| SPKUSDT): 9\d stressed · (\d+) % of OI", spk, re.M
        )
    ]
    assert len(shares) == 3 and 98 <= sum(shares) <= 102 and len(set(shares)) == 3, shares
    assert "Spread across venues" in spk
