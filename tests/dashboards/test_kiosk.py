"""Kiosk links: a TV opens the wallboard with no session until the link is revoked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.websockets import WebSocketDisconnect

from agent_api.audit import AuditLog
from agent_api.routes.figures import KIOSK_REFUSED, wallboard_router
from agent_api.routes.kiosk_links import kiosk_links_router
from agent_api.routes.queue_alerts import queue_alerts_router
from crm_bridge.models import KioskLink
from crm_bridge.organisms import Role
from dashboards.kiosk import KioskLinks, token_hash
from dashboards.queue_alert_acks import QueueAlertAcks
from dashboards.wallboard import Wallboard
from tests.agent_api.conftest import ORIGIN, Panel, build_panel
from tests.dashboards.test_wallboard import AGENTS, Clock, busy_metrics

pytestmark = pytest.mark.postgres


@pytest.fixture
def panel(browser_db: str) -> Iterator[Panel]:
    built = build_panel(browser_db)
    links = KioskLinks(built.engine)
    board = Wallboard(busy_metrics(Clock()), lambda: AGENTS)
    built.app.include_router(wallboard_router(board, links, kiosk_check_seconds=0.05))
    built.app.include_router(kiosk_links_router(links))
    built.app.include_router(queue_alerts_router(QueueAlertAcks(built.engine)))
    try:
        yield built
    finally:
        built.engine.dispose()


def test_a_kiosk_link_shows_the_board_until_revoked(panel: Panel) -> None:
    supervisor = panel.client(panel.usernames[Role.SUPERVISOR])
    made = supervisor.post("/api/kiosk-links", json={"label": "TV sala 1"})
    assert made.status_code == 201, made.text
    url, link_id = made.json()["url"], made.json()["id"]
    token = url.removeprefix("/kiosco/")
    assert len(token) == 43  # 256 random bits

    # Stored hashed: the database never holds the token itself.
    with panel.engine.connect() as conn:
        stored = conn.execute(KioskLink.__table__.select()).mappings().all()
    assert token not in repr(stored)
    assert any(row["token_hash"] == token_hash(token) for row in stored)

    tv = panel.client()  # no session at all
    page = tv.get(url)
    assert page.status_code == 200 and "Pizarra de colas" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    with tv.websocket_connect(f"/ws/kiosco/{token}", headers={"origin": ORIGIN}) as socket:
        frame = socket.receive_json()
        assert frame["type"] == "wallboard"
        assert [a["name"] for a in frame["agent_list"]] == ["Ana", "Bruno", "Carla"]
        # The link reads the board and nothing else.
        assert tv.get("/api/wallboard").status_code == 401
        assert tv.get("/api/tickets").status_code == 401

        revoked = supervisor.post(f"/api/kiosk-links/{link_id}/revoke")
        assert revoked.status_code == 200 and revoked.json()["active"] is False
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:  # frames already queued may come first
                socket.receive_json()
        assert closed.value.code == KIOSK_REFUSED

    assert tv.get(url).status_code == 404
    with tv.websocket_connect(f"/ws/kiosco/{token}", headers={"origin": ORIGIN}) as socket:
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
        assert closed.value.code == KIOSK_REFUSED

    events = [
        e.details["event"]
        for e in AuditLog(panel.engine).query(action="kiosk_link")
        if e.details.get("link_id") == link_id
    ]
    assert sorted(events) == ["created", "opened", "revoked"]


def test_guessed_or_malformed_tokens_open_nothing(panel: Panel) -> None:
    tv = panel.client()
    for token in ("x", "A" * 43, "a.b", "%00" * 15):
        assert tv.get(f"/kiosco/{token}").status_code == 404


@pytest.mark.parametrize("role", [Role.EJECUTIVO, Role.GERENTE, Role.REFERENTE])
def test_only_supervisors_and_admins_manage_kiosk_links(panel: Panel, role: Role) -> None:
    client = panel.client(panel.usernames[role])
    assert client.post("/api/kiosk-links", json={"label": "TV"}).status_code == 403
    assert client.get("/api/kiosk-links").status_code == 403
    admin = panel.client(panel.usernames[Role.ADMIN])
    assert admin.get("/api/kiosk-links").status_code == 200


def test_queue_alerts_are_acknowledged_with_a_note_and_audited(panel: Panel) -> None:
    supervisor = panel.client(panel.usernames[Role.SUPERVISOR])
    body = {"kind": "wait_over_limit", "queue": "consultas", "note": "Pasé a Bruno a consultas"}
    made = supervisor.post("/api/queue-alerts/acks", json=body)
    assert made.status_code == 201, made.text
    assert supervisor.post("/api/queue-alerts/acks", json={**body, "note": ""}).status_code == 422
    assert supervisor.post("/api/queue-alerts/acks", json={**body, "kind": "x"}).status_code == 422
    listed = supervisor.get("/api/queue-alerts/acks").json()
    assert listed[0]["note"] == "Pasé a Bruno a consultas"
    assert listed[0]["actor_id"] == panel.users[panel.usernames[Role.SUPERVISOR]]
    audited = AuditLog(panel.engine).query(action="alert_ack")
    assert any(a.details.get("ack_id") == made.json()["id"] for a in audited)
    for role in (Role.EJECUTIVO, Role.GERENTE, Role.REFERENTE):
        refused = panel.client(panel.usernames[role]).post("/api/queue-alerts/acks", json=body)
        assert refused.status_code == 403
