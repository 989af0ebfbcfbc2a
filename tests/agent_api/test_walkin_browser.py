"""Walk-in attention end to end in headless Chromium at 1366×768 (PostgreSQL).

Reception identifies María by her cédula and gives her a turn; the waiting-room
display (a kiosk link, no login) shows it when a desk calls it; the ejecutivo
at the desk serves her with the phone workspace's person card and wrap-up,
derives a ticket and finishes; the desk's tablet (another kiosk link) offers
that attention and María scores 4. When María then calls (the simulated
Asterisk, the real IVR and bridge: tests/support/pbx.py), the phone agent's
workspace shows the walk-in, its evaluation and its ticket in her history.
axe-core finds no violation on /recepcion, /puesto, /sala and /evaluacion.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from agent_api.catalog import Catalog, TopicInput
from agent_api.users import UserStore
from agent_api.web.reportes import ReportSources
from agent_api.ws import PopHub
from crm_bridge.db import make_engine
from crm_bridge.models import Attention, CallSurvey, CatalogTopic, Ticket
from crm_bridge.organisms import Directory, Role
from crm_bridge.persons import PersonRegistry
from crm_bridge.tickets import TicketService
from crm_bridge.turns import TurnService
from dashboards.kiosk import DESK_TABLET, ROOM_DISPLAY, KioskLinks
from telephony.domain import CallKey
from telephony.simulator.model import CallerSpec
from tests.agent_api.conftest import PASSWORD, fast_passwords
from tests.agent_api.test_need_to_know import ALWAYS_OPEN
from tests.agent_api.test_workspace_browser import _cedula
from tests.support.browser import VIEWPORT, axe_violations, launch, log_in_page, require_chromium
from tests.support.panel import allow_origin, local_panel, pop_hub
from tests.support.pbx import always_open_flows, simulated_pbx
from tests.support.web import served

pytestmark = pytest.mark.postgres


@dataclass
class Centre:
    base: str
    engine: Any
    hub: PopHub
    reception: str
    desk_user: str
    phone_agent: str
    manager: str
    phone_iface: str
    maria_id: int
    cedula: str
    phone: str
    room_token: str
    tablet_token: str
    database_url: str = ""
    turns: Any = None
    desk_user_id: int = 0
    desk_id: int = 0
    topic_id: int = 0


@pytest.fixture
async def centre(panel_db: str) -> AsyncIterator[Centre]:
    require_chromium()
    engine = make_engine(panel_db)
    suffix = str(int(time.time() * 1000))[-6:]
    users = UserStore(engine, fast_passwords())
    iface = f"PJSIP/5{suffix}"
    ana = users.create(f"rec{suffix}", "Ana Recepción", Role.EJECUTIVO, PASSWORD, [])
    bruno = users.create(f"des{suffix}", "Bruno Puesto", Role.EJECUTIVO, PASSWORD, [])
    carla = users.create(f"tel{suffix}", "Carla Teléfono", Role.EJECUTIVO, PASSWORD, [iface])
    gerente = users.create(f"ger{suffix}", "Gabriel Gerente", Role.GERENTE, PASSWORD, [])
    directory = Directory(engine)
    organism = directory.create_organism(f"dnic{suffix}", "Dirección Nacional de Identificación")
    Catalog(engine).import_topics(
        [TopicInput(f"ced{suffix}", "Cédula de identidad", organism=organism.code)]
    )
    with engine.connect() as conn:
        catalog_id = conn.execute(
            select(CatalogTopic.id).where(CatalogTopic.code == f"ced{suffix}")
        ).scalar_one()
    registry = PersonRegistry(engine)
    cedula = _cedula(int(suffix) + 7)
    phone = "098" + suffix
    maria = registry.register(
        given_names="María",
        family_names="Pérez",
        consents=["identificacion", "contacto"],
        document_type="ci",
        document_number=cedula,
        phones=[phone],
    )
    hub = pop_hub(engine, wrapups=True)
    app = local_panel(
        engine,
        hub,
        controls=_NoControls(),
        tickets=TicketService(engine, business_hours=ALWAYS_OPEN),
    )
    app.state.report_sources = ReportSources(engine, ZoneInfo("America/Montevideo"))
    turns: TurnService = app.state.turns
    point = turns.create_point(f"cac{suffix}", f"Centro de Atención {suffix}")
    cedula_topic = turns.add_topic(
        point.id, "cedula", "Cédula de identidad", "A", catalog_topic_id=catalog_id
    )
    turns.add_topic(point.id, "pagos", "Pagos y cobros", "B")
    desk = turns.add_desk(point.id, f"1-{suffix}", "Puesto 1")
    turns.add_desk(point.id, f"2-{suffix}", "Puesto 2")
    turns.set_priority("discapacidad", "Persona con discapacidad", 1)
    turns.set_priority("embarazo", "Embarazo", 2)
    links = KioskLinks(engine)
    _, room = links.create("TV sala", None, kind=ROOM_DISPLAY, service_point_id=point.id)
    _, tablet = links.create("Tableta 1", None, kind=DESK_TABLET, desk_id=desk.id)
    async with served(app) as base:
        allow_origin(app, base)
        hub.set_interfaces(users.interface_map())
        yield Centre(
            base,
            engine,
            hub,
            users.get(ana.id).username,  # type: ignore[union-attr]
            users.get(bruno.id).username,  # type: ignore[union-attr]
            users.get(carla.id).username,  # type: ignore[union-attr]
            users.get(gerente.id).username,  # type: ignore[union-attr]
            iface,
            maria.id,
            cedula,
            phone,
            room,
            tablet,
            panel_db,
            turns,
            bruno.id,
            desk.id,
            cedula_topic.id,
        )
    await hub.close()
    engine.dispose()


class _NoControls:
    """The walk-in flow sends nothing to Asterisk."""

    def __getattr__(self, name: str) -> Any:
        async def refuse(*_args: Any, **_kwargs: Any) -> None:
            raise AssertionError(f"no AMI control expected ({name})")

        return refuse


async def _clean(page: Any, name: str) -> None:
    """No axe-core violation at all (not only the serious ones)."""
    await axe_violations(page)  # loads axe into the page
    found = await page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]}))
            .violations.map(v => ({id: v.id, impact: v.impact,
                nodes: v.nodes.map(n => n.target.join(" "))}))"""
    )
    assert found == [], f"{name}: {found}"


