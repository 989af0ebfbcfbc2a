"""Email intake and threaded replies against the real Dovecot and OpenSMTPD of the
test set-up (tests/support/mail.py): a new thread becomes an attention and a
ticket, the reply keeps the thread, the citizen's answer lands on the same
ticket; the same message read twice makes one ticket; a bounce makes none."""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage, Message

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Engine, func, select

from citizen.calendar import always_open
from citizen.channels import Channel
from crm_bridge.contacts import ContactAttentions
from crm_bridge.db import make_engine, upgrade
from crm_bridge.mail_intake import Mailbox, MailIntake, Outcome
from crm_bridge.mail_store import MailThreads, ThreadedEmailResponder
from crm_bridge.models import Attention, Ticket
from crm_bridge.organisms import Directory, Role
from crm_bridge.persons import ConsentCategory, PersonRegistry
from crm_bridge.responders import SmtpResponder
from crm_bridge.ticket_rules import TicketAction, TicketStatus
from crm_bridge.tickets import TicketService
from dashboards.mail_metrics import MailIntakeCollector
from dashboards.metric_names import exposed_names
from tests.support.mail import MailServers

HOURS = always_open("America/Montevideo")


@dataclass
class Centre:
    engine: Engine
    servers: MailServers
    centre: str  # the organism's mailbox
    citizen: str  # the person's own mailbox
    intake: MailIntake
    tickets: TicketService
    threads: MailThreads
    person_id: int
    unit_id: int

    def send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.servers.host, self.servers.smtp_port, timeout=10) as smtp:
            assert smtp.send_message(message) == {}

    def arrived(self, count: int) -> list[Message]:
        return self.servers.wait_for(self.centre, lambda found: len(found) >= count)

    def tickets_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Ticket)).scalar_one())

    def numbers(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(Ticket.number).order_by(Ticket.id)).scalars())


@pytest.fixture
def centre(mail_servers: MailServers, new_database: object) -> Iterator[Centre]:
    url = new_database("mail", migrate=False)  # type: ignore[operator]
    upgrade(url)
    engine = make_engine(url)
    # Mailboxes of their own: tests in one session never read each other's mail.
    tag = uuid.uuid4().hex[:8]
    centre_address, citizen_address = f"bps-{tag}@centro.test", f"maria-{tag}@correo.test"
    mail_servers.add_user(centre_address)
    mail_servers.add_user(citizen_address)
    directory = Directory(engine)
    organism = directory.create_organism("BPS", "Banco de Previsión Social")
    unit = directory.create_unit(organism.id, "PREST", "Prestaciones")
    referent = directory.create_user("lrodriguez", "Laura Rodríguez", Role.REFERENTE)
    directory.add_referent(unit.id, referent.id)
    person = PersonRegistry(engine).register(
        given_names="María",
        family_names="Pérez",
        consents=[ConsentCategory.IDENTIFICATION, ConsentCategory.CONTACT],
        emails=[citizen_address],
    )
    threads = MailThreads(engine)
    contacts = ContactAttentions(engine)
    smtp = SmtpResponder(mail_servers.host, mail_servers.smtp_port, centre_address, timeout=10)
    tickets = TicketService(
        engine,
        business_hours=HOURS,
        responders=[
            ThreadedEmailResponder(
                smtp, threads, contacts=contacts, mailbox_addresses={"bps": centre_address}
            )
        ],
    )
    box = Mailbox(
        name="bps",
        address=centre_address,
        organism="BPS",
        unit="PREST",
        host=mail_servers.host,
        port=mail_servers.imap_port,
        security="none",
        username=centre_address,
        password=mail_servers.passwords[centre_address],
    )
    intake = MailIntake(
        engine, tickets=tickets, contacts=contacts, threads=threads, mailboxes=[box]
    )
    try:
        yield Centre(
            engine,
            mail_servers,
            centre_address,
            citizen_address,
            intake,
            tickets,
            threads,
            person.id,
            unit.id,
        )
    finally:
        engine.dispose()


