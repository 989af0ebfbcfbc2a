"""Setting a centre up through the admin API: organisms, units, referents, SLA hours,
topics, users; every change audited; other roles refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from agent_api.audit import AuditLog
from crm_bridge.organisms import Role
from crm_bridge.tickets import TicketService
from tests.agent_api.conftest import PASSWORD, Panel, build_panel
from tests.agent_api.test_tickets_api import ALWAYS_OPEN

pytestmark = pytest.mark.postgres


@pytest.fixture
def panel(panel_db: str) -> Iterator[Panel]:
    def tickets(engine: Engine) -> TicketService:
        return TicketService(engine, business_hours=ALWAYS_OPEN)

    built = build_panel(panel_db, tickets=tickets)
    try:
        yield built
    finally:
        built.engine.dispose()


def test_an_admin_sets_up_a_centre_from_nothing(panel: Panel) -> None:
    admin = panel.client(panel.usernames[Role.ADMIN])
    code = f"DNIC{uuid.uuid4().hex[:4]}"
    made = admin.post("/api/admin/organisms", json={"code": code, "name": "Identificación Civil"})
    assert made.status_code == 201, made.text
    organism = made.json()["id"]
    again = admin.post("/api/admin/organisms", json={"code": code, "name": "Otro"})
    assert again.status_code == 409 and code in again.json()["detalle"]

    unit = admin.post(
        f"/api/admin/organisms/{organism}/units", json={"code": "CI", "name": "Cédulas"}
    ).json()
    child = admin.post(
        f"/api/admin/organisms/{organism}/units",
        json={"code": "CI-MVD", "name": "Cédulas Montevideo", "parent_id": unit["id"]},
    ).json()
    listed = admin.get(f"/api/admin/organisms/{organism}/units").json()
    assert [(u["code"], u["depth"]) for u in listed] == [("CI", 0), ("CI-MVD", 1)]
    assert child["parent_id"] == unit["id"]

    referente = panel.usernames[Role.REFERENTE]
    added = admin.post(f"/api/admin/units/{unit['id']}/referents", json={"username": referente})
    assert added.status_code == 201, added.text
    agent = panel.usernames[Role.EJECUTIVO]
    refused = admin.post(f"/api/admin/units/{unit['id']}/referents", json={"username": agent})
    assert refused.status_code == 422 and "referente" in refused.json()["detalle"]
    assert [
        r["username"] for r in admin.get(f"/api/admin/units/{unit['id']}/referents").json()
    ] == [referente]

    level = admin.put(
        "/api/admin/service-levels",
        json={"organism_id": organism, "unit_id": unit["id"], "request_type": "reclamo",
              "business_hours": 24},
    )  # fmt: skip
    assert level.status_code == 200, level.text
    bad = admin.put(
        "/api/admin/service-levels",
        json={"organism_id": organism, "request_type": "reclamo", "business_hours": 0},
    )
    assert bad.status_code == 422
    levels = admin.get(f"/api/admin/service-levels?organism_id={organism}").json()
    assert levels == [
        {"organism_id": organism, "unit_id": unit["id"], "request_type": "reclamo",
         "business_hours": 24.0}
    ]  # fmt: skip

    # The catalog import that answered "El organismo 'DNIC' no existe" now works.
    imported = admin.post(
        "/api/catalog/import",
        content=f"code,name,kind,organism,unit\nCI-REN,Renovación de cédula,tramite,{code},CI\n",
        headers={"Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text
    topics = {t["code"]: t for t in admin.get("/api/admin/topics").json()}
    topic = topics["CI-REN"]
    assert (topic["organism_id"], topic["unit_id"]) == (organism, unit["id"])
    edited = admin.patch(
        f"/api/admin/topics/{topic['id']}", json={"name": "Renovación de CI", "active": False}
    ).json()
    assert (edited["name"], edited["active"], edited["unit_id"]) == (
        "Renovación de CI",
        False,
        unit["id"],
    )
    one = admin.post(
        "/api/admin/topics", json={"code": "PAS", "name": "Pasaporte", "organism": code}
    )
    assert one.status_code == 201 and one.json()["unit_id"] is None
    unknown = admin.post("/api/admin/topics", json={"code": "X", "name": "X", "organism": "NADA"})
    assert unknown.status_code == 422

    # A ticket for the new organism and unit is due by the hours set above.
    supervisor = panel.client(panel.usernames[Role.SUPERVISOR])
    ticket = supervisor.post(
        "/api/tickets",
        json={"channel": "presencial", "request_type": "reclamo", "topic": "Demora",
              "organism_id": organism, "unit_id": unit["id"], "description": "x"},
    )  # fmt: skip
    assert ticket.status_code == 201, ticket.text

    audit = AuditLog(panel.engine).query(action="admin_change", actor_id=panel.users[
        panel.usernames[Role.ADMIN]])  # fmt: skip
    done = {(r.details["resource"], r.details["op"]) for r in audit}
    assert {
        ("organism", "create"),
        ("unit", "create"),
        ("referent", "add"),
        ("service_level", "set"),
        ("topic", "import"),
        ("topic", "update"),
        ("topic", "create"),
    } <= done


def test_users_are_managed_and_audited_without_passwords(panel: Panel) -> None:
    admin = panel.client(panel.usernames[Role.ADMIN])
    name = f"nuevo-{uuid.uuid4().hex[:4]}"
    made = admin.post(
        "/api/users",
        json={"username": name, "display_name": "Nuevo Agente", "role": "ejecutivo",
              "password": PASSWORD, "interfaces": ["PJSIP/7001"]},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    user_id = made.json()["id"]
    assert admin.patch(f"/api/users/{user_id}", json={"role": "referente"}).json()["role"] == (
        "referente"
    )
    assert admin.patch(f"/api/users/{user_id}", json={"password": "otra-clave-larga"}).is_success
    assert not admin.patch(f"/api/users/{user_id}", json={"active": False}).json()["active"]
    entries = AuditLog(panel.engine).query(action="admin_change")
    mine = [e.details for e in entries if e.details.get("user_id") == user_id]
    assert {tuple(d.get("fields", ())) for d in mine} >= {("role",), ("password",), ("active",)}
    assert all("otra-clave-larga" not in repr(d) and PASSWORD not in repr(d) for d in mine)


@pytest.mark.parametrize("role", [Role.EJECUTIVO, Role.SUPERVISOR, Role.GERENTE, Role.REFERENTE])
def test_only_admins_set_up_organisms(panel: Panel, role: Role) -> None:
    client = panel.client(panel.usernames[role])
    answer = client.post("/api/admin/organisms", json={"code": "X", "name": "X"})
    assert answer.status_code == 403
    assert client.get("/api/admin/service-levels").status_code == 403
    topics = client.post("/api/admin/topics", json={"code": "X1", "name": "X"})
    # Supervisors keep the catalog, as they could import it before.
    assert topics.status_code == (201 if role is Role.SUPERVISOR else 403)
