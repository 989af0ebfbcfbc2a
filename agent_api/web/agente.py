"""The agent's workspace, /agente (ejecutivos: the role that receives call pops).

The page is drawn from the same pure state the socket keeps
(agent_api.workspace); the routes here answer the forms (htmx posts,
form-encoded) with HTML fragments. Person data goes through the need-to-know
routes of agent_api.routes.persons / calls (their functions are called as
they are, so the rule and the audit are theirs); wrap-ups through
agent_api.routes.wrapups.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from html import escape
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from agent_api.after_call import acw_interfaces
from agent_api.audit import AuditAction
from agent_api.auth import Principal
from agent_api.centre_setup import REQUEST_TYPE_LABELS
from agent_api.control_fanout import (
    InterfaceResult,
    agent_interfaces,
    on_every_interface,
    queues_of,
)
from agent_api.exceptions import AgentApiError
from agent_api.need_to_know import Reason
from agent_api.pending_cases import agent_cases, pending_cases_of
from agent_api.routes import calls as call_routes
from agent_api.routes import persons as person_routes
from agent_api.routes import tickets as ticket_routes
from agent_api.routes import wrapups as wrapup_routes
from agent_api.schemas import (
    ConsentIn,
    DocumentIn,
    PersonIn,
    PersonOut,
    PersonPatch,
    PersonSearchIn,
    WrapupIn,
)
from agent_api.services import PanelServices
from agent_api.web.auth import page_for, pages_of
from agent_api.web.forms import read_form, read_form_lists
from agent_api.web.fragments import fragment_of
from agent_api.web.labels import ATTENTION_TYPE, CONSENT, MEANS, RESOLUTION, menu_topic
from agent_api.web.labels import DELIVERY as DELIVERY_WORDS
from agent_api.web.labels import OUTCOME as OUTCOME_WORDS
from agent_api.web.labels import TICKET_STATUS as TICKET_WORDS
from agent_api.workspace import AgentStatus, CallId, Workspace, Wrapup, apply, initial
from crm_bridge.exceptions import StoreError
from crm_bridge.history import PersonHistory
from crm_bridge.organisms import Role
from crm_bridge.persons import ConsentCategory
from crm_bridge.ticket_rules import RequestType
from telephony.agents import AgentSnapshot
from telephony.domain import CallKey

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

Ejecutivo = Annotated[Principal, Depends(page_for(Role.EJECUTIVO))]

CONTROL_LABELS = {
    "pause": "Pausa",
    "unpause": "Volver a disponible",
    "join": "Ingreso a la cola",
    "leave": "Salida de la cola",
}
HISTORY_PAGE = 10
# htmx event a saved wrap-up that derived a ticket sends (the ficha refreshes on it).
REQUESTS_CHANGED = "solicitudes-cambiaron"
NOTES_START = 80
# A ticket's number, as agent_api.routes.tickets.Number accepts it.
TICKET_NUMBER = re.compile(r"\d{4}-\d{6}")


# ------------------------------------------------------------------ state


@dataclass(frozen=True, slots=True)
class PendingItem:
    system: str
    linkedid: str
    arrived_at: datetime | None
    caller_number: str
    queue: str | None


def _status(
    snapshot: Sequence[AgentSnapshot], interfaces: Sequence[str], *, to_wall: float = 0.0
) -> AgentStatus:
    """The agent's state as QueueStatus last told it (the busiest interface wins).

    `to_wall`: wall clock minus the clock that stamped `since` (the bridge's,
    simulated in the demo); the page's timers and live frames use the wall clock.
    """
    mine = [a for a in snapshot if a.interface in set(interfaces)]
    if not mine:
        return AgentStatus(state="logged_out", queues=())
    order = ["on_call", "ringing", "wrap_up", "paused", "available", "unavailable", "logged_out"]
    best = min(mine, key=lambda a: order.index(a.state.value) if a.state.value in order else 99)
    return AgentStatus(
        state=best.state.value,
        reason=best.reason,
        since=best.since + to_wall,
        queues=queues_of(interfaces, mine),
    )


def interfaces_of(services: PanelServices, user: Principal) -> tuple[str, ...]:
    return agent_interfaces(user.interfaces, user.display_name, services.agents())


def pause_interfaces_of(services: PanelServices, user: Principal) -> tuple[str, ...]:
    """Pause goes where Asterisk has the agent in a queue (as the "Cierre"
    pause does): a configured interface in no queue would be refused on every
    click, a warning that says nothing useful."""
    return acw_interfaces(user.interfaces, user.display_name, services.agents())


def load_pending(services: PanelServices, user: Principal) -> list[PendingItem]:
    """Wrap-ups opened and not closed (today and earlier), oldest first (blocking)."""
    opened = services.wrapups.open_of(user.user_id)
    # Callers' numbers of the agent's own calls: a read of personal data, audited.
    services.audit.record(
        AuditAction.PENDING_READ,
        actor_id=user.user_id,
        person_ids=[None],
        details={"reason": "own wrap-ups pending", "calls": len(opened)},
    )
    return [
        PendingItem(w.system, w.linkedid, w.arrived_at or w.started_at, w.caller_number, w.queue)
        for w in opened
    ]


def acw_now(request_state: Any, user: Principal) -> Mapping[str, Any] | None:
    """The user's running "Cierre" pause as the `acw.started` frame that
    started it (agent_api.after_call), None if none runs or there is no
    after-call work: a page or socket drawn during the pause shows it too."""
    after_call = getattr(request_state, "after_call", None)
    if after_call is None:
        return None
    frame: Mapping[str, Any] | None = after_call.started_frame(user.user_id)
    return frame


def load_workspace(
    services: PanelServices, user: Principal, acw: Mapping[str, Any] | None = None
) -> tuple[Workspace, list[PendingItem]]:
    """The workspace at page load or socket start (blocking: run off the loop);
    `acw`: the running "Cierre" pause's frame (acw_now), applied as the socket would."""
    pending = load_pending(services, user)
    forms = [
        Wrapup(
            CallId(p.system, p.linkedid),
            p.caller_number,
            "",
            p.queue,
            None if p.arrived_at is None else p.arrived_at.timestamp(),
            ended=True,
        )
        for p in pending[-10:]
    ]
    status = _status(
        services.agents(),
        interfaces_of(services, user),
        to_wall=time.time() - services.state_clock(),
    )
    ws = initial(forms, status=status, pending_count=len(pending))
    if acw is not None:
        ws, _ = apply(ws, acw)
    return ws, pending