def first_message(centre: Centre) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"María Pérez <{centre.citizen}>"
    message["To"] = centre.centre
    message["Subject"] = "Consulta por mi pensión"
    message["Message-ID"] = f"<primera-{uuid.uuid4().hex}@correo.test>"
    message.set_content("Hola, quisiera saber cuándo cobro la pensión.\nGracias, María")
    message.add_attachment(
        b"%PDF-1.4 recibo", maintype="application", subtype="pdf", filename="recibo.pdf"
    )
    message.add_attachment(
        b"MZ\x90\x00", maintype="application", subtype="octet-stream", filename="virus.exe"
    )
    return message


def test_an_email_round_trip_keeps_one_ticket(centre: Centre) -> None:
    first = first_message(centre)
    centre.send(first)
    centre.arrived(1)

    # A new thread: an attention (correo) and a ticket, linked to María by address.
    report = centre.intake.poll()
    assert report.counts == {Outcome.NEW_TICKET.value: 1} and not report.failed_mailboxes
    [number] = centre.numbers()
    ticket = centre.tickets.get(number)
    assert ticket is not None
    assert ticket.channel == Channel.CORREO and ticket.person_id == centre.person_id
    assert ticket.unit_id == centre.unit_id and ticket.topic == "Consulta por mi pensión"
    assert "cuándo cobro la pensión" in ticket.description
    assert "virus.exe" in ticket.description  # said as refused, not kept
    assert ticket.attention is not None
    with centre.engine.connect() as conn:
        attention = conn.execute(
            select(Attention).where(Attention.linkedid == ticket.attention.linkedid)
        ).one()
    assert attention.channel == Channel.CORREO and attention.person_id == centre.person_id
    [kept] = centre.threads.attachments(number)
    assert (kept.filename, kept.content_type, kept.size) == ("recibo.pdf", "application/pdf", 15)
    assert centre.threads.attachment(number, kept.id)[1] == b"%PDF-1.4 recibo"

    # The same message delivered and read again: still one ticket.
    centre.send(first)
    centre.arrived(2)
    assert centre.intake.poll().counts == {Outcome.DUPLICATE.value: 1}
    assert centre.tickets_count() == 1

    # The referente replies on the ticket: an email in María's thread.
    centre.tickets.respond(
        number,
        actor_id=None,
        body="Estimada María: cobra el día 5.",
        destination=centre.citizen,
        channel="email",
    )
    [reply] = centre.servers.wait_for(centre.citizen, lambda found: len(found) >= 1)
    assert reply["In-Reply-To"] == first["Message-ID"]
    assert first["Message-ID"] in reply["References"]
    assert reply["Subject"] == f"Re: Consulta por mi pensión [Solicitud {number}]"
    assert centre.centre in reply["From"]
    with centre.engine.connect() as conn:
        answered = conn.execute(
            select(Attention).where(Attention.linkedid == ticket.attention.linkedid)
        ).one()
    assert answered.answered_at is not None and answered.ended_at is not None

    # María answers the reply: it lands on the same ticket, back in process.
    answer = EmailMessage()
    answer["From"] = centre.citizen
    answer["To"] = centre.centre
    answer["Subject"] = reply["Subject"]
    answer["Message-ID"] = f"<respuesta-{uuid.uuid4().hex}@correo.test>"
    answer["In-Reply-To"] = reply["Message-ID"]
    answer["References"] = f"{reply['References']} {reply['Message-ID']}"
    answer.set_content("¿Y el aguinaldo también?\n\n> Estimada María: cobra el día 5.")
    centre.send(answer)
    centre.arrived(3)
    assert centre.intake.poll().counts == {Outcome.ANSWER.value: 1}
    assert centre.tickets_count() == 1
    ticket = centre.tickets.get(number)
    assert ticket is not None and ticket.status is TicketStatus.EN_PROCESO
    last = centre.tickets.timeline(number)[-1]
    assert last.action is TicketAction.REOPEN and last.actor_id is None
    assert last.notes is not None and "aguinaldo" in last.notes

    # A reply to an address that does not exist bounces into the centre's
    # mailbox: recognised, said on the ticket, no ticket made of it.
    centre.tickets.respond(
        number,
        actor_id=None,
        body="Sí, también el aguinaldo.",
        destination=f"nadie-{uuid.uuid4().hex[:6]}@correo.test",
        channel="email",
    )
    centre.arrived(4)
    assert centre.intake.poll().counts == {Outcome.BOUNCE.value: 1}
    assert centre.tickets_count() == 1
    notes = [e.notes or "" for e in centre.tickets.timeline(number)]
    assert any("no pudo entregarse" in n for n in notes)

    # An out-of-office answer makes nothing either.
    away = EmailMessage()
    away["From"] = centre.citizen
    away["To"] = centre.centre
    away["Subject"] = "Fuera de la oficina"
    away["Message-ID"] = f"<ausente-{uuid.uuid4().hex}@correo.test>"
    away["Auto-Submitted"] = "auto-replied"
    away.set_content("Estoy de vacaciones.")
    centre.send(away)
    centre.arrived(5)
    assert centre.intake.poll().counts == {Outcome.AUTO_REPLY.value: 1}
    assert centre.tickets_count() == 1
    # Everything read is flagged seen: the next pass finds nothing.
    assert centre.intake.poll().counts == {}

    # /metrics: per mailbox and outcome, no address anywhere.
    exposed = scrape(centre.intake)
    for outcome, count in (("nuevo", 1), ("repetido", 1), ("respuesta", 1), ("rebote", 1)):
        assert f'atiende_mail_messages_total{{mailbox="bps",outcome="{outcome}"}} {count}.0' in (
            exposed
        )
    assert 'atiende_mail_read_failures_total{mailbox="bps"} 0.0' in exposed
    assert 'atiende_mail_last_read_timestamp_seconds{mailbox="bps"}' in exposed
    assert "@" not in exposed


