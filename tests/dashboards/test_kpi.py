"""KPI functions: against Asterisk's own queue_log, and against first principles."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest

from dashboards.kpi import (
    QueueCounts,
    QueueKpiDefinition,
    SlTreatment,
    abandon_rate,
    agents_needed,
    aht,
    asa,
    count_legs,
    erlang_asa,
    erlang_b,
    erlang_c,
    erlang_service_level,
    kpi_definitions,
    occupancy,
    service_level,
    state_times,
)
from telephony.domain import (
    AgentInterval,
    AgentState,
    CallKey,
    CallRecord,
    Outcome,
    QueueLeg,
)
from telephony.replay import replay_records
from tests.support.queue_log import QueueLogLeg, parse_queue_log

QUEUED_SCENARIOS = [
    "answered",
    "abandoned",
    "burst",
    "sip_mixed",
    "status_snapshot",
    "ring_no_answer",
]


def _queue_log_legs(recordings: Path, scenario: str) -> dict[str, list[QueueLogLeg]]:
    log = parse_queue_log(recordings / f"{scenario}.queue_log")
    legs: dict[str, list[QueueLogLeg]] = {}
    for call in log.calls.values():
        for leg in call.legs:
            legs.setdefault(leg.queue, []).append(leg)
    return legs


def _expected_levels(
    legs: list[QueueLogLeg], threshold: float, short: float
) -> dict[SlTreatment, float | None]:
    """The three service levels straight from queue_log hold/wait times."""
    answered = [leg.wait for leg in legs if leg.outcome in ("answered", "transferred")]
    abandoned = [
        leg.wait for leg in legs if leg.outcome == "abandoned" and (leg.wait or 0) >= short
    ]
    ans_in = sum(1 for w in answered if w is not None and w <= threshold)
    ab_in = sum(1 for w in abandoned if w is not None and w <= threshold)
    ab_late = len(abandoned) - ab_in

    def ratio(a: int, b: int) -> float | None:
        return a / b if b else None

    return {
        SlTreatment.ASTERISK: ratio(ans_in, len(answered)),
        SlTreatment.ASTERISK_SL2: ratio(ans_in + ab_in, len(answered) + len(abandoned)),
        SlTreatment.PENALISE_LATE_ABANDONS: ratio(ans_in, len(answered) + ab_late),
    }


@pytest.mark.parametrize("scenario", QUEUED_SCENARIOS)
@pytest.mark.parametrize("threshold", [0, 5, 20])
@pytest.mark.parametrize("short", [0, 7])
def test_counts_and_levels_agree_with_queue_log(
    recordings: Path, scenario: str, threshold: int, short: int
) -> None:
    records = replay_records((recordings / f"{scenario}.ami").read_bytes())
    definition = QueueKpiDefinition(service_level_seconds=threshold, short_abandon_seconds=short)
    counts = count_legs(records, default=definition)
    expected = _queue_log_legs(recordings, scenario)
    assert set(counts) == set(expected)
    for queue, legs in expected.items():
        got = counts[queue]
        assert got.offered == len(legs)
        answered = [leg for leg in legs if leg.outcome in ("answered", "transferred")]
        abandoned = [leg for leg in legs if leg.outcome == "abandoned"]
        assert got.answered == len(answered)
        assert got.abandoned == len(abandoned)
        assert got.short_abandoned == sum(1 for leg in abandoned if (leg.wait or 0) < short)
        waits = [leg.wait or 0.0 for leg in answered]
        assert asa(got) == (pytest.approx(sum(waits) / len(waits)) if waits else None)
        for treatment, level in _expected_levels(legs, threshold, short).items():
            got_level = service_level(got, treatment)
            assert got_level == (None if level is None else pytest.approx(level)), treatment
        long_abandons = got.abandoned - got.short_abandoned
        settled = len(answered) + long_abandons + got.exited
        rate = abandon_rate(got)
        assert rate == (pytest.approx(long_abandons / settled) if settled else None)


def test_burst_has_abandons_inside_and_outside_the_threshold(recordings: Path) -> None:
    """The treatments must really differ on a recording, or the test above proves little."""
    records = replay_records((recordings / "burst.ami").read_bytes())
    counts = count_legs(records, default=QueueKpiDefinition(service_level_seconds=5))
    levels = {service_level(c, t) for c in counts.values() for t in SlTreatment if c.abandoned}
    assert len(levels) > 2


def _leg(queue: str, outcome: Outcome, wait: float, *, answered: bool = False) -> QueueLeg:
    return QueueLeg(
        queue,
        joined_at=0.0,
        position=1,
        left_at=wait,
        outcome=outcome,
        answered_at=wait if answered else None,
        wait_seconds=wait,
        talk_seconds=60.0 if answered else None,
    )


def _record(*legs: QueueLeg) -> CallRecord:
    return CallRecord(CallKey("t", str(id(legs))), "", "", 0.0, legs[-1].outcome, legs=legs)


def test_treatments_from_first_principles() -> None:
    # 10 answered: 8 within 20 s; 4 abandoned: 1 short (2 s), 1 at 15 s, 2 at 40 s.
    legs = [_leg("q", Outcome.ANSWERED, 5.0, answered=True) for _ in range(8)]
    legs += [_leg("q", Outcome.ANSWERED, 20.5, answered=True) for _ in range(2)]
    legs += [_leg("q", Outcome.ABANDONED, w) for w in (2.0, 15.0, 40.0, 40.0)]
    legs += [_leg("q", Outcome.EXIT_TIMEOUT, 300.0)]
    definition = QueueKpiDefinition(service_level_seconds=20, short_abandon_seconds=5)
    counts = count_legs([_record(leg) for leg in legs], default=definition)["q"]
    assert counts.offered == 15
    assert service_level(counts, SlTreatment.ASTERISK) == pytest.approx(8 / 10)
    assert service_level(counts, SlTreatment.ASTERISK_SL2) == pytest.approx((8 + 1) / (10 + 3))
    assert service_level(counts, SlTreatment.PENALISE_LATE_ABANDONS) == pytest.approx(8 / 12)
    assert abandon_rate(counts) == pytest.approx(3 / (10 + 3 + 1))
    assert asa(counts) == pytest.approx((8 * 5 + 2 * 20.5) / 10)


def test_a_call_in_two_queues_counts_in_each() -> None:
    first = QueueLeg("a", 0.0, 1, 30.0, Outcome.TRANSFERRED, "x", "PJSIP/1", 10.0, 10.0, 20.0)
    second = _leg("b", Outcome.ABANDONED, 30.0)
    counts = count_legs([_record(first, second)])
    assert counts["a"].answered == 1 and counts["a"].offered == 1
    assert counts["b"].abandoned == 1 and counts["b"].answered == 0


def test_no_calls_means_no_level() -> None:
    empty = QueueCounts()
    for treatment in SlTreatment:
        assert service_level(empty, treatment) is None
    assert abandon_rate(empty) is None and asa(empty) is None


def test_definitions_per_queue() -> None:
    definitions = kpi_definitions(
        ["a"],
        default_sl_seconds=20,
        sl_seconds={"b": 30},
        sl_targets={"a": 0.9},
        short_abandon_seconds=5,
        wrapup_seconds={"c": 10},
    )
    assert sorted(definitions) == ["a", "b", "c"]
    assert definitions["a"].sl_target == 0.9 and definitions["a"].service_level_seconds == 20
    assert definitions["b"].service_level_seconds == 30 and definitions["b"].sl_target == 0.8
    assert definitions["c"].wrapup_seconds == 10
    with pytest.raises(ValueError):
        QueueKpiDefinition(sl_target=80)


def _interval(state: AgentState, start: float, end: float) -> AgentInterval:
    return AgentInterval("t", "PJSIP/1", "Ana", state, start, end)


def test_occupancy_and_aht_from_intervals() -> None:
    intervals = [
        _interval(AgentState.AVAILABLE, 0, 100),
        _interval(AgentState.RINGING, 100, 110),
        _interval(AgentState.ON_CALL, 110, 290),
        _interval(AgentState.WRAP_UP, 290, 320),
        _interval(AgentState.PAUSED, 320, 1000),
        _interval(AgentState.AVAILABLE, 1000, 1080),
    ]
    times = state_times(intervals)
    # busy 180 + 30; ready = busy + 100 + 10 + 80
    assert occupancy(times) == pytest.approx(210 / 400)
    clipped = state_times(intervals, start=200, end=300)
    assert clipped[AgentState.ON_CALL] == 90 and clipped[AgentState.WRAP_UP] == 10
    assert aht(talk_seconds=180, wrapup_seconds=30, handled=1) == 210
    assert aht(talk_seconds=0, wrapup_seconds=0, handled=0) is None
    assert occupancy(state_times([_interval(AgentState.PAUSED, 0, 10)])) is None


def _erlang_c_exact(n: int, a: Fraction) -> Fraction:
    """Textbook closed form with exact rationals: A^N/N! · N/(N-A) over
    (sum_{k<N} A^k/k! + A^N/N! · N/(N-A))."""
    top = a**n / math.factorial(n) * Fraction(n) / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize(("n", "a"), [(1, "1/2"), (2, "1"), (5, "3.5"), (11, "10"), (30, "25.2")])
def test_erlang_c_matches_the_closed_form(n: int, a: str) -> None:
    traffic = Fraction(a)
    assert erlang_c(n, float(traffic)) == pytest.approx(float(_erlang_c_exact(n, traffic)))


def test_erlang_c_known_values() -> None:
    # M/M/1: the probability of waiting is the utilisation.
    assert erlang_c(1, 0.75) == pytest.approx(0.75)
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    # Call Centre Helper's worked example: 100 calls per 30 min, AHT 180 s
    # (10 erlangs), 80/20 target: 11 agents wait 68.21 % of calls, 14 agents
    # are needed (SL 88.8 %), 13 give 79.6 %.
    rate = 100 / 1800
    assert erlang_c(11, 10.0) == pytest.approx(0.6821, abs=5e-5)
    assert erlang_service_level(14, rate, 180, 20) == pytest.approx(0.888, abs=5e-4)
    assert erlang_service_level(13, rate, 180, 20) == pytest.approx(0.796, abs=5e-4)
    assert agents_needed(rate, 180, 20, 0.8) == 14
    assert erlang_asa(11, rate, 180) == pytest.approx(0.6821 * 180 / 1, abs=0.01)


def test_erlang_c_is_stable_for_large_floors() -> None:
    # Factorials of 2,000 overflow a float; the recursion must not.
    c = erlang_c(2000, 1950.0)
    assert 0.0 < c < 1.0
    needed = agents_needed(1950 / 300, 300, 20, 0.8)
    assert needed is not None and 1950 < needed < 2100
    assert erlang_service_level(needed, 1950 / 300, 300, 20) >= 0.8
    assert erlang_service_level(needed - 1, 1950 / 300, 300, 20) < 0.8


def test_erlang_edges() -> None:
    assert erlang_c(3, 3.0) == 1.0 and erlang_c(3, 0.0) == 0.0
    assert agents_needed(0.0, 180, 20, 0.8) == 0
    assert agents_needed(10.0, 180, 20, 0.8, max_agents=100) is None
    assert erlang_asa(2, 1.0, 3.0) == math.inf
