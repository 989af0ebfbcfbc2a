"""Outages: the AMI connection drops, Asterisk restarts, the bridge itself stops.

Whatever happens, every call is on the record exactly once: completed from
the events and the resync when they tell how it went, or closed as
`lost_during_outage` when nothing can.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

import pytest

from atiende.settings import Settings
from atiende.wiring import build_bridge, migrate
from telephony.ami.asterisk_side import split_messages
from telephony.ami.testing import AmiTestServer
from tests.support.queue_log import parse_queue_log
from tests.test_bridge_end_to_end import (
    SECRET,
    attentions,
    bridge_through,
    linkedids,
    settings_for,
)

pytestmark = pytest.mark.postgres

FINAL = {"answered", "abandoned", "exit_timeout", "exit_key", "exit_empty", "join_empty"}


@pytest.fixture(scope="module")
def database_url(postgres_url: str) -> str:
    migrate(Settings(database_url=postgres_url))
    return postgres_url


@pytest.fixture(scope="module")
def burst(recordings: Path) -> bytes:
    return (recordings / "burst.ami").read_bytes()


def middle_offset(capture: bytes, fraction: float) -> int:
    """An offset inside a message near `fraction` of the capture (a drop never
    waits for a message boundary)."""
    offsets = [offset for offset, _ in split_messages(capture)]
    start = offsets[int(len(offsets) * fraction)]
    return start + 17


def answered_in(capture: bytes) -> set[str]:
    """Calls an agent answered within this part of a capture."""
    pattern = rb"Event: AgentConnect\r\n(?:[^\r\n]+\r\n)*?Linkedid: ([^\r\n]+)"
    return {linkedid.decode() for linkedid in re.findall(pattern, capture)}


def hung_up_in(capture: bytes) -> set[str]:
    """Calls whose originating channel (Uniqueid == Linkedid) hung up here."""
    pattern = rb"Event: Hangup\r\n(?:[^\r\n]+\r\n)*?Uniqueid: ([^\r\n]+)\r\nLinkedid: ([^\r\n]+)"
    return {a.decode() for a, b in re.findall(pattern, capture) if a == b}


def expected_outcomes(recordings: Path) -> dict[str, str]:
    return {
        uniqueid: call.outcome
        for uniqueid, call in parse_queue_log(recordings / "burst.queue_log").calls.items()
    }


async def test_drop_mid_burst_loses_and_doubles_nothing(
    recordings: Path, database_url: str, burst: bytes
) -> None:
    system = "outage-drop"
    async with AmiTestServer(burst, secret=SECRET, chunk_size=4093) as server:
        server.drop_after(middle_offset(burst, 0.5))
        await bridge_through(server, database_url, system)
        assert server.connections == 2
        # The resync ran on both sessions.
        assert len(server.actions("CoreShowChannels")) == 2
        assert len(server.actions("QueueStatus")) == 2

    rows = attentions(database_url, system)
    assert Counter(row.linkedid for row in rows).most_common(1)[0][1] == 1
    outcomes = {row.linkedid: row.outcome for row in rows}
    assert set(outcomes) == linkedids(burst)
    # Nothing was missed while away, so every call ends as Asterisk logged it.
    for uniqueid, outcome in expected_outcomes(recordings).items():
        assert outcomes[uniqueid] == outcome, uniqueid


async def test_events_missed_during_outage_are_resolved_by_the_resync(
    recordings: Path, database_url: str, burst: bytes
) -> None:
    system = "outage-gap"
    drop = middle_offset(burst, 0.4)
    gap = len(burst) // 5
    async with AmiTestServer(burst, secret=SECRET) as server:
        server.drop_after(drop, lose_bytes=gap)
        await bridge_through(server, database_url, system)

    rows = attentions(database_url, system)
    assert Counter(row.linkedid for row in rows).most_common(1)[0][1] == 1
    outcomes = {row.linkedid: row.outcome for row in rows}

    # Calls the bridge saw before the drop, or after the gap: all recorded.
    seen_before = linkedids(burst[:drop])
    resumed_at = next(offset for offset, _ in split_messages(burst) if offset >= drop + gap)
    seen_after = linkedids(burst[resumed_at:])
    assert seen_before | seen_after <= set(outcomes)
    # Only a call whose whole life fell inside the gap can be unknown to it.
    assert set(outcomes) - (seen_before | seen_after) <= linkedids(burst[drop:resumed_at])

    expected = expected_outcomes(recordings)
    for linkedid, outcome in outcomes.items():
        assert outcome in FINAL | {"lost_during_outage", "ivr_hangup", "ivr_completed"}
        if linkedid in seen_after and linkedid in expected:
            # The end was observed after the resync: it is what Asterisk logged.
            assert outcome == expected[linkedid], linkedid
        elif linkedid in expected and linkedid not in seen_after:
            # It ended while the bridge was away. An answer seen before the
            # drop stands (the talk time is bounded by the outage); otherwise
            # nothing can say how it went.
            answered = linkedid in answered_in(burst[:drop])
            assert outcome == ("answered" if answered else "lost_during_outage"), linkedid


async def test_asterisk_restart_ends_every_call(database_url: str, burst: bytes) -> None:
    system = "outage-restart"
    cut = middle_offset(burst, 0.5)
    up_at_cut = linkedids(burst[:cut]) - hung_up_in(burst[:cut])
    async with AmiTestServer(burst[:cut], secret=SECRET) as server:
        service = build_bridge(settings_for(database_url, server.port, system))
        await service.start()
        try:
            await asyncio.wait_for(server.replayed(), timeout=60)
            await asyncio.wait_for(service.caught_up(), timeout=30)
            server.simulate_restart()
            while server.connections < 2:
                await asyncio.sleep(0.01)
            await asyncio.wait_for(service.caught_up(), timeout=30)
        finally:
            await service.stop()

    outcomes = {row.linkedid: row.outcome for row in attentions(database_url, system)}
    assert up_at_cut, "the cut must leave calls up"
    answered = answered_in(burst[:cut])
    for linkedid in up_at_cut:
        # Asterisk's restart ended them; an answer seen before it stands.
        expected = "answered" if linkedid in answered else "lost_during_outage"
        assert outcomes[linkedid] == expected, linkedid
    assert "in_progress" not in outcomes.values()


async def test_bridge_restart_completes_calls_from_the_store(
    recordings: Path, database_url: str, burst: bytes
) -> None:
    """The bridge stops mid-burst (calls in progress go to the store), starts
    again later and completes them from the resync and the events."""
    system = "outage-bridge-restart"
    async with AmiTestServer(burst, secret=SECRET) as server:
        server.drop_after(middle_offset(burst, 0.5))
        settings = settings_for(database_url, server.port, system)
        slow = settings.ami.model_copy(update={"reconnect_min": 30.0, "reconnect_max": 30.0})
        first = build_bridge(settings.model_copy(update={"ami": slow}))
        await first.start()
        try:
            while server.connections < 1 or first.connection.connected is False:
                await asyncio.sleep(0.01)
            while first.connection.connected:
                await asyncio.sleep(0.01)
        finally:
            await first.stop()
        in_store = {row.linkedid: row.outcome for row in attentions(database_url, system)}
        assert "in_progress" in in_store.values(), "the stop must leave calls in progress"

        second = build_bridge(settings)
        await second.start()
        try:
            await asyncio.wait_for(server.replayed(), timeout=60)
            await asyncio.wait_for(second.caught_up(), timeout=30)
        finally:
            await second.stop()

    rows = attentions(database_url, system)
    assert Counter(row.linkedid for row in rows).most_common(1)[0][1] == 1
    outcomes = {row.linkedid: row.outcome for row in rows}
    assert set(outcomes) == linkedids(burst)
    for uniqueid, outcome in expected_outcomes(recordings).items():
        assert outcomes[uniqueid] == outcome, uniqueid
