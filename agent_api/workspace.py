"""What the agent's workspace shows for a sequence of call events (pure).

`apply(workspace, frame)` takes the frames the pop hub sends a user (the
JSON-ready dicts of agent_api.frames, plus a few the workspace itself gets:
`wrapup.saved`, `acw.started`, `acw.ended`, `control.requested`, `tick`) and
returns the new workspace and the regions of the screen that changed. The
socket adapter (agent_api.web.agente_socket) renders those regions and
pushes them; the browser only puts them in place.

The rules the reviewers asked for, all decided here:

- Every wrap-up belongs to one call. A call the agent answered gets its own
  wrap-up form, keyed by the call, added once and never re-targeted: a new
  call adds a new form beside the ones in progress. The active form changes
  only when the agent's own call ends (focus goes to its wrap-up) or when no
  form is active.
- One person on screen: the person area belongs to the call on the call card
  and is replaced whole whenever that call or its person changes.
- The call card shows the newest call that is ringing or up; a call that rang
  and was taken by someone else, or not answered, leaves the card; the
  agent's ended call stays for its wrap-up and leaves once that is saved.
- A control the agent asked for is "pendiente de confirmación" until the AMI
  state confirms it; after CONFIRM_SECONDS without it, a warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

CONFIRM_SECONDS = 5.0
# The reason of the after-call pause (QueuePause Reason; agent_api.after_call).
ACW_REASON = "Cierre"
# States the agent's talk ending brings (AgentComplete, the "Cierre" pause):
# they reach the page before the call's end (CallEnded, after the caller's
# channel hangs up, or the survey), so the bar waits for the card.
_AFTER_TALK_STATES = frozenset({"wrap_up", "available"})


class Phase(StrEnum):
    RINGING = "sonando"
    TALKING = "en_llamada"
    ENDED = "finalizada"
    TAKEN = "atendida_por_otro"
    MISSED = "no_atendida"


class Region(StrEnum):
    STATUS = "estado"
    CALL = "llamada"
    PERSON = "persona"
    WRAPUP_TABS = "cierres"
    PENDING = "pendientes"


@dataclass(frozen=True, slots=True)
class CallId:
    system: str
    linkedid: str

    @property
    def dom_id(self) -> str:
        """A DOM-safe id for this call's elements (linkedids carry dots)."""
        return "c-" + "".join(
            ch if ch.isalnum() else "_" for ch in f"{self.system}-{self.linkedid}"
        )

    @classmethod
    def of(cls, frame: Mapping[str, Any]) -> CallId | None:
        call = frame.get("call")
        if not isinstance(call, Mapping):
            return None
        system, linkedid = call.get("system"), call.get("linkedid")
        if not isinstance(system, str) or not isinstance(linkedid, str):
            return None
        return cls(system, linkedid)


@dataclass(frozen=True, slots=True)
class PersonArea:
    """What the person area shows for one call (replaced whole, never merged)."""

    status: str = "buscando"  # buscando, demorada, identificada, varias, desconocida, error
    person: Mapping[str, Any] | None = None
    candidates: tuple[Mapping[str, Any], ...] = ()
    history: tuple[Mapping[str, Any], ...] = ()
    open_requests: tuple[Mapping[str, Any], ...] = ()
    open_request_count: int | None = None

    @property
    def person_id(self) -> int | None:
        if self.person is None:
            return None
        value = self.person.get("id")
        return value if isinstance(value, int) else None


@dataclass(frozen=True, slots=True)
class Call:
    id: CallId
    caller_number: str
    caller_name: str
    queue: str | None
    wait_seconds: float | None
    ivr_path: tuple[str, ...]
    topic: str | None
    rung_at: float
    phase: Phase = Phase.RINGING
    answered_at: float | None = None
    ended_at: float | None = None
    outcome: str | None = None
    mine: bool = False  # answered by this agent
    person: PersonArea = field(default_factory=PersonArea)


@dataclass(frozen=True, slots=True)
class Wrapup:
    """One wrap-up form: the call it belongs to, as its header names it."""

    id: CallId
    caller_number: str
    caller_name: str
    queue: str | None
    started_at: float | None
    ended: bool = False
    deadline: float | None = None  # end of the after-call pause, when one runs


