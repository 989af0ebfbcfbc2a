"""Who may see a page: the session cookie's user, with one of the page's roles.

A page without a session redirects to the login page (not a JSON 401); a
page for another role answers 403 with a link to the user's own home. A
write (POST...) must carry the session's token in `X-CSRF-Token` (htmx sends
it from base.html's `hx-headers`) or, from a plain form, in a `csrf` field:
SameSite cookies alone still go along with a form posted from a sibling
subdomain or another port of the same host.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from urllib.parse import parse_qs

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from agent_api.auth import CSRF_HEADER, SESSION_COOKIE, Principal
from agent_api.deps import SAFE_METHODS, principal_from_cookie
from agent_api.services import PanelServices
from agent_api.web.templating import Pages
from crm_bridge.organisms import Role

FORM_TYPE = "application/x-www-form-urlencoded"


class PageLoginRequired(Exception):
    pass


class PageDenied(Exception):
    def __init__(self, user: Principal) -> None:
        super().__init__(f"role {user.role} may not see this page")
        self.user = user


class TokenRefused(PageDenied):
    """An action without the session's CSRF token: forged elsewhere, or sent
    from a page older than the session (logged in again in another tab)."""


def session_user(request: Request) -> Principal | None:
    services: PanelServices = request.app.state.services
    return principal_from_cookie(services, request.cookies.get(SESSION_COOKIE))


async def session_user_async(request: Request) -> Principal | None:
    """session_user off the event loop (it reads the user from the store)."""
    return await run_in_threadpool(session_user, request)


async def _sent_token(request: Request) -> str:
    """The CSRF token a write carries: the header htmx sends, else the `csrf`
    field of a plain form post (logout)."""
    token = request.headers.get(CSRF_HEADER, "")
    if token:
        return token
    if not request.headers.get("content-type", "").startswith(FORM_TYPE):
        return ""
    # request.body() keeps the bytes, so the route still reads its form after
    # this; the middleware has already bounded the body's size.
    try:
        fields = parse_qs((await request.body()).decode("utf-8"), max_num_fields=2000)
    except (UnicodeDecodeError, ValueError):
        return ""
    return (fields.get("csrf") or [""])[0]


class PageCheck:
    """The dependency of every page: the logged-in user, if their role is
    one of `roles`, and on a write the session's CSRF token (403 before the
    route runs). `roles` is public so tests can log in as a user the route
    accepts."""

    def __init__(self, roles: Iterable[Role]) -> None:
        self.roles = frozenset(roles)

    async def __call__(self, request: Request) -> Principal:
        user = await session_user_async(request)
        if user is None:
            raise PageLoginRequired
        if user.role not in self.roles:
            raise PageDenied(user)
        if request.method not in SAFE_METHODS:
            token = await _sent_token(request)
            # Bytes: compare_digest refuses a str with non-ASCII characters.
            if not token or not hmac.compare_digest(token.encode(), user.csrf_token.encode()):
                raise TokenRefused(user)
        return user


def page_for(*roles: Role) -> PageCheck:
    """A dependency: the logged-in user, if their role is one of `roles`
    (and, on a write, if the request carries the session's CSRF token)."""
    return PageCheck(roles)


def pages_of(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages
