"""How the intake handles single messages (no IMAP here: the round trip against
the real servers is test_mail_intake.py): half-done claims, messages without
a Message-ID, a phone ticket answered by email, a citizen's answer to a
reply on a ticket that did not start by email."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import Engine, func, select

from citizen.calendar import always_open
from crm_bridge.contacts import ContactAttentions
from crm_bridge.db import make_engine
from crm_bridge.mail_intake import STALE_CLAIM, Mailbox, MailIntake, Outcome
from crm_bridge.mail_store import PENDING, MailThreads
from crm_bridge.models import Ticket
from crm_bridge.organisms import Directory
from crm_bridge.persons import ConsentCategory, PersonRegistry
from crm_bridge.ticket_rules import TicketStatus
from crm_bridge.tickets import TicketService

T0 = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
BOX = Mailbox(
    name="mde",
    address="atencion@mde.test",
    organism="MDE",
    host="127.0.0.1",
    username="atencion@mde.test",
    password="x",
)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Desk:
    engine: Engine
    clock: Clock
    intake: MailIntake
    tickets: TicketService
    threads: MailThreads
    organism_id: int
    person_id: int

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Ticket)).scalar_one())


@pytest.fixture
def desk(sqlite_url: str) -> Iterator[Desk]:
    engine = make_engine(sqlite_url)
    clock = Clock()
    organism = Directory(engine).create_organism("MDE", "Ministerio de Ejemplo")
    person = PersonRegistry(engine).register(
        given_names="Ana",
        family_names="Suárez",
        consents=[ConsentCategory.IDENTIFICATION, ConsentCategory.CONTACT],
        emails=["ana@correo.test"],
    )
    threads = MailThreads(engine, clock=clock)
    tickets = TicketService(engine, business_hours=always_open("America/Montevideo"), clock=clock)
    intake = MailIntake(
        engine,
        tickets=tickets,
        contacts=ContactAttentions(engine),
        threads=threads,
        mailboxes=[BOX],
        clock=clock,
    )
    yield Desk(engine, clock, intake, tickets, threads, organism.id, person.id)
    engine.dispose()


def mail(
    subject: str = "Consulta", message_id: str | None = "<a1@correo.test>", **headers: str
) -> bytes:
    message = EmailMessage()
    message["From"] = "ana@correo.test"
    message["To"] = BOX.address
    message["Subject"] = subject
    if message_id is not None:
        message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Texto de Ana.")
    return bytes(message)


def test_a_claim_left_half_done_is_finished_only_once_it_is_stale(desk: Desk) -> None:
    # A pass claimed the message and died before making the ticket.
    assert desk.threads.claim(
        "<a1@correo.test>",
        mailbox="mde",
        kind=PENDING,
        address="ana@correo.test",
        subject="Consulta",
        body="Texto de Ana.",
    )
    desk.clock.now = T0 + timedelta(minutes=1)
    # Young: it may be another replica's pass at work.
    assert desk.intake.handle(BOX, mail()) is Outcome.DUPLICATE
    assert desk.count() == 0
    desk.clock.now = T0 + STALE_CLAIM + timedelta(seconds=1)
    assert desk.intake.handle(BOX, mail()) is Outcome.NEW_TICKET
    assert desk.intake.handle(BOX, mail()) is Outcome.DUPLICATE
    assert desk.count() == 1


def test_a_message_without_message_id_read_twice_is_one_ticket(desk: Desk) -> None:
    raw = mail(message_id=None)
    assert desk.intake.handle(BOX, raw) is Outcome.NEW_TICKET
    assert desk.intake.handle(BOX, raw) is Outcome.DUPLICATE
    assert desk.count() == 1


def test_a_phone_ticket_is_continued_by_its_persons_email(desk: Desk) -> None:
    phone = desk.tickets.create(
        channel="telefonico",
        request_type="reclamo",
        topic="Demora",
        organism_id=desk.organism_id,
        person_id=desk.person_id,
    )
    # The person's registered (consented) address, the number in the subject.
    outcome = desk.intake.handle(BOX, mail(f"Sobre mi reclamo {phone.number}", "<a2@correo.test>"))
    assert outcome is Outcome.ANSWER and desk.count() == 1
    notes = desk.tickets.timeline(phone.number)[-1].notes or ""
    assert "Texto de Ana." in notes
    ticket = desk.tickets.get(phone.number)
    assert ticket is not None and ticket.status is TicketStatus.ABIERTA  # a note, not a reopen


def test_several_people_on_one_address_leave_the_ticket_for_an_agent(desk: Desk) -> None:
    PersonRegistry(desk.engine).register(
        given_names="Luis",
        family_names="Suárez",
        consents=[ConsentCategory.IDENTIFICATION, ConsentCategory.CONTACT],
        emails=["ana@correo.test"],  # the family's shared address
    )
    assert desk.intake.handle(BOX, mail()) is Outcome.NEW_TICKET
    with desk.engine.connect() as conn:
        assert conn.execute(select(Ticket.person_id)).scalar_one() is None
