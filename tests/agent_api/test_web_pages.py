"""The server-rendered foundation: login page, `/` per role, role pages, logout, docs, assets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from agent_api.users import UserStore
from agent_api.web.nav import ROLE_HOME
from crm_bridge.organisms import Role
from tests.agent_api.conftest import ORIGIN, PASSWORD, Panel
from tests.support.panel import fast_passwords

pytestmark = pytest.mark.postgres

STATIC = Path(__file__).resolve().parents[2] / "agent_api" / "static"


def form_login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    answer = client.post(
        "/ingresar",
        data={"username": username, "password": password},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def _assert_own_assets_only(html: str) -> None:
    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not re.match(r"^(https?:)?//", src), src
    # No inline script: every <script> loads a file of the app (CSP script-src 'self').
    for tag in re.findall(r"<script[^>]*>", html):
        assert 'src="/static/' in tag, tag
    assert "<style" not in html


def test_root_without_session_goes_to_login(panel: Panel) -> None:
    client = panel.client()
    answer = client.get("/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/ingresar"
    page = client.get("/ingresar")
    assert page.status_code == 200
    assert 'lang="es-UY"' in page.text and "Saltar al contenido" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    _assert_own_assets_only(page.text)


@pytest.mark.parametrize("role", list(Role))
def test_each_role_lands_on_its_home(panel: Panel, role: Role) -> None:
    client = panel.client()
    location = form_login(client, panel.usernames[role])
    assert location == ROLE_HOME[role]
    assert client.get("/", follow_redirects=False).headers["location"] == ROLE_HOME[role]
    page = client.get(location)
    assert page.status_code == 200, page.text
    _assert_own_assets_only(page.text)
    assert 'aria-label="Principal"' in page.text and "Cerrar sesión" in page.text
    csrf = client.cookies.get("atiende_csrf")
    assert csrf and f'"X-CSRF-Token": "{csrf}"' in page.text.replace("&#34;", '"')
    # Another role's home is refused with a way back.
    other = next(h for r, h in ROLE_HOME.items() if r is not role)
    refused = client.get(other)
    assert refused.status_code == 403 and f'href="{ROLE_HOME[role]}"' in refused.text


def test_an_ejecutivo_without_phone_interfaces_lands_on_reception(panel: Panel) -> None:
    """/agente's pause and queue controls need a phone: without one the
    ejecutivo serves walk-ins, and lands (and goes home) there."""
    name = f"recepcion-{panel.second_agent}"
    UserStore(panel.engine, fast_passwords()).create(
        name, "Raquel Recepción", Role.EJECUTIVO, PASSWORD, []
    )
    client = panel.client()
    assert form_login(client, name) == "/recepcion"
    assert client.get("/", follow_redirects=False).headers["location"] == "/recepcion"
    assert client.get("/ingresar", follow_redirects=False).headers["location"] == "/recepcion"
    page = client.get("/recepcion")
    assert page.status_code == 200, page.text
    # Another role's page offers the way back to reception, not to /agente.
    refused = client.get(ROLE_HOME[Role.SUPERVISOR])
    assert refused.status_code == 403 and 'href="/recepcion"' in refused.text
    # /agente stays reachable from the menu.
    assert 'href="/agente"' in page.text


def test_bad_password_and_foreign_origin(panel: Panel) -> None:
    client = panel.client()
    name = panel.usernames[Role.EJECUTIVO]
    bad = client.post("/ingresar", data={"username": name, "password": "nope-nope-nope"})
    assert bad.status_code == 401 and "Usuario o contraseña incorrectos." in bad.text
    assert "atiende_session" not in client.cookies
    foreign = TestClient(panel.app, headers={"origin": "https://evil.example"})
    refused = foreign.post("/ingresar", data={"username": name, "password": PASSWORD})
    assert refused.status_code == 403 and "atiende_session" not in foreign.cookies
    cross = TestClient(panel.app, headers={"origin": "null", "sec-fetch-site": "cross-site"})
    refused = cross.post("/ingresar", data={"username": name, "password": PASSWORD})
    assert refused.status_code == 403 and "atiende_session" not in cross.cookies
    empty = client.post("/ingresar", data={"username": "", "password": ""})
    assert empty.status_code == 422 and "Escriba su usuario" in empty.text


def test_logout_needs_the_token_and_ends_the_session(panel: Panel) -> None:
    client = panel.client()
    form_login(client, panel.usernames[Role.GERENTE])
    assert client.post("/salir", data={"csrf": "wrong"}).status_code == 403
    assert client.get("/reportes", follow_redirects=False).status_code == 200
    token = client.cookies.get("atiende_csrf")
    answer = client.post("/salir", data={"csrf": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/ingresar"
    client.cookies.clear()
    assert client.get("/reportes", follow_redirects=False).headers["location"] == "/ingresar"


@pytest.mark.parametrize(
    "path, data",
    [
        ("/agente/pausa", {"reason": "Baño"}),
        ("/agente/disponible", {}),
        ("/agente/personas/buscar", {"q": "Núñez"}),
        ("/agente/conocimiento", {"q": "cedula"}),
        ("/recepcion/cancelar", {"attention_id": "1"}),
    ],
)
def test_the_agents_writes_need_the_token(panel: Panel, path: str, data: dict[str, str]) -> None:
    """SameSite cookies still ride along with a form posted from a sibling
    subdomain or another port of the host: the agent's pages, like every other
    screen, refuse a write without the session's token."""
    client = panel.client()
    form_login(client, panel.usernames[Role.EJECUTIVO])
    refused = client.post(path, data=data)
    assert refused.status_code == 403, refused.text
    wrong = client.post(path, data=data, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403, wrong.text
    assert panel.controls.calls == []
    token = client.cookies["atiende_csrf"]
    accepted = client.post(path, data=data, headers={"X-CSRF-Token": token})
    assert accepted.status_code != 403, accepted.text
    if path == "/agente/pausa":
        assert [c[0] for c in panel.controls.calls] == ["pause"]


def test_api_docs_are_served_from_vendored_files(panel: Panel) -> None:
    client = panel.client()
    page = client.get("/api/docs")
    assert page.status_code == 200
    _assert_own_assets_only(page.text)
    for asset in (
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/static/vendor/swagger-ui/swagger-ui.css",
        "/static/js/docs.js",
        "/static/vendor/htmx/htmx.min.js",
    ):
        assert asset in page.text
        served = client.get(asset)
        assert served.status_code == 200 and len(served.content) > 100, asset
    assert client.get("/api/openapi.json").status_code == 200
    # Each vendored package has its licence beside it.
    assert (STATIC / "vendor" / "htmx" / "LICENSE").is_file()
    assert (STATIC / "vendor" / "swagger-ui" / "LICENSE").is_file()
    assert ORIGIN  # the test client's Origin is the app's own


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.EJECUTIVO])
def test_roles_without_pops_never_get_the_agent_socket(panel: Panel, role: Role) -> None:
    client = panel.client()
    form_login(client, panel.usernames[role])
    page = client.get(ROLE_HOME[role])
    assert "/static/js/agente.js" not in page.text and "/ws/agente" not in page.text
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws/agente") as ws:
        ws.receive_text()


