"""The pop hub over real sockets: uvicorn serving the app, websockets clients."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from agent_api.audit import AuditLog
from agent_api.wrapups import WrapupStore
from crm_bridge.db import session_factory
from crm_bridge.models import Attention, AttentionWrapup
from crm_bridge.organisms import Role
from crm_bridge.persons import PersonRegistry
from telephony.domain import (
    AgentRinging,
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallKey,
    CallRecord,
    HangupSide,
    Outcome,
    QueueLeg,
)
from tests.agent_api.conftest import ORIGIN, PASSWORD, Panel, build_panel, served
from tests.support.web import session_cookie as support_session_cookie

pytestmark = pytest.mark.postgres
SYSTEM = "pbx-ws"
XSS = "<img src=x onerror=alert(1)>"


async def session_cookie(base: str, username: str) -> tuple[str, str]:
    return await support_session_cookie(base, username, PASSWORD)


async def open_socket(base: str, cookie: str, origin: str = ORIGIN) -> ClientConnection:
    ws = await connect(
        f"ws://{base}/ws",
        origin=origin,
        additional_headers={"Cookie": cookie},  # type: ignore[arg-type]
    )
    hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert hello["type"] == "hello"
    return ws


async def next_frame(ws: ClientConnection, kind: str | None = None) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if kind is None or frame["type"] == kind:
            return frame


async def person_frame(ws: ClientConnection) -> dict[str, Any]:
    """The lookup's answer; a `demorada` notice first (a loaded machine) is skipped."""
    while True:
        frame = await next_frame(ws, "pop.person")
        if frame["person_status"] != "demorada":
            return frame


def ringing(panel: Panel, username: str, linkedid: str, **extra: Any) -> AgentRinging:
    values: dict[str, Any] = {
        "at": time.time(),
        "key": CallKey(SYSTEM, linkedid),
        "queue": "consultas",
        "interface": panel.interfaces[username],
        "member_name": "Agente",
        "caller_number": "099100001",
        "caller_name": XSS,
        "variables": {"ATIENDE_TOPIC": "cedula"},
        "wait_seconds": 12.34,
    }
    values.update(extra)
    return AgentRinging(**values)


@pytest.fixture
async def live(panel: Panel) -> AsyncIterator[tuple[Panel, str]]:
    async with served(panel.app) as base:
        yield panel, base


async def test_handshake_refused_without_session_bad_origin_or_role(
    live: tuple[Panel, str],
) -> None:
    panel, base = live
    agent_cookie, _ = await session_cookie(base, panel.usernames[Role.EJECUTIVO])
    refused_roles = [
        (await session_cookie(base, panel.usernames[role]))[0]
        for role in (Role.REFERENTE, Role.GERENTE, Role.ADMIN)
    ]
    for cookie, origin in [
        ("", ORIGIN),
        ("atiende_session=forged", ORIGIN),
        (agent_cookie, "http://evil.example"),
        (agent_cookie, ""),
        *[(c, ORIGIN) for c in refused_roles],
    ]:
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"ws://{base}/ws", origin=origin, additional_headers={"Cookie": cookie})  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
    assert panel.hub.socket_count == 0


async def test_pop_goes_to_the_rung_agent_and_supervisors_only(live: tuple[Panel, str]) -> None:
    """Supervisors watch the queue: the pop reaches them with the caller's
    number masked, no name, and no person frame at all."""
    panel, base = live
    agent = panel.usernames[Role.EJECUTIVO]
    a = await open_socket(base, (await session_cookie(base, agent))[0])
    b = await open_socket(base, (await session_cookie(base, panel.second_agent))[0])
    s = await open_socket(base, (await session_cookie(base, panel.usernames[Role.SUPERVISOR]))[0])
    event = ringing(panel, agent, uuid.uuid4().hex)
    panel.hub.publish([event])
    for ws, caller in (
        (a, {"number": "099100001", "name": XSS}),
        (s, {"number": "******001", "name": ""}),
    ):
        pop = await next_frame(ws, "pop")
        assert pop["caller"] == caller
        assert pop["call"] == {"system": SYSTEM, "linkedid": event.key.linkedid}
        assert pop["queue"] == "consultas" and pop["ivr"]["topic"] == "cedula"
        assert pop["wait_seconds"] == 12.3
    person = await person_frame(a)
    assert person["person_status"] == "desconocida"
    # The supervisor's next frame is the state change below, not a person frame.
    panel.hub.publish(
        [
            AgentStateChanged(
                time.time(),
                SYSTEM,
                panel.interfaces[agent],
                "A",
                AgentState.PAUSED,
                "x",
                None,
                None,
            )
        ]
    )
    assert (await next_frame(s))["type"] == "agent.state"
    # The other agent's first frame is its own state change, not the pop.
    panel.hub.publish(
        [
            AgentStateChanged(
                at=time.time(),
                system=SYSTEM,
                interface=panel.interfaces[panel.second_agent],
                member_name="Otra",
                state=AgentState.PAUSED,
                reason="Almuerzo",
                queue=None,
                closed=None,
            )
        ]
    )
    frame = await next_frame(b)
    assert frame["type"] == "agent.state" and frame["state"] == "paused"
    assert frame["reason"] == "Almuerzo"
    for ws in (a, b, s):
        await ws.close()