@dataclass(frozen=True, slots=True)
class Control:
    kind: str  # pause, unpause, join, leave
    expected_state: str | None  # the AMI state that confirms it (None: queue lists)
    queue: str | None
    requested_at: float
    warned: bool = False


@dataclass(frozen=True, slots=True)
class AgentStatus:
    state: str = "desconocido"
    reason: str | None = None
    since: float | None = None
    queues: tuple[str, ...] = ()
    pending: Control | None = None
    acw_call: CallId | None = None
    acw_until: float | None = None
    # Interfaces the after-call pause did not reach, with Asterisk's reason in Spanish.
    acw_failed: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Workspace:
    calls: tuple[Call, ...] = ()
    current: CallId | None = None
    wrapups: tuple[Wrapup, ...] = ()
    active_wrapup: CallId | None = None
    status: AgentStatus = field(default_factory=AgentStatus)
    pending_count: int = 0

    def call(self, call_id: CallId | None) -> Call | None:
        for call in self.calls:
            if call.id == call_id:
                return call
        return None

    @property
    def current_call(self) -> Call | None:
        return self.call(self.current)

    @property
    def shown_status(self) -> AgentStatus:
        """The status bar's: while the card shows the agent's call up, the
        after-call state ("En cierre", the "Cierre" pause) that the end of the
        agent's talk brings waits for the card to show the call ended; one
        page never says both "En llamada" and "Cierre"."""
        status = self.status
        call = self.current_call
        if call is None or not call.mine or call.phase is not Phase.TALKING:
            return status
        after_talk = (
            status.state in _AFTER_TALK_STATES
            or status.reason == ACW_REASON
            or status.acw_call is not None
        )
        if not after_talk:
            return status
        return replace(
            status,
            state="on_call",
            reason=None,
            since=call.answered_at,
            acw_call=None,
            acw_until=None,
            acw_failed=(),
        )

    def wrapup(self, call_id: CallId | None) -> Wrapup | None:
        for item in self.wrapups:
            if item.id == call_id:
                return item
        return None


@dataclass(frozen=True, slots=True)
class Changes:
    """What to redraw after one frame."""

    regions: frozenset[Region] = frozenset()
    added_wrapups: tuple[CallId, ...] = ()  # forms to add (never replace)
    removed_wrapups: tuple[CallId, ...] = ()
    focus_wrapup: CallId | None = None  # move focus into this form
    ring: bool = False  # title flash, sound, desktop notification

    def __or__(self, other: Changes) -> Changes:
        return Changes(
            self.regions | other.regions,
            self.added_wrapups + other.added_wrapups,
            self.removed_wrapups + other.removed_wrapups,
            other.focus_wrapup or self.focus_wrapup,
            self.ring or other.ring,
        )


NOTHING = Changes()
# Calls kept on the workspace once over (the call card forgets them sooner).
MAX_CALLS = 20


def dedupe_path(steps: Iterable[str]) -> tuple[str, ...]:
    """The IVR path without repeated steps (a menu replayed three times shows once)."""
    out: list[str] = []
    for step in steps:
        text = str(step).strip()
        if text and text not in out:
            out.append(text)
    return tuple(out)


def initial(
    pending: Iterable[Wrapup] = (), *, status: AgentStatus | None = None, pending_count: int = 0
) -> Workspace:
    """The workspace at page load: the wrap-ups still open, oldest first."""
    forms = tuple(pending)
    return Workspace(
        wrapups=forms,
        active_wrapup=forms[-1].id if forms else None,
        status=status or AgentStatus(),
        pending_count=pending_count,
    )


def _when(frame: Mapping[str, Any]) -> float:
    """When the frame reached the server (its own clock), else the event's time.

    Timers on screen count from the server's receipt: the PBX's clock (or the
    demo's simulated one) is not the one the page compares with.
    """
    return float(frame.get("received_at") or frame.get("at") or 0.0)


def apply(ws: Workspace, frame: Mapping[str, Any]) -> tuple[Workspace, Changes]:
    kind = frame.get("type")
    handler = _HANDLERS.get(str(kind))
    if handler is None:
        return ws, NOTHING
    return handler(ws, frame)