def queue_names(request_state: Any, services: PanelServices) -> tuple[str, ...]:
    """The queues an agent may join: queues.conf's, else those QueueStatus shows."""
    configured: tuple[str, ...] = getattr(request_state, "queue_names", ())
    if configured:
        return tuple(sorted(configured))
    seen: dict[str, None] = {}
    for agent in services.agents():
        seen.update(dict.fromkeys(agent.queues))
    return tuple(sorted(seen))


def workspace_context(
    ws: Workspace,
    *,
    services: PanelServices,
    topics: Sequence[Any],
    queues: Sequence[str],
    pending: Sequence[PendingItem],
) -> dict[str, Any]:
    return {
        "ws": ws,
        "now": time.time(),
        "pause_reasons": services.pause_reasons,
        "queue_names": queues,
        "control_labels": CONTROL_LABELS,
        "topics": topics,
        "attention_types": list(ATTENTION_TYPE.items()),
        "resolutions": list(RESOLUTION.items()),
        "pending": pending,
        # What the page was asked to open in the person area (workspace()).
        "opened": None,
    }


@router.get("/agente")
async def workspace(
    request: Request,
    user: Ejecutivo,
    persona: str = "",
    solicitud: str = "",
    llamada: str = "",
) -> HTMLResponse:
    """The workspace; `persona` (id, with `llamada`, the call it is read for)
    or `solicitud` (number): the person or ticket a link opened in a new tab
    names (fragments.py sends it here), drawn in the person area by the same
    route as the htmx swap: same need-to-know check, audit and refusal."""
    services: PanelServices = request.app.state.services
    acw = acw_now(request.app.state, user)
    ws, pending = await run_in_threadpool(load_workspace, services, user, acw)
    topics = await run_in_threadpool(services.catalog.topics)
    cases = await run_in_threadpool(
        agent_cases, services.audit, pending_cases_of(request.app.state), user
    )
    context = workspace_context(
        ws,
        services=services,
        topics=topics,
        queues=queue_names(request.app.state, services),
        pending=pending,
    )
    context["cases"] = cases
    context["opened"] = await _opened(request, user, persona, solicitud, llamada)
    return pages_of(request).render(request, "agente/index.html", context, user=user)


