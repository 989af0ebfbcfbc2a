"""A fresh install walked end to end in headless Chromium at 1366x768.

Empty database → `atiende user add` admin → in the browser the admin creates
an organism, a unit, the referente and the agent, and a catalog topic → an
agent's call is wrapped up "derivada" to that topic (through the API) → the
referente finds it in /solicitudes, answers it by e-mail (a real SMTP server,
aiosmtpd) and closes it → the gerente's ticket SLA report counts it. axe-core
checks every screen on the way. The app is the panel create_app builds, with
the figures routes the composition root adds, on a real socket.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from email.message import Message
from email.parser import BytesParser
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from agent_api.auth import CSRF_HEADER
from agent_api.routes.figures import reports_router
from agent_api.web.reportes import ReportSources
from atiende.cli import main
from crm_bridge.db import make_engine
from crm_bridge.responders import LogResponder, SmtpResponder
from crm_bridge.tickets import TicketService
from telephony.domain import AgentRinging, CallKey
from tests.agent_api.conftest import served
from tests.agent_api.test_tickets_api import ALWAYS_OPEN
from tests.support.browser import axe_violations, launch, require_chromium, switch_user
from tests.support.panel import local_panel, pop_hub
from tests.support.ports import free_port

pytestmark = pytest.mark.postgres

PASSWORD = "clave-inicial-segura-1"
VIEWPORT = {"width": 1366, "height": 768}
ZONE = ALWAYS_OPEN.timezone


@pytest.fixture
def empty_db(postgres_url: str) -> Iterator[str]:
    url = make_url(postgres_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"{url.database}_fresh_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            BytesParser().parsebytes(envelope.original_content or envelope.content)
        )
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    controller_module = pytest.importorskip("aiosmtpd.controller")
    inbox, port = Inbox(), free_port()
    controller = controller_module.Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def _clean(page: Any, where: str) -> None:
    found = await axe_violations(page)
    assert found == [], (where, found)


async def test_a_fresh_install_end_to_end(
    empty_db: str, smtp: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    playwright_api = require_chromium()
    expect = playwright_api.expect
    inbox, smtp_port = smtp

    # The first admin, by the command an operator runs on an empty database.
    monkeypatch.setenv("ATIENDE_DATABASE_URL", empty_db)
    monkeypatch.setenv("ATIENDE_USER_PASSWORD", PASSWORD)
    assert main(["user", "add", "ada", "--role", "admin", "--name", "Ada Administradora"]) == 0

    engine = make_engine(empty_db)
    tickets = TicketService(
        engine,
        business_hours=ALWAYS_OPEN,
        responders=[
            LogResponder(),
            SmtpResponder("127.0.0.1", smtp_port, "atencion@example.gub.uy", timeout=5),
        ],
    )
    hub = pop_hub(engine, wrapups=True)
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    app = local_panel(engine, hub, port, tickets=tickets)
    from zoneinfo import ZoneInfo

    app.include_router(reports_router(engine, timezone=ZoneInfo(ZONE)))
    app.state.report_sources = ReportSources(engine, ZoneInfo(ZONE))

    async with served(app, port) as host, playwright_api.async_playwright() as pw:
        base = f"http://{host}"
        browser = await launch(pw)
        try:
            context = await browser.new_context(viewport=VIEWPORT, locale="es-UY")
            page = await context.new_page()
            off_origin: list[str] = []
            page.on(
                "request",
                lambda r: off_origin.append(r.url) if not r.url.startswith(base) else None,
            )

            # ---- admin: organism, unit, users, referent, topic
            await switch_user(page, base, "ada", PASSWORD)
            assert page.url == f"{base}/admin"
            await expect(page.locator("h1")).to_have_text("Administración")
            await page.fill("#org-codigo", "DNIC")
            await page.fill("#org-nombre", "Dirección Nacional de Identificación Civil")
            await page.get_by_role("button", name="Crear organismo", exact=True).click()
            await expect(page.locator(".notice")).to_have_text("Organismo DNIC creado.")
            await page.fill("#unidad-codigo", "CI")
            await page.fill("#unidad-nombre", "Cédulas de identidad")
            await page.get_by_role("button", name="Crear unidad", exact=True).click()
            await expect(page.locator(".notice")).to_have_text("Unidad CI creada.")
            # A mistake is told in words, next to what to fix.
            await page.get_by_role("button", name="Crear organismo", exact=True).click()
            await expect(page.locator(".error-summary")).to_contain_text("código del organismo")
            await _clean(page, "admin estructura")

            await page.click("nav[aria-label='Secciones de administración'] >> text=Usuarios")
            for username, name, role, iface in (
                ("rita", "Rita Referente", "referente", ""),
                ("eva", "Eva Ejecutiva", "ejecutivo", "PJSIP/4001"),
                ("gabriel", "Gabriel Gerente", "gerente", ""),
            ):
                await page.fill("#nuevo-usuario", username)
                await page.fill("#nuevo-nombre", name)
                await page.select_option("#nuevo-rol", role)
                await page.fill("#nuevo-interfaces", iface)
                await page.fill("#nuevo-clave", PASSWORD)
                await page.get_by_role("button", name="Crear usuario", exact=True).click()
                await expect(page.locator(".notice")).to_have_text(f"Usuario {username} creado.")
            await _clean(page, "admin usuarios")
            # A softphone plus a desk phone fits whole in the row's box (not submitted).
            box = page.locator("input[id^='interfaces-']").last
            await box.fill("Local/4001@agents/n PJSIP/4001")
            fits = await box.evaluate("e => e.scrollWidth <= e.clientWidth")
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth > document.documentElement.clientWidth"
            )
            spills = await page.evaluate(
                "(() => { const t = document.querySelector('#t-usuarios').parentElement;"
                " return t.querySelector('table').scrollWidth > t.clientWidth; })()"
            )
            assert fits and not overflow and not spills

            await page.click("nav[aria-label='Secciones de administración'] >> text=Estructura")
            await page.select_option("#ref-usuario", label="Rita Referente (rita)")
            await page.get_by_role("button", name="Asignar", exact=True).click()
            await expect(page.locator(".notice")).to_have_text("Referente asignado.")
            await expect(page.locator("table").first).to_contain_text("Rita Referente")
            await page.select_option("#nivel-tipo", "consulta")
            await page.fill("#nivel-horas", "8")
            await page.get_by_role("button", name="Guardar nivel", exact=True).click()
            await expect(page.locator(".notice")).to_have_text("Nivel de servicio guardado.")

            await page.click("nav[aria-label='Secciones de administración'] >> text=Catálogo")
            await page.fill("#tema-codigo", "CI-REN")
            await page.fill("#tema-nombre", "Renovación de cédula")
            await page.fill("#tema-organismo", "DNIC")
            await page.fill("#tema-unidad", "CI")
            await page.get_by_role("button", name="Guardar trámite", exact=True).click()
            await expect(page.locator(".notice")).to_have_text("Trámite CI-REN guardado.")
            await expect(page.locator("table")).to_contain_text("Renovación de cédula")
            await _clean(page, "admin catálogo")
            await page.click("nav[aria-label='Secciones de administración'] >> text=Auditoría")
            await page.select_option("#aud-accion", "admin_change")
            await page.get_by_role("button", name="Filtrar", exact=True).click()
            # The organism, the unit, three users, the referent, the level, the topic.
            await expect(page.locator("tbody tr")).to_have_count(8)
            await _clean(page, "admin auditoría")

            # ---- the agent's call, wrapped up "derivada" to that topic (API)
            key = CallKey("pbx", uuid.uuid4().hex)
            hub.publish(
                [
                    AgentRinging(
                        time.time(), key, "consultas", "PJSIP/4001", "Eva", "099123456",
                        "Ciudadana", {}, 3.0,
                    )
                ]
            )  # fmt: skip
            agent = await page.request.post(
                f"{base}/api/session",
                data={"username": "eva", "password": PASSWORD},
                headers={"origin": origin},
            )
            assert agent.ok
            csrf = {CSRF_HEADER: (await agent.json())["csrf_token"], "origin": origin}
            topics = await (await page.request.get(f"{base}/api/catalog")).json()
            topic = next(t for t in topics if t["code"] == "CI-REN")
            url = f"{base}/api/wrapups/{key.system}/{key.linkedid}"
            assert (await page.request.post(url + "/start", headers=csrf)).ok
            done = await page.request.put(
                url,
                headers=csrf,
                data={"attention_type": "consulta", "resolution": "derivada",
                      "topic_id": topic["id"], "notes": "Quiere saber si puede renovar antes."},
            )  # fmt: skip
            assert done.ok, await done.text()
            number = (await done.json())["ticket_number"]
            assert number

            # ---- the referente answers and closes it
            await switch_user(page, base, "rita", PASSWORD)
            assert page.url == f"{base}/solicitudes"
            row = page.locator("tbody tr", has_text=number)
            await expect(row).to_contain_text("En plazo")
            await expect(row).to_contain_text("Renovación de cédula")
            await _clean(page, "solicitudes")
            await page.click(f"text={number}")
            await expect(page.locator("h1")).to_contain_text(number)
            await expect(page.locator(".timeline").first).to_contain_text("Creada")
            await _clean(page, "detalle")
            await page.select_option("#resp-canal", "email")
            await page.fill("#resp-destino", "ciudadana@example.org")
            await page.fill(
                "#resp-texto", "Sí, puede renovarla desde 60 días antes del vencimiento."
            )
            await page.get_by_role("button", name="Enviar respuesta", exact=True).click()
            await expect(page.locator(".notice")).to_have_text("Respuesta enviada.")
            assert len(inbox.messages) == 1
            assert inbox.messages[0]["To"] == "ciudadana@example.org"
            await page.get_by_role(
                "button", name="Cerrar la solicitud", exact=True
            ).click()  # without a resolution: refused
            await expect(page.locator(".error-summary")).to_contain_text("resolución")
            await page.fill("#cerrar-notas", "Respondida por correo; sin más trámite.")
            await page.get_by_role("button", name="Cerrar la solicitud", exact=True).click()
            await expect(page.locator(".notice")).to_have_text("Solicitud cerrada.")
            await expect(page.locator(".timeline").first).to_contain_text("Cerrada")
            await _clean(page, "detalle cerrada")

            # ---- the gerente's report counts it, with no caller anywhere
            await switch_user(page, base, "gabriel", PASSWORD)
            assert page.url == f"{base}/reportes"
            await expect(page.locator("#sla-abiertas")).to_have_text("1")
            await expect(page.locator("#sla-en-plazo")).to_have_text("1")
            await expect(page.locator("#sla-cumplimiento")).to_have_text("100,0 %")
            await expect(page.locator("#datos-graficos")).to_have_attribute("data-drawn", "true")
            # Responsive charts sized by their parent once grew without end.
            heights = (
                "[...document.querySelectorAll('#datos-graficos canvas')]"
                ".map(c => c.getBoundingClientRect().height)"
            )
            first = await page.evaluate(heights)
            await page.wait_for_timeout(3000)
            later = await page.evaluate(heights)
            assert len(later) == 4 and later == first, (first, later)
            assert all(0 < h <= 240 for h in later), later
            content = await page.content()
            assert "099123456" not in content and "Ciudadana" not in content
            assert "ciudadana@example.org" not in content
            await _clean(page, "reportes")
            csv_link = page.locator("#plazos a", has_text="CSV")
            download = await page.request.get(base + (await csv_link.get_attribute("href") or ""))
            rows = (await download.text()).lstrip("\ufeff").splitlines()
            assert rows[0].startswith("Organismo;") and "100,0%" in rows[1]
            # Spanish labels, never the stored codes, in Temas and Canales.
            await expect(page.locator("#temas tbody td").first).to_have_text("Consulta")
            await expect(page.locator("#canales tbody td").first).to_have_text("Teléfono")
            # The Canales download groups by channel (the query escaped once, not twice).
            channel_href = await page.locator("#canales a", has_text="CSV").get_attribute("href")
            assert channel_href is not None and "amp;" not in channel_href
            assert "&agrupar=canal&" in channel_href
            by_channel = await page.request.get(base + channel_href)
            assert (await by_channel.text()).lstrip("\ufeff").startswith("Canal;")

            # ---- logout: the header's plain form (no htmx) sends its csrf field
            await page.get_by_role("button", name="Cerrar sesión").click()
            await page.wait_for_url(f"{base}/ingresar")
            await page.goto(f"{base}/reportes")
            assert page.url == f"{base}/ingresar"  # the session is gone
            assert off_origin == []
        finally:
            await browser.close()
    engine.dispose()
