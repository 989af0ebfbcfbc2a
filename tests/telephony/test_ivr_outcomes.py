"""How an IVR-only call ended, for a caller with one channel (PJSIP).

With Local channel pairs the caller's `;2` half hangs up first, during the AGI
command; a PJSIP caller has one channel, whose Hangup comes after AGI() has
returned. What tells them apart is what AGI() leaves on the channel, as the
real ivr_hangup.ami shows: AGISTATUS=HANGUP when the channel hung up during
the IVR, SUCCESS when the IVR ended normally; and an IVR that hangs up by
itself sends the AGI HANGUP command first.
"""

from __future__ import annotations

import pytest

from telephony.domain import CallEnded, HangupSide, Outcome
from telephony.tracker import CallTracker

CHANNEL = "PJSIP/trunk-00000007"
ID = "1795344853.0"


def event(name: str, ts: float, **fields: str) -> dict[str, str]:
    return {
        "Event": name,
        "Timestamp": f"{ts:.6f}",
        "Channel": CHANNEL,
        "CallerIDNum": "099123456",
        "CallerIDName": "Núñez",
        "Uniqueid": ID,
        "Linkedid": ID,
        **fields,
    }


def ivr_call(*, caller_hangs_up: bool, ivr_hangs_up: bool = False) -> list[dict[str, str]]:
    events = [
        event("Newchannel", 1.0, ChannelState="4"),
        event("AGIExecStart", 2.0, Command="GET DATA atiende/menu 5000 1", CommandId="1"),
    ]
    if caller_hangs_up:
        events.append(event("HangupRequest", 3.0, Cause="16"))
    events.append(
        event(
            "AGIExecEnd", 3.1, Command="GET DATA", CommandId="1", ResultCode="200", Result="Success"
        )
    )
    if ivr_hangs_up:
        events.append(event("AGIExecStart", 3.2, Command="HANGUP", CommandId="2"))
        events.append(
            event(
                "AGIExecEnd",
                3.3,
                Command="HANGUP",
                CommandId="2",
                ResultCode="200",
                Result="Success",
            )
        )
    status = "HANGUP" if caller_hangs_up or ivr_hangs_up else "SUCCESS"
    events.append(event("VarSet", 3.4, Variable="AGISTATUS", Value=status))
    events.append(event("Hangup", 3.5, Cause="16"))
    return events


@pytest.mark.parametrize(
    ("caller_hangs_up", "ivr_hangs_up", "outcome", "side"),
    [
        (True, False, Outcome.IVR_HANGUP, HangupSide.CALLER),
        (False, False, Outcome.IVR_COMPLETED, HangupSide.SYSTEM),
        (False, True, Outcome.IVR_COMPLETED, HangupSide.SYSTEM),
    ],
)
def test_single_channel_ivr_outcome(
    caller_hangs_up: bool, ivr_hangs_up: bool, outcome: Outcome, side: HangupSide
) -> None:
    tracker = CallTracker("asterisk")
    ended = [
        e.record
        for headers in ivr_call(caller_hangs_up=caller_hangs_up, ivr_hangs_up=ivr_hangs_up)
        for e in tracker.feed(headers)
        if isinstance(e, CallEnded)
    ]
    assert [(r.outcome, r.hangup_side) for r in ended] == [(outcome, side)]
    # AGISTATUS is read, never stored as one of the IVR's variables.
    assert "AGISTATUS" not in ended[0].variables


def test_caller_leaves_during_the_last_prompt_and_the_ivr_hangs_up_unaware() -> None:
    """Asterisk tells the IVR of a hangup only with its next reply, so an IVR
    whose last prompt the caller hung up on still sends HANGUP. The caller's
    channel said first who left: a HangupRequest (far end), not the
    SoftHangupRequest an AGI HANGUP makes."""
    events = [
        event("Newchannel", 1.0, ChannelState="4"),
        event(
            "AGIExecStart", 2.0, Command='STREAM FILE atiende/fuera-de-horario ""', CommandId="1"
        ),
        event("HangupRequest", 2.5, Cause="16"),
        event(
            "AGIExecEnd",
            2.6,
            Command="STREAM FILE",
            CommandId="1",
            ResultCode="200",
            Result="Success",
        ),
        event("AGIExecStart", 2.7, Command="HANGUP", CommandId="2"),
        event(
            "AGIExecEnd", 2.8, Command="HANGUP", CommandId="2", ResultCode="200", Result="Success"
        ),
        event("VarSet", 2.9, Variable="AGISTATUS", Value="HANGUP"),
        event("Hangup", 3.0, Cause="16"),
    ]
    tracker = CallTracker("asterisk")
    (record,) = [
        e.record for headers in events for e in tracker.feed(headers) if isinstance(e, CallEnded)
    ]
    assert (record.outcome, record.hangup_side) == (Outcome.IVR_HANGUP, HangupSide.CALLER)
