"""The citizen's web request end to end in headless Chromium.

On a phone (390x844): the form refuses an empty submission in words, takes
the request and answers with its number (acknowledged by email through the
notification queue); the tracking page refuses the number alone and a wrong
document with the same words, and shows the request with number + cédula.
At 1366x768: the referente finds it in the same inbox as every other ticket
and answers it (to the address the form gave); the citizen sees the answer;
then the same person calls and the phone agent's pop shows yesterday's web
request in the person's timeline and among the open requests. axe-core
checks every state of the public pages.

The call goes the real way: the simulated Asterisk places it from her number
through the FastAGI IVR into the queue, the AMI bridge tracks it and feeds the
pop hub (tests/support/pbx.py), and the agent's browser gets it over the
WebSocket.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from agent_api.catalog import Catalog, TopicInput
from agent_api.web.publico import NOT_FOUND, PublicPages
from crm_bridge.notifications import CitizenNotices
from crm_bridge.organisms import Directory, Role
from crm_bridge.responders import OutgoingMessage
from crm_bridge.tickets import TicketService
from telephony.simulator.model import CallerSpec
from tests.agent_api.conftest import PASSWORD, Panel, build_panel
from tests.agent_api.test_tickets_api import ALWAYS_OPEN
from tests.support.browser import AXE, launch, require_chromium
from tests.support.pbx import always_open_flows, simulated_pbx
from tests.support.web import served

pytestmark = pytest.mark.postgres

PHONE = {"width": 390, "height": 844}
DESK = {"width": 1366, "height": 768}
CEDULA = "1.234.567-2"


class Recorder:
    channel = "email"

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> None:
        self.sent.append(message)


@dataclass
class World:
    panel: Panel
    base: str
    mail: Recorder
    topic: str
    database_url: str


@pytest.fixture
async def world(panel_db: str) -> AsyncIterator[World]:
    require_chromium()
    mail = Recorder()
    panel = build_panel(
        panel_db,
        tickets=lambda engine: TicketService(engine, business_hours=ALWAYS_OPEN, responders=[mail]),
    )
    suffix = uuid.uuid4().hex[:6]
    directory = Directory(panel.engine)
    organism = directory.create_organism(f"O{suffix}", "Identificación Civil")
    unit = directory.create_unit(organism.id, f"U{suffix}", "Cédulas")
    directory.add_referent(unit.id, panel.users[panel.usernames[Role.REFERENTE]])
    topic = f"Renovación de cédula {suffix}"
    Catalog(panel.engine).import_topics(
        [TopicInput(f"T{suffix}", topic, organism=organism.code, unit=unit.code)]
    )
    public: PublicPages = panel.app.state.public
    public.clock = lambda: time.time() + 5  # as if the person took 5 s to fill it
    async with served(panel.app) as base:
        object.__setattr__(
            panel.app.state.services, "allowed_origins", frozenset({f"http://{base}"})
        )
        yield World(panel, base, mail, topic, panel_db)
    await panel.hub.close()
    panel.engine.dispose()


async def clean(page: Any, where: str) -> None:
    """No axe-core violation at all (any impact) on the page."""
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    found = await page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]}))
            .violations.map(v => ({id: v.id, impact: v.impact,
                                   nodes: v.nodes.map(n => n.target.join(" "))}))"""
    )
    assert found == [], (where, found)