def test_the_agent_socket_starts_with_the_whole_workspace(panel: Panel) -> None:
    client = panel.client()
    form_login(client, panel.usernames[Role.EJECUTIVO])
    with client.websocket_connect("/ws/agente") as ws:
        first = ws.receive_json()
    assert first["type"] == "swap"
    # Every region is drawn, the person area too: a reconnect after a drop
    # must not leave an earlier caller on screen.
    assert set(first["regions"]) == {"estado", "llamada", "persona", "cierres", "pendientes"}
    # Only the first socket of a page opened by a person or ticket link
    # keeps the person area as the page drew it.
    with client.websocket_connect("/ws/agente?conservar=persona") as ws:
        kept = ws.receive_json()
    assert set(kept["regions"]) == {"estado", "llamada", "cierres", "pendientes"}
    assert 'id="llamada"' in first["regions"]["llamada"]


def test_pages_name_an_icon_the_app_serves(panel: Panel) -> None:
    # Without one, the browser asks for /favicon.ico on every page and logs a
    # 404 in the console (seen on every screen of the demo).
    client = panel.client()
    page = client.get("/ingresar")
    icon = re.search(r'<link rel="icon" href="([^"]+)"', page.text)
    assert icon is not None, "no <link rel=icon>"
    served = client.get(icon.group(1))
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("image/svg+xml")
