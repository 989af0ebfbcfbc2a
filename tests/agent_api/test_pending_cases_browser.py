"""Pending cases in headless Chromium at 1366x768, axe-core finding nothing.

An agent sees their pending cases (due, overdue, scheduled), gets the
reminder over the workspace's socket when the server's round finds cases due,
and closes one with the response given; the supervisor sees the overdue case
escalated (no person data on their list) and closes it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from agent_api.pending_cases import PendingCases, remind_once
from agent_api.users import UserStore
from agent_api.wrapups import AttentionType, Resolution, WrapupInput, WrapupStore
from agent_api.ws import PopHub
from crm_bridge.db import make_engine
from crm_bridge.organisms import Role
from crm_bridge.persons import PersonRegistry
from telephony.domain import CallKey
from tests.agent_api.conftest import PASSWORD, fast_passwords, served
from tests.support.browser import axe_violations, launch, require_chromium, switch_user
from tests.support.panel import local_panel, pop_hub
from tests.support.ports import free_port

pytestmark = pytest.mark.postgres

VIEWPORT = {"width": 1366, "height": 768}


@dataclass
class Desk:
    app: FastAPI
    port: int
    engine: Any
    hub: PopHub
    ana: str
    sara: str
    due: CallKey
    overdue: CallKey


def _case(engine: Any, user_id: int, person_id: int, at: datetime, contact: str) -> CallKey:
    key = CallKey("pbx-seg", uuid.uuid4().hex)
    # Written as if an hour before `at`: the follow-up time was in the future then.
    store = WrapupStore(engine, clock=lambda: at - timedelta(hours=1))
    store.start(key, user_id, at - timedelta(hours=1))
    store.finish(
        key,
        user_id,
        WrapupInput(
            AttentionType.RECLAMO,
            Resolution.PENDIENTE,
            notes="Averiguar el pago de la pensión",
            follow_up_at=at,
            person_id=person_id,
            follow_up_contact=contact,
        ),
    )
    return key


def _desk(db: str) -> Desk:
    engine = make_engine(db)
    users = UserStore(engine, fast_passwords())
    suffix = uuid.uuid4().hex[:5]
    sara = users.create(f"sara{suffix}", "Sara Supervisora", Role.SUPERVISOR, PASSWORD, [])
    ana = users.create(f"ana{suffix}", "Ana Agente", Role.EJECUTIVO, PASSWORD, [f"PJSIP/4{suffix}"])
    registry = PersonRegistry(engine)
    lucia = registry.register(
        given_names="Lucía",
        family_names="Fernández",
        consents=["identificacion", "contacto"],
        phones=["099123456"],
        emails=["lucia@example.org"],
    ).id
    now = datetime.now(UTC)
    due = _case(engine, ana.id, lucia, now - timedelta(minutes=10), "099123456")
    overdue = _case(engine, ana.id, lucia, now - timedelta(hours=6), "lucia@example.org")
    _case(engine, ana.id, lucia, now + timedelta(days=1), "099123456")
    hub = pop_hub(engine)
    port = free_port()
    app = local_panel(engine, hub, port, pending_cases=PendingCases(engine))
    hub.set_interfaces(users.interface_map())
    return Desk(app, port, engine, hub, ana.username, sara.username, due, overdue)


@pytest.fixture
def desk(panel_db: str) -> Iterator[Desk]:
    built = _desk(panel_db)
    try:
        yield built
    finally:
        built.engine.dispose()


async def test_pending_cases_come_back_to_the_agent_and_the_supervisor(desk: Desk) -> None:
    playwright_api = require_chromium()
    expect = playwright_api.expect
    async with served(desk.app, desk.port) as host, playwright_api.async_playwright() as pw:
        base = f"http://{host}"
        browser = await launch(pw)
        try:
            page = await (await browser.new_context(viewport=VIEWPORT, locale="es-UY")).new_page()
            await switch_user(page, base, desk.ana, PASSWORD)
            assert page.url == f"{base}/agente"
            await page.wait_for_selector("body[data-socket=open]")
            worklist = page.locator("#seguimientos")
            await expect(worklist).to_contain_text("Casos pendientes (3)")
            await expect(worklist).to_contain_text("Tiene 2 caso(s) para retomar hoy.")
            await expect(worklist).to_contain_text("Vencido")
            await expect(worklist).to_contain_text("Para retomar")
            await expect(worklist).to_contain_text("Programado")
            await expect(worklist).to_contain_text("lucia@example.org")
            assert (await axe_violations(page)) == []

            # The server's round: the due case reminds Ana on her socket, the
            # overdue one is escalated to the supervisors.
            cases = desk.app.state.pending_cases
            assert await asyncio.to_thread(remind_once, cases, desk.hub) == (2, 1)
            await expect(worklist.get_by_role("alert")).to_contain_text(
                "Recordatorio: llegó la hora de retomar casos pendientes."
            )
            assert (await axe_violations(page)) == []

            # Closing the due case with the response given to the person.
            item = worklist.locator("li", has_text="Para retomar")
            await item.get_by_label("Respuesta dada a la persona").fill(
                "Se le informó que el pago sale el día 5."
            )
            await item.get_by_role("button", name="Cerrar caso").click()
            await expect(worklist).to_contain_text("Caso cerrado con su respuesta.")
            await expect(worklist).to_contain_text("Casos pendientes (2)")
            await expect(worklist.locator("li", has_text="Para retomar")).to_have_count(0)
            assert (await axe_violations(page)) == []

            # The supervisor: the overdue case, escalated; no person data shown.
            await switch_user(page, base, desk.sara, PASSWORD)
            assert page.url == f"{base}/supervision"
            listed = page.locator("#seguimientos")
            await expect(listed).to_contain_text("Casos pendientes para retomar (1)")
            await expect(listed).to_contain_text("Escalado")
            await expect(listed).to_contain_text("Ana Agente")
            assert "Lucía" not in await listed.inner_text()
            assert (await axe_violations(page)) == []
            await listed.get_by_label("Respuesta dada a la persona", exact=False).fill(
                "La llamé: el trámite quedó resuelto."
            )
            await listed.get_by_role("button", name="Cerrar").click()
            await expect(listed).to_contain_text("Caso cerrado con su respuesta.")
            await expect(listed).to_contain_text("Ningún caso pendiente para retomar.")
            assert (await axe_violations(page)) == []
        finally:
            await browser.close()
    left = PendingCases(desk.engine).open_cases()
    assert desk.due not in {c.call for c in left} and desk.overdue not in {c.call for c in left}
