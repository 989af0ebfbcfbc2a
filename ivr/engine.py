"""The IVR engine: flow + call state + event in, next state + one action out. Pure.

No sockets, no clock, no services: the current time arrives in the Started
event, service answers arrive as events. The server adapter carries each
action out over AGI and feeds back what happened.

A node may need several actions in a row (prompts, then variables); they are
queued in `CallState.pending` and handed out one per step, each on the Done
of the previous one. The event after the last queued action goes to the node.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

from citizen import cedula
from ivr.actions import (
    Action,
    CallInfo,
    CallService,
    DigitsRead,
    Done,
    EndSession,
    Event,
    FindPersonByCedula,
    FindPersonByPhone,
    GetExpectedWait,
    GetRequestStatus,
    HangUp,
    NameReady,
    PlayPrompt,
    PrepareName,
    ReadDigits,
    ReadVariable,
    RequestCallback,
    SayDigits,
    ServiceFailed,
    ServiceReplied,
    SetVariable,
    Started,
    StoreSurvey,
    VariableRead,
)
from ivr.exceptions import FlowRuntimeError
from ivr.flows import Flow
from ivr.nodes import (
    Branch,
    Callback,
    Collect,
    ConfirmPerson,
    Hangup,
    Hours,
    Identify,
    Menu,
    Node,
    Notice,
    Play,
    Queue,
    RecordSurvey,
    RequestStatusLookup,
    Retry,
    SetValues,
    Transfer,
)
from ivr.services import Person, RequestStatus

LINKEDID_VARIABLE = "CHANNEL(linkedid)"
MAX_HOPS = 64
_LINKEDID = re.compile(r"^[0-9]{1,20}\.[0-9]{1,10}$")
_PHONE = re.compile(r"^\+?[0-9]{3,20}$")
# The shared default of CallState.values: read-only, so no call can change another's.
_NO_VALUES: Mapping[str, str] = MappingProxyType({})


# Immutable like the frozen dataclasses around it, but a NamedTuple: the engine
# copies the state two or three times per command, and `_replace` copies a
# tuple in C where `dataclasses.replace` walks `fields()` and runs a frozen
# `__init__` (one object.__setattr__ per field): that was ~14 % of the FastAGI
# server's CPU under load (bench/README.md, bench.agi_latency).
class CallState(NamedTuple):
    call: CallInfo
    now: dt.datetime
    node: str = ""
    phase: str = ""
    attempts: int = 0
    pending: tuple[Action, ...] = ()
    values: Mapping[str, str] = _NO_VALUES
    path: tuple[str, ...] = ()
    topic: str = ""
    person_id: str = ""
    # The matched person's first name only (to ask "si usted es ..."): never sent
    # to Asterisk as text, never logged.
    person_name: str = ""
    linkedid: str = ""
    notice_version: str = ""
    finished: bool = False
    # What ATIENDE_IVR_PATH / ATIENDE_TOPIC hold on the channel now, and the node
    # to enter once the queued actions that update them are done.
    announced_path: tuple[str, ...] = ()
    announced_topic: str = ""
    then: str = ""


class Decision(NamedTuple):
    state: CallState
    action: Action


@dataclass(frozen=True, slots=True)
class _Entered:
    """Internal: the node was just entered."""


class _Goto(NamedTuple):
    target: str
    state: CallState


_ENTERED = _Entered()


def start(event: Started) -> Decision:
    """First step of every call: learn the call's linkedid (it names the attention)."""
    state = CallState(call=event.call, now=event.now)
    return Decision(state, ReadVariable(LINKEDID_VARIABLE))


