"""The gerente's quality indicators in headless Chromium at 1366x768: logged in
through the login page, the /reportes page shows the hand-computed figures of
indicator_fixture.py, a download link gives the same figure, no name of a
citizen shows, and axe-core finds no serious or critical problem."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from agent_api.routes.figures import reports_router
from agent_api.users import UserStore
from agent_api.web.reportes import ReportSources
from crm_bridge.db import make_engine
from crm_bridge.organisms import Role
from tests.agent_api.conftest import PASSWORD, fast_passwords, served
from tests.dashboards import indicator_fixture as fx
from tests.support.browser import (
    VIEWPORT,
    axe_violations,
    launch,
    log_in_page,
    require_chromium,
)
from tests.support.panel import local_panel, pop_hub
from tests.support.ports import free_port

pytestmark = pytest.mark.postgres


async def test_the_gerente_reads_the_quality_indicators(browser_db: str) -> None:
    playwright_api = require_chromium()
    expect = playwright_api.expect
    engine = make_engine(browser_db)
    fx.load(engine)
    UserStore(engine, fast_passwords()).create("gerente", "Gabriela", Role.GERENTE, PASSWORD, [])
    port = free_port()
    app = local_panel(engine, pop_hub(engine), port)
    zone = ZoneInfo("America/Montevideo")
    app.include_router(reports_router(engine, timezone=zone))
    app.state.report_sources = ReportSources(engine, zone)
    async with served(app, port) as base, playwright_api.async_playwright() as pw:
        browser = await launch(pw)
        try:
            page = await browser.new_page(viewport=VIEWPORT, locale="es-UY")
            await log_in_page(page, base, "gerente", PASSWORD)
            await page.goto(f"http://{base}/reportes?desde=2026-03-02&hasta=2026-03-02")
            # The section is reached from the page's own menu.
            await page.get_by_role("link", name="Calidad", exact=True).click()
            section = page.get_by_role("region", name="Calidad de la atención")
            await expect(section).to_be_visible()
            # CSAT 24/7 = 3,43 of 7 answers; FCR 3 of 6; 5 complaints.
            await expect(page.locator("#csat-media")).to_have_text("3,43")
            await expect(page.locator("#csat-respuestas")).to_have_text("7")
            await expect(page.locator("#fcr")).to_have_text("50,0 %")
            await expect(page.locator("#quejas-total")).to_have_text("5")
            ana = page.locator("#csat-agente tr", has_text="Ana")
            await expect(ana.locator("td").nth(2)).to_have_text("4,20")  # 21 / 5
            await expect(page.locator("#fcr-canal")).to_contain_text("Presencial")
            units = page.locator("#quejas-unidad tbody tr")
            await expect(units).to_have_count(4)
            assert await axe_violations(page) == []
            # The download behind the link says the same.
            link = page.locator("#calidad a", has_text="CSV").first
            href = await link.get_attribute("href")
            assert href is not None and "agrupar=agente" in href
            answer = await page.request.get(f"http://{base}{href}")
            rows = (await answer.text()).lstrip("\ufeff").splitlines()
            assert rows[0].startswith("Agente: código;Agente;Respuestas;")
            assert any(row.startswith("Ana;Ana;5;4,2;") for row in rows)
        finally:
            await browser.close()
    engine.dispose()
