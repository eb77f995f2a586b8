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


def round_of(binance: float, together: float, *, refusals: int = 0) -> list[Leg]:
    """Each venue alone (Binance the slowest at ``binance`` s), then the three together in ``together`` s."""
    alone = [
        Leg((venue,), {venue: span + 0.2}, span + 0.2, 0.1, {venue: log(0.0, span)}, {venue: SYMBOLS})
        for venue, span in zip(NAMES, (binance, 0.1, 0.2), strict=True)
    ]
    logs = {venue: log(0.0, together if venue == "binanceusdm" else 0.1) for venue in NAMES}
    logs["okx"] = log(0.0, 0.1, refusals=refusals)
    both = Leg(
        tuple(NAMES), dict.fromkeys(NAMES, together + 0.2), together + 0.2, 0.3, logs, dict.fromkeys(NAMES, 1)
    )
    return [*alone, both]


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
    stamped = text + "\n_Measured 2026-12-05 00:30 UTC on commit 1234567, a machine._\n"
    assert section_problems(stamped) == []
    assert text.startswith("## Three venues together")


def test_the_venues_in_processes_of_their_own_are_reported_beside_the_target() -> None:
    rounds = [round_of(1.0, 1.3), round_of(2.0, 2.6)]
    for legs, apart_s in zip(rounds, (1.05, 2.2), strict=True):
        together = legs[-1]
        rss = {venue: (110.0 + n, 120.0 + n) for n, venue in enumerate(NAMES)}
        legs.append(
            Leg(together.venues, together.cycle_s, apart_s, 0.4, together.logs, together.scored, True, rss)
        )
    text = report(rounds, ("1.0, 1.0, 1.0", "1.0, 1.0, 1.0"))
    # The verdicts stay those of the three in one process (cycles 1.5/1.2 and 2.8/2.2)...
    assert verdicts(text)[1].endswith("(whole cycles with storing) — **missed by 0.06×** (1.26×).")
    # ...and the processes' round is paired with the legs alone of its own round: 1.05/1.2, 2.2/2.2.
    assert "whole cycles 0.94× (0.88, 1.00)" in text
    assert "Binance USD-M 110 MB (peak 120 MB), Bybit 111 MB (peak 121 MB), OKX 112 MB (peak 122 MB)" in text
