"""The simulator's pure core: callers and agents in, Asterisk 22's AMI events out.

A discrete-event simulation with no sockets and no wall clock: `Pbx.advance(t)`
runs everything due up to simulated time `t` and returns the AMI events it
produced, each with the header names, header order and values that a real
Asterisk 22 sent in the recordings (answered.ami, abandoned.ami, ivr_hangup.ami
for Local-channel callers as the lab originated them, sip_mixed.ami for PJSIP).

The IVR step is an AGI session. Without an external IVR the core runs the
lab's stub (`GET DATA beep 6000 1`, then `SET VARIABLE ATIENDE_QUEUE`); with
one, `agi_sessions()` hands out the calls whose session must be opened, and
the driver feeds each command line to `agi_command`, which answers it as
Asterisk would for this caller (digits keyed, hang-up time) and says when.
"""

from __future__ import annotations

import heapq
import itertools
import random
import uuid
from collections.abc import Callable, Collection

from ivr.agi import asterisk_parse_args
from telephony.simulator.model import (
    DTMF_GAP,
    DTMF_LEAD,
    DTMF_LENGTH,
    INUSE,
    LOCAL_ANSWER_DELAY,
    NOT_INUSE,
    PROMPT_LENGTHS,
    PROMPT_SECONDS,
    SAMPLE_RATE,
    SAY_SECONDS,
    STEP,
    TYPING_SECONDS,
    UNKNOWN,
    Agent,
    Call,
    CallerSpec,
    Channel,
    Header,
    Member,
    SimEvent,
    Style,
)

Action = Callable[[], None]


