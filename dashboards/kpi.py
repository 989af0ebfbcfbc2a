"""Contact-centre KPIs as pure functions: the one place where SL, ASA,
abandonment, AHT, occupancy and Erlang C are computed.

Everything here takes plain values (queue legs, agent intervals, counts) and
returns numbers; `queue_summary` (`atiende replay --summary`), the live Prometheus metrics and
the reports all call these functions, so a figure never has two definitions.

Definitions (per queue, declared as data in `QueueKpiDefinition`):

- **Threshold T** (`service_level_seconds`): a leg is *within T* when its wait
  is ``<= T``, exactly Asterisk's rule. app_queue compares whole seconds
  (``time(NULL) - qe->start <= servicelevel``) and writes the same whole-second
  hold time to queue_log's CONNECT/ABANDON lines and to AgentConnect's
  HoldTime, which is what the tracker stores as the leg's wait.
- **Service level**, one of three treatments of abandoned calls
  (`SlTreatment`):

  - ``asterisk``: answered within T / answered. This is app_queue's
    ``ServicelevelPerf`` (``callscompletedinsl / callscompleted``): abandons
    do not count at all.
  - ``asterisk_sl2``: (answered within T + abandoned within T) /
    (answered + abandoned). This is app_queue's ``ServicelevelPerf2``
    (``(callscompletedinsl + callsabandonedinsl) / (callscompleted +
    callsabandoned)``): a caller who gave up quickly counts as served in time.
  - ``penalise_late_abandons``: answered within T / (answered + abandoned
    after T): an abandon before T is ignored, an abandon after T is a failure.

  app_queue counts an abandon within T by the same whole-second ``<=`` rule
  (``record_abandoned``), and counts an answered call in ``callscompleted``
  only when the call ends; here a leg counts from its answer, which is the
  same once the calls have ended. Short abandons (below) are left out of
  every treatment, so with ``short_abandon_seconds = 0`` the first two are
  exactly Asterisk's figures. Legs that left the
  queue otherwise (timeout, exit key, empty queue) are not in any treatment,
  as in Asterisk. With no call in the denominator the level is undefined
  (None), never 100 % or 0 %.
- **Short abandon**: a caller who hung up after waiting less than S seconds
  (`short_abandon_seconds`, ``wait < S``; 0 turns it off). Typically a wrong
  number or a caller who heard the announcement and left: it is counted on
  its own and kept out of the abandonment rate and the service level.
- **Abandonment rate**: abandons that are not short / (answered + abandons
  that are not short + other exits): the share of the settled legs (not
  still waiting) in which the caller gave up.
- **ASA**: mean wait of the answered legs only.
- **AHT**: (talk + hold + wrap-up) / handled calls. Asterisk's TalkTime runs
  from connect to hang-up, so it already includes hold; pass ``hold`` only for
  hold time that is not part of the talk time. Wrap-up comes from the agents'
  WRAP_UP intervals.
- **Occupancy**: (on call + wrap-up) / (on call + wrap-up + available +
  ringing), from the agents' intervals: the share of the time an agent was
  ready for calls that was spent handling them. Paused, unavailable (device
  down) and logged-out time are not in the denominator.
- **Erlang C**: the M/M/N queue (Poisson arrivals, exponential handle times,
  no abandons) at the current arrival rate and AHT: probability of waiting,
  expected service level and ASA for N agents, and the smallest N that meets
  the SL target. Computed through the Erlang B recursion, which is stable for
  thousands of agents (no factorials, no powers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from enum import IntEnum, StrEnum
from typing import TypeVar

from telephony.domain import AgentInterval, AgentState, CallRecord, Outcome, QueueLeg

_Key = TypeVar("_Key", bound=Hashable)

# The counting rule's name, as every report names it (see QueueTally).
COUNTING_RULE = "por_tramo_de_cola"
COUNTING_RULE_TEXT = (
    "Por tramo de cola: cada cola por la que pasa una llamada la cuenta una vez "
    "(una llamada transferida de una cola a otra se ofrece en ambas, como en el "
    "queue_log de Asterisk); cada tramo pertenece al período en que llegó la llamada."
)

_EXITS = frozenset({Outcome.EXIT_TIMEOUT, Outcome.EXIT_KEY, Outcome.EXIT_EMPTY, Outcome.JOIN_EMPTY})
_EXIT_VALUES = frozenset(outcome.value for outcome in _EXITS)
_ABANDONED = Outcome.ABANDONED.value


class SlTreatment(StrEnum):
    """How abandoned calls enter the service level (see the module docstring)."""

    ASTERISK = "asterisk"
    ASTERISK_SL2 = "asterisk_sl2"
    PENALISE_LATE_ABANDONS = "penalise_late_abandons"


@dataclass(frozen=True, slots=True)
class QueueKpiDefinition:
    """How one queue's KPIs are computed; declared as data, not code."""

    service_level_seconds: float = 20.0
    short_abandon_seconds: float = 0.0
    sl_target: float = 0.8  # share of calls, 0..1
    treatment: SlTreatment = SlTreatment.ASTERISK
    wrapup_seconds: float = 0.0  # queues.conf wrapuptime, for Erlang C's AHT

    def __post_init__(self) -> None:
        if self.service_level_seconds < 0 or self.short_abandon_seconds < 0:
            raise ValueError("thresholds must not be negative")
        if not 0.0 <= self.sl_target <= 1.0:
            raise ValueError("sl_target is a share between 0 and 1")