async def _opened(
    request: Request, user: Principal, persona: str, solicitud: str, llamada: str
) -> Markup | None:
    """The person or ticket piece the page opens with, None for neither."""
    if persona:
        if not persona.isdigit() or len(persona) > 18:
            answer: Response = _error("El enlace no indica una persona válida.")
        else:
            answer = await _show_person(request, user, int(persona), _call_of(llamada))
    elif solicitud:
        if TICKET_NUMBER.fullmatch(solicitud) is None:
            answer = _error("El enlace no indica una solicitud válida.")
        else:
            answer = await _show_ticket(request, user, solicitud)
    else:
        return None
    # The route's own HTML (rendered by our templates, or an escaped error).
    return Markup(bytes(answer.body).decode("utf-8"))


# --------------------------------------------------------------- controls


def _results_html(results: list[InterfaceResult]) -> str:
    """What the answer itself tells: refusals only. "Pendiente de confirmación"
    and its confirmation are the status bar's (they follow AMI, not this answer)."""
    failed = [r for r in results if not r.ok]
    if not results:
        return '<p class="error">No tiene interfaces telefónicas asignadas.</p>'
    items = "".join(f"<li>{escape(r.interface)}: {escape(r.detalle)}</li>" for r in failed)
    if failed and len(failed) == len(results):
        return f'<div class="error" role="alert"><p>No se pudo:</p><ul>{items}</ul></div>'
    if failed:
        return f'<div class="warn" role="alert"><p>Falló en parte:</p><ul>{items}</ul></div>'
    return ""


def _push_requested(
    services: PanelServices,
    user: Principal,
    kind: str,
    expected: str | None,
    queue: str | None = None,
    sent_at: float | None = None,
) -> None:
    services.hub.push(
        user.user_id,
        {
            "type": "control.requested",
            "kind": kind,
            "expected_state": expected,
            "queue": queue,
            "sent_at": sent_at,
            "at": time.time(),
        },
    )


@router.post("/agente/pausa")
async def pause(request: Request, user: Ejecutivo) -> HTMLResponse:
    services: PanelServices = request.app.state.services
    form = await read_form(request)
    reason = form.get("reason", "")
    if reason not in services.pause_reasons:
        return HTMLResponse('<p class="error">Elija un motivo de pausa de la lista.</p>')
    interfaces = await run_in_threadpool(pause_interfaces_of, services, user)
    sent_at = time.time()
    results = await on_every_interface(
        interfaces, lambda iface: services.controls.pause(iface, reason)
    )
    if any(r.ok for r in results):
        _push_requested(services, user, "pause", "paused", sent_at=sent_at)
    return HTMLResponse(_results_html(results))


@router.post("/agente/disponible")
async def unpause(request: Request, user: Ejecutivo) -> HTMLResponse:
    services: PanelServices = request.app.state.services
    interfaces = await run_in_threadpool(pause_interfaces_of, services, user)
    sent_at = time.time()
    results = await on_every_interface(interfaces, services.controls.unpause)
    if any(r.ok for r in results):
        _push_requested(services, user, "unpause", "available", sent_at=sent_at)
    return HTMLResponse(_results_html(results))


@router.post("/agente/colas")
async def queues(request: Request, user: Ejecutivo) -> HTMLResponse:
    services: PanelServices = request.app.state.services
    form = await read_form(request)
    queue, action = form.get("queue", ""), form.get("action", "")
    if queue not in queue_names(request.app.state, services) or action not in ("join", "leave"):
        return HTMLResponse('<p class="error">Elija una cola de la lista.</p>')
    interfaces = await run_in_threadpool(interfaces_of, services, user)
    if action == "join":
        # One interface joins (two would ring the agent twice per call): one
        # QueueStatus already shows as a member, else the first configured.
        members = {a.interface for a in services.agents() if a.queues}
        first = [i for i in interfaces if i in members][:1] or list(interfaces[:1])
        results = await on_every_interface(
            first, lambda iface: services.controls.log_in(iface, queue, user.display_name)
        )
    else:
        results = await on_every_interface(
            interfaces, lambda iface: services.controls.log_out(iface, queue)
        )
    if any(r.ok for r in results):
        _push_requested(services, user, action, None, queue)
    return HTMLResponse(_results_html(results))


