"""End to end: the simulated Asterisk drives the real IVR over FastAGI, the real
bridge stores the calls in PostgreSQL, and the digits callers typed (a ticket
number, a cédula) appear nowhere in the stored rows: the IVR path is the IVR's
own choices, also for a caller who hangs up right after typing a cédula."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid

from pydantic import SecretStr
from sqlalchemy import select

from atiende.settings import AmiSettings, Settings
from atiende.wiring import build_bridge, migrate
from citizen import cedula
from crm_bridge.db import make_engine, session_factory
from crm_bridge.models import Attention
from ivr.flows import load_flows
from ivr.server import FastAgiServer
from ivr.services import RequestStatus
from ivr.testing import InMemoryIvrServices
from telephony.simulator.model import CallerSpec, SimEvent
from telephony.simulator.runner import Simulator, SimulatorConfig

TUESDAY_MORNING = dt.datetime(2026, 11, 24, 14, 0, tzinfo=dt.UTC)
BODY = "4718293"
CEDULA = BODY + str(cedula.check_digit(BODY))
YEAR, NUMBER = "2047", "098765"


async def test_stored_attentions_hold_choices_not_typed_digits(postgres_url: str) -> None:
    services = InMemoryIvrServices(
        requests={f"{YEAR}-{NUMBER}": RequestStatus(f"{YEAR}-{NUMBER}", "en_proceso")}
    )
    started = dt.datetime.now(dt.UTC)
    ivr = FastAgiServer(
        load_flows(),
        services,
        port=0,
        clock=lambda: TUESDAY_MORNING + (dt.datetime.now(dt.UTC) - started),
    )
    await ivr.start()
    typed: dict[str, str] = {}

    def on_events(events: list[SimEvent]) -> None:
        for event in events:
            if event.name == "DTMFEnd":
                headers = dict(event.headers)
                channel = headers["Channel"]
                typed[channel] = typed.get(channel, "") + headers["Digit"]

    simulator = Simulator(
        SimulatorConfig(speed=20, agi=("127.0.0.1", ivr.port), max_calls=0, survey=False),
        on_events=on_events,
    )
    system = f"keys-{uuid.uuid4().hex[:8]}"
    await simulator.start()
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
        now = simulator.clock.now()
        # A ticket-status caller who listens to the answer and hangs up.
        status = CallerSpec("099111222", "Ana Pérez", keys=("3", YEAR, NUMBER, ""), delay=1.0)
        # A caller who types the cédula, then hangs up before reaching the queue
        # (patience runs from the first key: typed by ~9.5 s, gone at ~10.5 s).
        leaving = CallerSpec("099333444", "Bruno Díaz", keys=("2", CEDULA), delay=1.0, patience=9)
        for spec in (status, leaving):
            simulator.pbx.place_call(spec, now + 0.5)
            simulator.placed += 1
        async with asyncio.timeout(90):
            while not simulator.idle():
                await asyncio.sleep(0.05)
            await service.caught_up()
    finally:
        await simulator.freeze()
        await service.stop()
        await simulator.stop()
        await ivr.stop()
    engine = make_engine(postgres_url)
    try:
        with session_factory(engine)() as session:
            rows = session.scalars(select(Attention).where(Attention.system == system)).all()
            stored = {
                row.caller_number_raw: {
                    c.name: getattr(row, c.name) for c in Attention.__table__.columns
                }
                for row in rows
            }
    finally:
        engine.dispose()

    # The callers really typed those digits (the test could fail).
    keyed = sorted(typed.values())
    assert keyed == ["2" + CEDULA, "3" + YEAR + NUMBER], keyed
    assert ("request_status", (f"{YEAR}-{NUMBER}",)) in services.calls
    assert set(stored) == {"099111222", "099333444"}
    asked = stored["099111222"]
    assert asked["ivr_path"] == ["estado"]
    assert asked["variables"]["ATIENDE_TOPIC"] == "estado_solicitud"
    left = stored["099333444"]
    assert left["ivr_path"] == ["reclamos"]
    assert left["outcome"] == "ivr_hangup"
    for row in stored.values():
        text = json.dumps(row, default=str)
        for secret in (YEAR + NUMBER, NUMBER, CEDULA, BODY):
            assert secret not in text, (secret, row)
        assert '"3"' not in json.dumps(row["ivr_path"])
