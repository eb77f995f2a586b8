"""Random histories: the SQL stores and the fakes answer every time-window query alike."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.models import Bias, Regime
from bot.storage.facade import Storage
from tests.fakes import FakeStorage
from tests.fakes.contract import T0, record, result, snapshot

SYMBOLS = ("AUSDT", "BUSDT", "CUSDT")
_exchanges = itertools.count()

# Times on a 5-minute grid with collection jitter, over two hours.
moments = st.builds(
    lambda slot, jitter: T0 + timedelta(minutes=5 * slot, seconds=jitter),
    st.integers(0, 24),
    st.integers(0, 299),
)
windows = st.sampled_from([timedelta(minutes=m) for m in (1, 5, 10, 45)])
score_rows = st.lists(
    st.tuples(
        st.sampled_from(SYMBOLS),
        moments,
        st.integers(0, 100),
        st.sampled_from(list(Bias)),
        st.sampled_from(list(Regime)),
    ),
    max_size=25,
)
snapshot_rows = st.lists(
    st.tuples(st.sampled_from(SYMBOLS), moments, st.one_of(st.none(), st.floats(0, 1e9))),
    max_size=25,
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scores=score_rows,
    snaps=snapshot_rows,
    at=moments,
    window=windows,
    bias=st.one_of(st.none(), st.sampled_from(list(Bias))),
    regimes=st.one_of(st.none(), st.sets(st.sampled_from(list(Regime)), max_size=3)),
    limit=st.one_of(st.none(), st.integers(1, 3)),
)
def test_sql_and_fake_stores_agree(
    storage: Storage,
    scores: list[tuple[str, datetime, int, Bias, Regime]],
    snaps: list[tuple[str, datetime, float | None]],
    at: datetime,
    window: timedelta,
    bias: Bias | None,
    regimes: set[Regime] | None,
    limit: int | None,
) -> None:
    exchange = f"ex{next(_exchanges)}"  # one fresh exchange per example isolates it
    fake = FakeStorage()
    records = [
        record(symbol, ts, result(score, b, r), exchange=exchange) for symbol, ts, score, b, r in scores
    ]
    market = [snapshot(symbol, ts, oi, exchange=exchange) for symbol, ts, oi in snaps]
    for stores in (storage, fake):
        stores.cycles.save_cycle(exchange=exchange, snapshots=market, scores=records)

    def ask(stores: Storage | FakeStorage) -> tuple[object, ...]:
        s, m = stores.scores, stores.snapshots
        return (
            s.latest_scores(exchange, since=at, bias=bias, regimes=regimes, limit=limit),
            s.score_at_many(exchange, at, window),
            [s.score_card(exchange, symbol, tolerance=window) for symbol in SYMBOLS],
            [m.oi_at_many(exchange, at, window, symbols=[symbol]) for symbol in SYMBOLS],
            m.oi_at_many(exchange, at, window),
            m.market_history(exchange, at, at + window),
            m.latest_snapshot_time(exchange),
        )

    assert ask(storage) == ask(fake)
