"""Tickets (solicitudes) from any channel: create, list, read, derive, work, answer, close.

Each action is checked twice: the role (crm_bridge.ticket_access.may, with
"assigned" for a referente's tickets) and the object (an ejecutivo reaches
only the tickets they created and those of their callers; a referente only
the tickets derived to them or to their units).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from agent_api.audit import AuditAction
from agent_api.auth import Principal
from agent_api.deps import CurrentUser, Services
from agent_api.exceptions import Forbidden, InvalidInput, NotFound
from agent_api.followup import DeliveryFailed, FollowUp, FollowUpServices, TicketFilter, need
from agent_api.followup_schemas import (
    AttachmentOut,
    DeriveIn,
    NoteIn,
    NotesIn,
    PersonLinkIn,
    RespondIn,
    TicketDetailOut,
    TicketEventOut,
    TicketIn,
    TicketOut,
    TicketResponseOut,
)
from agent_api.need_to_know import FIGURES_ONLY, NOT_IDENTIFIED
from crm_bridge.exceptions import DeliveryError, NotFoundError
from crm_bridge.organisms import Role
from crm_bridge.ticket_access import VIEW, may
from crm_bridge.ticket_rules import RequestType, TicketAction, TicketStatus, allowed_actions
from crm_bridge.tickets import TicketService, TicketView
from telephony.domain import CallKey

router = APIRouter(prefix="/api/tickets", tags=["solicitudes"])

Number = Annotated[str, Path(pattern=r"^\d{4}-\d{6}$", description="p. ej. 2026-000123")]

_NO_TICKETS = (
    "Las solicitudes no están habilitadas en este servidor "
    "(falta configurar el horario de atención)."
)


def _service(followup: FollowUpServices) -> TicketService:
    return need(followup.tickets, "tickets", _NO_TICKETS)


def _assigned(followup: FollowUpServices, user: Principal, number: str) -> bool:
    return user.role is Role.REFERENTE and _service(followup).is_assigned(number, user.user_id)


def _reaches(followup: FollowUpServices, user: Principal, number: str) -> bool:
    """Object-level access on top of the role's."""
    if user.role is Role.EJECUTIVO:
        return followup.scope.reaches_as_agent(number, user.user_id, user.interfaces)
    if user.role is Role.REFERENTE:
        return _assigned(followup, user, number)
    return True


def _checked(
    followup: FollowUpServices, user: Principal, number: str, action: TicketAction | str
) -> TicketView:
    ticket = _service(followup).get(number)
    if ticket is None:
        raise NotFound(f"no ticket {number}", detalle=f"No existe la solicitud {number}.")
    assigned = _assigned(followup, user, number)
    if not may(user.role, action, assigned=assigned) or not _reaches(followup, user, number):
        raise Forbidden(
            f"user {user.user_id} ({user.role}) may not {action} ticket {number}",
            detalle=f"No tiene acceso a la solicitud {number} para esa acción.",
        )
    return ticket


def _out(ticket: TicketView, user: Principal, *, assigned: bool) -> TicketOut:
    return TicketOut(**_fields(ticket, user, assigned=assigned))


def _fields(ticket: TicketView, user: Principal, *, assigned: bool) -> dict[str, object]:
    actions = [TicketAction.NOTE.value, *allowed_actions(ticket.status)]
    # The gerente sees figures, not people: no text that may name someone, no link.
    figures = user.role is Role.GERENTE
    return {
        "number": ticket.number,
        "channel": ticket.channel,
        "request_type": ticket.request_type,
        "topic": ticket.topic,
        "description": "" if figures else ticket.description,
        "status": ticket.status,
        "person_id": None if figures else ticket.person_id,
        "organism_id": ticket.organism_id,
        "unit_id": ticket.unit_id,
        "referent_id": ticket.referent_id,
        "created_by": ticket.created_by,
        "call_system": None if ticket.attention is None else ticket.attention.system,
        "call_linkedid": None if ticket.attention is None else ticket.attention.linkedid,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "due_at": ticket.due_at,
        "responded_at": ticket.responded_at,
        "closed_at": ticket.closed_at,
        "overdue": ticket.overdue(datetime.now(UTC)),
        "actions": [a for a in dict.fromkeys(actions) if may(user.role, a, assigned=assigned)],
    }