async def _receive_maria(reception: Any, centre: Centre) -> None:
    """Reception opens an attention and finds María by her cédula."""
    await reception.click("#recibir")
    await reception.fill("#buscar-persona", centre.cedula)
    await reception.press("#buscar-persona", "Enter")
    await reception.get_by_role("button", name="María Pérez").click()


async def test_walk_in_from_reception_to_the_phone_history(centre: Centre, tmp_path: Path) -> None:
    api = require_chromium()
    expect = api.expect
    async with api.async_playwright() as pw:
        browser = await launch(pw)
        try:
            reception = await browser.new_page(viewport=VIEWPORT, locale="es-UY")
            desk = await browser.new_page(viewport=VIEWPORT, locale="es-UY")
            room = await browser.new_page(viewport=VIEWPORT, locale="es-UY")
            tablet = await browser.new_page(viewport=VIEWPORT, locale="es-UY")
            base = f"http://{centre.base}"

            # The room display and the tablet: kiosk links, no login.
            await room.goto(f"{base}/sala/{centre.room_token}")
            await expect(room.locator("#llamando")).to_contain_text("Aguarde su número")
            await _clean(room, "sala vacía")
            await tablet.goto(f"{base}/evaluacion/{centre.tablet_token}")
            await expect(tablet.locator("#evaluacion")).to_contain_text("podrá evaluarla")
            await _clean(tablet, "tableta en espera")
            bad = await room.request.get(f"{base}/sala/{centre.tablet_token}")
            assert bad.status == 404  # a tablet's link opens no display

            # Reception: greet, identify by cédula, topic, turn.
            await log_in_page(reception, centre.base, centre.reception, PASSWORD)
            await reception.goto(f"{base}/recepcion")
            await _clean(reception, "recepción")
            await _receive_maria(reception, centre)
            await reception.get_by_role("button", name="Elegir a esta persona").click()
            await expect(reception.locator("#persona-turno")).to_have_text("María Pérez")
            await reception.select_option("#turno-tema", label="A · Cédula de identidad")
            await _clean(reception, "recepción con persona")
            await reception.click("#dar-turno")
            await expect(reception.locator("#turno-numero")).to_have_text("A-001")
            # The waiting list came with the answer (out of band), not 10 s later.
            waiting = await reception.locator("#espera-recepcion").inner_text()
            assert "A-001" in waiting and "Nadie espera" not in waiting
            await expect(reception.locator("#espera-recepcion")).to_have_count(1)
            await _clean(reception, "turno dado")

            # The desk takes Puesto 1 and calls the next turn.
            await log_in_page(desk, centre.base, centre.desk_user, PASSWORD)
            await desk.goto(f"{base}/puesto")
            await _clean(desk, "elegir puesto")
            await desk.click("#tomar-puesto")
            await desk.wait_for_selector("#llamar-siguiente")
            await _clean(desk, "puesto libre")
            await desk.click("#llamar-siguiente")
            await expect(desk.locator("#turno-actual")).to_have_text("A-001")

            # The display shows the number and the desk (and nothing personal).
            await expect(room.locator("#llamando")).to_contain_text("A-001", timeout=10_000)
            await expect(room.locator("#llamando")).to_contain_text("Puesto 1")
            assert "María" not in await room.content()
            assert centre.cedula not in await room.content()
            await _clean(room, "sala llamando")

            # Serve: the person reception identified, the wrap-up, a derivation.
            await desk.click("#atender")
            await expect(desk.locator("#persona")).to_contain_text("María Pérez")
            await expect(desk.locator("#abrir-tramites")).to_be_visible()  # knowledge panel
            await _clean(desk, "puesto atendiendo")
            form = desk.locator("form.wrapup")
            await form.locator("select[name=attention_type]").select_option("tramite")
            await form.locator("select[name=topic_id]").select_option(label="Cédula de identidad")
            await form.locator("textarea[name=notes]").fill("Renovación de cédula; falta partida")
            await form.locator("input[name=resolution][value=derivada]").check()
            await form.get_by_role("button", name="Registrar cierre").click()
            await expect(desk.locator("#cierre-formularios")).to_contain_text("solicitud")
            await desk.click("#finalizar")
            await expect(desk.locator("#puesto-mensaje")).to_contain_text("finalizada")
            # She consented to contact: the desk may also send her a one-time link instead.
            await expect(desk.locator("#enviar-enlace")).to_be_visible()
            await expect(desk.locator(".evaluation-link")).not_to_contain_text(centre.phone)
            await _clean(desk, "puesto tras despedir")

            # The tablet offers that attention (its number only) and María scores 4.
            await expect(tablet.locator("#evaluacion")).to_contain_text("A-001", timeout=10_000)
            assert "María" not in await tablet.content()
            await _clean(tablet, "tableta evaluando")
            await tablet.locator("label.puntaje", has_text="Buena").nth(0).click()
            await tablet.locator("#enviar-evaluacion").click()
            await expect(tablet.locator("#evaluacion")).to_contain_text("Gracias")
            # ... and then resets, never showing her attention again.
            await expect(tablet.locator("#evaluacion")).to_contain_text(
                "podrá evaluarla", timeout=15_000
            )

            with centre.engine.connect() as conn:
                walk_in = conn.execute(
                    select(Attention).where(
                        Attention.person_id == centre.maria_id,
                        Attention.channel == "presencial",
                    )
                ).one()
                survey = conn.execute(
                    select(CallSurvey).where(CallSurvey.linkedid == walk_in.linkedid)
                ).one()
                ticket = conn.execute(
                    select(Ticket).where(Ticket.attention_linkedid == walk_in.linkedid)
                ).one()
            assert walk_in.outcome == "answered" and walk_in.survey_score == 4
            assert walk_in.variables["ATIENDE_TURN"] == "A-001"
            assert survey.score == 4
            assert ticket.channel == "presencial" and ticket.person_id == centre.maria_id

            # María calls: the IVR knows her number (she confirms with 1, then 0
            # for an agent), the queue rings Carla, and Carla's workspace shows
            # the walk-in in her history.
            phone = await browser.new_page(viewport=VIEWPORT, locale="es-UY")
            await log_in_page(phone, centre.base, centre.phone_agent, PASSWORD)
            await phone.wait_for_selector("body[data-socket=open]")
            async with simulated_pbx(
                centre.engine,
                centre.database_url,
                centre.hub,
                always_open_flows(tmp_path),
                queues={"consultas": [(centre.phone_iface.removeprefix("PJSIP/"), "Carla")]},
                system_name="pbx-walkin",
                speed=10,
            ) as pbx:
                pbx.call(CallerSpec(centre.phone, "", ("1", "0"), delay=1.0, talk=900.0))
                await expect(phone.locator("#persona")).to_contain_text(
                    "María Pérez", timeout=30_000
                )
                history = phone.locator("#historial")
                await expect(history).to_contain_text("Presencial", timeout=30_000)
                await expect(history).to_contain_text("evaluación 4/5")
                await expect(history).to_contain_text(ticket.number)

            # A second visit, served at the same desk: this time the link goes by SMS
            # (no SMS gateway here: the log responder records it, nothing leaves).
            turns = centre.turns
            second = turns.receive(turns.desk(centre.desk_id).point_id, user_id=centre.desk_user_id)
            PersonRegistry(centre.engine).link_attention(
                second.system, second.linkedid, centre.maria_id
            )
            given = turns.give_turn(second, centre.topic_id, user_id=centre.desk_user_id)
            turns.call_turn(centre.desk_id, given.id, user_id=centre.desk_user_id)
            turns.serve(
                given.id, desk_id=centre.desk_id, user_id=centre.desk_user_id, agent="Bruno"
            )
            turns.finish(given.id, desk_id=centre.desk_id)
            await desk.goto(f"{base}/puesto")
            await desk.click("#enviar-enlace")
            await expect(desk.locator("#puesto-mensaje")).to_contain_text("Enlace de evaluación")
            await expect(tablet.locator("#evaluacion")).to_contain_text("podrá evaluarla")

            # The gerente's reports count the walk-in per point and topic.
            manager = await browser.new_page(viewport=VIEWPORT, locale="es-UY")
            await log_in_page(manager, centre.base, centre.manager, PASSWORD)
            await manager.goto(f"{base}/reportes")
            row = manager.locator("#presencial tbody tr")
            await expect(row).to_have_count(1)
            await expect(row).to_contain_text("cedula")
            await expect(row).to_contain_text("4,00")
        finally:
            await browser.close()
    await asyncio.sleep(0)