class Pbx:
    """The simulated Asterisk. Call `advance(t)` with a non-decreasing t."""

    def __init__(
        self,
        *,
        start: float,
        style: Style = "pjsip",
        queues: dict[str, list[tuple[str, str]]] | None = None,
        external_ivr: bool = False,
        agi_url: str = "agi://127.0.0.1:4573/ivr",
        ring_seconds: float | None = None,
        wrapup_seconds: float = 3.0,
        stub_routes: dict[str, str] | None = None,
        survey: bool = False,
        no_answer_share: float = 0.0,
        queue_timeout: float = 15.0,
        retry_seconds: float = 1.0,
        seed: int = 1,
        missing_prompts: Collection[str] = (),
        callback_answer_share: float = 0.8,
        callback_busy_share: float = 0.1,
        callback_ring_seconds: float = 20.0,
    ) -> None:
        """queues: queue name -> [(agent extension, member name)]. survey: after
        the agent hangs up, a PJSIP caller goes on to the IVR's `survey` route
        (Queue option c, as deploy/asterisk/extensions.conf does).
        missing_prompts: sound files that do not exist ("*": none but the
        core's `beep`): STREAM FILE and GET DATA answer them with -1, as
        Asterisk does for a file it cannot open.
        callback_answer_share / callback_busy_share: how often a citizen
        called back (context atiende-callback) answers, or is busy; the rest
        let it ring `callback_ring_seconds` (Dial's timeout) unanswered."""
        self.now = start
        self.missing_prompts = frozenset(missing_prompts)
        # Asterisk's queue_log for the calls and members of this run, line by
        # line (epoch|uniqueid|queue|agent|event|data...), in the order
        # app_queue writes it; `queue_log_lines()` hands out the new ones.
        self.queue_log: list[str] = []
        self._queue_log_read = 0
        self.style: Style = style
        self.external_ivr = external_ivr
        # deploy/asterisk/extensions.conf's FALLBACK_QUEUE: where a caller goes
        # when Atiende's IVR could not choose a queue (the lab's stub IVR ran
        # the older dialplan, which hung up).
        self.fallback_queue = "consultas" if external_ivr else None
        self.agi_url = agi_url
        self.ring_seconds = (
            (0.0003 if style == "local" else 0.8) if ring_seconds is None else ring_seconds
        )
        self.stub_routes = stub_routes or {"1": "consultas", "2": "reclamos"}
        self.survey = survey and external_ivr and style == "pjsip"
        # PJSIP agents who let the phone ring out (queues.conf timeout, retry).
        self.no_answer_share = no_answer_share if style == "pjsip" else 0.0
        self.queue_timeout = queue_timeout
        self.retry_seconds = retry_seconds
        self.wrapup = wrapup_seconds
        self.callback_answer_share = callback_answer_share
        self.callback_busy_share = callback_busy_share
        self.callback_ring_seconds = callback_ring_seconds
        self._rng = random.Random(seed)
        # Callbacks are decided on their own generator so that they do not
        # shift the traffic a seed gives.
        self._callback_rng = random.Random(seed + 7919)
        self._agenda: list[tuple[float, int, Action]] = []
        self._seq = itertools.count()
        self._out: list[SimEvent] = []
        self._last_at = 0.0
        self._unique = itertools.count()
        self._local_seq = itertools.count()
        self._pjsip_seq = itertools.count()
        self._call_ids = itertools.count(1)
        self.calls: dict[int, Call] = {}
        self.agents: dict[str, Agent] = {}
        self.members: dict[tuple[str, str], Member] = {}
        self.waiting: dict[str, list[Call]] = {}
        self.finished: list[Call] = []
        self._agi_starts: list[int] = []
        login = int(start)
        for queue, people in (queues or {}).items():
            self.waiting[queue] = []
            for extension, name in people:
                interface = self._interface(extension)
                agent = self.agents.setdefault(
                    interface, Agent(interface, name, extension, wrapup=wrapup_seconds)
                )
                self.members[(queue, interface)] = Member(
                    queue, interface, agent.name, login_time=login
                )
        self._log("NONE", "NONE", "NONE", "QUEUESTART", "")

    # ------------------------------------------------------------ scheduling

    def at(self, when: float, action: Action) -> None:
        heapq.heappush(self._agenda, (max(when, self.now), next(self._seq), action))

    def next_due(self) -> float | None:
        return self._agenda[0][0] if self._agenda else None

    def advance(self, until: float) -> list[SimEvent]:
        """Run every action due up to `until`; the events they produced."""
        while self._agenda and self._agenda[0][0] <= until:
            when, _, action = heapq.heappop(self._agenda)
            self.now = max(self.now, when)
            action()
        self.now = max(self.now, until)
        return self.drain()

    def drain(self) -> list[SimEvent]:
        out, self._out = self._out, []
        return out

    def _emit(self, name: str, privilege: str, headers: list[Header]) -> None:
        at = max(self.now, self._last_at + STEP)
        self._last_at = at
        self._out.append(SimEvent(at, name, privilege, tuple(headers)))

    def _chan(self, name: str, privilege: str, chan: Channel, *extra: Header) -> None:
        self._emit(name, privilege, [*chan.block(), *extra])

    def _varset(self, chan: Channel, variable: str, value: str) -> None:
        self._chan("VarSet", "dialplan", chan, ("Variable", variable), ("Value", value))

    def _newexten(self, chan: Channel, priority: int, app: str, data: str) -> None:
        chan.priority = priority
        self._chan(
            "Newexten",
            "dialplan",
            chan,
            ("Extension", chan.exten),
            ("Application", app),
            ("AppData", data),
        )

    def _newstate(self, chan: Channel, state: int) -> None:
        chan.state = state
        self._chan("Newstate", "call", chan)

    def _device(self, device: str, state: str) -> None:
        self._emit("DeviceStateChange", "call", [("Device", device), ("State", state)])

    def _hangup(self, chan: Channel, cause: int = 16, text: str = "Normal Clearing") -> None:
        chan.alive = False
        self._chan("Hangup", "call", chan, ("Cause", str(cause)), ("Cause-txt", text))

    def _log(self, queue: str, uniqueid: str, agent: str, event: str, *data: object) -> None:
        """One queue_log line, stamped in whole seconds as app_queue does."""
        fields = "|".join(str(value) for value in data)
        self.queue_log.append(f"{int(self.now)}|{uniqueid}|{queue}|{agent}|{event}|{fields}")

    def queue_log_lines(self) -> list[str]:
        """queue_log lines written since the last call."""
        out = self.queue_log[self._queue_log_read :]
        self._queue_log_read = len(self.queue_log)
        return out

    def prompt_missing(self, name: str) -> bool:
        if "*" in self.missing_prompts:
            return name != "beep"
        return name in self.missing_prompts

    def _uniqueid(self) -> str:
        return f"{int(self.now)}.{next(self._unique)}"

    def _interface(self, extension: str) -> str:
        return f"Local/{extension}@agents/n" if self.style == "local" else f"PJSIP/{extension}"

    def _device_of(self, interface: str) -> str:
        return interface.removesuffix("/n")

    # ---------------------------------------------------------------- agents

    def set_paused(self, interface: str, paused: bool, reason: str = "") -> None:
        """An agent pauses in (or comes back to) every queue, one queue at a
        time as the lab did it (no PAUSEALL line); no-op if already so."""
        agent = self.agents[interface]
        if agent.paused == paused:
            return
        for (_queue, iface), member in list(self.members.items()):
            if iface == interface:
                self._pause_member(member, paused, reason)
        self._after_pause(agent, paused)

    def _after_pause(self, agent: Agent, paused: bool) -> None:
        agent.paused = any(
            m.paused for (_q, iface), m in self.members.items() if iface == agent.interface
        )
        if not paused:
            self._dispatch_all()

    def _pause_member(self, member: Member, paused: bool, reason: str) -> None:
        """app_queue's set_queue_member_pause: done even if already so."""
        queue, interface = member.queue, member.interface
        member.paused = paused
        member.reason = reason if paused else ""
        if paused:
            member.last_pause = int(self.now)
            self._device(f"Queue:{queue}_pause_{interface}", "INUSE")
        else:
            self._device(f"Queue:{queue}_pause_{interface}", "NOT_INUSE")
            self._device(f"Queue:{queue}_avail", "NOT_INUSE")
        # An unpause with a reason shows it once (set_queue_member_pause).
        shown = member.reason or ("" if paused else reason)
        self._log(queue, "NONE", member.name, "PAUSE" if paused else "UNPAUSE", shown)
        snapshot = self.member_snapshot(member)
        if not paused and reason:
            snapshot = [(k, reason if k == "PausedReason" else v) for k, v in snapshot]
        self._emit("QueueMemberPause", "agent", snapshot)

    # ------------------------------------------------------ manager actions
    # What app_queue's and manager.c's AMI actions do, with their errors
    # (None when the action succeeded).

    def queue_pause(
        self, interface: str, paused: bool, reason: str = "", queue: str = ""
    ) -> str | None:
        """QueuePause (Paused false unpauses; there is no QueueUnpause
        action): one queue, or every queue of the interface with a
        PAUSEALL/UNPAUSEALL line first."""
        members = [
            m
            for (q, iface), m in self.members.items()
            if iface == interface and (not queue or q.lower() == queue.lower())
        ]
        if not members:
            return "Interface not found"
        if not queue:
            event = "PAUSEALL" if paused else "UNPAUSEALL"
            self._log("NONE", "NONE", members[0].name, event, reason)
        for member in members:
            self._pause_member(member, paused, reason)
        self._after_pause(self.agents[interface], paused)
        return None

    def queue_add(
        self,
        queue: str,
        interface: str,
        member_name: str = "",
        *,
        paused: bool = False,
        reason: str = "",
    ) -> str | None:
        """QueueAdd: a dynamic member (manager_add_queue_member)."""
        if not queue:
            return "'Queue' not specified."
        if not interface:
            return "'Interface' not specified."
        if queue not in self.waiting:
            return "Unable to add interface to queue: No such queue"
        if (queue, interface) in self.members:
            return "Unable to add interface: Already there"
        agent = self.agents.get(interface)
        if agent is None:
            extension = interface.split("/", 1)[-1].split("@", 1)[0]
            agent = Agent(interface, member_name or interface, extension, wrapup=self.wrapup)
            self.agents[interface] = agent
        member = Member(
            queue,
            interface,
            member_name or interface,
            login_time=int(self.now),
            paused=paused,
            reason=reason if paused else "",
            dynamic=True,
        )
        self.members[(queue, interface)] = member
        self._emit("QueueMemberAdded", "agent", self.member_snapshot(member))
        if not paused and not agent.busy:
            self._device(f"Queue:{queue}_avail", "NOT_INUSE")
        self._log(queue, "MANAGER", member.name, "ADDMEMBER", "PAUSED" if paused else "")
        agent.paused = all(
            m.paused for (_q, iface), m in self.members.items() if iface == interface
        )
        self._dispatch(queue)
        return None

    def originate(
        self,
        channel: str,
        context: str,
        exten: str,
        *,
        caller_id: str = "",
        action_id: str = "",
        talk: float = 20.0,
        variables: dict[str, str] | None = None,
    ) -> str | None:
        """Originate to a context (manager.c action_originate): refused at
        once if the extension does not exist in the simulated dialplan
        (deploy/asterisk/extensions.conf: from-agents, from-pstn, agents);
        otherwise queued, and OriginateResponse tells how it went. The
        agent's phone rings and answers, the dialplan dials the citizen over
        the trunk, they talk `talk` seconds, the citizen hangs up."""
        if not _exten_exists(context, exten):
            return "Extension does not exist."
        self.at(
            self.now + 0.001,
            lambda: self._originate(
                channel, context, exten, caller_id, action_id, talk, dict(variables or {})
            ),
        )
        return None

    def _originate(
        self,
        channel: str,
        context: str,
        exten: str,
        caller_id: str,
        action_id: str,
        talk: float,
        variables: dict[str, str],
    ) -> None:
        agent = self.agents.get(channel)
        number, name = _split_caller_id(caller_id)
        response: list[Header] = [("ActionID", action_id)] if action_id else []
        if agent is None or agent.in_call or agent.on_other_call or agent.busy:
            # Unknown endpoint (0) or a phone already on a call (busy, 5).
            reason = "0" if agent is None else "5"
            self._emit(
                "OriginateResponse",
                "call",
                [
                    *response,
                    ("Response", "Failure"),
                    ("Channel", channel),
                    ("Context", context),
                    ("Exten", exten),
                    ("Reason", reason),
                    ("Uniqueid", "<null>"),
                    ("CallerIDNum", number or UNKNOWN),
                    ("CallerIDName", name or UNKNOWN),
                ],
            )
            return
        seq = next(self._pjsip_seq)
        uniqueid = self._uniqueid()
        leg = Channel(
            f"{channel}-{seq:08x}",
            uniqueid,
            uniqueid,
            context,
            exten,
            cid_num=number or UNKNOWN,
            cid_name=name or UNKNOWN,
        )
        agent.on_other_call = True
        self._chan("Newchannel", "call", leg)
        # Originate's Variable headers are set on the new channel before it
        # is dialled (ast_pbx_outgoing_exten), each one a VarSet.
        for name, value in variables.items():
            self._varset(leg, name, value)
        self._newstate(leg, 5)
        self._device(self._device_of(agent.interface), "RINGING")
        if context == CALLBACK_CONTEXT:
            self.at(
                self.now + self.ring_seconds,
                lambda: self._callback_answered(agent, leg, exten, response, talk),
            )
            return

        def answered() -> None:
            self._agent_leg_up(agent, leg, response)
            self._newexten(leg, 1, "NoOp", "Click-to-call to a citizen")
            self._newexten(leg, 2, "Dial", f"PJSIP/{exten}@pstn,60")
            citizen = self._dial_citizen(leg, context, exten)
            self._newstate(citizen, 5)

            def picked_up() -> None:
                self._newstate(citizen, 6)
                self._emit(
                    "DialEnd",
                    "call",
                    [*leg.block(), *citizen.block("Dest"), ("DialStatus", "ANSWER")],
                )
                self.at(self.now + talk, hang_up)

            def hang_up() -> None:
                self._chan("HangupRequest", "call", citizen)
                self._hangup(citizen)
                self._chan("SoftHangupRequest", "call", leg, ("Cause", "16"))
                self._agent_leg_down(agent, leg)

            self.at(self.now + 2.0, picked_up)

        self.at(self.now + self.ring_seconds, answered)

    def _agent_leg_up(self, agent: Agent, leg: Channel, response: list[Header]) -> None:
        """The agent's phone answered the Originate: OriginateResponse Success."""
        self._newstate(leg, 6)
        self._device(self._device_of(agent.interface), "INUSE")
        self._member_status(agent)
        self._emit(
            "OriginateResponse",
            "call",
            [
                *response,
                ("Response", "Success"),
                ("Channel", leg.name),
                ("Context", leg.context),
                ("Exten", leg.exten),
                ("Reason", "4"),
                ("Uniqueid", leg.uniqueid),
                ("CallerIDNum", leg.cid_num),
                ("CallerIDName", leg.cid_name),
            ],
        )

    def _agent_leg_down(self, agent: Agent, leg: Channel) -> None:
        self._hangup(leg)
        agent.on_other_call = False
        self._device(self._device_of(agent.interface), "NOT_INUSE")
        self._member_status(agent)
        self._dispatch_all()

    def _member_status(self, agent: Agent) -> None:
        """QueueMemberStatus for each queue the agent is a member of (its phone changed)."""
        for (_q, iface), member in self.members.items():
            if iface == agent.interface:
                self._emit("QueueMemberStatus", "agent", self.member_snapshot(member))

    def _dial_citizen(self, leg: Channel, context: str, exten: str) -> Channel:
        """The agent's leg dials the citizen over the trunk: the new channel and DialBegin."""
        citizen = Channel(
            f"PJSIP/pstn-{next(self._pjsip_seq):08x}",
            self._uniqueid(),
            leg.linkedid,
            context,
            exten,
            cid_num=exten,
            cid_name=UNKNOWN,
        )
        self._chan("Newchannel", "call", citizen)
        self._emit(
            "DialBegin",
            "call",
            [*leg.block(), *citizen.block("Dest"), ("DialString", f"{exten}@pstn")],
        )
        return citizen

    def _callback_answered(
        self, agent: Agent, leg: Channel, exten: str, response: list[Header], talk: float
    ) -> None:
        """deploy/asterisk/extensions.conf [atiende-callback]: the agent is on
        the line; the dialplan pushes a hangup handler that leaves DIALSTATUS
        in ATIENDE_CALLBACK_RESULT and dials the citizen over the trunk, with
        a U() subroutine that marks the answer on the citizen's channel. The
        citizen answers, is busy or lets it ring, as `callback_*_share` say."""
        self._agent_leg_up(agent, leg, response)
        self._newexten(leg, 1, "NoOp", "Callback to a citizen")
        self._newexten(leg, 2, "Set", "CHANNEL(hangup_handler_push)=atiende-callback-end,s,1")
        ring = _seconds(self.callback_ring_seconds)
        self._newexten(leg, 3, "Dial", f"PJSIP/{exten}@pstn,{ring},U(atiende-callback-answered)")
        citizen = self._dial_citizen(leg, "from-pstn", exten)
        draw = self._callback_rng.random()
        if draw < self.callback_answer_share:
            self._newstate(citizen, 5)
            self.at(self.now + 2.0, lambda: self._callback_talk(agent, leg, citizen, talk))
        elif draw < self.callback_answer_share + self.callback_busy_share:
            self.at(self.now + 0.5, lambda: self._callback_failed(agent, leg, citizen, "BUSY"))
        else:
            self._newstate(citizen, 5)
            self.at(
                self.now + self.callback_ring_seconds,
                lambda: self._callback_failed(agent, leg, citizen, "NOANSWER"),
            )

    def _callback_talk(self, agent: Agent, leg: Channel, citizen: Channel, talk: float) -> None:
        self._newstate(citizen, 6)
        self._varset(citizen, "ATIENDE_CALLBACK_ANSWERED", "1")
        self._emit(
            "DialEnd", "call", [*leg.block(), *citizen.block("Dest"), ("DialStatus", "ANSWER")]
        )
        bridge = str(uuid.UUID(int=self._callback_rng.getrandbits(128), version=4))
        self._emit("BridgeCreate", "call", _bridge_block(bridge, 0))
        self._emit("BridgeEnter", "call", [*_bridge_block(bridge, 1), *leg.block()])
        self._emit("BridgeEnter", "call", [*_bridge_block(bridge, 2), *citizen.block()])

        def citizen_hangs_up() -> None:
            self._chan("HangupRequest", "call", citizen)
            self._emit("BridgeLeave", "call", [*_bridge_block(bridge, 1), *citizen.block()])
            self._hangup(citizen)
            self._emit("BridgeLeave", "call", [*_bridge_block(bridge, 0), *leg.block()])
            self._emit("BridgeDestroy", "call", _bridge_block(bridge, 0))
            self._varset(leg, "DIALSTATUS", "ANSWER")
            self._newexten(leg, 4, "Hangup", "")
            self._varset(leg, "ATIENDE_CALLBACK_RESULT", "ANSWER")
            self._agent_leg_down(agent, leg)

        self.at(self.now + talk, citizen_hangs_up)

    def _callback_failed(self, agent: Agent, leg: Channel, citizen: Channel, status: str) -> None:
        cause, text = (17, "User busy") if status == "BUSY" else (19, "No user responding")
        self._hangup(citizen, cause, text)
        self._emit(
            "DialEnd", "call", [*leg.block(), *citizen.block("Dest"), ("DialStatus", status)]
        )
        self._varset(leg, "DIALSTATUS", status)
        self._newexten(leg, 4, "Hangup", "")
        self._varset(leg, "ATIENDE_CALLBACK_RESULT", status)
        self._agent_leg_down(agent, leg)

    def queue_remove(self, queue: str, interface: str) -> str | None:
        """QueueRemove (manager_remove_queue_member): dynamic members only."""
        if not queue or not interface:
            return "Need 'Queue' and 'Interface' parameters."
        if queue not in self.waiting:
            return "Unable to remove interface from queue: No such queue"
        member = self.members.get((queue, interface))
        if member is None:
            return "Unable to remove interface: Not there"
        if not member.dynamic:
            return "Member not dynamic"
        del self.members[(queue, interface)]
        self._emit("QueueMemberRemoved", "agent", self.member_snapshot(member))
        self._log(queue, "MANAGER", member.name, "REMOVEMEMBER", "")
        return None

    def member_snapshot(self, member: Member) -> list[Header]:
        agent = self.agents[member.interface]
        status = INUSE if agent.in_call or agent.on_other_call else NOT_INUSE
        return [
            ("Queue", member.queue),
            ("MemberName", member.name),
            ("Interface", member.interface),
            ("StateInterface", member.interface),
            ("Membership", "dynamic" if member.dynamic else "static"),
            ("Penalty", "0"),
            ("CallsTaken", str(member.calls_taken)),
            ("LastCall", str(member.last_call)),
            ("LastPause", str(member.last_pause)),
            ("LoginTime", str(member.login_time)),
            ("InCall", "1" if agent.in_call else "0"),
            ("Status", str(status)),
            ("Paused", "1" if member.paused else "0"),
            ("PausedReason", member.reason),
            ("Ringinuse", "0"),
            ("Wrapuptime", "0"),
        ]

    # ---------------------------------------------------------------- calls

    def place_call(self, spec: CallerSpec, when: float | None = None) -> int:
        call_id = next(self._call_ids)
        self.at(self.now if when is None else when, lambda: self._arrive(call_id, spec))
        return call_id

    def _arrive(self, call_id: int, spec: CallerSpec) -> None:
        uniqueid = self._uniqueid()
        if self.style == "local":
            seq = next(self._local_seq)
            base = f"Local/{spec.number[1:] if spec.number.startswith('0') else spec.number}"
            exten = base.removeprefix("Local/")
            one = Channel(f"{base}@callers-{seq:08x};1", uniqueid, uniqueid, "callers", exten)
            two = Channel(
                f"{base}@callers-{seq:08x};2", self._uniqueid(), uniqueid, "callers", exten, state=4
            )
            call = Call(call_id, spec, self.now, one, peer=two)
        else:
            seq = next(self._pjsip_seq)
            one = Channel(
                f"PJSIP/pstn-{seq:08x}",
                uniqueid,
                uniqueid,
                "from-pstn",
                "ivr",
                state=4,
                cid_num=spec.number,
                cid_name=spec.name,
            )
            call = Call(call_id, spec, self.now, one)
        call.pending_keys = list(spec.keys)
        self.calls[call_id] = call
        if self.style == "local":
            self._arrive_local(call)
        else:
            self._arrive_pjsip(call)

    def _caller_plan(self, call: Call, answered_at: float) -> None:
        """When the first key lands and when the caller gives up (lab timing)."""
        spec = call.spec
        first = spec.keys[0] if spec.keys else ""
        execif = answered_at + spec.delay
        if first:
            call.keyed_at = execif + DTMF_LEAD
            wait_from = execif + DTMF_LEAD + len(first) * DTMF_GAP + 0.1
        else:
            call.keyed_at = None
            wait_from = execif + 0.00003
        call.hangup_at = wait_from + spec.patience
        if call.peer is not None:
            peer = call.peer
            self.at(
                execif,
                lambda: self._newexten(
                    peer,
                    3,
                    "ExecIf",
                    f"1?SendDTMF({first},250)" if first else "0?SendDTMF(,250)",
                ),
            )
            self.at(wait_from, lambda: self._newexten(peer, 4, "Wait", _seconds(spec.patience)))
        self.at(call.hangup_at, lambda: self._caller_hangs_up(call))

    def _arrive_local(self, call: Call) -> None:
        one, two, spec = call.channel, call.peer, call.spec
        assert two is not None
        self._chan("Newchannel", "call", one)
        self._chan("Newchannel", "call", two)
        self._newexten(one, 1, "AppDial2", "(Outgoing Line)")
        lab_vars = [
            ("_CALLER_DELAY", _seconds(spec.delay)),
            ("__AGENT_TALK", _seconds(spec.talk)),
            ("_CALLER_PATIENCE", _seconds(spec.patience)),
            ("_CALLER_DTMF", spec.keys[0] if spec.keys else ""),
        ]
        for name, value in lab_vars:
            self._varset(one, name, value)
        one.cid_num, one.cid_name = spec.number, spec.name
        self._chan("NewCallerid", "call", one, ("CID-CallingPres", _PRES))
        one.conn_num, one.conn_name = spec.number, spec.name
        self._chan("NewConnectedLine", "call", one)
        for name, value in reversed(lab_vars):
            self._varset(two, name, value)
        two.cid_num, two.cid_name = spec.number, spec.name
        two.conn_num, two.conn_name = spec.number, spec.name
        self._chan("NewCallerid", "call", two, ("CID-CallingPres", _PRES))
        self._chan("NewConnectedLine", "call", two)
        self._local_bridge(one, two, optimize=True)
        self._emit(
            "DialBegin", "call", [*one.block("Dest"), ("DialString", f"{one.exten}@callers")]
        )
        self.now += 0.0005
        self._newexten(two, 1, "Answer", "")
        self._newstate(two, 6)
        self._newstate(one, 6)
        self._emit("DialEnd", "call", [*one.block("Dest"), ("DialStatus", "ANSWER")])
        answered = self.now
        one.context, one.exten = "from-pstn", "s"
        self._from_pstn(call)
        self._emit(
            "OriginateResponse",
            "call",
            [
                ("ActionID", f"sim-{call.id}"),
                ("Response", "Success"),
                ("Channel", one.name),
                ("Context", "from-pstn"),
                ("Exten", "s"),
                ("Reason", "4"),
                ("Uniqueid", one.uniqueid),
                ("CallerIDNum", spec.number),
                ("CallerIDName", spec.name),
            ],
        )
        device = one.name.split("-")[0]
        self._device(device, "INUSE")
        self._device(device, "INUSE")
        self.at(self.now + 0.0005, lambda: self._newexten(two, 2, "Wait", _seconds(spec.delay)))
        self._caller_plan(call, answered)

    def _local_bridge(self, one: Channel, two: Channel, *, optimize: bool) -> None:
        self._emit(
            "LocalBridge",
            "call",
            [
                *one.block("LocalOne"),
                *two.block("LocalTwo"),
                ("Context", one.context),
                ("Exten", one.exten),
                ("LocalOptimization", "Yes" if optimize else "No"),
            ],
        )

    def _arrive_pjsip(self, call: Call) -> None:
        one = call.channel
        self._chan("Newchannel", "call", one)
        self._varset(one, "SIPDOMAIN", "127.0.0.1")
        self._newexten(one, 1, "Goto", "s,1")
        one.exten = "s"
        self.now += 0.0001
        self._from_pstn(call, answer_state=True)
        self._caller_plan(call, self.now)

    def _from_pstn(self, call: Call, *, answer_state: bool = False) -> None:
        one, spec = call.channel, call.spec
        self._newexten(one, 1, "NoOp", f'Inbound call from "{spec.name}" <{spec.number}>')
        self._newexten(one, 2, "Answer", "")
        if answer_state:
            self._newstate(one, 6)
        self._newexten(one, 3, "AGI", self.agi_url)
        call.agi_active = True
        self.now += 0.001
        if self.external_ivr:
            call.external_agi = True
            self._agi_starts.append(call.id)
        else:
            self.at(self.now, lambda: self._stub_ivr(call))

    # ------------------------------------------------------------------ IVR

    def agi_sessions(self) -> list[int]:
        """Calls whose FastAGI session the driver must open now."""
        out, self._agi_starts = self._agi_starts, []
        return out

    def agi_environment(self, call_id: int) -> list[Header]:
        call = self.calls[call_id]
        one = call.channel
        script = call.agi_script
        return [
            ("agi_network", "yes"),
            ("agi_network_script", script),
            ("agi_request", self._agi_url(script)),
            ("agi_channel", one.name),
            ("agi_language", "es"),
            ("agi_type", "Local" if self.style == "local" else "PJSIP"),
            ("agi_uniqueid", one.uniqueid),
            ("agi_version", "GIT-22-22.0.0-pre1-541-g69535d4837"),
            ("agi_callerid", call.spec.number),
            ("agi_calleridname", call.spec.name),
            ("agi_callingpres", "0"),
            ("agi_callingani2", "0"),
            ("agi_callington", "0"),
            ("agi_callingtns", "0"),
            ("agi_dnid", "unknown" if self.style == "local" else "ivr"),
            ("agi_rdnis", "unknown"),
            ("agi_context", "from-pstn"),
            ("agi_extension", "s"),
            ("agi_priority", str(one.priority)),
            ("agi_enhanced", "0.0"),
            ("agi_accountcode", ""),
            ("agi_threadid", str(140000000000000 + call_id)),
        ]

    def _agi_url(self, script: str) -> str:
        return f"{self.agi_url.rsplit('/', 1)[0]}/{script}"

    def _stub_ivr(self, call: Call) -> None:
        """The lab's IVR: one digit, then ATIENDE_QUEUE (or hang up)."""
        reply, due = self.agi_command(call.id, "GET DATA beep 6000 1")

        def second() -> None:
            digit = reply[-1].removeprefix("200 result=").split(" ")[0]
            queue = call.spec.queue or self.stub_routes.get(digit, "")
            _, done = self.agi_command(call.id, f'SET VARIABLE ATIENDE_QUEUE "{queue}"')
            self.at(done, lambda: self.agi_finished(call.id))

        self.at(due + 0.0006, second)

    def agi_command(self, call_id: int, line: str) -> tuple[list[str], float]:
        """Asterisk's reply lines to one AGI command and the simulated time
        they are due; the AMI events of the command are scheduled too."""
        call = self.calls[call_id]
        words = asterisk_parse_args(line)
        upper = [w.upper() for w in words]
        verb = " ".join(upper[:2])
        one = call.channel
        command_id = str(900000000 + (call_id * 7919 + len(line) * 104729) % 99999999)
        start = self.now
        self._chan("AGIExecStart", "agi", one, ("CommandId", command_id), ("Command", line))
        dead = call.dead or (call.hangup_at <= start and call.outcome == "")
        prefix: list[str] = []
        if call.announce_hangup:
            prefix, call.announce_hangup = ["HANGUP"], False
        reply: list[str]
        due = start + 0.00001
        if dead and verb not in _DEAD_OK and upper[:1] != ["HANGUP"]:
            reply = ["511 Command Not Permitted on a dead channel or intercept routine"]
        elif verb == "GET DATA" and len(words) >= 3 and self.prompt_missing(words[2]):
            reply = ["200 result=-1"]  # ast_app_getdata_full: the file does not open
        elif verb == "STREAM FILE" and len(words) >= 3 and self.prompt_missing(words[2]):
            reply = ["200 result=-1 endpos=0"]  # agi_tour.agi: no-such-prompt
        elif verb == "GET DATA" and len(words) >= 3:
            timeout = float(words[3]) / 1000 if len(words) > 3 else 6.0
            max_digits = int(words[4]) if len(words) > 4 else 1024
            reply, due = self._get_data(call, start, timeout, max_digits)
        elif verb == "STREAM FILE" and len(words) >= 3:
            length = PROMPT_LENGTHS.get(words[2], PROMPT_SECONDS)
            ok = f"200 result=0 endpos={int(length * SAMPLE_RATE)}"
            reply, due = self._playing(call, start, length, ok)
        elif verb in ("SAY DIGITS", "SAY NUMBER") and len(words) >= 3:
            length = SAY_SECONDS * max(1, len(words[2]))
            reply, due = self._playing(call, start, length, "200 result=0")
        elif verb == "SET VARIABLE" and len(words) == 4:
            call.variables[words[2]] = words[3]
            self._varset(one, words[2], words[3])
            reply = ["200 result=1"]
        elif (verb == "GET VARIABLE" and len(words) == 3) or (
            verb == "GET FULL" and len(words) == 4
        ):
            value = self._variable(call, words[-1])
            reply = ["200 result=0"] if value is None else [f"200 result=1 ({value})"]
        elif upper[:1] == ["ANSWER"]:
            reply = ["200 result=0"]
        elif verb == "CHANNEL STATUS":
            reply = ["200 result=6"]  # AST_STATE_UP (a dead channel got 511 above)
        elif upper[:1] == ["VERBOSE"] or verb == "DATABASE PUT":
            reply = ["200 result=1"]
        elif upper[:1] == ["EXEC"] or verb == "WAIT FOR":
            reply = ["200 result=0"]
        elif upper[:1] == ["HANGUP"]:
            reply = ["200 result=1"]
            if not call.dead:
                call.outcome = call.outcome or "ivr_completed"
                self.at(start + 0.00002, lambda: self._ivr_hangs_up(call))
        else:
            reply = ["510 Invalid or unknown command"]
        code = reply[-1].split(" ", 1)[0]
        result = {"200": "Success", "510": "Invalid or unknown command"}.get(code, "Failure")

        def end() -> None:
            self._chan(
                "AGIExecEnd",
                "agi",
                one,
                ("CommandId", command_id),
                ("Command", line),
                ("ResultCode", code),
                ("Result", result),
            )

        self.at(due, end)
        return prefix + reply, due + 0.00001

    def _playing(self, call: Call, start: float, length: float, ok: str) -> tuple[list[str], float]:
        if not call.dead and call.hangup_at < start + length and call.outcome == "":
            return ["200 result=-1 endpos=1200"] if "endpos" in ok else ["200 result=-1"], (
                call.hangup_at + 0.0008
            )
        return [ok], start + length

    def _get_data(
        self, call: Call, start: float, timeout: float, max_digits: int
    ) -> tuple[list[str], float]:
        one = call.channel
        keys = call.pending_keys[0] if call.pending_keys else ""
        if call.keyed_at is not None:
            arrives: float | None = max(call.keyed_at, start)
        elif keys:
            arrives = start + PROMPT_SECONDS + TYPING_SECONDS
        else:
            arrives = None
        hangup = call.hangup_at if call.outcome == "" else float("inf")
        if keys and arrives is not None and arrives < hangup and arrives <= start + timeout:
            call.pending_keys.pop(0)
            call.keyed_at = None
            digits = keys[:max_digits]
            for index, digit in enumerate(digits):
                t = arrives + index * DTMF_GAP

                def begin(d: str = digit) -> None:
                    self._chan("DTMFBegin", "dtmf", one, ("Digit", d), ("Direction", "Received"))

                def finish(d: str = digit) -> None:
                    self._chan(
                        "DTMFEnd",
                        "dtmf",
                        one,
                        ("Digit", d),
                        ("DurationMs", "100"),
                        ("Direction", "Received"),
                    )

                self.at(t, begin)
                self.at(t + DTMF_LENGTH, finish)
            done = arrives + (len(digits) - 1) * DTMF_GAP + DTMF_LENGTH + 0.0006
            suffix = "" if len(digits) >= max_digits else " (timeout)"
            return [f"200 result={digits}{suffix}"], done
        if not keys and call.pending_keys:
            call.pending_keys.pop(0)  # this prompt gets silence
        if hangup < start + timeout:
            return ["200 result=-1"], hangup + 0.0008
        return ["200 result= (timeout)"], start + timeout

    def _variable(self, call: Call, name: str) -> str | None:
        if name in ("CHANNEL(linkedid)", "${CHANNEL(linkedid)}"):
            return call.channel.linkedid
        if name in ("CALLERID(num)", "${CALLERID(num)}"):
            return call.spec.number
        if name in ("CALLERID(name)", "${CALLERID(name)}"):
            return call.spec.name
        return call.variables.get(name)

    def agi_finished(self, call_id: int, status: str = "SUCCESS") -> None:
        """The AGI session ended: the dialplan goes on after AGI() with
        AGISTATUS `status` (FAILURE: the FastAGI server was unreachable)."""
        call = self.calls[call_id]
        if not call.agi_active:
            return
        call.agi_active = False
        one = call.channel
        if call.agi_script == "survey":
            self._varset(one, "AGISTATUS", "SUCCESS")
            self._newexten(one, 8, "Hangup", "")
            self._chan("SoftHangupRequest", "call", one, ("Cause", "16"))
            self._caller_gone(call)
            return
        if call.dead or not one.alive:
            if one.alive:
                self._varset(one, "AGISTATUS", "HANGUP")
                self._chan("SoftHangupRequest", "call", one, ("Cause", "16"))
                self._caller_hangup(call)
                if call.peer is not None:
                    self._device(one.name.split("-")[0], "NOT_INUSE")
            call.outcome = call.outcome or "ivr_hangup"
            self._finish(call)
            return
        self._varset(one, "AGISTATUS", status)
        queue = call.variables.get("ATIENDE_QUEUE", "")
        fallback = self.fallback_queue
        if not queue and fallback is not None and fallback in self.waiting:
            # The fail-safe dialplan: the IVR could not choose (unreachable, or
            # its session died with AGISTATUS SUCCESS): the fallback queue, and
            # no survey after it.
            self._newexten(one, 5, "GotoIf", "1?fallback")
            call.variables["ATIENDE_IVR_FALLBACK"] = status
            self._varset(one, "ATIENDE_IVR_FALLBACK", status)
            self._join(call, fallback)
            return
        self._newexten(one, 4, "GotoIf", f"{0 if queue else 1}?hangup")
        if not queue or queue not in self.waiting:
            call.outcome = "ivr_completed"
            self._newexten(one, 6, "Hangup", "")
            self._chan("SoftHangupRequest", "call", one, ("Cause", "16"))
            self._caller_gone(call)
            return
        self._join(call, queue)

    def _ivr_hangs_up(self, call: Call) -> None:
        one = call.channel
        call.agi_active = False
        self._chan("SoftHangupRequest", "call", one, ("Cause", "16"))
        self._caller_gone(call)

    # --------------------------------------------------------------- queues

    def _join(self, call: Call, queue: str) -> None:
        one = call.channel
        timeout = call.variables.get("ATIENDE_QUEUE_TIMEOUT", "") or "300"
        self._newexten(one, 5, "Queue", f"{queue},t,,,{timeout}")
        for name in ("ANSWEREDTIME", "ANSWEREDTIME_MS", "DIALEDTIME", "DIALEDTIME_MS"):
            self._varset(one, name, "")
        self._varset(one, "QUEUEWAIT", "")
        self._varset(one, "QUEUEWAIT_MS", "")
        waiting = self.waiting[queue]
        waiting.append(call)
        call.queue, call.joined = queue, self.now
        call.position = len(waiting)
        if len(waiting) == 1:
            self._device(f"Queue:{queue}", "RINGING")
        self._chan(
            "QueueCallerJoin",
            "agent",
            one,
            ("Queue", queue),
            ("Position", str(call.position)),
            ("Count", str(len(waiting))),
        )
        self._log(queue, one.uniqueid, "NONE", "ENTERQUEUE", "", call.spec.number, call.position)
        limit = call.spec.queue_timeout
        if limit is None and call.variables.get("ATIENDE_QUEUE_TIMEOUT", "").isdigit():
            limit = float(call.variables["ATIENDE_QUEUE_TIMEOUT"])
        if limit is not None and limit > 0:
            call.expires_at = self.now + limit
            self.at(call.expires_at, lambda: self._queue_timeout(call))
        self._dispatch(queue)

    def _dispatch_all(self) -> None:
        for queue in self.waiting:
            self._dispatch(queue)

    def _dispatch(self, queue: str) -> None:
        """Offer waiting callers, oldest first, to free members (rrmemory-ish:
        the member who took a call least recently rings first)."""
        # A caller who would hang up while the phone rings is not offered (the
        # recordings hold no cancelled ring to copy); the next caller is.
        ringing_ends = self.now + self.ring_seconds + 0.002
        for call in [c for c in self.waiting[queue] if c.agent is None]:
            if call.hangup_at <= ringing_ends or call.expires_at <= ringing_ends:
                continue
            free = [
                m
                for (q, _), m in self.members.items()
                if q == queue
                and not self.agents[m.interface].busy
                and not self.agents[m.interface].on_other_call
                and not m.paused
            ]
            if not free:
                return
            # A member who just let this caller's call ring out goes last.
            self._ring(call, min(free, key=lambda m: (m.interface in call.declined, m.last_call)))

    def _ring(self, call: Call, member: Member) -> None:
        agent = self.agents[member.interface]
        agent.busy = True
        call.agent = agent
        caller = call.channel
        linkedid = caller.linkedid
        if self.style == "local":
            seq = next(self._local_seq)
            base = f"Local/{agent.extension}@agents-{seq:08x}"
            leg = Channel(f"{base};1", self._uniqueid(), linkedid, "agents", agent.extension)
            peer = Channel(
                f"{base};2", self._uniqueid(), linkedid, "agents", agent.extension, state=4
            )
            call.agent_leg, call.agent_peer = leg, peer
            spec = call.spec
            self._chan("Newchannel", "call", leg)
            self._chan("Newchannel", "call", peer)
            leg.cid_num, leg.cid_name = spec.number, spec.name
            self._newexten(leg, 1, "AppQueue", "(Outgoing Line)")
            self._chan("NewCallerid", "call", leg, ("CID-CallingPres", _PRES))
            inherited = [
                ("CALLER_DTMF", spec.keys[0] if spec.keys else ""),
                ("CALLER_PATIENCE", _seconds(spec.patience)),
                ("__AGENT_TALK", _seconds(spec.talk)),
                ("CALLER_DELAY", _seconds(spec.delay)),
            ]
            dialed = f"{agent.extension}@agents/n"
            for name, value in inherited:
                self._varset(leg, name, value)
            self._varset(leg, "DIALEDPEERNUMBER", dialed)
            self._varset(peer, "DIALEDPEERNUMBER", dialed)
            for name, value in inherited:
                self._varset(peer, name, value)
            peer.cid_num, peer.cid_name = spec.number, spec.name
            peer.conn_num, peer.conn_name = spec.number, spec.name
            self._chan("NewCallerid", "call", peer, ("CID-CallingPres", _PRES))
            self._chan("NewConnectedLine", "call", peer)
            self._local_bridge(leg, peer, optimize=False)
            self._agent_called(call, member, leg)
            self._emit(
                "DialBegin",
                "call",
                [*caller.block(), *leg.block("Dest"), ("DialString", member.interface)],
            )
            self.at(self.now + self.ring_seconds, lambda: self._answer_local(call, member))
        else:
            seq = next(self._pjsip_seq)
            leg = Channel(
                f"PJSIP/{agent.extension}-{seq:08x}",
                self._uniqueid(),
                linkedid,
                "agents",
                "s",
                cid_num=agent.extension,
                cid_name=agent.name,
            )
            call.agent_leg = leg
            self._chan("Newchannel", "call", leg)
            self._varset(leg, "DIALEDPEERNUMBER", agent.extension)
            self._agent_called(call, member, leg)
            self._emit(
                "DialBegin",
                "call",
                [*caller.block(), *leg.block("Dest"), ("DialString", member.interface)],
            )
            # The phone keeps its own caller ID; each side's connected line is the other.
            caller.conn_num, caller.conn_name = agent.extension, agent.name
            self._chan("NewConnectedLine", "call", caller)
            leg.conn_num, leg.conn_name = caller.cid_num, caller.cid_name
            self._newstate(leg, 5)
            self._newexten(leg, 1, "AppQueue", "(Outgoing Line)")
            self._chan("NewConnectedLine", "call", leg)
            self._emit(
                "DialState",
                "call",
                [*caller.block(), *leg.block("Dest"), ("DialStatus", "RINGING")],
            )
            self._device(self._device_of(member.interface), "RINGING")
            rings_out = (
                self.no_answer_share > 0
                and self._rng.random() < self.no_answer_share
                and call.hangup_at > self.now + self.queue_timeout + 0.002
                and call.expires_at > self.now + self.queue_timeout + 0.002
            )
            if rings_out:
                self.at(self.now + self.queue_timeout, lambda: self._rang_out(call, member))
            else:
                self.at(self.now + self.ring_seconds, lambda: self._answer_pjsip(call, member))

    def _agent_called(self, call: Call, member: Member, leg: Channel) -> None:
        dest = leg.block("Dest")
        # AgentCalled names the member's dialplan entry point, not the dialled exten.
        dest = [(k, "s" if k == "DestExten" else v) for k, v in dest]
        # ... and shows the caller as the member's connected line already.
        dest = [(k, call.channel.cid_num if k == "DestConnectedLineNum" else v) for k, v in dest]
        dest = [(k, call.channel.cid_name if k == "DestConnectedLineName" else v) for k, v in dest]
        self._agent_event("AgentCalled", call, member, dest)

    def _agent_event(
        self, name: str, call: Call, member: Member, dest: list[Header], *extra: Header
    ) -> None:
        """An app_queue member event: the caller, the member's leg, the member."""
        self._emit(
            name,
            "agent",
            [
                *call.channel.block(),
                *dest,
                ("Queue", member.queue),
                ("Interface", member.interface),
                ("MemberName", member.name),
                *extra,
            ],
        )

    def _answer_local(self, call: Call, member: Member) -> None:
        leg, peer = call.agent_leg, call.agent_peer
        assert leg is not None and peer is not None
        self._newexten(peer, 1, "Answer", "")
        self._newstate(peer, 6)
        leg.exten = "s"
        leg.conn_num, leg.conn_name = call.spec.number, call.spec.name
        self._newstate(leg, 6)
        self._newexten(leg, 1, "AppQueue", "(Outgoing Line)")
        self._chan("NewConnectedLine", "call", leg)
        self._connect(call, member)
        talk_from = self.now + LOCAL_ANSWER_DELAY
        self.at(talk_from, lambda: self._newexten(peer, 2, "Wait", _seconds(call.spec.talk)))
        self.at(talk_from + call.spec.talk, lambda: self._agent_hangs_up(call, member))

    def _rang_out(self, call: Call, member: Member) -> None:
        """Nobody picked up within the queue's timeout (ring_no_answer.ami)."""
        caller, leg = call.channel, call.agent_leg
        assert leg is not None
        agent = self.agents[member.interface]
        ring_ms = str(int(self.queue_timeout * 1000))
        self._agent_event(
            "AgentRingNoAnswer", call, member, leg.block("Dest"), ("RingTime", ring_ms)
        )
        self._log(
            member.queue,
            caller.uniqueid,
            member.name,
            "RINGNOANSWER",
            int(self.queue_timeout * 1000),
        )
        for status in ("NOANSWER", "CANCEL"):
            self._emit(
                "DialEnd", "call", [*caller.block(), *leg.block("Dest"), ("DialStatus", status)]
            )
        self._hangup(leg, 0, "Unknown")
        agent.busy = False
        call.agent, call.agent_leg = None, None
        call.declined.add(member.interface)
        caller.conn_num, caller.conn_name = caller.cid_num, caller.cid_name
        self._emit("QueueMemberStatus", "agent", self.member_snapshot(member))
        self._device(self._device_of(member.interface), "NOT_INUSE")
        self.at(self.now + self.retry_seconds, self._dispatch_all)

    def _answer_pjsip(self, call: Call, member: Member) -> None:
        leg = call.agent_leg
        assert leg is not None
        self._newstate(leg, 6)
        self._connect(call, member)
        self.at(self.now + call.spec.talk, lambda: self._agent_hangs_up(call, member))

    def _connect(self, call: Call, member: Member) -> None:
        caller, leg = call.channel, call.agent_leg
        assert leg is not None
        agent = self.agents[member.interface]
        self._emit(
            "DialEnd", "call", [*caller.block(), *leg.block("Dest"), ("DialStatus", "ANSWER")]
        )
        device = self._device_of(member.interface)
        self._device(device, "INUSE")
        if self.style == "local":
            self._device(device, "INUSE")
        position = self.waiting[call.queue].index(call) + 1
        self._leave_queue(call, position)
        held = int(self.now) - int(call.joined)
        self._varset(caller, "QUEUEPOSITION", str(position))
        self._varset(caller, "QUEUEWAIT", str(held))
        self._varset(caller, "QUEUEWAIT_MS", str(held * 1000))
        call.connected = self.now
        call.outcome = "answered"
        agent.in_call = True
        self._log(
            call.queue,
            caller.uniqueid,
            member.name,
            "CONNECT",
            held,
            leg.uniqueid,
            int(self.ring_seconds),
        )
        self._agent_event(
            "AgentConnect",
            call,
            member,
            leg.block("Dest"),
            ("HoldTime", str(held)),
            ("RingTime", str(int(self.ring_seconds))),
        )
        self._emit("QueueMemberStatus", "agent", self.member_snapshot(member))
        self._device(f"Queue:{call.queue}_avail", "NOT_INUSE")
        call.bridge = str(uuid.UUID(int=(call.id * 0x9E3779B97F4A7C15) % (1 << 128), version=4))
        self._bridge_event("BridgeCreate", call, 0)
        self._bridge_event("BridgeEnter", call, 1, leg)
        self._bridge_event("BridgeEnter", call, 2, caller)
        self._varset(leg, "BRIDGEPEER", caller.name)
        self._varset(caller, "BRIDGEPEER", leg.name)

    def _bridge_event(self, name: str, call: Call, count: int, chan: Channel | None = None) -> None:
        headers: list[Header] = [
            ("BridgeUniqueid", call.bridge),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", UNKNOWN),
            ("BridgeName", UNKNOWN),
            ("BridgeNumChannels", str(count)),
            ("BridgeVideoSourceMode", "none"),
        ]
        if chan is not None:
            headers.extend(chan.block())
        self._emit(name, "call", headers)

    def _agent_hangs_up(self, call: Call, member: Member) -> None:
        caller, leg = call.channel, call.agent_leg
        assert leg is not None
        agent = self.agents[member.interface]
        if self.style == "local":
            peer = call.agent_peer
            assert peer is not None
            self._newexten(peer, 3, "Hangup", "")
            self._chan("SoftHangupRequest", "call", peer, ("Cause", "16"))
            self._chan("HangupRequest", "call", leg, ("Cause", "16"))
            self._hangup(peer)
        else:
            # A BYE from the phone: sip_mixed's HangupRequest carries no Cause.
            self._chan("HangupRequest", "call", leg)
        agent.in_call = False
        member.calls_taken += 1
        member.last_call = int(self.now)
        self._device(self._device_of(member.interface), "NOT_INUSE")
        self._emit("QueueMemberStatus", "agent", self.member_snapshot(member))
        talk = self.now - call.connected
        self._agent_event(
            "AgentComplete",
            call,
            member,
            leg.block("Dest"),
            ("HoldTime", str(int(call.connected) - int(call.joined))),
            ("TalkTime", str(int(self.now) - int(call.connected))),
            ("Reason", "agent"),
        )
        self._log(
            call.queue,
            caller.uniqueid,
            member.name,
            "COMPLETEAGENT",
            int(call.connected) - int(call.joined),
            int(self.now) - int(call.connected),
            call.position,
        )
        self._varset(leg, "BRIDGEPEER", "")
        self._varset(caller, "BRIDGEPEER", "")
        self._bridge_event("BridgeLeave", call, 1, leg)
        if self.style == "local":
            self._hangup(leg)
        self._bridge_event("BridgeLeave", call, 0, caller)
        self._varset(caller, "ANSWEREDTIME", str(int(talk)))
        self._varset(caller, "ANSWEREDTIME_MS", str(int(talk * 1000)))
        dialed = self.now - call.arrived
        self._varset(caller, "DIALEDTIME", str(int(dialed)))
        self._varset(caller, "DIALEDTIME_MS", str(int(dialed * 1000)))
        self._bridge_event("BridgeDestroy", call, 0)
        if self.survey and "ATIENDE_IVR_FALLBACK" not in call.variables:
            self._hangup(leg)
            self._start_survey(call)
        else:
            self._chan("SoftHangupRequest", "call", caller, ("Cause", "16"))
            self._caller_gone(call, then_agent=None if self.style == "local" else leg)
        # wrapuptime as app_queue keeps it: update_queue stores lastcall with
        # time() (whole seconds) at the end of the call, and can_ring_entry
        # skips the member while time() - lastcall < wrapuptime; so the hold
        # ends at the whole second lastcall + wrapuptime, up to 1 s short of
        # wrapuptime after the hangup (with shared_lastcall, in every queue).
        agent.busy = True  # wrap-up
        held_until = max(self.now, member.last_call + agent.wrapup)
        self.at(held_until, lambda: self._wrapup_over(agent))

    def _start_survey(self, call: Call) -> None:
        """Queue returned (option c): the caller goes on to the survey."""
        one = call.channel
        self._newexten(one, 6, "GotoIf", "0?hangup")
        url = self._agi_url("survey")
        self._newexten(one, 7, "AGI", url)
        call.agi_active = True
        call.agi_script = "survey"
        self._agi_starts.append(call.id)

    def _wrapup_over(self, agent: Agent) -> None:
        agent.busy = False
        self._dispatch_all()

    def _caller_gone(self, call: Call, then_agent: Channel | None = None) -> None:
        """The caller's channel(s) hang up after a SoftHangupRequest on ;1."""
        one, two = call.channel, call.peer
        if two is not None and two.alive:
            self._chan("HangupRequest", "call", two, ("Cause", "16"))
            self._hangup(one)
            self._chan("SoftHangupRequest", "call", two, ("Cause", "16"))
            self._hangup(two)
        else:
            self._hangup(one)
        if then_agent is not None:
            self._hangup(then_agent)
        if call.agent is not None and self.style == "local":
            self._device(self._device_of(call.agent.interface), "NOT_INUSE")
        if two is not None:
            device = one.name.split("-")[0]
            self._device(device, "NOT_INUSE")
            self._device(device, "NOT_INUSE")
        call.dead = True
        self._finish(call)

    def _caller_hangup(self, call: Call) -> None:
        """Hangup of a caller who left: a PJSIP BYE without a Reason leaves
        the cause unset (sip_mixed's abandons: Cause 0, Unknown)."""
        if call.peer is None:
            self._hangup(call.channel, 0, "Unknown")
        else:
            self._hangup(call.channel)

    def _caller_hangs_up(self, call: Call) -> None:
        """The caller's patience ran out (ignored once an agent answered)."""
        if call.dead or call.outcome in ("answered", "ivr_completed"):
            return
        one, two = call.channel, call.peer
        call.dead = True
        if two is not None:
            self._newexten(two, 5, "Hangup", "")
            self._chan("SoftHangupRequest", "call", two, ("Cause", "16"))
            self._chan("HangupRequest", "call", one, ("Cause", "16"))
            self._hangup(two)
        else:
            self._chan("HangupRequest", "call", one)  # a BYE, as in sip_mixed
        if call.agi_active:
            call.outcome = "ivr_hangup"
            if two is not None:
                device = one.name.split("-")[0]
                self._device(device, "NOT_INUSE")
            call.announce_hangup = True
            return
        if call in self.waiting.get(call.queue, []):
            self._abandon(call)

    def _abandon(self, call: Call) -> None:
        one = call.channel
        # app_queue counts waits in whole seconds of time_t.
        held = int(self.now) - int(call.joined)
        self._unanswered_times(call, held)
        self._varset(one, "ABANDONED", "TRUE")
        position = self.waiting[call.queue].index(call) + 1
        self._caller_abandon(call, position, held, "ABANDON")
        self._leave_queue(call, position)
        self._varset(one, "QUEUEPOSITION", str(position))
        self._chan("SoftHangupRequest", "call", one, ("Cause", "16"))
        self._caller_hangup(call)
        if call.peer is not None:
            device = one.name.split("-")[0]
            self._device(device, "NOT_INUSE")
            self._device(device, "NOT_INUSE")
        call.outcome = "abandoned"
        self._finish(call)

    def _queue_timeout(self, call: Call) -> None:
        """Queue()'s timeout ran out (app_queue's EXITWITHTIMEOUT): the
        caller is let go through record_abandoned, so QueueCallerAbandon comes
        first, then the leave, then QUEUESTATUS=TIMEOUT, and the dialplan goes
        on (to Hangup: no member answered)."""
        waiting = self.waiting.get(call.queue, [])
        if call.dead or call not in waiting:
            return
        if call.agent is not None:
            # A member is ringing: app_queue checks the timeout when the ring ends.
            self.at(self.now + 0.5, lambda: self._queue_timeout(call))
            return
        one = call.channel
        held = int(self.now) - int(call.joined)
        position = waiting.index(call) + 1
        self._varset(one, "ABANDONED", "TRUE")
        self._caller_abandon(call, position, held, "EXITWITHTIMEOUT")
        self._unanswered_times(call, held)
        self._leave_queue(call, position)
        self._varset(one, "QUEUEPOSITION", str(position))
        self._varset(one, "QUEUESTATUS", "TIMEOUT")
        call.outcome = "exit_timeout"
        call.dead = True
        self._newexten(one, 6, "GotoIf", "1?hangup")
        self._newexten(one, 8, "Hangup", "")
        self._chan("SoftHangupRequest", "call", one, ("Cause", "16"))
        self._caller_gone(call)

    def _unanswered_times(self, call: Call, held: int) -> None:
        """The wait and dial times app_queue leaves on a caller no member answered."""
        one, dialed = call.channel, self.now - call.arrived
        self._varset(one, "QUEUEWAIT", str(held))
        self._varset(one, "QUEUEWAIT_MS", str(held * 1000))
        self._varset(one, "DIALEDTIME", str(int(dialed)))
        self._varset(one, "DIALEDTIME_MS", str(int(dialed * 1000)))
        self._varset(one, "ANSWEREDTIME", "0")
        self._varset(one, "ANSWEREDTIME_MS", "0")

    def _caller_abandon(self, call: Call, position: int, held: int, event: str) -> None:
        """QueueCallerAbandon and its queue_log line (ABANDON or EXITWITHTIMEOUT)."""
        one = call.channel
        self._chan(
            "QueueCallerAbandon",
            "agent",
            one,
            ("Queue", call.queue),
            ("Position", str(position)),
            ("OriginalPosition", str(call.position)),
            ("HoldTime", str(held)),
        )
        self._log(call.queue, one.uniqueid, "NONE", event, position, call.position, held)

    def _leave_queue(self, call: Call, position: int) -> None:
        """The caller leaves the queue: QueueCallerLeave, the queue idle once empty."""
        waiting = self.waiting[call.queue]
        waiting.remove(call)
        if not waiting:
            self._device(f"Queue:{call.queue}", "NOT_INUSE")
        self._chan(
            "QueueCallerLeave",
            "agent",
            call.channel,
            ("Queue", call.queue),
            ("Position", str(position)),
            ("Count", str(len(waiting))),
        )

    def _finish(self, call: Call) -> None:
        if call.id in self.calls:
            del self.calls[call.id]
            self.finished.append(call)


