"""Callbacks through the simulator and the tracker: the Originate's variables,
the agent's phone first, then the citizen who answers, is busy or lets it ring."""

from __future__ import annotations

import pytest

from telephony.domain import (
    AgentRinging,
    CallAnswered,
    CallbackAttemptEnded,
    CallEnded,
    DomainEvent,
    Outcome,
)
from telephony.simulator.calls import Pbx
from telephony.simulator.model import CallerSpec
from telephony.simulator.runner import originate_variables
from telephony.tracker import CallTracker

START = 1795400000.0
VARIABLES = {
    "ATIENDE_DIRECTION": "outbound",
    "ATIENDE_CALLBACK_ID": "17",
    "ATIENDE_CALLBACK_OF": "1795399000.4",
    "ATIENDE_CALLBACK_QUEUE": "consultas",
    "ATIENDE_CALLBACK_NUMBER": "099123456",
}


def _run(answer: float, busy: float) -> tuple[Pbx, list[DomainEvent], list[dict[str, str]]]:
    pbx = Pbx(
        start=START,
        style="pjsip",
        queues={"consultas": [("4001", "Ana Gómez")]},
        callback_answer_share=answer,
        callback_busy_share=busy,
        callback_ring_seconds=15,
    )
    tracker = CallTracker("sim", wrapup_seconds={"consultas": 3.0})
    for member in pbx.members.values():
        tracker.feed(
            {
                "Event": "QueueMemberStatus",
                "Timestamp": str(START),
                **dict(pbx.member_snapshot(member)),
            }
        )
    assert (
        pbx.originate(
            "PJSIP/4001",
            "atiende-callback",
            "099123456",
            caller_id='"Centro de Atención" <08001234>',
            action_id="cb-17",
            talk=6,
            variables=VARIABLES,
        )
        is None
    )
    raw = [e.fields() for e in pbx.advance(START + 60)]
    out: list[DomainEvent] = []
    for fields in raw:
        out.extend(tracker.feed(fields))
    assert tracker.calls_in_progress() == []
    return pbx, out, raw


def test_an_answered_callback_is_an_outbound_attention_of_its_agent() -> None:
    pbx, out, raw = _run(answer=1.0, busy=0.0)
    names = [e["Event"] for e in raw]
    response = next(e for e in raw if e["Event"] == "OriginateResponse")
    assert (response["Response"], response["Reason"], response["ActionID"]) == (
        "Success",
        "4",
        "cb-17",
    )
    # Variables before the ring, the agent before the citizen.
    assert names.index("VarSet") < names.index("Newstate") < names.index("DialBegin")
    assert [e["DialStatus"] for e in raw if e["Event"] == "DialEnd"] == ["ANSWER"]
    assert names.count("BridgeEnter") == 2
    ringing = [e for e in out if isinstance(e, AgentRinging)]
    assert [(e.queue, e.interface, e.caller_number) for e in ringing] == [
        ("consultas", "PJSIP/4001", "099123456")
    ]
    assert "ATIENDE_CALLBACK_NUMBER" not in ringing[0].variables
    answered = [e for e in out if isinstance(e, CallAnswered)]
    assert [(e.outbound, e.member_name, e.queue) for e in answered] == [
        (True, "Ana Gómez", "consultas")
    ]
    attempts = [e for e in out if isinstance(e, CallbackAttemptEnded)]
    assert [(a.callback_id, a.answered, a.dial_status) for a in attempts] == [
        ("17", True, "ANSWER")
    ]
    ended = [e.record for e in out if isinstance(e, CallEnded)]
    assert len(ended) == 1
    record = ended[0]
    assert record.outcome is Outcome.ANSWERED and record.legs == ()
    assert (record.caller_number, record.agent, record.queue) == (
        "099123456",
        "Ana Gómez",
        "consultas",
    )
    assert record.outbound is not None and record.outbound.callback_of == "1795399000.4"
    assert record.variables["ATIENDE_DIRECTION"] == "outbound"
    assert "ATIENDE_CALLBACK_NUMBER" not in record.variables
    assert record.talk_seconds == pytest.approx(6.0, abs=0.1)
    # The agent is free again for the queue.
    assert not pbx.agents["PJSIP/4001"].on_other_call


@pytest.mark.parametrize(("busy", "status"), [(1.0, "BUSY"), (0.0, "NOANSWER")])
def test_an_unanswered_callback_is_a_result_and_no_attention(busy: float, status: str) -> None:
    pbx, out, raw = _run(answer=0.0, busy=busy)
    assert [e["DialStatus"] for e in raw if e["Event"] == "DialEnd"] == [status]
    attempts = [e for e in out if isinstance(e, CallbackAttemptEnded)]
    assert [(a.answered, a.dial_status) for a in attempts] == [(False, status)]
    assert not [e for e in out if isinstance(e, CallEnded | CallAnswered)]
    # A queue caller arriving afterwards reaches the agent.
    pbx.place_call(CallerSpec("099100001", "Caller", ("1",), 1, 120, 4, "consultas"), START + 61)
    later = [e.fields()["Event"] for e in pbx.advance(START + 90)]
    assert "AgentConnect" in later


def test_originate_variables_as_the_simulator_reads_them() -> None:
    assert originate_variables("A=1\nB=x=y,C=\n=skip") == {"A": "1", "B": "x=y", "C": ""}