def _store_past_attention(panel: Panel, person_id: int) -> str:
    linkedid = f"past-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    with session_factory(panel.engine).begin() as session:
        session.add(
            Attention(
                system=SYSTEM,
                linkedid=linkedid,
                caller_number_raw="099100001",
                caller_number="+59899100001",
                caller_name="Pérez",
                arrived_at=now,
                ivr_path=[],
                queues=["consultas"],
                queue="consultas",
                agents=[],
                legs=[],
                outcome="answered",
                hangup_side="agent",
                variables={"ATIENDE_TOPIC": "pasaporte"},
                person_id=person_id,
            )
        )
        session.add(
            AttentionWrapup(
                system=SYSTEM,
                linkedid=linkedid,
                resolution="pendiente",
                wrapup_started_at=now,
                wrapup_ended_at=now,
            )
        )
    return linkedid


async def test_identified_caller_with_history_and_disclosure_audit(
    live: tuple[Panel, str],
) -> None:
    panel, base = live
    registry = PersonRegistry(panel.engine)
    number = f"099{uuid.uuid4().int % 1_000_000:06d}"
    person = registry.register(
        given_names="Rosa",
        family_names=XSS,
        consents=["identificacion", "contacto"],
        phones=[number],
    )
    past = _store_past_attention(panel, person.id)
    agent = panel.usernames[Role.EJECUTIVO]
    cookie, _ = await session_cookie(base, agent)
    a = await open_socket(base, cookie)
    event = ringing(panel, agent, uuid.uuid4().hex, caller_number=number)
    panel.hub.publish([event])
    await next_frame(a, "pop")
    found = await person_frame(a)
    # Before answer: names, a masked document, the count of open requests. Nothing else.
    assert found["person_status"] == "identificada"
    assert found["person"] == {
        "id": person.id,
        "given_names": "Rosa",
        "family_names": XSS,
        "document_type": None,
        "document_masked": None,
    }
    assert found["open_requests_count"] == 0
    assert set(found) == {"type", "call", "person_status", "person", "open_requests_count"}
    audit = AuditLog(panel.engine).query(person_id=person.id, action="pop_disclosure")
    assert [(r.actor_id, r.call) for r in audit] == [(panel.users[agent], event.key)]
    url = f"http://{base}/api/calls/{SYSTEM}/{event.key.linkedid}/person"
    headers = {"Cookie": cookie, "origin": ORIGIN}
    async with httpx.AsyncClient() as http:
        # Ringing is not answering: the whole record waits for the answer.
        assert (await http.get(url, headers=headers)).status_code == 403
        panel.hub.publish(
            [CallAnswered(time.time(), event.key, "consultas", panel.interfaces[agent], "A", 1)]
        )
        card = await http.get(url, headers=headers)
        assert card.status_code == 200, card.text
        body = card.json()
        assert body["person_status"] == "identificada"
        assert [p["number"] for p in body["person"]["phones"]] == ["+598" + number[1:]]
        assert body["history"][0]["reference"] == past
        assert body["history"][0]["resolution"] == "pendiente"
        assert body["open_requests"] == []
        # Another agent, or a supervisor, does not read it through this call.
        other, _ = await session_cookie(base, panel.second_agent)
        refused = await http.get(url, headers={"Cookie": other, "origin": ORIGIN})
        assert refused.status_code == 403
    reads = AuditLog(panel.engine).query(person_id=person.id, action="person_read")
    assert [(r.actor_id, r.call, r.details["reason"]) for r in reads] == [
        (panel.users[agent], event.key, "call")
    ]
    await a.close()


