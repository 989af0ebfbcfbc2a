"""The live queue metrics sink and collector, fed by the real tracker on the
recordings and checked against Asterisk's own queue_log."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from dashboards import metric_names as names
from dashboards.kpi import QueueKpiDefinition, count_legs, service_level
from dashboards.queue_metrics import QueueMetrics, QueueMetricsCollector
from telephony.agents import AgentSnapshot
from telephony.ami.parser import iter_capture
from telephony.domain import (
    AgentInterval,
    AgentState,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallKey,
    CallQueued,
    CallRecord,
    Outcome,
    QueueExited,
    QueueLeg,
)
from telephony.replay import replay_records
from telephony.tracker import CallTracker
from tests.support.queue_log import parse_queue_log

SCENARIOS = ["answered", "abandoned", "burst", "sip_mixed", "status_snapshot", "ring_no_answer"]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(metrics: QueueMetrics, agents: object = None) -> Samples:
    registry = CollectorRegistry()
    registry.register(QueueMetricsCollector(metrics, agents))  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def feed_capture(path: Path, metrics: QueueMetrics, clock: Clock) -> CallTracker:
    tracker = CallTracker("lab")
    for item in iter_capture(path.read_bytes()):
        events = tracker.feed(item)
        if events:
            clock.now = max(clock.now, events[-1].at)
            metrics.publish(events)
    return tracker


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_counters_match_queue_log(recordings: Path, scenario: str) -> None:
    clock = Clock()
    levels = {"consultas": 20, "reclamos": 30}
    definitions = {q: QueueKpiDefinition(service_level_seconds=t) for q, t in levels.items()}
    metrics = QueueMetrics(definitions, window_seconds=3600, clock=clock)
    tracker = feed_capture(recordings / f"{scenario}.ami", metrics, clock)
    samples = scrape(metrics, tracker.agents)

    log = parse_queue_log(recordings / f"{scenario}.queue_log")
    legs = [leg for call in log.calls.values() for leg in call.legs]
    for queue in sorted({leg.queue for leg in legs}):
        mine = [leg for leg in legs if leg.queue == queue]
        answered = [leg for leg in mine if leg.outcome in ("answered", "transferred")]
        abandoned = [leg for leg in mine if leg.outcome == "abandoned"]
        assert value(samples, names.QUEUE_OFFERED + "_total", queue=queue) == len(mine)
        assert value(samples, names.QUEUE_ANSWERED + "_total", queue=queue) == len(answered)
        assert value(samples, names.QUEUE_ABANDONED + "_total", queue=queue) == len(abandoned)
        within = sum(1 for leg in answered if (leg.wait or 0) <= levels[queue])
        assert value(samples, names.QUEUE_ANSWERED_WITHIN_SL + "_total", queue=queue) == within
        assert value(samples, names.QUEUE_WAIT + "_count", queue=queue, outcome="answered") == len(
            answered
        )
        assert value(samples, names.QUEUE_WAIT + "_sum", queue=queue, outcome="answered") == (
            pytest.approx(sum(leg.wait or 0 for leg in answered))
        )
        talked = [leg for leg in answered if leg.talk is not None]
        assert value(samples, names.QUEUE_TALK + "_count", queue=queue) == len(talked)
        sl = value(samples, names.QUEUE_SERVICE_LEVEL, queue=queue, window="60m")
        assert sl == (pytest.approx(within / len(answered)) if answered else None)
        # Every agent who answered in this queue is counted among its members.
        members = sum(
            value(samples, names.QUEUE_AGENTS, queue=queue, state=state.value) or 0
            for state in AgentState
        )
        assert members >= len({leg.agent for leg in answered})
    if scenario in ("answered", "abandoned", "burst", "sip_mixed"):
        # Every call of these captures ended: nobody waits.
        for queue in {leg.queue for leg in legs}:
            assert value(samples, names.QUEUE_CALLS_WAITING, queue=queue) == 0
            assert value(samples, names.QUEUE_LONGEST_WAIT, queue=queue) == 0


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_live_counts_agree_with_the_replay_summary(recordings: Path, scenario: str) -> None:
    """Counting events as they come and counting finished records give one answer."""
    clock = Clock()
    definition = QueueKpiDefinition(service_level_seconds=10, short_abandon_seconds=7)
    metrics = QueueMetrics(default=definition, window_seconds=3600, clock=clock)
    feed_capture(recordings / f"{scenario}.ami", metrics, clock)
    samples = scrape(metrics)
    records = replay_records((recordings / f"{scenario}.ami").read_bytes(), system="lab")
    for queue, counts in count_legs(records, default=definition).items():
        assert value(samples, names.QUEUE_OFFERED + "_total", queue=queue) == counts.offered
        assert (
            value(samples, names.QUEUE_ABANDONED_SHORT + "_total", queue=queue)
            == counts.short_abandoned
        )
        assert (
            value(samples, names.QUEUE_ABANDONED_WITHIN_SL + "_total", queue=queue)
            == counts.abandoned_within
        )
        exited = sum(
            value(samples, names.QUEUE_EXITED + "_total", queue=queue, reason=r) or 0
            for r in ("timeout", "key", "empty", "join_empty")
        )
        assert exited == counts.exited
        level = service_level(counts)
        got = value(samples, names.QUEUE_SERVICE_LEVEL, queue=queue, window="today")
        assert got == (None if level is None else pytest.approx(level))


KEY_A, KEY_B = CallKey("t", "a"), CallKey("t", "b")


def queued(key: CallKey, at: float, queue: str = "q") -> CallQueued:
    return CallQueued(at, key, queue, 1, "099123456", "Ana")


def test_waiting_and_longest_wait_at_scrape_time() -> None:
    clock = Clock(1000.0)
    metrics = QueueMetrics(clock=clock)
    metrics.publish([queued(KEY_A, 900.0), queued(KEY_B, 950.0)])
    samples = scrape(metrics)
    assert value(samples, names.QUEUE_CALLS_WAITING, queue="q") == 2
    assert value(samples, names.QUEUE_LONGEST_WAIT, queue="q") == 100
    clock.now = 1010.0
    metrics.publish([CallAnswered(1005.0, KEY_A, "q", "PJSIP/1", "Ana", 105.0)])
    samples = scrape(metrics)
    assert value(samples, names.QUEUE_CALLS_WAITING, queue="q") == 1
    assert value(samples, names.QUEUE_LONGEST_WAIT, queue="q") == 60
    # A call whose end arrives without a settle event stops waiting too.
    leg = QueueLeg("q", 950.0, 1, outcome=Outcome.LOST_DURING_OUTAGE)
    record = CallRecord(KEY_B, "", "", 950.0, Outcome.LOST_DURING_OUTAGE, legs=(leg,))
    metrics.publish([CallEnded(1011.0, record)])
    samples = scrape(metrics)
    assert value(samples, names.QUEUE_CALLS_WAITING, queue="q") == 0
    assert value(samples, names.QUEUE_OFFERED + "_total", queue="q") == 2


def test_window_slides_and_today_resets_at_local_midnight() -> None:
    tz = ZoneInfo("America/Montevideo")  # UTC-3
    local_midnight = datetime(2026, 11, 22, tzinfo=tz).timestamp()
    clock = Clock(local_midnight - 600)
    metrics = QueueMetrics(window_seconds=900, timezone=tz, clock=clock)
    metrics.publish(
        [
            queued(KEY_A, local_midnight - 700),
            CallAnswered(local_midnight - 690, KEY_A, "q", "PJSIP/1", "Ana", 10.0),
            queued(KEY_B, local_midnight - 650),
            CallAbandoned(local_midnight - 610, KEY_B, "q", 40.0, 1),
        ]
    )
    samples = scrape(metrics)
    for window in ("15m", "today"):
        assert value(samples, names.QUEUE_SERVICE_LEVEL, queue="q", window=window) == 1.0
        assert value(samples, names.QUEUE_ABANDON_RATE, queue="q", window=window) == 0.5
    clock.now = local_midnight + 1  # a new local day: today is empty, the window is not
    samples = scrape(metrics)
    assert value(samples, names.QUEUE_ABANDON_RATE, queue="q", window="today") is None
    assert value(samples, names.QUEUE_ABANDON_RATE, queue="q", window="15m") == 0.5
    clock.now = local_midnight + 400  # both legs now older than 15 minutes
    samples = scrape(metrics)
    assert value(samples, names.QUEUE_ABANDON_RATE, queue="q", window="15m") is None
    # Counters never go back.
    assert value(samples, names.QUEUE_ABANDONED + "_total", queue="q") == 1


def test_short_abandons_stay_out_of_the_rates() -> None:
    clock = Clock(100.0)
    metrics = QueueMetrics(default=QueueKpiDefinition(short_abandon_seconds=5), clock=clock)
    metrics.publish(
        [
            queued(KEY_A, 10.0),
            CallAbandoned(13.0, KEY_A, "q", 3.0, 1),
            QueueExited(20.0, KEY_B, "q", Outcome.EXIT_TIMEOUT, 10.0),
        ]
    )
    samples = scrape(metrics)
    assert value(samples, names.QUEUE_ABANDONED + "_total", queue="q") == 1
    assert value(samples, names.QUEUE_ABANDONED_SHORT + "_total", queue="q") == 1
    assert value(samples, names.QUEUE_ABANDON_RATE, queue="q", window="15m") == 0.0
    assert value(samples, names.QUEUE_EXITED + "_total", queue="q", reason="timeout") == 1
    # The exit's join was never seen, but the leg was offered all the same.
    assert value(samples, names.QUEUE_OFFERED + "_total", queue="q") == 2


def agents_on_floor(n: int, queues: Iterable[str]) -> list[AgentSnapshot]:
    """Agent i is in state i % 7 and queue i % len(queues); logged out means no queue."""
    states = list(AgentState)
    qs = list(queues)
    floor = []
    for i in range(n):
        state = states[i % len(states)]
        member_of = () if state is AgentState.LOGGED_OUT else (qs[i % len(qs)],)
        floor.append(AgentSnapshot(f"PJSIP/{i}", f"Agente {i}", member_of, state, 0.0, None))
    return floor


def test_agents_by_state_per_queue_and_no_per_agent_series() -> None:
    metrics = QueueMetrics({q: QueueKpiDefinition() for q in ("a", "b", "empty")})
    snapshot = agents_on_floor(14, ["a", "b"])
    samples = scrape(metrics, lambda: snapshot)
    per_queue = sum(v for (name, _), v in samples.items() if name == names.QUEUE_AGENTS)
    assert per_queue == 12  # the two logged-out agents are members of nothing
    assert sum(v for (name, _), v in samples.items() if name == names.AGENTS) == 14
    assert value(samples, names.AGENTS, state="logged_out") == 2
    assert value(samples, names.QUEUE_AGENTS, queue="a", state="logged_out") is None
    # Agents 1 (queue b) and 8 (queue a) are available: state index 1.
    assert value(samples, names.QUEUE_AGENTS, queue="b", state="available") == 1
    assert value(samples, names.QUEUE_AGENTS, queue="a", state="available") == 1
    assert value(samples, names.QUEUE_AGENTS, queue="a", state="paused") == 1  # agent 2
    # A configured queue with no members still shows its zeros (alerts need them).
    assert value(samples, names.QUEUE_AGENTS, queue="empty", state="available") == 0
    allowed = {"queue", "state", "window", "outcome", "reason", "le"}
    for (_name, labels), _v in samples.items():
        assert {k for k, _ in labels} <= allowed


def test_agent_time_per_state_from_closed_intervals() -> None:
    metrics = QueueMetrics()
    closed = AgentInterval("t", "PJSIP/1", "Ana", AgentState.ON_CALL, 100.0, 160.0)
    metrics.publish(
        [AgentStateChanged(160.0, "t", "PJSIP/1", "Ana", AgentState.WRAP_UP, None, None, closed)]
    )
    samples = scrape(metrics)
    assert value(samples, names.AGENT_STATE_SECONDS + "_total", state="on_call") == 60


def test_erlang_advice_uses_window_rate_and_talk_plus_wrapup() -> None:
    clock = Clock(900.0)
    definition = QueueKpiDefinition(service_level_seconds=20, sl_target=0.8, wrapup_seconds=30)
    metrics = QueueMetrics({"q": definition}, window_seconds=900, clock=clock)
    events = []
    # 50 calls in the window, each talking 150 s: AHT 180 s; rate 50/900 s = 10 erlangs.
    for i in range(50):
        key = CallKey("t", str(i))
        events.append(queued(key, 10.0 + i))
        events.append(CallAnswered(11.0 + i, key, "q", "PJSIP/1", "Ana", 1.0))
        leg = QueueLeg("q", 10.0 + i, 1, 11.0 + i, Outcome.ANSWERED, "Ana", None, 11.0 + i, 1, 150)
        events.append(
            CallEnded(161.0 + i, CallRecord(key, "", "", 10.0, Outcome.ANSWERED, legs=(leg,)))
        )
    metrics.publish(events)
    samples = scrape(metrics)
    # The published worked example at 10 erlangs, 80/20: 14 agents.
    assert value(samples, names.QUEUE_AGENTS_NEEDED, queue="q") == 14
