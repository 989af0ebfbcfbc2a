"""Wrap-up ends on time, driven by a clock, not by the next event.

Asterisk sends nothing when a member's wrap-up ends. The simulator (its own
clock, four times real time) answers one call, the agent hangs up, and then
nothing at all happens: a quiet period. The real AMI connection and the
bridge, given the simulator's clock, must show the agent available within a
second (simulated) of the end of wrap-up, as the simulator itself has it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from telephony.ami.connection import AmiConnection
from telephony.bridge import Bridge
from telephony.domain import AgentState, DomainEvent
from telephony.simulator.model import CallerSpec
from telephony.simulator.runner import Simulator, SimulatorConfig
from telephony.simulator.traffic import TrafficProfile
from telephony.tracker import CallTracker

WRAPUP = 3.0
ANA = "PJSIP/4001"


class Collect:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def publish(self, events: Any) -> None:
        self.events.extend(events)

    def calls_in_progress(self, records: Any) -> None:
        del records


def _ana(tracker: CallTracker) -> AgentState | None:
    return next((a.state for a in tracker.agents() if a.interface == ANA), None)


async def _run(tick: bool) -> tuple[float, float | None]:
    """(simulated end of wrap-up, simulated time the tracker showed Ana
    available; None if it had not 3 simulated seconds later)."""
    simulator = Simulator(
        SimulatorConfig(
            speed=4.0,
            queues={"consultas": [("4001", "Ana Gómez")]},
            profile=TrafficProfile(mean_seconds_between_pauses=0),
            max_calls=0,
            no_answer_share=0.0,
            wrapup_seconds=WRAPUP,
        )
    )
    await simulator.start()
    connection = AmiConnection(
        host="127.0.0.1",
        port=simulator.port,
        username="atiende",
        secret="atiende",
        system_name="sim",
        reconnect_min=0.05,
        reconnect_max=0.2,
    )
    tracker = CallTracker("sim", wrapup_seconds={"consultas": WRAPUP})
    bridge = Bridge(
        connection,
        tracker,
        [Collect()],
        clock=simulator.clock.now if tick else None,
        tick_seconds=0.05,
    )
    await connection.start()
    task = asyncio.create_task(bridge.run())
    try:
        async with asyncio.timeout(30):
            await simulator.ami.subscribed.wait()
            simulator.pbx.place_call(
                CallerSpec("099100001", "Ana Caller", ("1",), 1, 120, 2, "consultas")
            )
            while not simulator.pbx.finished:
                await asyncio.sleep(0.02)
        agent = simulator.pbx.agents[ANA]
        assert agent.busy  # in wrap-up, per the simulator
        ended = simulator.pbx.finished[0]
        hung_up = ended.connected + ended.spec.talk
        wrapup_end = hung_up + WRAPUP
        seen: float | None = None
        while simulator.clock.now() < wrapup_end + 3.0:
            if seen is None and _ana(tracker) is AgentState.AVAILABLE:
                seen = simulator.clock.now()
                assert not agent.busy, "available in the tracker before the PBX"
            await asyncio.sleep(0.01)
        return wrapup_end, seen
    finally:
        await connection.stop()
        await asyncio.wait_for(task, 10)
        await simulator.stop()


async def test_wrapup_ends_within_a_second_in_a_quiet_period() -> None:
    wrapup_end, seen = await _run(tick=True)
    assert seen is not None, "the agent stayed in wrap-up with no event to end it"
    assert wrapup_end - 0.05 <= seen <= wrapup_end + 1.0


async def test_without_the_clock_wrapup_waits_for_an_event() -> None:
    """What the clock fixes: with no ticks the tracker keeps the agent in
    wrap-up through the quiet period."""
    _, seen = await _run(tick=False)
    assert seen is None


def test_tick_ends_wrapup_at_its_deadline_and_not_before() -> None:
    """The pure part: a tick before the deadline changes nothing; one after
    ends the wrap-up at the deadline, not at the tick."""
    tracker = CallTracker("t", wrapup_seconds={"q": WRAPUP})
    base = {"Queue": "q", "Interface": ANA, "MemberName": "Ana Gómez"}
    member = {**base, "Event": "QueueMemberStatus", "Timestamp": "100.0", "Status": "1"}
    member.update({"Paused": "0", "InCall": "0", "StateInterface": ANA})
    tracker.feed(member)
    channel = {
        "Channel": "PJSIP/pstn-1",
        "Uniqueid": "1.1",
        "Linkedid": "1.1",
        "DestChannel": "PJSIP/4001-1",
        "DestUniqueid": "1.2",
        "DestLinkedid": "1.1",
    }
    tracker.feed({**channel, **base, "Event": "AgentConnect", "Timestamp": "101.0"})
    complete = {**channel, **base, "Event": "AgentComplete", "Timestamp": "105.0"}
    tracker.feed({**complete, "Reason": "agent", "TalkTime": "4", "HoldTime": "0"})
    assert _ana(tracker) is AgentState.WRAP_UP
    assert tracker.tick(107.9) == []
    changed = tracker.tick(120.0)
    assert _ana(tracker) is AgentState.AVAILABLE
    assert [e.at for e in changed] == [108.0]  # type: ignore[attr-defined]