async def test_ivr_person_wins_and_unconsented_data_stays_out(live: tuple[Panel, str]) -> None:
    panel, base = live
    registry = PersonRegistry(panel.engine)
    person = registry.register(
        given_names="Solo", family_names="Nombre", consents=["identificacion"]
    )
    agent = panel.usernames[Role.EJECUTIVO]
    a = await open_socket(base, (await session_cookie(base, agent))[0])
    panel.hub.publish(
        [
            ringing(
                panel,
                agent,
                uuid.uuid4().hex,
                caller_number="anonymous",
                variables={"ATIENDE_PERSON_ID": str(person.id)},
            )
        ]
    )
    found = await person_frame(a)
    assert found["person"]["id"] == person.id
    assert "phones" not in found["person"] and "consents" not in found["person"]
    await a.close()


class SlowLookup:
    def lookup(
        self,
        key: CallKey,
        caller_number: str,
        variables: Mapping[str, str],
        recipients: Sequence[int],
    ) -> dict[str, Any]:
        time.sleep(0.4)
        return {
            "type": "pop.person",
            "call": {"system": key.system, "linkedid": key.linkedid},
            "person_status": "desconocida",
        }


async def test_a_slow_lookup_never_holds_the_pop(panel_db: str) -> None:
    panel = build_panel(panel_db, budget=0.05)
    panel.hub._lookup = SlowLookup()
    async with served(panel.app) as base:
        agent = panel.usernames[Role.EJECUTIVO]
        a = await open_socket(base, (await session_cookie(base, agent))[0])
        panel.hub.publish([ringing(panel, agent, uuid.uuid4().hex)])
        assert (await next_frame(a))["type"] == "pop"
        late = await next_frame(a)
        assert (late["type"], late["person_status"]) == ("pop.person", "demorada")
        final = await next_frame(a)
        assert (final["type"], final["person_status"]) == ("pop.person", "desconocida")
        await a.close()
    panel.engine.dispose()


async def test_answer_hangup_updates_and_wrapup_clock(live: tuple[Panel, str]) -> None:
    panel, base = live
    agent = panel.usernames[Role.EJECUTIVO]
    a = await open_socket(base, (await session_cookie(base, agent))[0])
    b = await open_socket(base, (await session_cookie(base, panel.second_agent))[0])
    linkedid = uuid.uuid4().hex
    key = CallKey(SYSTEM, linkedid)
    panel.hub.publish(
        [ringing(panel, agent, linkedid), ringing(panel, panel.second_agent, linkedid)]
    )
    await next_frame(a, "pop")
    await next_frame(b, "pop")
    t0 = time.time()
    panel.hub.publish([CallAnswered(t0, key, "consultas", panel.interfaces[agent], "Agente", 3.0)])
    assert (await next_frame(a, "call.answered"))["call"]["linkedid"] == linkedid
    assert (await next_frame(b, "call.taken"))["member_name"] == "Agente"
    record = CallRecord(
        key=key,
        caller_number="099100001",
        caller_name="x",
        arrived_at=t0 - 10,
        outcome=Outcome.ANSWERED,
        hangup_side=HangupSide.AGENT,
        answered_at=t0,
        ended_at=t0 + 30,
        legs=(
            QueueLeg(
                "consultas",
                t0 - 5,
                1,
                t0,
                Outcome.ANSWERED,
                "Agente",
                panel.interfaces[agent],
                t0,
                5.0,
                30.0,
            ),
        ),
        talk_seconds=30.0,
    )
    panel.hub.publish([CallEnded(t0 + 30, record)])
    ended = await next_frame(a, "call.ended")
    assert ended["wrap_up"] is True and ended["outcome"] == "answered"
    # The wrap-up clock starts at hang-up, without the page asking.
    store = WrapupStore(panel.engine)
    for _ in range(100):
        opened = store.get(key)
        if opened is not None:
            break
        await asyncio.sleep(0.02)
    assert opened is not None
    assert opened.started_at.timestamp() == pytest.approx(t0 + 30, abs=0.001)
    assert opened.agent_user_id == panel.users[agent]
    await a.close()
    await b.close()


async def test_logout_and_role_loss_close_the_socket(live: tuple[Panel, str]) -> None:
    panel, base = live
    agent = panel.usernames[Role.EJECUTIVO]
    cookie, csrf = await session_cookie(base, agent)
    a = await open_socket(base, cookie)
    async with httpx.AsyncClient(base_url=f"http://{base}") as client:
        answer = await client.delete(
            "/api/session", headers={"Cookie": cookie, "X-CSRF-Token": csrf}
        )
        assert answer.status_code == 204
    with pytest.raises(ConnectionClosed) as closed:
        await next_frame(a)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001

    other_cookie, _ = await session_cookie(base, panel.second_agent)
    b = await open_socket(base, other_cookie)
    admin_cookie, admin_csrf = await session_cookie(base, panel.usernames[Role.ADMIN])
    async with httpx.AsyncClient(base_url=f"http://{base}") as client:
        answer = await client.patch(
            f"/api/users/{panel.users[panel.second_agent]}",
            json={"role": "gerente"},
            headers={"Cookie": admin_cookie, "X-CSRF-Token": admin_csrf},
        )
        assert answer.status_code == 200
    with pytest.raises(ConnectionClosed) as closed:
        await next_frame(b)
    assert closed.value.rcvd is not None and closed.value.rcvd.code in (4001, 4003)
    assert panel.hub.socket_count == 0


