"""Typed AMI events: what parse_event keeps, drops and tolerates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telephony.ami.parser import iter_capture
from telephony.ami.stream import Connected, Disconnected, ResyncFinished, ResyncStarted
from telephony.events import (
    USED_EVENTS,
    USED_VARIABLE_PREFIXES,
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    AgiExecEnd,
    AgiExecStart,
    AmiEvent,
    AttendedTransfer,
    BlindTransfer,
    CoreShowChannel,
    DtmfEnd,
    Hangup,
    HangupRequest,
    NewCallerId,
    NewChannel,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueMember,
    QueueMemberChange,
    VarSet,
    parse_errors,
    parse_event,
)
from telephony.tracker import CallTracker


def _first(recordings: Path, capture: str, event: str) -> dict[str, str]:
    for headers in iter_capture((recordings / capture).read_bytes()):
        if headers.get("Event") == event:
            return headers
    raise AssertionError(f"no {event} in {capture}")


def test_unused_events_are_none() -> None:
    assert parse_event({"Event": "Newexten", "Timestamp": "1.0"}) is None
    assert parse_event({"Event": "RTCPSent"}) is None
    assert parse_event({"Response": "Success"}) is None
    assert "Newexten" not in USED_EVENTS


def test_varset_only_product_variables_and_queuestatus() -> None:
    base = {"Event": "VarSet", "Timestamp": "5.5", "Uniqueid": "1.0", "Linkedid": "1.0"}
    assert parse_event({**base, "Variable": "BRIDGEPEER", "Value": "x"}) is None
    ivr = parse_event({**base, "Variable": "ATIENDE_TOPIC", "Value": "salud"})
    assert isinstance(ivr, VarSet) and ivr.value == "salud" and ivr.ts == 5.5
    status = parse_event({**base, "Variable": "QUEUESTATUS", "Value": "TIMEOUT"})
    assert isinstance(status, VarSet) and status.value == "TIMEOUT"
    assert USED_VARIABLE_PREFIXES == ("ATIENDE_",)
    assert "VarSet" in USED_EVENTS


def test_bad_timestamp_is_dropped_and_counted() -> None:
    before = parse_errors["Hangup"]
    assert parse_event({"Event": "Hangup", "Timestamp": "yesterday"}) is None
    assert parse_event({"Event": "Hangup"}) is None
    assert parse_errors["Hangup"] == before + 2


def test_bad_numbers_are_defaulted() -> None:
    event = parse_event(
        {
            "Event": "QueueCallerAbandon",
            "Timestamp": "10",
            "Queue": "consultas",
            "Position": "first",
            "OriginalPosition": "",
            "HoldTime": "nan",
        }
    )
    assert isinstance(event, QueueCallerAbandon)
    assert event.position == 0 and event.hold_time is None


# Every header a call or queue event reads, each with a value no other has.
_DISTINCT = {
    "Timestamp": "100.5",
    "Channel": "chan",
    "Uniqueid": "uid",
    "Linkedid": "lid",
    "CallerIDNum": "num",
    "CallerIDName": "name",
    "Cause": "16",
    "Command": "cmd",
    "Result": "res",
    "Digit": "9",
    "Direction": "Received",
    "Variable": "ATIENDE_X",
    "Value": "val",
    "TransfereeChannel": "tchan",
    "TransfereeUniqueid": "tuid",
    "TransfereeLinkedid": "tlid",
    "Extension": "ext",
    "Context": "ctx",
    "TransferTargetCallerIDNum": "target",
    "Queue": "q",
    "Position": "2",
    "OriginalPosition": "3",
    "HoldTime": "4",
    "Interface": "iface",
    "MemberName": "member",
    "DestChannel": "dest",
    "RingTime": "5000",
    "TalkTime": "6",
    "Reason": "agent",
    "Paused": "1",
    "PausedReason": "lunch",
    "InCall": "1",
    "Status": "7",
}
_CALL: dict[str, Any] = {"ts": 100.5, "channel": "chan", "uniqueid": "uid", "linkedid": "lid"}
_MEMBER: dict[str, Any] = {"queue": "q", "interface": "iface", "member_name": "member"}
_EXPECTED: dict[str, AmiEvent] = {
    "Newchannel": NewChannel(**_CALL, caller_number="num", caller_name="name"),
    "NewCallerid": NewCallerId(**_CALL, caller_number="num", caller_name="name"),
    "Hangup": Hangup(**_CALL, cause=16),
    "HangupRequest": HangupRequest(**_CALL),
    "AGIExecStart": AgiExecStart(**_CALL, command="cmd"),
    "AGIExecEnd": AgiExecEnd(**_CALL, command="cmd", result="res"),
    "DTMFEnd": DtmfEnd(**_CALL, digit="9", received=True),
    "VarSet": VarSet(**_CALL, variable="ATIENDE_X", value="val"),
    "BlindTransfer": BlindTransfer(
        ts=100.5,
        transferee_channel="tchan",
        transferee_uniqueid="tuid",
        transferee_linkedid="tlid",
        extension="ext",
        context="ctx",
        result="res",
    ),
    "AttendedTransfer": AttendedTransfer(
        ts=100.5, transferee_linkedid="tlid", target="target", result="res"
    ),
    "QueueCallerJoin": QueueCallerJoin(
        **_CALL, queue="q", position=2, caller_number="num", caller_name="name"
    ),
    "QueueCallerLeave": QueueCallerLeave(**_CALL, queue="q", position=2),
    "QueueCallerAbandon": QueueCallerAbandon(
        **_CALL, queue="q", position=2, original_position=3, hold_time=4.0
    ),
    "AgentCalled": AgentCalled(**_CALL, **_MEMBER, dest_channel="dest"),
    "AgentRingNoAnswer": AgentRingNoAnswer(**_CALL, **_MEMBER, ring_seconds=5.0),
    "AgentConnect": AgentConnect(**_CALL, **_MEMBER, hold_time=4.0, ring_time=5000.0),
    "AgentComplete": AgentComplete(
        **_CALL, **_MEMBER, hold_time=4.0, talk_time=6.0, reason="agent"
    ),
    **{
        kind: QueueMemberChange(
            ts=100.5,
            kind=kind,
            **_MEMBER,
            paused=True,
            paused_reason="lunch",
            in_call=True,
            status=7,
        )
        for kind in (
            "QueueMemberStatus",
            "QueueMemberPause",
            "QueueMemberAdded",
            "QueueMemberRemoved",
        )
    },
}


@pytest.mark.parametrize("name", sorted(_EXPECTED))
def test_every_field_comes_from_its_header(name: str) -> None:
    # A parser that read the wrong header into a field (two adjacent `str`
    # fields) would go unnoticed by every other test.
    event = parse_event({**_DISTINCT, "Event": name})
    assert event == _EXPECTED[name]
    assert type(event) is type(_EXPECTED[name])


def test_events_are_values() -> None:
    # Equal and hashed by their fields, like the frozen dataclasses they were.
    one = NewChannel(**_CALL, caller_number="num", caller_name="name")
    same = parse_event({**_DISTINCT, "Event": "Newchannel"})
    assert one == same and hash(one) == hash(same)
    other: object = NewCallerId(**_CALL, caller_number="num", caller_name="name")
    assert one != other  # same fields, another event
    assert repr(one).startswith("NewChannel(ts=100.5, channel='chan'")
    assert len({one, same}) == 1


def test_abandon_from_capture(recordings: Path) -> None:
    event = parse_event(_first(recordings, "abandoned.ami", "QueueCallerAbandon"))
    # abandoned.queue_log: ABANDON|1|1|8 (position, original position, wait)
    assert isinstance(event, QueueCallerAbandon)
    assert (event.queue, event.position, event.original_position) == ("reclamos", 1, 1)
    assert event.hold_time == 8


def test_ring_no_answer_ring_time_is_milliseconds(recordings: Path) -> None:
    event = parse_event(_first(recordings, "ring_no_answer.ami", "AgentRingNoAnswer"))
    # ring_no_answer.queue_log: RINGNOANSWER|15000 (ms); queues.conf timeout = 15 s
    assert isinstance(event, AgentRingNoAnswer)
    assert event.ring_seconds == 15.0
    assert event.member_name == "Diego Sin Respuesta"


def test_agent_complete_from_capture(recordings: Path) -> None:
    event = parse_event(_first(recordings, "answered.ami", "AgentComplete"))
    # answered.queue_log: COMPLETEAGENT|0|5|1
    assert isinstance(event, AgentComplete)
    assert (event.hold_time, event.talk_time, event.reason) == (0, 5, "agent")


def test_pause_with_reason(recordings: Path) -> None:
    event = parse_event(_first(recordings, "abandoned.ami", "QueueMemberPause"))
    assert isinstance(event, QueueMemberChange)
    assert event.paused and event.paused_reason == "Almuerzo"
    assert event.member_name == "Carla Pérez"


def test_escaped_caller_name_is_restored(recordings: Path) -> None:
    # The AGI environment (tricky_caller_id.agi) has the real name; AMI
    # snapshots C-escape the quotes.
    agi = (recordings / "tricky_caller_id.agi").read_text(encoding="utf-8")
    real = next(
        line.split(": ", 1)[1]
        for line in agi.splitlines()
        if line.startswith("< agi_calleridname: Zo")
    )
    for headers in iter_capture((recordings / "tricky_caller_id.ami").read_bytes()):
        if headers.get("Event") == "NewCallerid" and "Zo" in headers.get("CallerIDName", ""):
            event = parse_event(headers)
            assert isinstance(event, NewCallerId)
            assert event.caller_name == real
            return
    raise AssertionError("no NewCallerid with the tricky name")


def test_resync_list_entries(recordings: Path) -> None:
    data = (recordings / "status_snapshot.actions.ami").read_bytes()
    events = [parse_event(h) for h in iter_capture(data)]
    channels = [e for e in events if isinstance(e, CoreShowChannel)]
    members = [e for e in events if isinstance(e, QueueMember)]
    assert len(channels) == 12
    first = channels[0]
    assert first.application == "Queue" and first.application_data.startswith("reclamos")
    assert first.duration_seconds == 6 and first.bridge_id
    assert {m.member_name for m in members} == {"Ana Gómez", "Bruno Núñez", "Carla Pérez"}
    assert all(m.in_call for m in members)


_values = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["", "1", "0", "-3", "1795342622.5", "nan", "inf", "12:00:61", "<unknown>"]),
)
_fields = [
    "Timestamp",
    "Channel",
    "Uniqueid",
    "Linkedid",
    "Queue",
    "Interface",
    "MemberName",
    "Position",
    "OriginalPosition",
    "HoldTime",
    "TalkTime",
    "RingTime",
    "Reason",
    "Paused",
    "PausedReason",
    "Status",
    "InCall",
    "Variable",
    "Value",
    "Digit",
    "Direction",
    "Uptime",
    "Duration",
    "Wait",
    "CallerIDNum",
    "CallerIDName",
    "TransfereeLinkedid",
    "Application",
    "ApplicationData",
    "BridgeId",
]


@st.composite
def _headers(draw: st.DrawFn) -> dict[str, str]:
    headers = {"Event": draw(st.sampled_from(sorted(USED_EVENTS)))}
    for name in _fields:
        value = draw(_values)
        if value is not None:
            headers[name] = value
    # Keep ids in a small pool so events hit the same calls.
    for name in ("Uniqueid", "Linkedid", "TransfereeLinkedid"):
        if name in headers:
            headers[name] = draw(st.sampled_from(["1.0", "1.1", "2.0", headers[name]]))
    return headers


_markers = st.sampled_from(
    [Connected(100.0), Disconnected(101.0, "eof"), ResyncStarted(102.0), ResyncFinished(103.0)]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_headers(), _markers), max_size=30))
def test_feed_never_raises(items: list[object]) -> None:
    tracker = CallTracker("fuzz", wrapup_seconds={"consultas": 3})
    for item in items:
        tracker.feed(item)  # type: ignore[arg-type]
    tracker.finish()
    tracker.agents()
