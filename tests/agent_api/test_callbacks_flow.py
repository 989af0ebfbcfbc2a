"""Done when (issue 17.1): a caller asks for a callback in the IVR, an agent
gets the offer when free, the call is originated, answered and wrapped up,
and the callback metric counts it within target.

Everything runs as `atiende serve` composes it, in one event loop: the
simulated Asterisk (telephony.simulator) with the real FastAGI IVR and the
shipped flows (the office hours made always open and routed to the
out-of-hours menu, whose key 1 stores a callback), the bridge
(tests/support/pbx.py), the panel over HTTP, PostgreSQL. The citizen called
back always answers (simulator setting).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from agent_api.audit import AuditLog
from agent_api.callbacks import CallbackDesk
from agent_api.controls import AmiAgentControls
from agent_api.pop_lookup import StorePopLookup
from agent_api.users import UserStore
from agent_api.wrapups import WrapupStore
from agent_api.ws import PopHub
from atiende.panel_app import panel_app
from atiende.settings import CallbackSettings
from atiende.wiring import callback_collector, callback_worklist
from crm_bridge.db import make_engine, session_factory
from crm_bridge.history import PersonHistory
from crm_bridge.models import Attention, AttentionWrapup, CallbackRequest
from crm_bridge.organisms import Role
from crm_bridge.persons import PersonRegistry
from telephony.domain import AgentState
from telephony.simulator.model import CallerSpec
from tests.agent_api.conftest import PASSWORD, SECRET, fast_passwords
from tests.support.pbx import always_open_flows, simulated_pbx
from tests.support.ports import free_port
from tests.support.web import served

pytestmark = pytest.mark.postgres

IVR = Path(__file__).resolve().parents[2] / "ivr"
AMI_SECRET = "callback-secret"
CITIZEN = "099123456"
LIMIT = 60.0


async def until(check: Callable[[], object], what: str, limit: float = LIMIT) -> object:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(check)
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_ivr_callback_is_offered_made_answered_wrapped_up_and_counted(
    panel_db: str, tmp_path: Path
) -> None:
    engine = make_engine(panel_db)
    sessions = session_factory(engine)
    users = UserStore(engine, fast_passwords())
    ana = users.create("ana-cb", "Ana Gómez", Role.EJECUTIVO, PASSWORD, ["PJSIP/4001"])
    hub = PopHub(
        StorePopLookup(engine, PersonRegistry(engine), PersonHistory(engine), AuditLog(engine)),
        on_wrapup_due=WrapupStore(engine).start,
    )
    port = free_port()
    # The out-of-hours menu (whose key 1 asks for a callback) at every hour, so
    # the callback is due at once whatever the hour in Montevideo.
    pbx_running = simulated_pbx(
        engine,
        panel_db,
        hub,
        always_open_flows(tmp_path, open_node="fuera_de_horario"),
        queues={"consultas": [("4001", "Ana Gómez")]},
        system_name="sim-callbacks",
        settings={"callbacks": CallbackSettings(caller_id='"Atencion Ciudadana" <08001234>')},
        callback_answer_share=1.0,
        callback_busy_share=0.0,
    )
    try:
        async with pbx_running as pbx:
            simulator, service, settings = pbx.simulator, pbx.service, pbx.settings
            controls = AmiAgentControls(service.connection.send)

            def desk(audit: AuditLog) -> CallbackDesk:
                return CallbackDesk(
                    callback_worklist(settings, engine),
                    controls,
                    service.tracker.agents,
                    engine,
                    audit,
                    context=settings.callbacks.context,
                    caller_id=settings.callbacks.caller_id,
                )

            app = panel_app(
                engine=engine,
                hub=hub,
                controls=controls,
                agents_snapshot=service.tracker.agents,
                secret_key=SECRET,
                allowed_origins=[f"http://127.0.0.1:{port}"],
                cookie_secure=False,
                passwords=fast_passwords(),
                queue_names=["consultas"],
                callbacks=desk,
                state_clock=simulator.clock.now,
            )
            async with (
                served(app, port) as base,
                httpx.AsyncClient(
                    base_url=f"http://{base}", headers={"origin": f"http://{base}"}
                ) as client,
            ):
                answer = await client.post(
                    "/api/session", json={"username": "ana-cb", "password": PASSWORD}
                )
                assert answer.status_code == 200, answer.text
                client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]

                # Ana is on a break when the citizen calls and asks to be called back.
                simulator.sync()
                simulator.pbx.set_paused("PJSIP/4001", True, "Almuerzo")
                pbx.call(
                    CallerSpec(CITIZEN, "Ciudadana Devolución", ("1",), 3.0, 60.0, 8.0, "consultas")
                )

                def request_row() -> CallbackRequest | None:
                    with sessions() as session:
                        return session.scalars(select(CallbackRequest)).first()

                asked = await until(request_row, "the IVR's callback request")
                assert isinstance(asked, CallbackRequest)
                assert (asked.queue, asked.origin, asked.status) == ("consultas", "ivr", "pending")

                # Paused: no offer.
                def ana_state() -> AgentState | None:
                    return next(
                        (a.state for a in service.tracker.agents() if a.interface == "PJSIP/4001"),
                        None,
                    )

                await until(lambda: ana_state() is AgentState.PAUSED, "Ana paused")
                offer = await client.get("/agente/devolucion", headers={"HX-Request": "true"})
                assert "Llamar ahora" not in offer.text and "se ofrecen cuando" in offer.text

                # Back from the break (through the panel, over AMI): the offer comes.
                back = await client.post("/agente/disponible")
                assert back.status_code == 200 and "error" not in back.text
                await until(lambda: ana_state() is AgentState.AVAILABLE, "Ana available")
                offer = await client.get("/agente/devolucion", headers={"HX-Request": "true"})
                assert "Llamar ahora" in offer.text, offer.text
                assert CITIZEN not in offer.text and "456" in offer.text  # masked until accepted
                callback_id = asked.id
                accepted = await client.post(f"/agente/devolucion/{callback_id}/aceptar")
                assert "Llamando" in accepted.text, accepted.text
                assert CITIZEN in accepted.text.replace(" ", "")

                def outbound() -> Attention | None:
                    with sessions() as session:
                        return session.scalars(
                            select(Attention).where(
                                Attention.variables["ATIENDE_DIRECTION"].as_string() == "outbound",
                                Attention.outcome == "answered",
                            )
                        ).first()

                made = await until(outbound, "the outbound attention")
                assert isinstance(made, Attention)
                assert made.variables["ATIENDE_CALLBACK_OF"] == asked.linkedid
                # A phone attention with no queue leg: queue figures never count it.
                assert made.channel in ("phone", "telefonico")
                assert (made.agent, made.queue, made.legs) == ("Ana Gómez", "consultas", [])
                assert made.caller_number == "+59899123456"

                def done_row() -> CallbackRequest | None:
                    with sessions() as session:
                        row = session.get(CallbackRequest, callback_id)
                        return row if row is not None and row.status == "done" else None

                finished = await until(done_row, "the callback done")
                assert isinstance(finished, CallbackRequest)
                assert finished.outbound_linkedid == made.linkedid and finished.attempts == 1

                # The agent wraps it up as usual.
                saved = await client.post(
                    f"/agente/cierres/{made.system}/{made.linkedid}",
                    data={
                        "attention_type": "consulta",
                        "resolution": "resuelta",
                        "notes": "Devuelta",
                    },
                )
                assert saved.status_code == 200 and "error" not in saved.text, saved.text
                with sessions() as session:
                    wrapup = session.scalars(
                        select(AttentionWrapup).where(AttentionWrapup.linkedid == made.linkedid)
                    ).one()
                assert wrapup.agent_user_id == ana.id and wrapup.wrapup_ended_at is not None

                # /metrics counts it within target.
                registry = CollectorRegistry()
                for collector in callback_collector(settings, engine):
                    registry.register(collector)
                labels = {"queue": "consultas", "within_target": "true"}
                assert registry.get_sample_value("atiende_callbacks_completed_total", labels) == 1
                late = {"queue": "consultas", "within_target": "false"}
                assert registry.get_sample_value("atiende_callbacks_completed_total", late) == 0
                assert (
                    registry.get_sample_value("atiende_callbacks_pending", {"queue": "consultas"})
                    == 0
                )

                # From that call the agent promises another callback (the form
                # offers her calls; the number defaults to the call's).
                form = await client.get(
                    "/agente/devoluciones/nueva", headers={"HX-Request": "true"}
                )
                assert form.status_code == 200
                tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%d/%m/%Y")
                stranger = await client.post(
                    "/agente/devoluciones",
                    data={"call": "sim-callbacks|999.9", "queue": "consultas", "date": tomorrow},
                )
                assert "Solo puede agendar devoluciones de llamadas que atendió" in stranger.text
                promised = await client.post(
                    "/agente/devoluciones",
                    data={
                        "call": f"{made.system}|{made.linkedid}",
                        "number": "",
                        "queue": "consultas",
                        "date": tomorrow,
                        "time": "10:00",
                        "reason": "Confirmar la fecha del trámite",
                    },
                )
                assert "Devolución agendada" in promised.text, promised.text
                with sessions() as session:
                    scheduled = session.scalars(
                        select(CallbackRequest).where(CallbackRequest.origin == "agent")
                    ).one()
                assert (scheduled.linkedid, scheduled.number, scheduled.scheduled_by) == (
                    made.linkedid,
                    "+59899123456",
                    ana.id,
                )
                assert scheduled.due_at is not None and scheduled.due_at > dt.datetime.now(dt.UTC)
                # Not due yet: not offered to the free agent.
                offer = await client.get("/agente/devolucion", headers={"HX-Request": "true"})
                assert "Llamar ahora" not in offer.text
    finally:
        engine.dispose()
