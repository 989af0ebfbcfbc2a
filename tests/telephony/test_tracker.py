"""The call tracker against Asterisk's own queue_log, and its resync rules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telephony.ami.parser import iter_capture
from telephony.ami.stream import (
    Connected,
    Disconnected,
    Headers,
    ResyncFinished,
    ResyncStarted,
    StreamItem,
)
from telephony.domain import (
    AgentRinging,
    AgentState,
    AgentStateChanged,
    AsteriskRestarted,
    CallAbandoned,
    CallAnswered,
    CallArrived,
    CallEnded,
    CallKey,
    CallQueued,
    CallRecord,
    CallTransferred,
    DomainEvent,
    HangupSide,
    IvrEntered,
    IvrLeft,
    Outcome,
    QueueExited,
    RingNoAnswer,
)
from telephony.events import parse_event
from telephony.tracker import CallTracker
from tests.support.queue_log import QueueLog, parse_queue_log

SCENARIOS = [
    "answered",
    "abandoned",
    "ivr_hangup",
    "ring_no_answer",
    "burst",
    "status_snapshot",
    "sip_mixed",
    "agi_tour",
    "tricky_caller_id",
]
WRAPUP = {"consultas": 3.0, "reclamos": 3.0}  # lab-config/queues.conf wrapuptime


def _headers(recordings: Path, name: str) -> list[Headers]:
    return list(iter_capture((recordings / name).read_bytes()))


def _queue_log(recordings: Path, scenario: str) -> QueueLog:
    path = recordings / f"{scenario}.queue_log"
    return parse_queue_log(path) if path.exists() else QueueLog({}, [])


def _run(
    items: Iterable[StreamItem], tracker: CallTracker | None = None
) -> tuple[CallTracker, list[DomainEvent]]:
    tracker = tracker or CallTracker("lab", wrapup_seconds=WRAPUP)
    events: list[DomainEvent] = []
    for item in items:
        events.extend(tracker.feed(item))
    return tracker, events


def _ended(events: Sequence[DomainEvent]) -> list[CallRecord]:
    return [e.record for e in events if isinstance(e, CallEnded)]


def _expected_outcome(call_outcome: str, talk: float | None) -> str:
    # queue_log writes COMPLETE* when an answered call ends; without it the
    # call was still up when the capture stopped.
    if call_outcome == "answered" and talk is None:
        return "in_progress"
    return call_outcome


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_calls_match_queue_log(recordings: Path, scenario: str) -> None:
    tracker, events = _run(_headers(recordings, f"{scenario}.ami"))
    records = _ended(events) + tracker.finish()
    log = _queue_log(recordings, scenario)
    by_id = {r.key.linkedid: r for r in records}
    assert len(by_id) == len(records), "a call was recorded twice"
    for uniqueid, expected in log.calls.items():
        record = by_id[uniqueid]
        assert record.outcome.value == _expected_outcome(expected.outcome, expected.talk)
        assert list(record.queues) == expected.queues
        assert record.agent == expected.agent
        assert record.wait_seconds == expected.wait
        assert record.talk_seconds == expected.talk
        assert record.caller_number == expected.caller_number
        assert record.key.system == "lab"
    for record in records:
        if record.key.linkedid not in log.calls:
            assert not record.legs
            assert record.outcome in (Outcome.IVR_HANGUP, Outcome.IVR_COMPLETED)


@pytest.mark.parametrize(
    ("scenario", "answered", "abandoned"), [("burst", 15, 9), ("sip_mixed", 13, 5)]
)
def test_counts(recordings: Path, scenario: str, answered: int, abandoned: int) -> None:
    _, events = _run(_headers(recordings, f"{scenario}.ami"))
    outcomes = [r.outcome for r in _ended(events)]
    assert outcomes.count(Outcome.ANSWERED) == answered
    assert outcomes.count(Outcome.ABANDONED) == abandoned
    assert len(outcomes) == answered + abandoned


def test_answered_call_story(recordings: Path) -> None:
    _, events = _run(_headers(recordings, "answered.ami"))
    kinds = [type(e) for e in events if not isinstance(e, AgentStateChanged)]
    assert kinds == [
        CallArrived,
        IvrEntered,
        IvrLeft,
        CallQueued,
        AgentRinging,
        CallAnswered,
        CallEnded,
    ]
    arrived = next(e for e in events if isinstance(e, CallArrived))
    assert (arrived.caller_number, arrived.caller_name) == ("099100001", "Ciudadana Pérez 1")
    ivr = next(e for e in events if isinstance(e, IvrLeft))
    # answered.agi: GET DATA returned 1, but the stub IVR set no ATIENDE_IVR_PATH.
    assert ivr.choices == ()
    ringing = next(e for e in events if isinstance(e, AgentRinging))
    assert ringing.member_name == "Ana Gómez"
    assert ringing.variables == {"ATIENDE_QUEUE": "consultas"}
    (record,) = _ended(events)
    assert record.hangup_side is HangupSide.AGENT  # COMPLETEAGENT
    assert record.variables == {"ATIENDE_QUEUE": "consultas"}
    # The lab's stub IVR set no ATIENDE_IVR_PATH: the key pressed is not a choice.
    assert record.ivr_path == ()
    assert record.ended_at is not None and record.answered_at is not None
    assert record.arrived_at <= record.answered_at <= record.ended_at


def test_ivr_path_is_the_ivrs_variable_never_the_keys_pressed(recordings: Path) -> None:
    items: list[StreamItem] = []
    for headers in _headers(recordings, "answered.ami"):
        items.append(headers)
        if headers.get("Event") == "VarSet" and headers.get("Variable") == "ATIENDE_QUEUE":
            items.append({**headers, "Variable": "ATIENDE_IVR_PATH", "Value": "1,3, 2"})
    _, events = _run(items)
    (record,) = _ended(events)
    assert record.ivr_path == ("1", "3", "2")
    assert record.variables["ATIENDE_IVR_PATH"] == "1,3, 2"


def test_ivr_hangup_and_agi_tour_are_ivr_hangups(recordings: Path) -> None:
    for scenario in ("ivr_hangup", "agi_tour"):
        _, events = _run(_headers(recordings, f"{scenario}.ami"))
        (record,) = _ended(events)
        assert record.outcome is Outcome.IVR_HANGUP
        assert record.hangup_side is HangupSide.CALLER
        assert not record.legs
    _, events = _run(_headers(recordings, "agi_tour.ami"))
    (record,) = _ended(events)
    # The caller sent DTMF 1234, which could be a cédula: keys are never the path.
    assert record.ivr_path == ()


def test_tricky_caller_id(recordings: Path) -> None:
    _, events = _run(_headers(recordings, "tricky_caller_id.ami"))
    names = {r.caller_number: r.caller_name for r in _ended(events)}
    assert names == {
        "099400001": 'Zoë "Niña" Ñandú; EXEC System(touch /tmp/pwned)',
        "099400002": "",
    }


# ----------------------------------------------------------------- agent states


def _agent_changes(events: Sequence[DomainEvent], member: str) -> list[AgentStateChanged]:
    return [e for e in events if isinstance(e, AgentStateChanged) and e.member_name == member]


def test_pause_with_reason_closes_interval(recordings: Path) -> None:
    _, events = _run(_headers(recordings, "abandoned.ami"))
    changes = _agent_changes(events, "Carla Pérez")
    assert [(c.state, c.reason) for c in changes] == [
        (AgentState.PAUSED, "Almuerzo"),
        (AgentState.AVAILABLE, None),
    ]
    closed = changes[-1].closed
    assert closed is not None
    assert (closed.state, closed.reason) == (AgentState.PAUSED, "Almuerzo")
    # abandoned.queue_log: PAUSE at ...638, UNPAUSE at ...652 (whole seconds)
    assert 13 <= closed.ended_at - closed.started_at <= 15


def test_ring_no_answer_agents(recordings: Path) -> None:
    tracker, events = _run(_headers(recordings, "ring_no_answer.ami"))
    ana = _agent_changes(events, "Ana Gómez")
    assert [(c.state, c.reason) for c in ana] == [
        (AgentState.PAUSED, "Capacitacion"),
        (AgentState.AVAILABLE, None),
    ]
    diego = [c.state for c in _agent_changes(events, "Diego Sin Respuesta")]
    assert diego == [
        AgentState.AVAILABLE,  # ADDMEMBER
        AgentState.RINGING,
        AgentState.AVAILABLE,  # RINGNOANSWER
        AgentState.RINGING,  # retried
        AgentState.LOGGED_OUT,  # REMOVEMEMBER
    ]
    rna = [e for e in events if isinstance(e, RingNoAnswer)]
    assert [(e.member_name, e.ring_seconds) for e in rna] == [("Diego Sin Respuesta", 15.0)]
    states = {a.member_name: a.state for a in tracker.agents()}
    assert states["Diego Sin Respuesta"] is AgentState.LOGGED_OUT
    assert states["Bruno Núñez"] is AgentState.PAUSED
    (record,) = tracker.finish()
    assert record.outcome is Outcome.IN_PROGRESS and record.queues == ("consultas",)


def test_answered_agent_cycle_with_wrapup(recordings: Path) -> None:
    headers = _headers(recordings, "answered.ami")
    tracker, events = _run(headers)
    late = {"Event": "QueueMemberStatus", "Timestamp": "1795342640.0", "Queue": "consultas"}
    late |= {"Interface": "Local/4002@agents/n", "MemberName": "Bruno Núñez", "Status": "1"}
    events += tracker.feed(late)
    ana = _agent_changes(events, "Ana Gómez")
    assert [c.state for c in ana] == [
        AgentState.RINGING,
        AgentState.ON_CALL,
        AgentState.WRAP_UP,
        AgentState.AVAILABLE,
    ]
    wrap = ana[-1].closed
    assert wrap is not None and wrap.state is AgentState.WRAP_UP
    assert wrap.ended_at - wrap.started_at == pytest.approx(3.0)  # wrapuptime = 3
    on_call = ana[2].closed
    assert on_call is not None and on_call.state is AgentState.ON_CALL
    assert on_call.ended_at - on_call.started_at == pytest.approx(4.5, abs=0.6)


# -------------------------------------------------------------- idempotence


def test_duplicate_and_late_events_never_end_twice(recordings: Path) -> None:
    headers = _headers(recordings, "answered.ami")
    hangups = [h for h in headers if h.get("Event") in ("Hangup", "AgentComplete")]
    replayed = headers + hangups + [{**h, "Event": "QueueCallerJoin"} for h in hangups]
    tracker, events = _run(replayed + headers)
    assert len(_ended(events)) == 1
    assert tracker.finish() == []


def test_two_hangups_of_a_local_pair_end_once(recordings: Path) -> None:
    _, events = _run(_headers(recordings, "abandoned.ami"))
    (record,) = _ended(events)
    assert record.outcome is Outcome.ABANDONED
    assert record.hangup_side is HangupSide.CALLER
    assert record.legs[0].abandon_position == 1


# ------------------------------------------------------------- queue exits


def _queued_call(recordings: Path) -> list[Headers]:
    """abandoned.ami up to (not including) the abandon."""
    out = []
    for headers in _headers(recordings, "abandoned.ami"):
        if headers.get("Event") in ("QueueCallerAbandon", "Hangup"):
            break
        out.append(headers)
    return out


def _call_event(event: str, ts: float, **fields: str) -> Headers:
    return {
        "Event": event,
        "Timestamp": str(ts),
        "Channel": "Local/99100002@callers-00000000;1",
        "Uniqueid": "1795342638.0",
        "Linkedid": "1795342638.0",
        **fields,
    }


@pytest.mark.parametrize("status_first", [True, False])
@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("TIMEOUT", Outcome.EXIT_TIMEOUT),
        ("LEAVEEMPTY", Outcome.EXIT_EMPTY),
        ("LEAVEUNAVAIL", Outcome.EXIT_EMPTY),
        (None, Outcome.EXIT_KEY),
    ],
)
def test_queue_exit_reasons(
    recordings: Path, status: str | None, outcome: Outcome, status_first: bool
) -> None:
    """app_queue sets QUEUESTATUS around leave_queue(); either order must work."""
    items: list[StreamItem] = list(_queued_call(recordings))
    leave = _call_event("QueueCallerLeave", 1795342650.1, Queue="reclamos", Position="1")
    varset = [_call_event("VarSet", 1795342650.1, Variable="QUEUESTATUS", Value=status or "")]
    if status is None:
        varset = []
    items += [*varset, leave] if status_first else [leave, *varset]
    items.append(_call_event("Hangup", 1795342651.0, Cause="16"))
    items.append(_call_event("Hangup", 1795342651.0, Uniqueid="1795342638.1"))
    _, events = _run(items)
    exits = [e for e in events if isinstance(e, QueueExited)]
    assert [(e.queue, e.outcome) for e in exits] == [("reclamos", outcome)]
    (record,) = _ended(events)
    assert record.outcome is outcome
    assert record.hangup_side is HangupSide.SYSTEM
    assert record.wait_seconds == pytest.approx(1795342650.1 - 1795342640.459152)


def test_join_empty(recordings: Path) -> None:
    items: list[StreamItem] = []
    for headers in _queued_call(recordings):
        if headers.get("Event") == "QueueCallerJoin":
            break
        items.append(headers)
    items.append(_call_event("VarSet", 1795342641.0, Variable="QUEUESTATUS", Value="JOINEMPTY"))
    items.append(_call_event("Hangup", 1795342641.5, Uniqueid="1795342638.1"))
    items.append(_call_event("Hangup", 1795342641.5))
    _, events = _run(items)
    (record,) = _ended(events)
    assert record.outcome is Outcome.JOIN_EMPTY
    assert record.queues == ("reclamos",)  # from ATIENDE_QUEUE


def test_redirect_into_another_queue_is_one_call(recordings: Path) -> None:
    headers = _headers(recordings, "answered.ami")
    cut = next(i for i, h in enumerate(headers) if h.get("Event") == "AgentComplete")
    items: list[StreamItem] = list(headers[:cut])
    complete = dict(headers[cut])
    complete["Reason"] = "transfer"
    items.append(complete)
    items.append(_answered_event("QueueCallerJoin", 1795342630.0, Queue="reclamos", Position="1"))
    items.append(
        _answered_event("QueueCallerAbandon", 1795342634.0, Queue="reclamos", Position="1")
    )
    items.extend(h for h in headers[cut + 1 :] if h.get("Event") == "Hangup")
    _, events = _run(items)
    (record,) = _ended(events)
    assert record.queues == ("consultas", "reclamos")
    assert [leg.outcome for leg in record.legs] == [Outcome.TRANSFERRED, Outcome.ABANDONED]
    assert record.agents == ("Ana Gómez",)
    assert record.outcome is Outcome.ABANDONED
    # No HoldTime on the abandon: the wait falls back to the timestamps.
    assert record.wait_seconds == pytest.approx(4.0)
    assert record.talk_seconds == 5  # COMPLETEAGENT talk of the first leg


def _answered_event(event: str, ts: float, **fields: str) -> Headers:
    return {
        "Event": event,
        "Timestamp": str(ts),
        "Channel": "Local/99100001@callers-00000000;1",
        "Uniqueid": "1795342622.0",
        "Linkedid": "1795342622.0",
        **fields,
    }


# ------------------------------------------------------------------- resync


def _alive_channels(headers: Sequence[Headers]) -> list[Headers]:
    """CoreShowChannel entries for the channels up at the end of `headers`."""
    alive: dict[str, Headers] = {}
    for h in headers:
        if h.get("Event") == "Newchannel":
            alive[h["Uniqueid"]] = h
        elif h.get("Event") == "Hangup":
            alive.pop(h.get("Uniqueid", ""), None)
    return [
        {
            "Event": "CoreShowChannel",
            "Channel": h["Channel"],
            "Uniqueid": h["Uniqueid"],
            "Linkedid": h["Linkedid"],
            "CallerIDNum": h.get("CallerIDNum", ""),
            "CallerIDName": h.get("CallerIDName", ""),
            "Application": "Wait",
            "Duration": "00:00:01",
            "BridgeId": "",
        }
        for h in alive.values()
    ]


def _last_ts(headers: Sequence[Headers]) -> float:
    """Time of the last event the tracker uses (it reads no other Timestamp)."""
    return max(
        float(h["Timestamp"]) for h in headers if "Timestamp" in h and parse_event(h) is not None
    )


def _resync(tracker: CallTracker, at: float, lists: Iterable[Headers]) -> list[DomainEvent]:
    items: list[StreamItem] = [Disconnected(at, "test"), Connected(at + 1), ResyncStarted(at + 1)]
    items += list(lists)
    items.append(ResyncFinished(at + 1.5))
    return _run(items, tracker)[1]


def test_status_snapshot_resync_keeps_calls(recordings: Path) -> None:
    capture = _headers(recordings, "status_snapshot.ami")
    tracker, events = _run(capture)
    assert _ended(events) == []
    actions = _headers(recordings, "status_snapshot.actions.ami")
    after = _resync(tracker, _last_ts(capture), actions)
    assert _ended(after) == []
    log = _queue_log(recordings, "status_snapshot")
    calls = {r.key.linkedid: r for r in tracker.calls_in_progress()}
    assert set(calls) == set(log.calls)
    for uniqueid, expected in log.calls.items():
        assert calls[uniqueid].agent == expected.agent
        assert calls[uniqueid].outcome is Outcome.IN_PROGRESS
    states = {a.member_name: a.state for a in tracker.agents()}
    assert states == {
        "Ana Gómez": AgentState.ON_CALL,
        "Bruno Núñez": AgentState.ON_CALL,
        "Carla Pérez": AgentState.ON_CALL,
    }


def _before_first(headers: Sequence[Headers], event: str) -> list[Headers]:
    cut = next(i for i, h in enumerate(headers) if h.get("Event") == event)
    return list(headers[:cut])


def test_resync_calls_answered_during_outage(recordings: Path) -> None:
    """Cut before any queue join: the resync alone shows who answered."""
    capture = _before_first(_headers(recordings, "status_snapshot.ami"), "QueueCallerJoin")
    tracker, _ = _run(capture)
    after = _resync(tracker, _last_ts(capture), _headers(recordings, "status_snapshot.actions.ami"))
    assert _ended(after) == []
    log = _queue_log(recordings, "status_snapshot")
    calls = {r.key.linkedid: r for r in tracker.calls_in_progress()}
    for uniqueid, expected in log.calls.items():
        assert list(calls[uniqueid].queues) == expected.queues
        assert calls[uniqueid].agent == expected.agent


def test_resync_missing_channels_end_lost(recordings: Path) -> None:
    capture = _before_first(_headers(recordings, "status_snapshot.ami"), "QueueCallerJoin")
    tracker, _ = _run(capture)
    gone = "1795342757.0"
    lists = [
        h for h in _headers(recordings, "status_snapshot.actions.ami") if h.get("Linkedid") != gone
    ]
    disconnected_at = _last_ts(capture)
    after = _resync(tracker, disconnected_at, lists)
    (record,) = _ended(after)
    assert record.key.linkedid == gone
    assert record.outcome is Outcome.LOST_DURING_OUTAGE
    assert record.ended_at == disconnected_at
    assert {r.key.linkedid for r in tracker.calls_in_progress()} == {
        "1795342757.1",
        "1795342757.4",
    }


def test_resync_answered_call_gone_keeps_answered(recordings: Path) -> None:
    capture = _headers(recordings, "status_snapshot.ami")
    tracker, _ = _run(capture)
    gone = "1795342757.4"
    lists = [
        h for h in _headers(recordings, "status_snapshot.actions.ami") if h.get("Linkedid") != gone
    ]
    at = _last_ts(capture)
    (record,) = _ended(_resync(tracker, at, lists))
    assert record.outcome is Outcome.ANSWERED
    assert record.agent == "Carla Pérez"
    assert record.answered_at is not None and record.talk_seconds is not None
    assert record.talk_seconds == pytest.approx(at - record.answered_at)


def test_mid_burst_resync_changes_nothing(recordings: Path) -> None:
    headers = _headers(recordings, "burst.ami")
    cut = len(headers) // 2
    first, rest = headers[:cut], headers[cut:]
    tracker, events = _run(first)
    events += _resync(tracker, _last_ts(first), _alive_channels(first))
    events += _run(rest, tracker)[1]
    records = _ended(events) + tracker.finish()
    log = _queue_log(recordings, "burst")
    assert sorted(r.key.linkedid for r in records) == sorted(log.calls)
    for record in records:
        expected = log.calls[record.key.linkedid]
        assert record.outcome.value == expected.outcome
        assert record.agent == expected.agent
        assert record.talk_seconds == expected.talk


def test_mid_burst_resync_with_lost_calls(recordings: Path) -> None:
    headers = _headers(recordings, "burst.ami")
    cut = len(headers) // 2
    first, rest = headers[:cut], headers[cut:]
    tracker, events = _run(first)
    alive = _alive_channels(first)
    up = {h["Linkedid"] for h in alive}
    # Calls still waiting in the queue at the cut (never connected before it).
    connected = {h["Linkedid"] for h in first if h.get("Event") == "AgentConnect"}
    lost = sorted(up - connected)[:3]
    assert lost
    events += _resync(tracker, _last_ts(first), [h for h in alive if h["Linkedid"] not in lost])
    events += _run(rest, tracker)[1]
    records = _ended(events)
    by_id = {r.key.linkedid: r for r in records}
    assert len(by_id) == len(records)
    for linkedid in lost:
        assert by_id[linkedid].outcome is Outcome.LOST_DURING_OUTAGE


@pytest.mark.parametrize("answered", [False, True])
def test_restart_ends_everything(recordings: Path, answered: bool) -> None:
    capture = _headers(recordings, "status_snapshot.ami")
    if not answered:
        capture = _before_first(capture, "QueueCallerJoin")
    start = float(next(h["Timestamp"] for h in capture if "Timestamp" in h))
    tracker, _ = _run([Connected(start), *capture])
    at = _last_ts(capture)
    items: list[StreamItem] = [
        Disconnected(at + 0.5, "eof"),
        Connected(at + 60),
        {"Event": "FullyBooted", "Uptime": "20", "LastReload": "20", "Status": "Fully Booted"},
    ]
    _, events = _run(items, tracker)
    assert any(isinstance(e, AsteriskRestarted) for e in events)
    records = _ended(events)
    assert len(records) == 3
    assert tracker.calls_in_progress() == []
    # Ended when the bridge last saw them: the last event before the drop.
    assert all(r.ended_at == at for r in records)
    if not answered:
        assert all(r.outcome is Outcome.LOST_DURING_OUTAGE for r in records)
        return
    # An answer seen before the restart stands; the talk lasted at least
    # until the bridge lost sight of the call.
    log = _queue_log(recordings, "status_snapshot")
    for record in records:
        assert record.outcome is Outcome.ANSWERED
        assert record.agent == log.calls[record.key.linkedid].agent
        assert record.answered_at is not None
        assert record.talk_seconds == pytest.approx(at - record.answered_at)


def test_reconnect_without_restart_keeps_calls(recordings: Path) -> None:
    capture = _headers(recordings, "status_snapshot.ami")
    start = float(next(h["Timestamp"] for h in capture if "Timestamp" in h))
    tracker, _ = _run([Connected(start), *capture])
    at = _last_ts(capture)
    uptime = str(int(at + 60 - start))  # same boot as the first session (Uptime 0)
    items: list[StreamItem] = [
        Disconnected(at, "eof"),
        Connected(at + 60),
        {"Event": "FullyBooted", "Uptime": uptime, "LastReload": uptime},
    ]
    _, events = _run(items, tracker)
    assert events == []
    assert len(tracker.calls_in_progress()) == 3


def _cut_answered(recordings: Path) -> tuple[list[Headers], list[Headers]]:
    headers = _headers(recordings, "answered.ami")
    cut = next(i for i, h in enumerate(headers) if h.get("Event") == "BridgeEnter") + 2
    return headers[:cut], headers[cut:]


def test_restored_answered_call_not_in_resync_stays_answered(recordings: Path) -> None:
    first, _ = _cut_answered(recordings)
    old, _ = _run(first)
    (saved,) = old.calls_in_progress()
    assert saved.answered_at is not None
    tracker = CallTracker("lab", wrapup_seconds=WRAPUP)
    tracker.restore([saved])
    assert [r.key for r in tracker.calls_in_progress()] == [saved.key]
    after = _resync(tracker, _last_ts(first) + 100, [])
    (record,) = _ended(after)
    assert record.key == saved.key
    # It was answered before the bridge stopped; when the talk ended nobody
    # saw: the answer stands, the talk time is unknown, the end is the last
    # moment on record (never the resync, 100 s later).
    assert record.outcome is Outcome.ANSWERED
    assert record.agent == "Ana Gómez"
    assert record.talk_seconds is None
    assert record.ended_at == saved.answered_at


def test_restored_waiting_call_not_in_resync_is_lost(recordings: Path) -> None:
    headers = _headers(recordings, "abandoned.ami")
    joined = next(i for i, h in enumerate(headers) if h.get("Event") == "QueueCallerJoin") + 1
    old, _ = _run(headers[:joined])
    (saved,) = old.calls_in_progress()
    tracker = CallTracker("lab", wrapup_seconds=WRAPUP)
    tracker.restore([saved])
    (record,) = _ended(_resync(tracker, _last_ts(headers[:joined]) + 100, []))
    assert record.outcome is Outcome.LOST_DURING_OUTAGE
    assert record.queues == ("reclamos",)


def test_restored_call_in_resync_continues(recordings: Path) -> None:
    first, rest = _cut_answered(recordings)
    old, _ = _run(first)
    (saved,) = old.calls_in_progress()
    tracker = CallTracker("lab", wrapup_seconds=WRAPUP)
    tracker.restore([saved])
    after = _resync(tracker, _last_ts(first), _alive_channels(first))
    assert _ended(after) == []
    _, events = _run(rest, tracker)
    (record,) = _ended(events)
    expected = _queue_log(recordings, "answered").calls[saved.key.linkedid]
    assert record.outcome is Outcome.ANSWERED
    assert (record.agent, record.wait_seconds, record.talk_seconds) == (
        expected.agent,
        expected.wait,
        expected.talk,
    )
    assert not any(isinstance(e, CallArrived) for e in events)


_BLIND: Headers = {
    "Event": "BlindTransfer",
    "Timestamp": "1795342628.0",
    "Result": "Success",
    "TransfererChannel": "Local/4001@agents-00000001;1",
    "TransfererLinkedid": "1795342622.0",
    "TransfereeChannel": "Local/99100001@callers-00000000;1",
    "TransfereeUniqueid": "1795342622.0",
    "TransfereeLinkedid": "1795342622.0",
    "IsExternal": "No",
    "Context": "oficinas",
    "Extension": "5000",
}
_ATTENDED: Headers = {
    "Event": "AttendedTransfer",
    "Timestamp": "1795342628.0",
    "Result": "Success",
    "OrigTransfererChannel": "Local/4001@agents-00000001;1",
    "TransfereeChannel": "Local/99100001@callers-00000000;1",
    "TransfereeLinkedid": "1795342622.0",
    "TransferTargetChannel": "PJSIP/5000-00000007",
    "TransferTargetCallerIDNum": "5000",
    "DestType": "Bridge",
}


@pytest.mark.parametrize(("transfer", "target"), [(_BLIND, "5000@oficinas"), (_ATTENDED, "5000")])
def test_transfer_out_of_the_call(recordings: Path, transfer: Headers, target: str) -> None:
    headers = _headers(recordings, "answered.ami")
    cut = next(i for i, h in enumerate(headers) if h.get("Event") == "AgentComplete")
    complete = {**headers[cut], "Reason": "transfer"}
    failed = {**transfer, "Result": "Fail"}
    items = [*headers[:cut], failed, transfer, complete, *headers[cut + 1 :]]
    _, events = _run(items)
    transfers = [e for e in events if isinstance(e, CallTransferred)]
    assert [(t.target, t.member_name) for t in transfers] == [(target, "Ana Gómez")]
    (record,) = _ended(events)
    assert record.outcome is Outcome.TRANSFERRED
    assert record.agent == "Ana Gómez" and record.talk_seconds == 5


def test_ivr_completed_without_queue(recordings: Path) -> None:
    """The IVR ends (no AGI command running) and the dialplan hangs up."""
    items: list[StreamItem] = []
    for headers in _headers(recordings, "answered.ami"):
        if headers.get("Event") == "QueueCallerJoin":
            break
        items.append(headers)
    items.append(_answered_event("Hangup", 1795342625.0, Cause="16"))
    items.append(_answered_event("Hangup", 1795342625.0, Uniqueid="1795342622.1"))
    _, events = _run(items)
    (record,) = _ended(events)
    assert record.outcome is Outcome.IVR_COMPLETED
    assert record.hangup_side is HangupSide.SYSTEM
    assert record.ivr_path == ()
    left = [e for e in events if isinstance(e, IvrLeft)]
    assert len(left) == 1 and left[0].variables == {"ATIENDE_QUEUE": "consultas"}


def test_events_for_unknown_or_ended_calls_are_quiet(recordings: Path) -> None:
    tracker, _ = _run(_headers(recordings, "answered.ami"))
    stray = _answered_event("Hangup", 1795342700.0)
    # Time passing still ends Ana's wrap-up; nothing about the call.
    assert [e.state for e in tracker.feed(stray) if isinstance(e, AgentStateChanged)] == [
        AgentState.AVAILABLE
    ]
    assert tracker.feed({**stray, "Event": "VarSet", "Variable": "ATIENDE_X"}) == []
    assert tracker.finish() == []


def _abandoned_cut(recordings: Path) -> tuple[list[Headers], list[Headers]]:
    headers = _headers(recordings, "abandoned.ami")
    cut = next(i for i, h in enumerate(headers) if h.get("Event") == "QueueCallerJoin") + 1
    return headers[:cut], headers[cut:]


def _queue_lists(entries: bool) -> list[Headers]:
    """What QueueStatus would answer while the abandoned.ami caller waits."""
    lists: list[Headers] = [
        {"Event": "QueueParams", "Queue": "reclamos", "ServiceLevel": "30"},
        {
            "Event": "QueueMember",
            "Queue": "reclamos",
            "Name": "Carla Pérez",
            "StateInterface": "Local/4003@agents/n",
            "InCall": "0",
            "Status": "1",
            "Paused": "1",
            "PausedReason": "Almuerzo",
        },
    ]
    if entries:
        lists.append(
            {
                "Event": "QueueEntry",
                "Queue": "reclamos",
                "Position": "1",
                "Channel": "Local/99100002@callers-00000000;1",
                "Uniqueid": "1795342638.0",
                "Wait": "3",
            }
        )
    lists.append({"Event": "QueueStatusComplete", "ListItems": str(len(lists))})
    return lists


def test_resync_confirms_waiting_caller(recordings: Path) -> None:
    first, rest = _abandoned_cut(recordings)
    tracker, _ = _run(first)
    after = _resync(tracker, _last_ts(first), _alive_channels(first) + _queue_lists(True))
    assert _ended(after) == []
    assert tracker.service_levels == {"reclamos": 30}
    _, events = _run(rest, tracker)
    (record,) = _ended(events)
    expected = _queue_log(recordings, "abandoned").calls["1795342638.0"]
    assert (record.outcome.value, record.wait_seconds) == (expected.outcome, expected.wait)


def test_resync_without_queue_entry_closes_the_leg(recordings: Path) -> None:
    first, _ = _abandoned_cut(recordings)
    tracker, _ = _run(first)
    at = _last_ts(first)
    _resync(tracker, at, _alive_channels(first) + _queue_lists(False))
    (record,) = tracker.calls_in_progress()
    assert record.outcome is Outcome.IN_PROGRESS  # the caller is still up
    assert record.legs[0].outcome is Outcome.LOST_DURING_OUTAGE
    assert record.legs[0].left_at == at


def test_resync_member_lists_log_out_unlisted_agents(recordings: Path) -> None:
    first, _ = _abandoned_cut(recordings)
    tracker, _ = _run(first)
    assert {a.member_name for a in tracker.agents()} == {"Carla Pérez"}
    # Without a QueueStatus list the members are left as they were.
    _resync(tracker, _last_ts(first), _alive_channels(first))
    assert [a.state for a in tracker.agents()] == [AgentState.PAUSED]
    lists = [h for h in _queue_lists(True) if h["Event"] != "QueueMember"]
    events = _resync(tracker, _last_ts(first) + 5, _alive_channels(first) + lists)
    (change,) = [e for e in events if isinstance(e, AgentStateChanged)]
    assert change.state is AgentState.LOGGED_OUT
    assert change.closed is not None and change.closed.reason == "Almuerzo"


def test_resync_finished_alone_ends_nothing(recordings: Path) -> None:
    tracker, _ = _run(_headers(recordings, "status_snapshot.ami"))
    assert tracker.feed(ResyncFinished(1795342800.0)) == []
    assert len(tracker.calls_in_progress()) == 3


_BURST: list[Headers] = []


def _burst(recordings: Path) -> list[Headers]:
    if not _BURST:
        _BURST.extend(_headers(recordings, "burst.ami"))
    return _BURST


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mangled_stream_never_ends_a_call_twice(recordings: Path, data: st.DataObject) -> None:
    """Drop, duplicate and delay real events: a call still ends at most once."""
    headers = _burst(recordings)
    keep = data.draw(st.lists(st.integers(0, len(headers) - 1), max_size=400))
    moved = data.draw(st.lists(st.integers(0, len(headers) - 1), max_size=40))
    items: list[StreamItem] = [headers[i] for i in [*sorted(keep), *moved]]
    tracker, events = _run(items)
    ended = [r.key.linkedid for r in _ended(events)]
    assert len(ended) == len(set(ended))
    assert not set(ended) & {r.key.linkedid for r in tracker.finish()}


def test_hangup_in_queue_without_abandon_event(recordings: Path) -> None:
    items: list[StreamItem] = list(_queued_call(recordings))
    items.append(_call_event("Hangup", 1795342648.7, Uniqueid="1795342638.1"))
    items.append(_call_event("Hangup", 1795342648.7))
    _, events = _run(items)
    (abandon,) = [e for e in events if isinstance(e, CallAbandoned)]
    assert abandon.wait_seconds == pytest.approx(1795342648.7 - 1795342640.459152)
    (record,) = _ended(events)
    assert record.outcome is Outcome.ABANDONED and record.hangup_side is HangupSide.CALLER


def test_events_during_resync_beat_stale_lists(recordings: Path) -> None:
    """Events keep flowing while the lists are built: lists taken before the
    answer (caller still waiting) must not reopen the queue, and a channel
    that hung up meanwhile must not come back."""
    headers = _headers(recordings, "answered.ami")
    join = next(i for i, h in enumerate(headers) if h.get("Event") == "QueueCallerJoin")
    first_hangup = next(i for i, h in enumerate(headers) if h.get("Event") == "Hangup")
    stale = [
        {**h, "Application": "Queue", "ApplicationData": "consultas,t,,,300"}
        for h in _alive_channels(headers[: join + 1])
    ]
    stale.append(
        {
            "Event": "QueueEntry",
            "Queue": "consultas",
            "Position": "1",
            "Uniqueid": "1795342622.0",
            "Channel": "Local/99100001@callers-00000000;1",
            "Wait": "0",
        }
    )
    stale.append({"Event": "QueueStatusComplete", "ListItems": "1"})
    items: list[StreamItem] = [
        *headers[:join],
        Disconnected(1795342624.0, "eof"),
        Connected(1795342624.1),
        ResyncStarted(1795342624.1),
        *headers[join : first_hangup + 1],  # answered, talked, agent ;2 hung up
        *stale,
        ResyncFinished(1795342629.5),
        *headers[first_hangup + 1 :],
    ]
    _, events = _run(items)
    (record,) = _ended(events)
    expected = _queue_log(recordings, "answered").calls["1795342622.0"]
    assert record.queues == ("consultas",)
    assert record.outcome is Outcome.ANSWERED
    assert (record.agent, record.wait_seconds, record.talk_seconds) == (
        expected.agent,
        expected.wait,
        expected.talk,
    )
    assert len([e for e in events if isinstance(e, CallQueued)]) == 1


def test_restored_call_ending_during_resync_is_not_lost(recordings: Path) -> None:
    first, rest = _cut_answered(recordings)
    old, _ = _run(first)
    (saved,) = old.calls_in_progress()
    tracker = CallTracker("lab", wrapup_seconds=WRAPUP)
    tracker.restore([saved])
    items: list[StreamItem] = [
        Connected(_last_ts(first) + 1),
        ResyncStarted(_last_ts(first) + 1),
        *rest,  # the call ends before the lists arrive
        {"Event": "CoreShowChannelsComplete", "ListItems": "0"},
        {"Event": "QueueStatusComplete", "ListItems": "0"},
        ResyncFinished(_last_ts(first) + 10),
    ]
    _, events = _run(items, tracker)
    (record,) = _ended(events)
    assert record.outcome is Outcome.ANSWERED
    assert record.talk_seconds == 5  # answered.queue_log COMPLETEAGENT
    assert record.ended_at == _last_ts(rest)


def test_record_of(recordings: Path) -> None:
    first, rest = _cut_answered(recordings)
    tracker, _ = _run(first)
    (record,) = tracker.calls_in_progress()
    assert tracker.record_of(record.key) == record
    assert tracker.record_of(CallKey("other", record.key.linkedid)) is None
    _run(rest, tracker)
    assert tracker.record_of(record.key) is None
