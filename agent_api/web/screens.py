"""What the pages' actions share: bounded form parsing, the CSRF check of
every page's POST (every role's, the agent's workspace and walk-in desks
included), and turning errors into the error summary a template shows.

An action is an htmx POST (the `X-CSRF-Token` header comes from
base.html's `hx-headers`) or a plain form post carrying a `csrf` field; either
must match the session's token. Actions answer the section they changed,
re-rendered, with a message or the errors (GOV.UK pattern).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar
from urllib.parse import parse_qs

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from agent_api.auth import CSRF_HEADER, Principal
from agent_api.exceptions import AgentApiError
from agent_api.web.auth import PageDenied, PageLoginRequired, TokenRefused, session_user_async
from crm_bridge.exceptions import InvalidValueError, NotFoundError, StoreError
from crm_bridge.organisms import Role

T = TypeVar("T")
Errors = list[tuple[str | None, str]]

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 64 * 1024
BIG_FORM_BYTES = 6 * 1024 * 1024  # a catalog file pasted or read into the form


class FormTooLarge(AgentApiError):
    status_code = 413
    detalle = "El formulario es demasiado grande."


async def form_of(request: Request, limit: int = MAX_FORM_BYTES) -> dict[str, list[str]]:
    """application/x-www-form-urlencoded fields, every value, bounded in size."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise FormTooLarge(f"form over {limit} bytes")
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=2000)
    except (UnicodeDecodeError, ValueError):
        return {}


def first(form: Mapping[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0].strip()


async def _sent_token(request: Request) -> str:
    """The CSRF token a request carries: the header htmx sends, else the
    `csrf` field of a plain form post."""
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


class ActionCheck:
    """The dependency of every page's state-changing request: the session's
    user, of one of `roles`, with the session's CSRF token in the
    `X-CSRF-Token` header (htmx sends it) or a `csrf` form field.

    A wrong or missing token answers 403 before the route runs. `roles` is
    public so tests can log in as a user the route accepts."""

    def __init__(self, roles: Iterable[Role]) -> None:
        self.roles = frozenset(roles)

    async def __call__(self, request: Request) -> Principal:
        user = await session_user_async(request)
        if user is None:
            raise PageLoginRequired
        if user.role not in self.roles:
            raise PageDenied(user)
        token = await _sent_token(request)
        if not token or not hmac.compare_digest(token.encode(), user.csrf_token.encode()):
            raise TokenRefused(user)
        return user


def action_for(*roles: Role) -> ActionCheck:
    """The CSRF-checked dependency of a page's POST for the users of `roles`."""
    return ActionCheck(roles)


async def attempt(work: Callable[[], T], errors: Errors, field: str | None = None) -> T | None:
    """Run store work off the loop; a refusal becomes an entry of `errors`."""
    try:
        return await run_in_threadpool(work)
    except AgentApiError as err:
        errors.append((field, err.detalle))
    except NotFoundError:
        errors.append((field, "No se encontró lo solicitado."))
    except InvalidValueError:
        errors.append((field, "Algún dato no es válido; revise el formulario."))
    except StoreError:
        errors.append((field, "No se pudo guardar. Intente de nuevo en unos segundos."))
    return None


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def number(text: str) -> int | None:
    """A positive id from a form field, or None."""
    return int(text) if text.isdigit() and 0 < len(text) <= 18 else None
