"""The local event filter drops only what the tracker would ignore anyway."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telephony.ami.interest import raw_event_filter, tracker_event_filter
from telephony.ami.parser import AmiParser, iter_capture
from telephony.domain import CallEnded, CallRecord
from telephony.events import READ_VARIABLES
from telephony.tracker import CallTracker
from tests.conftest import SCENARIOS


def records(data: bytes, accept: object) -> tuple[list[CallRecord], list[object]]:
    tracker = CallTracker("asterisk", wrapup_seconds={"consultas": 3, "reclamos": 3})
    ended: list[CallRecord] = []
    events: list[object] = []
    for headers in iter_capture(data, accept):  # type: ignore[arg-type]
        for event in tracker.feed(headers):
            events.append(event)
            if isinstance(event, CallEnded):
                ended.append(event.record)
    return ended + tracker.finish(), events


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_filtered_stream_tracks_the_same(recordings: Path, scenario: str) -> None:
    data = (recordings / f"{scenario}.ami").read_bytes()
    accept = tracker_event_filter()
    unfiltered = records(data, None)
    filtered = records(data, accept)
    # Same calls and the same domain events (agent states included).
    assert filtered == unfiltered
    kept = sum(1 for _ in iter_capture(data, accept))
    assert kept < sum(1 for _ in iter_capture(data))


def test_predicate() -> None:
    accept = raw_event_filter({"Hangup", "VarSet"}, ("ATIENDE_",))
    assert accept(b"Event: Hangup\r\nChannel: PJSIP/1-0001\r\nCause: 16")
    assert not accept(b"Event: Newexten\r\nChannel: PJSIP/1-0001")
    assert accept(b"Event: VarSet\r\nChannel: x\r\nVariable: ATIENDE_QUEUE\r\nValue: consultas")
    assert not accept(b"Event: VarSet\r\nChannel: x\r\nVariable: __AGENT_TALK\r\nValue: 4")
    # A variable name merely containing the prefix elsewhere does not pass.
    assert not accept(b"Event: VarSet\r\nVariable: X\r\nValue: Variable: ATIENDE_")
    assert accept(b"Event: VarSet\nVariable: ATIENDE_TOPIC\nValue: x")  # bare LF peers
    assert accept(b"Response: Success\r\nActionID: 1")
    assert accept(b"garbage without a header")  # the parser judges and counts it
    assert accept(b"Event: Hangup")  # no line ending at all


def test_parser_counts_what_it_drops(recordings: Path) -> None:
    parser = AmiParser(accept=tracker_event_filter())
    data = (recordings / "answered.ami").read_bytes()
    kept = parser.feed(data)
    total = data.count(b"\r\n\r\n")
    assert parser.dropped + len(kept) == total
    assert parser.malformed == 0
    assert all(h["Variable"].startswith(READ_VARIABLES) for h in kept if h.get("Event") == "VarSet")


def test_follows_replies_never_reach_the_predicate() -> None:
    seen: list[bytes] = []

    def accept(raw: bytes) -> bool:
        seen.append(raw)
        return False

    parser = AmiParser(accept=accept)
    out = parser.feed(
        b"Response: Follows\r\nActionID: 7\r\nPrivilege: Command\r\n"
        b"line one\n\nline three\n--END COMMAND--\r\n\r\n"
    )
    assert [h["ActionID"] for h in out] == ["7"]
    assert seen == []


async def test_refused_filters_still_drop_unused_events_locally(recordings: Path) -> None:
    """An AMI user without the privilege to set filters gets every event;
    the bridge's own protocol still lets only the used ones through."""
    import asyncio

    from telephony.ami.actions import Ping
    from telephony.ami.connection import AmiConnection
    from telephony.ami.testing import AmiTestServer

    data = (recordings / "answered.ami").read_bytes()
    async with AmiTestServer(data, secret="s") as server:
        server.fail("Filter", "Permission denied")
        connection = AmiConnection(
            host="127.0.0.1", port=server.port, username="atiende", secret="s", system_name="t"
        )
        await connection.start()
        seen: list[str] = []

        async def consume() -> None:
            async for item in connection.stream():
                if isinstance(item, dict) and "Event" in item:
                    seen.append(item["Event"])

        task = asyncio.create_task(consume())
        await server.replayed()
        while not connection.connected:
            await asyncio.sleep(0.01)
        await connection.send(Ping())
        await connection.stop()
        await task
    assert len(server.actions("Filter")) == 1  # refused: the session runs unfiltered
    assert "Newexten" not in seen and "DeviceStateChange" not in seen
    assert seen.count("Hangup") == data.count(b"Event: Hangup\r\n")


_TRICKY = [
    b"",
    b"Event: Hangup",
    b"Event: Hangup\r",
    b"Event: Hangup\r\r",
    b"Event: Hangup\r\r\nCause: 16",
    b"Event: Hangup\nCause: 16",
    b"Event: Hangupx\r\nCause: 16",
    b"Event: VarSet",
    b"Event: VarSet\r",
    b"Event: VarSet\r\nVariable: ATIENDE_QUEUE",
    b"Event: VarSet\nVariable: ATIENDE_QUEUE",
    b"Event: VarSet\r\nVariable: __AGENT_TALK",
    b"Event: Newexten",
    b"Event: Newexten\nChannel: x",
    b"Response: Success\r\nActionID: 1",
    b"garbage without a header",
    b"\r\nEvent: Hangup",
    # First lines about as long as the start the table is keyed on, or longer.
    b"Event: " + b"X" * 60 + b"\r\nCause: 16",
    b"Event: Hangup" + b"\r" * 40 + b"\nCause: 16",
    b"Event: Hangup" + b"\r" * 60 + b"\nCause: 16",
    b"Event: Hangup" + b"\r" * 60,
    b"Event: VarSet" + b" " * 26 + b"\r\nVariable: ATIENDE_QUEUE",
    b"Event: Newexten" + b"x" * 24 + b"\r\nChannel: x",
    b"Event: Newexten" + b"x" * 25 + b"\r\nChannel: x",
    b"Event: Newexten" + b"x" * 26 + b"\r\nChannel: x",
    b"Response: Success" + b"x" * 40 + b"\r\nActionID: 1",
]


@pytest.mark.parametrize("prefixes", [("ATIENDE_",), ()])
def test_select_answers_as_the_predicate(recordings: Path, prefixes: tuple[str, ...]) -> None:
    """`select` (what the parser runs) keeps exactly what the predicate
    keeps, in order, whatever order the first lines are learnt in."""
    accept = raw_event_filter({"Hangup", "VarSet", "QueueCallerJoin"}, prefixes)
    messages = list(_TRICKY)
    for scenario in SCENARIOS:
        messages += (recordings / f"{scenario}.ami").read_bytes().split(b"\r\n\r\n")
    for batch in (messages, messages[::-1], _TRICKY * 2):
        assert accept.select(batch) == [m for m in batch if accept(m)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_TRICKY) | st.binary(max_size=80), max_size=20))
def test_select_answers_as_the_predicate_on_any_bytes(batch: list[bytes]) -> None:
    accept = tracker_event_filter()
    for _ in range(2):  # first lines unknown, then learnt
        assert accept.select(batch) == [m for m in batch if accept(m)]