def kpi_definitions(
    queues: Iterable[str],
    *,
    default_sl_seconds: float,
    sl_seconds: Mapping[str, float] | None = None,
    short_abandon_seconds: float = 0.0,
    default_sl_target: float = 0.8,
    sl_targets: Mapping[str, float] | None = None,
    treatment: SlTreatment = SlTreatment.ASTERISK,
    wrapup_seconds: Mapping[str, float] | None = None,
) -> dict[str, QueueKpiDefinition]:
    """One definition per queue named in any of the mappings or in `queues`."""
    sl_seconds = sl_seconds or {}
    sl_targets = sl_targets or {}
    wrapup_seconds = wrapup_seconds or {}
    names = set(queues) | set(sl_seconds) | set(sl_targets) | set(wrapup_seconds)
    return {
        name: QueueKpiDefinition(
            service_level_seconds=sl_seconds.get(name, default_sl_seconds),
            short_abandon_seconds=short_abandon_seconds,
            sl_target=sl_targets.get(name, default_sl_target),
            treatment=treatment,
            wrapup_seconds=wrapup_seconds.get(name, 0.0),
        )
        for name in sorted(names)
    }


# ------------------------------------------------------------ leg rules


def within_threshold(wait_seconds: float, threshold_seconds: float) -> bool:
    """Asterisk's rule: a wait equal to the threshold is within it."""
    return wait_seconds <= threshold_seconds


def is_short_abandon(wait_seconds: float, short_abandon_seconds: float) -> bool:
    return wait_seconds < short_abandon_seconds


# ------------------------------------------------------------ counting


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """Tallies of queue legs: what every queue KPI is computed from.

    `abandoned` counts every abandon (as queue_log's ABANDON lines do);
    `short_abandoned` is the part of it below the short-abandon time and
    `abandoned_within` the part, not short, within the threshold.
    """

    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    abandoned_within: int = 0
    exited: int = 0
    in_progress: int = 0
    answered_wait_seconds: float = 0.0
    talk_seconds: float = 0.0
    talked: int = 0  # answered legs whose talk time is known

    @property
    def counted_abandons(self) -> int:
        """Abandons that are not short."""
        return self.abandoned - self.short_abandoned


class LegEvent(IntEnum):
    """What happened to a queue leg, as counted: one event at a time (the live
    metrics, as the tracker reports them) or all of a settled leg at once
    (`QueueTally.add_leg`: replay, reports, queue_log)."""

    OFFERED = 0
    ANSWERED = 1  # value: the wait
    ABANDONED = 2  # value: the wait
    EXITED = 3
    TALK = 4  # value: the talk time of an answered leg


