"""Tickets, SLA alerts, CRM failures and rights over HTTP, for every role.

Expectations come from the roles document (crm_bridge.ticket_access's table,
written from the seeds) and the permission table of the README, not from the
routes: each endpoint is called by each role and must answer 403 exactly when
the table says no.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from agent_api.audit import AuditAction, AuditLog
from agent_api.auth import CSRF_HEADER
from citizen.calendar import WEEKDAYS, BusinessHours, parse_range
from crm_bridge.exceptions import DeliveryError
from crm_bridge.models import Attention
from crm_bridge.organisms import Directory, Role
from crm_bridge.persons import PersonRegistry
from crm_bridge.responders import LogResponder, OutgoingMessage
from crm_bridge.sync.outbox import Entity, OutboxStore, SyncFailures, add_rows
from crm_bridge.sync.rights import PersonRights
from crm_bridge.sync.sla_alerts import SlaAlerts
from crm_bridge.tickets import TicketService
from telephony.domain import AgentRinging, CallKey
from tests.agent_api.conftest import Panel, build_panel

pytestmark = pytest.mark.postgres

E, S, G, R, A = Role.EJECUTIVO, Role.SUPERVISOR, Role.GERENTE, Role.REFERENTE, Role.ADMIN
ALWAYS_OPEN = BusinessHours(
    "America/Montevideo",
    {day: (parse_range("00:00-23:59"),) for day in WEEKDAYS},
    national_holidays=False,
)


class DownSmsGateway:
    """An SMS responder whose gateway refuses everything."""

    channel = "sms"

    def __init__(self) -> None:
        self.tried: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> None:
        self.tried.append(message)
        raise DeliveryError("gateway answered 503")


class RecordingDispatcher:
    def __init__(self) -> None:
        self.dispatched: list[int] = []

    def dispatch(self, outbox_id: int) -> None:
        self.dispatched.append(outbox_id)

    def is_alive(self, outbox_id: int) -> bool:
        return outbox_id in self.dispatched


@dataclass
class World:
    panel: Panel
    tickets: TicketService
    responder: LogResponder
    dispatcher: RecordingDispatcher
    organism: int
    unit: int  # the referente answers for it
    other_unit: int  # nobody of the panel answers for it
    person: int

    def user(self, role: Role) -> int:
        return self.panel.users[self.panel.usernames[role]]

    def client(self, role: Role) -> TestClient:
        return self.panel.client(self.panel.usernames[role])

    def ticket(self, status: str = "abierta", *, unit: int | None = None) -> str:
        """A ticket the ejecutivo created for the person, derived to the referente's unit."""
        agent = self.user(E)
        made = self.tickets.create(
            channel="presencial",
            request_type="reclamo",
            topic="Demora en trámite",
            organism_id=self.organism,
            person_id=self.person,
            actor_id=agent,
        )
        number = made.number
        if status == "abierta":
            return number
        self.tickets.derive(number, actor_id=agent, unit_id=unit or self.unit)
        if status == "derivada":
            return number
        self.tickets.start(number, actor_id=agent)
        if status == "en_proceso":
            return number
        self.tickets.respond(number, actor_id=agent, body="Resuelto.", destination="x")
        if status == "respondida":
            return number
        raise AssertionError(status)


def _build(db: str, *, services: bool) -> tuple[Panel, TicketService | None, LogResponder]:
    responder = LogResponder()
    made: list[TicketService] = []

    def tickets(engine: Engine) -> TicketService:
        made.append(
            TicketService(
                engine, business_hours=ALWAYS_OPEN, responders=[responder, DownSmsGateway()]
            )
        )
        return made[0]

    panel = build_panel(db, tickets=tickets if services else None)
    return panel, (made[0] if made else None), responder


