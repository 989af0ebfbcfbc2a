"""Notices to the person about their tickets: by consented means only, retried on failure."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from crm_bridge.db import make_engine
from crm_bridge.exceptions import DeliveryError, InvalidValueError, NotFoundError
from crm_bridge.models import CitizenNotice
from crm_bridge.notifications import (
    CitizenNotices,
    Means,
    NoticeKind,
    NoticeStatus,
    notice_text,
    notify_ticket_opened,
)
from crm_bridge.persons import ConsentCategory as C
from crm_bridge.persons import PersonRegistry
from crm_bridge.responders import OutgoingMessage
from tests.crm_bridge.test_tickets import World, build_world, new_ticket


@dataclass
class Outbox:
    """A responder that keeps what it was given; fails while `failing` is set."""

    channel: str
    sent: list[OutgoingMessage] = field(default_factory=list)
    failing: int = 0

    def send(self, message: OutgoingMessage) -> None:
        if self.failing:
            self.failing -= 1
            raise DeliveryError(f"ticket {message.reference}: relay down")
        self.sent.append(message)


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request: pytest.FixtureRequest) -> Iterator[Engine]:
    fixture = "migrated_postgres_url" if request.param == "postgresql" else "sqlite_url"
    engine = make_engine(request.getfixturevalue(fixture))
    yield engine
    engine.dispose()


@dataclass
class Setup:
    world: World
    email: Outbox
    sms: Outbox
    notices: CitizenNotices
    registry: PersonRegistry


@pytest.fixture
def setup(store: Engine) -> Setup:
    world = build_world(store)
    email, sms = Outbox("email"), Outbox("sms")
    notices = CitizenNotices(
        store, responders=[email, sms], retry_minutes=(1, 5), clock=world.clock
    )
    return Setup(world, email, sms, notices, PersonRegistry(store))


def person(setup: Setup, *consents: C, phone: bool = True) -> int:
    return setup.registry.register(
        given_names="Lucía",
        family_names="Fernández",
        consents=[C.IDENTIFICATION, *consents],
        emails=["lucia@example.org"] if C.CONTACT in consents else [],
        phones=["099 123 456"] if phone and C.CONTACT in consents else [],
    ).id


def rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(CitizenNotice)).scalar_one())


def test_the_consented_person_gets_the_acknowledgement_with_the_number(setup: Setup) -> None:
    pid = person(setup, C.CONTACT, C.NOTICE_EMAIL)
    number = new_ticket(setup.world, person_id=pid)

    run = setup.notices.send_due()

    assert run.sent == 1
    assert setup.sms.sent == []  # SMS not consented, though the phone is on record
    [message] = setup.email.sent
    assert message.destination == "lucia@example.org"
    assert message.reference == number
    assert number in message.subject and number in message.body
    assert "Recibimos su solicitud" in message.body
    [notice] = setup.notices.of_ticket(number)
    assert (notice.kind, notice.means, notice.status) == (
        NoticeKind.ACK,
        Means.EMAIL,
        NoticeStatus.SENT,
    )
    assert notice.sent_via == "email"


def test_a_person_without_notice_consent_gets_nothing(setup: Setup) -> None:
    # Contact data kept, but no consent to be notified by any means.
    pid = person(setup, C.CONTACT)
    number = new_ticket(setup.world, person_id=pid)
    setup.world.tickets.derive(number, actor_id=setup.world.agent_id, unit_id=setup.world.unit_id)

    assert setup.notices.send_due().sent == 0
    assert setup.email.sent == [] and setup.sms.sent == []
    assert rows(setup.world.engine) == 0


def test_notice_consent_without_contact_consent_sends_nothing(setup: Setup) -> None:
    pid = person(setup, C.NOTICE_EMAIL, C.NOTICE_SMS)  # no contacto: nothing kept to use
    new_ticket(setup.world, person_id=pid)
    assert setup.notices.send_due().sent == 0
    assert setup.email.sent == [] and setup.sms.sent == []


def test_a_consent_withdrawn_before_sending_stops_the_notice(setup: Setup) -> None:
    pid = person(setup, C.CONTACT, C.NOTICE_SMS)
    number = new_ticket(setup.world, person_id=pid)
    setup.registry.set_consent(pid, C.NOTICE_SMS, False)

    run = setup.notices.send_due()

    assert run.skipped == 1 and run.sent == 0
    assert setup.sms.sent == []
    assert setup.notices.of_ticket(number)[0].status is NoticeStatus.SKIPPED


def test_derivation_and_response_are_told_by_each_consented_means(setup: Setup) -> None:
    pid = person(setup, C.CONTACT, C.NOTICE_EMAIL, C.NOTICE_SMS)
    world = setup.world
    number = new_ticket(world, person_id=pid)
    world.tickets.derive(number, actor_id=world.agent_id, unit_id=world.unit_id)
    # The response itself goes by email: the person is not told "answered" by email too.
    world.tickets.respond(
        number,
        actor_id=world.referent_id,
        body="Su pensión se cobra el día 5.",
        destination="lucia@example.org",
        channel="log",
    )

    setup.notices.send_due()

    kinds = [(n.kind, n.means) for n in setup.notices.of_ticket(number)]
    assert kinds == [
        (NoticeKind.ACK, Means.EMAIL),
        (NoticeKind.ACK, Means.SMS),
        (NoticeKind.DERIVATION, Means.EMAIL),
        (NoticeKind.DERIVATION, Means.SMS),
        (NoticeKind.RESPONSE, Means.EMAIL),
        (NoticeKind.RESPONSE, Means.SMS),
    ]
    derived = [m for m in setup.sms.sent if "derivada" in m.body]
    assert derived and "Prestaciones" in derived[0].body
    assert setup.sms.sent[0].destination == "+59899123456"
    assert all(len(m.body) <= 160 for m in setup.sms.sent)


def test_a_response_sent_by_email_is_not_noticed_by_email_again(setup: Setup) -> None:
    pid = person(setup, C.CONTACT, C.NOTICE_EMAIL)
    world = setup.world
    number = new_ticket(world, person_id=pid)
    world.tickets.derive(number, actor_id=world.agent_id, unit_id=world.unit_id)
    world.tickets = type(world.tickets)(
        world.engine,
        business_hours=world.tickets._hours,  # type: ignore[attr-defined]
        responders=[setup.email],
        clock=world.clock,
    )
    world.tickets.respond(
        number,
        actor_id=world.referent_id,
        body="Respuesta",
        destination="lucia@example.org",
        channel="email",
    )
    kinds = {n.kind for n in setup.notices.of_ticket(number)}
    assert kinds == {NoticeKind.ACK, NoticeKind.DERIVATION}


def test_a_failed_delivery_is_retried_and_the_ticket_change_stands(setup: Setup) -> None:
    pid = person(setup, C.CONTACT, C.NOTICE_EMAIL)
    setup.email.failing = 1
    world = setup.world
    number = new_ticket(world, person_id=pid)

    first = setup.notices.send_due()
    assert (first.sent, first.retried) == (0, 1)
    assert world.tickets.get(number) is not None  # the ticket is there whatever the relay did
    [notice] = setup.notices.of_ticket(number)
    assert notice.status is NoticeStatus.PENDING and notice.attempts == 1
    assert notice.last_error is not None and "relay down" in notice.last_error

    # Not before its retry time...
    assert setup.notices.send_due().sent == 0
    world.clock.now += timedelta(minutes=1)
    # ...then it goes.
    assert setup.notices.send_due().sent == 1
    [message] = setup.email.sent
    assert number in message.body
    [notice] = setup.notices.of_ticket(number)
    assert notice.status is NoticeStatus.SENT and notice.attempts == 2


def test_retries_end_in_the_failed_list(setup: Setup) -> None:
    pid = person(setup, C.CONTACT, C.NOTICE_EMAIL)
    setup.email.failing = 10
    number = new_ticket(setup.world, person_id=pid)
    outcomes = []
    for _ in range(3):
        run = setup.notices.send_due()
        outcomes.append((run.retried, run.failed))
        setup.world.clock.now += timedelta(minutes=10)
    assert outcomes == [(1, 0), (1, 0), (0, 1)]
    [notice] = setup.notices.of_ticket(number)
    assert notice.status is NoticeStatus.FAILED and notice.attempts == 3
    assert setup.notices.counts()[NoticeStatus.FAILED] == 1
    assert setup.notices.send_due().failed == 0  # never tried again by itself


def test_the_public_form_acknowledgement_goes_to_the_contact_given(setup: Setup) -> None:
    world = setup.world
    # A request without a registered person: the form's own contact, given for this.
    number = new_ticket(world, person_id=None, channel="web")
    assert rows(world.engine) == 0
    assert (
        notify_ticket_opened(world.engine, number, email="Vecino@Example.ORG", clock=world.clock)
        == 1
    )
    # Asked twice (a retried request): one notice.
    assert notify_ticket_opened(world.engine, number, email="vecino@example.org") == 0
    setup.notices.send_due()
    [message] = setup.email.sent
    assert message.destination == "Vecino@example.org"
    assert number in message.body


def test_notify_ticket_opened_refuses_bad_input(setup: Setup) -> None:
    number = new_ticket(setup.world, person_id=None)
    with pytest.raises(InvalidValueError):
        notify_ticket_opened(setup.world.engine, number, email="no es un correo")
    with pytest.raises(InvalidValueError):
        notify_ticket_opened(setup.world.engine, number, phone="12")
    with pytest.raises(NotFoundError):
        notify_ticket_opened(setup.world.engine, "2026-999999", email="a@example.org")


def test_without_a_responder_for_the_means_the_notice_is_logged_and_says_so(
    setup: Setup,
) -> None:
    pid = person(setup, C.CONTACT, C.NOTICE_SMS)
    number = new_ticket(setup.world, person_id=pid)
    bare = CitizenNotices(setup.world.engine, clock=setup.world.clock)
    assert bare.send_due().sent == 1
    assert bare.of_ticket(number)[0].sent_via == "log"


def test_texts_are_spanish_and_carry_the_number() -> None:
    subject, body = notice_text(NoticeKind.ACK, Means.EMAIL, number="2026-000007", topic="Pensión")
    assert subject == "Recibimos su solicitud 2026-000007"
    assert "Su número de solicitud es 2026-000007" in body
    _, sms = notice_text(
        NoticeKind.DERIVATION, Means.SMS, number="2026-000007", topic="x", where="Prestaciones"
    )
    assert sms == "Su solicitud 2026-000007 fue derivada a Prestaciones para su respuesta."