@dataclass(slots=True)
class QueueTally:
    """The one counting rule: every figure of a queue is a sum of its legs'
    events, judged by the queue's definition. The live metrics, `atiende
    replay --summary`, the reports and the wallboard all count through here.

    A leg counts once, in its own queue (a call moved between two queues is
    offered in each); the period a leg belongs to is its call's arrival
    (reports, replay) or the moment of the event (live windows).
    """

    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    abandoned_within: int = 0
    exited: int = 0
    in_progress: int = 0
    answered_wait_seconds: float = 0.0
    talk_seconds: float = 0.0
    talked: int = 0

    def count(
        self, event: LegEvent, value: float, definition: QueueKpiDefinition, sign: int = 1
    ) -> None:
        """Add (sign 1) or take back (sign -1, a sliding window) one event."""
        if event is LegEvent.ANSWERED:
            self.answered += sign
            self.answered_within += sign * within_threshold(value, definition.service_level_seconds)
            self.answered_wait_seconds += sign * value
        elif event is LegEvent.ABANDONED:
            self.abandoned += sign
            if is_short_abandon(value, definition.short_abandon_seconds):
                self.short_abandoned += sign
            elif within_threshold(value, definition.service_level_seconds):
                self.abandoned_within += sign
        elif event is LegEvent.EXITED:
            self.exited += sign
        elif event is LegEvent.OFFERED:
            self.offered += sign
        else:
            self.talk_seconds += sign * value
            self.talked += sign

    def add_leg(self, leg: QueueLeg, definition: QueueKpiDefinition) -> None:
        """Every event of one leg as it stands (a leg still waiting is in progress)."""
        self.add(
            leg.answered_at is not None,
            leg.outcome.value,
            leg.wait_seconds,
            leg.talk_seconds,
            definition,
        )

    def add(
        self,
        answered: bool,
        outcome: str,
        wait_seconds: float | None,
        talk_seconds: float | None,
        definition: QueueKpiDefinition,
    ) -> None:
        """`add_leg` from a leg's plain fields (as stored in `attentions.legs`):
        whether an agent answered it, its outcome's value, its wait and talk."""
        self.count(LegEvent.OFFERED, 0.0, definition)
        wait = wait_seconds if wait_seconds is not None else 0.0
        if answered:
            # Answered, including legs later transferred.
            self.count(LegEvent.ANSWERED, wait, definition)
            if talk_seconds is not None:
                self.count(LegEvent.TALK, talk_seconds, definition)
        elif outcome == _ABANDONED:
            self.count(LegEvent.ABANDONED, wait, definition)
        elif outcome in _EXIT_VALUES:
            self.count(LegEvent.EXITED, 0.0, definition)
        else:
            self.in_progress += 1

    def merge(self, counts: QueueCounts) -> None:
        for name in _COUNT_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(counts, name))

    def freeze(self) -> QueueCounts:
        return QueueCounts(*(getattr(self, name) for name in _COUNT_FIELDS))


_COUNT_FIELDS = tuple(f.name for f in fields(QueueCounts))


def count_legs(
    records: Iterable[CallRecord],
    definitions: Mapping[str, QueueKpiDefinition] | None = None,
    default: QueueKpiDefinition | None = None,
) -> dict[str, QueueCounts]:
    """Per-queue tallies of every leg of every record (a call that went
    through two queues counts once in each), sorted by queue name."""
    counts = count_legs_by(records, _queue_of, definitions, default)
    return {name: counts[name] for name in sorted(counts)}


def _queue_of(leg: QueueLeg) -> str:
    return leg.queue


