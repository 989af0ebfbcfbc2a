"""Need to know (Ley 18.331), through the API on PostgreSQL, per role: a person
is read only for a reason the server checks, links to calls are justified,
the gerente sees figures, every read is audited, nothing personal in a URL."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from agent_api.audit import AuditLog
from citizen.calendar import WEEKDAYS, BusinessHours, parse_range
from crm_bridge.db import session_factory
from crm_bridge.models import Attention
from crm_bridge.organisms import Directory, Role
from crm_bridge.persons import PersonRegistry
from crm_bridge.tickets import TicketService
from telephony.domain import AgentRinging, CallAnswered, CallKey
from tests.agent_api.conftest import Panel, build_panel

pytestmark = pytest.mark.postgres
SYSTEM = "pbx-ntk"
E, S, G, R, A = Role.EJECUTIVO, Role.SUPERVISOR, Role.GERENTE, Role.REFERENTE, Role.ADMIN
ALWAYS_OPEN = BusinessHours(
    "America/Montevideo",
    {day: (parse_range("00:00-23:59"),) for day in WEEKDAYS},
    national_holidays=False,
)


def _tickets(engine: Engine) -> TicketService:
    return TicketService(engine, business_hours=ALWAYS_OPEN)


@pytest.fixture
def desk(panel_db: str) -> Iterator[Panel]:
    built = build_panel(panel_db, tickets=_tickets)
    try:
        yield built
    finally:
        built.engine.dispose()


def _number() -> str:
    return f"099{uuid.uuid4().int % 1_000_000:06d}"


def _rung(panel: Panel, username: str, caller: str, *, answer: bool = True) -> CallKey:
    key = CallKey(SYSTEM, uuid.uuid4().hex)
    interface = panel.interfaces[username]
    events: list[AgentRinging | CallAnswered] = [
        AgentRinging(time.time(), key, "consultas", interface, "A", caller, "Ciudadana", {}, 2.0)
    ]
    if answer:
        events.append(CallAnswered(time.time(), key, "consultas", interface, "A", 2.0))
    panel.hub.publish(events)
    return key


def _person(panel: Panel, phone: str | None = None, name: str = "Estela") -> int:
    return (
        PersonRegistry(panel.engine)
        .register(
            given_names=name,
            family_names=f"Extraña{uuid.uuid4().hex[:6]}",
            consents=["identificacion", "contacto"],
            phones=[phone] if phone else [],
        )
        .id
    )


def _organism(panel: Panel) -> tuple[int, int]:
    directory = Directory(panel.engine)
    code = uuid.uuid4().hex[:6]
    organism = directory.create_organism(f"O{code}", "Organismo").id
    unit = directory.create_unit(organism, f"U{code}", "Unidad").id
    return organism, unit


def _ticket(panel: Panel, person: int, *, at: tuple[int, int] | None = None) -> str:
    """A ticket of the person opened by the supervisor, derived to unit `at` if given."""
    organism, unit = at or _organism(panel)
    tickets = _tickets(panel.engine)
    made = tickets.create(
        channel="presencial",
        request_type="reclamo",
        topic="Demora",
        organism_id=organism,
        person_id=person,
        actor_id=panel.users[panel.usernames[S]],
        description="La señora Estela reclama por su trámite",
    )
    if at is not None:
        tickets.derive(made.number, actor_id=panel.users[panel.usernames[S]], unit_id=unit)
    return made.number


def _reason(key: CallKey) -> dict[str, str]:
    return {"call_system": key.system, "call_linkedid": key.linkedid}


def _audited(panel: Panel, person: int, action: str) -> list[tuple[int | None, str | None]]:
    rows = AuditLog(panel.engine).query(person_id=person, action=action)
    return [(r.actor_id, None if r.call is None else r.call.linkedid) for r in rows]


def test_a_wrapup_cannot_link_a_stranger_and_so_open_her_tickets(desk: Panel) -> None:
    """Issue 11: wrapping up one's call with any person_id opened that person's tickets."""
    agent = desk.usernames[E]
    client = desk.client(agent)
    stranger = _person(desk)
    ticket = _ticket(desk, stranger)
    key = _rung(desk, agent, _number())
    url = f"/api/wrapups/{SYSTEM}/{key.linkedid}"
    body = {"attention_type": "consulta", "resolution": "resuelta", "person_id": stranger}
    refused = client.put(url, json=body)
    assert refused.status_code == 403, refused.text
    assert "no fue identificada" in refused.json()["detalle"]
    assert client.get(f"/api/tickets/{ticket}").status_code == 403
    assert ticket not in {t["number"] for t in client.get("/api/tickets").json()}
    # Identified for the call (a search with the call as reason): the link stands.
    found = client.post(
        "/api/persons/search",
        json={"name": "Estela Extraña", **_reason(key)},
    ).json()
    assert stranger in {p["id"] for p in found}
    assert client.put(url, json=body).status_code == 200
    assert client.get(f"/api/tickets/{ticket}").status_code == 200


def test_registering_on_another_agents_call_or_a_missing_one_is_refused(desk: Panel) -> None:
    """Issue 11: POST /api/persons with another agent's call linked it (201)."""
    client = desk.client(desk.usernames[E])
    theirs = _rung(desk, desk.second_agent, _number())
    missing = CallKey(SYSTEM, "no-such-call")
    for key in (theirs, missing):
        body = {"given_names": "Intrusa", "consents": ["identificacion"], **_reason(key)}
        answer = client.post("/api/persons", json=body)
        assert answer.status_code == 403, answer.text
    with session_factory(desk.engine)() as session:
        linked = session.query(Attention).filter(Attention.linkedid == theirs.linkedid).count()
    assert linked == 0
    assert not PersonRegistry(desk.engine).search_by_name("Intrusa")


