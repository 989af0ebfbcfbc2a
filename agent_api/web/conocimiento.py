"""The knowledge panel of the agent's workspace and "difundir" from the wrap-up.

- POST /agente/conocimiento: the search box (htmx, as the agent types): the
  trámites found, the most relevant first, with requisitos, pasos, plazos,
  costo, dónde/cómo and link. A POST so that what is typed stays out of URLs
  and access logs (an agent may paste anything into a search box).
- POST /agente/cierres/{system}/{linkedid}/difundir/opciones: the contacts of
  the person linked to the wrap-up that may receive the information (masked;
  only with the person's consent to contact data).
- POST /agente/cierres/{system}/{linkedid}/difundir: send it through the
  configured responder; recorded on the attention and audited.

The call must be the agent's (its wrap-up) and the person identified for it
(agent_api.need_to_know), as for every other read of the person.
"""

from __future__ import annotations

import logging
from html import escape
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from agent_api.audit import AuditAction
from agent_api.auth import Principal
from agent_api.exceptions import AgentApiError, InvalidInput
from agent_api.need_to_know import Reason
from agent_api.routes.knowledge import checked_query
from agent_api.services import PanelServices
from agent_api.web.auth import page_for, pages_of
from agent_api.web.forms import read_form
from agent_api.workspace import CallId
from crm_bridge.exceptions import ConsentRequiredError, InvalidValueError
from crm_bridge.knowledge_send import Contact, Sent
from crm_bridge.organisms import Role
from telephony.domain import CallKey

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

Ejecutivo = Annotated[Principal, Depends(page_for(Role.EJECUTIVO))]

RESULTS_SHOWN = 5
MEANS_WORDS = {"email": "correo electrónico", "sms": "SMS", "log": "registro interno"}


def _message(text: str, *, error: bool = False) -> HTMLResponse:
    kind = ' class="error" role="alert"' if error else ' role="status"'
    return HTMLResponse(f"<p{kind}>{escape(text)}</p>")


@router.post("/agente/conocimiento")
async def search(request: Request, user: Ejecutivo) -> Response:
    services: PanelServices = request.app.state.services
    form = await read_form(request)
    raw = form.get("q", "")
    if not raw.strip():
        return HTMLResponse("")
    try:
        query = checked_query(raw[:1000])
    except InvalidInput as err:
        return _message(err.detalle, error=True)
    found = await run_in_threadpool(services.knowledge.search, query, limit=RESULTS_SHOWN)
    return pages_of(request).render(
        request, "agente/_conocimiento_resultados.html", {"found": found, "q": query}, user=user
    )


def _ids(form: dict[str, str]) -> tuple[int | None, int | None]:
    topic, person = form.get("topic_id", ""), form.get("person_id", "")
    return (
        int(topic) if topic.isdigit() and len(topic) < 12 else None,
        int(person) if person.isdigit() and len(person) < 12 else None,
    )


def _allowed(services: PanelServices, user: Principal, key: CallKey, person_id: int) -> None:
    """The wrap-up is this agent's and the person was identified for the call (blocking)."""
    services.wrapups.start(key, user.user_id)  # Forbidden for another agent's call
    services.need.check_read(user, person_id, Reason(call=key))


def _contacts(
    services: PanelServices, user: Principal, key: CallKey, person_id: int
) -> list[Contact]:
    _allowed(services, user, key, person_id)
    contacts = services.disseminator.contacts(person_id)
    services.audit.record(
        AuditAction.PERSON_READ,
        actor_id=user.user_id,
        person_ids=[person_id],
        call=key,
        details={"reason": "call", "purpose": "contacts to send a trámite's information"},
    )
    return contacts


@router.post("/agente/cierres/{system}/{linkedid}/difundir/opciones")
async def options(system: str, linkedid: str, request: Request, user: Ejecutivo) -> Response:
    services: PanelServices = request.app.state.services
    form = await read_form(request)
    topic_id, person_id = _ids(form)
    if topic_id is None:
        return _message("Elija primero el trámite o servicio del cierre.", error=True)
    if person_id is None:
        return _message("Vincule primero a la persona (desde su ficha).", error=True)
    key = CallKey(system[:64], linkedid[:64])
    try:
        contacts = await run_in_threadpool(_contacts, services, user, key, person_id)
    except AgentApiError as err:
        return _message(err.detalle, error=True)
    if not contacts:
        return _message(
            "La persona no tiene correo ni celular registrados con su consentimiento: "
            "no se le puede enviar. Puede registrarlos en su ficha si lo autoriza.",
            error=True,
        )
    dom = CallId(system, linkedid).dom_id
    return pages_of(request).render(
        request,
        "agente/_difundir.html",
        {
            "contacts": contacts,
            "dom": dom,
            "system": system,
            "linkedid": linkedid,
            "means_labels": {"email": "Correo electrónico", "sms": "SMS"},
            "configured": {m: services.disseminator.configured(m) for m in ("email", "sms")},
        },
        user=user,
    )


def _send(
    services: PanelServices,
    user: Principal,
    key: CallKey,
    topic_id: int,
    person_id: int,
    contact: str,
) -> Sent:
    _allowed(services, user, key, person_id)
    sent = services.disseminator.send(
        key, topic_id=topic_id, person_id=person_id, contact_key=contact, actor_id=user.user_id
    )
    services.audit.record(
        AuditAction.KNOWLEDGE_SENT,
        actor_id=user.user_id,
        person_ids=[person_id],
        call=key,
        details={
            "reason": "call",
            "topic_id": topic_id,
            "means": sent.means,
            "to": sent.destination_masked,
            "delivered": sent.delivered,
        },
    )
    return sent


@router.post("/agente/cierres/{system}/{linkedid}/difundir")
async def send(system: str, linkedid: str, request: Request, user: Ejecutivo) -> Response:
    services: PanelServices = request.app.state.services
    form = await read_form(request)
    topic_id, person_id = _ids(form)
    contact = form.get("contacto", "")
    if topic_id is None or person_id is None or not contact or len(contact) > 16:
        return _message("Elija el trámite, la persona y a dónde enviarlo.", error=True)
    key = CallKey(system[:64], linkedid[:64])
    try:
        sent = await run_in_threadpool(_send, services, user, key, topic_id, person_id, contact)
    except AgentApiError as err:
        return _message(err.detalle, error=True)
    except ConsentRequiredError:
        return _message("La persona no consintió guardar datos de contacto.", error=True)
    except InvalidValueError as err:
        log.info("knowledge send refused: %s", err)
        return _message("No se pudo enviar: revise el trámite y el contacto elegido.", error=True)
    words = MEANS_WORDS.get(sent.means, sent.means)
    if not sent.delivered:
        return _message(
            f"No se pudo entregar por {words} a {sent.destination_masked}; quedó registrado. "
            "Intente por otro medio.",
            error=True,
        )
    if sent.means == "log":
        return _message(
            f"Registrado para {sent.destination_masked}, sin envío: el centro no tiene ese "
            "medio configurado. Lea la información a la persona."
        )
    return _message(
        f"Información de «{sent.topic_name}» enviada por {words} a {sent.destination_masked}."
    )
