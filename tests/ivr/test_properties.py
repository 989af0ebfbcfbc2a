"""Properties over open-ended input: callers key anything, services answer anything."""

from __future__ import annotations

import contextlib
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from ivr import agi, engine
from ivr.actions import (
    CallInfo,
    CallService,
    DigitsRead,
    Done,
    EndSession,
    Event,
    GetExpectedWait,
    GetRequestStatus,
    HangUp,
    ReadDigits,
    ReadVariable,
    ServiceFailed,
    ServiceReplied,
    SetVariable,
    Started,
    VariableRead,
)
from ivr.exceptions import AgiProtocolError
from ivr.flows import DEFAULT_FLOWS_DIR, Flow, load_flow
from ivr.services import Person, RequestStatus

FLOW = load_flow(DEFAULT_FLOWS_DIR / "default.yaml")
SURVEY = load_flow(DEFAULT_FLOWS_DIR / "survey.yaml")
KNOWN_QUEUES = {"consultas", "reclamos"}

keyed = st.text(alphabet="0123456789*#", max_size=9)
outcomes = st.sampled_from(["none", "person", "fail", "status", "long", "short"])
moments = st.datetimes(
    min_value=dt.datetime(2025, 1, 1),
    max_value=dt.datetime(2027, 12, 31),
    timezones=st.just(dt.UTC),
)


def answer(request: object, outcome: str) -> Event:
    if outcome == "fail":
        return ServiceFailed("down")
    if isinstance(request, GetExpectedWait):
        return ServiceReplied(1200.0 if outcome == "long" else 30.0)
    if isinstance(request, GetRequestStatus):
        status = RequestStatus(request.number, "en_proceso")
        return ServiceReplied(status if outcome == "status" else None)
    return ServiceReplied(Person("p-1") if outcome == "person" else None)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(keyed, max_size=12),
    st.lists(outcomes, max_size=8),
    moments,
    st.sampled_from([FLOW, SURVEY]),
)
def test_any_caller_input_ends_the_call_cleanly(
    digits: list[str], services: list[str], now: dt.datetime, flow: Flow
) -> None:
    call = CallInfo("1795344853.0", "099123456", "María Pérez")
    decision = engine.start(Started(call, now))
    keys, results = list(digits), list(services)
    for _ in range(300):
        action = decision.action
        if isinstance(action, HangUp | EndSession):
            break
        event: Event
        if isinstance(action, ReadVariable):
            event = VariableRead("1795344853.0")
        elif isinstance(action, ReadDigits):
            event = DigitsRead(keys.pop(0) if keys else "")
        elif isinstance(action, CallService):
            event = answer(action.request, results.pop(0) if results else "none")
        else:
            event = Done()
        decision = engine.step(flow, decision.state, event)
    else:
        raise AssertionError("the call never ended")
    assert decision.state.finished


@settings(max_examples=200, deadline=None)
@given(st.lists(keyed, max_size=12), st.lists(outcomes, max_size=8))
def test_queue_handoff_always_names_a_known_queue(digits: list[str], services: list[str]) -> None:
    now = dt.datetime(2026, 11, 24, 13, 0, tzinfo=dt.UTC)
    decision = engine.start(Started(CallInfo("1.0", "099123456", ""), now))
    keys, results = list(digits), list(services)
    variables: dict[str, str] = {}
    while not isinstance(decision.action, HangUp | EndSession):
        action = decision.action
        event: Event = Done()
        if isinstance(action, SetVariable):
            variables[action.name] = action.value
        elif isinstance(action, ReadVariable):
            event = VariableRead("1.0")
        elif isinstance(action, ReadDigits):
            event = DigitsRead(keys.pop(0) if keys else "")
        elif isinstance(action, CallService):
            event = answer(action.request, results.pop(0) if results else "none")
        decision = engine.step(FLOW, decision.state, event)
    if isinstance(decision.action, EndSession):
        assert variables["ATIENDE_QUEUE"] in KNOWN_QUEUES
        assert variables["ATIENDE_NOTICE_VERSION"] == "2026-01"
        assert all(
            label in {"consultas", "reclamos", "estado", "ejecutivo"}
            for label in variables["ATIENDE_IVR_PATH"].split(",")
            if label
        )
    else:
        assert "ATIENDE_QUEUE" not in variables


@given(st.text(max_size=200))
def test_reply_lines_parse_or_are_refused(line: str) -> None:
    assembler = agi.ReplyAssembler()
    with contextlib.suppress(AgiProtocolError):
        assembler.feed(line)


@given(st.lists(st.text(max_size=80).filter(lambda s: "\n" not in s), max_size=20))
def test_environment_lines_parse_or_are_refused(lines: list[str]) -> None:
    parser = agi.EnvironmentParser()
    try:
        for line in [*lines, ""]:
            env = parser.feed(line)
            if env is not None:
                assert all(k.startswith("agi_") for k in env.values)
                break
    except AgiProtocolError:
        pass
