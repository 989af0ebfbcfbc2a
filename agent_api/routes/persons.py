"""The person registry: create, search, read, edit, consent. Every read is audited."""

from __future__ import annotations

from fastapi import APIRouter

from agent_api.audit import AuditAction
from agent_api.deps import PersonReader, PersonWriter, Services
from agent_api.exceptions import InvalidInput, NotFound
from agent_api.frames import person_payload
from agent_api.schemas import ConsentIn, PersonIn, PersonOut, PersonPatch
from crm_bridge.persons import AddressInput, DocumentInput, PersonView
from telephony.domain import CallKey

router = APIRouter(prefix="/api/persons", tags=["personas"])


def _out(person: PersonView) -> PersonOut:
    return PersonOut(**person_payload(person))


def _call(system: str | None, linkedid: str | None) -> CallKey | None:
    return None if not system or not linkedid else CallKey(system, linkedid)


@router.post("", response_model=PersonOut, status_code=201)
def register(body: PersonIn, user: PersonWriter, services: Services) -> PersonOut:
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
    call = _call(body.call_system, body.call_linkedid)
    if call is not None:
        services.persons.link_attention(call.system, call.linkedid, person.id)
    services.audit.record(
        AuditAction.PERSON_CREATE, actor_id=user.user_id, person_ids=[person.id], call=call
    )
    return _out(person)


@router.get("", response_model=list[PersonOut])
def search(
    user: PersonReader,
    services: Services,
    document: str | None = None,
    document_type: str = "ci",
    phone: str | None = None,
    name: str | None = None,
    call_system: str | None = None,
    call_linkedid: str | None = None,
) -> list[PersonOut]:
    """By document (cédula by default), phone, or name prefix; one criterion."""
    found: list[PersonView]
    if document:
        one = services.persons.find_by_document(document_type, document)
        found = [] if one is None else [one]
        criterion = "document"
    elif phone:
        found, criterion = services.persons.find_by_phone(phone), "phone"
    elif name and len(name.strip()) >= 2:
        found, criterion = services.persons.search_by_name(name, limit=20), "name"
    else:
        raise InvalidInput(
            "no criterion",
            detalle="Busque por documento, teléfono o nombre (al menos 2 letras).",
        )
    services.audit.record(
        AuditAction.PERSON_SEARCH,
        actor_id=user.user_id,
        person_ids=[p.id for p in found],
        call=_call(call_system, call_linkedid),
        details={"criterion": criterion},
    )
    return [_out(p) for p in found]


@router.get("/{person_id}", response_model=PersonOut)
def read(
    person_id: int,
    user: PersonReader,
    services: Services,
    call_system: str | None = None,
    call_linkedid: str | None = None,
) -> PersonOut:
    person = services.persons.get(person_id)
    if person is None:
        raise NotFound(f"no person {person_id}")
    services.audit.record(
        AuditAction.PERSON_READ,
        actor_id=user.user_id,
        person_ids=[person_id],
        call=_call(call_system, call_linkedid),
    )
    return _out(person)


@router.patch("/{person_id}", response_model=PersonOut)
def edit(person_id: int, body: PersonPatch, user: PersonWriter, services: Services) -> PersonOut:
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
    services.audit.record(AuditAction.PERSON_UPDATE, actor_id=user.user_id, person_ids=[person_id])
    return _out(person)


@router.put("/{person_id}/consents/{category}", response_model=PersonOut)
def set_consent(
    person_id: int, category: str, body: ConsentIn, user: PersonWriter, services: Services
) -> PersonOut:
    person = services.persons.set_consent(
        person_id,
        category,
        body.granted,
        actor_id=user.user_id,
        notice_version=body.notice_version,
    )
    services.audit.record(
        AuditAction.CONSENT_CHANGE,
        actor_id=user.user_id,
        person_ids=[person_id],
        details={"category": category, "granted": body.granted},
    )
    return _out(person)