# ---------------------------------------------------------------- wrap-up


def _call_of(raw: str | None) -> CallKey | None:
    if not raw or "|" not in raw:
        return None
    system, linkedid = raw.split("|", 1)
    if not system or not linkedid or len(system) > 64 or len(linkedid) > 64:
        return None
    return CallKey(system, linkedid)


def _reason(call: CallKey | None) -> Reason | None:
    """Why a person is read: the call they are on, or no call (a search)."""
    return Reason.of(*((call.system, call.linkedid) if call else (None, None)))


def local_datetime(date_text: str, time_text: str, zone: ZoneInfo) -> datetime | None:
    """dd/mm/aaaa and hh:mm (24 h; 09:00 when no time is given) in the centre's zone."""
    try:
        day = datetime.strptime(date_text.strip(), "%d/%m/%Y")
        moment = datetime.strptime(time_text.strip() or "09:00", "%H:%M")
    except ValueError:
        return None
    return day.replace(hour=moment.hour, minute=moment.minute, tzinfo=zone)


@router.post("/agente/cierres/{system}/{linkedid}")
async def save_wrapup(system: str, linkedid: str, request: Request, user: Ejecutivo) -> Response:
    services: PanelServices = request.app.state.services
    pages = pages_of(request)
    form = await read_form(request)
    call_id = CallId(system, linkedid)
    errors: list[str] = []
    if form.get("attention_type") not in ATTENTION_TYPE:
        errors.append("Elija el tipo de atención.")
    if form.get("resolution") not in RESOLUTION:
        errors.append("Elija la resolución.")
    follow_up = None
    if form.get("follow_up_date", "").strip():
        follow_up = local_datetime(
            form.get("follow_up_date", ""), form.get("follow_up_time", ""), pages.zone
        )
        if follow_up is None:
            errors.append("Escriba la fecha de seguimiento como dd/mm/aaaa y la hora como hh:mm.")
    topic = form.get("topic_id", "")
    person = form.get("person_id", "")
    body: WrapupIn | None = None
    if not errors:
        try:
            body = WrapupIn(
                attention_type=form["attention_type"],
                resolution=form["resolution"],
                topic_id=int(topic) if topic.isdigit() else None,
                notes=form.get("notes", ""),
                follow_up_at=follow_up,
                follow_up_contact=form.get("follow_up_contact", "").strip() or None,
                person_id=int(person) if person.isdigit() else None,
            )
        except ValidationError:
            errors.append("Revise las notas (hasta 4000 caracteres) y el contacto de seguimiento.")
    ticket: str | None = None
    if body is not None and not errors:
        try:
            saved = await run_in_threadpool(
                wrapup_routes.finish_wrapup, system, linkedid, body, user, services
            )
            ticket = saved.ticket_number
        except AgentApiError as err:
            errors.append(err.detalle)
        except StoreError as err:
            log.info("wrap-up refused by the store: %s", err)
            errors.append("Algún dato no es válido; revise el formulario.")
    if errors:
        ws = Workspace(wrapups=(Wrapup(call_id, form.get("caller", ""), "", None, None),))
        topics = await run_in_threadpool(services.catalog.topics)
        context = {
            **workspace_context(ws, services=services, topics=topics, queues=(), pending=()),
            "form": ws.wrapups[0],
            "errors": errors,
            "values": form,
        }
        context["ws"] = replace(ws, active_wrapup=call_id)
        return pages.render(request, "agente/_cierre_form.html", context, user=user)
    services.hub.push(
        user.user_id, {"type": "wrapup.saved", "call": {"system": system, "linkedid": linkedid}}
    )
    after_call = request.app.state.after_call
    if after_call is not None:
        await after_call.wrapup_saved(user.user_id, CallKey(system, linkedid))
    # A derived ticket changes the person's open requests shown beside the form
    # (the /puesto desk keeps the ficha on screen): the ficha listens for this event.
    headers = wrapup_saved_headers(ticket)
    return pages.render(
        request,
        "agente/_cierre_ok.html",
        {
            "dom_id": call_id.dom_id,
            "caller": form.get("caller", ""),
            "ticket": ticket,
            "system": system,
        },
        user=user,
        headers=headers,
    )


