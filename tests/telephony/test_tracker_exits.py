"""Timeout, abandon and the other queue exits, decided as app_queue says them.

app_queue.c (queue_exec, Asterisk 18 to 22) sends QueueCallerAbandon for a
caller who hung up AND, through record_abandoned, for a timeout and a head
caller's leave-when-empty; then QueueCallerLeave; then, for the exits only,
QUEUESTATUS. These event sequences are the orders Asterisk sends (the
HangupRequest-first abandons are in abandoned.ami and sip_mixed.ami).
"""

from __future__ import annotations

import pytest

from telephony.domain import CallAbandoned, CallEnded, DomainEvent, Outcome, QueueExited
from telephony.tracker import CallTracker

CALLER = {
    "Channel": "PJSIP/pstn-00000001",
    "Uniqueid": "100.1",
    "Linkedid": "100.1",
    "CallerIDNum": "099100001",
    "CallerIDName": "Ana",
}


def _ev(name: str, ts: float, **headers: str) -> dict[str, str]:
    return {"Event": name, "Timestamp": f"{ts:.6f}", **CALLER, **headers}


def _run(events: list[dict[str, str]]) -> list[DomainEvent]:
    tracker = CallTracker("t")
    out: list[DomainEvent] = []
    for event in events:
        out.extend(tracker.feed(event))
    return out


def _start() -> list[dict[str, str]]:
    return [
        _ev("Newchannel", 100.0),
        _ev("QueueCallerJoin", 101.0, Queue="q", Position="1", Count="1"),
    ]


def _abandon(ts: float) -> list[dict[str, str]]:
    return [
        _ev("VarSet", ts, Variable="ABANDONED", Value="TRUE"),
        _ev("QueueCallerAbandon", ts, Queue="q", Position="1", OriginalPosition="1", HoldTime="9"),
        _ev("QueueCallerLeave", ts, Queue="q", Position="1", Count="0"),
    ]


def _result(out: list[DomainEvent]) -> tuple[Outcome, str, float | None, int, int]:
    (ended,) = [e.record for e in out if isinstance(e, CallEnded)]
    abandons = sum(isinstance(e, CallAbandoned) for e in out)
    exits = sum(isinstance(e, QueueExited) for e in out)
    return ended.outcome, ended.hangup_side.value, ended.wait_seconds, abandons, exits


@pytest.mark.parametrize(
    ("status", "outcome"),
    [("TIMEOUT", Outcome.EXIT_TIMEOUT), ("LEAVEEMPTY", Outcome.EXIT_EMPTY)],
)
def test_abandon_then_leave_then_status_is_that_exit(status: str, outcome: Outcome) -> None:
    out = _run(
        [
            *_start(),
            *_abandon(110.0),
            _ev("VarSet", 110.0, Variable="QUEUESTATUS", Value=status),
            _ev("Hangup", 111.0, Cause="16"),
        ]
    )
    assert _result(out) == (outcome, "system", 9.0, 0, 1)


def test_hangup_request_first_is_the_callers_abandon_at_once() -> None:
    events = [*_start(), _ev("HangupRequest", 110.0, Cause="16"), *_abandon(110.0)]
    # The live figures get the abandon before the channel is even gone.
    assert sum(isinstance(e, CallAbandoned) for e in _run(events)) == 1
    full = _run([*events, _ev("Hangup", 110.1, Cause="16")])
    assert _result(full) == (Outcome.ABANDONED, "caller", 9.0, 1, 0)


def test_abandon_with_no_status_and_the_channel_gone_is_an_abandon() -> None:
    """No HangupRequest seen (filtered, or not sent): the queue channel's
    hangup with no QUEUESTATUS after the leave settles it."""
    out = _run([*_start(), *_abandon(110.0), _ev("Hangup", 110.2, Cause="16")])
    assert _result(out) == (Outcome.ABANDONED, "caller", 9.0, 1, 0)


def test_abandon_and_the_channel_living_on_is_a_timeout() -> None:
    """No QUEUESTATUS (a manager.conf filter without it) but the dialplan
    goes on on the same channel: not the caller hanging up."""
    out = _run(
        [
            *_start(),
            *_abandon(110.0),
            _ev("AGIExecStart", 110.5, CommandId="1", Command="ANSWER"),
            _ev("Hangup", 115.0, Cause="16"),
        ]
    )
    assert _result(out) == (Outcome.EXIT_TIMEOUT, "system", 9.0, 0, 1)


def test_leave_alone_is_an_exit_with_a_key() -> None:
    out = _run(
        [
            *_start(),
            _ev("QueueCallerLeave", 105.0, Queue="q", Position="1", Count="0"),
            _ev("Hangup", 106.0, Cause="16"),
        ]
    )
    outcome, side, wait, abandons, exits = _result(out)
    assert (outcome, side, abandons, exits) == (Outcome.EXIT_KEY, "system", 0, 1)
    assert wait == pytest.approx(4.0)
