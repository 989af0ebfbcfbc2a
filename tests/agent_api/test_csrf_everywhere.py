"""Every state-changing route of the panel refuses a request that carries the
session cookie but not the session's CSRF token, and changes nothing.

The routes are read from the app itself (with the routers the composition
root adds: figures, wallboard, kiosk links, queue alerts), so a new POST, PUT,
PATCH or DELETE that forgets the check fails here unless it is added, with
its reason, to EXEMPT.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import RouteContext, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from agent_api.auth import CSRF_HEADER, ROLE_PERMISSIONS
from agent_api.deps import Requirement, current_user
from agent_api.exceptions import CsrfRejected
from agent_api.routes.figures import add_wallboard, reports_router
from agent_api.routes.kiosk_links import kiosk_links_router
from agent_api.routes.queue_alerts import queue_alerts_router
from agent_api.web.auth import PageCheck
from crm_bridge.organisms import Role
from dashboards.kiosk import KioskLinks
from dashboards.queue_alert_acks import QueueAlertAcks
from dashboards.queue_metrics import QueueMetrics
from dashboards.wallboard import Wallboard
from tests.agent_api.conftest import PASSWORD, Panel, build_panel

pytestmark = pytest.mark.postgres

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Unsafe routes that read no session, each with why a cross-site request
# cannot borrow anything through it. Nothing else may skip the check.
EXEMPT = {
    # Logins: there is no session yet. The form checks Sec-Fetch-Site and
    # Origin (web/login.py same_site); the JSON login takes application/json
    # only, which a cross-site form cannot send (a script would need a CORS
    # preflight the app never grants). test_the_exemptions_hold checks both.
    ("POST", "/ingresar"),
    ("POST", "/api/session"),
    # The citizens' public forms: no login; each form carries a signed,
    # time-limited token bound to a cookie nonce (web/publico.py).
    ("POST", "/solicitud"),
    ("POST", "/seguimiento"),
    # The desk tablet and the one-time evaluation link: the unguessable token
    # in the path is the whole credential and no cookie is read, so a forged
    # post has nothing of the victim's to ride on (web/presencial.py).
    ("POST", "/evaluacion/{token}"),
}

# The role a route's test logs in as when several are accepted.
ROLE_ORDER = (Role.EJECUTIVO, Role.SUPERVISOR, Role.REFERENTE, Role.GERENTE, Role.ADMIN)
# The token page's title (errores/token_invalido.html): a page action refused for its token.
TOKEN_PAGE = "Solicitud no válida"


@pytest.fixture
def panel(panel_db: str) -> Iterator[Panel]:
    built = build_panel(panel_db)
    app = built.app
    # What atiende/wiring.py adds when the bridge has queue metrics.
    board = Wallboard(QueueMetrics({}, window_seconds=900), lambda: [])
    kiosk = KioskLinks(built.engine)
    acks = QueueAlertAcks(built.engine)
    app.include_router(reports_router(built.engine, timezone=ZoneInfo("America/Montevideo")))
    add_wallboard(app, board, kiosk)
    app.include_router(kiosk_links_router(kiosk))
    app.include_router(queue_alerts_router(acks))
    app.state.wallboard, app.state.queue_alert_acks, app.state.kiosk_links = board, acks, kiosk
    try:
        yield built
    finally:
        built.engine.dispose()


def _unsafe_routes(app: FastAPI) -> list[tuple[str, str, RouteContext]]:
    found = []
    for route in iter_route_contexts(app.routes):
        for method in sorted((route.methods or set()) & UNSAFE):
            found.append((method, str(route.path), route))
    return found


def _calls(dependant: Dependant) -> Iterator[Any]:
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _roles(route: RouteContext) -> set[Role] | None:
    """The roles the route's CSRF-checking dependency accepts; None without one."""
    dependant = getattr(route, "dependant", None)
    calls = [] if dependant is None else list(_calls(dependant))
    roles: set[Role] | None = None
    for call in calls:
        if isinstance(call, PageCheck):
            return set(call.roles)
        if call is current_user:
            roles = set(Role)
    for call in calls:
        if isinstance(call, Requirement) and roles is not None:
            roles &= {r for r in Role if ROLE_PERMISSIONS[r] & set(call.permissions)}
    return roles


