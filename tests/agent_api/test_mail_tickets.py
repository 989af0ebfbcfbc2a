"""An email ticket in the referente's inbox (/solicitudes), against the real mail
servers of the test set-up: its attachment only as a download, to those who
may read the ticket; the referente's answer goes by email in the citizen's thread."""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from agent_api.audit import AuditLog
from citizen.calendar import always_open
from crm_bridge.contacts import ContactAttentions
from crm_bridge.mail_intake import Mailbox, MailIntake, Outcome
from crm_bridge.mail_store import MailThreads, ThreadedEmailResponder
from crm_bridge.models import Attention, Ticket
from crm_bridge.organisms import Directory, Role
from crm_bridge.persons import ConsentCategory, PersonRegistry
from crm_bridge.responders import SmtpResponder
from crm_bridge.tickets import TicketService
from tests.agent_api.conftest import Panel, build_panel
from tests.agent_api.test_web_pages import form_login
from tests.support.mail import MailServers

pytestmark = pytest.mark.postgres


@dataclass
class Inbox:
    panel: Panel
    servers: MailServers
    centre: str
    citizen: str
    intake: MailIntake

    def page(self, role: Role) -> TestClient:
        client = self.panel.client()
        form_login(client, self.panel.usernames[role])
        client.headers.update(
            {"HX-Request": "true", "X-CSRF-Token": client.cookies.get("atiende_csrf") or ""}
        )
        return client


@pytest.fixture
def inbox(panel_db: str, mail_servers: MailServers) -> Iterator[Inbox]:
    tag = uuid.uuid4().hex[:8]
    centre, citizen = f"mde-{tag}@centro.test", f"vecino-{tag}@correo.test"
    mail_servers.add_user(centre)
    mail_servers.add_user(citizen)
    made: list[tuple[TicketService, MailThreads, ContactAttentions]] = []

    def tickets(engine: Engine) -> TicketService:
        threads, contacts = MailThreads(engine), ContactAttentions(engine)
        smtp = SmtpResponder(mail_servers.host, mail_servers.smtp_port, centre, timeout=10)
        service = TicketService(
            engine,
            business_hours=always_open("America/Montevideo"),
            responders=[ThreadedEmailResponder(smtp, threads, contacts=contacts)],
        )
        made.append((service, threads, contacts))
        return service

    panel = build_panel(panel_db, tickets=tickets)
    service, threads, contacts = made[0]
    directory = Directory(panel.engine)
    organism = directory.create_organism(f"O{tag}", "Ministerio de Ejemplo")
    unit = directory.create_unit(organism.id, f"U{tag}", "Atención a la Ciudadanía")
    directory.add_referent(unit.id, panel.users[panel.usernames[Role.REFERENTE]])
    box = Mailbox(
        name=f"mde-{tag}",
        address=centre,
        organism=organism.code,
        unit=unit.code,
        host=mail_servers.host,
        port=mail_servers.imap_port,
        security="none",
        username=centre,
        password=mail_servers.passwords[centre],
    )
    intake = MailIntake(
        panel.engine, tickets=service, contacts=contacts, threads=threads, mailboxes=[box]
    )
    try:
        yield Inbox(panel, mail_servers, centre, citizen, intake)
    finally:
        panel.engine.dispose()