_PRES = "0 (Presentation Allowed, Not Screened)"
# The extensions of the sample dialplan (deploy/asterisk/extensions.conf)
# that an Originate may be sent to, by context.
CALLBACK_CONTEXT = "atiende-callback"
DIALPLAN: dict[str, tuple[str, ...]] = {
    "from-agents": ("_40XX", "_XXX.", "_+XXX."),
    CALLBACK_CONTEXT: ("_XXX.", "_+XXX."),
    "from-pstn": ("_X.", "s"),
    "agents": ("_40XX",),
}


def _pattern_matches(pattern: str, exten: str) -> bool:
    """Asterisk's extension patterns: `_` then X (0-9), Z (1-9), N (2-9),
    `.` (one or more of anything), `!` (zero or more), literals."""
    if not pattern.startswith("_"):
        return pattern == exten
    body = pattern[1:]
    for index, char in enumerate(body):
        if char == ".":
            return len(exten) > index
        if char == "!":
            return True
        if index >= len(exten):
            return False
        digit = exten[index]
        if char == "X":
            ok = digit.isdigit()
        elif char == "Z":
            ok = digit in "123456789"
        elif char == "N":
            ok = digit in "23456789"
        else:
            ok = digit == char
        if not ok:
            return False
    return len(exten) == len(body)


def _exten_exists(context: str, exten: str) -> bool:
    return any(_pattern_matches(p, exten) for p in DIALPLAN.get(context, ()))


def _bridge_block(bridge: str, count: int) -> list[Header]:
    return [
        ("BridgeUniqueid", bridge),
        ("BridgeType", "basic"),
        ("BridgeTechnology", "simple_bridge"),
        ("BridgeCreator", "<unknown>"),
        ("BridgeName", "<unknown>"),
        ("BridgeNumChannels", str(count)),
        ("BridgeVideoSourceMode", "none"),
    ]


def _split_caller_id(caller_id: str) -> tuple[str, str]:
    """`"Name" <number>` (or a bare number) as Asterisk parses CallerID."""
    text = caller_id.strip()
    if "<" in text and text.endswith(">"):
        name, number = text[:-1].split("<", 1)
        return number.strip(), name.strip().strip('"')
    return text, ""


_DEAD_OK = frozenset({"GET VARIABLE", "GET FULL", "SET VARIABLE", "VERBOSE"})


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
