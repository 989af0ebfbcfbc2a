"""`atiende serve`'s composition: the panel's CRM failed-jobs API follows the running sync."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from atiende.settings import Settings
from atiende.wiring import Panel, crm_adapter, start_background
from crm_bridge.contacts import ContactAttentions
from crm_bridge.models import Attention
from crm_bridge.organisms import Role
from crm_bridge.sync.testing import WebhookReceiver
from crm_bridge.turns import TurnService
from tests.agent_api.conftest import build_panel

pytestmark = pytest.mark.postgres


def test_the_failed_jobs_api_answers_once_the_sync_runs(panel_db: str) -> None:
    built = build_panel(panel_db)
    receiver = WebhookReceiver("crm-secret")
    receiver.start()
    settings = Settings(
        database_url=panel_db,
        crm={"adapter": "webhook", "webhook_url": receiver.url, "webhook_secret": "crm-secret"},
    )
    panel = Panel(built.hub, built.engine, settings)
    panel._app = built.app  # what Panel.start keeps of the app it serves
    admin = built.client(built.usernames[Role.ADMIN])
    background = start_background(settings, built.engine, crm_adapter(settings))
    try:
        assert admin.get("/api/crm/failures").status_code == 503
        assert background.failures is not None
        panel.attach_crm_failures(background.failures)
        answer = admin.get("/api/crm/failures")
        assert answer.status_code == 200, answer.text
        assert admin.post("/api/crm/failures/retry").json() == {"retried": 0}
    finally:
        background.stop()
        receiver.stop()
        built.engine.dispose()


def test_no_crm_no_failed_jobs(panel_db: str) -> None:
    built = build_panel(panel_db)
    settings = Settings(database_url=panel_db)
    background = start_background(settings, built.engine, crm_adapter(settings))
    try:
        assert background.failures is None
    finally:
        background.stop()
        built.engine.dispose()


def test_serve_sweeps_receptions_left_without_a_turn(panel_db: str) -> None:
    built = build_panel(panel_db)
    settings = Settings(
        database_url=panel_db,
        walkin={"reception_timeout_minutes": 0.001, "reception_sweep_interval": 0.05},
    )
    turns = TurnService(built.engine, ContactAttentions(built.engine))
    point = turns.create_point(f"sweep{time.time_ns() % 10**9}", "Punto del barrido")
    key = turns.receive(point.id, user_id=built.users[built.usernames[Role.EJECUTIVO]])
    background = start_background(settings, built.engine, crm_adapter(settings))
    try:
        deadline = time.monotonic() + 20
        outcome = ""
        while time.monotonic() < deadline:
            with built.engine.connect() as conn:
                outcome = conn.execute(
                    select(Attention.outcome).where(Attention.linkedid == key.linkedid)
                ).scalar_one()
            if outcome == "cancelled":
                break
            time.sleep(0.05)
        assert outcome == "cancelled"
    finally:
        background.stop()
        built.engine.dispose()