@pytest.fixture
def world(panel_db: str) -> Iterator[World]:
    panel, tickets, responder = _build(panel_db, services=True)
    assert tickets is not None
    engine = panel.engine
    directory = Directory(engine)
    suffix = uuid.uuid4().hex[:6]
    organism = directory.create_organism(f"ORG{suffix}", "Organismo de prueba").id
    unit = directory.create_unit(organism, f"U{suffix}", "Atención al usuario").id
    other_unit = directory.create_unit(organism, f"V{suffix}", "Otra unidad").id
    directory.add_referent(unit, panel.users[panel.usernames[R]])
    person = (
        PersonRegistry(engine)
        .register(
            given_names="Ana",
            family_names="Pérez",
            consents=["identificacion", "contacto"],
            emails=["ana@example.org"],
        )
        .id
    )
    # The ejecutivo registered her (need_to_know: a ticket for a person
    # without a call needs this, or the call she was identified on).
    AuditLog(engine).record(
        AuditAction.PERSON_CREATE, actor_id=panel.users[panel.usernames[E]], person_ids=[person]
    )
    dispatcher = RecordingDispatcher()
    followup = panel.app.state.followup
    followup.sla_alerts = SlaAlerts(engine, hours=ALWAYS_OPEN)
    followup.crm_failures = SyncFailures(OutboxStore(engine), dispatcher)
    followup.rights = PersonRights(engine, sync_to_crm=False)
    try:
        yield World(panel, tickets, responder, dispatcher, organism, unit, other_unit, person)
    finally:
        engine.dispose()


# ------------------------------------------------------------------ roles

# Role table of the seeds (see crm_bridge.ticket_access): who may do what on a
# ticket that an ejecutivo created and derived to the referente's unit.
WORKERS = {E, S, R, A}
ACTIONS: list[tuple[str, str, Any, set[Role]]] = [
    ("abierta", "derive", "unit", {E, S, A}),  # a referente only sees it once derived
    ("derivada", "derive", "unit", WORKERS),
    ("derivada", "start", None, WORKERS),
    ("derivada", "respond", {"text": "Su trámite está listo."}, WORKERS),
    ("respondida", "close", {"notes": "Conforme"}, WORKERS),
    ("respondida", "reopen", {"notes": "No conforme"}, WORKERS),
    ("derivada", "notes", {"notes": "Llamó de nuevo"}, WORKERS),
]


@pytest.mark.parametrize("role", list(Role))
def test_every_ticket_action_allows_exactly_its_roles(world: World, role: Role) -> None:
    client = world.client(role)
    for status, action, body, allowed in ACTIONS:
        number = world.ticket(status)
        if body == "unit":
            body = {"unit_id": world.unit}
        answer = client.post(f"/api/tickets/{number}/{action}", json=body)
        if role in allowed:
            assert answer.status_code == 200, (status, action, answer.text)
        else:
            assert answer.status_code == 403, (status, action, answer.text)
            assert answer.json()["detalle"]
    readable = world.ticket("derivada")
    assert client.get(f"/api/tickets/{readable}").status_code == 200  # every role sees it
    created = client.post("/api/tickets", json=_new_ticket(world))
    assert created.status_code == (201 if role in {E, S, A} else 403), created.text


def _new_ticket(world: World, **extra: Any) -> dict[str, Any]:
    return {
        "channel": "whatsapp",
        "request_type": "consulta",
        "topic": "Horario de atención",
        "organism_id": world.organism,
        "person_id": world.person,
        **extra,
    }


def test_another_agents_ticket_is_forbidden(world: World) -> None:
    other = world.panel.client(world.panel.second_agent)
    number = world.ticket("derivada")
    assert other.get(f"/api/tickets/{number}").status_code == 403
    for action, body in [("start", None), ("notes", {"notes": "x"}), ("derive", {"unit_id": 1})]:
        answer = other.post(f"/api/tickets/{number}/{action}", json=body)
        assert answer.status_code == 403, (action, answer.text)
    listed = {t["number"] for t in other.get("/api/tickets").json()}
    assert number not in listed
    mine = {t["number"] for t in world.client(E).get("/api/tickets").json()}
    assert number in mine


def test_an_agent_sees_the_tickets_of_a_caller_they_answered(world: World) -> None:
    number = world.ticket("derivada")
    other = world.panel.client(world.panel.second_agent)
    interface = world.panel.interfaces[world.panel.second_agent]
    now = datetime.now(UTC)
    with world.panel.engine.begin() as conn:
        conn.execute(
            Attention.__table__.insert().values(
                system="pbx-test",
                linkedid=uuid.uuid4().hex,
                caller_number_raw="099100001",
                caller_name="Ana",
                arrived_at=now,
                ivr_path=[],
                queues=[],
                agent=interface,
                agents=[interface],
                legs=[],
                outcome="answered",
                hangup_side="caller",
                variables={},
                person_id=world.person,
            )
        )
    assert other.get(f"/api/tickets/{number}").status_code == 200


