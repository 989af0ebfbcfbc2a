"""The referente's flow on an email ticket in a real browser (1366x768, axe-core):
the attachment listed and downloaded, the answer sent from the inbox's form
going out by email in the citizen's thread (real Dovecot and OpenSMTPD)."""

from __future__ import annotations

import asyncio
import smtplib
import uuid
from email.message import EmailMessage

import pytest

from crm_bridge.mail_intake import Outcome
from crm_bridge.organisms import Role
from tests.agent_api.conftest import PASSWORD
from tests.agent_api.test_mail_tickets import Inbox, inbox
from tests.support.browser import VIEWPORT, axe_violations, launch, log_in_page, require_chromium
from tests.support.web import served

pytestmark = pytest.mark.postgres

__all__ = ["inbox"]  # the fixture, shared with the HTTP test


async def test_the_referente_answers_an_email_ticket_in_the_browser(inbox: Inbox) -> None:
    playwright_api = require_chromium()
    expect = playwright_api.expect
    first = EmailMessage()
    first["From"] = f"Juan Vecino <{inbox.citizen}>"
    first["To"] = inbox.centre
    first["Subject"] = "Poda de un árbol"
    first["Message-ID"] = f"<arbol-{uuid.uuid4().hex}@correo.test>"
    first.set_content("El árbol de la esquina tapa el semáforo.")
    first.add_attachment(
        b"%PDF-1.4 nota", maintype="application", subtype="pdf", filename="nota firmada.pdf"
    )

    def arrive() -> None:
        with smtplib.SMTP(inbox.servers.host, inbox.servers.smtp_port, timeout=10) as smtp:
            smtp.send_message(first)
        inbox.servers.wait_for(inbox.centre, lambda found: len(found) >= 1)
        assert inbox.intake.poll().counts == {Outcome.NEW_TICKET.value: 1}

    await asyncio.to_thread(arrive)
    async with served(inbox.panel.app) as base, playwright_api.async_playwright() as pw:
        browser = await launch(pw)
        try:
            context = await browser.new_context(
                viewport=VIEWPORT, locale="es-UY", accept_downloads=True
            )
            page = await context.new_page()
            await log_in_page(page, base, inbox.panel.usernames[Role.REFERENTE], PASSWORD)
            await page.goto(f"http://{base}/solicitudes")
            row = page.locator("tbody tr", has_text="Poda de un árbol")
            await expect(row).to_have_count(1)
            await row.locator("a").first.click()
            await expect(page.locator("h1")).to_contain_text("Solicitud")
            link = page.get_by_role("link", name="nota firmada.pdf")
            await expect(link).to_be_visible()
            assert await axe_violations(page) == []
            async with page.expect_download() as waiting:
                await link.click()
            download = await waiting.value
            assert download.suggested_filename == "nota firmada.pdf"
            await page.select_option("#resp-canal", "email")
            await page.fill("#resp-texto", "Estimado Juan: la poda está agendada.")
            await page.get_by_role("button", name="Enviar respuesta", exact=True).click()
            await expect(page.locator(".notice")).to_have_text("Respuesta enviada.")
            assert await axe_violations(page) == []
        finally:
            await browser.close()
    [reply] = await asyncio.to_thread(
        inbox.servers.wait_for, inbox.citizen, lambda found: len(found) >= 1
    )
    assert reply["In-Reply-To"] == first["Message-ID"]
    assert "Poda de un árbol" in reply["Subject"]