def _url(route: RouteContext, user_id: int) -> str:
    """The route's path with its parameters filled: the caller's own id for
    user_id (an agent acts on themselves), 1 for everything else."""
    values = {name: str(user_id) if name == "user_id" else "1" for name in route.param_convertors}
    return str(route.path).format(**values)


def _state(panel: Panel) -> tuple[dict[str, list[str]], list[tuple[str, ...]]]:
    """Every row of every table, and every AMI action asked for."""
    with panel.engine.connect() as connection:
        tables = inspect(connection).get_table_names()
        rows = {
            table: sorted(
                repr(tuple(row)) for row in connection.execute(text(f'SELECT * FROM "{table}"'))
            )
            for table in tables
        }
    return rows, list(panel.controls.calls)


def _client(panel: Panel, role: Role) -> tuple[TestClient, str]:
    """A client logged in as `role`, sending the session cookie (and the CSRF
    cookie) but no CSRF header; and the session's token."""
    client = panel.client(panel.usernames[role])
    token = client.headers.pop(CSRF_HEADER)
    return client, token


def _token_refusal(answer: Any, api: bool) -> bool:
    if answer.status_code != 403:
        return False
    if api:
        return bool(answer.json().get("detalle") == CsrfRejected.detalle)
    return TOKEN_PAGE in answer.text


def test_every_unsafe_route_needs_the_sessions_csrf_token(panel: Panel) -> None:
    routes = _unsafe_routes(panel.app)
    listed = {(method, path) for method, path, _ in routes}
    assert listed >= EXEMPT, f"stale exemptions: {EXEMPT - listed}"
    assert len(listed - EXEMPT) > 80  # the walk found the app's routes, not an empty list
    unchecked = []
    for method, path, route in routes:
        if (method, path) in EXEMPT:
            continue
        roles = _roles(route)
        if not roles:
            unchecked.append(f"{method} {path}")
            continue
        role = next(r for r in ROLE_ORDER if r in roles)
        client, token = _client(panel, role)
        url = _url(route, panel.users[panel.usernames[role]])
        api = path.startswith("/api/")
        before = _state(panel)
        forged: list[dict[str, Any]] = [
            {"json": {}} if api else {"data": {}},
            {"headers": {CSRF_HEADER: "forjado"}, "json": {}},
            {"headers": {CSRF_HEADER: token[:-1]}, "data": {"csrf": token[:-1]}},
            {"data": {"csrf": "forjado", "x": "1"}},
        ]
        for attempt in forged:
            answer = client.request(method, url, **attempt)
            assert _token_refusal(answer, api), (method, path, attempt, answer.status_code)
        assert _state(panel) == before, (method, path)
        assert client.get("/api/session").status_code == 200, (method, path)  # session kept
        # The same request with the token passes the check (whatever the
        # route then says of an empty body): the refusal above was the token's.
        passing: dict[str, Any] = (
            {"headers": {CSRF_HEADER: token}, "json": {}} if api else {"data": {"csrf": token}}
        )
        answer = client.request(method, url, **passing)
        assert not _token_refusal(answer, api), (method, path, answer.status_code)
    assert not unchecked, f"unsafe routes without the CSRF check and not in EXEMPT: {unchecked}"


def test_the_exemptions_hold(panel: Panel) -> None:
    """The reasons given in EXEMPT, checked."""
    username = panel.usernames[Role.EJECUTIVO]
    credentials = {"username": username, "password": PASSWORD}
    client = TestClient(panel.app)
    # The JSON login from a cross-site form (text/plain, no preflight): refused, no session.
    answer = client.post(
        "/api/session",
        content=b'{"username": "%s", "password": "%s"}' % (username.encode(), PASSWORD.encode()),
        headers={"Content-Type": "text/plain"},
    )
    assert answer.status_code == 422 and "atiende_session" not in answer.cookies
    # The login form posted from another site: refused, no session.
    answer = client.post("/ingresar", data=credentials, headers={"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 403 and "atiende_session" not in answer.cookies
    # The evaluation post: a logged-in cookie gets nothing without a real link token.
    logged, _token = _client(panel, Role.EJECUTIVO)
    answer = logged.post("/evaluacion/" + "A" * 43, data={"score": "5"})
    assert answer.status_code == 404
