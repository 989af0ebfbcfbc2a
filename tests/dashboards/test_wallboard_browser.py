"""The wallboard page in headless Chromium: a supervisor's session, the tiles
and alerts as the socket pushes them, and axe-core (vendored with the
panel's tests) finding no serious or critical accessibility problem."""

from __future__ import annotations

import pytest

from agent_api.routes.figures import add_wallboard
from agent_api.users import UserStore
from crm_bridge.db import make_engine
from crm_bridge.organisms import Role
from tests.agent_api.conftest import PASSWORD, fast_passwords, served
from tests.dashboards.test_wallboard import busy_board
from tests.support.browser import axe_violations, launch, require_chromium
from tests.support.panel import local_panel, pop_hub
from tests.support.ports import free_port

pytestmark = pytest.mark.postgres


async def test_wallboard_shows_tiles_and_alerts(browser_db: str) -> None:
    playwright_api = require_chromium()
    expect = playwright_api.expect

    engine = make_engine(browser_db)
    UserStore(engine, fast_passwords()).create("supervisora", "Sara", Role.SUPERVISOR, PASSWORD, [])
    port = free_port()
    app = local_panel(engine, pop_hub(engine), port)
    board, clock = busy_board()
    add_wallboard(app, board)

    async with served(app, port) as base, playwright_api.async_playwright() as pw:
        browser = await launch(pw)
        try:
            page = await browser.new_page(locale="es-UY")
            # Without a session the socket is refused and the page says why.
            await page.goto(f"http://{base}/wallboard")
            await expect(page.locator("#estado")).to_contain_text("Sin acceso")

            login = await page.request.post(
                f"http://{base}/api/session",
                data={"username": "supervisora", "password": PASSWORD},
                headers={"origin": f"http://{base}"},
            )
            assert login.ok
            await page.goto(f"http://{base}/wallboard")
            await expect(page.locator("#estado")).to_have_text("En vivo")
            tile = page.locator("article.cola", has_text="consultas")
            await expect(tile.locator(".waiting")).to_have_text("1")
            await expect(tile.locator(".longest")).to_have_text("40 s")
            await expect(tile.locator(".sl")).to_have_text("50 %")
            await expect(tile).to_have_class("cola bad")
            await expect(page.locator("#lista-alertas li")).to_have_count(2)
            await expect(page.locator("#lista-alertas")).to_contain_text("espera hace 40 s")
            assert await axe_violations(page) == []

            clock.now += 65  # the caller has now waited 1 min 45 s
            board.tick()
            await expect(tile.locator(".longest")).to_have_text("1 min 45 s")
        finally:
            await browser.close()
    engine.dispose()