def _acted(followup: FollowUpServices, user: Principal, ticket: TicketView) -> TicketOut:
    return _out(ticket, user, assigned=_assigned(followup, user, ticket.number))


def _moved(
    followup: FollowUpServices,
    user: Principal,
    number: str,
    action: TicketAction,
    body: NotesIn | None,
) -> TicketOut:
    """Start, close or reopen: the action checked, then done with the optional notes."""
    _checked(followup, user, number, action)
    tickets = _service(followup)
    move = {
        TicketAction.START: tickets.start,
        TicketAction.CLOSE: tickets.close,
        TicketAction.REOPEN: tickets.reopen,
    }[action]
    notes = None if body is None else body.notes
    return _acted(followup, user, move(number, actor_id=user.user_id, notes=notes))


@router.post("", response_model=TicketOut, status_code=201)
def create_ticket(
    body: TicketIn, user: CurrentUser, services: Services, followup: FollowUp
) -> TicketOut:
    """A new ticket from any channel (telefónico with the call's linkedid, presencial, web…)."""
    tickets = _service(followup)
    if not may(user.role, TicketAction.CREATE, assigned=False):
        raise Forbidden(
            f"role {user.role} may not create tickets",
            detalle="Su rol no puede registrar solicitudes.",
        )
    call = None
    if body.call_system and body.call_linkedid:
        call = CallKey(body.call_system, body.call_linkedid)
        if user.role is Role.EJECUTIVO and not services.need.handles_call(user, call):
            raise Forbidden(
                f"user {user.user_id} did not handle call {call.linkedid}",
                detalle="Solo quien atendió la llamada puede registrar una solicitud de ella.",
            )
    if body.person_id is not None and user.role is Role.EJECUTIVO:
        # The ticket opens the person to its creator: the person must be the
        # one identified for the call it comes from, or one this agent registered.
        if call is not None:
            services.need.check_link(user, call, body.person_id)
        elif not services.need.registered_by(user, body.person_id):
            raise Forbidden(
                f"user {user.user_id} gave person {body.person_id} without a call",
                detalle=NOT_IDENTIFIED,
            )
    ticket = tickets.create(
        channel=body.channel,
        request_type=body.request_type,
        topic=body.topic,
        organism_id=body.organism_id,
        description=body.description,
        person_id=body.person_id,
        unit_id=body.unit_id,
        actor_id=user.user_id,
        attention=call,
    )
    return _out(ticket, user, assigned=False)


@router.get("", response_model=list[TicketOut])
def list_tickets(
    user: CurrentUser,
    services: Services,
    followup: FollowUp,
    status: TicketStatus | None = None,
    request_type: RequestType | None = None,
    unit_id: int | None = None,
    overdue: bool | None = None,
    limit: int = Query(default=100, ge=1, le=500),
) -> list[TicketOut]:
    """An ejecutivo's own and their callers'; a referente's assigned; everyone's for the rest."""
    tickets = _service(followup)
    where = TicketFilter(status, request_type, unit_id, overdue)
    if user.role is Role.EJECUTIVO:
        numbers = followup.scope.numbers(where, agent=(user.user_id, user.interfaces), limit=limit)
    elif user.role is Role.REFERENTE:
        numbers = followup.scope.numbers(where, referent_id=user.user_id, limit=limit)
    else:
        numbers = followup.scope.numbers(where, limit=limit)
    found = [t for t in (tickets.get(n) for n in numbers) if t is not None]
    services.audit.record(
        AuditAction.TICKETS_LISTED,
        actor_id=user.user_id,
        person_ids=[None if user.role is Role.GERENTE else t.person_id for t in found] or [None],
        details={"reason": "ticket list", "tickets": len(found)},
    )
    # A referente's list holds only the tickets assigned to them.
    return [_out(t, user, assigned=user.role is Role.REFERENTE) for t in found]