def count_legs_by(
    records: Iterable[CallRecord],
    key: Callable[[QueueLeg], _Key],
    definitions: Mapping[str, QueueKpiDefinition] | None = None,
    default: QueueKpiDefinition | None = None,
) -> dict[_Key, QueueCounts]:
    """Tallies of every leg grouped by `key(leg)` (e.g. queue and hour), in
    order of first appearance; each leg is judged by its queue's definition."""
    definitions = definitions or {}
    default = default or QueueKpiDefinition()
    tallies: dict[_Key, QueueTally] = {}
    for record in records:
        for leg in record.legs:
            group = key(leg)
            tally = tallies.get(group)
            if tally is None:
                tally = tallies[group] = QueueTally()
            tally.add_leg(leg, definitions.get(leg.queue, default))
    return {group: tally.freeze() for group, tally in tallies.items()}


# ------------------------------------------------------------ queue KPIs


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def service_level(
    counts: QueueCounts, treatment: SlTreatment = SlTreatment.ASTERISK
) -> float | None:
    """Share (0..1) of calls served within the threshold; None with no calls."""
    if treatment is SlTreatment.ASTERISK:
        return _ratio(counts.answered_within, counts.answered)
    abandons = counts.counted_abandons
    if treatment is SlTreatment.ASTERISK_SL2:
        return _ratio(counts.answered_within + counts.abandoned_within, counts.answered + abandons)
    late_abandons = abandons - counts.abandoned_within
    return _ratio(counts.answered_within, counts.answered + late_abandons)


def abandon_rate(counts: QueueCounts) -> float | None:
    """Share (0..1) of the settled legs, short abandons left out, that were abandoned."""
    abandons = counts.counted_abandons
    return _ratio(abandons, counts.answered + abandons + counts.exited)


def asa(counts: QueueCounts) -> float | None:
    """Average speed of answer in seconds: mean wait of the answered legs."""
    return _ratio(counts.answered_wait_seconds, counts.answered)


def mean_talk(counts: QueueCounts) -> float | None:
    return _ratio(counts.talk_seconds, counts.talked)


# ------------------------------------------------------------ summary