async def fits(page: Any) -> bool:
    return bool(
        await page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


async def track(page: Any, base: str, number: str, identifier: str) -> None:
    await page.goto(f"http://{base}/seguimiento")
    await page.fill("#numero", number)
    await page.fill("#identificacion", identifier)
    await page.get_by_role("button", name="Ver la solicitud").click()
    await page.wait_for_load_state("domcontentloaded")


async def log_in(page: Any, base: str, username: str) -> None:
    await page.context.clear_cookies()
    await page.goto(f"http://{base}/ingresar")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.press("#password", "Enter")
    await page.wait_for_url(lambda url: "/ingresar" not in url)


async def test_a_web_request_from_the_form_to_the_phone_agent(world: World, tmp_path: Path) -> None:
    playwright_api = require_chromium()
    expect = playwright_api.expect
    base = f"http://{world.base}"
    async with playwright_api.async_playwright() as pw:
        browser = await launch(pw)
        try:
            phone = await browser.new_context(viewport=PHONE, locale="es-UY", is_mobile=True)
            page = await phone.new_page()
            off_origin: list[str] = []
            page.on(
                "request", lambda r: None if r.url.startswith(base) else off_origin.append(r.url)
            )

            # ---- the form, on a phone
            await page.goto(f"{base}/solicitud")
            await expect(page.locator("h1")).to_contain_text("Hacer una consulta")
            assert await fits(page)
            await clean(page, "solicitud vacía")
            await page.get_by_role("button", name="Enviar solicitud").click()
            summary = page.locator(".error-summary")
            await expect(summary).to_contain_text("Elija el trámite o servicio")
            await expect(summary).to_contain_text("debe aceptar")
            await clean(page, "solicitud con errores")
            await page.select_option("#tipo", "consulta")
            await page.select_option("#tema", label=world.topic)
            await page.fill("#descripcion", "¿Puedo renovar la cédula antes de que venza?")
            await page.fill("#nombre", "Ana")
            await page.fill("#apellido", "Pérez")
            await page.fill("#documento", CEDULA)
            await page.fill("#correo", "ana@example.org")
            await page.fill("#telefono", "099 123 456")
            await page.check("#responder_correo")
            await page.check("#acepto")
            await page.check("#guardar")
            await page.get_by_role("button", name="Enviar solicitud").click()
            number_box = page.locator("#numero-solicitud")
            await expect(number_box).to_have_text(lambda_number_pattern())
            number = (await number_box.text_content() or "").strip()
            await expect(page.locator("#acuse")).to_contain_text("correo electrónico")
            assert await fits(page)
            await clean(page, "solicitud recibida")
            # Acknowledged: the notification job sends the number to the address given.
            CitizenNotices(world.panel.engine, responders=[world.mail]).send_due()
            assert [m.destination for m in world.mail.sent] == ["ana@example.org"]
            assert number in world.mail.sent[0].body

            # ---- tracking, on a phone: never with the number alone
            await track(page, world.base, number, "")
            await expect(summary).to_contain_text("la cédula o el correo")
            await expect(page.locator("#estado")).to_have_count(0)
            await clean(page, "seguimiento sin documento")
            await track(page, world.base, number, "1.111.111-1")
            await expect(summary).to_contain_text(NOT_FOUND)
            await expect(page.locator("#estado")).to_have_count(0)
            await track(page, world.base, number, CEDULA)
            await expect(page.locator("#estado")).to_have_text("Abierta")
            await expect(page.locator("#respuestas")).to_contain_text("Todavía no hay respuestas")
            assert number not in page.url and "1234567" not in page.url
            assert await fits(page)
            await clean(page, "seguimiento abierta")

            # ---- the referente answers it from the inbox, at 1366x768
            desk = await browser.new_context(viewport=DESK, locale="es-UY")
            office = await desk.new_page()
            await log_in(office, world.base, world.panel.usernames[Role.REFERENTE])
            row = office.locator("tbody tr", has_text=number)
            await expect(row).to_contain_text(world.topic)
            await office.click(f"text={number}")
            await expect(office.locator("h1")).to_contain_text(number)
            await office.select_option("#resp-canal", "email")
            await office.fill("#resp-texto", "Sí: puede renovarla desde 60 días antes.")
            await office.get_by_role("button", name="Enviar respuesta", exact=True).click()
            await expect(office.locator(".notice")).to_have_text("Respuesta enviada.")
            assert world.mail.sent[-1].destination == "ana@example.org"

            # ---- the citizen sees the answer (desk size too)
            await track(office, world.base, number, "ana@example.org")
            await expect(office.locator("#estado")).to_have_text("Respondida")
            await expect(office.locator("#respuestas")).to_contain_text("60 días antes")
            await clean(office, "seguimiento respondida")

            # ---- a day later the same person calls: the pop shows the web request
            with world.panel.engine.begin() as conn:
                conn.execute(
                    text("UPDATE attentions SET arrived_at = arrived_at - interval '1 day'")
                )
                conn.execute(text("UPDATE tickets SET created_at = created_at - interval '1 day'"))
            agent = world.panel.usernames[Role.EJECUTIVO]
            iface = world.panel.interfaces[agent]
            await log_in(office, world.base, agent)
            await office.wait_for_selector("body[data-socket=open]")
            # She keys 1 (it is her number) and 0 (an agent): the queue rings this agent.
            async with simulated_pbx(
                world.panel.engine,
                world.database_url,
                world.panel.hub,
                always_open_flows(tmp_path),
                queues={"consultas": [(iface.removeprefix("PJSIP/"), "Ejecutivo")]},
                system_name="pbx-web",
                speed=10,
            ) as pbx:
                pbx.call(CallerSpec("099123456", "", ("1", "0"), delay=1.0, talk=900.0))
                await expect(office.locator("#persona")).to_contain_text(
                    "Ana Pérez", timeout=30_000
                )
                history = office.locator("#historial")
                await expect(history).to_contain_text("Web", timeout=30_000)
                await expect(history).to_contain_text(number)
                await expect(office.locator("#persona")).to_contain_text(world.topic)
            assert off_origin == []
        finally:
            await browser.close()


def lambda_number_pattern() -> Any:
    import re

    return re.compile(r"^\d{4}-\d{6}$")
