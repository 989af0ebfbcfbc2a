"""The person registry: create, search, read, edit, consent.

Every read and change names its reason (the call handled or the ticket
worked), which `agent_api.need_to_know` checks before anything is shown, and
is audited with it. Nothing personal travels in a URL: searches are POSTs.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from agent_api.audit import AuditAction
from agent_api.auth import Principal
from agent_api.deps import PersonReader, PersonWriter, Services
from agent_api.exceptions import InvalidInput, NotFound
from agent_api.frames import person_payload, person_summary
from agent_api.need_to_know import Reason
from agent_api.schemas import (
    ConsentIn,
    PersonHistoryOut,
    PersonIn,
    PersonOut,
    PersonPatch,
    PersonSearchIn,
    PersonSummaryOut,
)
from crm_bridge.exceptions import InvalidValueError, RecordRejectedError
from crm_bridge.persons import AddressInput, DocumentInput, DocumentType, PersonView
from crm_bridge.ticket_rules import parse_enum

router = APIRouter(prefix="/api/persons", tags=["personas"])

DUPLICATE = "Ya existe una persona con ese documento"


def _out(person: PersonView) -> PersonOut:
    return PersonOut(**person_payload(person))


def reason_query(
    call_system: Annotated[str | None, Query(max_length=64)] = None,
    call_linkedid: Annotated[str | None, Query(max_length=64)] = None,
    ticket: Annotated[str | None, Query(max_length=16, description="p. ej. 2026-000123")] = None,
) -> Reason | None:
    """The reason of a read, in the query: a call key or a ticket number (never
    personal data)."""
    return Reason.of(call_system, call_linkedid, ticket)


ReasonOf = Annotated[Reason | None, Depends(reason_query)]


def _audit(
    services: Services,
    action: AuditAction,
    user: Principal,
    person_ids: list[int],
    reason: Reason | None,
    **details: Any,
) -> None:
    services.audit.record(
        action,
        actor_id=user.user_id,
        person_ids=person_ids,
        call=None if reason is None else reason.call,
        details={**({} if reason is None else reason.details()), **details},
    )


def _existing(services: Services, body: PersonIn) -> PersonView | None:
    if not body.document_number or not body.document_type:
        return None
    try:
        return services.persons.find_by_document(body.document_type, body.document_number)
    except InvalidValueError:
        return None  # register() gives the precise error


@router.post(
    "",
    response_model=PersonOut,
    status_code=201,
    responses={409: {"description": '{"detalle": "Ya existe…", "person_id": 123}'}},
)
def register(body: PersonIn, user: PersonWriter, services: Services) -> Any:
    """A new person; with `call_system`/`call_linkedid` of a call this user
    handles, linked to that call. An existing document answers 409 with the
    person's id (the page offers to open it, with the call as reason)."""
    reason = Reason.of(body.call_system, body.call_linkedid)
    if reason is not None:
        services.need.check_reason(user, reason)
    existing = _existing(services, body)
    if existing is None:
        try:
            person = services.persons.register(
                given_names=body.given_names,
                family_names=body.family_names,
                consents=body.consents,
                document_type=body.document_type,
                document_number=body.document_number,
                phones=body.phones,
                emails=body.emails,
                addresses=[AddressInput(**a.model_dump()) for a in body.addresses],
                documents=[DocumentInput(**d.model_dump()) for d in body.documents],
                actor_id=user.user_id,
                notice_version=body.notice_version,
            )
        except RecordRejectedError:
            existing = _existing(services, body)  # registered concurrently
            if existing is None:
                raise
    if existing is not None:
        # The document was looked up: audited as a search with the same reason.
        _audit(
            services, AuditAction.PERSON_SEARCH, user, [existing.id], reason, criterion="document"
        )
        return JSONResponse({"detalle": DUPLICATE, "person_id": existing.id}, status_code=409)
    if reason is not None and reason.call is not None:
        services.persons.link_attention(reason.call.system, reason.call.linkedid, person.id)
    _audit(services, AuditAction.PERSON_CREATE, user, [person.id], reason)
    return _out(person)


