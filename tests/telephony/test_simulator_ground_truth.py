"""The simulator's queue_log as ground truth for what the store holds.

The simulator runs over real AMI into the real bridge (build_bridge, with
PostgreSQL); it writes Asterisk's queue_log for its calls to a file, as a
real Asterisk does. Every stored attention is then checked against that file:
answered calls, a caller who hangs up in the queue, and two queue timeouts
(Asterisk's QueueCallerAbandon before QueueCallerLeave). The other Asterisk
behaviours the simulator reproduces on demand (missing prompt, AGI session
dying mid-call) are checked at the AGI boundary.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from atiende.settings import AmiSettings, Settings
from atiende.wiring import build_bridge, migrate
from crm_bridge.db import make_engine, session_factory
from crm_bridge.models import Attention
from telephony.simulator.agi_driver import run_session
from telephony.simulator.calls import Pbx
from telephony.simulator.model import CallerSpec
from telephony.simulator.runner import Simulator, SimulatorConfig
from telephony.simulator.traffic import TrafficProfile
from tests.support.queue_log import parse_queue_log

QUEUES = {
    "consultas": [("4001", "Ana Gómez"), ("4002", "Bruno Núñez")],
    "reclamos": [("4003", "Carla Pérez")],
}


async def test_stored_attentions_match_the_simulators_queue_log(
    postgres_url: str, tmp_path: Path
) -> None:
    queue_log = tmp_path / "queue_log"
    simulator = Simulator(
        SimulatorConfig(
            speed=10.0,
            queues=QUEUES,
            profile=TrafficProfile(mean_seconds_between_pauses=0),
            max_calls=0,
            no_answer_share=0.0,
            queue_log=queue_log,
        )
    )
    await simulator.start()
    system = f"truth-{uuid.uuid4().hex[:8]}"
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
    service = build_bridge(settings, clock=simulator.clock.now)
    await service.start()
    callers = [
        CallerSpec("099100001", "Ana Pérez", ("1",), 1, 120, 5, "consultas"),
        CallerSpec("099100002", "Beto Núñez", ("2",), 1, 4, 4, "reclamos"),  # abandons
        CallerSpec("099100003", "Ceci Gómez", ("2",), 1, 120, 4, "reclamos", 6),  # timeout
        CallerSpec("099100004", "Dani Ruiz", ("2",), 1, 120, 4, "reclamos", 8),  # timeout
        CallerSpec("099100005", "Eli Sosa", ("1",), 1, 120, 3, "consultas"),
    ]
    try:
        async with asyncio.timeout(60):
            await simulator.ami.subscribed.wait()
            simulator.sync()
            simulator.pbx.queue_pause("PJSIP/4003", True, "Almuerzo")
            now = simulator.clock.now()
            for index, spec in enumerate(callers):
                simulator.pbx.place_call(spec, now + index)
            while len(simulator.pbx.finished) < len(callers):
                await asyncio.sleep(0.05)
            await service.caught_up()
            await asyncio.sleep(0.5)  # the writer's last batch
    finally:
        await simulator.freeze()
        await service.stop()
        await simulator.stop()
    engine = make_engine(postgres_url)
    try:
        with session_factory(engine)() as session:
            rows = session.scalars(select(Attention).where(Attention.system == system)).all()
            stored = {
                row.linkedid: (row.outcome, row.wait_seconds, row.talk_seconds, row.agent, row)
                for row in rows
            }
            sides = {row.linkedid: row.hangup_side for row in rows}
    finally:
        engine.dispose()
    log = parse_queue_log(queue_log)
    assert sorted(c.outcome for c in log.calls.values()) == [
        "abandoned",
        "answered",
        "answered",
        "exit_timeout",
        "exit_timeout",
    ]
    assert set(stored) == set(log.calls)
    for uniqueid, expected in log.calls.items():
        outcome, wait, talk, agent, _ = stored[uniqueid]
        assert (outcome, wait, talk, agent) == (
            expected.outcome,
            expected.wait,
            expected.talk,
            expected.agent,
        ), uniqueid
        if expected.outcome == "exit_timeout":
            assert sides[uniqueid] == "system"
        if expected.outcome == "abandoned":
            assert sides[uniqueid] == "caller"


def test_a_missing_prompt_answers_minus_one_as_asterisk_does() -> None:
    """agi_tour.agi: STREAM FILE of a missing file answers `200 result=-1
    endpos=0`; GET DATA's ast_app_getdata_full gives `200 result=-1` at once.
    Present files play as usual."""
    pbx = Pbx(
        start=1795600000.0,
        style="pjsip",
        queues=QUEUES,
        external_ivr=True,
        missing_prompts=("atiende/menu",),
    )
    pbx.place_call(CallerSpec("099100001", "Ana", ("1",), 1, 120, 4), 1795600001.0)
    pbx.advance(1795600002.0)
    (call_id,) = pbx.agi_sessions()
    assert pbx.agi_command(call_id, 'STREAM FILE atiende/menu ""')[0] == ["200 result=-1 endpos=0"]
    assert pbx.agi_command(call_id, "GET DATA atiende/menu 5000 1")[0] == ["200 result=-1"]
    assert pbx.agi_command(call_id, 'STREAM FILE beep ""')[0] == ["200 result=0 endpos=3520"]
    everything = Pbx(start=1795600000.0, queues=QUEUES, external_ivr=True, missing_prompts="*")
    assert everything.prompt_missing("atiende/bienvenida")
    assert not everything.prompt_missing("beep")


async def test_an_agi_session_dies_mid_call_and_the_dialplan_goes_on() -> None:
    """The FastAGI connection is cut after two commands: the IVR sees the
    socket close before its third reply, and Asterisk goes on with
    AGISTATUS SUCCESS (res_agi reads end-of-file)."""
    seen: list[str] = []
    closed = asyncio.Event()

    async def ivr(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()).strip():
            pass  # the agi_* environment
        for command in ("ANSWER", 'SET VARIABLE ATIENDE_QUEUE "consultas"', "GET DATA x 100 1"):
            writer.write(f"{command}\n".encode())
            await writer.drain()
            line = await reader.readline()
            seen.append(line.decode().strip())
        closed.set()
        writer.close()

    server = await asyncio.start_server(ivr, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def answer(line: str) -> list[str]:
        return ["200 result=0"]

    try:
        reached = await run_session(
            "127.0.0.1", port, [("agi_network", "yes")], answer, drop_after=2
        )
        await asyncio.wait_for(closed.wait(), 5)
    finally:
        server.close()
        await server.wait_closed()
    assert reached  # reached, then cut: AGISTATUS SUCCESS
    assert seen == ["200 result=0", "200 result=0", ""]
    pbx = Pbx(start=1795600000.0, style="pjsip", queues=QUEUES, external_ivr=True)
    pbx.place_call(CallerSpec("099100001", "Ana", ("1",), 1, 120, 4), 1795600001.0)
    pbx.advance(1795600002.0)
    (call_id,) = pbx.agi_sessions()
    pbx.agi_finished(call_id, "FAILURE")  # unreachable FastAGI server
    statuses = [
        e.fields()["Value"]
        for e in pbx.advance(1795600003.0)
        if e.name == "VarSet" and e.fields()["Variable"] == "AGISTATUS"
    ]
    assert statuses == ["FAILURE"]