def test_an_ejecutivo_reads_a_person_only_for_a_call_that_identified_her(desk: Panel) -> None:
    phone = _number()
    person = _person(desk, phone)
    agent = desk.usernames[E]
    client = desk.client(agent)
    mine_from_her = _rung(desk, agent, phone)
    mine_from_else = _rung(desk, agent, _number())
    theirs_from_her = _rung(desk, desk.second_agent, phone)
    url = f"/api/persons/{person}"
    assert client.get(url).status_code == 403  # no reason
    for key in (CallKey(SYSTEM, "nonexistent"), theirs_from_her, mine_from_else):
        answer = client.get(url, params=_reason(key))
        assert answer.status_code == 403, (key, answer.text)
        search = client.post("/api/persons/search", json={"phone": phone, **_reason(key)})
        assert search.status_code == (200 if key == mine_from_else else 403)
    assert client.get(url, params={"ticket": "2026-999999"}).status_code == 403
    assert client.get(url + "/history").status_code == 403
    assert client.get(url + "/history", params=_reason(theirs_from_her)).status_code == 403
    assert _audited(desk, person, "person_read") == []
    # A search with an own call as reason identifies her for that call.
    assert client.get(url, params=_reason(mine_from_else)).status_code == 200
    ok = client.get(url, params=_reason(mine_from_her))
    assert ok.status_code == 200 and ok.json()["phones"][0]["number"].endswith(phone[1:])
    page = client.get(url + "/history", params=_reason(mine_from_her))
    assert page.status_code == 200 and page.json()["page"] == 1
    me = desk.users[agent]
    assert sorted(_audited(desk, person, "person_read")) == sorted(
        [(me, mine_from_else.linkedid), (me, mine_from_her.linkedid), (me, mine_from_her.linkedid)]
    )
    # The call's own route: only once answered, only by who answered.
    rung_only = _rung(desk, agent, phone, answer=False)
    assert client.get(f"/api/calls/{SYSTEM}/{rung_only.linkedid}/person").status_code == 403
    # A phone that only rings gets the pop's summary: no record through that call.
    assert client.get(url, params=_reason(rung_only)).status_code == 403
    card = client.get(f"/api/calls/{SYSTEM}/{mine_from_her.linkedid}/person")
    assert card.status_code == 200 and card.json()["person"]["id"] == person
    other = desk.client(desk.second_agent)
    assert other.get(f"/api/calls/{SYSTEM}/{mine_from_her.linkedid}/person").status_code == 403


def test_a_referente_reads_a_person_only_through_the_tickets_of_her_units(desk: Panel) -> None:
    phone = _number()
    person, someone_else = _person(desk, phone), _person(desk)
    organism, unit = _organism(desk)
    Directory(desk.engine).add_referent(unit, desk.users[desk.usernames[R]])
    hers = _ticket(desk, person, at=(organism, unit))
    elsewhere = _ticket(desk, person, at=_organism(desk))
    client = desk.client(desk.usernames[R])
    url = f"/api/persons/{person}"
    call = _rung(desk, desk.usernames[E], phone)
    assert client.get(url, params=_reason(call)).status_code == 403
    assert client.get(url, params={"ticket": elsewhere}).status_code == 403
    assert client.get(f"/api/persons/{someone_else}", params={"ticket": hers}).status_code == 403
    assert client.get(url, params={"ticket": hers}).status_code == 200
    found = client.post("/api/persons/search", json={"phone": phone, "ticket": hers})
    assert found.status_code == 200
    assert client.post("/api/persons/search", json={"phone": phone}).status_code == 403
    rows = AuditLog(desk.engine).query(person_id=person, action="person_read")
    assert [(r.actor_id, r.details) for r in rows] == [
        (desk.users[desk.usernames[R]], {"reason": "ticket", "ticket": hers})
    ]