def apply_all(ws: Workspace, frames: Iterable[Mapping[str, Any]]) -> tuple[Workspace, Changes]:
    changes = NOTHING
    for frame in frames:
        ws, more = apply(ws, frame)
        changes = changes | more
    return ws, changes


# ---------------------------------------------------------------- handlers


def _replace_call(ws: Workspace, call: Call) -> Workspace:
    return replace(ws, calls=tuple(call if c.id == call.id else c for c in ws.calls))


def _latest_live(ws: Workspace, excluding: CallId | None = None) -> CallId | None:
    for call in reversed(ws.calls):
        if call.id != excluding and call.phase in (Phase.RINGING, Phase.TALKING):
            return call.id
    return None


def _pop(ws: Workspace, frame: Mapping[str, Any]) -> tuple[Workspace, Changes]:
    call_id = CallId.of(frame)
    if call_id is None:
        return ws, NOTHING
    caller = frame.get("caller") or {}
    ivr = frame.get("ivr") or {}
    existing = ws.call(call_id)
    call = Call(
        id=call_id,
        caller_number=str(caller.get("number") or ""),
        caller_name=str(caller.get("name") or ""),
        queue=frame.get("queue"),
        wait_seconds=frame.get("wait_seconds"),
        ivr_path=dedupe_path(ivr.get("path") or ()),
        topic=ivr.get("topic"),
        rung_at=_when(frame),
    )
    if existing is not None:
        # A ring again (the queue retried this agent): the call stays as it was
        # known, its person included.
        call = (
            replace(existing, phase=Phase.RINGING)
            if existing.phase is not Phase.TALKING
            else existing
        )
        ws = _replace_call(ws, call)
    else:
        ws = replace(ws, calls=(*ws.calls, call)[-MAX_CALLS:])
    ws = replace(ws, current=call_id)
    return ws, Changes(frozenset({Region.CALL, Region.PERSON}), ring=True)


def _person(ws: Workspace, frame: Mapping[str, Any]) -> tuple[Workspace, Changes]:
    call = ws.call(CallId.of(frame))
    if call is None:
        return ws, NOTHING
    status = str(frame.get("person_status") or "error")
    if status == "demorada" and call.person.status != "buscando":
        return ws, NOTHING  # the lookup already answered
    requests = tuple(frame.get("open_requests") or ())
    count = frame.get("open_requests_count")
    area = PersonArea(
        status=status,
        person=frame.get("person"),
        candidates=tuple(frame.get("candidates") or ()),
        history=tuple(
            h for h in (frame.get("history") or ()) if h.get("reference") != call.id.linkedid
        ),
        open_requests=requests,
        open_request_count=count if isinstance(count, int) else len(requests),
    )
    ws = _replace_call(ws, replace(call, person=area))
    regions = frozenset({Region.PERSON}) if ws.current == call.id else frozenset()
    return ws, Changes(regions)


def _answered(ws: Workspace, frame: Mapping[str, Any]) -> tuple[Workspace, Changes]:
    call = ws.call(CallId.of(frame))
    if call is None:
        return ws, NOTHING
    at = _when(frame)
    call = replace(call, phase=Phase.TALKING, answered_at=at, mine=True)
    ws = replace(_replace_call(ws, call), current=call.id)
    changes = Changes(frozenset({Region.CALL, Region.PERSON}))
    if ws.wrapup(call.id) is None:
        form = Wrapup(call.id, call.caller_number, call.caller_name, call.queue, at)
        ws = replace(ws, wrapups=(*ws.wrapups, form))
        changes = changes | Changes(frozenset({Region.WRAPUP_TABS}), added_wrapups=(call.id,))
        if ws.active_wrapup is None:
            ws = replace(ws, active_wrapup=call.id)
    return ws, changes


def _not_mine(ws: Workspace, frame: Mapping[str, Any], phase: Phase) -> tuple[Workspace, Changes]:
    call = ws.call(CallId.of(frame))
    if call is None or call.mine:
        return ws, NOTHING
    ws = _replace_call(ws, replace(call, phase=phase))
    if ws.current != call.id:
        return ws, NOTHING
    ws = replace(ws, current=_latest_live(ws, excluding=call.id))
    return ws, Changes(frozenset({Region.CALL, Region.PERSON}))


