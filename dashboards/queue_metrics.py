"""Live queue and agent metrics for Prometheus.

`QueueMetrics` is a bridge sink: `publish` updates a few counters per domain
event (O(1), no I/O, a short lock shared with scrapes) and keeps the calls
waiting in each queue with their join times. `QueueMetricsCollector` turns
that state into metric families when Prometheus scrapes, in the metrics
server's own thread: longest waits, the sliding-window service level and
abandonment, and the Erlang C advice are computed then, not per event.

Counting follows `dashboards.kpi` (the same rules as `atiende replay
--format summary`): every queue leg counts in its own queue, a wait equal to
the threshold is within it, short abandons are counted on their own and kept
out of the rates.

Windows (label `window`):

- ``15m`` (or whatever `window_seconds` is): legs that settled in the last
  window_seconds by the wall clock: what the floor is doing now.
- ``today``: legs that settled since local midnight in the centre's time zone
  (what the wallboard's day tiles show; resets at midnight).

Rates with no call in their denominator are left out rather than shown as 0
or 100 %, so an idle queue neither fires an alert nor paints a tile red.

Agents are counted per queue and state (a member of two queues counts in
both) from the tracker's agent snapshot, read at scrape time; there are no
per-agent series (see dashboards.metric_names).
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from dashboards import kpi
from dashboards import metric_names as names
from telephony.agents import AgentSnapshot
from telephony.domain import (
    AgentState,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallKey,
    CallQueued,
    CallRecord,
    DomainEvent,
    QueueExited,
)

log = logging.getLogger(__name__)

# Bucket bounds at the usual service-level thresholds (10-30 s) and the
# waits that make callers give up. Few on purpose: histograms are most of
# the series on /metrics (3 per queue), and the live SL does not need them.
WAIT_BUCKETS = (5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
TALK_BUCKETS = (60.0, 180.0, 300.0, 600.0, 1200.0, 3600.0)


class _Histogram:
    __slots__ = ("bounds", "counts", "labels", "sum", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.labels = [_le(bound) for bound in bounds]
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += 1
        self.sum += value

    def buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for label, count in zip(self.labels, self.counts, strict=False):
            running += count
            out.append((label, running))
        out.append(("+Inf", self.total))
        return out


def _le(bound: float) -> str:
    return str(int(bound)) if bound == int(bound) else str(bound)


@dataclass(slots=True)
class _Queue:
    definition: kpi.QueueKpiDefinition
    waiting: dict[CallKey, float] = field(default_factory=dict)
    # Since the process started (Prometheus counters).
    total: kpi.QueueTally = field(default_factory=kpi.QueueTally)
    exited: dict[str, int] = field(default_factory=dict)
    wait_answered: _Histogram = field(default_factory=lambda: _Histogram(WAIT_BUCKETS))
    wait_abandoned: _Histogram = field(default_factory=lambda: _Histogram(WAIT_BUCKETS))
    talk: _Histogram = field(default_factory=lambda: _Histogram(TALK_BUCKETS))
    # (at, event, value) of the legs' events in the window.
    recent: deque[tuple[float, kpi.LegEvent, float]] = field(default_factory=deque)
    window: kpi.QueueTally = field(default_factory=kpi.QueueTally)
    day: date | None = None
    today: kpi.QueueTally = field(default_factory=kpi.QueueTally)


@dataclass(frozen=True, slots=True)
class QueueView:
    """One queue's figures at one instant (what a scrape renders)."""

    name: str
    definition: kpi.QueueKpiDefinition
    waiting: int
    longest_wait: float
    offered: int
    answered: int
    answered_within: int
    abandoned: int
    abandoned_short: int
    abandoned_within: int
    exited: Mapping[str, int]
    wait_answered: tuple[list[tuple[str, float]], float]
    wait_abandoned: tuple[list[tuple[str, float]], float]
    talk: tuple[list[tuple[str, float]], float]
    window: kpi.QueueCounts
    today: kpi.QueueCounts


