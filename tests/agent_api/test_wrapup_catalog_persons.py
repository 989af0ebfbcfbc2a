"""Wrap-up (with derivation to a ticket), calls of the day, catalog import, the
person registry and its audit, through the API on PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from agent_api.catalog import parse_catalog
from agent_api.exceptions import InvalidInput
from citizen.calendar import BusinessHours, parse_range
from citizen.cedula import check_digit as cedula_check_digit
from crm_bridge.db import session_factory
from crm_bridge.models import Attention, AttentionWrapup, Ticket
from crm_bridge.organisms import Directory, Role
from crm_bridge.tickets import TicketService
from telephony.domain import AgentRinging, CallAnswered, CallKey
from tests.agent_api.conftest import Panel, build_panel

pytestmark = pytest.mark.postgres
SYSTEM = "pbx-wrap"


def _tickets(engine: Engine) -> TicketService:
    week = {day: (parse_range("09:00-17:00"),) for day in ("mon", "tue", "wed", "thu", "fri")}
    return TicketService(engine, business_hours=BusinessHours("America/Montevideo", week))


@pytest.fixture
def desk(panel_db: str) -> Iterator[Panel]:
    built = build_panel(panel_db, tickets=_tickets)
    try:
        yield built
    finally:
        built.engine.dispose()


def _rung(panel: Panel, username: str) -> CallKey:
    key = CallKey(SYSTEM, uuid.uuid4().hex)
    panel.hub.publish(
        [
            AgentRinging(
                time.time(),
                key,
                "consultas",
                panel.interfaces[username],
                "Agente",
                "099100001",
                "Ciudadana",
                {},
                2.0,
            )
        ]
    )
    return key


def test_wrapup_needs_an_outcome_and_counts_its_time(desk: Panel) -> None:
    agent = desk.usernames[Role.EJECUTIVO]
    client = desk.client(agent)
    key = _rung(desk, agent)
    url = f"/api/wrapups/{SYSTEM}/{key.linkedid}"
    started = client.post(url + "/start").json()["started_at"]
    assert client.put(url, json={"attention_type": "consulta"}).status_code == 422
    no_date = {"attention_type": "queja", "resolution": "pendiente"}
    answer = client.put(url, json=no_date)
    assert answer.status_code == 422 and "seguimiento" in answer.json()["detalle"]
    assert (
        client.put(url, json={"attention_type": "otro", "resolution": "resuelta"}).status_code
        == 422
    )
    follow_up = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    # A pending case also needs the person and a contact (test_pending_cases.py).
    no_person = client.put(url, json={**no_date, "follow_up_at": follow_up})
    assert no_person.status_code == 422 and "persona" in no_person.json()["detalle"]
    done = client.put(
        url,
        json={
            "attention_type": "queja",
            "resolution": "resuelta",
            "follow_up_at": follow_up,
            "notes": "Llamar el lunes",
        },
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["started_at"] == started  # opening the form again does not restart the clock
    assert body["wrapup_seconds"] is not None and body["wrapup_seconds"] >= 0
    assert body["resolution"] == "resuelta" and body["notes"] == "Llamar el lunes"
    again = client.put(url, json={"attention_type": "consulta", "resolution": "resuelta"})
    assert again.status_code == 409
    with session_factory(desk.engine)() as session:
        row = session.scalars(
            select(AttentionWrapup).where(AttentionWrapup.linkedid == key.linkedid)
        ).one()
    assert row.wrapup_ended_at is not None and row.wrapup_ended_at >= row.wrapup_started_at


def test_derived_wrapup_creates_a_ticket_for_the_topics_organism(desk: Panel) -> None:
    code = f"ORG{uuid.uuid4().hex[:5]}"
    organism = Directory(desk.engine).create_organism(code, "Dirección Nacional de Identificación")
    admin = desk.client(desk.usernames[Role.ADMIN])
    topic_code = f"cedula-{code}"
    imported = admin.post(
        "/api/catalog/import",
        content=f"code,name,kind,organism\n{topic_code},Renovación de cédula,tramite,{code}\n",
        headers={"Content-Type": "text/csv"},
    )
    assert imported.json() == {"created": 1, "updated": 0}
    agent = desk.usernames[Role.EJECUTIVO]
    client = desk.client(agent)
    topic = next(t for t in client.get("/api/catalog").json() if t["code"] == topic_code)
    assert topic["organism_id"] == organism.id
    key = _rung(desk, agent)
    answer = client.put(
        f"/api/wrapups/{SYSTEM}/{key.linkedid}",
        json={
            "attention_type": "tramite",
            "resolution": "derivada",
            "topic_id": topic["id"],
            "notes": "Falta partida",
        },
    )
    assert answer.status_code == 200, answer.text
    number = answer.json()["ticket_number"]
    with session_factory(desk.engine)() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
    assert ticket.organism_id == organism.id
    assert (ticket.attention_system, ticket.attention_linkedid) == (SYSTEM, key.linkedid)
    assert ticket.topic == "Renovación de cédula" and ticket.description == "Falta partida"
    assert ticket.channel == "telefonico" and ticket.request_type == "consulta"


def _attention(engine: Engine, interface: str, member: str) -> str:
    linkedid = uuid.uuid4().hex
    now = datetime.now(UTC)
    leg = {"queue": "consultas", "agent": member, "interface": interface}
    with session_factory(engine).begin() as session:
        session.add(
            Attention(
                system=SYSTEM,
                linkedid=linkedid,
                caller_number_raw="099100001",
                caller_number="+59899100001",
                caller_name="Ciudadana",
                arrived_at=now,
                ivr_path=[],
                queues=["consultas"],
                queue="consultas",
                agent=member,
                agents=[member],
                legs=[leg],
                outcome="answered",
                hangup_side="agent",
                variables={},
            )
        )
    return linkedid


def test_calls_of_the_day_are_the_agents_own(desk: Panel) -> None:
    agent = desk.usernames[Role.EJECUTIVO]
    mine = _attention(desk.engine, desk.interfaces[agent], "Yo")
    theirs = _attention(desk.engine, desk.interfaces[desk.second_agent], "Otra")
    own = {c["linkedid"] for c in desk.client(agent).get("/api/calls/today").json()}
    assert mine in own and theirs not in own
    supervisor = desk.client(desk.usernames[Role.SUPERVISOR])
    everyone = {c["linkedid"] for c in supervisor.get("/api/calls/today").json()}
    assert {mine, theirs} <= everyone
    # The agent may wrap up a stored call it answered, even after a restart of the hub.
    client = desk.client(agent)
    pending = {c["linkedid"] for c in client.get("/api/wrapups/pending").json()}
    assert mine in pending and theirs not in pending
    ok = client.put(
        f"/api/wrapups/{SYSTEM}/{mine}",
        json={"attention_type": "consulta", "resolution": "resuelta"},
    )
    assert ok.status_code == 200
    listed = {c["linkedid"]: c for c in client.get("/api/calls/today").json()}
    assert listed[mine]["wrapup_resolution"] == "resuelta"
    assert mine not in {c["linkedid"] for c in client.get("/api/wrapups/pending").json()}
    refused = client.put(
        f"/api/wrapups/{SYSTEM}/{theirs}",
        json={"attention_type": "consulta", "resolution": "resuelta"},
    )
    assert refused.status_code == 403


def test_catalog_parsing_rules() -> None:
    topics = parse_catalog(
        b'[{"code": "a", "name": "Pasaporte", "kind": "tr\xc3\xa1mite"},'
        b' {"code": "b", "name": "Web", "kind": "servicio", "active": false}]',
        "application/json",
    )
    assert [(t.code, t.kind, t.active) for t in topics] == [
        ("a", "tramite", True),
        ("b", "servicio", False),
    ]
    for bad, kind in [
        (b"name\nx\n", "text/csv"),
        (b"code,name\na,\n", "text/csv"),
        (b"code,name\na,x\na,y\n", "text/csv"),
        (b'{"code": "a"}', "application/json"),
        (b"code,name,kind\na,x,oficina\n", "text/csv"),
    ]:
        with pytest.raises(InvalidInput):
            parse_catalog(bad, kind)


def _answered(panel: Panel, username: str) -> CallKey:
    key = _rung(panel, username)
    interface = panel.interfaces[username]
    panel.hub.publish([CallAnswered(time.time(), key, "consultas", interface, "Agente", 2.0)])
    return key


def test_person_registry_with_audit_of_every_read(desk: Panel) -> None:
    agent = desk.usernames[Role.EJECUTIVO]
    client = desk.client(agent)
    key = _answered(desk, agent)
    reason = {"call_system": SYSTEM, "call_linkedid": key.linkedid}
    phone = f"099{uuid.uuid4().int % 1_000_000:06d}"
    document = _cedula()
    created = client.post(
        "/api/persons",
        json={
            "given_names": "Lucía",
            "family_names": "Fernández",
            "consents": ["identificacion", "contacto"],
            "document_type": "ci",
            "document_number": document,
            "phones": [phone],
            **reason,
        },
    )
    assert created.status_code == 201, created.text
    person = created.json()
    pid = person["id"]
    # Searches are POSTs with the reason: no document, phone or name in a URL.
    search = "/api/persons/search"
    by_doc = client.post(search, json={"document": document, **reason}).json()
    assert [p["id"] for p in by_doc] == [pid]
    assert by_doc[0]["document_masked"] == "*" * 6 + document[-2:]
    assert "phones" not in by_doc[0] and "document_number" not in by_doc[0]
    by_phone = client.post(search, json={"phone": phone, **reason}).json()
    assert [p["id"] for p in by_phone] == [pid]
    by_name = client.post(search, json={"name": "fernandez luc", **reason}).json()
    assert pid in [p["id"] for p in by_name]
    assert client.get("/api/persons", params={"document": document}).status_code == 405
    read = client.get(f"/api/persons/{pid}", params=reason)
    assert read.status_code == 200 and read.json()["document_number"] == document
    withdrawn = client.put(
        f"/api/persons/{pid}/consents/contacto", params=reason, json={"granted": False}
    )
    assert withdrawn.json()["phones"] == []
    refused = client.patch(f"/api/persons/{pid}", params=reason, json={"add_phones": [phone]})
    assert refused.status_code == 422 and "consentimiento" in refused.json()["detalle"]
    assert client.post(search, json=reason).status_code == 422
    # An id that does not exist is not identified for the call: 403, not 404
    # (ids are not probed through reads).
    assert client.get("/api/persons/999999999", params=reason).status_code == 403

    admin = desk.client(desk.usernames[Role.ADMIN])
    audit = admin.get("/api/audit", params={"person_id": pid}).json()
    actions = sorted(r["action"] for r in audit)
    assert actions == sorted(
        [
            "person_create",
            "person_search",
            "person_search",
            "person_search",
            "person_read",
            "consent_change",
        ]
    )
    assert {r["actor_id"] for r in audit} == {desk.users[agent]}
    assert {(r["call_system"], r["call_linkedid"]) for r in audit} == {(SYSTEM, key.linkedid)}
    assert {r["details"]["reason"] for r in audit} == {"call"}


def _cedula() -> str:
    """A random valid cédula (7 digits + check digit)."""
    body = f"{uuid.uuid4().int % 9_000_000 + 1_000_000}"
    return body + str(cedula_check_digit(body))


def test_registering_an_existing_document_answers_409_with_the_person(desk: Panel) -> None:
    agent = desk.usernames[Role.EJECUTIVO]
    client = desk.client(agent)
    key = _answered(desk, agent)
    reason = {"call_system": SYSTEM, "call_linkedid": key.linkedid}
    body = {
        "given_names": "Ana",
        "consents": ["identificacion"],
        "document_type": "ci",
        "document_number": _cedula(),
    }
    first = client.post("/api/persons", json=body)
    assert first.status_code == 201, first.text
    again = client.post("/api/persons", json={**body, "given_names": "Otra", **reason})
    assert again.status_code == 409, again.text
    assert again.json() == {
        "detalle": "Ya existe una persona con ese documento",
        "person_id": first.json()["id"],
    }
    # The page's link opens her with the call as reason (the lookup was audited).
    opened = client.get(f"/api/persons/{first.json()['id']}", params=reason)
    assert opened.status_code == 200 and opened.json()["given_names"] == "Ana"
