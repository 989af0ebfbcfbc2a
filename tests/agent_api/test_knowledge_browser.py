"""The knowledge panel of /agente in headless Chromium at 1366×768, axe-core on every state.

During a call the agent types "cedula" (no accent): the trámites appear as
the agent types, "Cédula de identidad" first with its requisitos; the agent
makes it the wrap-up's topic, links the caller and sends the information by
email ("difundir") through the configured responder.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import pytest

from agent_api.users import UserStore
from agent_api.workspace import CallId
from crm_bridge.db import make_engine
from crm_bridge.knowledge import KnowledgeBase
from crm_bridge.knowledge_import import parse_own, parse_tramites_gub
from crm_bridge.organisms import Role
from crm_bridge.persons import PersonRegistry
from telephony.domain import AgentRinging, CallAnswered, CallKey
from tests.agent_api.conftest import PASSWORD, fast_passwords, served
from tests.agent_api.test_knowledge_web import KeptResponder
from tests.agent_api.test_walkin_browser import Centre
from tests.agent_api.test_walkin_browser import centre as centre  # the walk-in centre fixture
from tests.support.browser import VIEWPORT, axe_violations, launch, log_in_page, require_chromium
from tests.support.panel import allow_origin, local_panel, pop_hub

pytestmark = pytest.mark.postgres

DATA = Path(__file__).parents[1] / "crm_bridge" / "data"
SHOTS = Path(os.environ.get("ATIENDE_SCREENSHOTS", "/tmp/atiende-workspace-shots"))


async def test_the_agent_reads_and_sends_a_tramite_during_the_call(panel_db: str) -> None:
    playwright_api = require_chromium()
    expect = playwright_api.expect
    engine = make_engine(panel_db)
    suffix = uuid.uuid4().hex[:6]
    iface = f"PJSIP/kb{suffix}"
    users = UserStore(engine, fast_passwords())
    agent = users.create(f"kb{suffix}", "Ana Gómez", Role.EJECUTIVO, PASSWORD, [iface])
    kb = KnowledgeBase(engine)
    kb.upsert(parse_tramites_gub((DATA / "tramites_gub.csv").read_bytes(), "tramites_gub.csv"))
    kb.upsert(parse_own((DATA / "propio.yaml").read_bytes(), "propio.yaml"))
    registry = PersonRegistry(engine)
    number = "099" + f"{uuid.uuid4().int % 1_000_000:06d}"
    registry.register(
        given_names="Lucía",
        family_names="Rodríguez",
        consents=["identificacion", "contacto"],
        phones=[number],
        emails=["lucia.rodriguez@example.com.uy"],
    )
    hub = pop_hub(engine, wrapups=True)
    mail = KeptResponder()
    app = local_panel(engine, hub, responders=[mail])
    key = CallKey("pbx-kb", f"kb-{suffix}.1")
    dom = CallId(key.system, key.linkedid).dom_id
    async with served(app) as base, playwright_api.async_playwright() as pw:
        allow_origin(app, base)
        hub.set_interfaces(users.interface_map())
        browser = await launch(pw)
        try:
            page = await browser.new_page(viewport=VIEWPORT, locale="es-UY")
            await log_in_page(page, base, agent.username, PASSWORD)
            await page.wait_for_selector("body[data-socket=open]")
            panel = page.locator("#conocimiento")
            toggle = page.locator("#abrir-tramites")
            await expect(panel).to_be_hidden()  # closed, it takes no room
            await expect(toggle).to_have_attribute("aria-expanded", "false")
            assert await axe_violations(page) == []

            now = time.time()
            hub.publish(
                [
                    AgentRinging(now, key, "consultas", iface, "Ana Gómez", number, "", {}, 5.0),
                    CallAnswered(now + 1, key, "consultas", iface, "Ana Gómez", 5.0),
                ]
            )
            await expect(page.locator("#persona")).to_contain_text("Lucía Rodríguez")

            # Alt+T opens the panel on its search box; typed without the
            # accent, found as the agent types (no Enter).
            await page.keyboard.press("Alt+t")
            await expect(panel).to_be_visible()
            await expect(page.locator("#buscar-tramite")).to_be_focused()
            await expect(toggle).to_have_attribute("aria-expanded", "true")
            await page.keyboard.type("cedula", delay=30)
            results = page.locator("#conocimiento-resultados .tramite")
            await expect(results).to_have_count(3)
            first = results.first
            await expect(first.locator("summary")).to_contain_text("Cédula de identidad")
            await expect(first).to_contain_text("Partida de nacimiento si es la primera vez.")
            await expect(first.get_by_role("link")).to_have_attribute(
                "href", "https://www.gub.uy/tramites/cedula-identidad"
            )
            await expect(results.nth(1).locator("summary")).to_contain_text("Agenda para la DNIC")
            # The search box and the first trámite are on screen at 1366×768,
            # without scrolling the page.
            for locator in (page.locator("#buscar-tramite"), first.locator("summary")):
                box = await locator.bounding_box()
                assert box is not None and 0 <= box["y"] <= VIEWPORT["height"] - box["height"]
            assert await page.evaluate("window.scrollY") == 0
            assert await axe_violations(page) == []
            await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
            await page.screenshot(path=str(SHOTS / "knowledge-open-1366x768.png"))

            # It becomes the wrap-up's topic; the caller is linked; the info is sent.
            await first.get_by_role(
                "button", name="Usar «Cédula de identidad» en el cierre"
            ).click()
            topic_value = await page.locator(f"#tema-{dom}").input_value()
            assert topic_value != ""
            # Escape closes the panel and gives the focus back to its button.
            await page.locator("#buscar-tramite").focus()
            await page.keyboard.press("Escape")
            await expect(panel).to_be_hidden()
            await expect(toggle).to_be_focused()
            await page.locator("#persona").get_by_role("button", name="Usar en el cierre").click()
            await (
                page.locator(f"#cierre-{dom}")
                .get_by_role("button", name="Enviar info del trámite")
                .click()
            )
            choices = page.locator(f"#difundir-{dom}")
            await expect(choices).to_contain_text("l***@example.com.uy")
            assert await axe_violations(page) == []
            await choices.get_by_role("button", name="Enviar información").click()
            await expect(choices).to_contain_text("enviada por correo electrónico")
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "knowledge-sent-1366x768.png"))
        finally:
            await browser.close()
            await hub.close()
    engine.dispose()
    (message,) = mail.sent
    assert message.destination == "lucia.rodriguez@example.com.uy"
    assert message.subject == "Información sobre Cédula de identidad"
    assert "https://www.gub.uy/tramites/cedula-identidad" in message.body


async def test_the_walk_in_desk_has_the_same_panel(centre: Centre) -> None:
    """At the desk (/puesto), the ejecutivo serving a walk-in reads the same knowledge base."""
    playwright_api = require_chromium()
    expect = playwright_api.expect
    KnowledgeBase(centre.engine).upsert(
        parse_tramites_gub((DATA / "tramites_gub.csv").read_bytes(), "tramites_gub.csv")
    )
    async with playwright_api.async_playwright() as pw:
        browser = await launch(pw)
        try:
            desk = await browser.new_page(viewport=VIEWPORT, locale="es-UY")
            await log_in_page(desk, centre.base, centre.desk_user, PASSWORD)
            await desk.goto(f"http://{centre.base}/puesto")
            await desk.click("#tomar-puesto")
            await desk.wait_for_selector("#llamar-siguiente")
            await expect(desk.locator("#conocimiento")).to_be_hidden()
            await desk.locator("#abrir-tramites").click()
            await expect(desk.locator("#buscar-tramite")).to_be_focused()
            await desk.keyboard.type("pasaporte", delay=30)
            first = desk.locator("#conocimiento-resultados .tramite").first
            await expect(first.locator("summary")).to_contain_text("Solicitud de Pasaporte")
            await expect(first).to_contain_text("Cédula de identidad vigente.")
            assert await axe_violations(desk) == []
            await desk.keyboard.press("Escape")
            await expect(desk.locator("#conocimiento")).to_be_hidden()
        finally:
            await browser.close()
