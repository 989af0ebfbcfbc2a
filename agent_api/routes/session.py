"""Log in (creates the session cookie), who am I, log out."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from agent_api.auth import CSRF_COOKIE, ROLE_PERMISSIONS, SESSION_COOKIE, Session
from agent_api.deps import CurrentUser, Services
from agent_api.exceptions import NotAuthenticated
from agent_api.masking import mask_name
from agent_api.schemas import LoginIn, SessionOut
from agent_api.services import PanelServices

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/session", tags=["sesión"])


def _client(request: Request) -> str:
    # The forwarded address when the peer is a trusted proxy (create_app's
    # trusted_proxies, applied by a middleware), else the peer's.
    return request.client.host if request.client is not None else "unknown"


@router.post("", response_model=SessionOut)
def log_in(body: LoginIn, request: Request, response: Response, services: Services) -> SessionOut:
    address = _client(request)
    # Counted before the password is checked, so parallel guesses cannot all pass.
    services.limiter.begin(body.username, address)
    user = services.users.authenticate(body.username, body.password)
    if user is None:
        log.info("failed login for %s from %s", mask_name(body.username), address)
        raise NotAuthenticated("bad credentials", detalle="Usuario o contraseña incorrectos.")
    services.limiter.succeeded(body.username, address)
    session = start_session(services, user.id, response)
    return SessionOut(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        interfaces=list(user.interfaces),
        permissions=sorted(ROLE_PERMISSIONS[user.role]),
        csrf_token=session.csrf_token,
    )


def start_session(services: PanelServices, user_id: int, response: Response) -> Session:
    """Create the server-side session and set its two cookies on `response`.

    Used by the JSON login here and by the login page (agent_api.web).
    """
    session, cookie = services.sessions.create(user_id)
    max_age = int(services.sessions.lifetime_seconds)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=services.cookie_secure,
        path="/",
    )
    # Readable by the page's script on purpose: it echoes it in X-CSRF-Token.
    response.set_cookie(
        CSRF_COOKIE,
        session.csrf_token,
        max_age=max_age,
        httponly=False,
        samesite="strict",
        secure=services.cookie_secure,
        path="/",
    )
    return session


@router.get("", response_model=SessionOut)
def who_am_i(user: CurrentUser) -> SessionOut:
    return SessionOut(
        user_id=user.user_id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        interfaces=list(user.interfaces),
        permissions=sorted(ROLE_PERMISSIONS[user.role]),
        csrf_token=user.csrf_token,
    )


@router.delete("", status_code=204)
def log_out(user: CurrentUser, response: Response, services: Services) -> None:
    services.sessions.end(user.session_id)
    services.hub.close_session(user.session_id)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