def test_a_supervisor_reads_for_an_existing_call_and_the_gerente_never(desk: Panel) -> None:
    phone = _number()
    person = _person(desk, phone)
    call = _rung(desk, desk.second_agent, phone)
    supervisor = desk.client(desk.usernames[S])
    url = f"/api/persons/{person}"
    assert supervisor.get(url).status_code == 403
    assert supervisor.get(url, params=_reason(CallKey(SYSTEM, "nope"))).status_code == 403
    assert supervisor.get(url, params=_reason(call)).status_code == 200
    gerente = desk.client(desk.usernames[G])
    assert gerente.get(url, params=_reason(call)).status_code == 403
    assert gerente.post("/api/persons/search", json={"phone": phone}).status_code == 403


def test_the_gerente_sees_calls_and_tickets_as_figures(desk: Panel) -> None:
    """Issue 11: /api/calls/today showed the gerente full numbers and names."""
    linkedid = uuid.uuid4().hex
    person = _person(desk)
    with session_factory(desk.engine).begin() as session:
        session.add(
            Attention(
                system=SYSTEM,
                linkedid=linkedid,
                caller_number_raw="099123456",
                caller_number="+59899123456",
                caller_name="Rosa Pérez",
                arrived_at=datetime.now(UTC),
                ivr_path=[],
                queues=["consultas"],
                queue="consultas",
                agents=[],
                legs=[],
                outcome="answered",
                hangup_side="agent",
                variables={},
                person_id=person,
            )
        )
    gerente = desk.client(desk.usernames[G])
    calls = {c["linkedid"]: c for c in gerente.get("/api/calls/today").json()}
    seen = calls[linkedid]
    assert (seen["caller_number"], seen["caller_name"], seen["person_id"]) == (
        "*********456",
        "",
        None,
    )
    full = {c["linkedid"]: c for c in desk.client(desk.usernames[S]).get("/api/calls/today").json()}
    assert full[linkedid]["caller_name"] == "Rosa Pérez"
    ticket = _ticket(desk, person)
    shown = gerente.get(f"/api/tickets/{ticket}").json()
    assert (shown["description"], shown["person_id"]) == ("", None)
    reads = AuditLog(desk.engine).query(action="calls_read", actor_id=desk.users[desk.usernames[G]])
    assert reads and reads[0].details["masked"] is True
    assert _audited(desk, person, "calls_read") == [(desk.users[desk.usernames[S]], None)]


def test_pending_wrapups_and_ticket_reads_are_audited(desk: Panel) -> None:
    agent = desk.usernames[E]
    client = desk.client(agent)
    assert client.get("/api/wrapups/pending").status_code == 200
    pending = AuditLog(desk.engine).query(action="pending_read", actor_id=desk.users[agent])
    assert len(pending) == 1
    # The workspace page lists them too, audited the same way.
    assert client.get("/agente").status_code == 200
    pending = AuditLog(desk.engine).query(action="pending_read", actor_id=desk.users[agent])
    assert len(pending) == 2
    # Its pending cases (person and contact) are a read of their own.
    cases = AuditLog(desk.engine).query(action="followups_read", actor_id=desk.users[agent])
    assert len(cases) == 1 and cases[0].details["reason"] == "own pending cases"
    person = _person(desk)
    ticket = _ticket(desk, person)
    assert desk.client(desk.usernames[S]).get(f"/api/tickets/{ticket}").status_code == 200
    assert _audited(desk, person, "ticket_read") == [(desk.users[desk.usernames[S]], None)]


_PERSONAL = {"document", "phone", "name", "email", "cedula", "document_number", "caller"}
_STATIC = Path(__file__).resolve().parents[2] / "agent_api"


def test_no_personal_data_in_urls(desk: Panel) -> None:
    """Issue 11: person search put cédula, phone and name in query strings."""
    schema = desk.client().get("/api/openapi.json").json()
    for path, operations in schema["paths"].items():
        assert not _PERSONAL & set(re.findall(r"{(\w+)}", path)), path
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    assert parameter["name"] not in _PERSONAL, (method, path, parameter["name"])
    pattern = re.compile(r"[?&](document|phone|name|cedula|email|caller)=")
    for source in [*_STATIC.rglob("*.js"), *_STATIC.rglob("*.html")]:
        if "vendor" in source.parts:
            continue
        assert not pattern.search(source.read_text(encoding="utf-8")), source


