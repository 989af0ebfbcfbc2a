"""htmx fragments opened as pages (agent_api/web/fragments.py): a browser
navigation to a route that answers a piece of a screen lands on the whole
screen, with its header, after the same role check.

The routes are read from the app: every GET page route answers either a whole
page (`<html`, even to htmx) or is marked with `fragment_of`, so a new
fragment route without the marker fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from agent_api.web.auth import PageCheck
from agent_api.web.fragments import marked_page
from crm_bridge.organisms import Role
from crm_bridge.persons import PersonRegistry
from tests.agent_api.conftest import PASSWORD, Panel
from tests.support.browser import axe_violations, launch, require_chromium, switch_user
from tests.support.web import served

pytestmark = pytest.mark.postgres

TEMPLATES = Path(__file__).resolve().parents[2] / "agent_api" / "templates"
HTMX = {"HX-Request": "true"}
ROLE_ORDER = (Role.EJECUTIVO, Role.SUPERVISOR, Role.REFERENTE, Role.GERENTE, Role.ADMIN)


def _calls(dependant: Dependant) -> Iterator[Any]:
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _page_routes(panel: Panel) -> list[APIRoute]:
    """The GET routes of the server-rendered pages (agent_api.web)."""
    found = []
    for context in iter_route_contexts(panel.app.routes):
        route = context.original_route
        if (
            isinstance(route, APIRoute)
            and "GET" in route.methods
            and route.endpoint.__module__.startswith("agent_api.web")
        ):
            found.append(route)
    return found


def _marker(route: APIRoute) -> str | None:
    return next((p for c in _calls(route.dependant) if (p := marked_page(c))), None)


def _roles(route: APIRoute) -> frozenset[Role] | None:
    """The roles its page check accepts; None for a page without login."""
    return next((c.roles for c in _calls(route.dependant) if isinstance(c, PageCheck)), None)


def _values(route: APIRoute, person_id: int) -> dict[str, str]:
    """The path's parameters: the registered person, else "x1"."""
    return {name: "x1" for name in route.param_convertors} | {"person_id": str(person_id)}


def _url(route: APIRoute, person_id: int) -> str:
    return route.path.format(**_values(route, person_id))


def _client(panel: Panel, roles: frozenset[Role] | None) -> TestClient:
    if roles is None:
        return panel.client()
    return panel.client(panel.usernames[next(r for r in ROLE_ORDER if r in roles)])


def _whole(html: str) -> bool:
    return "<html" in html and 'class="topbar"' in html


@pytest.fixture
def person_id(panel: Panel) -> int:
    """A registered person, so the person routes answer their fragment, not a 404."""
    return (
        PersonRegistry(panel.engine)
        .register(given_names="Lucía", family_names="Fernández", consents=["identificacion"])
        .id
    )


def test_every_fragment_route_is_marked(panel: Panel, person_id: int) -> None:
    """An unmarked GET route answers a whole page even to htmx; what answers
    a piece must carry the marker. The marked ones are the fragments QA found."""
    marked = {route.path for route in _page_routes(panel) if _marker(route)}
    assert {
        "/agente/devolucion",
        "/agente/seguimientos",
        "/supervision/seguimientos",
        "/puesto/panel",
        "/agente/personas/{person_id}",
    } <= marked
    for route in _page_routes(panel):
        if _marker(route) is not None:
            continue
        roles = _roles(route)
        client = _client(panel, roles)
        answer = client.get(_url(route, person_id), headers=HTMX, follow_redirects=False)
        if answer.status_code == 200 and answer.headers["content-type"].startswith("text/html"):
            assert "<html" in answer.text, f"{route.path} answers a fragment: mark it"


