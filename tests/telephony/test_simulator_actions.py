"""The simulator carries out the agent controls' AMI actions as Asterisk does.

QueueAdd, QueueRemove, QueuePause (with a Reason; Paused false unpauses) and
Originate change the simulated PBX, emit the events app_queue and manager.c
emit (QueueMemberAdded/Removed, QueueMemberPause with PausedReason,
OriginateResponse), write the queue_log lines, and fail with Asterisk's own
messages. Sent over a real AMI session with the project's action classes;
the tracker's agent states follow.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from telephony.ami.actions import Originate, QueueAdd, QueuePause, QueueRemove
from telephony.ami.connection import AmiConnection
from telephony.ami.exceptions import AmiActionFailed
from telephony.bridge import Bridge
from telephony.domain import AgentState
from telephony.simulator.calls import Pbx
from telephony.simulator.model import CallerSpec
from telephony.simulator.runner import Simulator, SimulatorConfig
from telephony.simulator.traffic import TrafficProfile
from telephony.tracker import CallTracker

QUEUES = {"consultas": [("4001", "Ana Gómez")], "reclamos": [("4003", "Carla Pérez")]}
START = 1795400000.0


class Sink:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def publish(self, events: Any) -> None:
        self.events.extend(events)

    def calls_in_progress(self, records: Any) -> None:
        del records


def _names(pbx: Pbx, until: float) -> list[dict[str, str]]:
    return [e.fields() for e in pbx.advance(until)]


def test_pause_with_reason_in_one_queue_and_in_all() -> None:
    pbx = Pbx(start=START, style="pjsip", queues={**QUEUES, "reclamos": [("4001", "Ana Gómez")]})
    assert pbx.queue_pause("PJSIP/4001", True, "Almuerzo", "consultas") is None
    events = [e for e in _names(pbx, START + 1) if e["Event"] == "QueueMemberPause"]
    assert [(e["Queue"], e["Paused"], e["PausedReason"]) for e in events] == [
        ("consultas", "1", "Almuerzo")
    ]
    assert pbx.queue_pause("PJSIP/4001", False) is None  # every queue
    events = [e for e in _names(pbx, START + 2) if e["Event"] == "QueueMemberPause"]
    assert [(e["Queue"], e["Paused"]) for e in events] == [("consultas", "0"), ("reclamos", "0")]
    assert [line.split("|")[2:] for line in pbx.queue_log[1:]] == [
        ["consultas", "Ana Gómez", "PAUSE", "Almuerzo"],
        ["NONE", "Ana Gómez", "UNPAUSEALL", ""],
        ["consultas", "Ana Gómez", "UNPAUSE", ""],
        ["reclamos", "Ana Gómez", "UNPAUSE", ""],
    ]
    assert pbx.queue_pause("PJSIP/4999", True, "x") == "Interface not found"
    assert pbx.queue_pause("PJSIP/4001", True, "x", "nosuch") == "Interface not found"


def test_a_paused_member_gets_no_call_until_unpaused() -> None:
    pbx = Pbx(start=START, style="pjsip", queues={"consultas": [("4001", "Ana Gómez")]})
    pbx.queue_pause("PJSIP/4001", True, "Almuerzo", "consultas")
    pbx.place_call(CallerSpec("099100001", "Caller", ("1",), 1, 120, 2, "consultas"), START + 1)
    before = _names(pbx, START + 20)
    assert not [e for e in before if e["Event"] == "AgentCalled"]
    pbx.queue_pause("PJSIP/4001", False, "", "consultas")
    after = _names(pbx, START + 40)
    assert [e["MemberName"] for e in after if e["Event"] == "AgentConnect"] == ["Ana Gómez"]


def test_add_and_remove_a_dynamic_member() -> None:
    pbx = Pbx(start=START, style="pjsip", queues=QUEUES)
    assert pbx.queue_add("consultas", "PJSIP/4009", "Diego Rodríguez") is None
    assert pbx.queue_add("consultas", "PJSIP/4009", "Diego") == (
        "Unable to add interface: Already there"
    )
    assert pbx.queue_add("nosuch", "PJSIP/4009") == (
        "Unable to add interface to queue: No such queue"
    )
    added = [e for e in _names(pbx, START + 1) if e["Event"] == "QueueMemberAdded"]
    assert [(e["MemberName"], e["Membership"], e["Paused"]) for e in added] == [
        ("Diego Rodríguez", "dynamic", "0")
    ]
    # The new member takes calls: Ana is paused, Diego answers.
    pbx.queue_pause("PJSIP/4001", True, "Baño", "consultas")
    pbx.place_call(CallerSpec("099100001", "Caller", ("1",), 1, 120, 2, "consultas"), START + 2)
    connects = [e for e in _names(pbx, START + 30) if e["Event"] == "AgentConnect"]
    assert [e["MemberName"] for e in connects] == ["Diego Rodríguez"]
    assert pbx.queue_remove("consultas", "PJSIP/4001") == "Member not dynamic"
    assert pbx.queue_remove("consultas", "PJSIP/4777") == "Unable to remove interface: Not there"
    assert pbx.queue_remove("consultas", "PJSIP/4009") is None
    removed = [e for e in _names(pbx, START + 31) if e["Event"] == "QueueMemberRemoved"]
    assert [e["MemberName"] for e in removed] == ["Diego Rodríguez"]
    log = [line.split("|")[1:] for line in pbx.queue_log]
    assert ["MANAGER", "consultas", "Diego Rodríguez", "ADDMEMBER", ""] in log
    assert ["MANAGER", "consultas", "Diego Rodríguez", "REMOVEMEMBER", ""] in log


@pytest.mark.parametrize(
    ("context", "exten", "ok"),
    [
        ("from-agents", "099123456", True),
        ("from-agents", "+59899123456", True),
        ("from-agents", "4003", True),
        ("from-agents", "12", False),
        ("default", "099123456", False),
        ("agents", "099123456", False),
    ],
)
def test_originate_honours_the_dialplans_contexts(context: str, exten: str, ok: bool) -> None:
    pbx = Pbx(start=START, style="pjsip", queues=QUEUES)
    result = pbx.originate("PJSIP/4001", context, exten, caller_id='"Ana" <4001>', action_id="a1")
    assert result == (None if ok else "Extension does not exist.")


def test_originate_rings_the_agent_then_the_citizen_and_keeps_the_agent_busy() -> None:
    pbx = Pbx(start=START, style="pjsip", queues={"consultas": [("4001", "Ana Gómez")]})
    assert pbx.originate("PJSIP/4001", "from-agents", "099123456", action_id="a1", talk=10) is None
    # A queue caller arriving meanwhile waits: Ana's phone is in use.
    pbx.place_call(CallerSpec("099100001", "Caller", ("1",), 1, 120, 60, "consultas"), START + 1)
    events = _names(pbx, START + 8)
    response = next(e for e in events if e["Event"] == "OriginateResponse")
    assert (response["Response"], response["Reason"], response["ActionID"]) == (
        "Success",
        "4",
        "a1",
    )
    assert not [e for e in events if e["Event"] == "AgentCalled"]
    dialled = [e for e in events if e["Event"] == "DialBegin"]
    assert dialled and dialled[0]["DestChannel"].startswith("PJSIP/pstn-")
    later = _names(pbx, START + 40)
    assert [e["MemberName"] for e in later if e["Event"] == "AgentConnect"] == ["Ana Gómez"]
    # On the queue call now: a second Originate fails as a busy phone does.
    pbx.originate("PJSIP/4001", "from-agents", "099123456", action_id="a2")
    busy = [e for e in _names(pbx, START + 41) if e["Event"] == "OriginateResponse"]
    assert [(e["Response"], e["Reason"]) for e in busy] == [("Failure", "5")]


async def test_controls_over_ami_change_the_pbx_and_the_tracker() -> None:
    """The panel's actions (telephony.ami.actions) over a real AMI session:
    Asterisk's replies and errors, and the tracker follows the events."""
    simulator = Simulator(
        SimulatorConfig(
            speed=20.0,
            queues=QUEUES,
            profile=TrafficProfile(mean_seconds_between_pauses=0),
            max_calls=0,
            no_answer_share=0.0,
        )
    )
    await simulator.start()
    connection = AmiConnection(
        host="127.0.0.1",
        port=simulator.port,
        username="atiende",
        secret="atiende",
        system_name="sim",
    )
    tracker = CallTracker("sim")
    bridge = Bridge(connection, tracker, [Sink()])
    await connection.start()
    task = asyncio.create_task(bridge.run())

    async def state(interface: str, want: AgentState) -> None:
        async with asyncio.timeout(10):
            while next((a.state for a in tracker.agents() if a.interface == interface), None) != (
                want
            ):
                await asyncio.sleep(0.02)

    try:
        async with asyncio.timeout(20):
            await simulator.ami.subscribed.wait()
            while not connection.connected:
                await asyncio.sleep(0.02)
        reply = await connection.send(
            QueuePause(interface="PJSIP/4001", paused=True, reason="Almuerzo")
        )
        assert reply["Message"] == "Interface paused successfully"
        await state("PJSIP/4001", AgentState.PAUSED)
        snapshot = next(a for a in tracker.agents() if a.interface == "PJSIP/4001")
        assert snapshot.reason == "Almuerzo"
        await connection.send(QueuePause(interface="PJSIP/4001", paused=False))
        await state("PJSIP/4001", AgentState.AVAILABLE)
        with pytest.raises(AmiActionFailed, match="Interface not found"):
            await connection.send(QueuePause(interface="PJSIP/4999", paused=True))
        added = await connection.send(
            QueueAdd(queue="reclamos", interface="PJSIP/4009", member_name="Diego Rodríguez")
        )
        assert added["Message"] == "Added interface to queue"
        await state("PJSIP/4009", AgentState.AVAILABLE)
        with pytest.raises(AmiActionFailed, match="Already there"):
            await connection.send(
                QueueAdd(queue="reclamos", interface="PJSIP/4009", member_name="Diego")
            )
        await connection.send(QueueRemove(queue="reclamos", interface="PJSIP/4009"))
        await state("PJSIP/4009", AgentState.LOGGED_OUT)
        with pytest.raises(AmiActionFailed, match="Extension does not exist"):
            await connection.send(
                Originate(channel="PJSIP/4001", context="nowhere", exten="099123456")
            )
        queued = await connection.send(
            Originate(channel="PJSIP/4001", context="from-agents", exten="099123456")
        )
        assert queued["Message"] == "Originate successfully queued"
    finally:
        await connection.stop()
        await asyncio.wait_for(task, 10)
        await simulator.stop()