def step(flow: Flow, state: CallState, event: Event) -> Decision:
    """Next action for `state` after `event`."""
    if state.finished:
        raise FlowRuntimeError("the call already finished")
    if state.pending:
        if not isinstance(event, Done):
            raise FlowRuntimeError(f"expected Done for a queued action, got {event!r}")
        return _emit(state, state.pending)
    if state.then:
        if not isinstance(event, Done):
            raise FlowRuntimeError(f"expected Done for a queued action, got {event!r}")
        return _run(flow, _Goto(state.then, state._replace(then="")))
    if state.node == "":
        if not isinstance(event, VariableRead):
            raise FlowRuntimeError("the first event must be the linkedid")
        # Both come from Asterisk but pass through the network: only ids that look
        # like Asterisk ids reach the services.
        candidates = (event.value or "", state.call.uniqueid)
        linkedid = next((c for c in candidates if _LINKEDID.fullmatch(c)), "")
        return _run(flow, _Goto(flow.start, state._replace(linkedid=linkedid)))
    outcome = _handle(flow, flow.node(state.node), state, event)
    return _run(flow, outcome)


def _run(flow: Flow, outcome: Decision | _Goto) -> Decision:
    hops = 0
    while isinstance(outcome, _Goto):
        hops += 1
        if hops > MAX_HOPS:
            raise FlowRuntimeError(f"flow {flow.name} loops without doing anything")
        announce = _announcements(outcome.state)
        if announce:
            # The channel learns each choice as it is made, so a caller who hangs
            # up later (even mid-typing a cédula) leaves the choices so far, and
            # nothing else, on the attention.
            told = outcome.state._replace(
                announced_path=outcome.state.path,
                announced_topic=outcome.state.topic,
                then=outcome.target,
            )
            return _emit(told, announce)
        entered = outcome.state._replace(node=outcome.target, phase="", attempts=0)
        outcome = _handle(flow, flow.node(outcome.target), entered, _ENTERED)
    if isinstance(outcome.action, HangUp | EndSession):
        return Decision(outcome.state._replace(finished=True), outcome.action)
    return outcome


def _announcements(state: CallState) -> list[Action]:
    """SET VARIABLEs for the IVR's own choices not yet on the channel (never keyed data)."""
    out: list[Action] = []
    if state.path != state.announced_path:
        out.append(SetVariable("ATIENDE_IVR_PATH", ",".join(state.path)))
    if state.topic and state.topic != state.announced_topic:
        out.append(SetVariable("ATIENDE_TOPIC", state.topic))
    return out


def _emit(state: CallState, actions: tuple[Action, ...] | list[Action]) -> Decision:
    first = actions[0]
    finished = isinstance(first, HangUp | EndSession)
    return Decision(state._replace(pending=tuple(actions[1:]), finished=finished), first)


def _goto(target: str, state: CallState) -> _Goto:
    return _Goto(target, state)


def _on_error(flow: Flow, node_target: str | None, state: CallState) -> _Goto:
    return _goto(node_target or flow.on_service_error, state)


def _retry(
    state: CallState, retry: Retry, fallback: str, silent: bool, again: ReadDigits
) -> Decision | _Goto:
    attempts = state.attempts + 1
    if attempts >= retry.attempts:
        return _goto(fallback, state)
    prompt = retry.no_input_prompt if silent else retry.invalid_prompt
    return _emit(state._replace(attempts=attempts), [PlayPrompt(prompt), again])