def _taken(ws: Workspace, frame: Mapping[str, Any]) -> tuple[Workspace, Changes]:
    return _not_mine(ws, frame, Phase.TAKEN)


def _ring_no_answer(ws: Workspace, frame: Mapping[str, Any]) -> tuple[Workspace, Changes]:
    return _not_mine(ws, frame, Phase.MISSED)


def _ended(ws: Workspace, frame: Mapping[str, Any]) -> tuple[Workspace, Changes]:
    call = ws.call(CallId.of(frame))
    if call is None:
        return ws, NOTHING
    mine = bool(frame.get("wrap_up"))
    at = _when(frame)
    if not mine and not call.mine:
        # Rung here, answered elsewhere or abandoned: it leaves the card.
        ws, changes = _not_mine(ws, frame, Phase.MISSED)
        return ws, changes
    call = replace(call, phase=Phase.ENDED, ended_at=at, outcome=frame.get("outcome"), mine=True)
    ws = _replace_call(ws, call)
    # STATUS: the after-call state held while the card showed the call up.
    changes = Changes(frozenset({Region.CALL, Region.WRAPUP_TABS, Region.STATUS}))
    form = ws.wrapup(call.id)
    if form is None:
        form = Wrapup(call.id, call.caller_number, call.caller_name, call.queue, call.answered_at)
        ws = replace(ws, wrapups=(*ws.wrapups, form))
        changes = changes | Changes(added_wrapups=(call.id,))
    form = replace(form, ended=True)
    ws = replace(
        ws,
        wrapups=tuple(form if w.id == call.id else w for w in ws.wrapups),
        active_wrapup=call.id,
        pending_count=ws.pending_count + 1,
    )
    return ws, changes | Changes(frozenset({Region.PENDING}), focus_wrapup=call.id)


def _saved(ws: Workspace, frame: Mapping[str, Any]) -> tuple[Workspace, Changes]:
    call_id = CallId.of(frame)
    form = ws.wrapup(call_id)
    if call_id is None or form is None:
        return ws, NOTHING
    rest = tuple(w for w in ws.wrapups if w.id != call_id)
    active = ws.active_wrapup
    if active == call_id:
        active = rest[-1].id if rest else None
    ws = replace(
        ws,
        wrapups=rest,
        active_wrapup=active,
        pending_count=max(0, ws.pending_count - (1 if form.ended else 0)),
    )
    regions = frozenset({Region.WRAPUP_TABS, Region.PENDING})
    shown = ws.current_call
    if shown is not None and shown.id == call_id and shown.phase is Phase.ENDED:
        # The ended call stayed on the card for its wrap-up; saved, nothing
        # justifies showing its caller and person any longer (as after a reload).
        ws = replace(ws, current=_latest_live(ws, excluding=call_id))
        regions |= {Region.CALL, Region.PERSON}
    return ws, Changes(regions, removed_wrapups=(call_id,))


def _select(ws: Workspace, frame: Mapping[str, Any]) -> tuple[Workspace, Changes]:
    """The agent picked a wrap-up tab (or opened one from the pending list)."""
    call_id = CallId.of(frame)
    if call_id is None:
        return ws, NOTHING
    changes = NOTHING
    if ws.wrapup(call_id) is None:
        form = Wrapup(
            call_id,
            str(frame.get("caller_number") or ""),
            str(frame.get("caller_name") or ""),
            frame.get("queue"),
            frame.get("started_at"),
            ended=True,
        )
        ws = replace(ws, wrapups=(*ws.wrapups, form))
        changes = Changes(added_wrapups=(call_id,))
    ws = replace(ws, active_wrapup=call_id)
    return ws, changes | Changes(frozenset({Region.WRAPUP_TABS}), focus_wrapup=call_id)