def test_click_to_call_is_no_attention_but_the_next_queue_call_is() -> None:
    """An Originate from an agent's phone: the tracker follows its channels
    but records no attention (it never went through the IVR or a queue); a
    queue call the same agent answers afterwards is recorded as usual."""
    from telephony.domain import CallArrived, CallEnded

    pbx = Pbx(start=START, style="pjsip", queues={"consultas": [("4001", "Ana Gómez")]})
    tracker = CallTracker("sim", wrapup_seconds={"consultas": 3.0})
    for member in pbx.members.values():
        tracker.feed(
            {
                "Event": "QueueMemberStatus",
                "Timestamp": str(START),
                **dict(pbx.member_snapshot(member)),
            }
        )
    pbx.originate("PJSIP/4001", "from-agents", "099123456", caller_id='"Ana" <4001>', talk=5)
    pbx.place_call(CallerSpec("099100001", "Caller", ("1",), 1, 120, 4, "consultas"), START + 2)
    out = []
    for event in pbx.advance(START + 60):
        out.extend(tracker.feed(event.fields()))
    arrived = [e for e in out if isinstance(e, CallArrived)]
    ended = [e.record for e in out if isinstance(e, CallEnded)]
    assert [e.caller_number for e in arrived] == ["099100001"]
    assert [(r.caller_number, r.outcome.value, r.agent) for r in ended] == [
        ("099100001", "answered", "Ana Gómez")
    ]
    assert tracker.calls_in_progress() == []


