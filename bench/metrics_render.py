"""/metrics render time with many queues and agents.

    python -m bench.metrics_render [--queues 100] [--agents 1000] [--rounds 50]

Builds the registry `atiende serve` exposes (bridge health + queue metrics)
over a `QueueMetrics` sink fed with a busy day's synthetic events (every queue
with callers waiting, calls answered, abandoned and ended inside and outside
the 15-minute window) and an agent snapshot of `--agents` agents, each a
member of one to three queues. Then times `generate_latest(registry)`: what
one Prometheus scrape costs, in the metrics thread. Goal: median <= 50 ms at
100 queues and 1,000 agents.

Also prints the sink's `publish` rate (domain events per second), the cost
the bridge pays per event on the event loop.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, generate_latest

from dashboards.bridge_metrics import BridgeHealthCollector
from dashboards.kpi import QueueKpiDefinition
from dashboards.queue_metrics import QueueMetrics, QueueMetricsCollector
from telephony.agents import AgentSnapshot
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
    DomainEvent,
    Outcome,
    QueueLeg,
)

GOAL_MS = 50.0


class _Connection:
    system_name = "asterisk"
    events_received = 1_000_000
    reconnects = 2
    read_pauses = 0
    connected = True
    queue_depth = 0
    lag_seconds = 0.001
    last_event_age = 0.2
    malformed = 0


class _Writer:
    written = 500_000
    failures = 0
    pending = 3


class _Bridge:
    items = 1_000_000
    domain_events = 300_000
    sink_errors = 0


def synthetic_day(queues: Sequence[str], calls_per_queue: int, now: float) -> list[DomainEvent]:
    rng = random.Random(7)
    events: list[DomainEvent] = []
    for q_index, queue in enumerate(queues):
        for i in range(calls_per_queue):
            key = CallKey("asterisk", f"{q_index}.{i}")
            joined = now - rng.uniform(0, 4 * 3600)
            wait = rng.expovariate(1 / 25)
            events.append(CallQueued(joined, key, queue, 1, "099000000", "Bench"))
            if rng.random() < 0.85:
                answered = joined + wait
                events.append(CallAnswered(answered, key, queue, "PJSIP/1", "Agente", wait))
                talk = rng.expovariate(1 / 200)
                leg = QueueLeg(
                    queue, joined, 1, answered, Outcome.ANSWERED, "Agente", "PJSIP/1",
                    answered, wait, talk,
                )  # fmt: skip
                record = CallRecord(
                    key, "099000000", "Bench", joined, Outcome.ANSWERED, legs=(leg,)
                )
                events.append(CallEnded(answered + talk, record))
            else:
                events.append(CallAbandoned(joined + wait, key, queue, wait, 1))
        for i in range(5):  # callers waiting now
            key = CallKey("asterisk", f"{q_index}.w{i}")
            events.append(CallQueued(now - 10 * i, key, queue, i + 1, "099000000", "Bench"))
    events.sort(key=lambda e: e.at)
    return events


def agent_snapshot(queues: Sequence[str], agents: int) -> list[AgentSnapshot]:
    rng = random.Random(11)
    states = list(AgentState)
    snapshot = []
    for i in range(agents):
        state = rng.choice(states)
        # As in the tracker: logged out means a member of no queue.
        member_of = (
            () if state is AgentState.LOGGED_OUT else rng.sample(list(queues), rng.randint(1, 3))
        )
        snapshot.append(
            AgentSnapshot(
                f"PJSIP/{4000 + i}", f"Agente {i}", tuple(sorted(member_of)), state, 0.0, None
            )
        )
    return snapshot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queues", type=int, default=100)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=200, help="calls per queue in the day")
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()

    now = time.time()
    queues = [f"cola{i:03d}" for i in range(args.queues)]
    metrics = QueueMetrics(
        {q: QueueKpiDefinition(wrapup_seconds=10) for q in queues}, clock=lambda: now
    )
    events = synthetic_day(queues, args.calls, now)
    interval = AgentInterval("asterisk", "PJSIP/1", "Agente", AgentState.ON_CALL, now - 60, now)
    events.append(
        AgentStateChanged(now, "asterisk", "PJSIP/1", "Agente", AgentState.WRAP_UP, None, None,
                          interval)
    )  # fmt: skip
    started = time.perf_counter()
    for event in events:
        metrics.publish((event,))
    publish_rate = len(events) / (time.perf_counter() - started)

    snapshot = agent_snapshot(queues, args.agents)
    registry = CollectorRegistry()
    registry.register(BridgeHealthCollector(_Connection(), _Writer(), _Bridge()))
    registry.register(QueueMetricsCollector(metrics, lambda: snapshot))

    body = generate_latest(registry)  # warm-up
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    times: list[float] = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        generate_latest(registry)
        times.append((time.perf_counter() - start) * 1000)
    median = statistics.median(times)
    print(f"queues={args.queues} agents={args.agents} series={series} bytes={len(body)}")
    print(f"{'render /metrics':<18}{'median':>10}{'min':>10}{'max':>10}")
    print(f"{'ms':<18}{median:>10.2f}{min(times):>10.2f}{max(times):>10.2f}")
    print(f"publish: {publish_rate:,.0f} domain events/s ({len(events):,} events, one per call)")
    verdict = "met" if median <= GOAL_MS else "NOT met"
    print(f"goal: median <= {GOAL_MS:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
