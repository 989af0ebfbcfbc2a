"""Callbacks on the screens: the agent's offer and schedule form (/agente),
the supervisor's backlog (a section of /supervision, drawn there).

The offer is a fragment /agente asks for again whenever its socket says so
(the agent's state changed, or the callbacks of one of their queues did:
agent_api.callback_push), and once a minute as a safety net. It shows a
callback only while the agent is free (agent_api.callbacks.CallbackDesk), or
the one they hold while its call is being made. Accepting places the call;
the call itself then arrives on the workspace's socket as any call does
(pop, answer, wrap-up).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from agent_api.auth import Principal
from agent_api.callbacks import CallbackDesk
from agent_api.exceptions import AgentApiError
from agent_api.services import PanelServices
from agent_api.web.agente import load_pending, local_datetime, queue_names
from agent_api.web.auth import page_for, pages_of
from agent_api.web.forms import read_form
from agent_api.web.fragments import fragment_of
from crm_bridge.callbacks import MAX_REASON, BacklogFigures
from crm_bridge.exceptions import StoreError
from crm_bridge.organisms import Role
from telephony.domain import CallKey

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

Ejecutivo = Annotated[Principal, Depends(page_for(Role.EJECUTIVO))]

RESULT_LABELS = {
    "answered": "atendió",
    "no_answer": "no atendió",
    "busy": "ocupado",
    "invalid": "número inválido",
    "agent_missed": "no se completó",
}


def desk_of(request: Request) -> CallbackDesk | None:
    services: PanelServices = request.app.state.services
    return services.callbacks


def backlog_of(services: PanelServices, queues: list[str]) -> list[BacklogFigures] | None:
    """The supervisor's backlog (blocking); None when callbacks are off."""
    if services.callbacks is None:
        return None
    return services.callbacks.worklist.backlog(queues)


def _fragment(request: Request, user: Principal, context: dict[str, Any]) -> HTMLResponse:
    html = pages_of(request).fragment(
        "agente/_devolucion.html",
        {
            "user": user,
            "csrf": user.csrf_token,
            "results": RESULT_LABELS,
            "offer": None,
            "calling": None,
            "disabled": False,
            "error": None,
            **context,
        },
    )
    return HTMLResponse(html)


@router.get("/agente/devolucion", dependencies=[fragment_of("/agente", Ejecutivo)])
async def offer(request: Request, user: Ejecutivo) -> HTMLResponse:
    desk = desk_of(request)
    if desk is None:
        return _fragment(request, user, {"disabled": True})
    try:
        # A reload or a refresh while the agent's own callback is being made
        # shows that call, not the next offer.
        held = await run_in_threadpool(desk.worklist.held_by, user.user_id)
        if held is not None:
            return _fragment(request, user, {"calling": held})
        current = await run_in_threadpool(desk.offer_for, user)
    except StoreError as err:
        log.warning("callback offer not read: %s", err)
        return _fragment(request, user, {"error": "No se pudieron leer las devoluciones."})
    return _fragment(request, user, {"offer": current})


@router.post("/agente/devolucion/{callback_id}/aceptar")
async def accept(callback_id: int, request: Request, user: Ejecutivo) -> HTMLResponse:
    desk = desk_of(request)
    if desk is None:
        return _fragment(request, user, {"disabled": True})
    try:
        held = await desk.accept(user, callback_id)
    except AgentApiError as err:
        return _fragment(request, user, {"error": err.detalle})
    except StoreError as err:
        log.warning("callback %d not accepted: %s", callback_id, err)
        return _fragment(request, user, {"error": "No se pudo tomar la devolución."})
    return _fragment(request, user, {"calling": held})


@router.get("/agente/devoluciones/nueva", dependencies=[fragment_of("/agente", Ejecutivo)])
async def schedule_form(request: Request, user: Ejecutivo) -> HTMLResponse:
    """The schedule form, with the agent's own calls open for wrap-up (their
    numbers are shown: audited as the pending list is)."""
    services: PanelServices = request.app.state.services
    calls = await run_in_threadpool(load_pending, services, user)
    pages = pages_of(request)
    now = dt.datetime.now(pages.zone)
    html = pages.fragment(
        "agente/_devolucion_nueva.html",
        {
            "calls": [
                {
                    "system": c.system,
                    "linkedid": c.linkedid,
                    "started_at": c.arrived_at,
                    "caller_number": c.caller_number,
                    "queue": c.queue,
                }
                for c in reversed(calls)
            ],
            "queue_names": queue_names(request.app.state, services),
            "today": now.strftime("%d/%m/%Y"),
            "hour": (now + dt.timedelta(hours=1)).strftime("%H:00"),
        },
    )
    return HTMLResponse(html)


@router.post("/agente/devoluciones")
async def schedule(request: Request, user: Ejecutivo) -> HTMLResponse:
    """A callback promised during a call the agent handles (from its wrap-up)."""
    services: PanelServices = request.app.state.services
    desk = desk_of(request)
    form = await read_form(request)
    errors: list[str] = []
    raw_call = form.get("call", "")
    system, _, linkedid = raw_call.partition("|")
    key = CallKey(system, linkedid) if system and linkedid and len(raw_call) <= 130 else None
    number = form.get("number", "").strip()
    queue = form.get("queue", "")
    reason = form.get("reason", "").strip()
    when = local_datetime(form.get("date", ""), form.get("time", ""), pages_of(request).zone)
    if desk is None:
        errors.append("Las devoluciones de llamada no están habilitadas.")
    if key is None:
        errors.append("Falta la llamada de la que surge la devolución.")
    if len(number) > 32:
        errors.append("El número admite hasta 32 caracteres.")
    if queue not in queue_names(request.app.state, services):
        errors.append("Elija una cola de la lista.")
    if when is None:
        errors.append("La fecha es dd/mm/aaaa y la hora hh:mm.")
    if len(reason) > MAX_REASON:
        errors.append(f"El motivo admite hasta {MAX_REASON} caracteres.")
    if not errors and key is not None:
        handles = await run_in_threadpool(services.need.handles_call, user, key)
        if not handles:
            errors.append("Solo puede agendar devoluciones de llamadas que atendió.")
        elif not number:
            caller = await run_in_threadpool(services.need.caller_of, key)
            number = caller[0] if caller is not None else ""
            if not number:
                errors.append("Indique el número al que hay que llamar.")
    if errors or desk is None or key is None or when is None:
        return _schedule_answer(request, user, errors=errors)
    try:
        view = await asyncio.to_thread(
            desk.worklist.schedule,
            call=key,
            number=number,
            queue=queue,
            at=when,
            reason=reason or None,
            scheduled_by=user.user_id,
        )
    except StoreError as err:
        log.warning("callback not scheduled: %s", err)
        return _schedule_answer(request, user, errors=["No se pudo agendar la devolución."])
    if view.status.value != "pending":
        return _schedule_answer(
            request, user, errors=["Ese número no se puede marcar; revise el número."]
        )
    return _schedule_answer(request, user, scheduled=view)


def _schedule_answer(request: Request, user: Principal, **context: Any) -> HTMLResponse:
    html = pages_of(request).fragment(
        "agente/_devolucion_agendada.html",
        {"user": user, "errors": [], "scheduled": None, **context},
    )
    return HTMLResponse(html)