@router.post("/agente/cierres/{system}/{linkedid}/abrir")
async def open_wrapup(system: str, linkedid: str, request: Request, user: Ejecutivo) -> Response:
    """From the pending list: the form of that call comes (or comes forward) over the socket."""
    services: PanelServices = request.app.state.services
    key = CallKey(system, linkedid)
    try:
        await run_in_threadpool(wrapup_routes.start_wrapup, system, linkedid, user, services)
    except AgentApiError as err:
        return HTMLResponse(f'<p class="error">{_escape(err.detalle)}</p>', status_code=200)
    pending = await run_in_threadpool(load_pending, services, user)
    item = next((p for p in pending if (p.system, p.linkedid) == (key.system, key.linkedid)), None)
    services.hub.push(
        user.user_id,
        {
            "type": "wrapup.select",
            "call": {"system": system, "linkedid": linkedid},
            "caller_number": "" if item is None else item.caller_number,
            "queue": None if item is None else item.queue,
            "started_at": None
            if item is None or item.arrived_at is None
            else item.arrived_at.timestamp(),
        },
    )
    return Response(status_code=204)


def _escape(text: str) -> str:
    return escape(text)


# ------------------------------------------------------------------ persons


def _classify(query: str) -> PersonSearchIn | None:
    """A cédula (with or without dots and dash), a phone number, or a name."""
    text = query.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    compact = "".join(ch for ch in text if ch not in " .-()")
    if compact.isdigit() or (compact.startswith("+") and compact[1:].isdigit()):
        if compact.startswith(("+", "0")) or len(digits) >= 9:
            return PersonSearchIn(phone=compact)
        if 6 <= len(digits) <= 8:
            return PersonSearchIn(document=digits)
        return None
    if len(text) >= 2:
        return PersonSearchIn(name=text[:200])
    return None


def _reason_fields(call: CallKey | None) -> dict[str, str]:
    if call is None:
        return {}
    return {"call_system": call.system, "call_linkedid": call.linkedid}