def _step(pbx: Pbx, until: float, wanted: str) -> list[tuple[float, str]]:
    """Advance in 50 ms steps; when (pbx.now) each `wanted` agent event came."""
    seen: list[tuple[float, str]] = []
    t = pbx.now
    while t < until:
        t += 0.05
        for event in pbx.advance(t):
            fields = event.fields()
            if fields["Event"] in wanted.split():
                seen.append((pbx.now, fields["Event"]))
    return seen


def _two_callers_one_agent(wrapup: float) -> Pbx:
    pbx = Pbx(
        start=START,
        style="pjsip",
        queues={"consultas": [("4001", "Ana Gómez")]},
        wrapup_seconds=wrapup,
    )
    for n, at in (("099100001", 0.5), ("099100002", 1.0)):
        pbx.place_call(CallerSpec(n, "Caller", ("1",), 1, 120, 4.0, "consultas"), START + at)
    return pbx


def test_wrapuptime_holds_the_member_as_app_queue_does() -> None:
    # app_queue: update_queue stores lastcall = time() (whole seconds) when
    # the call ends; can_ring_entry skips the member while
    # time() - lastcall < wrapuptime. A call ending at :06.55 with
    # wrapuptime 10 frees the member at :16, not :16.55 nor at once.
    pbx = _two_callers_one_agent(wrapup=10)
    seen = _step(pbx, START + 30, "AgentComplete AgentCalled")
    names = [name for _, name in seen]
    assert names[:3] == ["AgentCalled", "AgentComplete", "AgentCalled"]
    ended, called = seen[1][0], seen[2][0]
    assert ended % 1 != 0  # the case where whole seconds matter
    assert int(ended) + 10 <= called < int(ended) + 10 + 0.1
    assert called - ended < 10


def test_a_pause_landing_within_wrapuptime_keeps_the_next_call_away() -> None:
    # The "Cierre" pause is sent over AMI after AgentComplete reaches the
    # panel; wrapuptime is what keeps Asterisk from offering the member a new
    # call meanwhile. Landing before it ends, the member gets no call.
    pbx = _two_callers_one_agent(wrapup=3)
    seen = _step(pbx, START + 7, "AgentComplete")
    assert [name for _, name in seen] == ["AgentComplete"]
    assert pbx.queue_pause("PJSIP/4001", True, "Cierre") is None  # ~0.5 s after the hangup
    assert _step(pbx, START + 30, "AgentCalled") == []
    pbx.queue_pause("PJSIP/4001", False)
    assert [name for _, name in _step(pbx, START + 32, "AgentCalled")] == ["AgentCalled"]
