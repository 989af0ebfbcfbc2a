"""Who may see a page: the session cookie's user, with one of the page's roles.

A page without a session redirects to the login page (not a JSON 401); a
page for another role answers 403 with a link to the user's own home. A
write (POST...) must carry the session's token in `X-CSRF-Token` (htmx sends
it from base.html's `hx-headers`): SameSite cookies alone still go along with
a form posted from a sibling subdomain or another port of the same host.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from agent_api.auth import CSRF_HEADER, SESSION_COOKIE, Principal
from agent_api.deps import SAFE_METHODS, principal_from_cookie
from agent_api.services import PanelServices
from agent_api.web.templating import Pages
from crm_bridge.organisms import Role


class PageLoginRequired(Exception):
    pass


class PageDenied(Exception):
    def __init__(self, user: Principal) -> None:
        super().__init__(f"role {user.role} may not see this page")
        self.user = user


def session_user(request: Request) -> Principal | None:
    services: PanelServices = request.app.state.services
    return principal_from_cookie(services, request.cookies.get(SESSION_COOKIE))


async def session_user_async(request: Request) -> Principal | None:
    """session_user off the event loop (it reads the user from the store)."""
    return await run_in_threadpool(session_user, request)


def page_for(*roles: Role) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A dependency: the logged-in user, if their role is one of `roles`
    (and, on a write, if the request carries the session's CSRF token)."""

    async def check(request: Request) -> Principal:
        user = await session_user_async(request)
        if user is None:
            raise PageLoginRequired
        if user.role not in roles:
            raise PageDenied(user)
        if request.method not in SAFE_METHODS:
            token = request.headers.get(CSRF_HEADER, "")
            if not token or not hmac.compare_digest(token, user.csrf_token):
                raise PageDenied(user)
        return user

    return check


def pages_of(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages
