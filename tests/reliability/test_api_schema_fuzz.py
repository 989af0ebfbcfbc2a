"""The panel's OpenAPI schema fuzzed for every role (schemathesis): no 5xx.

Schemathesis reads /api/openapi.json from the app and generates requests for
every operation (valid ones and ones that bend the schema: huge integers,
odd strings, missing fields), sent as each role would send them: with that
role's session cookie, its CSRF token and the panel's origin, and once with
no session at all. Whatever comes in, the answer is a clear 2xx/3xx/4xx,
never a 500 with a traceback. Logging out is left out (it would end the
session mid-run); everything else is in, writes included, on a database of
this module's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_api.auth import CSRF_HEADER
from crm_bridge.organisms import Role
from crm_bridge.responders import LogResponder
from crm_bridge.sync.outbox import OutboxStore, SyncFailures
from crm_bridge.sync.rights import PersonRights
from crm_bridge.sync.sla_alerts import SlaAlerts
from crm_bridge.tickets import TicketService
from tests.agent_api.conftest import ORIGIN, Panel, build_panel
from tests.agent_api.test_tickets_api import ALWAYS_OPEN, RecordingDispatcher
from tests.support.postgres import fresh_database

pytestmark = pytest.mark.postgres

EXAMPLES_PER_ROLE = 250
LEFT_OUT = {("DELETE", "/api/session")}


@pytest.fixture(scope="module")
def fuzzed_panel(postgres_url: str) -> Iterator[Panel]:
    with fresh_database(postgres_url, "apifuzz", migrate=True) as database:
        panel = build_panel(
            database,
            tickets=lambda engine: TicketService(
                engine, business_hours=ALWAYS_OPEN, responders=[LogResponder()]
            ),
        )
        # Every optional service on, as a fully configured `atiende serve` has
        # them (without them their routes answer 503 on purpose).
        followup = panel.app.state.followup
        followup.sla_alerts = SlaAlerts(panel.engine, hours=ALWAYS_OPEN)
        followup.crm_failures = SyncFailures(OutboxStore(panel.engine), RecordingDispatcher())
        followup.rights = PersonRights(panel.engine, sync_to_crm=False)
        try:
            yield panel
        finally:
            panel.engine.dispose()


@pytest.fixture(scope="module")
def sessions(fuzzed_panel: Panel) -> dict[Role | None, TestClient]:
    """Every role logged in before any fuzzing: fuzzed logins soon trip the
    login limiter for this client's address, as they should."""
    clients: dict[Role | None, TestClient] = {None: fuzzed_panel.client()}
    for role in Role:
        clients[role] = fuzzed_panel.client(fuzzed_panel.usernames[role])
    return clients


@pytest.mark.parametrize("role", [None, *Role], ids=lambda r: "anonimo" if r is None else r.value)
def test_no_operation_answers_5xx_for_any_role(
    fuzzed_panel: Panel, sessions: dict[Role | None, TestClient], role: Role | None
) -> None:
    panel = fuzzed_panel
    client = sessions[role]
    headers = {"origin": ORIGIN}
    if CSRF_HEADER in client.headers:
        headers[CSRF_HEADER] = client.headers[CSRF_HEADER]
    cookies = dict(client.cookies)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", panel.app)
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if (op.method.upper(), op.path) not in LEFT_OUT
    ]
    assert len(operations) > 20, "the schema lost its operations"
    failures: dict[tuple[str, str, int], str] = {}

    @settings(
        max_examples=EXAMPLES_PER_ROLE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def fuzz(data: Any) -> None:
        operation = data.draw(st.sampled_from(operations))
        case = data.draw(operation.as_strategy())
        try:
            response = case.call(headers=dict(headers), cookies=dict(cookies))
            status = response.status_code
        except Exception as err:  # the in-process client raises what would be a 500
            status = 500
            found = f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
        else:
            found = response.text[:120]
        if status >= 500:
            key = (operation.method.upper(), operation.path, status)
            failures.setdefault(
                key, f"{found} | {case.path_parameters} {case.query} {case.body!r}"[:400]
            )

    fuzz()
    # Still logged in: the run did not end the session by accident.
    if role is not None:
        assert client.get("/api/session").status_code == 200
    assert not failures, "\n".join(f"{k}: {v}" for k, v in sorted(failures.items()))


BIG = 2**63  # one above PostgreSQL's bigint


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        (Role.SUPERVISOR, "POST", f"/api/agents/{BIG}/pause", {"reason": "Baño"}),
        (Role.SUPERVISOR, "POST", f"/api/agents/{BIG}/calls", {"number": "099123456"}),
        (Role.ADMIN, "POST", "/api/admin/topics", {"code": "nul-tema", "name": "a\x00b"}),
        (
            Role.EJECUTIVO,
            "POST",
            "/api/tickets",
            {"organism_id": 1, "channel": "presencial", "description": "x", "topic": "t",
             "request_type": "queja", "unit_id": -(BIG * 400)},
        ),
    ],
    ids=["agent-id-over-bigint", "agent-id-calls", "nul-in-text", "unit-id-out-of-range"],
)  # fmt: skip
def test_values_the_database_refuses_are_a_422_not_a_500(
    sessions: dict[Role | None, TestClient],
    role: Role,
    method: str,
    path: str,
    body: dict[str, Any],
) -> None:
    """What the fuzzing found first (500 with a traceback before the fix)."""
    answer = sessions[role].request(method, path, json=body)
    assert answer.status_code in (403, 404, 409, 422), (answer.status_code, answer.text)
    assert answer.status_code < 500
