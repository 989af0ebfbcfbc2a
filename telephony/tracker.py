"""The call tracker: typed AMI events in, domain events and call records out.

Pure: no sockets, no database, no asyncio, no wall clock. Time is what the
events say (their `Timestamp`), or the `at` of the stream markers for the
resync list events and FullyBooted, which carry no Timestamp.

Correlation: every channel of one Linkedid belongs to one call. The caller's
identity comes from the call's origin channel (Uniqueid == Linkedid) or from
the queue events; agents are identified by queue member Interface and
MemberName, never by channel technology.

A call ends once, when its last channel hangs up; anything that arrives later
for that Linkedid only updates agents, never the call.

Figures follow Asterisk's own (AgentConnect HoldTime, AgentComplete TalkTime,
QueueCallerAbandon HoldTime and Position) so they agree with queue_log;
timestamps are the fallback.

Queue exits (apps/app_queue.c, queue_exec, the same in Asterisk 18 to 22):
a caller who hangs up gets QueueCallerAbandon then QueueCallerLeave and no
QUEUESTATUS; a timeout (EXITWITHTIMEOUT in queue_log) and a head caller's
leave-when-empty (EXITEMPTY) also go through record_abandoned, so they too
send QueueCallerAbandon then QueueCallerLeave, and only after the leave
set_queue_result sets QUEUESTATUS (TIMEOUT, LEAVEEMPTY, LEAVEUNAVAIL). An
exit with a key sends the leave alone and sets no status. Failed joins
(JOINEMPTY, FULL, JOINUNAVAIL) set only QUEUESTATUS. So an abandon is only
taken as the caller's when the caller's side says so: a HangupRequest on the
queue channel before it (what a real hang-up sends first, in every
recording), or the queue channel hanging up with no QUEUESTATUS after the
leave; a QUEUESTATUS makes it that exit, and the channel living on (AGI,
another queue) without one makes it a timeout. A leave without answer or
abandon is settled by what happens next: an AgentConnect (Asterisk sends the
leave just before it) makes it answered, a QUEUESTATUS (set just after it)
that exit; otherwise it is an exit with a key.

Outages, restarts and resyncs (the stream markers, FullyBooted and the
resync lists) are handled by the tracker's Resync object (telephony.resync),
which works on the same calls through the same helpers.

Wrap-up ends need a clock: Asterisk sends no event for them, so the adapter
calls `tick(now)` between events.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from telephony.agents import AgentBook, AgentSnapshot
from telephony.ami.stream import (
    StreamItem,
)
from telephony.calls import Call, Leg, call_from_record
from telephony.domain import (
    AgentRinging,
    CallAbandoned,
    CallAnswered,
    CallArrived,
    CallbackAttemptEnded,
    CallEnded,
    CallKey,
    CallQueued,
    CallRecord,
    CallTransferred,
    DomainEvent,
    HangupSide,
    IvrEntered,
    IvrLeft,
    OutboundLeg,
    Outcome,
    QueueExited,
    RingNoAnswer,
)
from telephony.events import (
    AGI_STATUS_VARIABLE,
    PARSERS,
    QUEUE_STATUS_VARIABLE,
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    AgiExecEnd,
    AgiExecStart,
    AmiEvent,
    AttendedTransfer,
    BadEventValue,
    BlindTransfer,
    CoreShowChannel,
    CoreShowChannelsComplete,
    DtmfEnd,
    FullyBooted,
    Hangup,
    HangupRequest,
    NewCallerId,
    NewChannel,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueEntry,
    QueueMember,
    QueueMemberChange,
    QueueParams,
    QueueStatusComplete,
    VarSet,
    parse_errors,
)
from telephony.queue_log import QueueLogCall
from telephony.resync import Resync

log = logging.getLogger(__name__)

# The variables of a callback Atiende originates (agent_api.callbacks sets
# the first five on the Originate; the dialplan the last two).
_CALLBACK_PREFIX = "ATIENDE_"
DIRECTION_VARIABLE = "ATIENDE_DIRECTION"
CALLBACK_ID_VARIABLE = "ATIENDE_CALLBACK_ID"
CALLBACK_OF_VARIABLE = "ATIENDE_CALLBACK_OF"
CALLBACK_QUEUE_VARIABLE = "ATIENDE_CALLBACK_QUEUE"
CALLBACK_NUMBER_VARIABLE = "ATIENDE_CALLBACK_NUMBER"
CALLBACK_ANSWERED_VARIABLE = "ATIENDE_CALLBACK_ANSWERED"
CALLBACK_RESULT_VARIABLE = "ATIENDE_CALLBACK_RESULT"


def _public_variables(variables: Mapping[str, str]) -> dict[str, str]:
    """The call's variables without the number dialled (it is the record's
    caller number; stored twice it would escape an erasure of that column)."""
    return {k: v for k, v in variables.items() if k != CALLBACK_NUMBER_VARIABLE}


# QUEUESTATUS values, by what they mean for the call.
_LEAVE_STATUS = {
    "TIMEOUT": Outcome.EXIT_TIMEOUT,
    "LEAVEEMPTY": Outcome.EXIT_EMPTY,
    "LEAVEUNAVAIL": Outcome.EXIT_EMPTY,
}
_JOIN_FAILED = frozenset({"JOINEMPTY", "FULL", "JOINUNAVAIL"})

_parser_for = PARSERS.get

_LIST_EVENTS = frozenset(
    {
        "CoreShowChannel",
        "CoreShowChannelsComplete",
        "QueueParams",
        "QueueMember",
        "QueueEntry",
        "QueueStatusComplete",
    }
)

# How many ended Linkedids to remember so late events never reopen a call.
_ENDED_MEMORY = 100_000


class CallTracker:
    """State of one Asterisk system's calls, queues and agents."""

    def __init__(self, system: str, *, wrapup_seconds: Mapping[str, float] | None = None) -> None:
        self._system = system
        self._calls: dict[str, Call] = {}
        self._channels: dict[str, str] = {}  # live Uniqueid -> Linkedid
        self._ended: set[str] = set()
        self._ended_order: deque[str] = deque()
        self._book = AgentBook(system, dict(wrapup_seconds or {}))
        self._last_ts: float | None = None
        self.service_levels: dict[str, int] = {}
        # Outages, restarts and resyncs: their own object (telephony.resync),
        # which works on this tracker's calls and agents.
        self._resync = Resync(self)
        self._handlers: dict[type[Any], Callable[[Any], list[DomainEvent]]] = {
            NewChannel: self._on_new_channel,
            NewCallerId: self._on_new_callerid,
            Hangup: self._on_hangup,
            HangupRequest: self._on_hangup_request,
            AgiExecStart: self._on_agi_start,
            AgiExecEnd: self._on_agi_end,
            DtmfEnd: self._on_dtmf,
            VarSet: self._on_varset,
            BlindTransfer: self._on_blind_transfer,
            AttendedTransfer: self._on_attended_transfer,
            QueueCallerJoin: self._on_join,
            QueueCallerLeave: self._on_leave,
            QueueCallerAbandon: self._on_abandon,
            AgentCalled: self._on_agent_called,
            AgentRingNoAnswer: self._on_ring_no_answer,
            AgentConnect: self._on_connect,
            AgentComplete: self._on_complete,
            QueueMemberChange: self._on_member_change,
            FullyBooted: self._resync.fully_booted,
            CoreShowChannel: self._resync.core_show_channel,
            QueueEntry: self._resync.queue_entry,
            QueueMember: self._resync.queue_member,
            QueueParams: self._resync.queue_params,
            CoreShowChannelsComplete: _nothing,
            QueueStatusComplete: self._resync.queue_status_complete,
        }

    # ------------------------------------------------------------ public API

    def feed(self, item: StreamItem) -> list[DomainEvent]:
        """One item of the AMI stream: a header mapping or a stream marker."""
        if type(item) is dict:
            # The hot path: most events are unused and cost this one lookup.
            parser = _parser_for(item.get("Event", ""))
            if parser is None:
                return []
            try:
                event = parser(item)
            except BadEventValue:
                parse_errors[item["Event"]] += 1
                return []
            if event is None:
                return []
            if self._resync.active and item["Event"] not in _LIST_EVENTS:
                linkedid = item.get("Linkedid")
                if linkedid:
                    self._resync.touched.add(linkedid)
            return self._handlers[type(event)](event)
        return self._resync.marker(item)  # type: ignore[arg-type]

    def handle(self, event: AmiEvent) -> list[DomainEvent]:
        """One already-typed event (what `feed` does after parsing)."""
        return self._handlers[type(event)](event)

    def tick(self, now: float) -> list[DomainEvent]:
        """The clock between events (`now` on Asterisk's clock): wrap-ups due
        by then end, at their own deadline. Asterisk sends no event when a
        wrap-up ends, so only a tick ends it on time in a quiet period."""
        if now >= self._book.next_deadline:
            return list(self._book.expire(now))
        return []

    def queue_log_facts(self, facts: Mapping[str, QueueLogCall]) -> None:
        """What queue_log says (telephony.queue_log), for the resync under
        way: calls it finds over or answered unseen take their figures from
        it instead of bounds."""
        self._resync.queue_log = dict(facts)

    def restore(self, records: Iterable[CallRecord]) -> None:
        """Calls the store still had in progress when the bridge stopped.

        They stay until a resync says whether their channels still exist.
        """
        for record in records:
            linkedid = record.key.linkedid
            if linkedid in self._calls or linkedid in self._ended:
                continue
            self._calls[linkedid] = call_from_record(record)

    def resume_after_restart(self, seen_until: float, ended_since: Iterable[str]) -> None:
        """What the store had when the bridge (re)started: the newest moment it
        recorded and the calls it has as over from about then. The first
        resync rebuilds from queue_log the queued calls that began after that
        moment and are not among those (they began and ended while no bridge
        ran, or their end never reached the store)."""
        self._resync.store_seen_until = seen_until
        for linkedid in ended_since:
            if linkedid not in self._calls and linkedid not in self._ended:
                self._forget_ended(linkedid)

    def calls_in_progress(self) -> list[CallRecord]:
        """Snapshot records (outcome in_progress) of every call not ended yet
        (agents' own calls aside: they are no attentions)."""
        return [call.record() for call in self._calls.values() if not call.agent_originated]

    def record_of(self, key: CallKey) -> CallRecord | None:
        """Snapshot of one call still in progress (None once ended or unknown);
        O(1), unlike scanning calls_in_progress()."""
        call = self._calls.get(key.linkedid)
        if call is None or call.key != key or call.agent_originated:
            return None
        return call.record()

    def finish(self) -> list[CallRecord]:
        """End of a capture: the records of calls still up (outcome in_progress)."""
        return self.calls_in_progress()

    def agents(self) -> list[AgentSnapshot]:
        """Every queue member seen, with its current state and since when."""
        return self._book.snapshot()

    # ------------------------------------------------------------ internals

    def _tick(self, ts: float, out: list[DomainEvent]) -> None:
        self._last_ts = ts
        if ts >= self._book.next_deadline:
            out.extend(self._book.expire(ts))

    def _call(self, linkedid: str, uniqueid: str, ts: float, out: list[DomainEvent]) -> Call | None:
        """The live call of `linkedid`, created if an event shows it mid-way."""
        call = self._calls.get(linkedid)
        if call is None:
            if linkedid in self._ended or not linkedid:
                return None
            call = Call(CallKey(self._system, linkedid), ts, last_at=ts)
            self._calls[linkedid] = call
        if uniqueid and uniqueid not in call.channels:
            call.channels.add(uniqueid)
            self._channels[uniqueid] = linkedid
            if self._resync.active:
                # Events keep flowing during a resync: a channel they show is
                # newer than the list, so the list's silence says nothing of it.
                self._resync.seen_channels.add(uniqueid)
        call.last_at = ts
        return call

    def _announce(self, call: Call, at: float, out: list[DomainEvent]) -> None:
        if not call.announced and not call.agent_originated:
            call.announced = True
            out.append(
                CallArrived(at, call.key, call.caller_number, call.caller_name, call.channel_kind)
            )

    def _leave_ivr(self, call: Call, at: float, out: list[DomainEvent]) -> None:
        if call.ivr_entered and not call.ivr_left:
            call.ivr_left = True
            out.append(IvrLeft(at, call.key, call.ivr_choices(), dict(call.variables)))

    def _settle_exit(self, call: Call, out: list[DomainEvent], status: str | None = None) -> None:
        """Decide the exit reason of a leg Asterisk left without answer or abandon."""
        if not call.legs:
            return
        leg = call.legs[-1]
        if not leg.exit_pending:
            return
        leg.exit_pending = False
        outcome = _LEAVE_STATUS.get(status or "", Outcome.EXIT_KEY)
        left = leg.left_at if leg.left_at is not None else call.last_at
        self._stop_ringing(call, left, out)
        leg.outcome = outcome
        leg.wait_seconds = max(0.0, left - leg.joined_at)
        call.hangup_side = HangupSide.SYSTEM
        out.append(QueueExited(left, call.key, leg.queue, outcome, leg.wait_seconds))

    def _settle_abandon(
        self, call: Call, out: list[DomainEvent], status: str | None = None
    ) -> None:
        """Decide a QueueCallerAbandon: the caller's hang-up, or (with a
        QUEUESTATUS, or the channel living on: status "") the queue's exit."""
        if not call.legs:
            return
        leg = call.legs[-1]
        if not leg.abandon_pending:
            return
        leg.abandon_pending = False
        leg.exit_pending = False
        at = leg.abandon_at if leg.abandon_at is not None else call.last_at
        if leg.left_at is None:
            leg.left_at = at
        wait = leg.wait_seconds if leg.wait_seconds is not None else max(0.0, at - leg.joined_at)
        leg.wait_seconds = wait
        if status is None:
            leg.outcome = Outcome.ABANDONED
            call.hangup_side = HangupSide.CALLER
            position = leg.abandon_position if leg.abandon_position is not None else leg.position
            out.append(CallAbandoned(at, call.key, leg.queue, wait, position))
            return
        # record_abandoned without a hang-up: the queue let the caller go.
        leg.outcome = _LEAVE_STATUS.get(status, Outcome.EXIT_TIMEOUT)
        leg.abandon_position = None
        call.hangup_side = HangupSide.SYSTEM
        out.append(QueueExited(at, call.key, leg.queue, leg.outcome, wait))

    def _stop_ringing(
        self, call: Call, at: float, out: list[DomainEvent], keep: str | None = None
    ) -> None:
        for interface in call.ringing:
            if interface != keep:
                out.extend(self._book.stop_ringing(at, interface))
        call.ringing.clear()

    def _leg_for(self, call: Call, queue: str) -> Leg | None:
        for leg in reversed(call.legs):
            if leg.queue == queue:
                return leg
        return None

    def _forget_ended(self, linkedid: str) -> None:
        self._ended.add(linkedid)
        self._ended_order.append(linkedid)
        if len(self._ended_order) > _ENDED_MEMORY:
            self._ended.discard(self._ended_order.popleft())

    def _end(
        self,
        call: Call,
        at: float,
        out: list[DomainEvent],
        forced: Outcome | None = None,
    ) -> None:
        linkedid = call.key.linkedid
        if call.agent_originated and not call.legs and not call.ivr_entered:
            # An agent's own call (click-to-call): over, and no attention.
            # A callback Atiende placed is one when the citizen answered.
            for uniqueid in call.channels:
                self._channels.pop(uniqueid, None)
            call.channels.clear()
            del self._calls[linkedid]
            self._forget_ended(linkedid)
            if call.outbound is not None:
                out.extend(self._end_callback(call, call.outbound, at))
            return
        self._announce(call, call.arrived_at, out)
        self._stop_ringing(call, at, out)
        # Gone with an abandon still open and no QUEUESTATUS: the caller hung up.
        self._settle_abandon(call, out)
        if forced is None:
            self._settle_exit(call, out)
        if call.legs:
            leg = call.legs[-1]
            if forced is not None:
                if leg.outcome is Outcome.IN_PROGRESS or (
                    leg.answered_at is not None and not leg.completed
                ):
                    leg.outcome = forced
            elif leg.outcome is Outcome.IN_PROGRESS:
                if leg.answered_at is not None:
                    leg.outcome = Outcome.ANSWERED
                else:
                    # Gone from the queue with no abandon event: the caller left.
                    leg.outcome = Outcome.ABANDONED
                    leg.wait_seconds = max(0.0, at - leg.joined_at)
                    leg.abandon_position = leg.position
                    call.hangup_side = HangupSide.CALLER
                    out.append(
                        CallAbandoned(at, call.key, leg.queue, leg.wait_seconds, leg.position)
                    )
            if leg.answered_at is not None and not leg.completed and forced is None:
                # No AgentComplete seen: the talk lasted at least until now.
                leg.talk_seconds = max(0.0, at - leg.answered_at)
                leg.completed = True
            if leg.left_at is None:
                leg.left_at = at
            outcome = forced or leg.outcome
            if outcome is Outcome.ANSWERED and call.transferred_out is not None:
                outcome = Outcome.TRANSFERRED
        elif forced is not None:
            outcome = forced
        else:
            self._leave_ivr(call, at, out)
            if call.hung_up_in_ivr is False:
                outcome = Outcome.IVR_COMPLETED
                if call.hangup_side is HangupSide.UNKNOWN:
                    call.hangup_side = HangupSide.SYSTEM
            else:
                outcome = Outcome.IVR_HANGUP
                call.hangup_side = HangupSide.CALLER
        call.outcome = outcome
        call.ended_at = at
        for uniqueid in call.channels:
            self._channels.pop(uniqueid, None)
        call.channels.clear()
        del self._calls[linkedid]
        self._forget_ended(linkedid)
        out.append(CallEnded(at, call.record()))

    # ----------------------------------------------------------- call events

    def _on_new_channel(self, ev: NewChannel) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        self._tick(ev.ts, out)
        call = self._call(ev.linkedid, ev.uniqueid, ev.ts, out)
        if call is None:
            return out
        if ev.uniqueid == ev.linkedid:
            member = None if call.announced else self._book.member_for_channel(ev.channel)
            if member is not None:
                call.agent_originated = True
                call.originator = member
            if ev.caller_number:
                call.caller_number = ev.caller_number
            if ev.caller_name:
                call.caller_name = ev.caller_name
            if call.caller_number:
                self._announce(call, ev.ts, out)
        return out

    def _on_new_callerid(self, ev: NewCallerId) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        self._tick(ev.ts, out)
        call = self._call(ev.linkedid, ev.uniqueid, ev.ts, out)
        if call is None or ev.uniqueid != ev.linkedid:
            return out
        call.caller_number = ev.caller_number or call.caller_number
        call.caller_name = ev.caller_name or call.caller_name
        if call.caller_number:
            self._announce(call, ev.ts, out)
        return out

    def _on_hangup(self, ev: Hangup) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        self._tick(ev.ts, out)
        self._channels.pop(ev.uniqueid, None)
        if self._resync.active:
            self._resync.gone.add(ev.uniqueid)
        call = self._calls.get(ev.linkedid)
        if call is None:
            return out
        call.last_at = ev.ts
        self._announce(call, call.arrived_at, out)
        if ev.uniqueid == call.queue_uid:
            self._settle_abandon(call, out)
        self._settle_exit(call, out)
        if not call.legs and call.hung_up_in_ivr is None:
            # The first hangup before any queue tells how the IVR ended. AGI()
            # leaves AGISTATUS=HANGUP on the caller's channel when it hung up
            # during the IVR (the caller left, unless the IVR hung up itself);
            # a single-channel caller (PJSIP) has no earlier hangup to go by.
            # Without it: a hangup during an AGI command is the caller
            # leaving; between commands or after the IVR it is the dialplan.
            if call.caller_left:
                call.hung_up_in_ivr = True
            elif call.ivr_sent_hangup or call.agi_status is not None:
                call.hung_up_in_ivr = call.agi_status == "HANGUP" and not call.ivr_sent_hangup
                if not call.hung_up_in_ivr:
                    self._leave_ivr(call, ev.ts, out)
            elif call.ivr_entered and not call.ivr_left and call.agi_running is None:
                call.hung_up_in_ivr = False
                self._leave_ivr(call, ev.ts, out)
            else:
                call.hung_up_in_ivr = not call.ivr_left or not call.ivr_entered
        call.channels.discard(ev.uniqueid)
        call.last_hangup_at = ev.ts
        if not call.channels and not call.restored:
            self._end(call, ev.ts, out)
        return out

    def _on_hangup_request(self, ev: HangupRequest) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        self._tick(ev.ts, out)
        call = self._calls.get(ev.linkedid)
        if call is not None and ev.uniqueid == call.queue_uid and call.open_leg is not None:
            call.queue_hangup_requested = True
        # The caller's own channel, hung up from its far end before any queue
        # and before the IVR hung up: the caller left the IVR (even if the IVR,
        # not yet aware, sends its own HANGUP afterwards).
        if (
            call is not None
            and ev.uniqueid == ev.linkedid
            and not call.legs
            and not call.ivr_sent_hangup
            and call.hung_up_in_ivr is None
        ):
            call.caller_left = True
        return out

    def _on_agi_start(self, ev: AgiExecStart) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        self._tick(ev.ts, out)
        call = self._call(ev.linkedid, ev.uniqueid, ev.ts, out)
        if call is None:
            return out
        call.agent_originated = False  # through the IVR: an attention
        self._announce(call, ev.ts, out)
        if ev.uniqueid == call.queue_uid:
            self._settle_abandon(call, out, "")
        self._settle_exit(call, out)
        if not call.ivr_entered and not call.legs:
            call.ivr_entered = True
            out.append(IvrEntered(ev.ts, call.key))
        call.agi_running = ev.uniqueid
        if ev.command[:6].upper() == "HANGUP":
            call.ivr_sent_hangup = True
        return out

    def _on_agi_end(self, ev: AgiExecEnd) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        self._tick(ev.ts, out)
        call = self._calls.get(ev.linkedid)
        if call is not None and call.agi_running == ev.uniqueid:
            call.agi_running = None
        return out

    def _on_dtmf(self, ev: DtmfEnd) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        self._tick(ev.ts, out)
        if not ev.received:
            return out
        call = self._calls.get(ev.linkedid)
        if call is None:
            return out
        if call.agi_running == ev.uniqueid and not call.ivr_left:
            call.digits.append(ev.digit)
        leg = call.open_leg
        if leg is not None and call.queue_uid == ev.uniqueid:
            leg.digits_in_queue = True
        return out

    def _on_varset(self, ev: VarSet) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        self._tick(ev.ts, out)
        call = self._calls.get(ev.linkedid)
        if call is None:
            return out
        if ev.variable == AGI_STATUS_VARIABLE:
            if ev.uniqueid == ev.linkedid:
                call.agi_status = ev.value
            return out
        if ev.variable != QUEUE_STATUS_VARIABLE:
            call.variables[ev.variable] = ev.value
            if call.agent_originated and ev.variable.startswith(_CALLBACK_PREFIX):
                self._callback_step(call, ev, out)
            return out
        status = ev.value
        if call.legs and call.legs[-1].abandon_pending:
            self._settle_abandon(call, out, status if status in _LEAVE_STATUS else None)
        elif call.legs and call.legs[-1].exit_pending:
            self._settle_exit(call, out, status)
        elif status in _JOIN_FAILED and call.open_leg is None:
            self._announce(call, ev.ts, out)
            self._leave_ivr(call, ev.ts, out)
            # Queue() never joined, so no event names the queue: the IVR's
            # choice is the best name there is.
            queue = call.variables.get("ATIENDE_QUEUE", "")
            call.legs.append(
                Leg(
                    queue,
                    ev.ts,
                    0,
                    left_at=ev.ts,
                    outcome=Outcome.JOIN_EMPTY,
                    wait_seconds=0.0,
                )
            )
            call.hangup_side = HangupSide.SYSTEM
            out.append(QueueExited(ev.ts, call.key, queue, Outcome.JOIN_EMPTY, 0.0))
        elif status in _LEAVE_STATUS:
            call.queue_status = status
        return out

    def _callback_step(self, call: Call, ev: VarSet, out: list[DomainEvent]) -> None:
        """A callback Atiende originated from an agent's phone (the Originate's
        variables, then what deploy/asterisk/extensions.conf's
        [atiende-callback] sets): the agent's phone rings with the citizen's
        pop, the citizen's answer is the call's answer, DIALSTATUS the result."""
        variables = call.variables
        if variables.get(DIRECTION_VARIABLE) != "outbound" or call.originator is None:
            return
        outbound = call.outbound
        if outbound is None:
            callback_id = variables.get(CALLBACK_ID_VARIABLE, "")
            queue = variables.get(CALLBACK_QUEUE_VARIABLE, "")
            number = variables.get(CALLBACK_NUMBER_VARIABLE, "")
            if not (callback_id and queue and number):
                return  # the Originate's other variables are still coming
            interface, member = call.originator
            call.caller_number = number
            call.caller_name = ""
            call.outbound = OutboundLeg(
                queue=queue,
                agent=member,
                agent_interface=interface,
                callback_id=callback_id,
                callback_of=variables.get(CALLBACK_OF_VARIABLE, ""),
            )
            out.append(
                AgentRinging(
                    ev.ts,
                    call.key,
                    queue,
                    interface,
                    member,
                    number,
                    "",
                    _public_variables(variables),
                    0.0,
                )
            )
            return
        if ev.variable == CALLBACK_ANSWERED_VARIABLE and outbound.answered_at is None:
            call.outbound = replace(outbound, answered_at=ev.ts)
            out.append(
                CallAnswered(
                    ev.ts,
                    call.key,
                    outbound.queue,
                    outbound.agent_interface,
                    outbound.agent,
                    0.0,
                    outbound=True,
                )
            )
        elif ev.variable == CALLBACK_RESULT_VARIABLE:
            call.outbound = replace(outbound, dial_status=ev.value.strip().upper()[:16])

    def _end_callback(self, call: Call, outbound: OutboundLeg, at: float) -> list[DomainEvent]:
        """The attempt's result, and for an answered one the outbound attention."""
        answered = outbound.answered_at is not None
        out: list[DomainEvent] = [
            CallbackAttemptEnded(
                at,
                call.key,
                outbound.callback_id,
                outbound.queue,
                outbound.agent_interface,
                outbound.agent,
                answered,
                outbound.dial_status,
            )
        ]
        if outbound.answered_at is None:
            return out
        call.variables = _public_variables(call.variables)
        call.outcome = Outcome.ANSWERED
        call.ended_at = at
        record = replace(
            call.record(),
            answered_at=outbound.answered_at,
            talk_seconds=max(0.0, at - outbound.answered_at),
        )
        out.append(CallEnded(at, record))
        return out

    def _on_blind_transfer(self, ev: BlindTransfer) -> list[DomainEvent]:
        target = f"{ev.extension}@{ev.context}" if ev.context else ev.extension
        return self._transferred(ev.ts, ev.transferee_linkedid, target, ev.result)

    def _on_attended_transfer(self, ev: AttendedTransfer) -> list[DomainEvent]:
        return self._transferred(ev.ts, ev.transferee_linkedid, ev.target, ev.result)

    def _transferred(self, ts: float, linkedid: str, target: str, result: str) -> list[DomainEvent]:
        """The caller was handed to someone else after an agent answered."""
        out: list[DomainEvent] = []
        self._tick(ts, out)
        if result not in ("", "Success"):
            return out
        call = self._calls.get(linkedid)
        if call is None:
            return out
        call.transferred_out = target
        leg = call.answered_leg()
        if leg is not None and not leg.transfer_reported:
            leg.transfer_reported = True
            leg.outcome = Outcome.TRANSFERRED
            out.append(CallTransferred(ts, call.key, leg.queue, leg.agent, target))
        return out

    # ---------------------------------------------------------- queue events

    def _on_join(self, ev: QueueCallerJoin) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        self._tick(ev.ts, out)
        call = self._call(ev.linkedid, ev.uniqueid, ev.ts, out)
        if call is None:
            return out
        if not call.caller_number and ev.caller_number:
            call.caller_number = ev.caller_number
        if not call.caller_name and ev.caller_name:
            call.caller_name = ev.caller_name
        call.agent_originated = False  # into a queue: an attention
        self._announce(call, ev.ts, out)
        self._settle_abandon(call, out, "")
        self._settle_exit(call, out)
        self._leave_ivr(call, ev.ts, out)
        if call.legs:
            prev = call.legs[-1]
            if prev.left_at is None or (
                prev.answered_at is not None and not prev.transfer_reported
            ):
                # Moved into another queue (Redirect, transfer): one call, a new leg.
                if prev.left_at is None:
                    prev.left_at = ev.ts
                    prev.wait_seconds = max(0.0, ev.ts - prev.joined_at)
                if prev.answered_at is not None and not prev.completed:
                    prev.talk_seconds = max(0.0, ev.ts - prev.answered_at)
                    prev.completed = True
                prev.outcome = Outcome.TRANSFERRED
                prev.transfer_reported = True
                out.append(CallTransferred(ev.ts, call.key, prev.queue, prev.agent, ev.queue))
        call.legs.append(Leg(ev.queue, ev.ts, ev.position))
        if self._resync.active:
            self._resync.waiting_seen.add(call.key.linkedid)
        call.queue_uid = ev.uniqueid
        call.queue_status = None
        call.queue_hangup_requested = False
        call.transferred_out = None
        out.append(
            CallQueued(ev.ts, call.key, ev.queue, ev.position, call.caller_number, call.caller_name)
        )
        return out

    def _on_leave(self, ev: QueueCallerLeave) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        self._tick(ev.ts, out)
        call = self._calls.get(ev.linkedid)
        if call is None:
            return out
        last = call.legs[-1] if call.legs else None
        if last is not None and last.abandon_pending and last.queue == ev.queue:
            last.left_at = ev.ts
            return out
        leg = call.open_leg
        if leg is None or leg.queue != ev.queue:
            return out
        leg.left_at = ev.ts
        if leg.answered_at is not None:
            return out
        leg.exit_pending = True
        status = call.queue_status
        call.queue_status = None
        if status is not None:
            self._settle_exit(call, out, status)
        return out

    def _on_abandon(self, ev: QueueCallerAbandon) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        self._tick(ev.ts, out)
        call = self._call(ev.linkedid, ev.uniqueid, ev.ts, out)
        if call is None:
            return out
        self._announce(call, ev.ts, out)
        leg = call.open_leg
        if leg is None or leg.queue != ev.queue:
            joined = ev.ts - (ev.hold_time or 0.0)
            leg = Leg(ev.queue, joined, ev.original_position or ev.position)
            call.legs.append(leg)
        wait = ev.hold_time if ev.hold_time is not None else max(0.0, ev.ts - leg.joined_at)
        leg.wait_seconds = wait
        leg.abandon_position = ev.position
        leg.abandon_pending = True
        leg.abandon_at = ev.ts
        self._stop_ringing(call, ev.ts, out)
        if call.queue_hangup_requested:
            # The caller's side hung up first: no need to wait for the leave.
            self._settle_abandon(call, out)
        return out

    def _on_agent_called(self, ev: AgentCalled) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        self._tick(ev.ts, out)
        out.extend(self._book.called(ev.ts, ev.queue, ev.interface, ev.member_name))
        call = self._call(ev.linkedid, ev.uniqueid, ev.ts, out)
        if call is None:
            return out
        self._announce(call, ev.ts, out)
        call.ringing.add(ev.interface)
        leg = call.open_leg
        wait = max(0.0, ev.ts - leg.joined_at) if leg is not None else 0.0
        out.append(
            AgentRinging(
                ev.ts,
                call.key,
                ev.queue,
                ev.interface,
                ev.member_name,
                call.caller_number,
                call.caller_name,
                dict(call.variables),
                wait,
            )
        )
        return out

    def _on_ring_no_answer(self, ev: AgentRingNoAnswer) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        self._tick(ev.ts, out)
        out.extend(self._book.ring_no_answer(ev.ts, ev.queue, ev.interface, ev.member_name))
        call = self._calls.get(ev.linkedid)
        if call is None:
            return out
        call.ringing.discard(ev.interface)
        out.append(
            RingNoAnswer(
                ev.ts,
                call.key,
                ev.queue,
                ev.interface,
                ev.member_name,
                ev.ring_seconds if ev.ring_seconds is not None else 0.0,
            )
        )
        return out

    def _on_connect(self, ev: AgentConnect) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        self._tick(ev.ts, out)
        out.extend(self._book.connected(ev.ts, ev.queue, ev.interface, ev.member_name))
        call = self._call(ev.linkedid, ev.uniqueid, ev.ts, out)
        if call is None:
            return out
        self._announce(call, ev.ts, out)
        self._stop_ringing(call, ev.ts, out, keep=ev.interface)
        leg = self._leg_for(call, ev.queue)
        if (
            leg is None
            or leg.answered_at is not None
            or (leg.left_at is not None and not leg.exit_pending)
        ):
            joined = ev.ts - (ev.hold_time or 0.0)
            leg = Leg(ev.queue, joined, 0)
            call.legs.append(leg)
        leg.exit_pending = False
        if leg.left_at is None:
            leg.left_at = ev.ts
        leg.outcome = Outcome.ANSWERED
        leg.agent = ev.member_name or ev.interface
        leg.agent_interface = ev.interface
        leg.answered_at = ev.ts
        wait = ev.hold_time if ev.hold_time is not None else max(0.0, ev.ts - leg.joined_at)
        leg.wait_seconds = wait
        out.append(CallAnswered(ev.ts, call.key, ev.queue, ev.interface, leg.agent, wait))
        return out

    def _on_complete(self, ev: AgentComplete) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        self._tick(ev.ts, out)
        out.extend(self._book.completed(ev.ts, ev.queue, ev.interface, ev.member_name))
        call = self._calls.get(ev.linkedid)
        if call is None:
            return out
        leg = call.answered_leg()
        if leg is None or leg.completed:
            return out
        leg.completed = True
        if ev.talk_time is not None:
            leg.talk_seconds = ev.talk_time
        elif leg.answered_at is not None:
            leg.talk_seconds = max(0.0, ev.ts - leg.answered_at)
        if ev.reason == "agent":
            call.hangup_side = HangupSide.AGENT
        elif ev.reason == "caller":
            call.hangup_side = HangupSide.CALLER
        elif ev.reason == "transfer":
            leg.outcome = Outcome.TRANSFERRED
            if not leg.transfer_reported:
                leg.transfer_reported = True
                out.append(CallTransferred(ev.ts, call.key, leg.queue, leg.agent, ""))
        return out

    def _on_member_change(self, ev: QueueMemberChange) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        self._tick(ev.ts, out)
        out.extend(
            self._book.member_change(
                ev.ts,
                ev.kind,
                ev.queue,
                ev.interface,
                ev.member_name,
                paused=ev.paused,
                paused_reason=ev.paused_reason,
                status=ev.status,
            )
        )
        return out


def _nothing(_event: object) -> list[DomainEvent]:
    return []