@router.post("/search", response_model=list[PersonSummaryOut])
def search(body: PersonSearchIn, user: PersonReader, services: Services) -> list[PersonSummaryOut]:
    """By document (cédula by default), phone, or name prefix; one criterion, and
    the reason. Hits carry names and a masked document; open one with
    `GET /api/persons/{id}` and the same reason."""
    reason = Reason.of(body.call_system, body.call_linkedid, body.ticket)
    services.need.check_reason(user, reason)
    found: list[PersonView]
    if body.document:
        kind = parse_enum(DocumentType, body.document_type, "document type")
        one = services.persons.find_by_document(kind, body.document)
        found = [] if one is None else [one]
        criterion = "document"
    elif body.phone:
        found, criterion = services.persons.find_by_phone(body.phone), "phone"
    elif body.name and len(body.name.strip()) >= 2:
        found, criterion = services.persons.search_by_name(body.name, limit=20), "name"
    else:
        raise InvalidInput(
            "no criterion",
            detalle="Busque por documento, teléfono o nombre (al menos 2 letras).",
        )
    _audit(
        services,
        AuditAction.PERSON_SEARCH,
        user,
        [p.id for p in found],
        reason,
        criterion=criterion,
    )
    return [PersonSummaryOut(**person_summary(p)) for p in found]


@router.get("/{person_id}", response_model=PersonOut)
def read(person_id: int, user: PersonReader, services: Services, reason: ReasonOf) -> PersonOut:
    """The whole record, for a reason: `call_system` + `call_linkedid` of a call
    this user handles (the person identified for it), or `ticket` (its person)."""
    services.need.check_read(user, person_id, reason)
    person = services.persons.get(person_id)
    if person is None:
        raise NotFound(f"no person {person_id}")
    _audit(services, AuditAction.PERSON_READ, user, [person_id], reason)
    return _out(person)


@router.get("/{person_id}/history", response_model=PersonHistoryOut)
def history(
    person_id: int,
    user: PersonReader,
    services: Services,
    reason: ReasonOf,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=50)] = 20,
) -> PersonHistoryOut:
    """A page of the person's timeline (calls, tickets, responses), for the same
    reasons as the record; audited as a read."""
    services.need.check_read(user, person_id, reason)
    if services.persons.get(person_id) is None:
        raise NotFound(f"no person {person_id}")
    found = services.cards.history(person_id, page=page, page_size=page_size)
    _audit(services, AuditAction.PERSON_READ, user, [person_id], reason, part="history", page=page)
    return PersonHistoryOut(**found)


@router.patch("/{person_id}", response_model=PersonOut)
def edit(
    person_id: int, body: PersonPatch, user: PersonWriter, services: Services, reason: ReasonOf
) -> PersonOut:
    services.need.check_read(user, person_id, reason)
    registry = services.persons
    person = registry.get(person_id)
    if person is None:
        raise NotFound(f"no person {person_id}")
    if body.given_names is not None or body.family_names is not None:
        person = registry.rename(
            person_id,
            body.given_names if body.given_names is not None else person.given_names,
            body.family_names if body.family_names is not None else person.family_names,
        )
    for raw in body.add_phones:
        person = registry.add_phone(person_id, raw)
    for raw in body.remove_phones:
        person = registry.remove_phone(person_id, raw)
    for raw in body.add_emails:
        person = registry.add_email(person_id, raw)
    for address in body.add_addresses:
        person = registry.add_address(person_id, AddressInput(**address.model_dump()))
    for document in body.add_documents:
        person = registry.add_document(person_id, DocumentInput(**document.model_dump()))
    _audit(services, AuditAction.PERSON_UPDATE, user, [person_id], reason)
    return _out(person)


@router.put("/{person_id}/consents/{category}", response_model=PersonOut)
def set_consent(
    person_id: int,
    category: str,
    body: ConsentIn,
    user: PersonWriter,
    services: Services,
    reason: ReasonOf,
) -> PersonOut:
    services.need.check_read(user, person_id, reason)
    person = services.persons.set_consent(
        person_id,
        category,
        body.granted,
        actor_id=user.user_id,
        notice_version=body.notice_version,
    )
    _audit(
        services,
        AuditAction.CONSENT_CHANGE,
        user,
        [person_id],
        reason,
        category=category,
        granted=body.granted,
    )
    return _out(person)
