"""`atiende serve`'s composition: the panel's CRM failed-jobs API follows the running sync."""

from __future__ import annotations

import pytest

from atiende.settings import Settings
from atiende.wiring import Panel, crm_adapter, start_background
from crm_bridge.organisms import Role
from crm_bridge.sync.testing import WebhookReceiver
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