def _handle(flow: Flow, node: Node, state: CallState, event: object) -> Decision | _Goto:
    entered = isinstance(event, _Entered)
    match node:
        case Play():
            if entered:
                return _emit(state._replace(phase="playing"), [PlayPrompt(p) for p in node.prompts])
            return _expect_done(node, state, event, node.next)
        case Notice():
            if entered:
                actions: list[Action] = [PlayPrompt(p) for p in node.prompts]
                actions.append(SetVariable("ATIENDE_NOTICE_VERSION", node.version))
                noticed = state._replace(phase="playing", notice_version=node.version)
                return _emit(noticed, actions)
            return _expect_done(node, state, event, node.next)
        case Menu():
            read = ReadDigits(node.prompt, node.timeout_ms, 1)
            if entered:
                return _emit(state, [read])
            digits = _digits(node, event)
            option = node.options.get(digits.digits)
            if option is not None:
                return _goto(option.next, state._replace(path=(*state.path, option.label)))
            return _retry(state, node.retry, node.fallback, digits.digits == "", read)
        case Collect():
            read = ReadDigits(node.prompt, node.timeout_ms, node.max_digits)
            if entered:
                return _emit(state, [read])
            digits = _digits(node, event)
            value = validate(node, digits.digits)
            if value is not None:
                return _goto(node.next, state._replace(values={**state.values, node.store: value}))
            return _retry(state, node.retry, node.fallback, digits.digits == "", read)
        case Identify():
            return _identify(flow, node, state, event)
        case RequestStatusLookup():
            return _request_status(flow, node, state, event)
        case Hours():
            return _goto(node.open if node.hours.is_open(state.now) else node.closed, state)
        case Queue():
            return _queue(node, state, event)
        case Transfer():
            actions = [
                *_handoff_variables(state, None),
                SetVariable("ATIENDE_TRANSFER", node.extension),
            ]
            return _emit(state, [*actions, EndSession()])
        case SetValues():
            if entered:
                updated = state._replace(topic=node.topic or state.topic, phase="setting")
                if not node.variables:
                    return _goto(node.next, updated)
                return _emit(updated, [SetVariable(k, v) for k, v in node.variables.items()])
            return _expect_done(node, state, event, node.next)
        case Branch():
            if node.on == "topic":
                key = state.topic
            elif node.on == "person":
                key = "identified" if state.person_id else ""
            else:
                key = state.values.get(node.on, "")
            return _goto(node.cases.get(key, node.default), state)
        case ConfirmPerson():
            return _confirm_person(node, state, event)
        case Callback():
            return _callback(flow, node, state, event)
        case RecordSurvey():
            if entered:
                score = state.values.get(node.score_from)
                if score is None or not score.isdigit():
                    return _goto(node.next, state)
                if not state.linkedid:
                    return _on_error(flow, node.on_error, state)
                return _emit(state, [CallService(StoreSurvey(state.linkedid, int(score)))])
            if isinstance(event, ServiceReplied):
                return _goto(node.next, state)
            if isinstance(event, ServiceFailed):
                return _on_error(flow, node.on_error, state)
            raise _unexpected(node, event)
        case Hangup():
            return _emit(state, [HangUp()])
    raise FlowRuntimeError(f"unknown node {node!r}")  # pragma: no cover


def _unexpected(node: Node, event: object) -> FlowRuntimeError:
    return FlowRuntimeError(f"node {node.id}: unexpected event {event!r}")


def _expect_done(node: Node, state: CallState, event: object, target: str) -> _Goto:
    if not isinstance(event, Done):
        raise _unexpected(node, event)
    return _goto(target, state)


def _digits(node: Node, event: object) -> DigitsRead:
    if not isinstance(event, DigitsRead):
        raise _unexpected(node, event)
    return event


def validate(node: Collect, digits: str) -> str | None:
    """The value to keep for `digits` keyed at a Collect node, or None if refused."""
    if not digits.isascii() or not digits.isdigit():
        return None
    if not node.min_digits <= len(digits) <= node.max_digits:
        return None
    number = int(digits)
    if node.min_value is not None and number < node.min_value:
        return None
    if node.max_value is not None and number > node.max_value:
        return None
    if node.validator == "cedula":
        return cedula.normalise(digits) if cedula.is_valid(digits) else None
    if node.validator == "year" and not (len(digits) == 4 and 2000 <= number <= 2099):
        return None
    return digits


def caller_phone(call: CallInfo) -> str | None:
    """The caller's number if it looks like one (agi_callerid is untrusted)."""
    return call.caller_number if _PHONE.fullmatch(call.caller_number) else None


def _identify(flow: Flow, node: Identify, state: CallState, event: object) -> Decision | _Goto:
    if isinstance(event, _Entered):
        if node.by == "cedula":
            value = state.values.get(node.cedula_from)
            if value is None:
                return _goto(node.not_found, state)
            return _emit(state, [CallService(FindPersonByCedula(value))])
        phone = caller_phone(state.call)
        if phone is None:
            return _goto(node.not_found, state)
        return _emit(state, [CallService(FindPersonByPhone(phone))])
    if isinstance(event, ServiceReplied):
        if isinstance(event.value, Person):
            found = state._replace(
                person_id=event.value.id, person_name=first_name(event.value.display_name)
            )
            return _goto(node.found, found)
        if node.by == "cedula":
            # The caller said who they are and that person is unknown: a person
            # matched earlier by the (possibly shared) phone is not them.
            return _goto(node.not_found, state._replace(person_id="", person_name=""))
        return _goto(node.not_found, state)
    if isinstance(event, ServiceFailed):
        return _on_error(flow, node.on_error, state)
    raise _unexpected(node, event)