def _agent_state(ws: Workspace, frame: Mapping[str, Any]) -> tuple[Workspace, Changes]:
    state = str(frame.get("state") or "desconocido")
    status = ws.status
    pending = status.pending
    if pending is not None and (pending.expected_state is None or pending.expected_state == state):
        pending = None
    queue = frame.get("queue")
    queues = status.queues
    if state == "logged_out" and queue in queues:
        queues = tuple(q for q in queues if q != queue)
    elif queue and state != "logged_out" and queue not in queues:
        queues = (*queues, queue)
    status = replace(
        status,
        state=state,
        reason=frame.get("reason"),
        since=_when(frame),
        pending=pending,
        queues=queues,
    )
    return replace(ws, status=status), Changes(frozenset({Region.STATUS}))


def _queues(ws: Workspace, frame: Mapping[str, Any]) -> tuple[Workspace, Changes]:
    """The agent's queue memberships as Asterisk reported them (QueueStatus)."""
    queues = tuple(str(q) for q in frame.get("queues") or ())
    status = ws.status
    pending = status.pending
    if pending is not None and pending.kind in ("join", "leave"):
        joined = pending.queue in queues
        if (pending.kind == "join") == joined:
            pending = None
    return replace(ws, status=replace(status, queues=queues, pending=pending)), Changes(
        frozenset({Region.STATUS})
    )


def _requested(ws: Workspace, frame: Mapping[str, Any]) -> tuple[Workspace, Changes]:
    control = Control(
        kind=str(frame.get("kind")),
        expected_state=frame.get("expected_state"),
        queue=frame.get("queue"),
        requested_at=float(frame.get("at") or 0.0),
    )
    # Asterisk's answer (the state frame) may reach the page before the
    # request does: a state entered since the actions were sent confirms it.
    sent_at = frame.get("sent_at")
    status = ws.status
    if (
        control.expected_state is not None
        and control.expected_state == status.state
        and sent_at is not None
        and status.since is not None
        and status.since >= float(sent_at)
    ):
        return ws, NOTHING
    return replace(ws, status=replace(ws.status, pending=control)), Changes(
        frozenset({Region.STATUS})
    )


def _acw_started(ws: Workspace, frame: Mapping[str, Any]) -> tuple[Workspace, Changes]:
    call_id = CallId.of(frame)
    until = frame.get("until")
    failed = tuple(
        (str(f.get("interface", "")), str(f.get("detalle", ""))) for f in frame.get("failed") or ()
    )
    status = replace(ws.status, acw_call=call_id, acw_until=until, acw_failed=failed)
    wrapups = tuple(replace(w, deadline=until) if w.id == call_id else w for w in ws.wrapups)
    return replace(ws, status=status, wrapups=wrapups), Changes(
        frozenset({Region.STATUS, Region.WRAPUP_TABS})
    )


def _acw_ended(ws: Workspace, frame: Mapping[str, Any]) -> tuple[Workspace, Changes]:
    call_id = CallId.of(frame)
    if ws.status.acw_call is not None and call_id is not None and ws.status.acw_call != call_id:
        return ws, NOTHING  # a later call's after-call work is running
    status = replace(ws.status, acw_call=None, acw_until=None, acw_failed=())
    wrapups = tuple(replace(w, deadline=None) if w.id == call_id else w for w in ws.wrapups)
    return replace(ws, status=status, wrapups=wrapups), Changes(
        frozenset({Region.STATUS, Region.WRAPUP_TABS})
    )


def _tick(ws: Workspace, frame: Mapping[str, Any]) -> tuple[Workspace, Changes]:
    pending = ws.status.pending
    now = float(frame.get("at") or 0.0)
    if pending is None or pending.warned or now - pending.requested_at < CONFIRM_SECONDS:
        return ws, NOTHING
    status = replace(ws.status, pending=replace(pending, warned=True))
    return replace(ws, status=status), Changes(frozenset({Region.STATUS}))


_HANDLERS = {
    "pop": _pop,
    "pop.person": _person,
    "call.answered": _answered,
    "call.taken": _taken,
    "call.ring_no_answer": _ring_no_answer,
    "call.ended": _ended,
    "wrapup.saved": _saved,
    "wrapup.select": _select,
    "agent.state": _agent_state,
    "agent.queues": _queues,
    "control.requested": _requested,
    "acw.started": _acw_started,
    "acw.ended": _acw_ended,
    "tick": _tick,
}