def _rounded(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def queue_summary(
    records: Iterable[CallRecord],
    *,
    default_sl: int = 20,
    service_levels: Mapping[str, int] | None = None,
) -> dict[str, dict[str, float | int | None]]:
    """Per-queue figures, counted from queue legs (a call that went through
    two queues counts once in each). `atiende replay --summary` prints it.

    - offered: legs that joined the queue.
    - answered: legs an agent answered (including ones later transferred).
    - abandoned: legs whose caller hung up while waiting.
    - exited: legs that left without answer or abandon (timeout, exit key,
      queue empty, join refused).
    - in_progress: legs still waiting or still talking when the capture ended,
      or whose end the bridge could not observe.
    - answered_within_sl: answered legs whose wait was <= the queue's service
      level (Asterisk's own rule), in seconds: `service_levels[queue]`, else
      `default_sl`; the threshold used is reported as service_level_seconds.
    - asa_seconds: mean wait of the answered legs (null if none).
    - avg_talk_seconds: mean talk time of the answered legs whose talk time is
      known (null if none).
    """
    levels = dict(service_levels or {})
    definitions = {
        name: QueueKpiDefinition(service_level_seconds=sl) for name, sl in levels.items()
    }
    counts = count_legs(records, definitions, QueueKpiDefinition(service_level_seconds=default_sl))
    summary: dict[str, dict[str, float | int | None]] = {}
    for name, queue in counts.items():
        summary[name] = {
            "offered": queue.offered,
            "answered": queue.answered,
            "abandoned": queue.abandoned,
            "exited": queue.exited,
            "in_progress": queue.in_progress,
            "answered_within_sl": queue.answered_within,
            "service_level_seconds": levels.get(name, default_sl),
            "asa_seconds": _rounded(asa(queue)),
            "avg_talk_seconds": _rounded(mean_talk(queue)),
        }
    return summary


# ------------------------------------------------------------ agent KPIs


@dataclass(frozen=True, slots=True)
class StateTimes:
    """Seconds spent in each agent state."""

    seconds: Mapping[AgentState, float] = field(default_factory=dict)

    def __getitem__(self, state: AgentState) -> float:
        return self.seconds.get(state, 0.0)


def state_times(
    intervals: Iterable[AgentInterval], *, start: float | None = None, end: float | None = None
) -> StateTimes:
    """Time per state, each interval clipped to [start, end] when given."""
    totals: dict[AgentState, float] = {}
    for interval in intervals:
        lo = interval.started_at if start is None else max(start, interval.started_at)
        hi = interval.ended_at if end is None else min(end, interval.ended_at)
        if hi > lo:
            totals[interval.state] = totals.get(interval.state, 0.0) + (hi - lo)
    return StateTimes(totals)


_BUSY = (AgentState.ON_CALL, AgentState.WRAP_UP)
_READY = (AgentState.ON_CALL, AgentState.WRAP_UP, AgentState.AVAILABLE, AgentState.RINGING)


def occupancy(times: StateTimes) -> float | None:
    """(on call + wrap-up) / (on call + wrap-up + available + ringing)."""
    return _ratio(sum(times[s] for s in _BUSY), sum(times[s] for s in _READY))


def aht(
    *, talk_seconds: float, wrapup_seconds: float, handled: int, hold_seconds: float = 0.0
) -> float | None:
    """Average handle time: (talk + hold + wrap-up) / handled calls."""
    return _ratio(talk_seconds + hold_seconds + wrapup_seconds, handled)


# ------------------------------------------------------------ Erlang C


def erlang_b(agents: int, traffic: float) -> float:
    """Blocking probability of N servers offered A erlangs, by the recursion
    B(0) = 1, B(n) = A·B(n-1) / (n + A·B(n-1)), stable for any N."""
    if agents < 0 or traffic < 0:
        raise ValueError("agents and traffic must not be negative")
    b = 1.0
    for n in range(1, agents + 1):
        b = traffic * b / (n + traffic * b)
    return b


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a call waits (M/M/N) with N agents and A erlangs.

    C = N·B / (N - A·(1 - B)); 1 when the agents cannot keep up (N <= A).
    """
    if traffic == 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    b = erlang_b(agents, traffic)
    return agents * b / (agents - traffic * (1.0 - b))


def erlang_service_level(
    agents: int, arrival_rate: float, aht_seconds: float, threshold_seconds: float
) -> float:
    """Expected share of calls answered within T: 1 - C·exp(-(N - A)·T / AHT)."""
    traffic = arrival_rate * aht_seconds
    if traffic == 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    c = erlang_c(agents, traffic)
    return 1.0 - c * math.exp(-(agents - traffic) * threshold_seconds / aht_seconds)


def erlang_asa(agents: int, arrival_rate: float, aht_seconds: float) -> float:
    """Expected mean wait in seconds: C·AHT / (N - A) (infinite when N <= A)."""
    traffic = arrival_rate * aht_seconds
    if traffic == 0:
        return 0.0
    if agents <= traffic:
        return math.inf
    return erlang_c(agents, traffic) * aht_seconds / (agents - traffic)


def agents_needed(
    arrival_rate: float,
    aht_seconds: float,
    threshold_seconds: float,
    target: float,
    *,
    max_agents: int = 100_000,
) -> int | None:
    """Smallest number of agents whose Erlang C service level meets `target`
    (arrival rate in calls per second, AHT and T in seconds); 0 with no
    traffic; None if even `max_agents` would not do."""
    if arrival_rate < 0 or aht_seconds < 0:
        raise ValueError("arrival rate and AHT must not be negative")
    traffic = arrival_rate * aht_seconds
    if traffic == 0:
        return 0
    # Service level grows with N past A: walk up from the first stable size,
    # keeping B(N) by the recursion instead of recomputing it for every N.
    n = math.floor(traffic) + 1
    if n > max_agents:
        return None
    b = erlang_b(n, traffic)
    while n <= max_agents:
        c = n * b / (n - traffic * (1.0 - b))
        level = 1.0 - c * math.exp(-(n - traffic) * threshold_seconds / aht_seconds)
        if level >= target:
            return n
        n += 1
        b = traffic * b / (n + traffic * b)
    return None
