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

from agent_api.app import create_app
from agent_api.audit import AuditLog
from agent_api.catalog import Catalog, TopicInput
from agent_api.pop_lookup import StorePopLookup
from agent_api.testing import RecordingControls
from agent_api.users import UserStore
from agent_api.wrapups import WrapupStore
from agent_api.ws import PopHub
from atiende.settings import AmiSettings, Settings
from atiende.wiring import build_bridge
from crm_bridge.db import make_engine, session_factory
from crm_bridge.history import PersonHistory
from crm_bridge.models import Attention, AttentionWrapup
from crm_bridge.organisms import Role
from crm_bridge.persons import PersonRegistry
from telephony.ami.testing import AmiTestServer
from telephony.domain import AgentState, AgentStateChanged
from tests.agent_api.conftest import PASSWORD, SECRET, fast_passwords, served
from tests.support.browser import CHROMIUM, CHROMIUM_INSTALLED, axe_violations
from tests.support.ports import free_port
from tests.support.queue_log import parse_queue_log

pytestmark = pytest.mark.postgres

AMI_SECRET = "browser-secret"
XSS = "<img src=x onerror=alert(1)>"
RECORDED_NAME = "Ciudadana Pérez 1".encode()


async def test_replayed_call_pops_and_is_wrapped_up(recordings: Path, panel_db: str) -> None:
    if not CHROMIUM_INSTALLED:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    playwright_api = pytest.importorskip("playwright.async_api")
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
    hub = PopHub(
        StorePopLookup(engine, registry, PersonHistory(engine), AuditLog(engine)),
        on_wrapup_due=WrapupStore(engine).start,
    )
    port = free_port()
    controls = RecordingControls()
    app = create_app(
        engine=engine,
        hub=hub,
        controls=controls,
        agents_snapshot=list,
        secret_key=SECRET,
        allowed_origins=[f"http://127.0.0.1:{port}"],
        cookie_secure=False,
        passwords=fast_passwords(),
        # "Today" is the day the recording was made.
        clock=lambda: datetime.fromtimestamp(call.legs[-1].entered_at + 60, UTC),
    )
    capture = (recordings / "answered.ami").read_bytes().replace(RECORDED_NAME, XSS.encode())
    dialogs: list[str] = []

    async with served(app, port) as base, playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
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
            await page.wait_for_selector("#panel:not([hidden])")
            await expect(page.locator("#connection")).to_have_text("Conectado")

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
                    await page.wait_for_selector("#wrapup-section:not([hidden])", timeout=10_000)
                    await expect(page.locator("#pop-status")).to_contain_text("finalizada")
                finally:
                    await service.stop()

            # The caller's name is text, not markup.
            assert await page.text_content("#pop-caller-name") == XSS
            assert await page.locator("#pop img").count() == 0
            assert await page.text_content("#pop-caller-number") == call.caller_number
            assert await page.text_content("#pop-queue") == "consultas"
            # The digit the IVR read (answered.agi: GET DATA answered with result=N).
            digits = re.findall(
                r"> GET DATA [^\n]*\n< 200 result=(\d+)",
                (recordings / "answered.agi").read_text(encoding="utf-8"),
            )
            assert await page.text_content("#pop-ivr") == " › ".join(digits)
            assert "no registrada" in (await page.text_content("#person-status") or "")
            assert await axe_violations(page) == []

            # Unknown caller: the agent registers her from the pop, with consent.
            await page.fill("#reg-given", "Carmen")
            await page.fill("#reg-family", "Rodríguez")
            await page.check("#reg-consent-contact")
            await page.click("#register-form button[type=submit]")
            await expect(page.locator("#person-name")).to_have_text("Carmen Rodríguez")
            await expect(page.locator("#person-phones")).to_have_text(
                "+598" + call.caller_number[1:]
            )

            # Pause: the request alone changes nothing on screen; the AMI event does.
            shown = await page.text_content("#agent-state")
            await page.select_option("#pause-reason", "Almuerzo")
            await page.click("#pause-form button[type=submit]")
            await expect(page.locator("#control-message")).to_contain_text("solicitada")
            assert await page.text_content("#agent-state") == shown
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
            await expect(page.locator("#agent-state")).to_have_text("en pausa")
            await expect(page.locator("#agent-reason")).to_have_text("(Almuerzo)")

            await page.select_option("#wrapup-type", "consulta")
            await page.select_option("#wrapup-topic", label="Cédula de identidad")
            await page.fill("#wrapup-notes", "Consultó requisitos de renovación")
            await page.check("input[name=resolution][value=resuelta]")
            await page.click("#wrapup-form button[type=submit]")
            await expect(page.locator("#wrapup-message")).to_contain_text("Cierre registrado")
            await page.click("#calls-refresh")
            await expect(page.locator("#calls-body")).to_contain_text("resuelta")
            await expect(page.locator("#pending-wrapups")).to_have_text(
                "Todas sus atenciones de hoy tienen cierre."
            )
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
