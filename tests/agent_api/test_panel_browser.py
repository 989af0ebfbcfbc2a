"""The panel in headless Chromium: a recorded call pops, the agent wraps it up.

A real bridge (atiende.wiring.build_bridge with the pop hub as extra sink)
reads answered.ami from the test AMI server, with the caller's name replaced
by markup; the page must show it as text. The expected agent and call come
from answered.queue_log, Asterisk's own record of the same call. axe-core
(vendored, tests/agent_api/vendor) checks the page for accessibility.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from agent_api.catalog import Catalog, TopicInput
from agent_api.testing import RecordingControls
from agent_api.users import UserStore
from agent_api.web.formatting import phone
from agent_api.workspace import CallId, dedupe_path
from atiende.settings import AmiSettings, Settings
from atiende.wiring import build_bridge
from crm_bridge.db import make_engine, session_factory
from crm_bridge.models import Attention, AttentionWrapup
from crm_bridge.organisms import Role
from crm_bridge.persons import PersonRegistry
from telephony.ami.testing import AmiTestServer
from telephony.domain import AgentState, AgentStateChanged
from tests.agent_api.conftest import PASSWORD, fast_passwords, served
from tests.support.browser import axe_violations, launch, require_chromium
from tests.support.panel import local_panel, pop_hub
from tests.support.ports import free_port
from tests.support.queue_log import parse_queue_log

pytestmark = pytest.mark.postgres

AMI_SECRET = "browser-secret"
XSS = "<img src=x onerror=alert(1)>"
RECORDED_NAME = "Ciudadana Pérez 1".encode()


async def test_replayed_call_pops_and_is_wrapped_up(recordings: Path, panel_db: str) -> None:
    playwright_api = require_chromium()
    expect = playwright_api.expect

    expected = parse_queue_log(recordings / "answered.queue_log").calls
    ((linkedid, call),) = expected.items()
    agent_name = call.legs[-1].agent
    assert agent_name == "Ana Gómez"

    engine = make_engine(panel_db)
    users = UserStore(engine, fast_passwords())
    ana = users.create("ana", agent_name, Role.EJECUTIVO, PASSWORD, ["Local/4001@agents/n"])
    Catalog(engine).import_topics([TopicInput("doc-cedula", "Cédula de identidad")])
    registry = PersonRegistry(engine)
    hub = pop_hub(engine, wrapups=True)
    port = free_port()
    controls = RecordingControls()
    app = local_panel(
        engine,
        hub,
        port,
        controls=controls,
        # "Today" is the day the recording was made.
        clock=lambda: datetime.fromtimestamp(call.legs[-1].entered_at + 60, UTC),
    )
    capture = (recordings / "answered.ami").read_bytes().replace(RECORDED_NAME, XSS.encode())
    dialogs: list[str] = []

    async with served(app, port) as base, playwright_api.async_playwright() as pw:
        browser = await launch(pw)
        try:
            page = await browser.new_page(locale="es-UY")
            page.on(
                "dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss()))
            )
            await page.goto(f"http://{base}/")
            assert await axe_violations(page) == []

            # Keyboard only: the username field, Tab, password, Enter.
            await page.focus("#username")
            await page.keyboard.type("ana")
            await page.keyboard.press("Tab")
            await page.keyboard.type(PASSWORD)
            await page.keyboard.press("Enter")
            await page.wait_for_url("**/agente")
            await expect(page.locator("#conexion")).to_have_text("Conectado")

            async with AmiTestServer(capture, secret=AMI_SECRET) as ami:
                settings = Settings(
                    database_url=panel_db,
                    ami=AmiSettings(
                        host="127.0.0.1",
                        port=ami.port,
                        username="atiende",
                        secret=AMI_SECRET,
                        system_name="pbx-browser",
                        reconnect_min=0.05,
                        reconnect_max=0.2,
                    ),
                )
                service = build_bridge(settings, extra_sinks=[hub])
                hub.record_of = service.tracker.record_of
                await service.start()
                try:
                    await asyncio.wait_for(ami.replayed(), timeout=30)
                    await asyncio.wait_for(service.caught_up(), timeout=30)
                    await expect(page.locator("#llamada")).to_contain_text(
                        "Llamada finalizada", timeout=10_000
                    )
                finally:
                    await service.stop()

            # The caller's name is text, not markup; the number in the one format.
            card = page.locator("#llamada")
            await expect(card).to_contain_text(XSS)
            assert await page.locator("#llamada img").count() == 0
            await expect(card).to_contain_text(phone(call.caller_number))
            await expect(card).to_contain_text("consultas")
            # The digits the IVR read (answered.agi: GET DATA answered with result=N),
            # each step once.
            digits = re.findall(
                r"> GET DATA [^\n]*\n< 200 result=(\d+)",
                (recordings / "answered.agi").read_text(encoding="utf-8"),
            )
            await expect(card).to_contain_text(" › ".join(dedupe_path(digits)))
            await expect(page.locator("#persona")).to_contain_text("no registrada")
            form = page.locator(f"#cierre-{CallId('pbx-browser', linkedid).dom_id}")
            await expect(form).to_be_visible()
            assert await axe_violations(page) == []

            # Unknown caller: the agent registers her from the call, with consent.
            await page.get_by_role("button", name="Registrar persona").click()
            await page.fill("#nueva-nombres", "Carmen")
            await page.fill("#nueva-apellidos", "Rodríguez")
            await page.fill("#nueva-telefono", call.caller_number)
            await page.check("input[name=consents][value=contacto]")
            await page.get_by_role("button", name="Registrar", exact=True).click()
            await expect(page.locator("#ficha-nombre")).to_have_text("Carmen Rodríguez")
            await expect(page.locator("#persona-detalle")).to_contain_text(
                phone(call.caller_number)
            )
            await page.get_by_role("button", name="Usar en el cierre").click()
            await expect(form.locator(".linked-person")).to_have_text("Carmen Rodríguez")

            # Pause: the request alone changes nothing on screen; the AMI event does.
            shown = await page.text_content("#estado .state strong")
            await page.select_option("#pausa-motivo", "Almuerzo")
            await page.click("#pausar")
            await expect(page.locator("#estado")).to_contain_text(
                "Pausa: pendiente de confirmación"
            )
            assert await page.text_content("#estado .state strong") == shown
            assert controls.calls[-1] == ("pause", "Local/4001@agents/n", "Almuerzo")
            hub.publish(
                [
                    AgentStateChanged(
                        time.time(),
                        "pbx-browser",
                        "Local/4001@agents/n",
                        agent_name,
                        AgentState.PAUSED,
                        "Almuerzo",
                        None,
                        None,
                    )
                ]
            )
            await expect(page.locator("#estado .state")).to_contain_text("En pausa (Almuerzo)")

            dom = CallId("pbx-browser", linkedid).dom_id
            await page.select_option(f"#tipo-{dom}", "consulta")
            await page.select_option(f"#tema-{dom}", label="Cédula de identidad")
            await page.fill(f"#notas-{dom}", "Consultó requisitos de renovación")
            await page.check(f"#cierre-{dom} input[name=resolution][value=resuelta]")
            await page.click(f"#cierre-{dom} button[type=submit]")
            await expect(page.locator(f"#cierre-{dom}.saved")).to_contain_text("Cierre registrado")
            await expect(page.locator("#pendientes")).to_contain_text(
                "Todas sus atenciones tienen cierre."
            )
            assert await axe_violations(page) == []
        finally:
            await browser.close()

    assert dialogs == []
    with session_factory(engine)() as session:
        wrapup = session.scalars(
            select(AttentionWrapup).where(AttentionWrapup.linkedid == linkedid)
        ).one()
        attention = session.scalars(select(Attention).where(Attention.linkedid == linkedid)).one()
    assert wrapup.system == "pbx-browser"
    assert wrapup.agent_user_id == ana.id
    assert (wrapup.attention_type, wrapup.resolution) == ("consulta", "resuelta")
    assert wrapup.notes == "Consultó requisitos de renovación"
    assert wrapup.topic_id is not None
    carmen = registry.search_by_name("carmen rodriguez")
    assert [p.id for p in carmen] == [wrapup.person_id]
    assert attention.person_id == wrapup.person_id
    assert wrapup.wrapup_ended_at is not None
    assert wrapup.wrapup_ended_at >= wrapup.wrapup_started_at
    assert attention.agent == agent_name and attention.caller_name == XSS
    await hub.close()
    engine.dispose()
