"""What the supervisor, referente, gerente and admin screens share: bounded form
parsing, the CSRF check of a page's actions, and turning errors into the
error summary a template shows.

A screen's action is an htmx POST (the `X-CSRF-Token` header comes from
base.html's `hx-headers`) or a plain form post carrying a `csrf` field; either
must match the session's token. Actions answer the section they changed,
re-rendered, with a message or the errors (GOV.UK pattern).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qs

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from agent_api.auth import Principal
from agent_api.exceptions import AgentApiError
from agent_api.web.auth import page_for
from crm_bridge.exceptions import InvalidValueError, NotFoundError, StoreError
from crm_bridge.organisms import Role

T = TypeVar("T")
Errors = list[tuple[str | None, str]]

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


def action_for(*roles: Role) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A dependency for a screen's POST: the user of one of `roles`, with the
    session's CSRF token in the `X-CSRF-Token` header (htmx sends it); every
    page's write checks the token (web/auth.page_for)."""
    return page_for(*roles)


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
