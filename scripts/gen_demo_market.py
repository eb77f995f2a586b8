"""Generate the synthetic demo market: ``bot/data/demo_market.csv.gz``.

Four days of 5-minute snapshots for the seed's 68 symbols, ending at the seed's snapshot
(``END``): there, each symbol's OI change over 1h and 24h (measured as
``bot.core.oi_deltas`` does), its funding and its basis print exactly as the seed row does.
The data is made up and labelled synthetic wherever it is shown.

Determinism: every random number comes from ``random.Random`` seeded per symbol, the maths
is plain IEEE arithmetic (no libm calls whose last bit could differ between platforms),
floats are written with a fixed number of significant digits, and the gzip header carries
a fixed name and ``mtime=0``, so the output is byte-identical on every run.

Scripted episodes, with the bands and regimes the default ``ScoringParams`` give them (the
rest of the market is a calm random walk that drifts into the seed's final state over the
last day):

* SUIUSDT, 17 Nov 16:00 → 18 Nov 08:00 UTC: longs crowd in over 8h (funding to +0.068 %/8h,
  premium +0.25 %, OI +16 %): neutral → lean → stretched → stressed (from 20:50), long
  crowded 22:05–02:05 (peak 88); at 02:00 a liquidation cascade (OI −18 % in 30 min,
  funding easing) → long unwind 02:15–03:40.
* ARBUSDT, 18 Nov 12:00 → 19 Nov 02:00 UTC: shorts pile in (funding −0.055 %/8h, −0.3 %
  discount, OI +22 %): lean 13:45 → stretched 14:25 → stressed 15:05, short crowded
  16:05–18:30; the basis flips to a premium while OI keeps building: short squeeze risk
  18:40–21:15 (32 cycles); the squeeze flushes OI −18 %: short covering 21:25–22:35.
* ONDOUSDT settles funding every hour (seed rate +0.001 % per 1h ≈ the 8h baseline);
  symbols whose seed rate is +0.005 % (the 4h baseline) settle every 4h.

Run: ``python scripts/gen_demo_market.py [--out PATH] [--seed-rows PATH]``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core.inputs import basis_pct, funding_pct
from bot.core.market import MarketSnapshot
from bot.core.oi_deltas import oi_changes

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bot" / "data" / "demo_market.csv.gz"
DEFAULT_SEED_ROWS = ROOT / "tests" / "data" / "seed_rows.csv"
GZIP_NAME = "demo_market.csv"
SEED = 20261120
END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
PER_HOUR = 12
STEPS = 4 * 24 * PER_HOUR  # 4 days; STEPS + 1 snapshots per symbol
COLUMNS = tuple(f.name for f in fields(MarketSnapshot))
SQRT3 = 1.7320508075688772

# Final index price (USDT), OI value (USD) and 24h volume (USD) for the well-known names;
# the rest (recent small-cap listings) are drawn at random.
# fmt: off
KNOWN: dict[str, tuple[float, float, float]] = {
    "BTCUSDT": (91250.0, 7.9e9, 1.2e10), "BTCDOMUSDT": (5480.0, 1.2e7, 2.4e7),
    "AAVEUSDT": (182.4, 4.2e8, 6.1e8), "AVAXUSDT": (14.31, 3.8e8, 4.4e8),
    "SUIUSDT": (1.583, 6.5e8, 9.0e8), "ARBUSDT": (0.2124, 2.6e8, 2.9e8),
    "ENAUSDT": (0.2715, 4.8e8, 7.2e8), "INJUSDT": (5.92, 1.3e8, 1.1e8),
    "LDOUSDT": (0.612, 1.4e8, 1.6e8), "DYDXUSDT": (0.2405, 6.0e7, 5.2e7),
    "SNXUSDT": (0.518, 5.5e7, 6.4e7), "EGLDUSDT": (7.91, 3.1e7, 2.2e7),
    "KAVAUSDT": (0.1452, 1.9e7, 1.1e7), "ONDOUSDT": (0.4731, 2.2e8, 1.9e8),
    "GALAUSDT": (0.007112, 7.1e7, 6.6e7), "1000SHIBUSDT": (0.008634, 1.1e8, 9.8e7),
    "1000BONKUSDT": (0.01021, 1.6e8, 2.3e8), "PEOPLEUSDT": (0.01183, 4.1e7, 5.9e7),
    "DENTUSDT": (0.000291, 1.4e7, 2.6e7), "NEIROUSDT": (0.0001352, 5.8e7, 1.2e8),
    "1000000MOGUSDT": (0.3417, 3.3e7, 4.0e7), "PYTHUSDT": (0.0692, 6.4e7, 4.8e7),
    "STRKUSDT": (0.1083, 7.7e7, 9.1e7), "ORDIUSDT": (4.31, 1.2e8, 1.5e8),
    "BLURUSDT": (0.0421, 2.4e7, 2.1e7), "MASKUSDT": (0.641, 3.4e7, 4.6e7),
    "HIGHUSDT": (0.2903, 1.5e7, 3.3e7), "VIRTUALUSDT": (0.921, 1.9e8, 3.2e8),
    "SPXUSDT": (0.5812, 1.0e8, 1.6e8), "0GUSDT": (1.214, 4.4e7, 7.7e7),
    "ORCAUSDT": (1.402, 1.8e7, 2.9e7), "MOODENGUSDT": (0.0853, 3.6e7, 6.3e7),
}
# fmt: on


@dataclass(frozen=True)
class SeedRow:
    """The seed's printed values for one symbol (percent text, e.g. ``+0.79``)."""

    symbol: str
    oi_1h: str
    oi_24h: str
    funding: str
    basis: str