def test_a_navigation_to_a_fragment_lands_on_its_page(panel: Panel, person_id: int) -> None:
    routes = [route for route in _page_routes(panel) if _marker(route)]
    for route in routes:
        roles = _roles(route)
        page = _marker(route)
        assert page is not None
        url = _url(route, person_id)
        client = _client(panel, roles)
        # A typed URL, a bookmark, a new tab, a boosted link or htmx's
        # history restore: the whole page, never bare markup.
        for headers in (
            {},
            {**HTMX, "HX-Boosted": "true"},
            {**HTMX, "HX-History-Restore-Request": "true"},
        ):
            answer = client.get(url, headers=headers, follow_redirects=False)
            assert answer.status_code == 303, (route.path, headers, answer.text)
            assert answer.headers["vary"] == "HX-Request"
            target = answer.headers["location"]
            assert target == page.format(**_values(route, person_id)), route.path
        if roles is not None:
            whole = client.get(target)
            assert whole.status_code == 200 and _whole(whole.text), route.path
            assert "Cerrar sesión" in whole.text
        # htmx itself still gets the piece, and caches are told it differs.
        swap = client.get(url, headers=HTMX, follow_redirects=False)
        assert swap.status_code != 303 and "<html" not in swap.text, route.path
        assert swap.headers["vary"] == "HX-Request", route.path
        if roles is None:
            continue
        # Another role stays refused, navigation or swap; no session logs in.
        other = next(r for r in ROLE_ORDER if r not in roles)
        stranger = panel.client(panel.usernames[other])
        for headers in ({}, HTMX):
            refused = stranger.get(url, headers=headers, follow_redirects=False)
            assert refused.status_code == 403, (route.path, other)
            assert _whole(refused.text)
        anonymous = panel.client().get(url, follow_redirects=False)
        assert anonymous.headers["location"] == "/ingresar"


def test_a_person_or_ticket_link_opened_as_a_page_keeps_the_item(
    panel: Panel, person_id: int
) -> None:
    """A person or ticket link opened in a new tab lands on /agente naming the
    item (an id, never a cédula or phone) and the call it is read for."""
    client = panel.client(panel.usernames[Role.EJECUTIVO])
    person = client.get(
        f"/agente/personas/{person_id}", params={"llamada": "pbx-1|17.5"}, follow_redirects=False
    )
    assert person.status_code == 303
    assert person.headers["location"] == f"/agente?persona={person_id}&llamada=pbx-1%7C17.5"
    bare = client.get(f"/agente/personas/{person_id}", follow_redirects=False)
    assert bare.headers["location"] == f"/agente?persona={person_id}"
    ticket = client.get("/agente/solicitudes/2026-000123", follow_redirects=False)
    assert ticket.status_code == 303
    assert ticket.headers["location"] == "/agente?solicitud=2026-000123"
    # Other parameters are not carried over (the page would not know them).
    history = client.get(f"/agente/personas/{person_id}?pagina=2", follow_redirects=False)
    assert history.headers["location"] == f"/agente?persona={person_id}"


def test_no_template_pushes_a_fragment_url(panel: Panel) -> None:
    """htmx's history: a URL it pushes is reloaded as a page, so it must not
    be a fragment route (those answer a redirect to their page instead)."""
    fragments = [
        re.compile("^" + re.sub(r"\{[^}]+\}", "[^/?]+", r.path) + "(\\?|$)")
        for r in _page_routes(panel)
        if _marker(r)
    ]
    for template in TEMPLATES.rglob("*.html"):
        for tag in re.findall(r"<[^>]*hx-push-url[^>]*>", template.read_text(encoding="utf-8")):
            pushed = re.search(r'hx-push-url="([^"]+)"', tag)
            url = re.search(r'hx-get="([^"]+)"', tag)
            target = pushed.group(1) if pushed and pushed.group(1) != "true" else None
            target = target or (url.group(1) if url else "")
            assert not any(f.match(target) for f in fragments), (template, tag)


async def test_a_fragment_opened_in_the_browser_is_a_whole_page(panel: Panel) -> None:
    playwright_api = require_chromium()
    async with served(panel.app) as host, playwright_api.async_playwright() as pw:
        browser = await launch(pw)
        try:
            context = await browser.new_context(
                viewport={"width": 1366, "height": 768}, locale="es-UY"
            )
            page = await context.new_page()
            await switch_user(page, f"http://{host}", panel.usernames[Role.SUPERVISOR], PASSWORD)
            await page.goto(f"http://{host}/supervision/seguimientos")
            assert page.url == f"http://{host}/supervision"
            await page.wait_for_load_state("networkidle")
            assert await page.locator("header.topbar nav").count() == 1
            assert await page.locator("h1").count() == 1
            # The worklist is the piece the URL named, loaded inside the page.
            assert await page.locator("#seguimientos-supervision, #seguimientos").count() >= 1
            stylesheet = await page.evaluate(
                "getComputedStyle(document.querySelector('header.topbar')).display"
            )
            assert stylesheet != "inline"
            assert await axe_violations(page) == []
        finally:
            await browser.close()
