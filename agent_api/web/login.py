"""`/` (each role to its home), the login page, logout, and the API docs page."""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from agent_api.auth import CSRF_COOKIE, SESSION_COOKIE, Principal, origin_allowed
from agent_api.exceptions import TooManyAttempts
from agent_api.masking import mask_name
from agent_api.routes.session import start_session
from agent_api.services import PanelServices
from agent_api.users import PanelUser
from agent_api.web.auth import page_for, pages_of
from agent_api.web.auth import session_user_async as current
from agent_api.web.nav import home_of
from crm_bridge.organisms import Role

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

# Logout is a write like any other (page_for checks its token): a forged post
# must not end the session.
AnyUser = Annotated[Principal, Depends(page_for(*Role))]

# A login form is a few hundred bytes; anything bigger is not one.
MAX_FORM_BYTES = 4096


async def _form(request: Request) -> dict[str, str]:
    """application/x-www-form-urlencoded fields (first value of each), bounded."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {key: values[0] for key, values in fields.items() if values}


def same_site(request: Request, services: PanelServices) -> bool:
    """Login CSRF: a form posted from another site must not log the browser in.

    Browsers say where a request comes from in Sec-Fetch-Site; with the pages'
    `Referrer-Policy: no-referrer` Chromium sends `Origin: null` on form posts,
    so a real Origin is checked only when one is given.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return site is not None or origin is None
    return origin_allowed(origin, services.allowed_origins)


@router.get("/")
async def root(request: Request) -> Response:
    user = await current(request)
    if user is None:
        return RedirectResponse("/ingresar", status_code=303)
    return RedirectResponse(home_of(user.role, user.interfaces), status_code=303)


@router.get("/ingresar")
async def login_page(request: Request) -> Response:
    user = await current(request)
    if user is not None:
        return RedirectResponse(home_of(user.role, user.interfaces), status_code=303)
    return pages_of(request).render(request, "ingreso.html", {"error": None, "username": ""})


@router.post("/ingresar")
async def login_submit(request: Request) -> Response:
    services: PanelServices = request.app.state.services
    pages = pages_of(request)
    if not same_site(request, services):
        log.warning("login form refused: origin not allowed")
        return pages.render(
            request,
            "ingreso.html",
            {"error": "El ingreso debe hacerse desde esta página.", "username": ""},
            status_code=403,
        )
    form = await _form(request)
    username = form.get("username", "").strip()[:150]
    password = form.get("password", "")[:1024]
    if not username or not password:
        return pages.render(
            request,
            "ingreso.html",
            {"error": "Escriba su usuario y su contraseña.", "username": username},
            status_code=422,
        )
    address = request.client.host if request.client is not None else "unknown"
    try:
        # Counted before the password is checked, so parallel guesses cannot all pass.
        services.limiter.begin(username, address)
    except TooManyAttempts as err:
        return pages.render(
            request,
            "ingreso.html",
            {"error": err.detalle, "username": username},
            status_code=429,
            headers={"Retry-After": str(err.retry_after)},
        )
    user = await _authenticate(services, username, password)
    if user is None:
        log.info("failed login for %s from %s", mask_name(username), address)
        return pages.render(
            request,
            "ingreso.html",
            {"error": "Usuario o contraseña incorrectos.", "username": username},
            status_code=401,
        )
    services.limiter.succeeded(username, address)
    response = RedirectResponse(home_of(user.role, user.interfaces), status_code=303)
    start_session(services, user.id, response)
    return response


async def _authenticate(services: PanelServices, username: str, password: str) -> PanelUser | None:
    # Argon2 and the user lookup are slow on purpose: off the event loop.
    return await run_in_threadpool(services.users.authenticate, username, password)


@router.post("/salir")
async def logout(request: Request, user: AnyUser) -> Response:
    services: PanelServices = request.app.state.services
    services.sessions.end(user.session_id)
    services.hub.close_session(user.session_id)
    response: Response
    if request.headers.get("HX-Request") == "true":
        response = Response(status_code=204, headers={"HX-Redirect": "/ingresar"})
    else:
        response = RedirectResponse("/ingresar", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/api/docs")
async def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI from the vendored swagger-ui-dist: works offline, no CDN."""
    return pages_of(request).render(request, "docs.html", user=await current(request))
