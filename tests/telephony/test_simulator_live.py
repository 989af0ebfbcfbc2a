"""The simulator over real sockets: its AMI server, the real bridge storing
its calls in PostgreSQL, and the real FastAGI IVR driven by its AGI side."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from atiende.settings import AmiSettings, Settings
from atiende.wiring import build_bridge, migrate
from crm_bridge.db import make_engine, session_factory
from crm_bridge.models import Attention
from ivr.flows import load_flows
from ivr.server import FastAgiServer
from ivr.services import Person
from ivr.testing import InMemoryIvrServices
from telephony.ami.asterisk_side import parse_message
from telephony.simulator.runner import Simulator, SimulatorConfig
from telephony.simulator.traffic import TrafficProfile, sample_persons

# Bounds on waiting for the simulated calls to end (not timing assertions).
LIMIT = 60.0
PROFILE = TrafficProfile(
    calls_per_minute=30, mean_talk=20, mean_patience=25, mean_seconds_between_pauses=120
)
TUESDAY_MORNING = dt.datetime(2026, 11, 24, 14, 0, tzinfo=dt.UTC)


async def read_messages(reader: asyncio.StreamReader, until: str) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    while True:
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        messages.append(parse_message(raw))
        if until in raw.decode("utf-8"):
            return messages


async def test_login_filters_and_queue_status() -> None:
    simulator = Simulator(SimulatorConfig(speed=100, secret="s3cret", profile=PROFILE))
    await simulator.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", simulator.port)
        assert (await reader.readline()).startswith(b"Asterisk Call Manager/")
        writer.write(b"Action: Login\r\nUsername: atiende\r\nSecret: wrong\r\n\r\n")
        refused = await read_messages(reader, "Response")
        assert refused[0]["Message"] == "Authentication failed"
        assert await reader.read() == b""  # closed
        writer.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", simulator.port)
        await reader.readline()
        writer.write(
            b"Action: Login\r\nUsername: atiende\r\nSecret: s3cret\r\nEvents: off\r\n\r\n"
            b"Action: Filter\r\nFilter: ^Event: (QueueCallerJoin|Hangup)[^A-Za-z0-9]\r\n\r\n"
            b"Action: QueueStatus\r\nActionID: qs-1\r\n\r\n"
        )
        status = await read_messages(reader, "QueueStatusComplete")
        members = {m["Name"]: m for m in status if m.get("Event") == "QueueMember"}
        assert {"Ana Gómez", "Bruno Núñez", "Carla Pérez"} <= set(members)
        assert all(m["ActionID"] == "qs-1" for m in status if "Event" in m)
        writer.write(b"Action: Events\r\nEventMask: on\r\n\r\n")
        seen = await read_messages(reader, "Event: Hangup")
        events = {m["Event"] for m in seen if "Event" in m}
        assert events <= {"QueueCallerJoin", "Hangup"}
        writer.close()
    finally:
        await simulator.stop()


async def run_with_bridge(
    postgres_url: str, simulator: Simulator, calls: int
) -> tuple[Counter[str], Counter[str]]:
    system = f"sim-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database_url=postgres_url,
        metrics_port=0,
        ami=AmiSettings(
            host="127.0.0.1",
            port=simulator.port,
            secret=SecretStr(simulator.config.secret),
            system_name=system,
        ),
    )
    await asyncio.to_thread(migrate, settings)
    service = build_bridge(settings)
    await service.start()
    try:
        async with asyncio.timeout(LIMIT):
            while simulator.placed < calls or not simulator.idle():
                await asyncio.sleep(0.05)
            await service.caught_up()
    finally:
        await simulator.freeze()
        await service.stop()
        await simulator.stop()
    engine = make_engine(postgres_url)
    try:
        with session_factory(engine)() as session:
            rows = session.execute(
                select(Attention.outcome, func.count())
                .where(Attention.system == system)
                .group_by(Attention.outcome)
            ).all()
    finally:
        engine.dispose()
    return Counter({outcome: count for outcome, count in rows}), simulator.outcomes()


async def test_bridge_stores_every_simulated_call_as_intended(postgres_url: str) -> None:
    simulator = Simulator(
        SimulatorConfig(speed=200, style="pjsip", profile=PROFILE, max_calls=15, seed=5)
    )
    await simulator.start()
    stored, intended = await run_with_bridge(postgres_url, simulator, 15)
    assert sum(intended.values()) == 15
    assert stored == intended
    assert stored["answered"] == intended["answered"] > 0


@pytest.mark.parametrize("style", ["local", "pjsip"])
async def test_real_ivr_over_fastagi(postgres_url: str, style: str) -> None:
    persons = sample_persons(5)
    services = InMemoryIvrServices()
    for number, person in enumerate(persons, start=1):
        services.persons_by_cedula[person.cedula] = Person(str(number), person.name)
    started = dt.datetime.now(dt.UTC)
    ivr = FastAgiServer(
        load_flows(),
        services,
        port=0,
        clock=lambda: TUESDAY_MORNING + (dt.datetime.now(dt.UTC) - started),
    )
    await ivr.start()
    simulator = Simulator(
        SimulatorConfig(
            speed=40,
            style="local" if style == "local" else "pjsip",
            agi=("127.0.0.1", ivr.port),
            profile=PROFILE,
            max_calls=8,
            seed=2,
        ),
        known=persons,
    )
    await simulator.start()
    try:
        stored, intended = await run_with_bridge(postgres_url, simulator, 8)
    finally:
        await ivr.stop()
    # PJSIP callers an agent answered go on to the survey route.
    surveys = intended["answered"] if style == "pjsip" else 0
    assert ivr.sessions_started == 8 + surveys, (stored, intended)
    assert len(services.surveys) <= surveys
    if style == "pjsip":
        assert services.surveys, "some callers keyed a score"
    assert stored["answered"] == intended["answered"]
    assert stored["abandoned"] == intended["abandoned"]
    assert sum(stored.values()) == 8
    cedulas = [args[0] for name, args in services.calls if name == "find_person_by_cedula"]
    assert cedulas, "callers who chose a topic keyed a cédula"


async def test_bridge_joining_mid_traffic_resyncs_from_the_live_state(postgres_url: str) -> None:
    """The bridge connects while calls are up: CoreShowChannels and
    QueueStatus, answered from the simulator's live state, give it the calls
    in progress; none of them is lost, and later calls are stored as meant."""
    system = f"sim-{uuid.uuid4().hex[:8]}"
    profile = TrafficProfile(calls_per_minute=30, mean_talk=60, mean_patience=40)
    simulator = Simulator(
        SimulatorConfig(speed=100, profile=profile, max_calls=8, seed=11, wait_for_subscriber=False)
    )
    settings = Settings(
        database_url=postgres_url,
        metrics_port=0,
        ami=AmiSettings(host="127.0.0.1", secret=SecretStr("atiende"), system_name=system),
    )
    await asyncio.to_thread(migrate, settings)
    await simulator.start()
    while len(simulator.pbx.calls) < 5:
        await asyncio.sleep(0.01)
    ami = settings.ami.model_copy(update={"port": simulator.port})
    settings = settings.model_copy(update={"ami": ami})
    service = build_bridge(settings)
    await service.start()
    try:
        async with asyncio.timeout(LIMIT):
            # More callers once the bridge has resynced, whenever that is.
            while not simulator.ami.lists_answered:
                await asyncio.sleep(0.01)
            simulator.config.max_calls = 30
            while not simulator.idle() or simulator.placed < 30:
                await asyncio.sleep(0.05)
            await service.caught_up()
    finally:
        await simulator.freeze()
        await service.stop()
        await simulator.stop()
    intended = {call.channel.linkedid: call.outcome for call in simulator.pbx.finished}
    engine = make_engine(postgres_url)
    try:
        with session_factory(engine)() as session:
            stored = dict(
                session.execute(
                    select(Attention.linkedid, Attention.outcome).where(Attention.system == system)
                ).all()
            )
    finally:
        engine.dispose()
    # What the bridge was told at its resync, and when (simulated time).
    _, resync_at, channels = next(
        a for a in simulator.ami.lists_answered if a[0] == "CoreShowChannels"
    )
    up_at_connect = {
        line.removeprefix("Linkedid: ")
        for item in channels
        for line in item
        if line.startswith("Linkedid: ")
    }
    arrived = {call.channel.linkedid: call.arrived for call in simulator.pbx.finished}
    later = {k for k, at in arrived.items() if at > resync_at}
    assert up_at_connect and later
    # Calls up at the resync and calls that came later: each stored once, as meant.
    followed = up_at_connect | later
    assert {k: stored.get(k) for k in followed} == {k: intended[k] for k in followed}
    assert not (stored.keys() - set(intended)), "nothing invented"


async def test_queue_pause_from_a_client_pauses_the_member() -> None:
    """What the agent panel's pause button sends: app_queue's replies, and the
    QueueMemberPause event every session then sees."""
    quiet = TrafficProfile(calls_per_minute=0, mean_seconds_between_pauses=0)
    simulator = Simulator(SimulatorConfig(speed=10, profile=quiet, wait_for_subscriber=False))
    await simulator.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", simulator.port)
        await reader.readline()
        writer.write(
            b"Action: Login\r\nUsername: atiende\r\nSecret: atiende\r\nEvents: off\r\n\r\n"
            b"Action: Filter\r\nFilter: ^Event: QueueMemberPause[^A-Za-z0-9]\r\n\r\n"
            b"Action: Events\r\nEventMask: on\r\n\r\n"
            b"Action: QueuePause\r\nActionID: p1\r\nInterface: PJSIP/4003\r\nPaused: true\r\n"
            b"Reason: Capacitaci\xc3\xb3n\r\n\r\n"
        )
        seen = await read_messages(reader, "Event: QueueMemberPause")
        seen += await read_messages(reader, "ActionID: p1")
        event = next(m for m in seen if m.get("Event") == "QueueMemberPause")
        assert (event["MemberName"], event["Paused"]) == ("Carla Pérez", "1")
        assert event["PausedReason"] == "Capacitación"
        reply = next(m for m in seen if m.get("ActionID") == "p1")
        assert reply["Message"] == "Interface paused successfully"
        writer.write(
            b"Action: QueuePause\r\nActionID: p2\r\nInterface: PJSIP/9999\r\nPaused: true\r\n\r\n"
            b"Action: QueueStatus\r\nActionID: qs\r\n\r\n"
        )
        refused = await read_messages(reader, "ActionID: p2")
        assert refused[-1]["Response"] == "Error"
        assert refused[-1]["Message"] == "Interface not found"
        status = await read_messages(reader, "QueueStatusComplete")
        carla = [
            m for m in status if m.get("Event") == "QueueMember" and m["Name"] == "Carla Pérez"
        ]
        assert carla and all(m["Paused"] == "1" for m in carla)
        assert all(m["PausedReason"] == "Capacitación" for m in carla)
        writer.close()
    finally:
        await simulator.stop()
