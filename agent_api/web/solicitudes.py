"""The referente's inbox, /solicitudes: the tickets of their units, filters, the
detail with its whole timeline, respond (SMTP/SMS as configured), derive or
escalate, close with a resolution; due badges.

Every read and action goes through the ticket API's own functions
(agent_api.routes.tickets), so the object checks (a referente reaches only
the tickets of their units) and the audit of each read are the API's.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from agent_api.auth import Principal
from agent_api.centre_setup import REQUEST_TYPE_LABELS
from agent_api.followup import FollowUpServices
from agent_api.followup_schemas import DeriveIn, NotesIn, RespondIn, TicketOut
from agent_api.routes import tickets as api
from agent_api.services import PanelServices
from agent_api.web.auth import page_for, pages_of
from agent_api.web.labels import MEANS, TICKET_ACTION
from agent_api.web.screens import Errors, action_for, attempt, first, form_of, is_htmx, number
from crm_bridge.organisms import Role
from crm_bridge.ticket_rules import RequestType, TicketStatus

router = APIRouter(include_in_schema=False)

Referente = Annotated[Principal, Depends(page_for(Role.REFERENTE))]
ReferenteAction = Annotated[Principal, Depends(action_for(Role.REFERENTE))]

NUMBER = re.compile(r"^\d{4}-\d{6}$")
# Due within this much time: "por vencer" (the SLA scan's default warning).
DUE_SOON = timedelta(hours=4)

STATUS_LABELS = {
    TicketStatus.ABIERTA: "Abierta",
    TicketStatus.DERIVADA: "Derivada",
    TicketStatus.EN_PROCESO: "En proceso",
    TicketStatus.RESPONDIDA: "Respondida",
    TicketStatus.CERRADA: "Cerrada",
}


def due_badge(ticket: TicketOut, now: datetime) -> tuple[str, str]:
    """(text, kind) of the due badge: words, never colour alone."""
    if ticket.status is TicketStatus.CERRADA:
        return "Cerrada", "neutral"
    if ticket.responded_at is not None:
        return "Respondida", "ok"
    if ticket.due_at is None:
        return "Sin plazo", "neutral"
    if ticket.due_at < now:
        return "Vencida", "error"
    if ticket.due_at - now <= DUE_SOON:
        return "Por vencer", "warn"
    return "En plazo", "ok"


def _services(request: Request) -> tuple[PanelServices, FollowUpServices]:
    return request.app.state.services, request.app.state.followup


@router.get("/solicitudes")
async def inbox(
    request: Request,
    user: Referente,
    estado: str = "",
    plazo: str = "",
    tipo: str = "",
    unidad: str = "",
) -> HTMLResponse:
    services, followup = _services(request)
    status = TicketStatus(estado) if estado in {s.value for s in TicketStatus} else None
    kind = RequestType(tipo) if tipo in {t.value for t in RequestType} else None
    unit_id = number(unidad)
    overdue = True if plazo == "vencidas" else None
    errors: Errors = []
    found = await attempt(
        lambda: api.list_tickets(
            user, services, followup, status, kind, unit_id, overdue, limit=200
        ),
        errors,
    )
    now = datetime.now(UTC)
    rows = list(found or [])
    if plazo == "por_vencer":
        rows = [t for t in rows if due_badge(t, now)[0] == "Por vencer"]
    elif plazo == "en_plazo":
        rows = [t for t in rows if due_badge(t, now)[0] == "En plazo"]
    if not estado:
        # By default the work to do: closed ones only when asked for.
        rows = [t for t in rows if t.status is not TicketStatus.CERRADA]
    my_units = await run_in_threadpool(followup.directory.units_of_referent, user.user_id)
    organisms = {o.id: o for o in await run_in_threadpool(followup.directory.organisms)}
    unit_names = {u.id: u.name for u in my_units}
    return pages_of(request).render(
        request,
        "solicitudes/index.html",
        {
            "tickets": [
                {
                    "t": t,
                    "badge": due_badge(t, now),
                    "status": STATUS_LABELS[t.status],
                    "type": REQUEST_TYPE_LABELS[t.request_type],
                    "organism": organisms[t.organism_id].code if t.organism_id in organisms else "",
                    "unit": unit_names.get(t.unit_id or 0, ""),
                }
                for t in rows
            ],
            "units": [
                (u.id, f"{organisms[u.organism_id].code} / {u.name}")
                for u in my_units
                if u.organism_id in organisms
            ],
            "statuses": [(s.value, STATUS_LABELS[s]) for s in TicketStatus],
            "types": [(t.value, REQUEST_TYPE_LABELS[t]) for t in RequestType],
            "filters": {"estado": estado, "plazo": plazo, "tipo": tipo, "unidad": unidad},
            "errors": errors,
        },
        user=user,
    )


async def _detail(
    request: Request,
    user: Principal,
    ticket_number: str,
    errors: Errors,
    message: str | None,
) -> Response:
    services, followup = _services(request)
    if not NUMBER.match(ticket_number):
        return RedirectResponse("/solicitudes", status_code=303)
    read_errors: Errors = []
    detail = await attempt(
        lambda: api.read_ticket(ticket_number, user, services, followup), read_errors
    )
    if detail is None:
        return pages_of(request).render(
            request,
            "solicitudes/detalle.html",
            {"ticket": None, "errors": read_errors or errors, "message": None},
            user=user,
            status_code=404,
        )

    def names() -> dict[str, Any]:
        users = {u.id: u.display_name for u in services.users.all()}
        organism = followup.directory.get_organism(detail.organism_id)
        units = [] if organism is None else followup.directory.units(organism.id)
        return {"users": users, "organism": organism, "units": units}

    known = await run_in_threadpool(names)
    tickets = followup.tickets
    channels = [] if tickets is None else tickets.channels
    unit_of = {u.id: u for u in known["units"]}
    current = unit_of.get(detail.unit_id or 0)
    parent = (
        None if current is None or current.parent_id is None else unit_of.get(current.parent_id)
    )
    status = 200 if not errors or is_htmx(request) else 422
    return pages_of(request).render(
        request,
        "solicitudes/detalle.html",
        {
            "ticket": detail,
            "due": due_badge(detail, datetime.now(UTC)),
            "status_label": STATUS_LABELS[detail.status],
            "status_labels": STATUS_LABELS,
            "type_label": REQUEST_TYPE_LABELS[detail.request_type],
            "action_labels": TICKET_ACTION,
            "users": known["users"],
            "organism": known["organism"],
            "units": known["units"],
            "unit_names": {u.id: u.name for u in known["units"]},
            "current_unit": current,
            "parent_unit": parent,
            "channels": [(c, MEANS.get(c, c)) for c in channels],
            "can": set(detail.actions),
            "errors": errors,
            "message": None if errors else message,
        },
        user=user,
        status_code=status,
    )


@router.get("/solicitudes/{ticket_number}")
async def detail(request: Request, ticket_number: str, user: Referente) -> Response:
    return await _detail(request, user, ticket_number, [], None)


@router.get("/solicitudes/{ticket_number}/adjuntos/{adjunto}")
async def attachment(
    request: Request, ticket_number: str, adjunto: str, user: Referente
) -> Response:
    """A file of the ticket's email, as a download (the API's checks and audit)."""
    services, followup = _services(request)
    attachment_id = number(adjunto)
    if not NUMBER.match(ticket_number) or attachment_id is None:
        return RedirectResponse("/solicitudes", status_code=303)
    errors: Errors = []
    found = await attempt(
        lambda: api.download_attachment(ticket_number, attachment_id, user, services, followup),
        errors,
    )
    if found is None:
        return await _detail(request, user, ticket_number, errors, None)
    return found


@router.post("/solicitudes/{ticket_number}/{accion}")
async def act(request: Request, ticket_number: str, accion: str, user: ReferenteAction) -> Response:
    services, followup = _services(request)
    form = await form_of(request)
    errors: Errors = []
    message = None
    if not NUMBER.match(ticket_number):
        return RedirectResponse("/solicitudes", status_code=303)
    notes = first(form, "notas") or None
    try:
        if accion == "responder":
            text = (form.get("texto") or [""])[0].strip()
            if not text:
                errors.append(("resp-texto", "Escriba la respuesta a la persona."))
            else:
                body = RespondIn(
                    text=text,
                    channel=first(form, "canal") or "log",
                    destination=first(form, "destino") or None,
                    subject=first(form, "asunto") or None,
                )
                done = await attempt(
                    lambda: api.respond_ticket(ticket_number, body, user, services, followup),
                    errors,
                    "resp-texto",
                )
                message = None if done is None else "Respuesta enviada."
        elif accion == "derivar":
            unit_id = number(first(form, "unidad"))
            if unit_id is None:
                errors.append(("der-unidad", "Elija la unidad a la que deriva."))
            else:
                derive = DeriveIn(unit_id=unit_id, notes=notes)
                done = await attempt(
                    lambda: api.derive_ticket(ticket_number, derive, user, followup),
                    errors,
                    "der-unidad",
                )
                message = None if done is None else "Solicitud derivada."
        elif accion == "tomar":
            done = await attempt(
                lambda: api.start_ticket(ticket_number, user, followup, NotesIn(notes=notes)),
                errors,
            )
            message = None if done is None else "La solicitud quedó en proceso."
        elif accion == "cerrar":
            if not notes:
                errors.append(("cerrar-notas", "Escriba la resolución con la que cierra."))
            else:
                done = await attempt(
                    lambda: api.close_ticket(ticket_number, user, followup, NotesIn(notes=notes)),
                    errors,
                    "cerrar-notas",
                )
                message = None if done is None else "Solicitud cerrada."
        else:
            errors.append((None, "Acción desconocida."))
    except ValidationError:
        errors.append((None, "Algún dato es demasiado largo; revise el formulario."))
    if accion == "derivar" and message is not None:
        # Derived elsewhere, it may have left this referente's units: back to the inbox.
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": "/solicitudes"})
        return RedirectResponse("/solicitudes", status_code=303)
    return await _detail(request, user, ticket_number, errors, message)