def test_the_referente_answers_an_email_ticket_from_the_inbox(inbox: Inbox) -> None:
    first = EmailMessage()
    first["From"] = f"Juan Vecino <{inbox.citizen}>"
    first["To"] = inbox.centre
    first["Subject"] = "Reclamo por la vereda"
    first["Message-ID"] = f"<vereda-{uuid.uuid4().hex}@correo.test>"
    first.set_content("La vereda de mi cuadra está rota. Adjunto la foto.")
    first.add_attachment(
        b"\x89PNG\r\n\x1a\nfoto", maintype="image", subtype="png", filename="vereda.png"
    )
    with smtplib.SMTP(inbox.servers.host, inbox.servers.smtp_port, timeout=10) as smtp:
        smtp.send_message(first)
    inbox.servers.wait_for(inbox.centre, lambda found: len(found) >= 1)
    assert inbox.intake.poll().counts == {Outcome.NEW_TICKET.value: 1}

    referente = inbox.page(Role.REFERENTE)
    listing = referente.get("/solicitudes").text
    [number] = [
        part.split('"')[0]
        for part in listing.split('href="/solicitudes/')[1:]
        if part[:4].isdigit()
    ][:1]
    detail = referente.get(f"/solicitudes/{number}").text
    assert "<dt>Canal</dt><dd>Correo electrónico</dd>" in detail
    assert "vereda.png" in detail and "La vereda de mi cuadra" in detail
    link = detail.split('href="/solicitudes/' + number + "/adjuntos/")[1].split('"')[0]

    # The file only as a download, never rendered by the browser.
    download = referente.get(f"/solicitudes/{number}/adjuntos/{link}")
    assert download.status_code == 200 and download.content == b"\x89PNG\r\n\x1a\nfoto"
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''vereda.png"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in download.headers["content-security-policy"]
    reads = AuditLog(inbox.panel.engine).query(action="ticket_read")
    assert any(r.details.get("reason") == "adjunto" for r in reads)
    # Not to whoever may not read the ticket: the gerente sees figures only,
    # an ejecutivo unrelated to it does not reach it.
    api_path = f"/api/tickets/{number}/attachments/{link}"
    assert inbox.panel.client(inbox.panel.usernames[Role.GERENTE]).get(api_path).status_code == 403
    assert inbox.panel.client(inbox.panel.usernames[Role.EJECUTIVO]).get(api_path).status_code in (
        403,
        404,
    )
    assert referente.get(f"/api/tickets/{number}/attachments/999999").status_code == 404

    # The answer from the same form as any ticket: by email, in the thread,
    # to the address the citizen wrote from (no destination typed).
    answered = referente.post(
        f"/solicitudes/{number}/responder",
        data={"texto": "Estimado Juan: la cuadrilla pasa el lunes.", "canal": "email"},
    )
    assert "Respuesta enviada." in answered.text
    [reply] = inbox.servers.wait_for(inbox.citizen, lambda found: len(found) >= 1)
    assert reply["In-Reply-To"] == first["Message-ID"]
    assert reply["Subject"] == f"Re: Reclamo por la vereda [Solicitud {number}]"
    assert "la cuadrilla pasa el lunes" in reply.get_body().get_content()  # type: ignore[union-attr]


def test_an_unlinked_email_ticket_is_linked_to_its_person(inbox: Inbox) -> None:
    stranger = EmailMessage()
    stranger["From"] = f"sin-registro-{uuid.uuid4().hex[:6]}@correo.test"
    stranger["To"] = inbox.centre
    stranger["Subject"] = "Consulta sin registro"
    stranger["Message-ID"] = f"<sin-registro-{uuid.uuid4().hex}@correo.test>"
    stranger.set_content("No estoy registrada todavía.")
    with smtplib.SMTP(inbox.servers.host, inbox.servers.smtp_port, timeout=10) as smtp:
        smtp.send_message(stranger)
    inbox.servers.wait_for(inbox.centre, lambda found: len(found) >= 1)
    assert inbox.intake.poll().counts == {Outcome.NEW_TICKET.value: 1}
    engine = inbox.panel.engine
    with engine.connect() as conn:
        number, key = conn.execute(
            select(Ticket.number, Ticket.attention_linkedid).where(
                Ticket.topic == "Consulta sin registro"
            )
        ).one()
    person = PersonRegistry(engine).register(
        given_names="Rosa", family_names="Díaz", consents=[ConsentCategory.IDENTIFICATION]
    )
    path = f"/api/tickets/{number}/person"
    # Whoever may not work the ticket may not say whose it is.
    gerente = inbox.panel.client(inbox.panel.usernames[Role.GERENTE])
    assert gerente.post(path, json={"person_id": person.id}).status_code == 403
    ejecutivo = inbox.panel.client(inbox.panel.usernames[Role.EJECUTIVO])
    assert ejecutivo.post(path, json={"person_id": person.id}).status_code in (403, 404)
    referente = inbox.panel.client(inbox.panel.usernames[Role.REFERENTE])
    assert referente.post(path, json={"person_id": 10**9}).status_code == 404
    linked = referente.post(path, json={"person_id": person.id})
    assert linked.status_code == 200, linked.text
    assert linked.json()["person_id"] == person.id
    with engine.connect() as conn:
        attention_person = conn.execute(
            select(Attention.person_id).where(Attention.linkedid == key)
        ).scalar_one()
    assert attention_person == person.id
    other = PersonRegistry(engine).register(
        given_names="Otra", family_names="Persona", consents=[ConsentCategory.IDENTIFICATION]
    )
    assert referente.post(path, json={"person_id": other.id}).status_code == 422
    updates = AuditLog(engine).query(action="person_update")
    assert any(r.details.get("ticket") == number for r in updates)
