"""Tickets on the store: numbers, lifecycle and timeline, SLA due dates, responses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from crm_bridge.attentions import AttentionRepository
from crm_bridge.db import make_engine
from crm_bridge.exceptions import (
    DeliveryError,
    InvalidTransitionError,
    InvalidValueError,
    NotFoundError,
)
from crm_bridge.organisms import Directory, Role
from crm_bridge.persons import ConsentCategory, PersonRegistry
from crm_bridge.responders import LogResponder, OutgoingMessage, SmsHttpResponder, SmtpResponder
from crm_bridge.sla import add_business_time, office_hours
from crm_bridge.ticket_rules import DEFAULT_SLA_HOURS, RequestType, TicketAction, TicketStatus
from crm_bridge.tickets import TicketService
from telephony.domain import CallKey, CallRecord, HangupSide, Outcome
from tests.crm_bridge.citizen_support import empty_store
from tests.support.ports import free_port

MVD = ZoneInfo("America/Montevideo")
HOURS = office_hours("09:00-17:00")
# Tuesday 24 November 2026, 10:00 in Montevideo.
NOW = datetime(2026, 11, 24, 10, tzinfo=MVD).astimezone(UTC)


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    engine: Engine
    clock: Clock
    tickets: TicketService
    directory: Directory
    organism_id: int
    unit_id: int
    referent_id: int
    agent_id: int
    person_id: int
    log: LogResponder
    extra: dict[str, Any] = field(default_factory=dict)


def build_world(engine: Engine, **service_options: Any) -> World:
    empty_store(engine)
    clock = Clock()
    directory = Directory(engine)
    org = directory.create_organism("BPS", "Banco de Previsión Social")
    unit = directory.create_unit(org.id, "PREST", "Prestaciones")
    referent = directory.create_user("lrodriguez", "Laura Rodríguez", Role.REFERENTE)
    agent = directory.create_user("agomez", "Ana Gómez", Role.EJECUTIVO)
    directory.add_referent(unit.id, referent.id)
    person = PersonRegistry(engine).register(
        given_names="María",
        family_names="Pérez",
        consents=[ConsentCategory.IDENTIFICATION, ConsentCategory.CONTACT],
        emails=["maria@example.org"],
    )
    log = LogResponder()
    service_options.setdefault("responders", [log])
    tickets = TicketService(engine, business_hours=HOURS, clock=clock, **service_options)
    return World(
        engine, clock, tickets, directory, org.id, unit.id, referent.id, agent.id, person.id, log
    )


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request: pytest.FixtureRequest) -> Iterator[Engine]:
    fixture = "migrated_postgres_url" if request.param == "postgresql" else "sqlite_url"
    engine = make_engine(request.getfixturevalue(fixture))
    yield engine
    engine.dispose()


@pytest.fixture
def world(store: Engine) -> World:
    return build_world(store)


def new_ticket(world: World, **overrides: Any) -> str:
    values: dict[str, Any] = {
        "channel": "telefonico",
        "request_type": "reclamo",
        "topic": "Demora en el cobro de la pensión",
        "organism_id": world.organism_id,
        "person_id": world.person_id,
        "actor_id": world.agent_id,
    }
    values.update(overrides)
    return world.tickets.create(**values).number


def test_numbers_count_per_year_in_the_centres_time_zone(world: World) -> None:
    assert new_ticket(world) == "2026-000001"
    assert new_ticket(world) == "2026-000002"
    # 31 December 23:30 in Montevideo is already 1 January in UTC: still 2026.
    world.clock.now = datetime(2026, 12, 31, 23, 30, tzinfo=MVD).astimezone(UTC)
    assert world.clock.now.year == 2027
    assert new_ticket(world) == "2026-000003"
    world.clock.now = datetime(2027, 1, 1, 0, 30, tzinfo=MVD).astimezone(UTC)
    assert new_ticket(world) == "2027-000001"


def test_the_whole_lifecycle_is_on_the_timeline(world: World) -> None:
    attention = CallKey("pbx-montevideo", "1795344853.0")
    number = new_ticket(world, unit_id=None, attention=attention, description="Desde mayo")
    ticket = world.tickets.get(number)
    assert ticket is not None and ticket.status is TicketStatus.ABIERTA
    assert ticket.attention == attention and ticket.description == "Desde mayo"
    steps = [
        (
            lambda: world.tickets.derive(
                number, actor_id=world.agent_id, unit_id=world.unit_id, notes="a Prestaciones"
            ),
            TicketStatus.DERIVADA,
        ),
        (
            lambda: world.tickets.start(number, actor_id=world.referent_id),
            TicketStatus.EN_PROCESO,
        ),
        (
            lambda: world.tickets.respond(
                number,
                actor_id=world.referent_id,
                body="Su pensión se acreditó el 20/11.",
                destination="maria@example.org",
            ),
            TicketStatus.RESPONDIDA,
        ),
        (lambda: world.tickets.close(number, actor_id=world.referent_id), TicketStatus.CERRADA),
    ]
    for index, (act, expected) in enumerate(steps, start=1):
        world.clock.now = NOW + timedelta(minutes=index)
        assert act().status is expected
    events = world.tickets.timeline(number)
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        (TicketAction.CREATE, None, TicketStatus.ABIERTA),
        (TicketAction.DERIVE, TicketStatus.ABIERTA, TicketStatus.DERIVADA),
        (TicketAction.START, TicketStatus.DERIVADA, TicketStatus.EN_PROCESO),
        (TicketAction.RESPOND, TicketStatus.EN_PROCESO, TicketStatus.RESPONDIDA),
        (TicketAction.CLOSE, TicketStatus.RESPONDIDA, TicketStatus.CERRADA),
    ]
    assert [e.actor_id for e in events] == [world.agent_id] * 2 + [world.referent_id] * 3
    assert [e.at for e in events] == [NOW + timedelta(minutes=i) for i in range(5)]
    assert events[1].unit_id == world.unit_id and events[1].notes == "a Prestaciones"
    closed = world.tickets.get(number)
    assert closed is not None and closed.closed_at == NOW + timedelta(minutes=4)
    assert closed.responded_at == NOW + timedelta(minutes=3)
    assert [m.destination for m in world.log.sent] == ["maria@example.org"]
    assert world.log.sent[0].reference == number


def test_invalid_transitions_are_refused_and_leave_no_trace(world: World) -> None:
    number = new_ticket(world)
    with pytest.raises(InvalidTransitionError, match="cerrar"):
        world.tickets.close(number, actor_id=world.agent_id)
    with pytest.raises(InvalidTransitionError):
        world.tickets.reopen(number, actor_id=world.agent_id)
    ticket = world.tickets.get(number)
    assert ticket is not None and ticket.status is TicketStatus.ABIERTA
    assert len(world.tickets.timeline(number)) == 1
    world.tickets.respond(number, actor_id=world.agent_id, body="Listo", destination="x")
    world.tickets.close(number, actor_id=world.agent_id)
    with pytest.raises(InvalidTransitionError):
        world.tickets.respond(number, actor_id=world.agent_id, body="Otra", destination="x")
    assert len(world.log.sent) == 1  # refused before anything was sent
    world.tickets.add_note(number, actor_id=world.agent_id, notes="La persona agradeció")
    assert world.tickets.timeline(number)[-1].action is TicketAction.NOTE


def test_derivation_rules(world: World) -> None:
    number = new_ticket(world)
    other_org = world.directory.create_organism("DGI", "DGI")
    foreign = world.directory.create_unit(other_org.id, "X", "X")
    second = world.directory.create_unit(world.organism_id, "ATYR", "Recaudación")
    with pytest.raises(InvalidValueError, match="another organism"):
        world.tickets.derive(number, actor_id=world.agent_id, unit_id=foreign.id)
    with pytest.raises(InvalidValueError, match="referente"):
        world.tickets.derive(number, actor_id=world.agent_id, referent_id=world.agent_id)
    with pytest.raises(InvalidValueError, match="does not answer"):
        world.tickets.derive(
            number, actor_id=world.agent_id, unit_id=second.id, referent_id=world.referent_id
        )
    with pytest.raises(InvalidValueError):
        world.tickets.derive(number, actor_id=world.agent_id)
    derived = world.tickets.derive(
        number, actor_id=world.agent_id, unit_id=world.unit_id, referent_id=world.referent_id
    )
    assert derived.referent_id == world.referent_id and derived.unit_id == world.unit_id
    assert [t.number for t in world.tickets.assigned_to(world.referent_id)] == [number]
    assert world.tickets.is_assigned(number, world.referent_id)
    assert not world.tickets.is_assigned(number, world.agent_id)
    undecided = new_ticket(world)
    assert not world.tickets.is_assigned(undecided, world.referent_id)
    world.tickets.derive(undecided, actor_id=world.agent_id, unit_id=world.unit_id)
    assert world.tickets.is_assigned(undecided, world.referent_id)  # through the unit
    with pytest.raises(NotFoundError):
        world.tickets.start("2026-999999", actor_id=None)


def test_due_dates_follow_the_service_level_of_type_organism_and_unit(world: World) -> None:
    consulta = world.tickets.get(new_ticket(world, request_type="consulta"))
    assert consulta is not None
    default = DEFAULT_SLA_HOURS[RequestType.CONSULTA]
    assert consulta.due_at == add_business_time(HOURS, NOW, timedelta(hours=default))

    world.directory.set_service_level(world.organism_id, "reclamo", 10)
    world.directory.set_service_level(world.organism_id, "reclamo", 4, unit_id=world.unit_id)
    number = new_ticket(world)
    ticket = world.tickets.get(number)
    # Tuesday 10:00 + 10 business hours (09-17): Wednesday 12:00.
    assert ticket is not None and ticket.due_at == datetime(2026, 11, 25, 12, tzinfo=MVD)
    derived = world.tickets.derive(number, actor_id=world.agent_id, unit_id=world.unit_id)
    assert derived.due_at == datetime(2026, 11, 24, 14, tzinfo=MVD)  # from creation
    assert derived.overdue(datetime(2026, 11, 24, 14, 1, tzinfo=MVD))
    assert not derived.overdue(datetime(2026, 11, 24, 13, 59, tzinfo=MVD))


def test_open_requests_of_a_person(world: World) -> None:
    first = new_ticket(world)
    world.clock.now = NOW + timedelta(minutes=1)
    second = new_ticket(world, request_type="consulta")
    world.clock.now = NOW + timedelta(minutes=2)
    new_ticket(world, person_id=None)
    world.tickets.respond(first, actor_id=None, body="Resuelto", destination="x")
    world.tickets.close(first, actor_id=None)
    assert [t.number for t in world.tickets.open_for_person(world.person_id)] == [second]


def test_unknown_values_are_refused(world: World) -> None:
    with pytest.raises(InvalidValueError, match="channel"):
        new_ticket(world, channel="fax")
    with pytest.raises(InvalidValueError, match="request type"):
        new_ticket(world, request_type="felicitacion")
    with pytest.raises(InvalidValueError, match="topic"):
        new_ticket(world, topic="   ")
    with pytest.raises(NotFoundError):
        new_ticket(world, person_id=world.person_id + 100)
    number = new_ticket(world)
    with pytest.raises(InvalidValueError, match="no response channel"):
        world.tickets.respond(number, actor_id=None, body="x", destination="x", channel="sms")
    assert world.tickets.get("not-a-number") is None


def test_concurrent_creations_get_distinct_consecutive_numbers(
    migrated_postgres_url: str,
) -> None:
    engine = make_engine(migrated_postgres_url, pool_size=8)
    try:
        world = build_world(engine)
        creators = 8
        barrier = threading.Barrier(creators)
        numbers: list[str] = []
        errors: list[BaseException] = []

        def create() -> None:
            try:
                barrier.wait(timeout=10)
                numbers.append(new_ticket(world))
            except BaseException as err:  # collected for the assertion below
                errors.append(err)

        threads = [threading.Thread(target=create) for _ in range(creators)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(numbers) == [f"2026-{n:06d}" for n in range(1, creators + 1)]
    finally:
        engine.dispose()


# ------------------------------------------------------------------------ SMTP


@dataclass
class Inbox:
    messages: list[tuple[str, list[str], Message]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(content))
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    controller_module = pytest.importorskip("aiosmtpd.controller")
    inbox = Inbox()
    port = free_port()
    controller = controller_module.Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_a_response_by_email_reaches_the_smtp_server(
    sqlite_url: str, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    engine = make_engine(sqlite_url)
    try:
        smtp = SmtpResponder("127.0.0.1", port, "atencion@example.gub.uy", timeout=5)
        world = build_world(engine, responders=[smtp])
        number = new_ticket(world)
        body = "Estimada María: su reclamo fue resuelto.\nSaludos, Atención a la Ciudadanía"
        ticket = world.tickets.respond(
            number,
            actor_id=world.referent_id,
            body=body,
            destination="maria@example.org",
            channel="email",
        )
        assert ticket.status is TicketStatus.RESPONDIDA
        [(sender, recipients, message)] = inbox.messages
        assert sender == "atencion@example.gub.uy" and recipients == ["maria@example.org"]
        assert message["Subject"] == f"Respuesta a su solicitud {number}"
        assert message["X-Atiende-Ticket"] == number
        payload = message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        text = payload.decode(message.get_content_charset() or "utf-8")
        assert text.replace("\r\n", "\n").strip() == body  # SMTP lines end in CRLF
        [response] = world.tickets.responses(number)
        assert response.delivered and response.channel == "email"
    finally:
        engine.dispose()


def test_a_failed_delivery_is_recorded_and_changes_nothing(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        closed_port = free_port()  # nothing listens there
        smtp = SmtpResponder("127.0.0.1", closed_port, "atencion@example.gub.uy", timeout=2)
        world = build_world(engine, responders=[smtp])
        number = new_ticket(world)
        with pytest.raises(DeliveryError, match="SMTP"):
            world.tickets.respond(
                number, actor_id=None, body="Hola", destination="maria@example.org", channel="email"
            )
        ticket = world.tickets.get(number)
        assert ticket is not None and ticket.status is TicketStatus.ABIERTA
        [response] = world.tickets.responses(number)
        assert not response.delivered and response.error is not None
        assert "maria" not in response.error
    finally:
        engine.dispose()


# ------------------------------------------------------------------------- SMS


@dataclass
class Gateway:
    status: int = 202
    requests: list[tuple[str, str | None, dict[str, Any]]] = field(default_factory=list)


@pytest.fixture
def sms_gateway() -> Iterator[tuple[Gateway, str]]:
    gateway = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            gateway.requests.append((self.path, self.headers.get("Authorization"), body))
            self.send_response(gateway.status)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway, f"http://127.0.0.1:{server.server_address[1]}/v1/sms"
    finally:
        server.shutdown()
        server.server_close()


def test_a_response_by_sms_goes_to_the_gateway(
    sqlite_url: str, sms_gateway: tuple[Gateway, str]
) -> None:
    gateway, url = sms_gateway
    engine = make_engine(sqlite_url)
    try:
        sms = SmsHttpResponder(url, token="s3cret", sender="Atiende", timeout=5)
        world = build_world(engine, responders=[sms])
        number = new_ticket(world)
        world.tickets.respond(
            number,
            actor_id=None,
            body="Su trámite está listo",
            destination="099 123 456",
            channel="sms",
        )
        assert gateway.requests == [
            (
                "/v1/sms",
                "Bearer s3cret",
                {
                    "to": "+59899123456",
                    "from": "Atiende",
                    "text": "Su trámite está listo",
                    "reference": number,
                },
            )
        ]
        gateway.status = 503
        second = new_ticket(world)
        with pytest.raises(DeliveryError, match="HTTP 503"):
            world.tickets.respond(
                second, actor_id=None, body="x", destination="099123456", channel="sms"
            )
        with pytest.raises(DeliveryError, match="not a phone number"):
            world.tickets.respond(
                second, actor_id=None, body="x", destination="maria@example.org", channel="sms"
            )
        assert [r.delivered for r in world.tickets.responses(second)] == [False, False]
    finally:
        engine.dispose()


def test_a_response_sent_while_the_ticket_closed_is_recorded_as_a_note(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)

    class Slow:
        """A channel during whose delivery a colleague answers and closes the ticket."""

        channel = "email"
        service: TicketService | None = None

        def send(self, message: OutgoingMessage) -> None:
            assert self.service is not None
            self.service.respond(message.reference, actor_id=None, body="Ya", destination="x")
            self.service.close(message.reference, actor_id=None)

    try:
        slow = Slow()
        world = build_world(engine, responders=[slow])
        slow.service = world.tickets
        number = new_ticket(world)
        ticket = world.tickets.respond(
            number,
            actor_id=world.referent_id,
            body="Respuesta",
            destination="m@example.org",
            channel="email",
        )
        assert ticket.status is TicketStatus.CERRADA
        assert [r.channel for r in world.tickets.responses(number)] == ["log", "email"]
        last = world.tickets.timeline(number)[-1]
        assert (last.action, last.actor_id, last.notes) == (
            TicketAction.NOTE,
            world.referent_id,
            "via email",
        )
    finally:
        engine.dispose()


def test_a_ticket_from_a_call_belongs_to_the_person_of_the_call(world: World) -> None:
    key = CallKey("pbx-montevideo", "1795344853.0")
    record = CallRecord(
        key=key,
        caller_number="099123456",
        caller_name="María Pérez",
        arrived_at=NOW.timestamp(),
        outcome=Outcome.ANSWERED,
        hangup_side=HangupSide.CALLER,
        variables={"ATIENDE_PERSON_ID": str(world.person_id)},
    )
    AttentionRepository(world.engine).upsert_records([record])
    ticket = world.tickets.create(
        channel="telefonico",
        request_type="queja",
        topic="Mala atención",
        organism_id=world.organism_id,
        attention=key,
    )
    assert ticket.person_id == world.person_id and ticket.attention == key
    unknown_call = world.tickets.create(
        channel="telefonico",
        request_type="queja",
        topic="Mala atención",
        organism_id=world.organism_id,
        attention=CallKey("pbx-montevideo", "no.such"),
    )
    assert unknown_call.person_id is None