def test_a_referente_sees_only_what_is_derived_to_them(world: World) -> None:
    referente = world.client(R)
    theirs = world.ticket("derivada")
    elsewhere = world.ticket("derivada", unit=world.other_unit)
    not_yet = world.ticket("abierta")
    assert referente.get(f"/api/tickets/{theirs}").status_code == 200
    for number in (elsewhere, not_yet):
        assert referente.get(f"/api/tickets/{number}").status_code == 403
        assert referente.post(f"/api/tickets/{number}/start").status_code == 403
    listed = {t["number"] for t in referente.get("/api/tickets").json()}
    assert theirs in listed
    assert not {elsewhere, not_yet} & listed


def test_list_filters(world: World) -> None:
    derived = world.ticket("derivada")
    answered = world.ticket("respondida")
    supervisor = world.client(S)
    got = {t["number"] for t in supervisor.get("/api/tickets?status=derivada").json()}
    assert derived in got and answered not in got
    got = {t["number"] for t in supervisor.get(f"/api/tickets?unit_id={world.other_unit}").json()}
    assert not {derived, answered} & got
    # Created now with 40 business hours to answer: none of them is overdue yet.
    got = {t["number"] for t in supervisor.get("/api/tickets?overdue=true").json()}
    assert not {derived, answered} & got
    assert supervisor.get("/api/tickets?status=perdida").status_code == 422


def test_state_changes_need_the_csrf_token(world: World) -> None:
    client = world.client(S)
    del client.headers[CSRF_HEADER]
    number = world.ticket("derivada")
    assert client.get(f"/api/tickets/{number}").status_code == 200
    for path, body in [
        ("/api/tickets", _new_ticket(world)),
        (f"/api/tickets/{number}/start", None),
        (f"/api/tickets/{number}/notes", {"notes": "x"}),
        ("/api/sla-alerts/1/ack", None),
    ]:
        answer = client.post(path, json=body)
        assert answer.status_code == 403, path
        assert "token" in answer.json()["detalle"]
    admin = world.client(A)
    del admin.headers[CSRF_HEADER]
    assert admin.post("/api/crm/failures/retry").status_code == 403
    erase = {"confirm_person_id": world.person}
    assert admin.post(f"/api/persons/{world.person}/rights/erasure", json=erase).status_code == 403
    assert world.panel.client().get(f"/api/tickets/{number}").status_code == 401


# -------------------------------------------------------------- lifecycle


