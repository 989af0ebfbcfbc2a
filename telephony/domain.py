"""What the telephony core tells the rest of the product.

The tracker turns AMI events into these values; the attention store, the
screen-pop hub and the metrics consume them. They are plain values with no
behaviour (`telephony.values.value`: frozen for the type checker, cheap to
build), so every consumer can be tested without Asterisk.

Times are POSIX seconds (float, UTC) as Asterisk stamps them; conversion to
datetimes happens at the edges (store, JSON output).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from enum import StrEnum

from citizen.channels import Channel
from telephony.values import value


class Outcome(StrEnum):
    """How a call ended, from the centre's point of view."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    EXIT_TIMEOUT = "exit_timeout"
    EXIT_KEY = "exit_key"
    EXIT_EMPTY = "exit_empty"
    JOIN_EMPTY = "join_empty"
    TRANSFERRED = "transferred"
    IVR_HANGUP = "ivr_hangup"
    IVR_COMPLETED = "ivr_completed"
    LOST_DURING_OUTAGE = "lost_during_outage"
    IN_PROGRESS = "in_progress"
    # A walk-in received at reception that never got a turn (the receptionist
    # cancelled it, or the reception sweep closed it): neither answered nor abandoned.
    CANCELLED = "cancelled"


class HangupSide(StrEnum):
    CALLER = "caller"
    AGENT = "agent"
    SYSTEM = "system"
    UNKNOWN = "unknown"


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    PAUSED = "paused"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    UNAVAILABLE = "unavailable"


@value
class CallKey:
    """Identity of a call: Asterisk restarts its uniqueid counters, so the
    system name is part of the key."""

    system: str
    linkedid: str


@value
class QueueLeg:
    """One stay of the call in one queue (a call transferred into another
    queue has several)."""

    queue: str
    joined_at: float
    position: int
    left_at: float | None = None
    # Outcome of this leg: answered, abandoned, exit_timeout, exit_key,
    # exit_empty, join_empty, transferred, lost_during_outage, in_progress.
    outcome: Outcome = Outcome.IN_PROGRESS
    agent: str | None = None  # member name of the agent who answered this leg
    agent_interface: str | None = None
    answered_at: float | None = None
    wait_seconds: float | None = None
    talk_seconds: float | None = None
    abandon_position: int | None = None


@value
class OutboundLeg:
    """A call the centre placed (a callback): the agent rung first, then the
    citizen. It is no queue leg: queue figures count only calls that queued."""

    queue: str  # the worklist's queue
    agent: str  # member name
    agent_interface: str
    callback_id: str
    callback_of: str  # linkedid of the call that asked for it
    answered_at: float | None = None  # when the citizen answered
    dial_status: str = ""  # app_dial's DIALSTATUS towards the citizen


@value
class CallRecord:
    """Everything known about one call; what becomes an attention."""

    key: CallKey
    caller_number: str  # as Asterisk gave it; normalisation happens in the store
    caller_name: str
    arrived_at: float
    outcome: Outcome
    hangup_side: HangupSide = HangupSide.UNKNOWN
    queue_joined_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    ivr_path: tuple[str, ...] = ()
    legs: tuple[QueueLeg, ...] = ()
    wait_seconds: float | None = None
    talk_seconds: float | None = None
    # ATIENDE_* channel variables the IVR set (topic, person, notice version...).
    variables: Mapping[str, str] = field(default_factory=dict)
    channel: str = Channel.TELEFONICO.value
    outbound: OutboundLeg | None = None

    @property
    def queues(self) -> tuple[str, ...]:
        return tuple(leg.queue for leg in self.legs)

    @property
    def agents(self) -> tuple[str, ...]:
        agents = tuple(leg.agent for leg in self.legs if leg.agent is not None)
        if self.outbound is not None and self.outbound.answered_at is not None:
            agents = (*agents, self.outbound.agent)
        return agents

    @property
    def queue(self) -> str | None:
        if self.legs:
            return self.legs[-1].queue
        return self.outbound.queue if self.outbound is not None else None

    @property
    def agent(self) -> str | None:
        answered = self.agents
        return answered[-1] if answered else None


@value
class AgentInterval:
    """A closed span of one agent in one state (what AHT and occupancy need)."""

    system: str
    interface: str
    member_name: str
    state: AgentState
    started_at: float
    ended_at: float
    reason: str | None = None  # pause reason
    queue: str | None = None  # None: the state held for every queue of the agent


# ---------------------------------------------------------------- domain events


@value
class CallArrived:
    at: float
    key: CallKey
    caller_number: str
    caller_name: str
    channel: str


@value
class IvrEntered:
    at: float
    key: CallKey


@value
class IvrLeft:
    at: float
    key: CallKey
    choices: tuple[str, ...]
    variables: Mapping[str, str]


@value
class CallQueued:
    at: float
    key: CallKey
    queue: str
    position: int
    caller_number: str
    caller_name: str


@value
class AgentRinging:
    at: float
    key: CallKey
    queue: str
    interface: str
    member_name: str
    caller_number: str
    caller_name: str
    variables: Mapping[str, str]
    wait_seconds: float


@value
class RingNoAnswer:
    at: float
    key: CallKey
    queue: str
    interface: str
    member_name: str
    ring_seconds: float


@value
class CallAnswered:
    at: float
    key: CallKey
    queue: str
    interface: str
    member_name: str
    wait_seconds: float
    outbound: bool = False  # a callback the citizen answered: no queue figure


@value
class CallTransferred:
    at: float
    key: CallKey
    queue: str
    member_name: str | None
    target: str


@value
class CallAbandoned:
    at: float
    key: CallKey
    queue: str
    wait_seconds: float
    position: int


@value
class QueueExited:
    """A queue exit other than answer or abandon (timeout, key, empty,
    join-empty)."""

    at: float
    key: CallKey
    queue: str
    outcome: Outcome
    wait_seconds: float


@value
class CallEnded:
    at: float
    record: CallRecord


@value
class AgentStateChanged:
    at: float
    system: str
    interface: str
    member_name: str
    state: AgentState
    reason: str | None
    queue: str | None
    # The span that this change closed, if the previous state was known.
    closed: AgentInterval | None


@value
class AsteriskRestarted:
    at: float
    system: str


@value
class CallbackAttemptEnded:
    """A callback call is over, answered by the citizen or not (the result
    the worklist applies, crm_bridge.callback_rules)."""

    at: float
    key: CallKey
    callback_id: str
    queue: str
    interface: str
    member_name: str
    answered: bool
    dial_status: str


DomainEvent = (
    CallArrived
    | IvrEntered
    | IvrLeft
    | CallQueued
    | AgentRinging
    | RingNoAnswer
    | CallAnswered
    | CallTransferred
    | CallAbandoned
    | QueueExited
    | CallEnded
    | AgentStateChanged
    | AsteriskRestarted
    | CallbackAttemptEnded
)