def test_a_ticket_number_in_the_subject_threads_only_its_own_sender(centre: Centre) -> None:
    centre.send(first_message(centre))
    centre.arrived(1)
    centre.intake.poll()
    [number] = centre.numbers()
    stranger = EmailMessage()
    stranger["From"] = "alguien@otro.test"
    stranger["To"] = centre.centre
    stranger["Subject"] = f"Sobre la solicitud {number}"
    stranger["Message-ID"] = f"<ajeno-{uuid.uuid4().hex}@otro.test>"
    stranger.set_content("Quiero ver esa solicitud.")
    centre.send(stranger)
    own = EmailMessage()
    own["From"] = centre.citizen
    own["To"] = centre.centre
    own["Subject"] = f"Otra cosa sobre {number}"
    own["Message-ID"] = f"<propio-{uuid.uuid4().hex}@correo.test>"
    own.set_content("Me olvidé de decir algo.")
    centre.send(own)
    centre.arrived(3)
    counts = centre.intake.poll().counts
    assert counts == {Outcome.NEW_TICKET.value: 1, Outcome.ANSWER.value: 1}
    assert centre.tickets_count() == 2
    ticket = centre.tickets.get(centre.numbers()[-1])
    assert ticket is not None and ticket.person_id is None  # a stranger: left for an agent


def test_an_unreachable_mailbox_is_reported_not_raised(centre: Centre) -> None:
    box = centre.intake.mailboxes[0]
    broken = MailIntake(
        centre.engine,
        tickets=centre.tickets,
        contacts=ContactAttentions(centre.engine),
        threads=centre.threads,
        mailboxes=[
            Mailbox(
                name="rota",
                address=box.address,
                organism="BPS",
                host=box.host,
                port=box.port,
                security="none",
                username=box.username,
                password="incorrecta",
            )
        ],
    )
    report = broken.poll()
    assert report.failed_mailboxes == ["rota"] and report.counts == {}
    exposed = scrape(broken)
    assert 'atiende_mail_read_failures_total{mailbox="rota"} 1.0' in exposed
    assert "atiende_mail_last_read_timestamp_seconds{" not in exposed


def scrape(intake: MailIntake) -> str:
    registry = CollectorRegistry()
    registry.register(MailIntakeCollector(intake.stats, [b.name for b in intake.mailboxes]))
    text = generate_latest(registry).decode()
    families = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    assert families <= exposed_names()
    return text
