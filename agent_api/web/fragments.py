"""htmx fragments opened as pages: a GET route that answers only a piece of a
screen is marked `dependencies=[fragment_of(page, UserAlias)]`; a browser
navigation to it (typed, bookmarked, opened in a new tab, back button) gets a
303 to `page`, the full screen that holds the piece, instead of bare markup
without header, styles or navigation. `page` may name the item the piece
shows ("/agente?persona={person_id}"), so the screen opens with it, and
`keep` the query parameters carried over (the call a person is read for).

The role check runs first (the marker depends on the route's own page check,
which FastAPI runs once), so another role still gets its 403 and no session
still goes to the login page. Both answers carry `Vary: HX-Request`, since
the same URL answers differently with and without it. htmx's own full-page
requests (a boosted link, a history restore after a cache miss) send
`HX-Request` too but want a page: they get the redirect as well.
"""

from __future__ import annotations

from typing import Any, get_args
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam
from fastapi.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_api.auth import Principal
from agent_api.web.auth import PageCheck

VARY = "HX-Request"
_STATE_KEY = "atiende_vary_hx_request"


class FragmentNavigation(Exception):
    """A fragment route reached by a browser navigation; `page` holds it."""

    def __init__(self, page: str) -> None:
        super().__init__(f"fragment opened as a page; showing {page}")
        self.page = page


def wants_fragment(request: Request) -> bool:
    """An htmx swap: HX-Request, and neither a boosted navigation nor a
    history restore (both of which swap in a whole page)."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def _page_check(user: Any) -> PageCheck:
    """The PageCheck inside a `Annotated[Principal, Depends(page_for(...))]` alias."""
    for extra in get_args(user)[1:]:
        if isinstance(extra, DependsParam) and isinstance(extra.dependency, PageCheck):
            return extra.dependency
    raise TypeError("fragment_of needs the route's page user alias (page_for)")


def fragment_of(page: str, user: Any = None, keep: tuple[str, ...] = ()) -> Any:
    """The marker of a fragment GET route: `page` is the screen that holds it
    (it may name the route's path parameters: "/sala/{token}"), `user` the
    route's page user alias, whose role check runs first; None for the
    token-only screens (room display, evaluation tablet). `keep`: query
    parameters of the request carried over to `page` (never personal data)."""
    if user is None:

        async def only_from_htmx(request: Request) -> None:
            _refuse_navigation(request, page, keep)

    else:
        check = _page_check(user)

        # A default, not Annotated: this module's postponed annotations are
        # resolved in its globals, where the local `check` is not.
        async def only_from_htmx(  # type: ignore[misc]
            request: Request,
            _user: Principal = Depends(check),  # noqa: B008
        ) -> None:
            _refuse_navigation(request, page, keep)

    only_from_htmx.fragment_page = page  # type: ignore[attr-defined]
    return Depends(only_from_htmx)


def _refuse_navigation(request: Request, page: str, keep: tuple[str, ...] = ()) -> None:
    request.scope.setdefault("state", {})[_STATE_KEY] = True
    if not wants_fragment(request):
        values = {name: quote(str(value), safe="") for name, value in request.path_params.items()}
        target = page.format_map(values)
        kept = [
            (name, request.query_params[name]) for name in keep if request.query_params.get(name)
        ]
        if kept:
            target += ("&" if "?" in target else "?") + urlencode(kept)
        raise FragmentNavigation(target)


def marked_page(call: Any) -> str | None:
    """The page a dependency's marker names, None if it is not a marker."""
    page = getattr(call, "fragment_page", None)
    return page if isinstance(page, str) else None


def redirect_to_page(err: FragmentNavigation) -> RedirectResponse:
    return RedirectResponse(err.page, status_code=303, headers={"Vary": VARY})


class VaryOnHtmx:
    """ASGI middleware: `Vary: HX-Request` on the answers of marked routes
    (routes may build their HTMLResponse directly, so it is added here)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_vary(message: Message) -> None:
            if message["type"] == "http.response.start" and scope.get("state", {}).get(_STATE_KEY):
                headers = list(message.get("headers", []))
                if not any(bytes(n).lower() == b"vary" for n, _ in headers):
                    headers.append((b"vary", VARY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_vary)
