"""Generated traffic through the tracker: each call ends the way the simulator
meant it to (answered, abandoned, hung up in the IVR, IVR completed)."""

from __future__ import annotations

import functools
from collections import Counter

from telephony.replay import replay_records
from telephony.simulator.calls import Pbx
from telephony.simulator.model import Call, Style
from telephony.simulator.traffic import DEFAULT_QUEUES, Traffic, TrafficProfile

START = 1795400000.0
PROFILE = TrafficProfile(
    calls_per_minute=20,
    mean_talk=40,
    mean_patience=30,
    mean_seconds_between_pauses=240,
    mean_pause_seconds=60,
)


def run_traffic(
    style: Style, seconds: float = 600.0, seed: int = 3, no_answer_share: float = 0.0
) -> tuple[bytes, list[Call]]:
    traffic = Traffic(PROFILE, seed=seed)
    pbx = Pbx(
        start=START,
        style=style,
        queues=DEFAULT_QUEUES,
        stub_routes=PROFILE.stub_routes,
        no_answer_share=no_answer_share,
    )
    for arrival in traffic.arrivals(START, START + seconds):
        pbx.place_call(arrival.caller, arrival.at)
    interfaces = {agent.extension: agent.interface for agent in pbx.agents.values()}
    for change in traffic.pauses(sorted(interfaces), START, START + seconds):
        pbx.at(
            change.at,
            functools.partial(
                pbx.set_paused, interfaces[change.extension], change.paused, change.reason
            ),
        )
    events = pbx.advance(START + seconds + 3600)
    assert not pbx.calls, "every call ends within the hour after the last arrival"
    data = b"".join(event.encode() for event in events)
    return data, pbx.finished


def outcomes_by_linkedid(data: bytes) -> dict[str, str]:
    return {r.key.linkedid: r.outcome.value for r in replay_records(data, system="sim")}


def test_local_traffic_ends_as_intended() -> None:
    data, calls = run_traffic("local")
    intended = {call.channel.linkedid: call.outcome for call in calls}
    tracked = outcomes_by_linkedid(data)
    assert tracked == intended
    counts = Counter(intended.values())
    # The profile is busy enough for every kind of ending to happen.
    assert {"answered", "abandoned", "ivr_hangup"} <= set(counts)


def test_pjsip_traffic_ends_as_intended() -> None:
    """A single-channel caller hanging up inside the IVR is told apart from
    the IVR ending the call (AGISTATUS=HANGUP, no ;2 half to go by)."""
    data, calls = run_traffic("pjsip")
    intended = {call.channel.linkedid: call.outcome for call in calls}
    assert outcomes_by_linkedid(data) == intended
    assert "ivr_hangup" in intended.values()


def test_agent_names_and_pause_reasons_reach_the_tracker_intact() -> None:
    data, _ = run_traffic("pjsip", seconds=300)
    records = replay_records(data, system="sim")
    agents = {r.agent for r in records if r.agent}
    members = {name for people in DEFAULT_QUEUES.values() for _, name in people}
    assert agents and agents <= members
    assert any("ú" in a or "ó" in a or "é" in a for a in agents)
    text = data.decode("utf-8")
    assert "PausedReason: Almuerzo" in text or "PausedReason: Capacitación" in text


def test_same_seed_same_traffic() -> None:
    first, _ = run_traffic("pjsip", seconds=120, seed=9)
    second, _ = run_traffic("pjsip", seconds=120, seed=9)
    other, _ = run_traffic("pjsip", seconds=120, seed=10)
    assert first == second
    assert first != other


def test_pauses_drawn_window_by_window_never_overlap() -> None:
    traffic = Traffic(PROFILE, seed=4)
    changes = [
        change
        for window in range(20)
        for change in traffic.pauses(
            ["4001", "4002"], START + 30 * window, START + 30 * (window + 1)
        )
    ]
    for extension in ("4001", "4002"):
        mine = sorted((c for c in changes if c.extension == extension), key=lambda c: c.at)
        assert mine, "an agent pauses now and then over ten minutes"
        states = [c.paused for c in mine]
        # Strictly alternating: paused, back, paused, back...
        assert states == [True, False] * (len(states) // 2)
        assert all(c.reason for c in mine if c.paused)


def test_phones_ringing_out_are_retried_and_calls_still_end_as_intended() -> None:
    data, calls = run_traffic("pjsip", no_answer_share=0.3)
    intended = {call.channel.linkedid: call.outcome for call in calls}
    assert outcomes_by_linkedid(data) == intended
    text = data.decode("utf-8")
    assert "Event: AgentRingNoAnswer" in text and "DialStatus: NOANSWER" in text
    # Rung out and then answered by someone else.
    assert any(call.declined and call.outcome == "answered" for call in calls)