def request_number(year: str, number: str) -> str:
    """The request number as stored: YYYY-NNNNNN (2026-000123)."""
    return f"{year}-{int(number):06d}"


def _request_status(
    flow: Flow, node: RequestStatusLookup, state: CallState, event: object
) -> Decision | _Goto:
    check = node.verify
    ask = ReadDigits(check.prompt, check.timeout_ms, check.digits)
    if isinstance(event, _Entered):
        year = state.values.get(node.year_from)
        seq = state.values.get(node.number_from)
        if year is None or seq is None:
            return _goto(node.not_found, state)
        number = request_number(year, seq)
        asked = state._replace(values={**state.values, "request_number": number})
        phone = caller_phone(state.call)
        if phone is None:
            return _emit(asked._replace(phase="asking"), [ask])
        # The calling number first: a phone on record needs no keyed digits.
        lookup = GetRequestStatus(number, caller_phone=phone)
        return _emit(asked._replace(phase="by_phone"), [CallService(lookup)])
    if isinstance(event, ServiceFailed):
        return _on_error(flow, node.on_error, state)
    if state.phase == "asking":
        digits = _digits(node, event).digits
        if len(digits) != check.digits or not digits.isascii() or not digits.isdigit():
            return _retry(state, check.retry, node.not_found, digits == "", ask)
        # The digits go to the service in this request and nowhere else.
        number = state.values["request_number"]
        lookup = GetRequestStatus(number, document_digits=digits)
        return _emit(state._replace(phase="by_document"), [CallService(lookup)])
    if state.phase in ("by_phone", "by_document") and isinstance(event, ServiceReplied):
        if isinstance(event.value, RequestStatus):
            return _read_status(node, state, event.value)
        if state.phase == "by_phone":
            return _emit(state._replace(phase="asking"), [ask])
        # Not verified (or no such request: the caller is not told which).
        return _retry(state._replace(phase="asking"), check.retry, node.not_found, False, ask)
    if isinstance(event, Done) and state.phase == "reading":
        return _goto(node.next, state)
    raise _unexpected(node, event)


def _read_status(node: RequestStatusLookup, state: CallState, found: RequestStatus) -> Decision:
    year, _, seq = state.values["request_number"].partition("-")
    prompt = node.statuses.get(found.status, node.unknown_status_prompt)
    reading: list[Action] = [PlayPrompt(node.intro_prompt), SayDigits(year), SayDigits(seq)]
    return _emit(state._replace(phase="reading"), [*reading, PlayPrompt(prompt)])


def _handoff_variables(state: CallState, queue: Queue | None) -> list[Action]:
    """ATIENDE_* variables the telephony core stores on the attention."""
    topic = state.topic or (queue.topic if queue is not None and queue.topic else "")
    out: list[Action] = [SetVariable("ATIENDE_IVR_PATH", ",".join(state.path))]
    if topic:
        out.append(SetVariable("ATIENDE_TOPIC", topic))
    if state.person_id:
        out.append(SetVariable("ATIENDE_PERSON_ID", state.person_id))
    return out


def _queue_actions(node: Queue, state: CallState) -> Decision:
    actions = [
        *_handoff_variables(state, node),
        SetVariable("ATIENDE_PRIORITY", str(node.priority)),
        # QUEUE_PRIO is what app_queue itself reads for the caller's priority.
        SetVariable("QUEUE_PRIO", str(node.priority)),
        SetVariable("ATIENDE_MAX_WAIT", str(node.max_wait)),
        SetVariable("ATIENDE_QUEUE_TIMEOUT", str(node.max_wait)),
        # Last: the dialplan queues the call only when ATIENDE_QUEUE is set.
        SetVariable("ATIENDE_QUEUE", node.queue),
        EndSession(),
    ]
    return _emit(state, actions)


