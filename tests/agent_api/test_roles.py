"""Every endpoint for every role (allowed and denied), without a session, without
CSRF, and with another agent's ids (object-level access)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from agent_api.auth import CSRF_HEADER
from crm_bridge.db import session_factory
from crm_bridge.models import Ticket
from crm_bridge.organisms import Directory, Role
from telephony.domain import AgentRinging, CallAnswered, CallKey
from tests.agent_api.conftest import Panel
from tests.agent_api.test_tickets_api import NEW_ENDPOINTS, openapi_path

pytestmark = pytest.mark.postgres

E, S, G, R, A = Role.EJECUTIVO, Role.SUPERVISOR, Role.GERENTE, Role.REFERENTE, Role.ADMIN
EVERYONE = {E, S, G, R, A}
AGENTS = {E, S}  # ejecutivo and supervisor work the phones
PERSON_READERS = {E, S, R}
PERSON_WRITERS = {E, S}
SYSTEM = "pbx-test"

# (method, path, roles allowed, body). {me} is the caller's own user id,
# {other} an agent's id, {person} a registered person, {call} a call the
# caller was rung for (so object-level checks pass for allowed roles).
ENDPOINTS: list[tuple[str, str, set[Role], Any]] = [
    ("GET", "/api/session", EVERYONE, None),
    ("GET", "/api/users", {A}, None),
    ("POST", "/api/users", {A}, "new-user"),
    ("PATCH", "/api/users/{other}", {A}, {"display_name": "Otra Agente"}),
    ("PUT", "/api/users/{other}/interfaces", {A}, "same-interfaces"),
    ("GET", "/api/pause-reasons", AGENTS, None),
    ("GET", "/api/agents/{me}/state", AGENTS, None),
    ("POST", "/api/agents/{me}/queues/consultas", AGENTS, None),
    ("DELETE", "/api/agents/{me}/queues/consultas", AGENTS, None),
    ("POST", "/api/agents/{me}/pause", AGENTS, {"reason": "Almuerzo"}),
    ("DELETE", "/api/agents/{me}/pause", AGENTS, None),
    ("POST", "/api/agents/{me}/calls", AGENTS, {"number": "099123456"}),
    ("GET", "/api/calls/today", {E, S, G}, None),
    ("GET", "/api/wrapups/pending", {E}, None),
    ("POST", "/api/wrapups/{call}/start", {E}, None),
    ("GET", "/api/wrapups/{call}", {E}, None),
    ("PUT", "/api/wrapups/{call}", {E}, {"attention_type": "consulta", "resolution": "resuelta"}),
    ("GET", "/api/catalog", EVERYONE, None),
    ("POST", "/api/catalog/import", {S, A}, [{"code": "T-1", "name": "Cédula"}]),
    ("GET", "/api/conocimiento?q=cedula", AGENTS, None),
    ("POST", "/api/persons", PERSON_WRITERS, "new-person"),
    ("POST", "/api/persons/search", PERSON_READERS, "search"),
    ("GET", "/api/persons/{person}?{reason}", PERSON_READERS, None),
    ("GET", "/api/persons/{person}/history?{reason}", PERSON_READERS, None),
    ("PATCH", "/api/persons/{person}?{reason}", PERSON_WRITERS, {"given_names": "Ana María"}),
    (
        "PUT",
        "/api/persons/{person}/consents/contacto?{reason}",
        PERSON_WRITERS,
        {"granted": True},
    ),
    ("GET", "/api/calls/{call}/person", {E}, None),
    ("GET", "/api/audit", {A}, None),
]


ADMIN_ENDPOINTS = {
    ("GET", "/api/admin/organisms"),
    ("POST", "/api/admin/organisms"),
    ("PATCH", "/api/admin/organisms/{organism_id}"),
    ("GET", "/api/admin/organisms/{organism_id}/units"),
    ("POST", "/api/admin/organisms/{organism_id}/units"),
    ("PATCH", "/api/admin/units/{unit_id}"),
    ("GET", "/api/admin/units/{unit_id}/referents"),
    ("POST", "/api/admin/units/{unit_id}/referents"),
    ("DELETE", "/api/admin/units/{unit_id}/referents/{user_id}"),
    ("GET", "/api/admin/service-levels"),
    ("PUT", "/api/admin/service-levels"),
    ("GET", "/api/admin/topics"),
    ("POST", "/api/admin/topics"),
    ("PATCH", "/api/admin/topics/{topic_id}"),
}


def _ringing(panel: Panel, username: str, linkedid: str) -> CallKey:
    key = CallKey(SYSTEM, linkedid)
    panel.hub.publish(
        [
            AgentRinging(
                at=1.0,
                key=key,
                queue="consultas",
                interface=panel.interfaces[username],
                member_name="x",
                caller_number="099100001",
                caller_name="Ciudadana",
                variables={},
                wait_seconds=1.0,
            )
        ]
    )
    return key


def _person(client: TestClient) -> int:
    """A registered person holding the number every test call comes from, so
    the calls below identify them (need_to_know: a read needs a reason)."""
    answer = client.post(
        "/api/persons",
        json={
            "given_names": "Pedro",
            "family_names": "Pérez",
            "consents": ["identificacion", "contacto"],
            "phones": ["099100001"],
        },
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def _ticket_of(panel: Panel, person: int) -> str:
    """A ticket of the person derived to the referente: the referente's reason."""
    code = f"O{uuid.uuid4().hex[:6]}"
    organism = Directory(panel.engine).create_organism(code, "Organismo")
    number = f"2026-{uuid.uuid4().int % 1_000_000:06d}"
    now = datetime.now(UTC)
    with session_factory(panel.engine).begin() as session:
        session.add(
            Ticket(
                number=number,
                channel="telefonico",
                request_type="consulta",
                topic="Cédula",
                description="",
                status="derivada",
                person_id=person,
                organism_id=organism.id,
                referent_id=panel.users[panel.usernames[R]],
                created_at=now,
                updated_at=now,
            )
        )
    return number


