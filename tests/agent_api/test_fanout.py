"""The panel events relay over real Redis: order, decoding, and Redis outages."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from agent_api.fanout import PANEL_EVENTS, RedisEventRelay, RelayedAgents
from agent_api.frames import pop_frame
from telephony.agents import AgentSnapshot
from telephony.ami.interest import tracker_event_filter
from telephony.ami.parser import iter_capture
from telephony.domain import (
    AgentRinging,
    AgentState,
    AgentStateChanged,
    CallKey,
    CallRecord,
    DomainEvent,
    IvrEntered,
)
from telephony.tracker import CallTracker
from tests.support.ports import free_port
from tests.support.redis import redis_test_url

pytestmark = pytest.mark.redis


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def publish(self, events: Sequence[DomainEvent]) -> None:
        self.events.extend(events)


def batches_of(capture: Path, system: str) -> list[list[DomainEvent]]:
    """The bridge's batches: the events of each AMI item, in order."""
    tracker = CallTracker(system)
    out = []
    for headers in iter_capture(capture.read_bytes(), tracker_event_filter()):
        events = tracker.feed(headers)
        if events:
            out.append(events)
    return out


async def until(condition: Callable[[], bool], limit: float = 15.0) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), limit)


@pytest.fixture
def redis_url() -> str:
    return redis_test_url()


@contextlib.asynccontextmanager
async def relays(
    url: str, system: str, sinks: Sequence[RecordingSink | None], **options: float
) -> AsyncIterator[list[RedisEventRelay]]:
    started = []
    clients = []
    try:
        for sink in sinks:
            client = Redis.from_url(url, socket_connect_timeout=1)
            clients.append(client)
            relay = RedisEventRelay(client, system, sink, **options)  # type: ignore[arg-type]
            await relay.start()
            started.append(relay)
        yield started
    finally:
        for relay in started:
            await relay.close()
        for client in clients:
            await client.aclose()


async def test_events_arrive_decoded_and_in_order_at_every_subscriber(
    recordings: Path, redis_url: str
) -> None:
    system = f"fanout-{os.getpid()}"
    batches = batches_of(recordings / "answered.ami", system)
    expected = [e for batch in batches for e in batch if isinstance(e, PANEL_EVENTS)]
    assert any(isinstance(e, AgentRinging) for e in expected)
    assert len(expected) < sum(map(len, batches)), "the recording has events panels skip"
    leader_sink, standby_sink = RecordingSink(), RecordingSink()
    async with relays(redis_url, system, [leader_sink, standby_sink]) as (leader, standby):
        assert leader.subscribed.is_set() and standby.subscribed.is_set()
        for batch in batches:
            leader.publish(batch)  # as the bridge does: no await
        await until(lambda: len(standby_sink.events) >= len(expected))
        await until(lambda: len(leader_sink.events) >= len(expected))
        assert standby_sink.events == expected
        assert leader_sink.events == expected
        # A standby's own bridge never runs, so it publishes nothing.
        assert standby.published == 0 and leader.published == len(expected)
        assert leader.dropped == standby.dropped == 0


async def test_events_of_another_system_stay_apart(recordings: Path, redis_url: str) -> None:
    batches = batches_of(recordings / "answered.ami", "a")
    sink_b = RecordingSink()
    async with (
        relays(redis_url, f"a-{os.getpid()}", [None]) as (relay_a,),
        relays(redis_url, f"b-{os.getpid()}", [sink_b]) as (relay_b,),
    ):
        for batch in batches:
            relay_a.publish(batch)
        ringing = next(
            event for batch in batches_of(recordings / "answered.ami", "b") for event in batch
            if isinstance(event, AgentRinging)
        )  # fmt: skip
        relay_b.publish([ringing])
        await until(lambda: relay_a.pending == 0 and bool(sink_b.events))
        await asyncio.sleep(0.2)  # give a stray message from "a" time to show up
        assert sink_b.events == [ringing]


# ------------------------------------------------------------- Redis outage


