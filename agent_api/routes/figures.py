"""HTTP and WebSocket routes of the reports and the built-in wallboard.

The web layer serves dashboards' figures (dashboards.report_queries,
dashboards.wallboard); dashboards itself knows nothing of HTTP or sessions.
They live in the panel's app (agent_api.app.create_app) and use its
sessions: only supervisors, managers (gerente) and admins see them.
Wiring, in create_app (or in the composition root on the app it returns)::

    from agent_api.routes.figures import add_wallboard, reports_router
    from dashboards.wallboard import Wallboard

    app.include_router(
        reports_router(engine, timezone=ZoneInfo("America/Montevideo"),
                       definitions=kpi_definitions, default=default_definition)
    )
    # queue_metrics: the QueueMetrics sink the bridge already feeds (the one
    # the /metrics collector reads); agents: service.tracker.agents.
    # clock: the bridge's (service.clock), the one that stamped the agents.
    wallboard = Wallboard(queue_metrics, agents, clock=service.clock, max_rate=2.0)
    add_wallboard(app, wallboard)

and run `wallboard.run()` as a task in the bridge's loop next to uvicorn
(cancel it on shutdown): it pushes a frame when QueueMetrics changes, at
most `max_rate` per second. The page is GET /wallboard (a supervisor,
gerente or admin signs in on the panel first, same cookie), its socket
/ws/wallboard, a one-off snapshot GET /api/wallboard, the reports GET
/api/reportes/{colas,agentes,temas,organismos}?desde=YYYY-MM-DD&hasta=...
[&granularidad=hour][&cola=...][&formato=csv|xlsx], the quality indicators
/api/reportes/{satisfaccion,resolucion,quejas}?...&agrupar=agente|cola|canal|
tema|organismo|unidad and ticket SLA /api/reportes/solicitudes?...&agrupar=. The routes read
`request.app.state.services` (PanelServices) for sessions and origins, so
they only work inside the panel's app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    Query,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import StringConstraints
from sqlalchemy import Engine

import dashboards
from agent_api.audit import AuditAction
from agent_api.auth import Principal, origin_allowed
from agent_api.deps import CurrentUser
from agent_api.exceptions import Forbidden, InvalidInput
from agent_api.services import PanelServices
from agent_api.sockets import TooManySockets, run_pumps, socket_user
from crm_bridge.callbacks import completed_within_target
from crm_bridge.organisms import Role
from dashboards import indicator_queries, kpi, report_export, report_queries, ticket_sla
from dashboards.indicator_queries import Dimension
from dashboards.kiosk import KioskLinks
from dashboards.report_queries import Granularity, ReportSpan
from dashboards.wallboard import Wallboard

log = logging.getLogger(__name__)

# The wallboard page and its assets ship with dashboards, next to the frames they show.
WALLBOARD_STATIC = Path(dashboards.__file__).resolve().parent / "static"
FIGURE_ROLES = frozenset({Role.SUPERVISOR, Role.GERENTE, Role.ADMIN})
REFUSED = 1008  # WebSocket policy violation
# Sent after accepting, so the page can tell "refused, stop" from a network drop.
KIOSK_REFUSED = 4403
MAX_SPAN_DAYS = 400

Format = Literal["json", "csv", "xlsx"]
QueueName = Annotated[str, StringConstraints(max_length=80)]
Row = TypeVar("Row")


async def figure_reader(user: CurrentUser) -> Principal:
    if user.role not in FIGURE_ROLES:
        raise Forbidden(f"role {user.role} may not read reports")
    return user


FigureReader = Annotated[Principal, Depends(figure_reader)]


@dataclass(frozen=True)
class ReportRequest:
    """What every report route takes: the local dates (both included) and
    the output format. The span is checked in the handler, so a bad query
    parameter is still told as a validation error first."""

    desde: date
    hasta: date
    formato: Format
    estilo_csv: report_export.CsvDialect

    def span(self, timezone: tzinfo) -> ReportSpan:
        desde, hasta = self.desde, self.hasta
        if hasta < desde or (hasta - desde).days > MAX_SPAN_DAYS:
            raise InvalidInput(
                f"report span {desde}..{hasta} out of order or too long",
                detalle="hasta no puede ser anterior a desde ni distar más de 400 días",
            )
        start = datetime.combine(desde, time(), timezone)
        end = datetime.combine(hasta + timedelta(days=1), time(), timezone)
        return ReportSpan(start, end, timezone)

    def respond(self, name: str, table: report_export.Table, *, counted: bool = False) -> Response:
        """`counted`: the table holds queue figures, so it names the counting rule
        (in the JSON body, and as the X-Atiende-Conteo header of every format)."""
        columns, body = table
        filename = f"{name}_{self.desde.isoformat()}_{self.hasta.isoformat()}"
        rule = {"X-Atiende-Conteo": kpi.COUNTING_RULE} if counted else {}
        if self.formato == "csv":
            return Response(
                report_export.to_csv(columns, body, dialect=self.estilo_csv),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{filename}.csv"', **rule},
            )
        if self.formato == "xlsx":
            return Response(
                report_export.to_xlsx(columns, body, sheet=name),
                media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"', **rule},
            )
        keys = [c.key for c in columns]
        counting = (
            {"conteo": {"regla": kpi.COUNTING_RULE, "descripcion": kpi.COUNTING_RULE_TEXT}}
            if counted
            else {}
        )
        return JSONResponse(
            {
                "desde": self.desde.isoformat(),
                "hasta": self.hasta.isoformat(),
                **counting,
                "columnas": keys,
                "etiquetas": [c.label for c in columns],
                "filas": [
                    {k: report_export.json_value(v) for k, v in zip(keys, row, strict=True)}
                    for row in body
                ],
            }
        )


def report_request(
    _user: FigureReader,
    desde: date,
    hasta: date,
    formato: Format = "json",
    estilo_csv: report_export.CsvDialect = "uy",
) -> ReportRequest:
    return ReportRequest(desde, hasta, formato, estilo_csv)


Report = Annotated[ReportRequest, Depends(report_request)]


def reports_router(
    engine: Engine,
    *,
    timezone: tzinfo,
    definitions: Mapping[str, kpi.QueueKpiDefinition] | None = None,
    default: kpi.QueueKpiDefinition | None = None,
) -> APIRouter:
    """GET /api/reportes/{colas,agentes,temas,organismos,...}?desde=&hasta=&formato=.

    `desde` and `hasta` are local dates (both included). Handlers are plain
    functions: FastAPI runs them in its thread pool, off the event loop.
    Each route is named by its export (the path, the file and the sheet).
    """
    router = APIRouter(prefix="/api/reportes", tags=["reportes"])
    definitions = dict(definitions or {})

    def add(name: str, endpoint: Callable[..., Response], operation: str, doc: str) -> None:
        # `operation` keeps the OpenAPI operation id and summary of each report.
        router.add_api_route(f"/{name}", endpoint, methods=["GET"], name=operation, description=doc)

    def span_report(
        name: str, operation: str, table: Callable[[ReportSpan], report_export.Table], doc: str = ""
    ) -> None:
        def endpoint(report: Report) -> Response:
            return report.respond(name, table(report.span(timezone)))

        add(name, endpoint, operation, doc)

    def grouped_report(
        name: str,
        operation: str,
        doc: str,
        by_default: Dimension,
        query: Callable[[Engine, ReportSpan, Dimension], Sequence[Row]],
        table: Callable[[Sequence[Row], Dimension], report_export.Table],
    ) -> None:
        def endpoint(report: Report, agrupar: Dimension = by_default) -> Response:
            rows = query(engine, report.span(timezone), agrupar)
            return report.respond(name, table(rows, agrupar))

        add(name, endpoint, operation, doc)

    @router.get("/colas")
    def queues(
        report: Report,
        granularidad: Granularity = Granularity.DAY,
        cola: Annotated[list[QueueName] | None, Query(max_length=50)] = None,
    ) -> Response:
        rows = report_queries.queue_report(
            engine,
            report.span(timezone),
            granularity=granularidad,
            definitions=definitions,
            default=default,
            queues=cola,
        )
        return report.respond("colas", report_export.queue_table(rows), counted=True)

    span_report(
        "agentes",
        "agents",
        lambda span: report_export.agent_table(report_queries.agent_report(engine, span)),
    )
    span_report(
        "temas",
        "topics",
        lambda span: report_export.topic_table(report_queries.topic_report(engine, span)),
    )
    span_report(
        "organismos",
        "organisms",
        lambda span: report_export.organism_table(report_queries.organism_report(engine, span)),
    )

    @router.get("/solicitudes")
    def tickets_sla(
        report: Report,
        agrupar: Literal["organismo", "unidad", "canal", "tipo"] = "organismo",
    ) -> Response:
        """Ticket SLA compliance of the tickets opened in the span (dashboards.ticket_sla)."""
        rows = ticket_sla.ticket_sla_report(
            engine, report.span(timezone), datetime.now(UTC), by=agrupar
        )
        labels = {"organismo": "Organismo", "unidad": "Unidad", "canal": "Canal", "tipo": "Tipo"}
        return report.respond("solicitudes", report_export.ticket_sla_table(rows, labels[agrupar]))

    # Quality indicators (dashboards.indicators), by any dimension of the attention.
    grouped_report(
        "satisfaccion",
        "satisfaction",
        "CSAT: survey responses, mean and distribution per group.",
        Dimension.QUEUE,
        indicator_queries.csat_report,
        report_export.csat_table,
    )
    grouped_report(
        "resolucion",
        "first_contact",
        "First contact resolution of the finished wrap-ups per group.",
        Dimension.AGENT,
        indicator_queries.fcr_report,
        report_export.fcr_table,
    )
    grouped_report(
        "quejas",
        "complaints",
        "Quejas and reclamos per group.",
        Dimension.UNIT,
        indicator_queries.complaint_report,
        report_export.complaint_table,
    )
    span_report(
        "devoluciones",
        "callbacks",
        lambda span: report_export.callback_table(
            completed_within_target(engine, span.start, span.end)
        ),
        "Callbacks completed in the span per queue, and within their target.",
    )
    return router


def add_wallboard(
    app: FastAPI,
    wallboard: Wallboard,
    kiosk: KioskLinks | None = None,
    *,
    kiosk_check_seconds: float = 5.0,
) -> None:
    """The wallboard on `app`: its routes (wallboard_router) and the page's
    assets under /wallboard/static."""
    app.include_router(wallboard_router(wallboard, kiosk, kiosk_check_seconds=kiosk_check_seconds))
    app.mount("/wallboard/static", StaticFiles(directory=WALLBOARD_STATIC), name="wallboard")


def wallboard_router(
    wallboard: Wallboard, kiosk: KioskLinks | None = None, *, kiosk_check_seconds: float = 5.0
) -> APIRouter:
    """GET /wallboard (the page; it redirects nobody: the page itself asks
    the user to sign in on the panel when its socket is refused) and the
    WebSocket /ws/wallboard that pushes the tiles and alerts. With `kiosk`,
    also GET /kiosco/{token} and /ws/kiosco/{token}: the same board for a TV
    with no session, while the link is not revoked (checked every
    `kiosk_check_seconds` on an open socket)."""
    router = APIRouter(tags=["wallboard"])

    @router.get("/wallboard", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(WALLBOARD_STATIC / "wallboard.html", headers=_BOARD_HEADERS)

    @router.get("/api/wallboard")
    async def snapshot(_user: FigureReader) -> JSONResponse:
        return JSONResponse(wallboard.frame())

    @router.websocket("/ws/wallboard")
    async def socket(websocket: WebSocket) -> None:
        services: PanelServices = websocket.app.state.services
        user = await socket_user(websocket, services)
        if user is None or user.role not in FIGURE_ROLES:
            await websocket.close(code=REFUSED)
            return
        try:
            with services.sockets.hold(user.user_id, user.session_id):
                await websocket.accept()
                await _serve_board(websocket, wallboard, None)
        except TooManySockets as err:
            log.warning("wallboard socket refused: %s", err)
            await websocket.close(code=REFUSED)

    if kiosk is None:
        return router
    links = kiosk

    @router.get("/kiosco/{token}", include_in_schema=False)
    async def kiosk_page(token: str) -> Response:
        # The page itself holds nothing; an unknown link is told so by its socket.
        # Checking here too spares a TV a page that can never work.
        if await asyncio.to_thread(links.resolve, token) is None:
            return Response(
                "Enlace de pizarra no válido o revocado.",
                status_code=404,
                media_type="text/plain; charset=utf-8",
                headers=_BOARD_HEADERS,
            )
        return FileResponse(WALLBOARD_STATIC / "wallboard.html", headers=_BOARD_HEADERS)

    @router.websocket("/ws/kiosco/{token}")
    async def kiosk_socket(websocket: WebSocket, token: str) -> None:
        services: PanelServices = websocket.app.state.services
        if not origin_allowed(websocket.headers.get("origin"), services.allowed_origins):
            await websocket.close(code=REFUSED)
            return
        link = await asyncio.to_thread(links.resolve, token)
        await websocket.accept()
        if link is None:
            await websocket.close(code=KIOSK_REFUSED)
            return
        await asyncio.to_thread(
            services.audit.record,
            AuditAction.KIOSK_LINK,
            actor_id=None,
            person_ids=[None],
            details={"event": "opened", "link_id": link.id},
        )
        link_id = link.id

        async def revoked() -> None:
            # Polled: revocation may come from another replica's API.
            while True:
                if not await asyncio.to_thread(links.is_active, link_id):
                    return
                await asyncio.sleep(kiosk_check_seconds)

        try:
            # A link counts as a session of its own (a negative id: no user's).
            with services.sockets.hold(-link_id, f"kiosk:{link_id}"):
                await _serve_board(websocket, wallboard, revoked)
        except TooManySockets as err:
            log.warning("kiosk socket refused: %s", err)
            await websocket.close(code=REFUSED)

    return router


async def _serve_board(
    websocket: WebSocket,
    wallboard: Wallboard,
    until: Callable[[], Coroutine[Any, Any, None]] | None,
) -> None:
    """Push frames until the page goes or `until` returns (a revoked kiosk link)."""
    queue = wallboard.subscribe()
    revoked = False

    async def watch(until: Callable[[], Coroutine[Any, Any, None]]) -> None:
        nonlocal revoked
        await until()
        revoked = True

    try:
        await websocket.send_json(wallboard.frame())
        work = [_pump(websocket, queue), _drain(websocket)]
        if until is not None:
            work.append(watch(until))
        await run_pumps(*work)
        if revoked:
            with contextlib.suppress(Exception):
                await websocket.close(code=KIOSK_REFUSED)
    finally:
        wallboard.unsubscribe(queue)


# The board loads only its own files and sends no Referer (a kiosk URL holds its key).
_BOARD_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


async def _pump(websocket: WebSocket, queue: asyncio.Queue[dict[str, object]]) -> None:
    while True:
        await websocket.send_json(await queue.get())


async def _drain(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()
