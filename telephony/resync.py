"""Outages, restarts and resyncs of a CallTracker (pure, like the tracker).

The tracker follows calls from live events; this object handles what comes
around them: the stream markers (Connected, Disconnected, ResyncStarted,
ResyncFinished), FullyBooted, and the resync lists (CoreShowChannel,
QueueEntry, QueueMember, QueueParams). It works on its tracker's calls and
agents through the tracker's own helpers, so a call still ends one way.

Disconnected ends nothing. Between ResyncStarted and ResyncFinished the list
entries confirm or create channels, calls, queue legs and members; live
events keep flowing meanwhile and win over the lists for the calls they
mention (the lists may be older). At ResyncFinished a channel nobody listed
is gone; a call with no channel left is over: answered calls stay answered,
their talk time bounded below by the last event seen before the drop
(Asterisk's clock); any other call ends `lost_during_outage`. A FullyBooted
whose boot time (marker `at` - Uptime) moved since the previous session
means Asterisk restarted: the same rule ends every call at once. Calls
restored from the store are kept until the first resync; one it does not
list ends `lost_during_outage` unless its hangups arrived meanwhile, or it
had been answered: the answer stands, its talk time unknown (nothing bounds
it) and its end the last moment on record.

What Asterisk still knows refines these ends: an answered call ends at its
agent's LastCall (QueueStatus) when that follows the answer; a leg found
answered in a bridge is answered when the agent's channel appeared
(CoreShowChannel Duration), its wait bounded by the caller's arrival; and
with queue_log's facts (`queue_log`, set by the adapter through the
tracker) a call closed unseen takes Asterisk's own answer, wait, talk, side
or exit.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from telephony.ami.stream import Connected, Disconnected, ResyncFinished, ResyncStarted
from telephony.calls import Call, Leg
from telephony.domain import (
    AsteriskRestarted,
    CallAbandoned,
    CallKey,
    CallQueued,
    DomainEvent,
    HangupSide,
    IvrEntered,
    Outcome,
    QueueExited,
)
from telephony.events import (
    CoreShowChannel,
    FullyBooted,
    QueueEntry,
    QueueMember,
    QueueParams,
    QueueStatusComplete,
)
from telephony.queue_log import QueueLogCall

if TYPE_CHECKING:
    from telephony.tracker import CallTracker

log = logging.getLogger(__name__)

# Uptime is whole seconds and the marker's clock is the bridge's: a boot time
# that moved by less than this is the same Asterisk run.
_RESTART_TOLERANCE = 5.0


class Resync:
    """The outage and resync state of one tracker."""

    def __init__(self, tracker: CallTracker) -> None:
        self._t = tracker
        self.connected_at: float | None = None
        self._disconnected_at: float | None = None
        # After a restart of the bridge: the newest moment the store had
        # recorded (set once by the adapter), so the first resync can rebuild
        # from queue_log the queued calls that began and ended while no
        # bridge ran, without writing again an old call of the file's tail.
        self.store_seen_until: float | None = None
        self._boot_time: float | None = None
        self.active = False  # between ResyncStarted and ResyncFinished
        self._resync_at: float | None = None
        self.seen_channels: set[str] = set()
        # During a resync: channel names per bridge, and queue legs found
        # answered in a bridge whose agent the list does not name.
        self._bridges: dict[str, list[str]] = {}
        self._bridged_legs: list[tuple[Leg, str, str]] = []
        # Whether this resync included a complete QueueStatus list, and the
        # calls it showed waiting: only then can its silence mean "gone".
        self._queue_status_listed = False
        self.waiting_seen: set[str] = set()
        # Calls that live events mentioned during the resync: the lists were
        # taken at some moment inside it, so for these calls the events are
        # as new or newer and the lists only confirm their channels.
        self.touched: set[str] = set()
        self.gone: set[str] = set()  # Uniqueids hung up during the resync
        # What Asterisk still knows of calls the bridge did not see end or be
        # answered: each member's LastCall and each channel's age (from the
        # resync lists), and queue_log's facts when the file is readable.
        self._last_calls: dict[str, float] = {}
        self._channel_ages: dict[str, float] = {}
        self.queue_log: dict[str, QueueLogCall] = {}

    def _now(self, marker_at: float | None = None) -> float:
        if marker_at is not None:
            return marker_at
        if self._t._last_ts is not None:
            return self._t._last_ts
        return self.connected_at or 0.0

    def marker(
        self, marker: Connected | Disconnected | ResyncStarted | ResyncFinished
    ) -> list[DomainEvent]:
        t = self._t
        if isinstance(marker, Connected):
            self.connected_at = marker.at
            return []
        if isinstance(marker, Disconnected):
            # The end of what the bridge saw, on Asterisk's clock (event
            # Timestamps) so talk times never mix it with the bridge's clock;
            # the marker's own time only when no event was seen at all.
            self._disconnected_at = t._last_ts if t._last_ts is not None else marker.at
            for call in t._calls.values():
                call.unconfirmed = True
            return []
        if isinstance(marker, ResyncStarted):
            self.active = True
            self._resync_at = marker.at
            self.seen_channels = set()
            self._bridges = {}
            self._bridged_legs = []
            self._queue_status_listed = False
            self.waiting_seen = set()
            self.touched = set()
            self.gone = set()
            self._last_calls = {}
            self._channel_ages = {}
            for call in t._calls.values():
                call.unconfirmed = True
            t._book.resync_started()
            return []
        return self._resync_finished(marker.at)

    def _lost_end_time(self, call: Call, at: float) -> float:
        if self._disconnected_at is not None:
            return max(self._disconnected_at, call.arrived_at)
        return max(call.last_at, call.arrived_at)

    def _name_bridged_agents(self) -> None:
        """Legs answered during the outage: the agent is the queue member whose
        interface is the device of another channel in the caller's bridge."""
        t = self._t
        for leg, bridge_id, caller_channel in self._bridged_legs:
            for channel in self._bridges.get(bridge_id, ()):
                if channel == caller_channel:
                    continue
                member = t._book.member_for_channel(channel)
                if member is not None:
                    leg.agent_interface, leg.agent = member
                    age = self._channel_ages.get(channel)
                    if age is not None and leg.answered_at is not None:
                        # The agent's channel was created when it started to
                        # ring: the answer came at most a ring later, so this
                        # bounds the wait from above (and below the answer).
                        leg.answered_at = max(leg.joined_at, leg.answered_at - age)
                        leg.left_at = leg.answered_at
                        leg.wait_seconds = leg.answered_at - leg.joined_at
                    break
        self._bridged_legs = []
        self._bridges = {}

    def _from_queue_log(self, call: Call, out: list[DomainEvent]) -> bool:
        """End a call the bridge did not see end with queue_log's account of
        it (answer, wait, talk, side, or the queue exit); False without one."""
        t = self._t
        facts = self.queue_log.get(call.key.linkedid)
        if facts is None and call.queue_uid is not None:
            facts = self.queue_log.get(call.queue_uid)
        if facts is None or facts.ended_at is None:
            return False
        leg = call.legs[-1] if call.legs and call.legs[-1].queue == facts.queue else None
        if leg is None:
            leg = Leg(facts.queue, facts.entered_at, facts.position)
            call.legs.append(leg)
        leg.joined_at = facts.entered_at
        leg.abandon_pending = leg.exit_pending = False
        t._stop_ringing(call, facts.ended_at, out)
        if facts.exit is not None:
            if leg.answered_at is not None:
                return False  # the bridge saw an answer queue_log denies: keep the bound
            leg.outcome = facts.exit
            leg.left_at = facts.ended_at
            leg.wait_seconds = facts.hold_seconds
            wait = facts.hold_seconds or 0.0
            if facts.exit is Outcome.ABANDONED:
                position = facts.exit_position if facts.exit_position is not None else 0
                leg.abandon_position = position
                call.hangup_side = HangupSide.CALLER
                out.append(CallAbandoned(facts.ended_at, call.key, leg.queue, wait, position))
            else:
                call.hangup_side = HangupSide.SYSTEM
                out.append(QueueExited(facts.ended_at, call.key, leg.queue, facts.exit, wait))
            t._end(call, facts.ended_at, out)
            return True
        if facts.connected_at is None:
            return False
        if leg.answered_at is None or leg.outcome is Outcome.LOST_DURING_OUTAGE:
            leg.outcome = Outcome.ANSWERED
        leg.answered_at = facts.connected_at
        leg.left_at = facts.connected_at
        leg.wait_seconds = facts.hold_seconds
        leg.agent = leg.agent or facts.agent
        leg.talk_seconds = facts.talk_seconds
        leg.completed = True
        if facts.hangup_side is not None:
            call.hangup_side = facts.hangup_side
        t._end(call, facts.ended_at, out)
        return True

    def _answer_from_queue_log(self, call: Call) -> None:
        """A call still up that was answered while the bridge was away: its
        join, answer and wait as queue_log has them (the lists only bound them)."""
        facts = self.queue_log.get(call.key.linkedid)
        leg = call.answered_leg()
        if (
            facts is None
            or facts.connected_at is None
            or leg is None
            or leg.queue != facts.queue
            or leg.completed
        ):
            return
        leg.joined_at = facts.entered_at
        leg.answered_at = leg.left_at = facts.connected_at
        leg.wait_seconds = facts.hold_seconds
        leg.agent = leg.agent or facts.agent

    def _talk_from_last_call(self, call: Call, leg: Leg) -> float | None:
        """The end of an answered call that ended unseen, from its agent's
        LastCall in the resync's QueueStatus (app_queue stamps it when the
        member's call completes): None if it does not follow the answer."""
        last = self._last_calls.get(leg.agent_interface or "")
        if last is None or leg.answered_at is None or last < int(leg.answered_at):
            return None
        return max(last, leg.answered_at)

    def _end_unobserved(self, call: Call, ended_at: float, out: list[DomainEvent]) -> None:
        """A call that is over although its end was never seen (gone from a
        resync, or Asterisk restarted)."""
        t = self._t
        if self._from_queue_log(call, out):
            return
        leg = call.answered_leg()
        if (
            leg is not None
            and call.legs[-1] is leg
            and leg.outcome is Outcome.ANSWERED
            and not leg.completed
        ):
            last = self._talk_from_last_call(call, leg)
            if last is not None and leg.answered_at is not None:
                leg.talk_seconds = last - leg.answered_at
                leg.completed = True
                t._end(call, max(last, call.arrived_at), out)
                return
        if leg is None or call.legs[-1] is not leg or leg.outcome is not Outcome.ANSWERED:
            t._end(call, ended_at, out, forced=Outcome.LOST_DURING_OUTAGE)
        elif not call.restored:
            # Answered and now over: the talk happened, only its end was
            # missed. Keep it answered, with the talk time bounded below by
            # the last moment the bridge saw the call up (the disconnect),
            # rather than discard a real attention as lost.
            t._end(call, ended_at, out)
        else:
            # Restored from the store: answered before the bridge stopped,
            # over by the time it came back, and nothing says when the talk
            # ended. The answer stands; the talk time stays unknown (the KPIs
            # leave it out) and the end is the last moment on record.
            if not leg.completed:
                leg.completed = True
                leg.talk_seconds = None
            answered_at = leg.answered_at if leg.answered_at is not None else call.last_at
            t._end(call, max(call.last_at, answered_at), out)

    def _close_unlisted_leg(self, call: Call, at: float, out: list[DomainEvent]) -> None:
        """A caller still up, waiting in a queue before the outage, that the
        QueueStatus list no longer shows waiting (and nobody answered): it
        left the queue while the bridge was not looking, for a reason no list
        tells."""
        t = self._t
        leg = call.open_leg
        if (
            not self._queue_status_listed
            or leg is None
            or leg.answered_at is not None
            or call.key.linkedid in self.waiting_seen
            or call.key.linkedid in self.touched
        ):
            return
        left = self._lost_end_time(call, at)
        leg.left_at = left
        leg.outcome = Outcome.LOST_DURING_OUTAGE
        leg.wait_seconds = max(0.0, left - leg.joined_at)
        t._stop_ringing(call, left, out)

    def _calls_inside_the_gap(self, out: list[DomainEvent]) -> None:
        """Queued calls that started and ended while the session was down
        (after a Disconnected this process saw, or since the newest moment the
        store had when the bridge restarted): only queue_log knows them.
        Without a known start of the gap none is built, lest an old call of
        the file's tail be written again."""
        t = self._t
        gap_start = self._disconnected_at
        if gap_start is None:
            gap_start = self.store_seen_until
        if gap_start is None or not self.queue_log:
            return
        since = float(int(gap_start))  # queue_log stamps whole seconds
        for uniqueid, facts in self.queue_log.items():
            if (
                facts.ended_at is None
                or facts.entered_at < since
                or uniqueid in t._calls
                or uniqueid in t._ended
            ):
                continue
            if facts.exit is None and facts.connected_at is None:
                continue
            call = Call(CallKey(t._system, uniqueid), facts.entered_at, last_at=facts.ended_at)
            call.caller_number = facts.caller_number
            t._calls[uniqueid] = call
            t._announce(call, facts.entered_at, out)
            if facts.exit is not None:
                # The live figures count it offered, then settled by the exit.
                # (An answer seen only here is left out of them: no screen pop
                # or answer event for a call long over; the store has it.)
                out.append(
                    CallQueued(
                        facts.entered_at,
                        call.key,
                        facts.queue,
                        facts.position,
                        call.caller_number,
                        "",
                    )
                )
            self._from_queue_log(call, out)

    def _resync_finished(self, at: float) -> list[DomainEvent]:
        t = self._t
        out: list[DomainEvent] = []
        if not self.active:
            # Without its start, an empty "seen" set would end every call.
            log.warning("ResyncFinished without ResyncStarted: ignored")
            return out
        self._name_bridged_agents()
        for uniqueid in [u for u in t._channels if u not in self.seen_channels]:
            linkedid = t._channels.pop(uniqueid)
            call = t._calls.get(linkedid)
            if call is not None:
                call.channels.discard(uniqueid)
        for call in list(t._calls.values()):
            if call.channels:
                call.unconfirmed = False
                call.restored = False
                self._close_unlisted_leg(call, at, out)
                self._answer_from_queue_log(call)
                continue
            if call.restored and call.last_hangup_at is not None:
                # Restored, then its hangups arrived before the resync could
                # list its channels: the end was observed after all.
                t._end(call, call.last_hangup_at, out)
                continue
            self._end_unobserved(call, self._lost_end_time(call, at), out)
        self._calls_inside_the_gap(out)
        out.extend(t._book.resync_finished(at, members_listed=self._queue_status_listed))
        self.queue_log = {}
        self.store_seen_until = None
        self._queue_status_listed = False
        self.active = False
        self._resync_at = None
        self._disconnected_at = None
        return out

    def fully_booted(self, ev: FullyBooted) -> list[DomainEvent]:
        t = self._t
        out: list[DomainEvent] = []
        if ev.uptime is None:
            return out
        at = self.connected_at if self.connected_at is not None else t._last_ts
        if at is None:
            return out
        boot = at - ev.uptime
        previous = self._boot_time
        self._boot_time = boot
        if previous is None or boot <= previous + _RESTART_TOLERANCE:
            return out
        # Asterisk restarted: every call it had died with it (an answer seen
        # before stands, as for a call a resync finds gone).
        out.append(AsteriskRestarted(at, t._system))
        for call in list(t._calls.values()):
            self._end_unobserved(call, self._lost_end_time(call, at), out)
        t._channels.clear()
        out.extend(t._book.log_out_all(at))
        return out

    def core_show_channel(self, ev: CoreShowChannel) -> list[DomainEvent]:
        t = self._t
        out: list[DomainEvent] = []
        at = self._now(self._resync_at)
        linkedid = ev.linkedid or t._channels.get(ev.uniqueid, ev.uniqueid)
        if linkedid in t._ended or ev.uniqueid in self.gone:
            # The list was taken before an event the tracker already has.
            return out
        self.seen_channels.add(ev.uniqueid)
        if ev.duration_seconds is not None:
            self._channel_ages[ev.channel] = ev.duration_seconds
        if ev.bridge_id:
            self._bridges.setdefault(ev.bridge_id, []).append(ev.channel)
        call = t._calls.get(linkedid)
        if call is not None and linkedid in self.touched:
            call.channels.add(ev.uniqueid)
            t._channels[ev.uniqueid] = linkedid
            return out
        if call is None:
            # Started while the bridge was not looking.
            arrived = at - ev.duration_seconds if ev.duration_seconds is not None else at
            call = Call(CallKey(t._system, linkedid), arrived, last_at=at)
            t._calls[linkedid] = call
            if ev.uniqueid == linkedid and ev.application not in ("AGI", "Queue"):
                call.agent_originated = t._book.member_for_channel(ev.channel) is not None
        elif ev.uniqueid == linkedid and ev.duration_seconds is not None and call.restored:
            call.arrived_at = min(call.arrived_at, at - ev.duration_seconds)
        call.channels.add(ev.uniqueid)
        t._channels[ev.uniqueid] = linkedid
        if ev.uniqueid == linkedid:
            call.caller_number = call.caller_number or ev.caller_number
            call.caller_name = call.caller_name or ev.caller_name
        t._announce(call, call.arrived_at, out)
        if ev.application == "AGI" and not call.legs and not call.ivr_entered:
            call.ivr_entered = True
            out.append(IvrEntered(at, call.key))
        if ev.application == "Queue":
            queue = ev.application_data.split(",", 1)[0]
            leg = call.legs[-1] if call.legs else None
            if leg is None or leg.queue != queue or (leg.left_at is not None and not ev.bridge_id):
                t._leave_ivr(call, at, out)
                # Already answered: it joined at some moment after it arrived,
                # so the arrival bounds the wait from above (QueueEntry gives
                # the exact join of a caller still waiting).
                joined = call.arrived_at if ev.bridge_id else at
                leg = Leg(queue, joined, 0)
                call.legs.append(leg)
                call.queue_uid = ev.uniqueid
                out.append(
                    CallQueued(joined, call.key, queue, 0, call.caller_number, call.caller_name)
                )
            if ev.bridge_id and leg.answered_at is None:
                # Answered during the outage: who answered is not in this list.
                leg.left_at = leg.left_at or at
                leg.answered_at = at
                leg.outcome = Outcome.ANSWERED
                self._bridged_legs.append((leg, ev.bridge_id, ev.channel))
        return out

    def queue_entry(self, ev: QueueEntry) -> list[DomainEvent]:
        t = self._t
        out: list[DomainEvent] = []
        at = self._now(self._resync_at)
        linkedid = t._channels.get(ev.uniqueid, ev.uniqueid)
        self.waiting_seen.add(linkedid)
        call = t._calls.get(linkedid)
        if call is None or linkedid in self.touched:
            return out
        leg = call.open_leg
        joined = at - ev.wait_seconds if ev.wait_seconds is not None else at
        if leg is None or leg.queue != ev.queue:
            t._leave_ivr(call, at, out)
            leg = Leg(ev.queue, joined, ev.position)
            call.legs.append(leg)
            call.queue_uid = ev.uniqueid
            out.append(
                CallQueued(
                    joined, call.key, ev.queue, ev.position, call.caller_number, call.caller_name
                )
            )
        elif leg.position == 0:
            leg.joined_at = min(leg.joined_at, joined)
            leg.position = ev.position
        return out

    def queue_status_complete(self, _ev: QueueStatusComplete) -> list[DomainEvent]:
        self._queue_status_listed = True
        return []

    def queue_member(self, ev: QueueMember) -> list[DomainEvent]:
        t = self._t
        at = self._now(self._resync_at)
        if ev.last_call is not None:
            self._last_calls[ev.interface] = ev.last_call
        return list(
            t._book.resync_member(
                at,
                ev.queue,
                ev.interface,
                ev.member_name,
                paused=ev.paused,
                paused_reason=ev.paused_reason,
                in_call=ev.in_call,
                status=ev.status,
            )
        )

    def queue_params(self, ev: QueueParams) -> list[DomainEvent]:
        t = self._t
        if ev.service_level is not None:
            t.service_levels[ev.queue] = ev.service_level
        return []