def start_redis(port: int, tmp: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def stop_redis(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()  # as a crash: no goodbye to the clients
        process.wait(timeout=10)


async def _answers(url: str) -> None:
    while True:
        client = Redis.from_url(url, socket_connect_timeout=0.5)
        try:
            await client.ping()
            return
        except (RedisError, OSError):
            await asyncio.sleep(0.05)
        finally:
            await client.aclose()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
async def test_redis_down_never_blocks_the_bridge_and_the_relay_recovers(
    recordings: Path, tmp_path: Path
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    system = "outage"
    batches = batches_of(recordings / "answered.ami", system)
    panel = [[e for e in b if isinstance(e, PANEL_EVENTS)] for b in batches]
    panel = [b for b in panel if b]
    sink = RecordingSink()
    options = {"queue_size": 4, "retry_seconds": 0.05}
    redis = start_redis(port, tmp_path)
    try:
        await asyncio.wait_for(_answers(url), 15)
        async with relays(url, system, [None, sink], **options) as (leader, standby):
            leader.publish(panel[0])
            await until(lambda: sink.events == panel[0])

            stop_redis(redis)  # Redis goes away
            # The bridge's calls return at once whatever happens to Redis: what
            # does not fit in the bounded queue is counted, never waited for.
            for batch in batches * 3:
                leader.publish(batch)
            await until(lambda: not standby.subscribed.is_set())
            assert leader.dropped > 0
            assert leader.pending <= 4
            dropped = leader.dropped

            redis = start_redis(port, tmp_path)  # and comes back
            await asyncio.wait_for(_answers(url), 15)
            await until(lambda: standby.subscribed.is_set())
            await until(lambda: leader.pending == 0)
            before = len(sink.events)
            leader.publish([IvrEntered(1.0, CallKey(system, "x"))])  # not for panels
            leader.publish(batches[-1])
            expected = (
                panel[-1]
                if batches[-1] == panel[-1]
                else [e for e in batches[-1] if isinstance(e, PANEL_EVENTS)]
            )
            await until(lambda: sink.events[before:][-len(expected) :] == expected)
            assert leader.dropped == dropped
            assert not any(isinstance(e, IvrEntered) for e in sink.events)
    finally:
        stop_redis(redis)


def test_calls_in_progress_is_a_no_op() -> None:
    relay = RedisEventRelay(Redis(), "x", None)
    records: list[CallRecord] = []
    relay.calls_in_progress(records)
    assert relay.pending == 0


async def test_ringing_carries_the_leaders_ivr_path(recordings: Path, redis_url: str) -> None:
    system = f"path-{os.getpid()}"
    capture = recordings / "answered.ami"
    # The lab's stub IVR set only ATIENDE_QUEUE; Atiende's IVR also sets its path
    # (the tracker never takes keys pressed for one).
    stream = []
    for headers in iter_capture(capture.read_bytes(), tracker_event_filter()):
        stream.append(headers)
        if headers.get("Event") == "VarSet" and headers.get("Variable") == "ATIENDE_QUEUE":
            stream.append({**headers, "Variable": "ATIENDE_IVR_PATH", "Value": "consultas"})
    tracker = CallTracker(system)
    sink = RecordingSink()
    async with relays(redis_url, system, [None, sink]) as (leader, _standby):
        leader.record_of = tracker.record_of
        for headers in stream:
            leader.publish(tracker.feed(headers))  # as the bridge: right after feeding
        own_path = dataclasses.replace(
            _first_ringing(capture, system), variables={"ATIENDE_IVR_PATH": "ya,puesto"}
        )
        leader.publish([own_path])
        await until(lambda: bool(sink.events) and sink.events[-1] == own_path)
    ringing = [e for e in sink.events if isinstance(e, AgentRinging)]
    assert ringing[0].variables["ATIENDE_IVR_PATH"] == "consultas"
    assert pop_frame(ringing[0])["ivr"]["path"] == ["consultas"]
    # The rest of the variables are the ones Asterisk gave.
    original = _first_ringing(capture, system)
    assert {k: v for k, v in ringing[0].variables.items() if k != "ATIENDE_IVR_PATH"} == dict(
        original.variables
    )
    assert ringing[-1] == own_path  # a path the IVR set itself is kept as is


def _first_ringing(capture: Path, system: str) -> AgentRinging:
    return next(
        e for batch in batches_of(capture, system) for e in batch if isinstance(e, AgentRinging)
    )


class SnapshotAtEachEvent:
    """A standby's sink that notes, at each agent change, the relayed agents."""

    def __init__(self, agents: RelayedAgents) -> None:
        self.agents = agents
        self.seen: list[list[AgentSnapshot]] = []

    def publish(self, events: Sequence[DomainEvent]) -> None:
        if any(isinstance(e, AgentStateChanged) for e in events):
            self.seen.append(self.agents.snapshot())


async def test_the_leaders_agents_reach_a_standby_before_the_change_they_follow(
    recordings: Path, redis_url: str
) -> None:
    system = f"agents-{os.getpid()}"
    tracker = CallTracker(system)
    client = Redis.from_url(redis_url, socket_connect_timeout=1)
    standby_client = Redis.from_url(redis_url, socket_connect_timeout=1)
    leader = RedisEventRelay(client, system, None, agents_every=0.2)
    standby = RedisEventRelay(standby_client, system, None)
    sink = SnapshotAtEachEvent(standby.agents)
    standby._local = sink  # its own book, read by its sink
    try:
        await leader.start()
        await standby.start()
        assert standby.agents.snapshot() == []  # nobody leads yet
        leader.lead(tracker.agents)
        changes = 0
        for headers in iter_capture(
            (recordings / "answered.ami").read_bytes(), tracker_event_filter()
        ):
            events = tracker.feed(headers)
            leader.publish(events)  # as the bridge does, after the tracker
            if any(isinstance(e, AgentStateChanged) for e in events):
                changes += 1
                await until(lambda n=changes: len(sink.seen) >= n)  # type: ignore[misc]
                # What the standby read when the change arrived: the leader's agents after it.
                assert sink.seen[-1] == tracker.agents()
        assert changes > 0 and tracker.agents()
        # And every 0.2 s besides: a standby that missed them catches up.
        standby.agents.update([])
        await until(lambda: standby.agents.snapshot() == tracker.agents())
        # Something else on the channel is counted and ignored, the book kept.
        await client.publish(standby.channel, '{"agents": [["x"]]}')
        await until(lambda: standby.undecodable == 1)
        assert standby.agents.snapshot() == tracker.agents()
    finally:
        await leader.close()
        await standby.close()
        await client.aclose()
        await standby_client.aclose()


def test_relayed_agents_older_than_a_few_heartbeats_count_as_none() -> None:
    now = [100.0]
    agents = RelayedAgents(stale_after=7.0, clock=lambda: now[0])
    ana = AgentSnapshot("PJSIP/4001", "Ana", ("consultas",), AgentState.AVAILABLE, 1.0, None)
    agents.update([ana])
    now[0] += 7.0
    assert agents.snapshot() == [ana]
    now[0] += 0.1  # the leader died, or lost Redis: no stale "available" agent
    assert agents.snapshot() == []
