"""Agent (queue member) state for the call tracker.

An agent is identified by its queue member Interface, never by a channel
name. Its state is derived from a few facts the queue events report (member
of which queues, paused and why, ringing, on a call, in wrap-up, device
unavailable) so that the order of Asterisk's events cannot leave it in a
state that contradicts them. Each change closes an `AgentInterval`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from telephony.domain import AgentInterval, AgentState, AgentStateChanged

# QueueMemberStatus / QueueMember Status codes (AST_DEVICE_*).
_DEVICE_INVALID = 4
_DEVICE_UNAVAILABLE = 5
_DEVICE_RINGING = (6, 7)


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    """One agent as the API and metrics see it."""

    interface: str
    member_name: str
    queues: tuple[str, ...]
    state: AgentState
    since: float
    reason: str | None


@dataclass(slots=True)
class _Agent:
    interface: str
    member_name: str
    state: AgentState
    since: float
    reason: str | None = None
    queues: set[str] = field(default_factory=set)
    paused: bool = False
    paused_reason: str = ""
    ringing: bool = False
    on_call: bool = False
    unavailable: bool = False
    wrapup_until: float | None = None
    confirmed_queues: set[str] | None = None  # not None while a resync runs

    def derive(self) -> tuple[AgentState, str | None]:
        if not self.queues:
            return AgentState.LOGGED_OUT, None
        if self.on_call:
            return AgentState.ON_CALL, None
        if self.ringing:
            return AgentState.RINGING, None
        if self.wrapup_until is not None:
            return AgentState.WRAP_UP, None
        if self.paused:
            return AgentState.PAUSED, self.paused_reason or None
        if self.unavailable:
            return AgentState.UNAVAILABLE, None
        return AgentState.AVAILABLE, None


def _join(agent: _Agent, queue: str) -> None:
    agent.queues.add(queue)
    if agent.confirmed_queues is not None:
        # An event during a resync is newer than the member list it confirms.
        agent.confirmed_queues.add(queue)


class AgentBook:
    """Every agent of one Asterisk system, keyed by member interface."""

    def __init__(self, system: str, wrapup_seconds: Mapping[str, float]) -> None:
        self._system = system
        self._wrapup = wrapup_seconds
        self._agents: dict[str, _Agent] = {}
        # Earliest wrap-up end: the tracker only calls expire() once time passes it.
        self.next_deadline = math.inf

    # ------------------------------------------------------------ internals

    def _get(self, interface: str, member_name: str, at: float) -> tuple[_Agent, bool]:
        agent = self._agents.get(interface)
        if agent is None:
            agent = _Agent(interface, member_name or interface, AgentState.LOGGED_OUT, at)
            self._agents[interface] = agent
            return agent, True
        if member_name and agent.member_name != member_name:
            agent.member_name = member_name
        return agent, False

    def _apply(
        self, agent: _Agent, at: float, out: list[AgentStateChanged], *, new: bool = False
    ) -> None:
        state, reason = agent.derive()
        if not new and state == agent.state and reason == agent.reason:
            return
        closed = None
        if not new:
            closed = AgentInterval(
                self._system,
                agent.interface,
                agent.member_name,
                agent.state,
                agent.since,
                max(at, agent.since),
                agent.reason,
            )
        agent.state, agent.reason, agent.since = state, reason, at
        out.append(
            AgentStateChanged(
                at, self._system, agent.interface, agent.member_name, state, reason, None, closed
            )
        )

    def _changed(self, agent: _Agent, at: float, *, new: bool = False) -> list[AgentStateChanged]:
        """What one event changed of one agent (nothing, or its new state)."""
        out: list[AgentStateChanged] = []
        self._apply(agent, at, out, new=new)
        return out

    def _member(
        self, at: float, queue: str, interface: str, member_name: str
    ) -> tuple[_Agent, bool]:
        """The member an app_queue event names, known to be in `queue`; (agent, new)."""
        agent, new = self._get(interface, member_name, at)
        _join(agent, queue)
        return agent, new

    def _end_wrapup_if_due(self, agent: _Agent, at: float, out: list[AgentStateChanged]) -> None:
        if agent.wrapup_until is not None and agent.wrapup_until <= at:
            until = agent.wrapup_until
            agent.wrapup_until = None
            self._apply(agent, until, out)

    def _recompute_deadline(self) -> None:
        self.next_deadline = min(
            (a.wrapup_until for a in self._agents.values() if a.wrapup_until is not None),
            default=math.inf,
        )

    # --------------------------------------------------------------- events

    def expire(self, now: float) -> list[AgentStateChanged]:
        """Wrap-ups that ended before `now` (call when now >= next_deadline)."""
        out: list[AgentStateChanged] = []
        for agent in self._agents.values():
            self._end_wrapup_if_due(agent, now, out)
        self._recompute_deadline()
        return out

    def member_change(
        self,
        at: float,
        kind: str,
        queue: str,
        interface: str,
        member_name: str,
        *,
        paused: bool,
        paused_reason: str,
        status: int,
    ) -> list[AgentStateChanged]:
        agent, new = self._get(interface, member_name, at)
        if kind == "QueueMemberRemoved":
            agent.queues.discard(queue)
            if agent.confirmed_queues is not None:
                agent.confirmed_queues.discard(queue)
        else:
            _join(agent, queue)
        agent.paused = paused
        agent.paused_reason = paused_reason if paused else ""
        # Status is not used for ringing: a Local member reports INUSE while it rings.
        agent.unavailable = status in (_DEVICE_INVALID, _DEVICE_UNAVAILABLE)
        if kind == "QueueMemberRemoved" and not agent.queues:
            agent.on_call = agent.ringing = False
            agent.wrapup_until = None
        return self._changed(agent, at, new=new)

    def called(
        self, at: float, queue: str, interface: str, member_name: str
    ) -> list[AgentStateChanged]:
        agent, new = self._member(at, queue, interface, member_name)
        agent.wrapup_until = None
        agent.ringing = True
        return self._changed(agent, at, new=new)

    def ring_no_answer(
        self, at: float, queue: str, interface: str, member_name: str
    ) -> list[AgentStateChanged]:
        agent, new = self._member(at, queue, interface, member_name)
        agent.ringing = False
        return self._changed(agent, at, new=new)

    def stop_ringing(self, at: float, interface: str) -> list[AgentStateChanged]:
        """The ring ended with no event for this member (caller left, another answered)."""
        agent = self._agents.get(interface)
        if agent is None or not agent.ringing:
            return []
        agent.ringing = False
        return self._changed(agent, at)

    def connected(
        self, at: float, queue: str, interface: str, member_name: str
    ) -> list[AgentStateChanged]:
        agent, new = self._member(at, queue, interface, member_name)
        agent.ringing = False
        agent.wrapup_until = None
        agent.on_call = True
        return self._changed(agent, at, new=new)

    def completed(
        self, at: float, queue: str, interface: str, member_name: str
    ) -> list[AgentStateChanged]:
        agent, new = self._member(at, queue, interface, member_name)
        agent.on_call = False
        wrapup = self._wrapup.get(queue, 0.0)
        if wrapup > 0:
            agent.wrapup_until = at + wrapup
            self.next_deadline = min(self.next_deadline, agent.wrapup_until)
        return self._changed(agent, at, new=new)

    # --------------------------------------------------------------- resync

    def resync_started(self) -> None:
        for agent in self._agents.values():
            agent.confirmed_queues = set()

    def resync_member(
        self,
        at: float,
        queue: str,
        interface: str,
        member_name: str,
        *,
        paused: bool,
        paused_reason: str,
        in_call: bool,
        status: int,
    ) -> list[AgentStateChanged]:
        agent, new = self._get(interface, member_name, at)
        agent.queues.add(queue)
        if agent.confirmed_queues is None:
            agent.confirmed_queues = set()
        agent.confirmed_queues.add(queue)
        agent.paused = paused
        agent.paused_reason = paused_reason if paused else ""
        agent.unavailable = status in (_DEVICE_INVALID, _DEVICE_UNAVAILABLE)
        agent.ringing = status in _DEVICE_RINGING and not in_call
        if in_call != agent.on_call:
            agent.on_call = in_call
            if in_call:
                agent.wrapup_until = None
        return self._changed(agent, at, new=new)

    def resync_finished(self, at: float, *, members_listed: bool) -> list[AgentStateChanged]:
        """Members a complete member list did not show are no longer members."""
        out: list[AgentStateChanged] = []
        for agent in self._agents.values():
            if agent.confirmed_queues is None:
                continue
            if not members_listed:
                agent.confirmed_queues = None
                continue
            agent.queues = agent.confirmed_queues
            agent.confirmed_queues = None
            if not agent.queues:
                agent.on_call = agent.ringing = False
                agent.wrapup_until = None
            self._end_wrapup_if_due(agent, at, out)
            self._apply(agent, at, out)
        self._recompute_deadline()
        return out

    def log_out_all(self, at: float) -> list[AgentStateChanged]:
        """Asterisk restarted: nobody is a member until it says so again."""
        out: list[AgentStateChanged] = []
        for agent in self._agents.values():
            agent.queues = set()
            agent.on_call = agent.ringing = False
            agent.wrapup_until = None
            agent.confirmed_queues = None
            self._apply(agent, at, out)
        self.next_deadline = math.inf
        return out

    def member_for_channel(self, channel: str) -> tuple[str, str] | None:
        """(interface, member name) of the member whose device `channel` is on.

        A channel is named after its device plus a suffix: PJSIP/4001-00000009
        is on PJSIP/4001; Local/4001@agents-00000001;1 on Local/4001@agents
        (members add /n or similar options after it).
        """
        base = channel.split(";", 1)[0].rsplit("-", 1)[0]
        if not base:
            return None
        for agent in self._agents.values():
            interface = agent.interface
            if interface == base or interface.startswith(base + "/"):
                return agent.interface, agent.member_name
        return None

    def snapshot(self) -> list[AgentSnapshot]:
        return [
            AgentSnapshot(
                a.interface, a.member_name, tuple(sorted(a.queues)), a.state, a.since, a.reason
            )
            for a in self._agents.values()
        ]
