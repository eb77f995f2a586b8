"""bench/bench_venues.py reads its figures from the fakes' logs and computes its verdicts from them."""

from __future__ import annotations

from bench.bench_collector import VENUES
from bench.bench_venues import NAMES, SYMBOLS, Leg, TimedFake, VenueLog, report, venue_log
from bench.common import VERDICT, section_problems
from tests.fakes.exchange import FakeMarket, Recorded

BINANCE = next(v for v in VENUES if v.exchange == "binanceusdm")


def recorded(t: float, weight: int) -> Recorded:
    return Recorded("openInterest", "/fapi/v1/openInterest", {}, t, t, "binance", weight)


def test_a_venue_log_spans_the_round_and_counts_the_limit_over_the_whole_leg() -> None:
    fake = TimedFake(FakeMarket.generated(3), latency_s=0.0)
    # Loading the markets (before the round), then the round's requests.
    fake.requests += [recorded(10.0, 40), recorded(20.0, 1), recorded(20.5, 10)]
    fake.ends += [10.1, 20.2, 21.0]
    log = venue_log(BINANCE, fake, since=15.0)
    assert (log.first, log.last_end, log.span) == (20.0, 21.0, 1.0)
    assert (log.requests, log.weight, log.refusals) == (2, 11, 0)
    # The limit window sees every request the venue got, the markets' too: 51 in 60 s.
    assert log.peak_text == "51 of 2,400 per 60 s = 2.1%"


def log(first: float, span: float, *, peak: float = 0.25, refusals: int = 0) -> VenueLog:
    return VenueLog(first, first + span, 1, 1, peak, f"{peak:.0%} of it", refusals)


def round_of(binance: float, apart: float, *, one: float | None = None, refusals: int = 0) -> list[Leg]:
    """Each venue alone (Binance the slowest at ``binance`` s), the three in one process in
    ``one`` s (default 1.3x ``apart``), then the three a process each (``dps run``'s default)
    in ``apart`` s, with ``refusals`` at OKX's fake."""
    alone = [
        Leg((venue,), {venue: span + 0.2}, span + 0.2, 0.1, {venue: log(0.0, span)}, {venue: SYMBOLS})
        for venue, span in zip(NAMES, (binance, 0.1, 0.2), strict=True)
    ]

    def together(span: float, separate: bool, refused: int) -> Leg:
        logs = {venue: log(0.0, span if venue == "binanceusdm" else 0.1) for venue in NAMES}
        logs["okx"] = log(0.0, 0.1, refusals=refused)
        rss = {venue: (110.0 + n, 120.0 + n) for n, venue in enumerate(NAMES)} if separate else {}
        cycles = dict.fromkeys(NAMES, span + 0.2)
        return Leg(tuple(NAMES), cycles, span + 0.2, 0.3, logs, dict.fromkeys(NAMES, 1), separate, rss)

    return [*alone, together(1.3 * apart if one is None else one, False, 0), together(apart, True, refusals)]


def verdicts(text: str) -> list[str]:
    return [m.group(0) for m in VERDICT.finditer(text)]


def test_the_ratio_is_the_median_of_each_rounds_own_pairing() -> None:
    # Rounds paired in their own minute: 1.1, 1.3 and 1.15 times the slowest alone.
    rounds = [round_of(1.0, 1.1), round_of(0.5, 0.65), round_of(2.0, 2.3)]
    text = report(rounds, ("1.0, 1.0, 1.0", "1.0, 1.0, 1.0"))
    lines = verdicts(text)
    assert len(lines) == 4
    assert lines[0].endswith("(requests, from the fakes' logs) — **met** (1.15×).")
    assert "requests 1.15× (1.10, 1.30, 1.15)" in text
    assert lines[3] == "Verdict: no request refused, together — **met** (0 refused)."


def test_a_slow_round_together_misses_and_a_refusal_is_counted() -> None:
    rounds = [round_of(1.0, 1.5, refusals=2)]
    lines = verdicts(report(rounds, ("1.0, 1.0, 1.0", "1.0, 1.0, 1.0")))
    assert lines[0].endswith("— **missed by 0.3×** (1.50×).")
    assert lines[3] == "Verdict: no request refused, together — **missed by 2 refused** (2 refused)."


def test_the_section_carries_a_verdict_for_the_performance_page() -> None:
    text = report([round_of(1.0, 1.1)], ("1.0, 1.0, 1.0", "1.0, 1.0, 1.0"))
    stamp = "_Measured 2026-12-05 00:30 UTC on commit 1234567, a machine (reference workload 40 ms)._"
    stamped = f"{text}\n{stamp}\n"
    assert section_problems(stamped) == []
    assert text.startswith("## Three venues together")


def test_the_verdict_is_dps_run_s_process_per_venue_and_one_process_is_a_figure_beside_it() -> None:
    # A process each: 1.05 and 2.3 s over 1.0 and 2.0 alone; one process 1.5 and 3.0 (1.5x).
    rounds = [round_of(1.0, 1.05, one=1.5), round_of(2.0, 2.3, one=3.0)]
    text = report(rounds, ("1.0, 1.0, 1.0", "1.0, 1.0, 1.0"))
    lines = verdicts(text)
    assert lines[0].endswith("(requests, from the fakes' logs) — **met** (1.10×).")
    # Whole cycles: (1.05 + 0.2) / 1.2 and (2.3 + 0.2) / 2.2, each round with its own legs alone.
    assert lines[1].endswith("(whole cycles with storing) — **met** (1.09×).")
    assert "Beside it, the three in one process (`VENUE_PROCESSES=one`): requests 1.50× (1.50, 1.50)" in text
    assert "Binance USD-M 110 MB (peak 120 MB), Bybit 111 MB (peak 121 MB), OKX 112 MB (peak 122 MB)" in text
