"""SLA alerts in headless Chromium: a supervisor logged in through the login
page lands on their home and sees the wallboard's alert for a caller waiting past
the limit and can dismiss it with the keyboard; an ejecutivo's page never opens
the socket; axe-core finds no serious or critical problem on the supervisor's page."""

from __future__ import annotations

from typing import Any

import pytest

from agent_api.routes.figures import add_wallboard
from agent_api.users import UserStore
from crm_bridge.db import make_engine
from crm_bridge.organisms import Role
from tests.agent_api.conftest import PASSWORD, fast_passwords, served
from tests.dashboards.test_wallboard import busy_board
from tests.support.browser import axe_violations, launch, log_in_page, require_chromium
from tests.support.panel import local_panel, pop_hub
from tests.support.ports import free_port

pytestmark = pytest.mark.postgres


async def _log_in(page: Any, base: str, username: str) -> None:
    await log_in_page(page, base, username, PASSWORD)


async def test_panel_shows_sla_alerts_to_supervisors_only(browser_db: str) -> None:
    playwright_api = require_chromium()
    expect = playwright_api.expect

    engine = make_engine(browser_db)
    users = UserStore(engine, fast_passwords())
    users.create("supervisora", "Sara", Role.SUPERVISOR, PASSWORD, [])
    users.create("ana", "Ana", Role.EJECUTIVO, PASSWORD, ["Local/4001@agents/n"])
    port = free_port()
    app = local_panel(engine, pop_hub(engine), port)
    # consultas: three callers queued; the third has waited 40 s, past the
    # default limit, and only one of the two answered was within the SL threshold.
    add_wallboard(app, busy_board()[0])

    async with served(app, port) as base, playwright_api.async_playwright() as pw:
        browser = await launch(pw)
        try:
            page = await browser.new_page(locale="es-UY")
            sockets: list[str] = []
            page.on("websocket", lambda ws: sockets.append(ws.url))
            await _log_in(page, base, "supervisora")
            region = page.get_by_role("region", name="Alertas de nivel de servicio")
            await expect(region).to_be_visible()
            assert await page.get_attribute("#alerts-list", "aria-live") == "polite"
            items = page.locator("#alerts-list li")
            await expect(items).to_have_count(2)
            await expect(page.locator("#alerts-list")).to_contain_text("espera hace 40 s")
            assert any(url.endswith("/ws/wallboard") for url in sockets)
            assert await axe_violations(page) == []

            # Dismiss the waiting-caller alert with the keyboard only.
            wait_item = items.filter(has_text="espera hace")
            await wait_item.get_by_role("button").focus()
            await page.keyboard.press("Enter")
            await expect(items).to_have_count(1)
            await expect(page.locator("#alerts-list")).not_to_contain_text("espera hace")

            # A refused socket is not retried in a loop (reconexion.js): the
            # page says so and offers Reconectar, which connects when asked.
            refusing = True

            async def refuse_until_asked(ws: Any) -> None:
                if refusing:
                    await ws.close(code=1008)
                else:
                    ws.connect_to_server()

            second = await browser.new_page(locale="es-UY")
            await second.route_web_socket("**/ws/wallboard", refuse_until_asked)
            await _log_in(second, base, "supervisora")
            status = second.locator("#alerts-status")
            await expect(status).to_contain_text("Sin conexión con las alertas.")
            assert await axe_violations(second) == []
            refusing = False
            await status.get_by_role("button", name="Reconectar").click()
            await expect(status).to_have_text("")
            await expect(second.locator("#alerts-list")).to_contain_text("espera hace 40 s")

            agent = await browser.new_page(locale="es-UY")
            agent_sockets: list[str] = []
            agent.on("websocket", lambda ws: agent_sockets.append(ws.url))
            refusing = True
            await agent.route_web_socket("**/ws/agente", refuse_until_asked)
            await _log_in(agent, base, "ana")
            connection = agent.locator("#conexion")
            await expect(connection).to_contain_text("Sin conexión con el servidor.")
            refusing = False
            await connection.get_by_role("button", name="Reconectar").click()
            await expect(agent.locator("#conexion")).to_have_text("Conectado")
            await expect(agent.locator("#alerts-section")).to_be_hidden()
            await expect(agent.locator("#alerts-list li")).to_have_count(0)
            assert agent_sockets and not any("/ws/wallboard" in u for u in agent_sockets)
        finally:
            await browser.close()
    engine.dispose()
