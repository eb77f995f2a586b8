"""A small deterministic market that the fake exchange serves in each exchange's dialect.

Every number is a pure function of the instrument's settings and the time asked for, so a
test can compute the value the source must report. Time is real wall-clock by default
(ccxt and the stale guard compare it with ``now``); a test that needs a fixed clock sets
``FakeMarket.clock_ms``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from bot.core.market import MarketSnapshot

FIVE_MINUTES_MS = 300_000
HOUR_MS = 3_600_000


@dataclass
class FakeInstrument:
    """One USDT-margined perpetual.

    Attributes:
        base: base asset, e.g. ``BTC`` (ids: ``BTCUSDT`` / ``BTC-USDT-SWAP``).
        mark: mark price in USDT.
        basis: mark / index - 1 (the index is derived from it).
        funding_rate: current funding per interval, as a fraction.
        interval_h: settlement interval in hours.
        oi_base: open interest in base units.
        volume_usd: 24h quote volume.
        contract_size: base units per contract (OKX ``ctVal``; 1 elsewhere).
        status: ``trading``, ``settling`` (listed but not trading) or ``delisted`` (gone).
        lag_s: how old the exchange's data time is (stale-data tests).
        history_lag_s: how far the OI history's newest point lags behind (Bybit's docs warn
            of delays of that endpoint in volatile markets).
        history_sides: what Bybit's OI history counts, in multiples of the tickers' OI:
            2 (its docs: "the sum of both sides"), 1 (the two agree) or anything else (junk).
        zero_index: serve an index price of 0 (an exchange glitch).
        listed_ms: onboard / launch time.
        phase_rad: the phase of the OI history's daily wave (``None``: from the name), so a
            venue listing the asset under another name can keep or shift the same wave.
    """

    base: str
    mark: float
    basis: float = 0.0005
    funding_rate: float = 0.0001
    interval_h: int = 8
    oi_base: float = 1_000.0
    volume_usd: float = 50_000_000.0
    contract_size: float = 1.0
    status: str = "trading"
    lag_s: float = 0.0
    history_lag_s: float = 0.0
    history_sides: float = 2.0
    zero_index: bool = False
    listed_ms: int = 1_569_398_400_000
    phase_rad: float | None = None

    @property
    def binance_id(self) -> str:
        return f"{self.base}USDT"

    @property
    def okx_id(self) -> str:
        return f"{self.base}-USDT-SWAP"

    @property
    def okx_underlying(self) -> str:
        return f"{self.base}-USDT"

    @property
    def index(self) -> float:
        return 0.0 if self.zero_index else self.mark / (1.0 + self.basis)

    @property
    def oi_contracts(self) -> float:
        return self.oi_base / self.contract_size

    def phase(self) -> float:
        if self.phase_rad is not None:
            return self.phase_rad
        # Deterministic per symbol (hash() of str is salted per process).
        return sum(ord(c) for c in self.base) % 360 / 57.29577951308232

    def oi_at(self, ts_ms: int) -> float:
        """OI (base units) at a past time: a slow daily wave around ``oi_base``."""
        return self.oi_base * (1.0 + 0.05 * math.sin(2 * math.pi * ts_ms / 86_400_000 + self.phase()))

    def next_funding_ms(self, now_ms: int) -> int:
        step = self.interval_h * HOUR_MS
        return (now_ms // step + 1) * step


ListingKind = Literal["inverse_swap", "usdc_swap", "dated_future", "prelaunch"]


@dataclass(frozen=True)
class FakeListing:
    """A contract a venue lists besides its USDT perpetuals; the bot never collects one.

    Each dialect shows it as that venue does (Binance USD-M has no inverse swaps: those are
    COIN-M's, another API). Its volume and funding are extreme on purpose: ranked by volume
    it would top the universe, scored it would top every list.

    Attributes:
        base: base asset.
        kind: ``inverse_swap`` (settled in the base coin), ``usdc_swap`` (USDC-margined
            perpetual), ``dated_future`` (USDT-margined, expiring at ``expiry_ms``) or
            ``prelaunch`` (a USDT perpetual announced but not trading yet: Binance
            ``PENDING_TRADING``, Bybit ``PreLaunch``, OKX ``preopen``).
    """

    base: str
    kind: ListingKind
    mark: float = 100.0
    volume_usd: float = 1e13
    funding_rate: float = 0.01
    expiry_ms: int = 1_798_185_600_000  # 2026-12-25 08:00 UTC

    @property
    def expiry(self) -> datetime:
        return datetime.fromtimestamp(self.expiry_ms / 1000, tz=UTC)


def usual_listings() -> list[FakeListing]:
    """What every venue lists beside its USDT perpetuals: one of each kind."""
    return [
        FakeListing("BTC", "inverse_swap", mark=91_250.0),
        FakeListing("BTC", "usdc_swap", mark=91_250.0),
        FakeListing("BTC", "dated_future", mark=92_000.0),
        FakeListing("NEWCOIN", "prelaunch", mark=0.5),
    ]


@dataclass
class FakeMarket:
    """The instruments the fake exchange lists, keyed by base asset.

    ``others``: the venue's contracts that are not USDT perpetuals (``FakeListing``).
    """

    instruments: dict[str, FakeInstrument]
    clock_ms: Callable[[], int] | None = None
    others: list[FakeListing] = field(default_factory=list)

    def now_ms(self) -> int:
        return self.clock_ms() if self.clock_ms else int(time.time() * 1000)

    def data_ms(self, inst: FakeInstrument) -> int:
        return self.now_ms() - int(inst.lag_s * 1000)

    def listed(self) -> Iterator[FakeInstrument]:
        """Instruments that appear in the exchange's market list (trading or settling)."""
        return (i for i in self.instruments.values() if i.status != "delisted")

    def trading(self) -> Iterator[FakeInstrument]:
        return (i for i in self.instruments.values() if i.status == "trading")

    def other(self, *kinds: ListingKind) -> list[FakeListing]:
        """The listed contracts of these kinds that are not USDT perpetuals."""
        return [o for o in self.others if o.kind in kinds]

    def by_binance_id(self, symbol: str) -> FakeInstrument | None:
        inst = self.instruments.get(symbol.removesuffix("USDT")) if symbol.endswith("USDT") else None
        return inst if inst is not None and inst.status != "delisted" else None

    def by_okx_id(self, inst_id: str) -> FakeInstrument | None:
        inst = self.instruments.get(inst_id.removesuffix("-USDT-SWAP"))
        return inst if inst is not None and inst.status != "delisted" else None

    def add(self, inst: FakeInstrument) -> None:
        """List a new instrument (a new listing between universe reloads)."""
        self.instruments[inst.base] = inst

    def delist(self, base: str) -> None:
        """Remove an instrument from every endpoint (delisted between reloads)."""
        self.instruments[base].status = "delisted"

    @classmethod
    def default(cls) -> FakeMarket:
        """Six perps with 8h, 4h and 1h intervals, one OKX-style fractional contract each, and
        the usual other contracts (``usual_listings``)."""
        return cls(
            {
                i.base: i
                for i in (
                    FakeInstrument("BTC", 91_250.0, 0.0004, 0.0001, 8, 80_000.0, 9e9, 0.01),
                    FakeInstrument("ETH", 3_050.0, -0.0002, -0.00005, 8, 1_900_000.0, 5e9, 0.1),
                    FakeInstrument("SOL", 140.0, 0.0010, 0.0003, 4, 7_000_000.0, 2e9, 1.0),
                    FakeInstrument("XRP", 2.2, 0.0001, 0.0001, 8, 400_000_000.0, 1e9, 100.0),
                    FakeInstrument("DOGE", 0.15, -0.0008, -0.0004, 1, 2_000_000_000.0, 4e8, 1000.0),
                    FakeInstrument("1000PEPE", 0.011, 0.0020, 0.0005, 4, 9_000_000_000.0, 3e8, 10.0),
                )
            },
            others=usual_listings(),
        )

    @classmethod
    def generated(cls, count: int) -> FakeMarket:
        """``count`` synthetic perps (``S000`` …), for benchmarks."""
        instruments = {}
        for n in range(count):
            base = f"S{n:03d}"
            instruments[base] = FakeInstrument(
                base,
                mark=1.0 + n,
                basis=((n % 21) - 10) / 10_000,
                funding_rate=((n % 11) - 5) / 100_000,
                interval_h=(8, 4, 1)[n % 3],
                oi_base=10_000.0 + 37.0 * n,
                volume_usd=1e6 * (count - n),
            )
        return cls(instruments, others=usual_listings())

    @classmethod
    def from_snapshots(cls, snapshots: Iterable[MarketSnapshot]) -> FakeMarket:
        """Instruments from one step of a replay market (e.g. the bundled demo market)."""
        instruments = {}
        for snap in snapshots:
            if not snap.symbol.endswith("USDT") or snap.mark_price is None:
                continue
            base = snap.symbol.removesuffix("USDT")
            index = snap.index_price or snap.mark_price
            instruments[base] = FakeInstrument(
                base,
                mark=snap.mark_price,
                basis=snap.mark_price / index - 1.0,
                funding_rate=snap.funding_rate or 0.0,
                interval_h=int(snap.funding_interval_h or 8),
                oi_base=snap.oi_contracts or 0.0,
                volume_usd=snap.volume_24h_usd or 0.0,
            )
        return cls(instruments)