class QueueMetrics:
    """Bridge sink keeping each queue's live state and counters."""

    def __init__(
        self,
        definitions: Mapping[str, kpi.QueueKpiDefinition] | None = None,
        *,
        default: kpi.QueueKpiDefinition | None = None,
        window_seconds: float = 900.0,
        timezone: tzinfo = UTC,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self._definitions = dict(definitions or {})
        self._default = default or kpi.QueueKpiDefinition()
        self.window_seconds = window_seconds
        self._tz = timezone
        self._clock = clock
        self._lock = threading.Lock()
        self._queues: dict[str, _Queue] = {}
        self._state_seconds: dict[AgentState, float] = {}
        for name in self._definitions:
            self._queue(name)
        # One dict lookup per event; the events metrics ignore cost only that.
        self._handlers: dict[type[Any], Callable[[Any], None]] = {
            CallQueued: self._on_queued,
            CallAnswered: self._on_answered,
            CallAbandoned: self._on_abandoned,
            QueueExited: self._on_exited,
            CallEnded: self._on_ended,
            AgentStateChanged: self._on_agent,
        }

    @property
    def definitions(self) -> Mapping[str, kpi.QueueKpiDefinition]:
        """The KPI definition of each configured queue (reports use the same)."""
        return self._definitions

    @property
    def default(self) -> kpi.QueueKpiDefinition:
        """The definition of a queue not configured."""
        return self._default

    @property
    def window_label(self) -> str:
        seconds = int(self.window_seconds)
        return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"

    # ------------------------------------------------------------ sink API

    def publish(self, events: Sequence[DomainEvent]) -> None:
        handlers = self._handlers
        with self._lock:
            for event in events:
                handler = handlers.get(type(event))
                if handler is not None:
                    handler(event)

    def calls_in_progress(self, records: Sequence[CallRecord]) -> None:
        """Nothing to keep: live metrics start from zero with the process."""

    # ------------------------------------------------------------ events

    def _queue(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None:
            definition = self._definitions.get(name, self._default)
            queue = self._queues[name] = _Queue(definition)
        return queue

    def _settle(self, queue: _Queue, key: CallKey, at: float) -> None:
        """The leg left the waiting list; count it offered if its join was never seen."""
        if queue.waiting.pop(key, None) is None:
            self._count(queue, at, kpi.LegEvent.OFFERED, 0.0)

    def _count(self, queue: _Queue, at: float, event: kpi.LegEvent, value: float) -> None:
        """One leg event into the lifetime, window and today tallies (kpi's rule)."""
        definition = queue.definition
        queue.total.count(event, value, definition)
        queue.recent.append((at, event, value))
        queue.window.count(event, value, definition)
        day = datetime.fromtimestamp(at, self._tz).date()
        if day != queue.day:
            if queue.day is not None and day < queue.day:
                return  # a late event from yesterday stays out of today
            queue.day = day
            queue.today = kpi.QueueTally()
        queue.today.count(event, value, definition)

    def _on_queued(self, event: CallQueued) -> None:
        queue = self._queue(event.queue)
        if event.key not in queue.waiting:
            queue.waiting[event.key] = event.at
            self._count(queue, event.at, kpi.LegEvent.OFFERED, 0.0)

    def _on_answered(self, event: CallAnswered) -> None:
        if event.outbound:
            return  # a callback the centre placed: it never waited in the queue
        queue = self._queue(event.queue)
        self._settle(queue, event.key, event.at)
        queue.wait_answered.observe(event.wait_seconds)
        self._count(queue, event.at, kpi.LegEvent.ANSWERED, event.wait_seconds)

    def _on_abandoned(self, event: CallAbandoned) -> None:
        queue = self._queue(event.queue)
        self._settle(queue, event.key, event.at)
        queue.wait_abandoned.observe(event.wait_seconds)
        self._count(queue, event.at, kpi.LegEvent.ABANDONED, event.wait_seconds)

    def _on_exited(self, event: QueueExited) -> None:
        queue = self._queue(event.queue)
        self._settle(queue, event.key, event.at)
        reason = event.outcome.value.removeprefix("exit_")
        queue.exited[reason] = queue.exited.get(reason, 0) + 1
        self._count(queue, event.at, kpi.LegEvent.EXITED, 0.0)

    def _on_ended(self, event: CallEnded) -> None:
        for leg in event.record.legs:
            queue = self._queue(leg.queue)
            # A leg that never settled (lost in an outage, unobserved end).
            queue.waiting.pop(event.record.key, None)
            if leg.answered_at is not None and leg.talk_seconds is not None:
                queue.talk.observe(leg.talk_seconds)
                self._count(queue, event.at, kpi.LegEvent.TALK, leg.talk_seconds)

    def _on_agent(self, event: AgentStateChanged) -> None:
        closed = event.closed
        if closed is not None and closed.ended_at > closed.started_at:
            spent = closed.ended_at - closed.started_at
            self._state_seconds[closed.state] = self._state_seconds.get(closed.state, 0.0) + spent

    # ------------------------------------------------------------ scrape side

    def _prune(self, queue: _Queue, now: float) -> None:
        horizon = now - self.window_seconds
        recent = queue.recent
        while recent and recent[0][0] < horizon:
            _at, event, value = recent.popleft()
            queue.window.count(event, value, queue.definition, -1)

    def views(self) -> list[QueueView]:
        """Every queue's figures now, sorted by name."""
        now = self._clock()
        today = datetime.fromtimestamp(now, self._tz).date()
        views: list[QueueView] = []
        with self._lock:
            for name in sorted(self._queues):
                queue = self._queues[name]
                self._prune(queue, now)
                longest = now - min(queue.waiting.values()) if queue.waiting else 0.0
                views.append(
                    QueueView(
                        name,
                        queue.definition,
                        len(queue.waiting),
                        max(0.0, longest),
                        queue.total.offered,
                        queue.total.answered,
                        queue.total.answered_within,
                        queue.total.abandoned,
                        queue.total.short_abandoned,
                        queue.total.abandoned_within,
                        dict(queue.exited),
                        (queue.wait_answered.buckets(), queue.wait_answered.sum),
                        (queue.wait_abandoned.buckets(), queue.wait_abandoned.sum),
                        (queue.talk.buckets(), queue.talk.sum),
                        queue.window.freeze(),
                        queue.today.freeze() if queue.day == today else kpi.QueueCounts(),
                    )
                )
        return views

    def state_seconds(self) -> dict[AgentState, float]:
        with self._lock:
            return dict(self._state_seconds)

    def waits(self) -> dict[str, list[float]]:
        """Seconds each caller now waiting has waited, per queue, longest first."""
        now = self._clock()
        with self._lock:
            return {
                name: sorted((max(0.0, now - at) for at in queue.waiting.values()), reverse=True)
                for name, queue in self._queues.items()
                if queue.waiting
            }


AgentsProvider = Callable[[], Iterable[AgentSnapshot]]

_EXIT_REASONS = ("timeout", "key", "empty", "join_empty")


def _read_agents(agents: AgentsProvider) -> list[AgentSnapshot] | None:
    # The tracker lives on the event loop and the scrape runs in the metrics
    # server's thread. Its snapshot copies plain attributes; if a new agent
    # appears while the dict is being walked, Python raises RuntimeError and
    # a second walk sees a consistent dict.
    for _attempt in range(3):
        try:
            return list(agents())
        except RuntimeError:
            continue
    log.warning("agent snapshot kept changing during the scrape; agents left out")
    return None


class QueueMetricsCollector(Collector):
    """Renders `QueueMetrics` (and the agents' snapshot) at scrape time."""

    def __init__(self, metrics: QueueMetrics, agents: AgentsProvider | None = None) -> None:
        self._metrics = metrics
        self._agents = agents

    def collect(self) -> Iterator[Metric]:
        views = self._metrics.views()
        window = self._metrics.window_label
        window_seconds = self._metrics.window_seconds

        waiting = GaugeMetricFamily(
            names.QUEUE_CALLS_WAITING, "Calls waiting in the queue now", labels=["queue"]
        )
        longest = GaugeMetricFamily(
            names.QUEUE_LONGEST_WAIT,
            "Wait so far of the caller waiting longest (0 with nobody waiting)",
            labels=["queue"],
        )
        offered = CounterMetricFamily(
            names.QUEUE_OFFERED, "Queue legs that joined the queue", labels=["queue"]
        )
        answered = CounterMetricFamily(
            names.QUEUE_ANSWERED, "Queue legs an agent answered", labels=["queue"]
        )
        answered_within = CounterMetricFamily(
            names.QUEUE_ANSWERED_WITHIN_SL,
            "Queue legs answered within the service-level threshold",
            labels=["queue"],
        )
        abandoned = CounterMetricFamily(
            names.QUEUE_ABANDONED,
            "Queue legs the caller abandoned (short ones included)",
            labels=["queue"],
        )
        abandoned_short = CounterMetricFamily(
            names.QUEUE_ABANDONED_SHORT,
            "Abandons before the short-abandon time (kept out of the rates)",
            labels=["queue"],
        )
        abandoned_within = CounterMetricFamily(
            names.QUEUE_ABANDONED_WITHIN_SL,
            "Abandons, not short, within the service-level threshold",
            labels=["queue"],
        )
        exited = CounterMetricFamily(
            names.QUEUE_EXITED,
            "Queue legs that left without answer or abandon",
            labels=["queue", "reason"],
        )
        wait = HistogramMetricFamily(
            names.QUEUE_WAIT,
            "Wait in the queue of answered and abandoned legs",
            labels=["queue", "outcome"],
        )
        talk = HistogramMetricFamily(
            names.QUEUE_TALK,
            "Talk time of answered legs, observed when the call ends",
            labels=["queue"],
        )
        sl = GaugeMetricFamily(
            names.QUEUE_SERVICE_LEVEL,
            "Service level (0-1) with the queue's treatment of abandons",
            labels=["queue", "window"],
        )
        abandon = GaugeMetricFamily(
            names.QUEUE_ABANDON_RATE,
            "Abandoned share (0-1) of the settled legs, short abandons left out",
            labels=["queue", "window"],
        )
        asa = GaugeMetricFamily(
            names.QUEUE_ASA, "Mean wait of the answered legs", labels=["queue", "window"]
        )
        threshold = GaugeMetricFamily(
            names.QUEUE_SL_THRESHOLD, "Service-level threshold T", labels=["queue"]
        )
        target = GaugeMetricFamily(
            names.QUEUE_SL_TARGET, "Service-level target (0-1)", labels=["queue"]
        )
        needed = GaugeMetricFamily(
            names.QUEUE_AGENTS_NEEDED,
            "Agents Erlang C says meet the SL target at the window's arrival rate and AHT",
            labels=["queue"],
        )
        for view in views:
            q = [view.name]
            definition = view.definition
            waiting.add_metric(q, view.waiting)
            longest.add_metric(q, view.longest_wait)
            offered.add_metric(q, view.offered)
            answered.add_metric(q, view.answered)
            answered_within.add_metric(q, view.answered_within)
            abandoned.add_metric(q, view.abandoned)
            abandoned_short.add_metric(q, view.abandoned_short)
            abandoned_within.add_metric(q, view.abandoned_within)
            for reason in _EXIT_REASONS:
                exited.add_metric([view.name, reason], view.exited.get(reason, 0))
            wait.add_metric([view.name, "answered"], *view.wait_answered)
            wait.add_metric([view.name, "abandoned"], *view.wait_abandoned)
            talk.add_metric(q, *view.talk)
            threshold.add_metric(q, definition.service_level_seconds)
            target.add_metric(q, definition.sl_target)
            for label, counts in ((window, view.window), ("today", view.today)):
                level = kpi.service_level(counts, definition.treatment)
                if level is not None:
                    sl.add_metric([view.name, label], level)
                rate = kpi.abandon_rate(counts)
                if rate is not None:
                    abandon.add_metric([view.name, label], rate)
                mean_wait = kpi.asa(counts)
                if mean_wait is not None:
                    asa.add_metric([view.name, label], mean_wait)
            advice = _erlang_advice(view, window_seconds)
            if advice is not None:
                needed.add_metric(q, advice)
        yield from (waiting, longest, offered, answered, answered_within, abandoned)
        yield from (abandoned_short, abandoned_within, exited, wait, talk, sl, abandon, asa)
        yield from (threshold, target, needed)
        yield from self._agent_families([view.name for view in views])

    def _agent_families(self, queues: list[str]) -> Iterator[Metric]:
        per_queue = GaugeMetricFamily(
            names.QUEUE_AGENTS, "Queue members by state", labels=["queue", "state"]
        )
        floor = GaugeMetricFamily(names.AGENTS, "Agents by state (each once)", labels=["state"])
        snapshot = _read_agents(self._agents) if self._agents is not None else []
        if snapshot is not None:
            states = list(AgentState)
            # A member of a queue is never logged out (no queues is what
            # logged out means), so per queue that state would always read 0.
            member_states = [s for s in states if s is not AgentState.LOGGED_OUT]
            counts: dict[str, dict[AgentState, int]] = {
                q: dict.fromkeys(member_states, 0) for q in queues
            }
            totals = dict.fromkeys(states, 0)
            for agent in snapshot:
                totals[agent.state] += 1
                if agent.state is AgentState.LOGGED_OUT:
                    continue
                for queue in agent.queues:
                    row = counts.get(queue)
                    if row is None:
                        row = counts[queue] = dict.fromkeys(member_states, 0)
                    row[agent.state] += 1
            for queue in sorted(counts):
                for member_state, count in counts[queue].items():
                    per_queue.add_metric([queue, member_state.value], count)
            for floor_state, count in totals.items():
                floor.add_metric([floor_state.value], count)
        yield per_queue
        yield floor
        seconds = CounterMetricFamily(
            names.AGENT_STATE_SECONDS,
            "Agent time spent in each state (closed spans, all agents)",
            labels=["state"],
        )
        spent = self._metrics.state_seconds()
        for state in AgentState:
            seconds.add_metric([state.value], spent.get(state, 0.0))
        yield seconds


def _erlang_advice(view: QueueView, window_seconds: float) -> int | None:
    """Agents needed at the window's arrival rate and AHT (talk of the
    window, else of the day, plus the queue's wrap-up); None without data."""
    talk = kpi.mean_talk(view.window)
    if talk is None:
        talk = kpi.mean_talk(view.today)
    if talk is None:
        return None
    definition = view.definition
    handle = talk + definition.wrapup_seconds
    if handle <= 0:
        return None
    return kpi.agents_needed(
        view.window.offered / window_seconds,
        handle,
        definition.service_level_seconds,
        definition.sl_target,
    )
