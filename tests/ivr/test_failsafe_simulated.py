"""Callers reach an agent when the prompts are missing, when the IVR is down and
when its session dies mid-call: the simulated Asterisk (Asterisk 22's replies,
the sample dialplan's fallback queue) drives the real IVR, the real bridge
stores the calls in PostgreSQL, and no caller is stored as `ivr_completed`."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter
from collections.abc import Sequence

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from atiende.settings import AmiSettings, Settings
from atiende.wiring import build_bridge, migrate
from crm_bridge.db import make_engine, session_factory
from crm_bridge.models import Attention
from ivr.flows import load_flows
from ivr.server import FastAgiServer
from ivr.testing import InMemoryIvrServices
from telephony.simulator.model import CallerSpec
from telephony.simulator.runner import Simulator, SimulatorConfig
from tests.support.ports import free_port

TUESDAY_MORNING = dt.datetime(2026, 11, 24, 14, 0, tzinfo=dt.UTC)
CALLERS = (
    CallerSpec("099100001", "Ana Uno", keys=("0",), delay=1.0, patience=300, talk=3),
    CallerSpec("099100002", "Beto Dos", keys=("0",), delay=1.0, patience=300, talk=3),
)


async def run_calls(
    postgres_url: str, config: SimulatorConfig, ivr: FastAgiServer | None
) -> tuple[list[Attention], Simulator]:
    simulator = Simulator(config)
    await simulator.start()
    system = f"safe-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database_url=postgres_url,
        metrics_port=0,
        ami=AmiSettings(
            host="127.0.0.1",
            port=simulator.port,
            secret=SecretStr(config.secret),
            system_name=system,
        ),
    )
    await asyncio.to_thread(migrate, settings)
    service = build_bridge(settings)
    await service.start()
    try:
        now = simulator.clock.now()
        for spec in CALLERS:
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
        if ivr is not None:
            await ivr.stop()
    engine = make_engine(postgres_url)
    try:
        with session_factory(engine)() as session:
            rows = list(session.scalars(select(Attention).where(Attention.system == system)))
            session.expunge_all()
    finally:
        engine.dispose()
    return rows, simulator


async def started_ivr() -> FastAgiServer:
    started = dt.datetime.now(dt.UTC)
    ivr = FastAgiServer(
        load_flows(),
        InMemoryIvrServices(),
        port=0,
        clock=lambda: TUESDAY_MORNING + (dt.datetime.now(dt.UTC) - started),
    )
    await ivr.start()
    return ivr


def config(agi: tuple[str, int], **options: object) -> SimulatorConfig:
    return SimulatorConfig(
        speed=20,
        agi=agi,
        max_calls=0,
        no_answer_share=0.0,
        **options,  # type: ignore[arg-type]
    )


def outcomes(rows: Sequence[Attention]) -> Counter[str]:
    return Counter(row.outcome for row in rows)


async def test_no_custom_prompt_installed_callers_still_reach_an_agent(postgres_url: str) -> None:
    ivr = await started_ivr()
    rows, _ = await run_calls(
        postgres_url, config(("127.0.0.1", ivr.port), missing_prompts=("*",)), ivr
    )
    assert outcomes(rows) == Counter({"answered": 2})
    for row in rows:
        assert row.ivr_path == ["ejecutivo"]  # the key pressed after the beep
        assert "ATIENDE_IVR_FALLBACK" not in row.variables
    missing = ivr.missing_prompts.snapshot()
    assert missing["atiende/menu-principal"] == 2 and missing["beep"] == 0


@pytest.mark.parametrize("situation", ["unreachable", "session dies mid-call"])
async def test_callers_the_ivr_could_not_place_go_to_the_fallback_queue(
    postgres_url: str, situation: str
) -> None:
    if situation == "unreachable":
        ivr, agi, options = None, ("127.0.0.1", free_port()), {}
    else:
        ivr = await started_ivr()
        agi, options = ("127.0.0.1", ivr.port), {"agi_drop_after": 4}
    rows, _ = await run_calls(postgres_url, config(agi, survey=True, **options), ivr)
    assert outcomes(rows) == Counter({"answered": 2}), situation
    for row in rows:
        assert row.queue == "consultas"
        expected = "FAILURE" if situation == "unreachable" else "SUCCESS"
        assert row.variables["ATIENDE_IVR_FALLBACK"] == expected
    if ivr is not None:
        assert ivr.sessions_started == 2  # no survey after a fallback