def test_ticket_lifecycle_over_http(world: World) -> None:
    agent, referente = world.client(E), world.client(R)
    created = agent.post(
        "/api/tickets",
        json=_new_ticket(world, channel="telefónico", request_type="reclamo", description="Nada"),
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    number = ticket["number"]
    year = datetime.now(UTC).astimezone().year
    assert number.startswith(f"{year}-") or number.startswith(f"{year + 1}-")
    assert (ticket["status"], ticket["channel"]) == ("abierta", "telefonico")
    referent_id = world.user(R)
    derived = agent.post(
        f"/api/tickets/{number}/derive",
        json={"unit_id": world.unit, "referent_id": referent_id, "notes": "Para la unidad"},
    )
    assert derived.json()["status"] == "derivada", derived.text
    assert referente.post(f"/api/tickets/{number}/start").json()["status"] == "en_proceso"
    answered = referente.post(
        f"/api/tickets/{number}/respond", json={"text": "Ya puede retirar su documento."}
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "respondida"
    assert [(m.reference, m.body) for m in world.responder.sent] == [
        (number, "Ya puede retirar su documento.")
    ]
    assert world.responder.sent[0].destination == f"persona {world.person}"
    closed = agent.post(f"/api/tickets/{number}/close", json={"notes": "Conforme"})
    assert closed.json()["status"] == "cerrada"
    # Closed: no more transitions; the role may, the status refuses.
    refused = agent.post(f"/api/tickets/{number}/start")
    assert refused.status_code == 409
    assert "estado" in refused.json()["detalle"]
    detail = referente.get(f"/api/tickets/{number}").json()
    steps = [
        (e["action"], e["from_status"], e["to_status"], e["actor_id"]) for e in detail["timeline"]
    ]
    me = world.user(E)
    assert steps == [
        ("crear", None, "abierta", me),
        ("derivar", "abierta", "derivada", me),
        ("tomar", "derivada", "en_proceso", referent_id),
        ("responder", "en_proceso", "respondida", referent_id),
        ("cerrar", "respondida", "cerrada", me),
    ]
    assert detail["timeline"][1]["notes"] == "Para la unidad"
    assert [(r["channel"], r["delivered"]) for r in detail["responses"]] == [("log", True)]
    assert "destination" not in detail["responses"][0]


def test_response_by_email_goes_to_the_persons_address_when_no_channel_exists(
    world: World,
) -> None:
    number = world.ticket("derivada")
    answer = world.client(R).post(
        f"/api/tickets/{number}/respond", json={"text": "Hola", "channel": "email"}
    )
    # Only the log responder is configured here: the channel is refused in Spanish.
    assert answer.status_code == 422
    assert "Canal de respuesta no disponible" in answer.json()["detalle"]
    assert world.responder.sent == []


def test_bad_numbers_and_unknown_tickets(world: World) -> None:
    client = world.client(S)
    assert client.get("/api/tickets/2026-123").status_code == 422
    missing = client.get("/api/tickets/1999-000001")
    assert missing.status_code == 404
    assert "1999-000001" in missing.json()["detalle"]


# ------------------------------------------------------------- SLA alerts


def _overdue_ticket(world: World) -> str:
    """A ticket created a month ago (its due date long past), derived to the referente."""
    past = TicketService(
        world.panel.engine,
        business_hours=ALWAYS_OPEN,
        clock=lambda: datetime.now(UTC) - timedelta(days=30),
    )
    made = past.create(
        channel="web",
        request_type="queja",
        topic="Sin respuesta",
        organism_id=world.organism,
        actor_id=world.user(E),
    )
    past.derive(made.number, actor_id=world.user(E), unit_id=world.unit)
    return made.number


def test_sla_alerts_by_role(world: World) -> None:
    mine = _overdue_ticket(world)
    alerts = world.panel.app.state.followup.sla_alerts
    alerts.scan()
    elsewhere = world.ticket("derivada", unit=world.other_unit)
    expected = {"por_vencer", "vencido"}
    for role in (S, A, R):
        listed = world.client(role).get("/api/sla-alerts")
        assert listed.status_code == 200, (role, listed.text)
        levels = {a["level"] for a in listed.json() if a["ticket_number"] == mine}
        assert levels == expected, (role, levels)
        assert all(a["ticket_number"] != elsewhere for a in listed.json())
    for role in (E, G):
        assert world.client(role).get("/api/sla-alerts").status_code == 403
    ids = [a["id"] for a in world.client(R).get("/api/sla-alerts").json()]
    assert ids
    assert world.client(E).post(f"/api/sla-alerts/{ids[0]}/ack").status_code == 403
    assert world.client(R).post(f"/api/sla-alerts/{ids[0]}/ack").status_code == 204
    assert ids[0] not in {a["id"] for a in world.client(S).get("/api/sla-alerts").json()}
    assert world.client(S).post(f"/api/sla-alerts/{ids[1]}/ack").status_code == 204


def test_a_referente_cannot_acknowledge_another_units_alert(world: World) -> None:
    number = _overdue_ticket(world)
    directory = Directory(world.panel.engine)
    directory.remove_referent(world.unit, world.user(R))
    world.panel.app.state.followup.sla_alerts.scan()
    theirs = [
        a["id"]
        for a in world.client(S).get("/api/sla-alerts").json()
        if a["ticket_number"] == number
    ]
    assert theirs
    answer = world.client(R).post(f"/api/sla-alerts/{theirs[0]}/ack")
    assert answer.status_code == 403
    assert "alerta" in answer.json()["detalle"]


# ------------------------------------------------------------------- CRM


def _failed_rows(world: World, n: int) -> list[int]:
    store = OutboxStore(world.panel.engine)
    before = {r.id for r in store.rows()}
    ids = [world.person + 10_000 + i for i in range(n)]
    with world.panel.engine.begin() as conn:
        add_rows(conn, Entity.PERSON, ids)
    new = [r.id for r in store.rows() if r.id not in before]
    for outbox_id in new:
        store.record_failure(outbox_id, "CRM said 500 for 099123456", final=True)
    return new


def test_crm_failures_for_admins_only(world: World) -> None:
    failed = _failed_rows(world, 3)
    for role in (E, S, G, R):
        client = world.client(role)
        assert client.get("/api/crm/failures").status_code == 403
        assert client.post("/api/crm/failures/retry").status_code == 403
        assert client.post(f"/api/crm/failures/{failed[0]}/retry").status_code == 403
    admin = world.client(A)
    listed = admin.get("/api/crm/failures").json()
    assert set(failed) <= {j["id"] for j in listed}
    errors = [j["last_error"] for j in listed if j["id"] in failed]
    assert all("099123456" not in e and "56" in e for e in errors)
    assert admin.post(f"/api/crm/failures/{failed[0]}/retry").json() == {"retried": 1}
    assert world.dispatcher.dispatched == [failed[0]]
    again = admin.post(f"/api/crm/failures/{failed[0]}/retry")
    assert again.status_code == 409
    assert "fallidos" in again.json()["detalle"]
    assert admin.post("/api/crm/failures/retry").json()["retried"] >= 2
    assert set(failed) <= set(world.dispatcher.dispatched)
    assert not set(failed) & {j["id"] for j in admin.get("/api/crm/failures").json()}


# ---------------------------------------------------------------- rights


def test_rights_for_admins_only_and_audited(world: World) -> None:
    person = world.person
    base = f"/api/persons/{person}/rights"
    for role in (E, S, G, R):
        client = world.client(role)
        assert client.get(f"{base}/export").status_code == 403
        assert client.post(f"{base}/rectification", json={"given_names": "X"}).status_code == 403
        assert client.post(f"{base}/erasure", json={"confirm_person_id": person}).status_code == 403
        assert client.get(base).status_code == 403
    admin = world.client(A)
    exported = admin.get(f"{base}/export")
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    data = exported.json()
    assert data["person"]["given_names"] == "Ana"
    assert [e["address"] for e in data["person"]["emails"]] == ["ana@example.org"]
    fixed = admin.post(f"{base}/rectification", json={"given_names": "Ana María"})
    assert fixed.json() == {"person_id": person, "changed": ["given_names"]}
    assert admin.post(f"{base}/rectification", json={}).status_code == 422
    wrong = admin.post(f"{base}/erasure", json={"confirm_person_id": person + 1})
    assert wrong.status_code == 422
    assert "confirmación" in wrong.json()["detalle"]
    number = world.ticket("derivada")
    erased = admin.post(f"{base}/erasure", json={"confirm_person_id": person})
    assert erased.status_code == 200, erased.text
    assert erased.json()["tickets_unlinked"] >= 1
    assert PersonRegistry(world.panel.engine).get(person) is None
    assert world.tickets.get(number).person_id is None  # type: ignore[union-attr]
    trail = admin.get(base).json()
    admin_id = world.user(A)
    assert [(r["kind"], r["actor_id"]) for r in trail] == [
        ("acceso", admin_id),
        ("rectificacion", admin_id),
        ("supresion", admin_id),
    ]
    assert admin.get(f"{base}/export").status_code == 404


# ------------------------------------------------------- not configured


def test_routes_answer_503_without_their_services(panel_db: str) -> None:
    panel, _, _ = _build(panel_db, services=False)
    try:
        calls = [
            (S, "GET", "/api/tickets", None),
            (
                S,
                "POST",
                "/api/tickets",
                {"channel": "web", "request_type": "consulta", "topic": "x", "organism_id": 1},
            ),
            (S, "GET", "/api/tickets/2026-000001", None),
            (S, "POST", "/api/tickets/2026-000001/start", None),
            (S, "GET", "/api/sla-alerts", None),
            (R, "POST", "/api/sla-alerts/1/ack", None),
            (A, "GET", "/api/crm/failures", None),
            (A, "POST", "/api/crm/failures/retry", None),
            (A, "POST", "/api/crm/failures/1/retry", None),
            (A, "GET", "/api/persons/1/rights/export", None),
            (A, "POST", "/api/persons/1/rights/rectification", {"given_names": "X"}),
            (A, "POST", "/api/persons/1/rights/erasure", {"confirm_person_id": 1}),
            (A, "GET", "/api/persons/1/rights", None),
        ]
        for role, method, path, body in calls:
            answer = panel.client(panel.usernames[role]).request(method, path, json=body)
            assert answer.status_code == 503, (path, answer.text)
            assert "servidor" in answer.json()["detalle"], path
        # Roles are still checked first where a permission guards the route.
        assert panel.client(panel.usernames[E]).get("/api/crm/failures").status_code == 403
    finally:
        panel.engine.dispose()


def test_a_failed_delivery_keeps_the_status_and_records_the_attempt(world: World) -> None:
    number = world.ticket("derivada")
    referente = world.client(R)
    # The person consented to contact data but has no phone: the destination is required.
    no_phone = referente.post(
        f"/api/tickets/{number}/respond", json={"text": "Hola", "channel": "sms"}
    )
    assert no_phone.status_code == 422
    assert "destino" in no_phone.json()["detalle"]
    failed = referente.post(
        f"/api/tickets/{number}/respond",
        json={"text": "Hola", "channel": "sms", "destination": "099123456"},
    )
    assert failed.status_code == 502
    assert "no cambió de estado" in failed.json()["detalle"]
    detail = referente.get(f"/api/tickets/{number}").json()
    assert detail["status"] == "derivada"
    assert [(r["channel"], r["delivered"]) for r in detail["responses"]] == [("sms", False)]


NEW_ENDPOINTS = [
    ("GET", "/api/tickets"),
    ("POST", "/api/tickets"),
    ("GET", "/api/tickets/2026-000001"),
    ("POST", "/api/tickets/2026-000001/derive"),
    ("POST", "/api/tickets/2026-000001/start"),
    ("POST", "/api/tickets/2026-000001/respond"),
    ("POST", "/api/tickets/2026-000001/close"),
    ("POST", "/api/tickets/2026-000001/reopen"),
    ("POST", "/api/tickets/2026-000001/notes"),
    # Email tickets (who may: tests/agent_api/test_mail_tickets.py).
    ("POST", "/api/tickets/2026-000001/person"),
    ("GET", "/api/tickets/2026-000001/attachments/1"),
    ("GET", "/api/sla-alerts"),
    ("POST", "/api/sla-alerts/1/ack"),
    ("GET", "/api/crm/failures"),
    ("POST", "/api/crm/failures/1/retry"),
    ("POST", "/api/crm/failures/retry"),
    ("GET", "/api/persons/1/rights/export"),
    ("POST", "/api/persons/1/rights/rectification"),
    ("POST", "/api/persons/1/rights/erasure"),
    ("GET", "/api/persons/1/rights"),
]


def test_every_new_endpoint_needs_a_session(world: World) -> None:
    client = world.panel.client()
    for method, path in NEW_ENDPOINTS:
        assert client.request(method, path, json={}).status_code == 401, (method, path)
    documented = world.panel.client().get("/api/openapi.json").json()["paths"]
    for method, path in NEW_ENDPOINTS:
        bare = openapi_path(path)
        assert method.lower() in documented.get(bare, {}), (method, bare)


def openapi_path(path: str) -> str:
    """One of NEW_ENDPOINTS as the OpenAPI document names it."""
    bare = path.replace("2026-000001", "{number}").replace("/1/", "/{id}/")
    bare = bare.replace("/attachments/1", "/attachments/{attachment_id}")
    bare = bare.replace("persons/{id}", "persons/{person_id}")
    bare = bare.replace("sla-alerts/{id}", "sla-alerts/{alert_id}")
    bare = bare.replace("failures/{id}", "failures/{outbox_id}")
    return bare.replace("/api/persons/1/rights", "/api/persons/{person_id}/rights")


@pytest.mark.parametrize("role", list(Role))
def test_ticket_lists_per_role(world: World, role: Role) -> None:
    derived = world.ticket("derivada")
    elsewhere = world.ticket("derivada", unit=world.other_unit)
    answer = world.client(role).get("/api/tickets")
    assert answer.status_code == 200
    listed = {t["number"] for t in answer.json()}
    # The ejecutivo created both; the referente answers only for the first unit.
    expected = {derived} if role is R else {derived, elsewhere}
    assert expected <= listed and (role is not R or elsewhere not in listed)
    if role is G:
        assert all(t["actions"] == [] for t in answer.json())
    if role is not G:
        for ticket in answer.json():
            if ticket["number"] == derived:
                assert set(ticket["actions"]) == {"nota", "derivar", "tomar", "responder"}


def test_a_ticket_from_a_call_only_by_the_agent_who_took_it(world: World) -> None:
    linkedid = uuid.uuid4().hex
    world.panel.hub.publish(
        [
            AgentRinging(
                at=1.0,
                key=CallKey("pbx-test", linkedid),
                queue="consultas",
                interface=world.panel.interfaces[world.panel.usernames[E]],
                member_name="x",
                caller_number="099100001",
                caller_name="Ciudadana",
                variables={"ATIENDE_PERSON_ID": str(world.person)},  # the IVR identified her
                wait_seconds=1.0,
            )
        ]
    )
    body = _new_ticket(world, channel="telefonico", call_system="pbx-test", call_linkedid=linkedid)
    other = world.panel.client(world.panel.second_agent)
    refused = other.post("/api/tickets", json=body)
    assert refused.status_code == 403
    assert "atendió la llamada" in refused.json()["detalle"]
    created = world.client(E).post("/api/tickets", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["call_linkedid"] == linkedid
    # A supervisor records it for the agent.
    assert world.client(S).post("/api/tickets", json=body).status_code == 201