@dataclass
class Script:
    """Keyframes (step, value) for one symbol's means; smoothstep in between."""

    funding: list[tuple[int, float]] = field(default_factory=list)  # % per interval
    basis: list[tuple[int, float]] = field(default_factory=list)  # %
    oi: list[tuple[int, float]] = field(default_factory=list)  # OI level, relative
    price: list[tuple[int, float]] = field(default_factory=list)  # price level, relative
    quiet: float = 1.0  # noise multiplier, < 1 keeps a scripted story legible


def read_seed_rows(path: Path) -> list[SeedRow]:
    """Read the seed rows (header ``symbol,oi_1h,oi_4h,oi_24h,funding,funding_interval_h,basis``)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            SeedRow(r["symbol"], r["oi_1h"], r["oi_24h"], r["funding"], r["basis"])
            for r in csv.DictReader(handle)
        ]


def decimals(text: str) -> int:
    """Digits after the point in a printed number (``+0.79`` → 2)."""
    return len(text.partition(".")[2])


def target(text: str) -> float:
    """The value to aim at for a printed seed number: the middle of its rounding interval.

    A printed zero keeps its sign: ``-0.00`` needs a small negative value, so aim at
    0.4 of the last digit on that side.
    """
    value = float(text)
    if value == 0:
        last_digit: int = 10 ** decimals(text)  # an exact int: no libm pow
        return (-0.4 if text.startswith("-") else 0.4) / last_digit
    return value


def printed(value: float, like: str) -> str:
    """``value`` printed as the seed prints ``like`` (sign and decimals)."""
    return f"{value:+.{decimals(like)}f}"


def step_at(day: int, hour: int, minute: int = 0) -> int:
    """Step index of a November 2026 time (UTC) inside the window."""
    moment = datetime(2026, 11, day, hour, minute, tzinfo=UTC)
    return (moment - (END - STEPS * STEP)) // STEP


def smooth(points: Sequence[tuple[int, float]], n: int) -> list[float]:
    """Values at steps 0..n through (step, value) keyframes, smoothstep in between.

    Keyframe steps must rise strictly; before the first and after the last the value holds.
    """
    out: list[float] = []
    k = 0
    for i in range(n + 1):
        if i <= points[0][0] or i >= points[-1][0]:
            out.append(points[0][1] if i <= points[0][0] else points[-1][1])
            continue
        while points[k + 1][0] < i:
            k += 1
        (a, va), (b, vb) = points[k], points[k + 1]
        x = (i - a) / (b - a)
        out.append(va + (vb - va) * x * x * (3.0 - 2.0 * x))
    return out


def gauss(rng: random.Random) -> float:
    """Unit-variance bell noise from four uniforms (no libm: identical on every platform)."""
    return (rng.random() + rng.random() + rng.random() + rng.random() - 2.0) * SQRT3


def ar_noise(rng: random.Random, n: int, sigma: float, pull: float) -> list[float]:
    """Mean-reverting noise around zero: x += -pull*x + sigma*gauss."""
    x, out = 0.0, []
    for _ in range(n + 1):
        x += -pull * x + sigma * gauss(rng)
        out.append(x)
    return out


def interval_for(row: SeedRow) -> int:
    """Settlement interval: ONDO hourly, 4h-baseline payers 4h, the rest 8h."""
    if row.symbol == "ONDOUSDT":
        return 1
    return 4 if row.funding == "+0.005" else 8


def scripted(symbol: str, n: int) -> Script | None:
    """The scripted episodes (see the module docstring)."""
    if symbol == "SUIUSDT":
        s0, peak, crash, calm = step_at(17, 16), step_at(18, 0), step_at(18, 2), step_at(18, 8)
        return Script(
            funding=[(0, 0.01), (s0, 0.01), (peak, 0.068), (crash, 0.066), (crash + 6, 0.035), (calm, 0.012)],
            basis=[(0, 0.0), (s0, 0.01), (peak, 0.25), (crash, 0.24), (crash + 6, 0.12), (calm, 0.01)],
            oi=[(0, 1.0), (s0, 1.0), (peak, 1.16), (crash, 1.17), (crash + 6, 0.96), (calm, 1.03), (n, 1.03)],
            price=[(0, 1.0), (s0, 1.0), (peak, 1.09), (crash, 1.1), (crash + 6, 1.01), (n, 1.0)],
            quiet=0.3,
        )
    if symbol == "ARBUSDT":
        s0, crowd, flip, top = step_at(18, 12), step_at(18, 18), step_at(18, 19), step_at(18, 21)
        flush, calm = top + 9, step_at(19, 2)
        return Script(
            funding=[(0, 0.01), (s0, 0.01), (crowd, -0.055), (top, -0.05), (flush, -0.015), (calm, 0.008)],
            basis=[(0, 0.0), (s0, 0.0), (crowd, -0.3), (flip, 0.3), (top, 0.32), (flush, 0.05), (calm, 0.0)],
            oi=[(0, 1.0), (s0, 1.0), (crowd, 1.22), (top, 1.3), (flush, 1.06), (calm, 1.04), (n, 1.04)],
            price=[(0, 1.0), (s0, 1.0), (crowd, 0.93), (top, 0.99), (flush, 1.05), (n, 1.02)],
            quiet=0.3,
        )
    return None


@dataclass(frozen=True)
class Profile:
    """Scale of one symbol at END and how noisy it is (0 = deep book, 1 = thin small cap)."""

    price: float
    oi_usd: float
    volume: float
    interval: int
    thin: float


def profile_for(row: SeedRow, rng: random.Random) -> Profile:
    """Known majors from ``KNOWN``; recent listings get a random small-cap scale."""
    if row.symbol in KNOWN:
        # A little jitter so the table does not end on suspiciously round numbers.
        price, oi_usd, volume = (x * (1.0 + 0.01 * gauss(rng)) for x in KNOWN[row.symbol])
        thin = 0.1 if oi_usd >= 1e8 else 0.5
    else:
        price = rng.choice((0.001, 0.01, 0.1, 1.0)) * (1.0 + 9.0 * rng.random())
        oi_usd = rng.choice((1e6, 1e7, 1e7)) * (1.5 + 8.0 * rng.random())
        volume = oi_usd * (1.5 + 4.5 * rng.random())
        thin = 0.7 + 0.3 * rng.random()
    return Profile(price, oi_usd, volume, interval_for(row), thin)


def default_script(row: SeedRow, prof: Profile, rng: random.Random, n: int) -> Script:
    """A calm book that wanders, then drifts into the seed's final state over the last day."""
    base = 0.01 * prof.interval / 8
    tf, tb = target(row.funding), target(row.basis)
    mid, ramp = rng.randrange(n // 4, n // 2), n - rng.randrange(12, 37) * PER_HOUR
    f0 = base + (tf - base) * rng.uniform(-0.3, 0.5)
    f1 = base + (tf - base) * rng.uniform(0.0, 0.7)
    b0, b1 = rng.uniform(-0.08, 0.08), tb * rng.uniform(0.0, 0.6) + rng.uniform(-0.05, 0.05)
    return Script(
        funding=[(0, f0), (mid, f1), (ramp, f1), (n, tf)],
        basis=[(0, b0), (mid, b1), (ramp, b1), (n, tb)],
        oi=[(0, 1.0), (n, 1.0)],
        price=[(0, 1.0), (n, 1.0)],
    )


def pinned(mean: list[float], noise: list[float], final: float, tail: int) -> list[float]:
    """mean + noise, with the noise faded out over the last ``tail`` steps to land on ``final``."""
    n = len(mean) - 1
    miss = final - (mean[n] + noise[n])
    out = []
    for i in range(n + 1):
        x = max(0.0, (i - (n - tail)) / tail)
        out.append(mean[i] + noise[i] + miss * x * x * (3.0 - 2.0 * x))
    return out


def oi_levels(row: SeedRow, script: Script, sigma: float, rng: random.Random, n: int) -> list[float]:
    """OI relative to its END value: a random walk times the script, bent through anchors.

    Anchors at END-24h, END-4h and END-1h give the seed's 24h and 1h changes exactly (and a
    4h change in between); the bend is a piecewise-linear factor between anchors and a
    constant before END-24h, so scripted shapes earlier keep their relative moves.
    """
    shape = smooth(script.oi, n)
    walk = [1.0]
    for _ in range(n):
        walk.append(walk[-1] * (1.0 + sigma * gauss(rng)))
    raw = [w * s for w, s in zip(walk, shape, strict=True)]
    o1, o24 = target(row.oi_1h), target(row.oi_24h)
    o4 = o1 + (o24 - o1) * rng.uniform(0.15, 0.45)
    anchors = [(n - 24 * PER_HOUR, o24), (n - 4 * PER_HOUR, o4), (n - PER_HOUR, o1), (n, 0.0)]
    factor = [(i, 1.0 / (1.0 + pct / 100.0) / raw[i]) for i, pct in anchors]
    out = []
    for i in range(n + 1):
        k = 0
        while k + 1 < len(factor) and factor[k + 1][0] <= i:
            k += 1
        if i <= factor[0][0] or k + 1 >= len(factor):
            c = factor[0][1] if i <= factor[0][0] else factor[-1][1]
        else:
            (a, ca), (b, cb) = factor[k], factor[k + 1]
            c = ca + (cb - ca) * (i - a) / (b - a)
        out.append(raw[i] * c)
    return out


def index_prices(prof: Profile, script: Script, rng: random.Random, n: int) -> list[float]:
    """Index price: a random walk times the script's price shape, ending at the profile price."""
    sigma = 0.0012 + 0.004 * prof.thin
    walk = [1.0]
    for _ in range(n):
        walk.append(walk[-1] * (1.0 + sigma * gauss(rng)))
    level = [w * s for w, s in zip(walk, smooth(script.price, n), strict=True)]
    return [prof.price * x / level[n] for x in level]


def rolling_volume(prof: Profile, oi_rel: Sequence[float], rng: random.Random, n: int) -> list[float]:
    """Rolling 24h quote volume: busier when OI moves, scaled to end at the profile volume."""
    base = prof.volume / (24 * PER_HOUR)
    step = [
        base * (0.7 + 0.6 * rng.random()) * (1.0 + 40.0 * abs(oi_rel[i] / oi_rel[max(i - 1, 0)] - 1.0))
        for i in range(n + 1)
    ]
    window = 24 * PER_HOUR
    rolling, total = [], base * window  # the day before the window traded at the base pace
    for i in range(n + 1):
        total += step[i] - (step[i - window] if i >= window else base)
        rolling.append(total)
    return [v * prof.volume / rolling[n] for v in rolling]


def sig(value: float, digits: int) -> str:
    """Fixed significant digits: deterministic text for a float."""
    return f"{value:.{digits}g}"


def next_funding(ts: datetime, interval_h: int) -> datetime:
    """The next settlement strictly after ``ts``: settlements fall on multiples of the
    interval from 00:00 UTC."""
    day = ts.replace(hour=0, minute=0, second=0, microsecond=0)
    period = timedelta(hours=interval_h)
    return day + ((ts - day) // period + 1) * period


def iso(ts: datetime) -> str:
    """ISO-8601 UTC with a ``Z``."""
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def symbol_rows(row: SeedRow, times: Sequence[datetime], texts: TimeTexts) -> list[list[str]]:
    """Every snapshot row of one symbol, oldest first."""
    n = len(times) - 1
    rng = random.Random(f"{SEED}/{row.symbol}")
    prof = profile_for(row, rng)
    story = scripted(row.symbol, n)
    script = story or default_script(row, prof, rng, n)
    for keyframes, final in ((script.funding, target(row.funding)), (script.basis, target(row.basis))):
        if keyframes[-1][0] < n:
            keyframes.append((n, final))
    # Binance clamps funding to the interest baseline while the premium is small, so a
    # symbol that ends at the baseline sits there flat; the others wander.
    clamped = story is None and row.funding == printed(0.01 * prof.interval / 8, row.funding)
    f_sigma = 0.0 if clamped else (0.0002 + 0.0008 * prof.thin) * prof.interval / 8 * script.quiet
    funding = pinned(smooth(script.funding, n), ar_noise(rng, n, f_sigma, 0.03), target(row.funding), 24)
    b_sigma = (0.002 + 0.008 * prof.thin) * script.quiet
    basis = pinned(smooth(script.basis, n), ar_noise(rng, n, b_sigma, 0.08), target(row.basis), 24)
    oi_rel = oi_levels(row, script, (0.0005 + 0.0012 * prof.thin) * script.quiet, rng, n)
    index = index_prices(prof, script, rng, n)
    volume = rolling_volume(prof, oi_rel, rng, n)
    oi_final = prof.oi_usd / prof.price
    stamps, settlements = texts.stamps, texts.next_funding(prof.interval)
    rows = []
    for i in range(n + 1):
        idx = sig(index[i], 6)
        mark = sig(float(idx) * (1.0 + basis[i] / 100.0), 6)
        last = sig(float(mark) * (1.0 + 0.0002 * gauss(rng)), 6)
        oi = sig(oi_final * oi_rel[i], 7)
        rows.append(
            [
                "replay",
                row.symbol,
                stamps[i],
                oi,
                sig(float(oi) * float(mark), 5),
                mark,
                idx,
                last,
                sig(funding[i] / 100.0, 3),
                str(prof.interval),
                settlements[i],
                sig(volume[i], 5),
            ]
        )
    return rows


class TimeTexts:
    """ISO texts of the snapshot times and of the next settlements, made once per run."""

    def __init__(self, times: Sequence[datetime]) -> None:
        self.times = times
        self.stamps = [iso(ts) for ts in times]
        self._settlements: dict[int, list[str]] = {}

    def next_funding(self, interval_h: int) -> list[str]:
        if interval_h not in self._settlements:
            self._settlements[interval_h] = [iso(next_funding(ts, interval_h)) for ts in self.times]
        return self._settlements[interval_h]


def check_final(row: SeedRow, rows: Sequence[Sequence[str]]) -> list[str]:
    """Compare the last snapshot's OI changes, funding and basis with the seed row's text."""
    col = {name: i for i, name in enumerate(COLUMNS)}
    history = [(datetime.fromisoformat(r[col["ts"]]), float(r[col["oi_contracts"]])) for r in rows]
    last = rows[-1]
    changes = oi_changes(history, history[-1][0])
    got = {
        "oi_1h": changes.h1_pct,
        "oi_24h": changes.h24_pct,
        "funding": funding_pct(float(last[col["funding_rate"]])),
        "basis": basis_pct(float(last[col["mark_price"]]), float(last[col["index_price"]])),
    }
    problems = []
    for name, value in got.items():
        want = getattr(row, name)
        if value is None or printed(value, want) != want:
            problems.append(f"{row.symbol} {name}: seed {want}, generated {value!r}")
    return problems


def build_csv(seed_rows: Sequence[SeedRow]) -> str:
    """The whole market as CSV text (rows grouped by symbol, oldest first).

    Raises:
        SystemExit: the final snapshot does not reproduce a seed row.
    """
    times = [END - (STEPS - i) * STEP for i in range(STEPS + 1)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    problems: list[str] = []
    texts = TimeTexts(times)
    for row in sorted(seed_rows, key=lambda r: r.symbol):
        rows = symbol_rows(row, times, texts)
        problems += check_final(row, rows)
        writer.writerows(rows)
    if problems:
        raise SystemExit("demo market does not end at the seed:\n" + "\n".join(problems))
    return out.getvalue()


def gzip_bytes(text: str) -> bytes:
    """Gzip with a fixed name and mtime=0, so equal text gives equal bytes."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename=GZIP_NAME, mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Write the demo market file; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default {DEFAULT_OUT})")
    parser.add_argument("--seed-rows", type=Path, default=DEFAULT_SEED_ROWS, help="the seed rows CSV")
    args = parser.parse_args(argv)
    data = gzip_bytes(build_csv(read_seed_rows(args.seed_rows)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
