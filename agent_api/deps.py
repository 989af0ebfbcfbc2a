"""FastAPI dependencies as Annotated aliases: services, the current user, CSRF, permissions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from agent_api.auth import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    Permission,
    Principal,
    Session,
    csrf_matches,
)
from agent_api.exceptions import CsrfRejected, Forbidden, NotAuthenticated
from agent_api.services import PanelServices

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_services(request: Request) -> PanelServices:
    services: PanelServices = request.app.state.services
    return services


Services = Annotated[PanelServices, Depends(get_services)]


def _authenticate(services: PanelServices, cookie: str | None) -> tuple[Session, Principal] | None:
    """The session and its user as the store has them now (role and active flag read fresh)."""
    session = services.sessions.resolve(cookie)
    if session is None:
        return None
    user = services.users.get(session.user_id)
    if user is None or not user.active:
        services.sessions.end(session.session_id)
        return None
    principal = Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        interfaces=user.interfaces,
        session_id=session.session_id,
        csrf_token=session.csrf_token,
    )
    return session, principal


def principal_from_cookie(services: PanelServices, cookie: str | None) -> Principal | None:
    found = _authenticate(services, cookie)
    return None if found is None else found[1]


def current_user(request: Request, services: Services) -> Principal:
    found = _authenticate(services, request.cookies.get(SESSION_COOKIE))
    if found is None:
        raise NotAuthenticated("no valid session")
    session, principal = found
    if request.method not in SAFE_METHODS and not csrf_matches(
        session, request.headers.get(CSRF_HEADER), request.cookies.get(CSRF_COOKIE)
    ):
        raise CsrfRejected("csrf token missing or wrong")
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


class Requirement:
    """A dependency: the current user (CSRF-checked on unsafe methods), if the
    role has any of `permissions` (public, so tests can pick a role the route
    accepts)."""

    def __init__(self, permissions: tuple[Permission, ...]) -> None:
        self.permissions = permissions

    async def __call__(self, user: CurrentUser) -> Principal:
        if not any(user.can(p) for p in self.permissions):
            raise Forbidden(f"role {user.role} lacks {', '.join(self.permissions)}")
        return user


def require(*permissions: Permission) -> Requirement:
    """A dependency: the current user, if the role has any of `permissions`."""
    return Requirement(permissions)


P = Permission
Agent = Annotated[Principal, Depends(require(P.RECEIVE_POPS))]
WrapUpper = Annotated[Principal, Depends(require(P.WRAP_UP))]
CallReader = Annotated[Principal, Depends(require(P.OWN_CALLS, P.ALL_CALLS))]
Controller = Annotated[Principal, Depends(require(P.CONTROL_SELF, P.CONTROL_OTHERS))]
PersonReader = Annotated[Principal, Depends(require(P.READ_PERSONS))]
PersonWriter = Annotated[Principal, Depends(require(P.WRITE_PERSONS))]
CatalogReader = Annotated[Principal, Depends(require(P.READ_CATALOG))]
CatalogManager = Annotated[Principal, Depends(require(P.MANAGE_CATALOG))]
KnowledgeReader = Annotated[Principal, Depends(require(P.READ_KNOWLEDGE))]
Admin = Annotated[Principal, Depends(require(P.MANAGE_USERS))]
Auditor = Annotated[Principal, Depends(require(P.READ_AUDIT))]