@router.get("/{number}", response_model=TicketDetailOut)
def read_ticket(
    number: Number, user: CurrentUser, services: Services, followup: FollowUp
) -> TicketDetailOut:
    """The ticket with its timeline (who, when, what) and the responses sent."""
    ticket = _checked(followup, user, number, VIEW)
    tickets = _service(followup)
    assigned = _assigned(followup, user, number)
    figures = user.role is Role.GERENTE
    services.audit.record(
        AuditAction.TICKET_READ,
        actor_id=user.user_id,
        person_ids=[None if figures else ticket.person_id],
        details={"reason": "ticket", "ticket": ticket.number},
    )
    return TicketDetailOut(
        **_fields(ticket, user, assigned=assigned),
        timeline=[
            TicketEventOut(
                at=e.at,
                actor_id=e.actor_id,
                action=e.action,
                from_status=e.from_status,
                to_status=e.to_status,
                unit_id=e.unit_id,
                referent_id=e.referent_id,
                notes=None if figures else e.notes,
            )
            for e in tickets.timeline(number)
        ],
        # The destination is the person's address or number: not repeated here.
        responses=[
            TicketResponseOut(
                channel=r.channel,
                sent_at=r.sent_at,
                actor_id=r.actor_id,
                delivered=r.delivered,
                body="" if figures else r.body,
            )
            for r in tickets.responses(number)
        ],
        attachments=[]
        if figures or followup.mail is None
        else [
            AttachmentOut(id=a.id, filename=a.filename, content_type=a.content_type, size=a.size)
            for a in followup.mail.attachments(number)
        ],
    )


@router.post("/{number}/derive", response_model=TicketOut)
def derive_ticket(
    number: Number, body: DeriveIn, user: CurrentUser, followup: FollowUp
) -> TicketOut:
    """To a unit of the ticket's organism, a referent, or both."""
    _checked(followup, user, number, TicketAction.DERIVE)
    if body.unit_id is None and body.referent_id is None:
        raise InvalidInput(
            "derive without target", detalle="Indique la unidad o el referente a quien derivar."
        )
    ticket = _service(followup).derive(
        number,
        actor_id=user.user_id,
        unit_id=body.unit_id,
        referent_id=body.referent_id,
        notes=body.notes,
    )
    return _acted(followup, user, ticket)


@router.post("/{number}/start", response_model=TicketOut)
def start_ticket(
    number: Number, user: CurrentUser, followup: FollowUp, body: NotesIn | None = None
) -> TicketOut:
    return _moved(followup, user, number, TicketAction.START, body)


@router.post("/{number}/respond", response_model=TicketOut)
def respond_ticket(
    number: Number, body: RespondIn, user: CurrentUser, services: Services, followup: FollowUp
) -> TicketOut:
    """Send the response to the person through a channel; the ticket becomes respondida."""
    ticket = _checked(followup, user, number, TicketAction.RESPOND)
    tickets = _service(followup)
    if body.channel not in tickets.channels:
        raise InvalidInput(
            f"no responder {body.channel!r}",
            detalle="Canal de respuesta no disponible. Canales: " + ", ".join(tickets.channels),
        )
    destination = body.destination or _destination(services, ticket, body.channel, followup)
    try:
        done = tickets.respond(
            number,
            actor_id=user.user_id,
            body=body.text,
            destination=destination,
            channel=body.channel,
            subject=body.subject,
        )
    except DeliveryError as err:
        raise DeliveryFailed(f"response to {number} via {body.channel} failed: {err}") from err
    return _acted(followup, user, done)


def _destination(
    services: Services, ticket: TicketView, channel: str, followup: FollowUpServices
) -> str:
    """The address the person wrote from (an email ticket), else the person's
    address for the channel when the person consented to keep one, else the one
    a web request's person allowed this request to be answered at."""
    if channel == "email" and followup.mail is not None:
        thread = followup.mail.thread(ticket.number)
        if thread is not None and thread.address:
            return thread.address
    person = None if ticket.person_id is None else services.persons.get(ticket.person_id)
    if channel == "email" and person is not None and person.emails:
        return person.emails[0].address
    if channel == "sms" and person is not None and person.phones:
        return person.phones[0].number
    if followup.requests is not None and ticket.attention is not None:
        contact = followup.requests.contact(ticket.attention, channel)
        if contact is not None:
            return contact
    if channel == "log":
        return "" if ticket.person_id is None else f"persona {ticket.person_id}"
    raise InvalidInput(
        f"no destination for {channel}",
        detalle="La persona no tiene un dato de contacto para ese canal; indique el destino.",
    )


