"""The callback offer in headless Chromium at 1366x768: an available agent is
offered the next callback of their queue (the person's name, the reason, the
number masked), accepts it with the keyboard and Atiende originates it from
their phone with the callback variables; the supervisor sees the backlog.
axe-core finds nothing on either screen."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from agent_api.audit import AuditLog
from agent_api.callbacks import CallbackDesk
from agent_api.users import UserStore
from crm_bridge.callback_rules import CallbackPolicy
from crm_bridge.callbacks import CallbackQueue
from crm_bridge.db import make_engine, session_factory
from crm_bridge.ivr_services import StoreIvrServices
from crm_bridge.models import Attention
from crm_bridge.organisms import Role
from crm_bridge.persons import ConsentCategory, PersonRegistry
from telephony.agents import AgentSnapshot
from telephony.domain import AgentState, CallKey
from tests.agent_api.conftest import PASSWORD, fast_passwords, served
from tests.support.browser import VIEWPORT, axe_violations, launch, log_in_page, require_chromium
from tests.support.panel import local_panel, pop_hub
from tests.support.ports import free_port

pytestmark = pytest.mark.postgres


class Dialer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def originate_callback(
        self,
        interface: str,
        number: str,
        *,
        context: str,
        caller_id: str,
        variables: dict[str, str],
    ) -> None:
        self.calls.append(
            (interface, number, {"context": context, "caller_id": caller_id, **variables})
        )


async def test_agent_accepts_the_offered_callback(panel_db: str) -> None:
    playwright_api = require_chromium()
    expect = playwright_api.expect
    engine = make_engine(panel_db)
    users = UserStore(engine, fast_passwords())
    users.create("rita", "Rita Núñez", Role.EJECUTIVO, PASSWORD, ["PJSIP/4002"])
    users.create("sara", "Sara Supervisora", Role.SUPERVISOR, PASSWORD, ["PJSIP/4090"])
    registry = PersonRegistry(engine)
    person = registry.register(
        given_names="María", family_names="Rodríguez", consents=[ConsentCategory.IDENTIFICATION]
    )
    ivr = StoreIvrServices(engine, system="pbx")
    await ivr.request_callback("1795400000.7", "099123456", "consultas")
    # The IVR had identified her on the call that asked for the callback.
    with session_factory(engine).begin() as session:
        session.add(
            Attention(
                system="pbx",
                linkedid="1795400000.7",
                channel="telefonico",
                caller_number_raw="099123456",
                caller_number="+59899123456",
                caller_name="",
                arrived_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20),
                ivr_path=[],
                queues=[],
                agents=[],
                legs=[],
                outcome="ivr_completed",
                hangup_side="caller",
                variables={},
                person_id=person.id,
            )
        )
    snapshots = [
        AgentSnapshot(
            "PJSIP/4002", "Rita Núñez", ("consultas",), AgentState.AVAILABLE, time.time(), None
        )
    ]
    dialer = Dialer()
    worklist = CallbackQueue(engine, policy=CallbackPolicy())
    audit = AuditLog(engine)
    port = free_port()
    app = local_panel(
        engine,
        pop_hub(engine),
        port,
        agents_snapshot=lambda: snapshots,
        queue_names=["consultas", "reclamos"],
        callbacks=lambda audit: CallbackDesk(
            worklist,
            dialer,
            lambda: snapshots,
            engine,
            audit,
            context="atiende-callback",
            caller_id='"Atencion Ciudadana" <08001234>',
        ),
    )
    async with served(app, port) as base, playwright_api.async_playwright() as pw:
        browser = await launch(pw)
        try:
            page = await browser.new_page(viewport=VIEWPORT, locale="es-UY")
            await log_in_page(page, base, "rita", PASSWORD)
            await page.wait_for_url("**/agente")
            offer = page.locator("#devolucion")
            await expect(offer).to_contain_text("María Rodríguez", timeout=10_000)
            await expect(offer).to_contain_text("consultas")
            await expect(offer).to_contain_text("Pedida en el menú telefónico")
            await expect(offer).not_to_contain_text("099123456")
            await expect(offer).to_contain_text("456")
            assert await axe_violations(page) == []
            button = offer.get_by_role("button", name="Llamar ahora")
            await button.focus()
            await page.keyboard.press("Enter")
            await expect(offer).to_contain_text("Llamando", timeout=10_000)
            await expect(offer).to_contain_text("099 123 456")
            assert await axe_violations(page) == []
            assert len(dialer.calls) == 1
            interface, number, extra = dialer.calls[0]
            assert (interface, number) == ("PJSIP/4002", "099123456")
            assert extra["ATIENDE_DIRECTION"] == "outbound"
            assert extra["ATIENDE_CALLBACK_OF"] == "1795400000.7"
            assert extra["context"] == "atiende-callback"
            # The schedule form opens in place (no call of hers is open for wrap-up here).
            await page.locator("#agendar-devolucion summary").click()
            await expect(page.locator("#agendar-cuerpo")).to_contain_text(
                "No tiene llamadas atendidas pendientes de cierre"
            )
            assert await axe_violations(page) == []
            # Held for Rita: nobody else is offered it meanwhile.
            assert worklist.next_for(["consultas"]) is None
            # Showing the name was a read of a person, audited with its reason.
            reads = audit.query(person_id=person.id, action="callback_offer")
            assert [r.call for r in reads] == [CallKey("pbx", "1795400000.7")]

            supervisor = await browser.new_page(viewport=VIEWPORT, locale="es-UY")
            await log_in_page(supervisor, base, "sara", PASSWORD)
            await supervisor.goto(f"http://{base}/supervision")
            table = supervisor.locator("#tabla-devoluciones")
            await expect(table).to_contain_text("consultas")
            row = table.locator("tr", has_text="consultas")
            await expect(row.locator("td").nth(1)).to_have_text("1")  # pending
            await expect(row.locator("td").nth(3)).to_have_text("1")  # being called
            await expect(supervisor.locator("#t-devoluciones")).to_be_visible()
            # The supervisor sees figures, never the person or the number.
            await expect(table).not_to_contain_text("María")
            await expect(table).not_to_contain_text("456")
            assert await axe_violations(supervisor) == []
        finally:
            await browser.close()
    engine.dispose()
