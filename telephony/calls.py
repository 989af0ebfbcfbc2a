"""Mutable per-call state inside the tracker, and its freezing into a CallRecord.

A call is everything that shares one Linkedid: the caller's channel (the
one whose Uniqueid equals the Linkedid, whatever its technology), Local
channel halves, agent channels, channels created by transfers. It lives until
its last channel is gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from citizen.channels import Channel
from telephony.domain import CallKey, CallRecord, HangupSide, OutboundLeg, Outcome, QueueLeg

IVR_PATH_VARIABLE = "ATIENDE_IVR_PATH"


@dataclass(slots=True)
class Leg:
    queue: str
    joined_at: float
    position: int
    left_at: float | None = None
    outcome: Outcome = Outcome.IN_PROGRESS
    agent: str | None = None
    agent_interface: str | None = None
    answered_at: float | None = None
    wait_seconds: float | None = None
    talk_seconds: float | None = None
    abandon_position: int | None = None
    # QueueCallerLeave came without an answer or abandon: the exit reason is
    # settled by QUEUESTATUS or by the next thing that happens to the call.
    exit_pending: bool = False
    # QueueCallerAbandon came: app_queue sends it for a caller who hung up
    # but also, before QueueCallerLeave, for a timeout or a leave-when-empty
    # (record_abandoned). Settled by QUEUESTATUS (set after the leave) or by
    # the caller's hangup; `abandon_at` is when Asterisk said it.
    abandon_pending: bool = False
    abandon_at: float | None = None
    digits_in_queue: bool = False
    completed: bool = False
    transfer_reported: bool = False
    confirmed: bool = True

    def freeze(self) -> QueueLeg:
        return QueueLeg(
            queue=self.queue,
            joined_at=self.joined_at,
            position=self.position,
            left_at=self.left_at,
            outcome=self.outcome,
            agent=self.agent,
            agent_interface=self.agent_interface,
            answered_at=self.answered_at,
            wait_seconds=self.wait_seconds,
            talk_seconds=self.talk_seconds,
            abandon_position=self.abandon_position,
        )


@dataclass(slots=True)
class Call:
    key: CallKey
    arrived_at: float
    caller_number: str = ""
    caller_name: str = ""
    channel_kind: str = Channel.TELEFONICO.value
    channels: set[str] = field(default_factory=set)  # live Uniqueids
    announced: bool = False
    ivr_entered: bool = False
    ivr_left: bool = False
    agi_running: str | None = None  # Uniqueid running an AGI command
    digits: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    legs: list[Leg] = field(default_factory=list)
    queue_status: str | None = None  # last QUEUESTATUS not yet consumed
    hung_up_in_ivr: bool | None = None  # decided by the first hangup before queueing
    agi_status: str | None = None  # AGISTATUS of the caller's channel after AGI()
    ivr_sent_hangup: bool = False  # the IVR itself ran the AGI HANGUP command
    caller_left: bool = False  # the caller's far end hung up before any queue
    transferred_out: str | None = None  # blind transfer target after an answer
    hangup_side: HangupSide = HangupSide.UNKNOWN
    last_at: float = 0.0
    outcome: Outcome = Outcome.IN_PROGRESS
    ended_at: float | None = None
    # Resync bookkeeping: set while a resync runs, or for restored calls whose
    # channels the tracker has not seen yet.
    unconfirmed: bool = False
    # Restored from the store and not yet seen by a resync: its channels are
    # unknown, so a lone Hangup must not end it.
    restored: bool = False
    # When one of its channels last hung up: for a restored call the end the
    # resync would otherwise call unobserved.
    last_hangup_at: float | None = None
    queue_uid: str | None = None  # the channel that sits in the queue
    # Placed from an agent's phone (click-to-call, an internal call): not an
    # attention unless it goes through the IVR or a queue.
    agent_originated: bool = False
    # (interface, member name) of the agent whose phone placed it.
    originator: tuple[str, str] | None = None
    # A callback Atiende originated (ATIENDE_DIRECTION=outbound): its leg.
    outbound: OutboundLeg | None = None
    # The queue channel's far end hung up (HangupRequest) while it waited:
    # an abandon that follows is the caller's.
    queue_hangup_requested: bool = False
    ringing: set[str] = field(default_factory=set)  # member interfaces ringing for it

    @property
    def open_leg(self) -> Leg | None:
        if self.legs and self.legs[-1].left_at is None:
            return self.legs[-1]
        return None

    def ivr_choices(self) -> tuple[str, ...]:
        """The IVR's own choices (ATIENDE_IVR_PATH), never the keys pressed: those
        include the cédula and ticket numbers callers type (personal data)."""
        path = self.variables.get(IVR_PATH_VARIABLE, "")
        return tuple(part.strip() for part in path.split(",") if part.strip())

    def answered_leg(self) -> Leg | None:
        for leg in reversed(self.legs):
            if leg.answered_at is not None:
                return leg
        return None

    def record(self) -> CallRecord:
        """Freeze into a CallRecord. Call-level figures: wait is the last leg's
        (the wait that ended the call's queueing), talk is the sum over the
        legs whose talk is known, answered_at is the last answer's."""
        legs = tuple(leg.freeze() for leg in self.legs)
        answered = self.answered_leg()
        talks = [leg.talk_seconds for leg in self.legs if leg.talk_seconds is not None]
        return CallRecord(
            key=self.key,
            caller_number=self.caller_number,
            caller_name=self.caller_name,
            arrived_at=self.arrived_at,
            outcome=self.outcome,
            hangup_side=self.hangup_side,
            queue_joined_at=self.legs[0].joined_at if self.legs else None,
            answered_at=answered.answered_at if answered else None,
            ended_at=self.ended_at,
            ivr_path=self.ivr_choices(),
            legs=legs,
            wait_seconds=self.legs[-1].wait_seconds if self.legs else None,
            talk_seconds=sum(talks) if talks else None,
            variables=dict(self.variables),
            channel=self.channel_kind,
            outbound=self.outbound,
        )


def call_from_record(record: CallRecord) -> Call:
    """Rebuild tracker state for a call the store still had in progress."""
    call = Call(
        key=record.key,
        arrived_at=record.arrived_at,
        caller_number=record.caller_number,
        caller_name=record.caller_name,
        channel_kind=record.channel,
        announced=True,
        ivr_entered=bool(record.ivr_path) or bool(record.legs),
        ivr_left=bool(record.legs),
        variables=dict(record.variables),
        unconfirmed=True,
        restored=True,
        last_at=record.arrived_at,
    )
    call.digits = list(record.ivr_path)
    for leg in record.legs:
        call.legs.append(
            Leg(
                queue=leg.queue,
                joined_at=leg.joined_at,
                position=leg.position,
                left_at=leg.left_at,
                outcome=leg.outcome,
                agent=leg.agent,
                agent_interface=leg.agent_interface,
                answered_at=leg.answered_at,
                wait_seconds=leg.wait_seconds,
                talk_seconds=leg.talk_seconds,
                abandon_position=leg.abandon_position,
                completed=leg.talk_seconds is not None,
            )
        )
    return call