def test_ivr_path_frame_reads_the_comma_separated_variable() -> None:
    from agent_api.frames import ivr_path

    assert ivr_path({"ATIENDE_IVR_PATH": "menu, consultas ,cedula"}) == [
        "menu",
        "consultas",
        "cedula",
    ]
    assert ivr_path({}, ("1", "2")) == ["1", "2"]


async def test_shared_number_offers_candidates_and_audits_each(live: tuple[Panel, str]) -> None:
    panel, base = live
    registry = PersonRegistry(panel.engine)
    number = f"099{uuid.uuid4().int % 1_000_000:06d}"
    household = [
        registry.register(
            given_names=name,
            family_names="Silva",
            consents=["identificacion", "contacto"],
            phones=[number],
        )
        for name in ("Marta", "Jorge")
    ]
    agent = panel.usernames[Role.EJECUTIVO]
    a = await open_socket(base, (await session_cookie(base, agent))[0])
    panel.hub.publish([ringing(panel, agent, uuid.uuid4().hex, caller_number=number)])
    found = await person_frame(a)
    assert found["person_status"] == "varias"
    assert sorted(c["given_names"] for c in found["candidates"]) == ["Jorge", "Marta"]
    assert "person" not in found
    audit = AuditLog(panel.engine)
    for person in household:
        rows = audit.query(person_id=person.id, action="pop_disclosure")
        assert [r.actor_id for r in rows] == [panel.users[agent]]
    await a.close()


async def test_a_page_opened_during_the_call_gets_the_pop(live: tuple[Panel, str]) -> None:
    panel, base = live
    agent = panel.usernames[Role.EJECUTIVO]
    linkedid = uuid.uuid4().hex
    key = CallKey(SYSTEM, linkedid)
    panel.hub.publish([ringing(panel, agent, linkedid)])
    panel.hub.publish(
        [CallAnswered(time.time(), key, "consultas", panel.interfaces[agent], "A", 1)]
    )
    a = await open_socket(base, (await session_cookie(base, agent))[0])
    pop = await next_frame(a)
    assert (pop["type"], pop["call"]["linkedid"], pop["caller"]["name"]) == ("pop", linkedid, XSS)
    assert (await next_frame(a))["type"] == "call.answered"
    assert (await person_frame(a))["person_status"] == "desconocida"
    # Another agent, not rung, gets nothing of it.
    b = await open_socket(base, (await session_cookie(base, panel.second_agent))[0])
    panel.hub.publish(
        [
            AgentStateChanged(
                time.time(),
                SYSTEM,
                panel.interfaces[panel.second_agent],
                "B",
                AgentState.AVAILABLE,
                None,
                None,
                None,
            )
        ]
    )
    assert (await next_frame(b))["type"] == "agent.state"
    await a.close()
    await b.close()


async def test_a_supervisor_page_opened_during_the_call_gets_no_caller_data(
    live: tuple[Panel, str],
) -> None:
    panel, base = live
    agent = panel.usernames[Role.EJECUTIVO]
    registry = PersonRegistry(panel.engine)
    number = f"099{uuid.uuid4().int % 1_000_000:06d}"
    registry.register(
        given_names="Rosa",
        family_names="Díaz",
        consents=["identificacion", "contacto"],
        phones=[number],
    )
    linkedid = uuid.uuid4().hex
    panel.hub.publish([ringing(panel, agent, linkedid, caller_number=number)])
    s = await open_socket(base, (await session_cookie(base, panel.usernames[Role.SUPERVISOR]))[0])
    pop = await next_frame(s)
    assert (pop["type"], pop["call"]["linkedid"]) == ("pop", linkedid)
    assert pop["caller"] == {"number": "*" * (len(number) - 3) + number[-3:], "name": ""}
    # Nothing else follows for that call: the next frame is a state change.
    panel.hub.publish(
        [
            AgentStateChanged(
                time.time(),
                SYSTEM,
                panel.interfaces[agent],
                "A",
                AgentState.PAUSED,
                "x",
                None,
                None,
            )
        ]
    )
    assert (await next_frame(s))["type"] == "agent.state"
    await s.close()
