"""HTTP and WebSocket routes of the reports and the built-in wallboard.

The web layer serves dashboards' figures (dashboards.report_queries,
dashboards.wallboard); dashboards itself knows nothing of HTTP or sessions.
They live in the panel's app (agent_api.app.create_app) and use its
sessions: only supervisors, managers (gerente) and admins see them.
Wiring, in create_app (or in the composition root on the app it returns)::

    from fastapi.staticfiles import StaticFiles
    from agent_api.routes.figures import WALLBOARD_STATIC, reports_router, wallboard_router
    from dashboards.wallboard import Wallboard

    app.include_router(
        reports_router(engine, timezone=ZoneInfo("America/Montevideo"),
                       definitions=kpi_definitions, default=default_definition)
    )
    # queue_metrics: the QueueMetrics sink the bridge already feeds (the one
    # the /metrics collector reads); agents: service.tracker.agents.
    wallboard = Wallboard(queue_metrics, agents, wait_limits=None, max_rate=2.0)
    app.include_router(wallboard_router(wallboard))
    app.mount("/wallboard/static", StaticFiles(directory=WALLBOARD_STATIC), name="wallboard")

and run `wallboard.run()` as a task in the bridge's loop next to uvicorn
(cancel it on shutdown): it pushes a frame when QueueMetrics changes, at
most `max_rate` per second. The page is GET /wallboard (a supervisor,
gerente or admin signs in on the panel first, same cookie), its socket
/ws/wallboard, a one-off snapshot GET /api/wallboard, the reports GET
/api/reportes/{colas,agentes,temas,organismos}?desde=YYYY-MM-DD&hasta=...
[&granularidad=hour][&cola=...][&formato=csv|xlsx]. The routes read
`request.app.state.services` (PanelServices) for sessions and origins, so
they only work inside the panel's app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy import Engine

import dashboards
from agent_api.auth import Principal
from agent_api.deps import CurrentUser
from agent_api.exceptions import Forbidden
from agent_api.services import PanelServices
from agent_api.sockets import TooManySockets, run_pumps, socket_user
from crm_bridge.organisms import Role
from dashboards import kpi, report_export, report_queries
from dashboards.report_queries import ReportSpan
from dashboards.reports import Granularity
from dashboards.wallboard import Wallboard

log = logging.getLogger(__name__)

# The wallboard page and its assets ship with dashboards, next to the frames they show.
WALLBOARD_STATIC = Path(dashboards.__file__).resolve().parent / "static"
FIGURE_ROLES = frozenset({Role.SUPERVISOR, Role.GERENTE, Role.ADMIN})
REFUSED = 1008  # WebSocket policy violation
MAX_SPAN_DAYS = 400

Format = Literal["json", "csv", "xlsx"]
Table = tuple[list[str], list[list[report_export.Cell]]]


async def figure_reader(user: CurrentUser) -> Principal:
    if user.role not in FIGURE_ROLES:
        raise Forbidden(f"role {user.role} may not read reports")
    return user


FigureReader = Annotated[Principal, Depends(figure_reader)]


def _span(desde: date, hasta: date, timezone: tzinfo) -> ReportSpan:
    if hasta < desde or (hasta - desde).days > MAX_SPAN_DAYS:
        raise HTTPException(
            status_code=422, detail="hasta no puede ser anterior a desde ni distar más de 400 días"
        )
    start = datetime.combine(desde, time(), timezone)
    end = datetime.combine(hasta + timedelta(days=1), time(), timezone)
    return ReportSpan(start, end, timezone)


def _respond(name: str, table: Table, formato: Format, desde: date, hasta: date) -> Response:
    header, body = table
    filename = f"{name}_{desde.isoformat()}_{hasta.isoformat()}"
    if formato == "csv":
        return Response(
            report_export.to_csv(header, body),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )
    if formato == "xlsx":
        return Response(
            report_export.to_xlsx(header, body, sheet=name),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
        )
    return JSONResponse(
        {
            "desde": desde.isoformat(),
            "hasta": hasta.isoformat(),
            "columnas": header,
            "filas": [dict(zip(header, row, strict=True)) for row in body],
        }
    )


def reports_router(
    engine: Engine,
    *,
    timezone: tzinfo,
    definitions: Mapping[str, kpi.QueueKpiDefinition] | None = None,
    default: kpi.QueueKpiDefinition | None = None,
) -> APIRouter:
    """GET /api/reportes/{colas,agentes,temas,organismos}?desde=&hasta=&formato=.

    `desde` and `hasta` are local dates (both included). Handlers are plain
    functions: FastAPI runs them in its thread pool, off the event loop.
    """
    router = APIRouter(prefix="/api/reportes", tags=["reportes"])
    definitions = dict(definitions or {})

    @router.get("/colas")
    def queues(
        _user: FigureReader,
        desde: date,
        hasta: date,
        granularidad: Granularity = Granularity.DAY,
        cola: Annotated[list[str] | None, Query()] = None,
        formato: Format = "json",
    ) -> Response:
        span = _span(desde, hasta, timezone)
        rows = report_queries.queue_report(
            engine,
            span,
            granularity=granularidad,
            definitions=definitions,
            default=default,
            queues=cola,
        )
        return _respond("colas", report_export.queue_table(rows), formato, desde, hasta)

    @router.get("/agentes")
    def agents(_user: FigureReader, desde: date, hasta: date, formato: Format = "json") -> Response:
        rows = report_queries.agent_report(engine, _span(desde, hasta, timezone))
        return _respond("agentes", report_export.agent_table(rows), formato, desde, hasta)

    @router.get("/temas")
    def topics(_user: FigureReader, desde: date, hasta: date, formato: Format = "json") -> Response:
        rows = report_queries.topic_report(engine, _span(desde, hasta, timezone))
        return _respond("temas", report_export.topic_table(rows), formato, desde, hasta)

    @router.get("/organismos")
    def organisms(
        _user: FigureReader, desde: date, hasta: date, formato: Format = "json"
    ) -> Response:
        rows = report_queries.organism_report(engine, _span(desde, hasta, timezone))
        return _respond("organismos", report_export.organism_table(rows), formato, desde, hasta)

    return router


def wallboard_router(wallboard: Wallboard) -> APIRouter:
    """GET /wallboard (the page; it redirects nobody: the page itself asks
    the user to sign in on the panel when its socket is refused) and the
    WebSocket /ws/wallboard that pushes the tiles and alerts."""
    router = APIRouter(tags=["wallboard"])

    @router.get("/wallboard", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(WALLBOARD_STATIC / "wallboard.html")

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
                queue = wallboard.subscribe()
                try:
                    await websocket.send_json(wallboard.frame())
                    await run_pumps(_pump(websocket, queue), _drain(websocket))
                finally:
                    wallboard.unsubscribe(queue)
        except TooManySockets as err:
            log.warning("wallboard socket refused: %s", err)
            await websocket.close(code=REFUSED)

    return router


async def _pump(websocket: WebSocket, queue: asyncio.Queue[dict[str, object]]) -> None:
    while True:
        await websocket.send_json(await queue.get())


async def _drain(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()
