"""Pending cases come back: contact and follow-up required, worklists, reminder,
escalation, closing with a response — through the API and the pages on PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from agent_api.pending_cases import CaseState, PendingCases, case_state, remind_once
from crm_bridge.models import AttentionWrapup
from crm_bridge.organisms import Role
from telephony.domain import AgentRinging, CallAnswered, CallKey
from tests.agent_api.conftest import Panel, build_panel

pytestmark = pytest.mark.postgres
SYSTEM = "pbx-followup"
HOUR = timedelta(hours=1)


@pytest.fixture
def desk(panel_db: str) -> Iterator[Panel]:
    built = build_panel(panel_db)
    try:
        yield built
    finally:
        built.engine.dispose()


class Hub:
    def __init__(self) -> None:
        self.frames: list[tuple[int, dict[str, Any]]] = []

    def push(self, user_id: int, frame: dict[str, Any]) -> None:
        self.frames.append((user_id, frame))


def _answered(panel: Panel, username: str) -> CallKey:
    key = CallKey(SYSTEM, uuid.uuid4().hex)
    interface = panel.interfaces[username]
    now = time.time()
    panel.hub.publish(
        [
            AgentRinging(now, key, "consultas", interface, "Agente", "099100001", "Ana", {}, 2.0),
            CallAnswered(now, key, "consultas", interface, "Agente", 2.0),
        ]
    )
    return key


def _person(panel: Panel, username: str, key: CallKey) -> int:
    created = panel.client(username).post(
        "/api/persons",
        json={
            "given_names": "Lucía",
            "family_names": "Fernández",
            "consents": ["identificacion", "contacto"],
            "phones": ["099 123 456"],
            "emails": ["lucia@example.org"],
            "call_system": key.system,
            "call_linkedid": key.linkedid,
        },
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def _pending(panel: Panel, username: str, *, at: datetime, contact: str = "099123456") -> CallKey:
    key = _answered(panel, username)
    pid = _person(panel, username, key)
    saved = panel.client(username).put(
        f"/api/wrapups/{key.system}/{key.linkedid}",
        json={
            "attention_type": "reclamo",
            "resolution": "pendiente",
            "notes": "Averiguar el pago",
            "follow_up_at": at.isoformat(),
            "follow_up_contact": contact,
            "person_id": pid,
        },
    )
    assert saved.status_code == 200, saved.text
    return key


def test_the_state_rule() -> None:
    at = datetime(2026, 12, 7, 12, tzinfo=UTC)
    grace = timedelta(hours=4)
    assert case_state(at - HOUR, at, grace) is CaseState.SCHEDULED
    assert case_state(at, at, grace) is CaseState.DUE
    assert case_state(at + 3 * HOUR, at, grace) is CaseState.DUE
    assert case_state(at + 4 * HOUR, at, grace) is CaseState.OVERDUE


def test_a_pending_wrapup_needs_a_time_the_person_and_their_contact(desk: Panel) -> None:
    agent = desk.usernames[Role.EJECUTIVO]
    client = desk.client(agent)
    key = _answered(desk, agent)
    pid = _person(desk, agent, key)
    url = f"/api/wrapups/{key.system}/{key.linkedid}"
    base = {"attention_type": "consulta", "resolution": "pendiente", "person_id": pid}
    soon = (datetime.now(UTC) + 2 * HOUR).isoformat()

    def refused(body: dict[str, Any]) -> str:
        answer = client.put(url, json=body)
        assert answer.status_code == 422, answer.text
        return str(answer.json()["detalle"])

    assert "fecha" in refused({**base, "follow_up_contact": "099123456"})
    past = (datetime.now(UTC) - 2 * HOUR).isoformat()
    assert "ya pasó" in refused({**base, "follow_up_at": past, "follow_up_contact": "099123456"})
    assert "teléfono o correo" in refused({**base, "follow_up_at": soon})
    # Not a contact of hers: refused, whatever the page offered.
    assert "registrado de la persona" in refused(
        {**base, "follow_up_at": soon, "follow_up_contact": "098 000 000"}
    )
    assert "registrado de la persona" in refused(
        {**base, "follow_up_at": soon, "follow_up_contact": "otra@example.org"}
    )
    ok = client.put(
        url, json={**base, "follow_up_at": soon, "follow_up_contact": "LUCIA@example.org"}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["follow_up_contact"] == "lucia@example.org"


def test_worklists_reminder_escalation_and_closing(desk: Panel) -> None:
    agent = desk.usernames[Role.EJECUTIVO]
    other = desk.second_agent
    now = datetime.now(UTC)
    # The module's database is shared: earlier tests' cases are closed first.
    with desk.engine.begin() as conn:
        conn.execute(
            update(AttentionWrapup)
            .where(AttentionWrapup.follow_up_closed_at.is_(None))
            .values(follow_up_closed_at=now)
        )
    due = _pending(desk, agent, at=now + timedelta(minutes=1))
    later = _pending(desk, agent, at=now + 48 * HOUR, contact="lucia@example.org")
    theirs = _pending(desk, other, at=now + timedelta(minutes=2))

    clock = {"now": now}
    cases = PendingCases(desk.engine, clock=lambda: clock["now"])
    desk.app.state.pending_cases = cases  # the pages read the same clock
    mine = cases.open_cases(agent_user_id=desk.users[agent])
    assert [c.call for c in mine] == [due, later]
    assert [c.state for c in mine] == [CaseState.SCHEDULED, CaseState.SCHEDULED]
    assert mine[0].contact == "+59899123456" and mine[0].contact_kind == "phone"
    assert mine[0].person_name == "Lucía Fernández"

    # Nothing due yet: no reminder.
    hub = Hub()
    assert remind_once(cases, hub) == (0, 0)
    # Both due cases came due: each agent reminded once (the frame names no one).
    clock["now"] = now + timedelta(minutes=5)
    assert remind_once(cases, hub) == (2, 0)
    assert sorted(hub.frames, key=lambda f: f[0]) == sorted(
        [
            (desk.users[agent], {"type": "followup.due", "due": 1}),
            (desk.users[other], {"type": "followup.due", "due": 1}),
        ],
        key=lambda f: f[0],
    )
    assert remind_once(cases, hub) == (0, 0)
    assert len(hub.frames) == 2
    # Overdue (4 h past the follow-up): escalated once, counted for /metrics.
    clock["now"] = now + 5 * HOUR
    assert cases.overdue_count() == 2
    assert remind_once(cases, hub) == (0, 2)
    assert remind_once(cases, hub) == (0, 0)
    escalated = {c.call: c for c in cases.open_cases()}
    assert escalated[due].escalated_at is not None and escalated[due].state is CaseState.OVERDUE
    assert escalated[later].escalated_at is None

    # The agent's page lists theirs only; closing needs the response.
    client = desk.client(agent)
    page = client.get("/agente/seguimientos", headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert "Casos pendientes (2)" in page.text and "Lucía Fernández" in page.text
    empty = client.post(
        "/agente/seguimientos/cerrar", data={"caso": f"{due.system}|{due.linkedid}"}
    )
    assert "Escriba la respuesta que se dio a la persona" in empty.text
    # Another agent's case cannot be closed from this page.
    foreign = client.post(
        "/agente/seguimientos/cerrar",
        data={"caso": f"{theirs.system}|{theirs.linkedid}", "respuesta": "x"},
    )
    assert "Casos pendientes (2)" in foreign.text and "Caso cerrado" not in foreign.text
    closed = client.post(
        "/agente/seguimientos/cerrar",
        data={"caso": f"{due.system}|{due.linkedid}", "respuesta": "Se le confirmó el pago."},
    )
    assert "Caso cerrado con su respuesta." in closed.text
    assert "Casos pendientes (1)" in closed.text
    assert due not in {c.call for c in cases.open_cases()}

    # The supervisor's list: every agent's due cases, escalated first; closes any.
    supervisor = desk.client(desk.usernames[Role.SUPERVISOR])
    listed = supervisor.get("/supervision/seguimientos", headers={"HX-Request": "true"})
    assert "Casos pendientes para retomar (1)" in listed.text
    assert "Escalado" in listed.text and "Lucía" not in listed.text  # no person data
    done = supervisor.post(
        "/supervision/seguimientos/cerrar",
        data={"caso": f"{theirs.system}|{theirs.linkedid}", "respuesta": "Resuelto por teléfono."},
    )
    assert "Caso cerrado con su respuesta." in done.text
    assert "Ningún caso pendiente para retomar." in done.text
    assert cases.overdue_count() == 0
    # An agent may not use the supervisor's form.
    assert client.post("/supervision/seguimientos/cerrar", data={"caso": "x|y"}).status_code == 403
