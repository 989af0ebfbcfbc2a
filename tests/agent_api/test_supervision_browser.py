"""The supervisor's screen and the kiosk wallboard in headless Chromium at 1366x768.

A supervisor sees the floor (state, time in state, the live call with the
number masked, pending wrap-ups), the callers waiting, pauses an agent, listens
to one (ChanSpy through Originate, as AgentControls records it), acknowledges
a ticket SLA alert and a queue alert with a note; axe-core finds nothing. A
kiosk link shows the wallboard with no session and stops once revoked.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from agent_api.audit import AuditLog
from agent_api.exceptions import ControlRefused
from agent_api.routes.figures import add_wallboard
from agent_api.routes.kiosk_links import kiosk_links_router
from agent_api.routes.queue_alerts import queue_alerts_router
from agent_api.testing import RecordingControls
from agent_api.users import UserStore
from crm_bridge.db import make_engine
from crm_bridge.models import QueueAlertAck, SlaAlert
from crm_bridge.organisms import Directory, Role
from crm_bridge.sync.sla_alerts import SlaAlerts
from crm_bridge.tickets import TicketService
from dashboards.kiosk import KioskLinks
from dashboards.kpi import QueueKpiDefinition
from dashboards.queue_alert_acks import QueueAlertAcks
from dashboards.queue_metrics import QueueMetrics
from dashboards.wallboard import Wallboard
from telephony.agents import AgentSnapshot
from telephony.domain import AgentRinging, AgentState, CallAnswered, CallKey, CallQueued
from tests.agent_api.conftest import PASSWORD, fast_passwords, served
from tests.agent_api.test_tickets_api import ALWAYS_OPEN
from tests.support.browser import axe_violations, launch, require_chromium, switch_user
from tests.support.panel import local_panel, pop_hub
from tests.support.ports import free_port

pytestmark = pytest.mark.postgres

VIEWPORT = {"width": 1366, "height": 768}
CALLER = "099123456"


@dataclass
class Floor:
    app: FastAPI
    port: int
    controls: RecordingControls
    board: Wallboard
    engine: Any
    ana: int
    sara: int
    snapshots: list[AgentSnapshot]


def _floor(db: str) -> Floor:
    engine = make_engine(db)
    users = UserStore(engine, fast_passwords())
    suffix = uuid.uuid4().hex[:5]
    sara = users.create(f"sara{suffix}", "Sara Supervisora", Role.SUPERVISOR, PASSWORD,
                        [f"PJSIP/90{suffix}"])  # fmt: skip
    ana = users.create(
        f"ana{suffix}", "Ana Agente", Role.EJECUTIVO, PASSWORD, [f"PJSIP/40{suffix}"]
    )
    hub = pop_hub(engine)
    now = time.time()
    snapshots = [
        AgentSnapshot(ana.interfaces[0], "Ana", ("consultas",), AgentState.ON_CALL, now - 75, None),
        AgentSnapshot(
            "PJSIP/other", "Bruno", ("consultas", "reclamos"), AgentState.WRAP_UP, now - 20, None
        ),
        AgentSnapshot("PJSIP/c", "Carla", ("reclamos",), AgentState.PAUSED, now - 300, "Almuerzo"),
    ]
    # A past clock: the ticket was due yesterday and nobody answered it.
    past = datetime.now(UTC) - timedelta(days=10)
    tickets = TicketService(engine, business_hours=ALWAYS_OPEN, clock=lambda: past)
    directory = Directory(engine)
    organism = directory.create_organism(f"O{suffix}", "Organismo").id
    number = tickets.create(
        channel="web", request_type="consulta", topic="Horarios", organism_id=organism,
        actor_id=ana.id,
    ).number  # fmt: skip
    controls = RecordingControls()
    port = free_port()
    app = local_panel(
        engine,
        hub,
        port,
        controls=controls,
        agents_snapshot=lambda: snapshots,
        tickets=tickets,
        sla_alerts=SlaAlerts(engine, hours=ALWAYS_OPEN),
    )
    assert app.state.followup.sla_alerts.scan(), number
    hub.set_interfaces(users.interface_map())
    key = CallKey("pbx", uuid.uuid4().hex)
    hub.publish(
        [
            AgentRinging(now - 80, key, "consultas", ana.interfaces[0], "Ana", CALLER, "Pérez",
                         {}, 3.0),
            CallAnswered(now - 75, key, "consultas", ana.interfaces[0], "Ana", 3.0),
        ]
    )  # fmt: skip
    metrics = QueueMetrics(
        {"consultas": QueueKpiDefinition(service_level_seconds=20, sl_target=0.8)},
        window_seconds=900,
    )
    metrics.publish([CallQueued(now - 95, CallKey("pbx", "w1"), "consultas", 1, CALLER, "")])
    board = Wallboard(metrics, lambda: snapshots)
    links = KioskLinks(engine)
    acks = QueueAlertAcks(engine)
    add_wallboard(app, board, links, kiosk_check_seconds=0.2)
    app.include_router(kiosk_links_router(links))
    app.include_router(queue_alerts_router(acks))
    app.state.wallboard, app.state.queue_alert_acks = board, acks
    app.state.kiosk_links = links
    return Floor(app, port, controls, board, engine, ana.id, sara.id, snapshots)


@pytest.fixture
def floor(panel_db: str) -> Iterator[Floor]:
    built = _floor(panel_db)
    try:
        yield built
    finally:
        built.engine.dispose()


async def test_the_supervisor_runs_the_floor(floor: Floor) -> None:
    playwright_api = require_chromium()
    expect = playwright_api.expect
    users = UserStore(floor.engine, fast_passwords())
    sara = users.get(floor.sara)
    assert sara is not None
    async with served(floor.app, floor.port) as host, playwright_api.async_playwright() as pw:
        base = f"http://{host}"
        browser = await launch(pw)
        try:
            page = await (await browser.new_context(viewport=VIEWPORT, locale="es-UY")).new_page()
            sockets: list[str] = []
            page.on("websocket", lambda ws: sockets.append(ws.url))
            await switch_user(page, base, sara.username, PASSWORD)
            assert page.url == f"{base}/supervision"
            ana = page.locator("#tabla-agentes tr", has_text="Ana Agente")
            await expect(ana).to_contain_text("En llamada")
            await expect(ana).to_contain_text(re.compile(r"0[12]:\d\d"))  # 75 s and counting
            await expect(ana).to_contain_text("******456")  # the caller's number, masked
            assert CALLER not in await page.content() and "Pérez" not in await page.content()
            await expect(page.locator("#tabla-agentes")).to_contain_text("Poscierre")
            carla = page.locator("#tabla-agentes tr", has_text="Carla")
            await expect(carla).to_contain_text("Almuerzo")
            await expect(page.locator("#esperando")).to_contain_text(
                re.compile(r"consultas: 0[12]:\d\d")
            )
            assert (await axe_violations(page)) == []

            await page.select_option(
                "#acc-agente", label=f"Ana Agente (PJSIP/40{sara.username[4:]})"
            )
            await page.select_option("#acc-motivo", "Capacitación")
            await page.get_by_role("button", name="Pausar", exact=True).click()
            await expect(page.locator("#avisos .notice")).to_contain_text("Pausa de Ana Agente")
            await page.get_by_role("button", name="Escuchar", exact=True).click()
            await expect(page.locator("#avisos .notice")).to_contain_text("atienda su teléfono")
            interface = f"PJSIP/40{sara.username[4:]}"
            assert ("pause", interface, "Capacitación") in floor.controls.calls
            assert ("spy", sara.interfaces[0], interface, "listen") in floor.controls.calls

            # A ticket alert needs a note; then it is gone, persisted and audited.
            alert = page.locator("#formularios form", has_text="Vencido")
            await alert.get_by_role("button").click()
            await expect(page.locator("#avisos .error-summary")).to_contain_text("qué se hizo")
            await (
                page.locator("#formularios form", has_text="Vencido")
                .locator("input")
                .fill("Llamé al organismo; responden hoy.")
            )
            await (
                page.locator("#formularios form", has_text="Vencido").get_by_role("button").click()
            )
            await expect(page.locator("#avisos .notice")).to_have_text("Alerta atendida.")
            # The scan raised "por vencer" and "vencido"; the second is now acknowledged.
            await expect(page.locator("#formularios form", has_text="Vencido")).to_have_count(0)
            await expect(page.locator("#formularios form", has_text="Por vencer")).to_have_count(1)

            # The waiting caller is over the queue's limit: a queue alert to acknowledge.
            await page.fill("#qa-nota", "Pasé a Bruno a consultas")
            await page.get_by_role("button", name="Marcar atendida", exact=True).click()
            await expect(page.locator("#avisos .notice")).to_contain_text("consultas atendida")
            await expect(page.locator("#formularios")).to_contain_text("Pasé a Bruno")
            assert (await axe_violations(page)) == []
            # Only the wallboard's alert push: never the agents' pop socket.
            assert all(url.endswith("/ws/wallboard") for url in sockets), sockets
        finally:
            await browser.close()
    with floor.engine.connect() as conn:
        acked = conn.execute(SlaAlert.__table__.select()).mappings().all()
        queue_acks = conn.execute(QueueAlertAck.__table__.select()).mappings().all()
    assert [a["acknowledged_note"] for a in acked if a["acknowledged_at"]] == [
        "Llamé al organismo; responden hoy."
    ]
    assert [a["note"] for a in queue_acks] == ["Pasé a Bruno a consultas"]
    actions = {e.action for e in AuditLog(floor.engine).query(actor_id=floor.sara)}
    assert {"agent_action", "alert_ack"} <= actions


async def test_a_kiosk_link_shows_the_board_on_a_tv_until_revoked(floor: Floor) -> None:
    playwright_api = require_chromium()
    expect = playwright_api.expect
    sara = UserStore(floor.engine, fast_passwords()).get(floor.sara)
    assert sara is not None
    async with served(floor.app, floor.port) as host, playwright_api.async_playwright() as pw:
        base = f"http://{host}"
        browser = await launch(pw)
        try:
            supervisor = await (
                await browser.new_context(viewport=VIEWPORT, locale="es-UY")
            ).new_page()
            await switch_user(supervisor, base, sara.username, PASSWORD)
            await supervisor.get_by_role("button", name="Crear enlace").click()
            await expect(supervisor.locator("#avisos .error-summary")).to_contain_text("nombre")
            await supervisor.fill("#kiosk-nombre", "TV de la sala")
            await supervisor.get_by_role("button", name="Crear enlace").click()
            await expect(supervisor.locator("#avisos .notice")).to_contain_text("no se vuelve")
            url = await supervisor.locator("#kiosk-url").input_value()
            assert url.startswith(f"{base}/kiosco/")
            assert (await axe_violations(supervisor)) == []
            link = {"url": url.removeprefix(base)}

            pages = []
            for size in (VIEWPORT, {"width": 3840, "height": 2160}):
                tv = await browser.new_context(viewport=size, locale="es-UY")  # no session
                page = await tv.new_page()
                await page.goto(base + link["url"])
                await expect(page.locator("#estado")).to_have_text("En vivo")
                await expect(page.locator("#tabla-agentes")).to_contain_text("Carla")
                await expect(page.locator("#tabla-espera")).to_contain_text("consultas")
                await expect(page.locator("#reloj")).not_to_have_text("--:--:--")
                await expect(page.locator("#actualizado")).not_to_have_text("—")
                assert CALLER not in await page.content()
                # Fits the screen: nothing wider than the viewport.
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= size["width"], (size, width)
                assert (await axe_violations(page)) == []
                pages.append(page)
            page = pages[0]  # the laptop-sized TV stays on while the link is revoked

            await (
                supervisor.locator("#pizarras li", has_text="TV de la sala")
                .get_by_role("button")
                .click()
            )
            await expect(supervisor.locator("#avisos .notice")).to_contain_text("revocado")
            await expect(supervisor.locator("#pizarras")).to_have_count(0)
            await expect(page.locator("#estado")).to_contain_text("revocado", timeout=10_000)
            again = await page.goto(base + link["url"])
            assert again is not None and again.status == 404
        finally:
            await browser.close()


def test_every_action_on_an_agent_over_http(floor: Floor) -> None:
    """What the browser test does not click: remove from a queue, log off, resume,
    whisper, barge; bad input told in words; audited; other roles refused."""
    from fastapi.testclient import TestClient

    from tests.agent_api.test_web_pages import form_login

    users = UserStore(floor.engine, fast_passwords())
    sara, ana = users.get(floor.sara), users.get(floor.ana)
    assert sara is not None and ana is not None
    client = TestClient(floor.app, headers={"origin": f"http://127.0.0.1:{floor.port}"})
    form_login(client, sara.username)
    client.headers.update(
        {"HX-Request": "true", "X-CSRF-Token": client.cookies.get("atiende_csrf") or ""}
    )

    def act(**data: str) -> str:
        answer = client.post("/supervision/agentes", data={"agente": str(ana.id), **data})
        assert answer.status_code == 200, answer.text
        return answer.text

    iface = ana.interfaces[0]
    assert "Elija la cola" in act(accion="quitar")
    assert "no está en esa cola" in act(accion="quitar", cola="reclamos")
    assert "de la cola consultas solicitada" in act(accion="quitar", cola="consultas")
    assert "de todas sus colas" in act(accion="desconectar")
    assert "Fin de pausa" in act(accion="reanudar")
    assert "Elija un motivo" in act(accion="pausar", motivo="Siesta")
    assert "atienda su teléfono" in act(accion="whisper")
    assert "atienda su teléfono" in act(accion="barge")
    assert floor.controls.calls == [
        ("log_out", iface, "consultas"),
        ("log_out", iface, "consultas"),
        ("unpause", iface),
        ("spy", sara.interfaces[0], iface, "whisper"),
        ("spy", sara.interfaces[0], iface, "barge"),
    ]
    done = [
        e.details
        for e in AuditLog(floor.engine).query(action="agent_action", actor_id=sara.id)
        if e.details["agent_id"] == ana.id  # the database is shared with the module's tests
    ]
    assert sorted(d["action"] for d in done) == ["barge", "desconectar", "quitar", "reanudar",
                                                "whisper"]  # fmt: skip
    # Without the token, or as another role, nothing is sent.
    client.headers.pop("X-CSRF-Token")
    assert client.post("/supervision/agentes", data={"agente": str(ana.id)}).status_code == 403
    agent = TestClient(floor.app, headers={"origin": f"http://127.0.0.1:{floor.port}"})
    form_login(agent, ana.username)
    assert agent.get("/supervision").status_code == 403
    assert len(floor.controls.calls) == 5


@dataclass
class _RefusesOne(RecordingControls):
    """Refuses every action on one interface, as Asterisk does for a Local/ channel in no queue."""

    refused: str = ""

    def _record(self, *call: str) -> None:
        self.calls.append(call)
        if self.refused in call[1:]:
            raise ControlRefused("no", detalle="El teléfono no está en ninguna cola de la central.")


def test_supervisor_actions_reach_every_interface_and_spy_on_the_one_in_call(
    floor: Floor,
) -> None:
    """Bruno has a Local/ interface in no queue before his PJSIP phone: pause and resume
    reach both (the refusal named next to the success), and listening targets the
    interface Asterisk has his call on, not the first configured."""
    from fastapi.testclient import TestClient

    from tests.agent_api.test_web_pages import form_login

    users = UserStore(floor.engine, fast_passwords())
    sara = users.get(floor.sara)
    assert sara is not None
    suffix = uuid.uuid4().hex[:5]
    local, desk = f"Local/41{suffix}@agents/n", f"PJSIP/41{suffix}"
    bruno = users.create(f"bruno{suffix}", "Bruno Benítez", Role.EJECUTIVO, PASSWORD, [local, desk])
    floor.snapshots.append(
        AgentSnapshot(
            desk, "Bruno Benítez", ("consultas",), AgentState.ON_CALL, time.time() - 5, None
        )
    )
    controls = _RefusesOne(refused=local)
    floor.app.state.services.controls = controls
    client = TestClient(floor.app, headers={"origin": f"http://127.0.0.1:{floor.port}"})
    form_login(client, sara.username)
    client.headers.update(
        {"HX-Request": "true", "X-CSRF-Token": client.cookies.get("atiende_csrf") or ""}
    )

    def act(**data: str) -> str:
        answer = client.post("/supervision/agentes", data={"agente": str(bruno.id), **data})
        assert answer.status_code == 200, answer.text
        return answer.text

    reason = floor.app.state.services.pause_reasons[0]
    paused = act(accion="pausar", motivo=reason)
    assert "Pausa de Bruno Benítez solicitada" in paused
    assert f"{local}: El teléfono no está en ninguna cola" in paused
    resumed = act(accion="reanudar")
    assert "Fin de pausa de Bruno Benítez solicitado" in resumed and local in resumed
    assert "atienda su teléfono" in act(accion="listen")
    assert controls.calls == [
        ("pause", local, reason),
        ("pause", desk, reason),
        ("unpause", local),
        ("unpause", desk),
        ("spy", sara.interfaces[0], desk, "listen"),
    ]
    # Refused everywhere: no success message, every refusal shown.
    floor.snapshots[-1] = AgentSnapshot(desk, "Bruno Benítez", (), AgentState.LOGGED_OUT, 0.0, None)
    everywhere = RecordingControls(
        refuse=ControlRefused("no", detalle="El teléfono no está en ninguna cola de la central.")
    )
    floor.app.state.services.controls = everywhere
    refused = act(accion="reanudar")
    assert "Fin de pausa de Bruno Benítez solicitado" not in refused
    assert refused.count("El teléfono no está en ninguna cola") == 2