def test_an_agent_rung_for_a_call_does_not_read_the_wrapup_another_wrote(desk: Panel) -> None:
    key = _rung(desk, desk.usernames[E], _number(), answer=False)
    other = desk.second_agent
    desk.hub.publish(
        [
            AgentRinging(
                time.time(), key, "consultas", desk.interfaces[other], "B", "099", "", {}, 1.0
            ),
            CallAnswered(time.time(), key, "consultas", desk.interfaces[other], "B", 1.0),
        ]
    )
    url = f"/api/wrapups/{SYSTEM}/{key.linkedid}"
    written = desk.client(other).put(
        url,
        json={"attention_type": "queja", "resolution": "resuelta", "notes": "Dijo su domicilio"},
    )
    assert written.status_code == 200, written.text
    assert desk.client(desk.usernames[E]).get(url).status_code == 403
    assert desk.client(other).get(url).json()["notes"] == "Dijo su domicilio"


def test_a_cancelled_reception_is_no_longer_a_reason_to_read(desk: Panel) -> None:
    """A walk-in received at reception is the receptionist's reason to identify
    the person; once reception cancels it (no turn), it reads nothing more."""
    receptionist = desk.usernames[E]
    client = desk.client(receptionist)
    turns = desk.app.state.turns
    point = turns.create_point(f"ntk-{uuid.uuid4().hex[:6]}", "Punto")
    person = _person(desk, name="Rosario")
    key = turns.receive(point.id, user_id=desk.users[receptionist])
    search = {"name": "Rosario Extraña", **_reason(key)}
    found = client.post("/api/persons/search", json=search)
    assert found.status_code == 200 and person in {p["id"] for p in found.json()}
    assert client.get(f"/api/persons/{person}", params=_reason(key)).status_code == 200
    assert turns.cancel_reception(key)
    assert client.post("/api/persons/search", json=search).status_code == 403
    assert client.get(f"/api/persons/{person}", params=_reason(key)).status_code == 403


def test_a_person_or_ticket_opened_in_a_new_tab_has_the_same_checks(desk: Panel) -> None:
    """/agente?persona=ID&llamada=… and /agente?solicitud=N (where a link
    opened in a new tab lands) draw the item with the htmx route's check,
    audit and refusal."""
    phone = _number()
    person = _person(desk, phone)
    agent = desk.usernames[E]
    client = desk.client(agent)
    me = desk.users[agent]
    family = PersonRegistry(desk.engine).get(person).family_names  # type: ignore[union-attr]
    ticket = _ticket(desk, person)
    # No reason: the fragment's refusal, inside the whole page; nothing read.
    refusal = client.get(f"/agente/personas/{person}", headers={"HX-Request": "true"}).text
    assert 'role="alert"' in refusal and family not in refusal
    page = client.get(f"/agente?persona={person}")
    assert page.status_code == 200 and "Cerrar sesión" in page.text
    assert refusal in page.text and family not in page.text
    theirs = _rung(desk, desk.second_agent, phone)
    page = client.get(
        "/agente", params={"persona": person, "llamada": f"{SYSTEM}|{theirs.linkedid}"}
    )
    assert family not in page.text and 'role="alert"' in page.text
    assert _audited(desk, person, "person_read") == []
    ticket_refusal = client.get(f"/agente/solicitudes/{ticket}", headers={"HX-Request": "true"})
    assert ticket_refusal.text in client.get(f"/agente?solicitud={ticket}").text
    assert _audited(desk, person, "ticket_read") == []
    # Bad input: a clear message, not an error page.
    assert "no indica una persona válida" in client.get("/agente?persona=12a").text
    assert "no indica una solicitud válida" in client.get("/agente?solicitud=x").text
    # Her own answered call: the record, audited with that call as reason.
    key = _rung(desk, agent, phone)
    page = client.get("/agente", params={"persona": person, "llamada": f"{SYSTEM}|{key.linkedid}"})
    detail = page.text.split('id="persona-detalle"')[1]
    assert family in detail and 'id="ficha-nombre"' in detail
    assert _audited(desk, person, "person_read") == [(me, key.linkedid)]
    # Her ticket once linked to the agent's call: shown, and its read audited.
    wrapup = {"attention_type": "consulta", "resolution": "resuelta", "person_id": person}
    assert client.put(f"/api/wrapups/{SYSTEM}/{key.linkedid}", json=wrapup).status_code == 200
    page = client.get(f"/agente?solicitud={ticket}")
    assert ticket in page.text.split('id="persona-detalle"')[1] and "Demora" in page.text
    assert _audited(desk, person, "ticket_read") == [(me, None)]