def _request(
    panel: Panel,
    client: TestClient,
    role: Role,
    method: str,
    path: str,
    body: Any,
    person: int,
    ticket: str = "2026-000000",
) -> int:
    me = panel.users[panel.usernames[role]]
    call = _ringing(panel, panel.usernames[role], uuid.uuid4().hex) if role in AGENTS else None
    if call is not None:
        panel.hub.publish(
            [CallAnswered(1.0, call, "consultas", panel.interfaces[panel.usernames[role]], "x", 1)]
        )
    if call is not None:
        reason = {"call_system": SYSTEM, "call_linkedid": call.linkedid}
    else:
        reason = {"ticket": ticket}
    url = path.format(
        me=me,
        other=panel.users[panel.second_agent],
        person=person,
        call=f"{SYSTEM}/{call.linkedid if call else 'none'}",
        reason=urlencode(reason),
    )
    if body == "search":
        body = {"name": "pe", **reason}
    if body == "new-user":
        body = {
            "username": f"u-{uuid.uuid4().hex[:8]}",
            "display_name": "Nuevo",
            "role": "ejecutivo",
            "password": "una-clave-larga-1",
        }
    elif body == "same-interfaces":
        body = {"interfaces": [panel.interfaces[panel.second_agent]]}
    elif body == "new-person":
        body = {"given_names": "Nueva", "consents": ["identificacion"]}
    return client.request(method, url, json=body).status_code


@pytest.mark.parametrize("role", list(Role))
def test_every_endpoint_allows_exactly_its_roles(panel: Panel, role: Role) -> None:
    writer = panel.client(panel.usernames[E])
    person = _person(writer)
    ticket = _ticket_of(panel, person)
    client = panel.client(panel.usernames[role])
    for method, path, allowed, body in ENDPOINTS:
        status = _request(panel, client, role, method, path, body, person, ticket)
        if role in allowed:
            assert status not in (401, 403), (method, path, status)
            assert status < 500, (method, path, status)
        else:
            assert status == 403, (method, path, status)
    assert client.delete("/api/session").status_code == 204
    assert client.get("/api/session").status_code == 401


def test_every_endpoint_needs_a_session(panel: Panel) -> None:
    client = panel.client()
    for method, path, _allowed, _body in ENDPOINTS:
        url = path.format(me=1, other=2, person=1, call=f"{SYSTEM}/x", reason="ticket=2026-000001")
        assert client.request(method, url, json={}).status_code == 401, (method, path)