async def test_reception_cancels_and_the_attention_closes_without_a_turn(centre: Centre) -> None:
    api = require_chromium()
    expect = api.expect
    async with api.async_playwright() as pw:
        browser = await launch(pw)
        try:
            reception = await browser.new_page(viewport=VIEWPORT, locale="es-UY")
            base = f"http://{centre.base}"
            await log_in_page(reception, centre.base, centre.reception, PASSWORD)
            await reception.goto(f"{base}/recepcion")
            await _receive_maria(reception, centre)
            call_ref = await reception.locator("#turno-form input[name=call]").input_value()
            await reception.click("#cancelar-recepcion")
            await expect(reception.locator("#recepcion-mensaje")).to_contain_text(
                "Recepción cancelada"
            )
            await _clean(reception, "recepción cancelada")
            system, linkedid = call_ref.split("|")
            with centre.engine.connect() as conn:
                row = conn.execute(
                    select(Attention.outcome, Attention.ended_at, Attention.answered_at).where(
                        Attention.system == system, Attention.linkedid == linkedid
                    )
                ).one()
            assert row.outcome == "cancelled" and row.ended_at is not None
            assert row.answered_at is None
            assert centre.turns.turn_of(CallKey(system, linkedid)) is None
            # The same post again (a double click) changes nothing and says so.
            token = await reception.evaluate(
                "() => JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']"
            )
            again = await reception.request.post(
                f"{base}/recepcion/cancelar",
                form={"call": call_ref},
                headers={"X-CSRF-Token": token, "HX-Request": "true"},
            )
            assert "no se canceló" in await again.text()
            # Reception receives the next person from where it is.
            await reception.click("#recibir")
            await expect(reception.locator("#turno-form")).to_be_visible()
        finally:
            await browser.close()