def _queue(node: Queue, state: CallState, event: object) -> Decision:
    offer = node.callback
    if isinstance(event, _Entered):
        if offer is None or caller_phone(state.call) is None:
            return _queue_actions(node, state)
        return _emit(state._replace(phase="wait"), [CallService(GetExpectedWait(node.queue))])
    if offer is None:
        raise _unexpected(node, event)
    if state.phase == "wait":
        wait = event.value if isinstance(event, ServiceReplied) else None
        if isinstance(wait, float | int) and wait > offer.threshold_seconds:
            read = ReadDigits(offer.offer_prompt, offer.timeout_ms, 1)
            return _emit(state._replace(phase="offer"), [read])
        return _queue_actions(node, state)
    if state.phase == "offer":
        digits = _digits(node, event)
        phone = caller_phone(state.call)
        if digits.digits != offer.accept_digit or phone is None or not state.linkedid:
            return _queue_actions(node, state)
        request = RequestCallback(state.linkedid, phone, node.queue)
        return _emit(state._replace(phase="callback"), [CallService(request)])
    if state.phase == "callback":
        if isinstance(event, ServiceFailed):
            return _queue_actions(node, state)
        called_back = state._replace(path=(*state.path, "callback"))
        actions = [
            *_handoff_variables(called_back, node),
            SetVariable("ATIENDE_CALLBACK", node.queue),
            PlayPrompt(offer.confirm_prompt),
            HangUp(),
        ]
        return _emit(called_back, actions)
    raise _unexpected(node, event)


_FIRST_NAME = re.compile(r"^[^\W\d_]{2,30}$")


def first_name(display_name: str) -> str:
    """The first word of a name if it is a plain given name ("María" of "María
    Pérez"), else "": only a first name is ever said to a caller."""
    words = display_name.split()
    return words[0] if words and _FIRST_NAME.fullmatch(words[0]) else ""


def _confirm_person(node: ConfirmPerson, state: CallState, event: object) -> Decision | _Goto:
    if isinstance(event, _Entered):
        if not state.person_id:
            return _goto(node.not_confirmed, state)
        if not state.person_name:
            read = ReadDigits(node.prompt, node.timeout_ms, 1)
            return _emit(state._replace(phase="asking"), [read])
        return _emit(state._replace(phase="naming"), [PrepareName(state.person_name)])
    if state.phase == "naming":
        if not isinstance(event, NameReady):
            raise _unexpected(node, event)
        if event.sound is None:
            return _emit(
                state._replace(phase="asking"), [ReadDigits(node.prompt, node.timeout_ms, 1)]
            )
        asking: list[Action] = [
            PlayPrompt(node.name_intro_prompt),
            PlayPrompt(event.sound),
            ReadDigits(node.name_outro_prompt, node.timeout_ms, 1),
        ]
        return _emit(state._replace(phase="asking"), asking)
    digits = _digits(node, event)
    if digits.digits == node.accept_digit:
        return _goto(node.confirmed, state)
    # Someone else on a known number: the match was not them.
    return _goto(node.not_confirmed, state._replace(person_id="", person_name=""))


def _callback(flow: Flow, node: Callback, state: CallState, event: object) -> Decision | _Goto:
    if isinstance(event, _Entered):
        phone = caller_phone(state.call)
        if phone is None or not state.linkedid:
            return _goto(node.unavailable, state)
        request = RequestCallback(state.linkedid, phone, node.queue)
        return _emit(state._replace(phase="callback"), [CallService(request)])
    if isinstance(event, ServiceFailed):
        return _on_error(flow, node.on_error, state)
    if not isinstance(event, ServiceReplied):
        raise _unexpected(node, event)
    actions: list[Action] = [
        *_handoff_variables(state, None),
        SetVariable("ATIENDE_CALLBACK", node.queue),
        PlayPrompt(node.confirm_prompt),
        HangUp(),
    ]
    return _emit(state, actions)