def test_state_changing_requests_need_the_csrf_token(panel: Panel) -> None:
    client = panel.client(panel.usernames[A])
    del client.headers[CSRF_HEADER]
    assert client.get("/api/users").status_code == 200
    answer = client.patch(f"/api/users/{panel.users[panel.second_agent]}", json={"active": True})
    assert answer.status_code == 403
    assert "token" in answer.json()["detalle"]
    client.headers[CSRF_HEADER] = "forged"
    assert client.patch(f"/api/users/{panel.users[panel.second_agent]}", json={}).status_code == 403


def test_an_agent_cannot_act_on_another_agent(panel: Panel) -> None:
    agent = panel.client(panel.usernames[E])
    other = panel.users[panel.second_agent]
    for method, path, body in [
        ("GET", f"/api/agents/{other}/state", None),
        ("POST", f"/api/agents/{other}/pause", {"reason": "Almuerzo"}),
        ("DELETE", f"/api/agents/{other}/pause", None),
        ("POST", f"/api/agents/{other}/queues/consultas", None),
        ("DELETE", f"/api/agents/{other}/queues/consultas", None),
        ("POST", f"/api/agents/{other}/calls", {"number": "099123456"}),
    ]:
        assert agent.request(method, path, json=body).status_code == 403, (method, path)
    assert panel.controls.calls == []
    # A supervisor may.
    supervisor = panel.client(panel.usernames[S])
    answer = supervisor.post(f"/api/agents/{other}/pause", json={"reason": "Almuerzo"})
    assert answer.status_code == 202
    assert panel.controls.calls == [("pause", panel.interfaces[panel.second_agent], "Almuerzo")]


def test_an_agent_cannot_wrap_up_another_agents_call(panel: Panel) -> None:
    key = _ringing(panel, panel.second_agent, uuid.uuid4().hex)
    agent = panel.client(panel.usernames[E])
    body = {"attention_type": "consulta", "resolution": "resuelta"}
    assert agent.put(f"/api/wrapups/{SYSTEM}/{key.linkedid}", json=body).status_code == 403
    assert agent.get(f"/api/wrapups/{SYSTEM}/{key.linkedid}").status_code == 403
    owner = panel.client(panel.second_agent)
    assert owner.put(f"/api/wrapups/{SYSTEM}/{key.linkedid}", json=body).status_code == 200
    # Once wrapped up by its owner, nobody else reads it either.
    assert agent.get(f"/api/wrapups/{SYSTEM}/{key.linkedid}").status_code == 403


def test_openapi_documents_one_router_per_resource(panel: Panel) -> None:
    schema = panel.client().get("/api/openapi.json").json()
    tags = {tag for path in schema["paths"].values() for op in path.values() for tag in op["tags"]}
    assert tags == {
        "sesión",
        "usuarios",
        "agentes",
        "llamadas",
        "cierre",
        "catálogo",
        "personas",
        "auditoría",
        "solicitudes",
        "alertas",
        "crm",
        "derechos",
        "organismos",
        "unidades",
        "niveles de servicio",
        "temas del catálogo",
    }
    documented = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    listed = set()
    for method, path, _allowed, _body in ENDPOINTS:
        bare = path.split("?")[0].replace("{me}", "{user_id}").replace("{other}", "{user_id}")
        bare = bare.replace("{person}", "{person_id}").replace("{call}", "{system}/{linkedid}")
        bare = bare.replace("/consents/contacto", "/consents/{category}")
        bare = bare.replace("/queues/consultas", "/queues/{queue}")
        listed.add((method, bare))
    # Log in is public; log out is checked for every role in the matrix test.
    # The follow-up routes (tickets, SLA alerts, CRM, rights) have their own
    # role matrix in test_tickets_api.py.
    listed |= {(method, openapi_path(path)) for method, path in NEW_ENDPOINTS}
    listed |= ADMIN_ENDPOINTS  # their role checks: test_admin_api.py
    assert documented == listed | {("POST", "/api/session"), ("DELETE", "/api/session")}
