"""GET /api/conocimiento: the knowledge base for the roles that take calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_bridge.knowledge import KnowledgeBase
from crm_bridge.knowledge_import import parse_own, parse_tramites_gub
from crm_bridge.organisms import Role
from tests.agent_api.conftest import Panel

pytestmark = pytest.mark.postgres

DATA = Path(__file__).parents[1] / "crm_bridge" / "data"


def load_catalog(panel: Panel) -> None:
    kb = KnowledgeBase(panel.engine)
    kb.upsert(parse_tramites_gub((DATA / "tramites_gub.csv").read_bytes(), "tramites_gub.csv"))
    kb.upsert(parse_own((DATA / "propio.yaml").read_bytes(), "propio.yaml"))


def test_an_agent_finds_cedula_without_the_accent(panel: Panel) -> None:
    load_catalog(panel)
    client = panel.client(panel.usernames[Role.EJECUTIVO])
    answer = client.get("/api/conocimiento", params={"q": "  cedula  "})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["q"] == "cedula"
    names = [r["name"] for r in body["results"]]
    assert names[0] == "Cédula de identidad"
    assert names.index("Agenda para la DNIC") < names.index("Solicitud de Pasaporte")
    first = body["results"][0]
    assert first["online_url"] == "https://www.gub.uy/tramites/cedula-identidad"
    assert "Agenda previa." in first["requirements"]
    assert "keywords" not in first
    limited = client.get("/api/conocimiento", params={"q": "cedula", "limite": 1}).json()
    assert len(limited["results"]) == 1


def test_bad_queries_get_a_clear_answer(panel: Panel) -> None:
    client = panel.client(panel.usernames[Role.SUPERVISOR])
    short = client.get("/api/conocimiento", params={"q": " a "})
    assert short.status_code == 422
    assert "entre 2 y 100 caracteres" in short.json()["detalle"]
    assert client.get("/api/conocimiento", params={"q": "x" * 101}).status_code == 422
    assert client.get("/api/conocimiento", params={"q": "x" * 10_000}).status_code == 422
    assert client.get("/api/conocimiento").status_code == 422
    assert client.get("/api/conocimiento", params={"q": "ab", "limite": 0}).status_code == 422
    assert client.get("/api/conocimiento", params={"q": "\x00\x00"}).status_code in (200, 422)
    odd = client.get("/api/conocimiento", params={"q": "cé'dula & | ! :* (\\"})
    assert odd.status_code == 200  # tsquery syntax in the query is just text


@pytest.mark.parametrize("role", [Role.GERENTE, Role.REFERENTE, Role.ADMIN])
def test_roles_that_take_no_calls_do_not_search(panel: Panel, role: Role) -> None:
    client = panel.client(panel.usernames[role])
    assert client.get("/api/conocimiento", params={"q": "cedula"}).status_code == 403


def test_the_admin_api_edits_a_topics_information(panel: Panel) -> None:
    admin = panel.client(panel.usernames[Role.ADMIN])
    made = admin.post(
        "/api/admin/topics",
        json={
            "code": "API-KB-1",
            "name": "Certificado de residencia",
            "requirements": "Cédula vigente.\nConstancia de domicilio.",
            "online_url": "https://www.gub.uy/tramites",
        },
    )
    assert made.status_code == 201, made.text
    assert made.json()["requirements"] == "Cédula vigente.\nConstancia de domicilio."
    topic_id = made.json()["id"]
    renamed = admin.patch(f"/api/admin/topics/{topic_id}", json={"name": "Certificado de vecindad"})
    assert renamed.json()["requirements"] == "Cédula vigente.\nConstancia de domicilio."
    cleared = admin.patch(f"/api/admin/topics/{topic_id}", json={"online_url": "", "cost": "$ 0"})
    assert cleared.json()["online_url"] is None and cleared.json()["cost"] == "$ 0"
    bad = admin.patch(f"/api/admin/topics/{topic_id}", json={"online_url": "javascript:x"})
    assert bad.status_code == 422
    agent = panel.client(panel.usernames[Role.EJECUTIVO])
    found = agent.get("/api/conocimiento", params={"q": "certificado vecindad"}).json()["results"]
    assert [r["code"] for r in found] == ["API-KB-1"]