@router.post("/{number}/person", response_model=TicketOut)
def link_person(
    number: Number, body: PersonLinkIn, user: CurrentUser, services: Services, followup: FollowUp
) -> TicketOut:
    """Link a ticket that arrived without a person (an email from an unknown
    address) to the person it is from; its attention follows."""
    ticket = _checked(followup, user, number, TicketAction.NOTE)
    if services.need.figures_only(user):
        raise Forbidden(f"user {user.user_id} is a gerente", detalle=FIGURES_ONLY)
    if user.role is Role.EJECUTIVO and not services.need.registered_by(user, body.person_id):
        # As when creating: an agent names only a person they registered.
        raise Forbidden(
            f"user {user.user_id} gave person {body.person_id} without a call",
            detalle=NOT_IDENTIFIED,
        )
    if ticket.person_id is not None and ticket.person_id != body.person_id:
        raise InvalidInput(
            f"ticket {number} already linked",
            detalle="La solicitud ya está vinculada a una persona.",
        )
    try:
        linked = _service(followup).link_person(
            number, person_id=body.person_id, actor_id=user.user_id
        )
    except NotFoundError as err:
        raise NotFound(str(err), detalle="No existe esa persona.") from err
    services.audit.record(
        AuditAction.PERSON_UPDATE,
        actor_id=user.user_id,
        person_ids=[body.person_id],
        details={"reason": "vincular solicitud", "ticket": number},
    )
    return _acted(followup, user, linked)


@router.get("/{number}/attachments/{attachment_id}", response_class=Response)
def download_attachment(
    number: Number,
    attachment_id: Annotated[int, Path(ge=1, le=2**53)],
    user: CurrentUser,
    services: Services,
    followup: FollowUp,
) -> Response:
    """A file that came with the ticket's email, only as a download.

    Never rendered by the browser: Content-Disposition attachment, nosniff and
    a sandboxing CSP, whatever its type. Whoever may read the ticket may
    download it (the gerente, who sees figures only, may not); each download
    is audited like a read of the ticket.
    """
    ticket = _checked(followup, user, number, VIEW)
    if user.role is Role.GERENTE or followup.mail is None:
        raise Forbidden(
            f"user {user.user_id} ({user.role}) may not download attachments",
            detalle="No tiene acceso a los adjuntos de las solicitudes.",
        )
    try:
        info, data = followup.mail.attachment(number, attachment_id)
    except NotFoundError as err:
        raise NotFound(str(err), detalle="Ese adjunto no existe en la solicitud.") from err
    services.audit.record(
        AuditAction.TICKET_READ,
        actor_id=user.user_id,
        person_ids=[ticket.person_id],
        details={"reason": "adjunto", "ticket": ticket.number, "attachment": info.id},
    )
    return Response(
        content=data,
        media_type=info.content_type,
        headers={
            "Content-Disposition": "attachment; filename*=UTF-8''" + quote(info.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


@router.post("/{number}/close", response_model=TicketOut)
def close_ticket(
    number: Number, user: CurrentUser, followup: FollowUp, body: NotesIn | None = None
) -> TicketOut:
    return _moved(followup, user, number, TicketAction.CLOSE, body)


@router.post("/{number}/reopen", response_model=TicketOut)
def reopen_ticket(
    number: Number, user: CurrentUser, followup: FollowUp, body: NotesIn | None = None
) -> TicketOut:
    return _moved(followup, user, number, TicketAction.REOPEN, body)


@router.post("/{number}/notes", response_model=TicketOut)
def add_ticket_note(
    number: Number, body: NoteIn, user: CurrentUser, followup: FollowUp
) -> TicketOut:
    _checked(followup, user, number, TicketAction.NOTE)
    ticket = _service(followup).add_note(number, actor_id=user.user_id, notes=body.notes)
    return _acted(followup, user, ticket)
