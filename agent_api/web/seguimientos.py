"""Pending cases on the pages: the agent's worklist on /agente and the
supervisors' on /supervision (agent_api.pending_cases), each closed with the
response given to the person. Fragments for htmx; reads are audited (the
agent's list names the person and their contact).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from agent_api.auth import Principal
from agent_api.exceptions import AgentApiError
from agent_api.pending_cases import agent_cases, pending_cases_of, supervisor_cases
from agent_api.services import PanelServices
from agent_api.web.agente import Ejecutivo, _call_of
from agent_api.web.auth import pages_of
from agent_api.web.forms import read_form
from agent_api.web.fragments import fragment_of
from agent_api.web.supervision import Supervisor as SupervisorPage
from agent_api.web.supervision import SupervisorAction

router = APIRouter(include_in_schema=False)

AGENT_TEMPLATE = "agente/_seguimientos.html"
SUPERVISOR_TEMPLATE = "supervision/_seguimientos.html"


def _context(
    cases: list[Any], message: str | None = None, errors: list[str] | None = None
) -> dict[str, Any]:
    return {"cases": cases, "cases_message": message, "cases_errors": errors or []}


@router.get("/agente/seguimientos", dependencies=[fragment_of("/agente", Ejecutivo)])
async def agent_worklist(request: Request, user: Ejecutivo) -> HTMLResponse:
    services: PanelServices = request.app.state.services
    found = await run_in_threadpool(
        agent_cases, services.audit, pending_cases_of(request.app.state), user
    )
    return pages_of(request).render(request, AGENT_TEMPLATE, _context(found), user=user)


async def _close(
    request: Request, user: Principal, *, any_agent: bool
) -> tuple[str | None, list[str]]:
    cases = pending_cases_of(request.app.state)
    form = await read_form(request)
    key = _call_of(form.get("caso"))
    if cases is None or key is None:
        return None, ["Ese caso pendiente no existe."]
    try:
        await run_in_threadpool(
            cases.close, key, user.user_id, form.get("respuesta", ""), any_agent=any_agent
        )
    except AgentApiError as err:
        return None, [err.detalle]
    return "Caso cerrado con su respuesta.", []


@router.post("/agente/seguimientos/cerrar")
async def agent_close(request: Request, user: Ejecutivo) -> HTMLResponse:
    services: PanelServices = request.app.state.services
    message, errors = await _close(request, user, any_agent=False)
    found = await run_in_threadpool(
        agent_cases, services.audit, pending_cases_of(request.app.state), user
    )
    context = _context(found, message, errors)
    return pages_of(request).render(request, AGENT_TEMPLATE, context, user=user)


@router.get("/supervision/seguimientos", dependencies=[fragment_of("/supervision", SupervisorPage)])
async def supervisor_worklist(request: Request, user: SupervisorPage) -> HTMLResponse:
    found = await run_in_threadpool(supervisor_cases, pending_cases_of(request.app.state))
    return pages_of(request).render(request, SUPERVISOR_TEMPLATE, _context(found), user=user)


@router.post("/supervision/seguimientos/cerrar")
async def supervisor_close(request: Request, user: SupervisorAction) -> HTMLResponse:
    message, errors = await _close(request, user, any_agent=True)
    found = await run_in_threadpool(supervisor_cases, pending_cases_of(request.app.state))
    context = _context(found, message, errors)
    return pages_of(request).render(request, SUPERVISOR_TEMPLATE, context, user=user)
