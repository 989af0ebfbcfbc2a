"""The agent panel's FastAPI application.

`create_app` takes ready-made services (no settings are read, no client is
built here): atiende.panel_app builds them from the engine, and
atiende/wiring.py composes the panel with the bridge (see agent_api.ws).
OpenAPI docs at /api/docs. Errors are JSON `{"detalle": "..."}` in Spanish
for the panel; logs get the English reason.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from agent_api.after_call import AfterCallWork, attach_after_call
from agent_api.exceptions import AgentApiError
from agent_api.followup import FollowUpServices
from agent_api.middleware import (
    DEFAULT_MAX_BODY_BYTES,
    BodyLimit,
    BodyTooLarge,
    SecurityHeaders,
    error_page,
    wants_html,
)
from agent_api.routes import (
    admin_directory,
    admin_topics,
    agents,
    alerts,
    audit,
    calls,
    catalog,
    crm,
    knowledge,
    persons,
    session,
    socket,
    users,
    wrapups,
)
from agent_api.routes import (
    rights as rights_routes,
)
from agent_api.routes import (
    tickets as ticket_routes,
)
from agent_api.services import PanelServices
from agent_api.web import install as install_pages
from agent_api.web.templating import Pages
from crm_bridge.exceptions import (
    ConsentRequiredError,
    InvalidTransitionError,
    InvalidValueError,
    NotFoundError,
    RecordRejectedError,
    StoreError,
    StoreUnavailableError,
)
from crm_bridge.history import PersonHistory

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"

_REFUSED = "Algún dato no es válido o está fuera de rango; revise el formulario."
_STORE_ERRORS: list[tuple[type[Exception], int, str]] = [
    (NotFoundError, 404, "No se encontró lo solicitado."),
    (ConsentRequiredError, 422, "La persona no dio consentimiento para guardar esos datos."),
    (InvalidTransitionError, 409, "La solicitud no admite esa acción en su estado actual."),
    (InvalidValueError, 422, "Algún dato no es válido; revise el formulario."),
    # Values the database refuses (a number out of its range, a NUL in a
    # text, a reference to nothing) come from the request: a 4xx, not a 500.
    (RecordRejectedError, 422, _REFUSED),
    (StoreUnavailableError, 503, "La base de datos no está disponible. Intente en unos segundos."),
]


_FRAMEWORK_REFUSALS = {
    400: ("Solicitud no válida", "No se pudo leer lo enviado: revise su formato."),
    404: ("Página no encontrada", "No se encontró lo solicitado. Revise la dirección."),
    405: ("Operación no admitida", "Esta dirección no admite esa operación."),
}
_OTHER_REFUSAL = ("Solicitud no válida", "No se pudo atender la solicitud.")


def _problem(status: int, detalle: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detalle": detalle}, status_code=status, headers=headers)


def create_app(
    *,
    services: PanelServices,
    followup: FollowUpServices,
    person_history: PersonHistory,
    timezone: str = "America/Montevideo",
    phone_region: str = "UY",
    after_call: AfterCallWork | None = None,
    queue_names: Iterable[str] = (),
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_limits: Mapping[str, int] | None = None,
    trusted_proxies: Sequence[str] = (),
) -> FastAPI:
    """The panel app, on services the composition root built
    (atiende.wiring.panel_app builds them from an engine and settings).

    `services.hub` must also be a sink of the bridge (see agent_api.ws).
    `followup`'s optional services answer 503 without them;
    `app.state.followup.crm_failures` may be set once the sync runs.
    `max_body_bytes` bounds every request body (413 before it is read);
    `body_limits` raises it for path prefixes that take files.
    `trusted_proxies` (addresses or networks): requests from them are taken
    to come from the client their X-Forwarded-For names (login limits).
    """
    hub = services.hub
    user_store = services.users

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        hub.set_interfaces(user_store.interface_map())
        push = services.callback_push
        if push is not None:
            await push.start()
        try:
            yield
        finally:
            if push is not None:
                await push.close()

    app = FastAPI(
        title="Atiende — panel del agente",
        version="0.1.0",
        docs_url=None,  # agent_api.web serves Swagger UI from vendored files
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.followup = followup
    for module in (session, users, agents, calls, wrapups, catalog, persons, audit, socket):
        app.include_router(module.router)
    for module in (ticket_routes, alerts, crm, rights_routes):
        app.include_router(module.router)
    for router in (*admin_directory.routers, admin_topics.router, knowledge.router):
        app.include_router(router)

    # Outermost last: the headers go on every answer, the 413 included.
    limits = {"/api/catalog/import": catalog.MAX_UPLOAD_BYTES, **(body_limits or {})}
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, per_path=limits)
    app.add_middleware(SecurityHeaders)
    if trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(trusted_proxies))

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, err: BodyTooLarge) -> Response:
        log.info("%s %s -> 413: body over %d bytes", request.method, request.url.path, err.limit)
        if wants_html(request.url.path, request.headers.get("accept", "")):
            page = error_page("No se pudo enviar", str(err.detail), request.url.path)
            return HTMLResponse(page, status_code=413, headers={"Connection": "close"})
        return _problem(413, str(err.detail), {"Connection": "close"})

    # Numbers and dates out of range for Python itself (an id above SQLite's
    # integers, a report ending on 9999-12-31): the caller's mistake, a 422.
    @app.exception_handler(OverflowError)
    async def out_of_range(request: Request, err: OverflowError) -> JSONResponse:
        log.info("%s %s -> 422: %s", request.method, request.url.path, type(err).__name__)
        return _problem(422, "Algún número o fecha está fuera de rango.")

    @app.exception_handler(AgentApiError)
    async def api_error(request: Request, err: AgentApiError) -> JSONResponse:
        log.info("%s %s -> %d: %s", request.method, request.url.path, err.status_code, err)
        headers = None
        retry_after = getattr(err, "retry_after", None)
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}
        return _problem(err.status_code, err.detalle, headers)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, err: StoreError) -> JSONResponse:
        for kind, status, detalle in _STORE_ERRORS:
            if isinstance(err, kind):
                log.info("%s %s -> %d: %s", request.method, request.url.path, status, err)
                return _problem(status, detalle)
        log.error("%s %s failed: %s", request.method, request.url.path, err)
        return _problem(500, "Ocurrió un error al guardar o leer datos.")

    @app.exception_handler(DataError)
    async def refused_value(request: Request, err: DataError) -> JSONResponse:
        # A query outside the store's translated() blocks got a value the
        # database cannot hold (an id above 2^63-1, a NUL byte): the caller's error.
        kind = type(err.orig).__name__ if err.orig is not None else "DataError"
        path = request.url.path
        log.info("%s %s -> 422: value refused by the database (%s)", request.method, path, kind)
        return _problem(422, _REFUSED)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError) -> JSONResponse:
        fields = sorted({".".join(str(p) for p in e["loc"][1:]) for e in err.errors()})
        log.info("%s %s -> 422: invalid %s", request.method, request.url.path, fields)
        return _problem(422, "Revise los campos: " + ", ".join(f or "cuerpo" for f in fields))

    # What the framework itself refuses (no such path, a method the path does
    # not take, a JSON body that does not parse): Spanish like every other
    # answer, a page for a person's browser and {"detalle"} for programs.
    @app.exception_handler(HTTPException)
    async def refused_request(request: Request, err: HTTPException) -> Response:
        title, detalle = _FRAMEWORK_REFUSALS.get(err.status_code, _OTHER_REFUSAL)
        log.info("%s %s -> %d", request.method, request.url.path, err.status_code)
        headers = dict(err.headers) if err.headers else None
        if wants_html(request.url.path, request.headers.get("accept", "")):
            page = error_page(title, detalle, request.url.path)
            return HTMLResponse(page, status_code=err.status_code, headers=headers)
        return _problem(err.status_code, detalle, headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return _problem(500, AgentApiError.detalle)

    app.state.queue_names = tuple(queue_names)
    app.state.person_history = person_history
    app.state.after_call = after_call
    if after_call is not None:
        attach_after_call(after_call, hub, user_store, services.agents)
    install_pages(app, Pages(ZoneInfo(timezone), phone_region))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