def _error(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(f'<p class="error" role="alert">{_escape(text)}</p>', status_code=status)


@router.post("/agente/personas/buscar")
async def search_persons(request: Request, user: Ejecutivo) -> Response:
    services: PanelServices = request.app.state.services
    form = await read_form(request)
    call = _call_of(form.get("call"))
    query = _classify(form.get("q", ""))
    if query is None:
        return _error("Escriba una cédula, un teléfono o al menos 2 letras del nombre.")
    body = query.model_copy(update=_reason_fields(call))
    try:
        found = await run_in_threadpool(person_routes.search, body, user, services)
    except AgentApiError as err:
        return _error(err.detalle)
    if body.document and not found:
        # An 8-digit number may be a landline too: try it as a phone.
        alt = PersonSearchIn(phone=body.document, **_reason_fields(call))
        try:
            found = await run_in_threadpool(person_routes.search, alt, user, services)
        except AgentApiError:
            found = []
    return pages_of(request).render(
        request,
        "agente/_resultados.html",
        {"found": found, "call_ref": form.get("call", "")},
        user=user,
    )


@router.get("/agente/personas/nueva", dependencies=[fragment_of("/agente", Ejecutivo)])
async def new_person_form(request: Request, user: Ejecutivo, llamada: str = "") -> Response:
    return pages_of(request).render(
        request,
        "agente/_persona_nueva.html",
        {
            "call_ref": llamada,
            "values": {},
            "error": None,
            "existing_id": None,
            "consents": list(CONSENT.items()),
        },
        user=user,
    )


@router.post("/agente/personas")
async def register_person(request: Request, user: Ejecutivo) -> Response:
    services: PanelServices = request.app.state.services
    lists = await read_form_lists(request)
    form = {k: v[0] for k, v in lists.items() if v}
    call = _call_of(form.get("call"))
    consents = [c for c in lists.get("consents", []) if c in CONSENT]
    if "identificacion" not in consents:
        consents.append("identificacion")
    document = "".join(ch for ch in form.get("document_number", "") if ch.isdigit())
    phone = form.get("phone", "").strip()
    email = form.get("email", "").strip()
    context: dict[str, Any] = {
        "call_ref": form.get("call", ""),
        "values": form,
        "error": None,
        "existing_id": None,
        "consents": list(CONSENT.items()),
    }
    pages = pages_of(request)
    try:
        body = PersonIn(
            given_names=form.get("given_names", "").strip(),
            family_names=form.get("family_names", "").strip(),
            consents=consents,
            document_type="ci" if document else None,
            document_number=document or None,
            phones=[phone] if phone else [],
            emails=[email] if email else [],
            **_reason_fields(call),
        )
    except ValidationError:
        context["error"] = "Escriba al menos el nombre."
        return pages.render(
            request, "agente/_persona_nueva.html", context, user=user, status_code=422
        )
    try:
        answer = await run_in_threadpool(person_routes.register, body, user, services)
    except AgentApiError as err:
        context["error"] = err.detalle
        return pages.render(
            request, "agente/_persona_nueva.html", context, user=user, status_code=422
        )
    except StoreError as err:
        log.info("registration refused by the store: %s", err)
        context["error"] = _store_error_text(err)
        return pages.render(
            request, "agente/_persona_nueva.html", context, user=user, status_code=422
        )
    if isinstance(answer, Response):
        # 409: the document exists; offer to open that person (with the call as reason).
        payload = json.loads(bytes(answer.body))
        context["error"] = payload.get("detalle")
        context["existing_id"] = payload.get("person_id")
        return pages.render(
            request, "agente/_persona_nueva.html", context, user=user, status_code=409
        )
    return await _show_person(request, user, answer.id, call)


def _store_error_text(err: StoreError) -> str:
    text = str(err).casefold()
    if "document" in text or "cédula" in text or "check digit" in text:
        return "Escriba la cédula con su dígito verificador (por ejemplo 1.234.567-2)."
    if "phone" in text:
        return (
            "El teléfono no es válido; escríbalo con su código de área (por ejemplo 099 123 456)."
        )
    if "consent" in text:
        return "La persona no dio consentimiento para guardar esos datos."
    return "Algún dato no es válido; revise el formulario."


async def _show_person(
    request: Request, user: Principal, person_id: int, call: CallKey | None
) -> Response:
    services: PanelServices = request.app.state.services
    reason = _reason(call)
    try:
        person = await run_in_threadpool(person_routes.read, person_id, user, services, reason)
    except AgentApiError as err:
        return _error(err.detalle)
    open_requests = await run_in_threadpool(services.cards._open_requests, person_id)
    call_ref = "" if call is None else f"{call.system}|{call.linkedid}"
    return pages_of(request).render(
        request,
        "agente/_persona_ficha.html",
        {
            "person": person.model_dump(),
            "open_requests": open_requests,
            "open_count": len(open_requests),
            "call_ref": call_ref,
        },
        user=user,
    )


@router.get(
    "/agente/personas/{person_id}",
    dependencies=[fragment_of("/agente?persona={person_id}", Ejecutivo, keep=("llamada",))],
)
async def open_person(
    request: Request, user: Ejecutivo, person_id: int, llamada: str = ""
) -> Response:
    return await _show_person(request, user, person_id, _call_of(llamada))


@router.get(
    "/agente/llamadas/{system}/{linkedid}/persona", dependencies=[fragment_of("/agente", Ejecutivo)]
)
async def person_of_call(
    request: Request, user: Ejecutivo, system: str, linkedid: str, person_id: int | None = None
) -> Response:
    """A candidate picked for the call (the agent answered it: the whole record)."""
    services: PanelServices = request.app.state.services
    try:
        answer = await run_in_threadpool(
            call_routes.person_of_call, system, linkedid, user, services, person_id
        )
    except AgentApiError as err:
        if err.status_code == 403:
            return _error("Atienda la llamada para ver los datos de la persona.")
        return _error(err.detalle)
    if answer.person is None:
        return _error("No se encontró a la persona.")
    return pages_of(request).render(
        request,
        "agente/_persona_ficha.html",
        {
            "person": answer.person.model_dump(),
            "open_requests": answer.open_requests,
            "open_count": len(answer.open_requests),
            "call_ref": f"{system}|{linkedid}",
        },
        user=user,
    )


@router.get("/agente/personas/{person_id}/editar", dependencies=[fragment_of("/agente", Ejecutivo)])
async def edit_person_form(
    request: Request, user: Ejecutivo, person_id: int, llamada: str = ""
) -> Response:
    services: PanelServices = request.app.state.services
    call = _call_of(llamada)
    reason = _reason(call)
    try:
        person = await run_in_threadpool(person_routes.read, person_id, user, services, reason)
    except AgentApiError as err:
        return _error(err.detalle)
    return _edit_form(request, user, person, llamada)


def _edit_form(
    request: Request,
    user: Principal,
    person: PersonOut,
    call_ref: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return pages_of(request).render(
        request,
        "agente/_persona_editar.html",
        {
            "person": person.model_dump(),
            "call_ref": call_ref,
            "consents": list(CONSENT.items()),
            "error": error,
        },
        user=user,
        status_code=status_code,
    )


@router.post("/agente/personas/{person_id}/editar")
async def edit_person(request: Request, user: Ejecutivo, person_id: int) -> Response:
    services: PanelServices = request.app.state.services
    lists = await read_form_lists(request)
    form = {k: v[0] for k, v in lists.items() if v}
    call = _call_of(form.get("call"))
    reason = _reason(call)
    wanted = set(lists.get("consents", [])) | {"identificacion"}
    try:
        current = await run_in_threadpool(person_routes.read, person_id, user, services, reason)
        # Consents first: a new phone needs the contact consent given in the same form.
        for category in ConsentCategory:
            granted = category.value in wanted
            if current.consents.get(category.value, False) != granted:
                await run_in_threadpool(
                    person_routes.set_consent,
                    person_id,
                    category.value,
                    ConsentIn(granted=granted),
                    user,
                    services,
                    reason,
                )
        patch = PersonPatch(
            given_names=form.get("given_names", current.given_names).strip() or None,
            family_names=form.get("family_names", current.family_names).strip(),
            add_phones=[form["phone"].strip()] if form.get("phone", "").strip() else [],
            add_emails=[form["email"].strip()] if form.get("email", "").strip() else [],
            add_documents=[
                DocumentIn(kind=form["document_kind"].strip(), reference=form.get("document_ref"))
            ]
            if form.get("document_kind", "").strip()
            else [],
        )
        await run_in_threadpool(person_routes.edit, person_id, patch, user, services, reason)
    except (AgentApiError, ValidationError, StoreError) as err:
        detalle = (
            err.detalle
            if isinstance(err, AgentApiError)
            else "Revise los datos."
            if isinstance(err, ValidationError)
            else _store_error_text(err)
        )
        try:
            person = await run_in_threadpool(person_routes.read, person_id, user, services, reason)
        except AgentApiError as again:
            return _error(again.detalle)
        return _edit_form(request, user, person, form.get("call", ""), detalle, 422)
    return await _show_person(request, user, person_id, call)


# ---------------------------------------------------------------- history


def _history_rows(
    services: PanelServices,
    history: PersonHistory,
    person_id: int,
    page: int,
    exclude: str | None,
) -> tuple[list[dict[str, Any]], bool]:
    """One page of the person's history, in the page's words (blocking)."""
    result = history.page(person_id, page=page, page_size=HISTORY_PAGE)
    # The call in progress is not history (its page then shows one less).
    entries = [
        e for e in result.entries if not (e.kind.value == "atencion" and e.reference == exclude)
    ]
    has_more = result.has_more
    linkedids = [e.reference for e in entries if e.kind.value == "atencion"]
    wrapups = services.wrapups.details_of(linkedids)
    # A web or walk-in attention's topic is a catalogue code; a call's, the menu's.
    catalog = {t.code: t.name for t in services.catalog.topics(include_inactive=True)}
    # One query for every agent on the page: a web or e-mail attention keeps the username.
    agents = {str(e.details["agent"]) for e in entries if e.details.get("agent")}
    names = services.users.display_names(agents) if agents else {}
    rows_out = []
    for e in entries:
        row: dict[str, Any] = {
            "kind": e.kind.value,
            "at": e.at,
            "channel": e.channel,
            "reference": e.reference,
            "topic": None,
            "agent": None,
            "outcome": "",
            "notes": None,
            "means": None,
        }
        if e.kind.value == "atencion":
            resolution, notes, kind, topic_name = wrapups.get(e.reference, (None,) * 4)
            row["agent"] = _agent_words(e.details.get("agent"), names)
            raw = e.details.get("topic")
            row["topic"] = topic_name or catalog.get(str(raw)) or menu_topic(raw) or None
            outcome = OUTCOME_WORDS.get(e.status or "", "Otro")
            if resolution:
                outcome += " · " + RESOLUTION.get(resolution, "")
            if kind:
                row["topic"] = ATTENTION_TYPE.get(kind, "") + (
                    f" — {row['topic']}" if row["topic"] else ""
                )
            score = e.details.get("survey_score")
            if isinstance(score, int):
                outcome += f" · evaluación {score}/5"
            row["outcome"] = outcome
            row["notes"] = _start(notes)
        elif e.kind.value == "solicitud":
            kind = str(e.details.get("request_type") or "")
            topic = e.details.get("topic")
            words = _request_type_words(kind)
            row["topic"] = f"{words}: {topic}" if words and topic else (words or e.summary)
            row["outcome"] = TICKET_WORDS.get(e.status or "", "Otro")
        else:
            # "email", "sms", "log" are how the answer went out, not an attention channel.
            row["means"] = MEANS.get(e.channel, "Otro")
            row["outcome"] = DELIVERY_WORDS.get(e.status or "", "")
            row["notes"] = _start(e.summary)
        rows_out.append(row)
    return rows_out, has_more


def wrapup_saved_headers(ticket: str | None) -> dict[str, str] | None:
    """The htmx event a saved wrap-up sends: a derived ticket refreshes the ficha."""
    return {"HX-Trigger": REQUESTS_CHANGED} if ticket else None


def _request_type_words(code: str) -> str:
    if not code:
        return ""
    try:
        return REQUEST_TYPE_LABELS[RequestType(code)]
    except (ValueError, KeyError):
        return "Otro"


def _agent_words(agent: object, names: dict[str, str]) -> str | None:
    """Who attended, in words: a user's display name, a mailbox said as such;
    anything else (a phone interface) as stored."""
    if not agent:
        return None
    text = str(agent)
    if text.startswith("correo:"):
        return f"Buzón de correo {text.removeprefix('correo:')}"
    return names.get(text, text)


def _start(text: str | None) -> str | None:
    if not text:
        return None
    text = " ".join(text.split())
    return text if len(text) <= NOTES_START else text[: NOTES_START - 1] + "…"


@router.get(
    "/agente/personas/{person_id}/historial", dependencies=[fragment_of("/agente", Ejecutivo)]
)
async def person_history(
    request: Request, user: Ejecutivo, person_id: int, pagina: int = 1, llamada: str = ""
) -> Response:
    services: PanelServices = request.app.state.services
    call = _call_of(llamada)
    reason = _reason(call)
    page = max(1, min(pagina, 1000))
    try:
        await run_in_threadpool(services.need.check_read, user, person_id, reason)
    except AgentApiError as err:
        return _error(err.detalle)
    history: PersonHistory = request.app.state.person_history
    rows, has_more = await run_in_threadpool(
        _history_rows, services, history, person_id, page, None if call is None else call.linkedid
    )
    await run_in_threadpool(
        lambda: services.audit.record(
            AuditAction.PERSON_READ,
            actor_id=user.user_id,
            person_ids=[person_id],
            call=None if reason is None else reason.call,
            details={**({} if reason is None else reason.details()), "history_page": page},
        )
    )
    base_url = f"/agente/personas/{person_id}/historial?llamada={_quote(llamada)}"
    return pages_of(request).render(
        request,
        "agente/_historial.html",
        {"entries": rows, "page": page, "has_more": has_more, "base_url": base_url},
        user=user,
    )


def _quote(text: str) -> str:
    return quote(text, safe="")


@router.get(
    "/agente/solicitudes/{number}",
    dependencies=[fragment_of("/agente?solicitud={number}", Ejecutivo)],
)
async def ticket_detail(request: Request, user: Ejecutivo, number: str) -> Response:
    return await _show_ticket(request, user, number)


async def _show_ticket(request: Request, user: Principal, number: str) -> Response:
    services: PanelServices = request.app.state.services
    try:
        ticket = await run_in_threadpool(
            ticket_routes.read_ticket, number, user, services, request.app.state.followup
        )
    except AgentApiError as err:
        return _error(err.detalle)
    return pages_of(request).render(
        request, "agente/_solicitud.html", {"t": ticket.model_dump()}, user=user
    )
