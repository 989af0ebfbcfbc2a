"""The person's rights under Ley 18.331: access, rectification and deletion.

Each request is audited (`rights_requests`: who, when, which kind, field
names and counts, never values) and each change reaches the CRM through the
outbox rows written in the same transaction as the change: a rectification
re-sends the contact, a deletion erases the contact and re-sends the person's
calls without their caller data.

Deletion removes the person (and, through the foreign keys, consents, phones,
emails, addresses and documents) and anonymises what else names them:

- calls linked to the person, calls from any of the person's phone numbers
  (unless linked to another person: a shared line's calls of someone else),
  calls wrapped up with the person and the calls their tickets came from lose
  the caller's number, name and channel variables and their link, and are
  marked `erased_at` so a later upsert of the call cannot restore them;
- the wrap-ups of those calls (and any wrap-up naming the person) lose their
  notes and the link;
- the person's tickets, and tickets born of those calls, keep their number,
  type, topic, dates and statuses (the organism's figures) but their
  description, event notes and response bodies become ERASED_TEXT, and
  responses lose their destination;
- callback requests of those calls, numbers or the person lose the number,
  the reason and the person; pending ones are cancelled;
- with the CRM sync on, the contact is deleted there, and the calls, wrap-up
  notes and tickets it already holds are sent again as they now stand.

The audit log keeps its rows (who read what, when) with the person's id
nulled by the foreign key. Access (export) lists the same calls the deletion
anonymises (`_traces`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Engine, delete, inspect, or_, select, update
from sqlalchemy.orm import Session

from crm_bridge.db import session_factory
from crm_bridge.exceptions import ConsentRequiredError, InvalidValueError, NotFoundError
from crm_bridge.models import (
    Attention,
    AttentionWrapup,
    AuditEntry,
    CallbackRequest,
    CrmLink,
    Person,
    PersonAddress,
    PersonConsent,
    PersonDocument,
    PersonEmail,
    PersonPhone,
    RightsRequest,
    Ticket,
    TicketEvent,
    TicketResponse,
)
from crm_bridge.persons import DocumentType, normalise_document, search_key
from crm_bridge.phones import normalise_number
from crm_bridge.store_access import translated
from crm_bridge.sync.outbox import Action, Entity, add_rows

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
_CONTACT = "contacto"


class RightKind(StrEnum):
    ACCESS = "acceso"
    RECTIFICATION = "rectificacion"
    DELETION = "supresion"


@dataclass(frozen=True, slots=True)
class ErasureResult:
    person_id: int
    attentions_anonymised: int
    tickets_unlinked: int  # and their texts replaced by ERASED_TEXT
    wrapups_cleared: int = 0


# What replaces free text that may name the person (Spanish: staff read it).
ERASED_TEXT = "[suprimido a pedido de la persona]"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _columns(row: object, *, skip: Sequence[str] = ()) -> dict[str, Any]:
    mapper = inspect(type(row))
    return {
        column.key: _plain(getattr(row, column.key))
        for column in mapper.column_attrs
        if column.key not in skip
    }


def _in_crm(session: Session, entity: Entity, ids: Iterable[int]) -> list[int]:
    """Those of `ids` some CRM holds (crm_links), in order."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    query = (
        select(CrmLink.entity_id)
        .where(CrmLink.entity == entity.value, CrmLink.entity_id.in_(wanted))
        .distinct()
    )
    return sorted(session.scalars(query))


class PersonRights:
    """Access (export), rectification and deletion of one person's data."""

    def __init__(
        self,
        engine: Engine,
        *,
        phone_region: str = "UY",
        sync_to_crm: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = session_factory(engine)
        self._phone_region = phone_region
        self._sync = sync_to_crm
        self._clock = clock

    # ------------------------------------------------------------ access

    def export(self, person_id: int, *, actor_id: int | None) -> dict[str, Any]:
        """Everything held on the person, as JSON-ready values; the request is audited."""
        with translated("exporting a person's data"), self._sessions.begin() as session:
            person = _person(session, person_id)
            by_person = {
                "consents": PersonConsent,
                "phones": PersonPhone,
                "emails": PersonEmail,
                "addresses": PersonAddress,
                "documents": PersonDocument,
            }
            data: dict[str, Any] = {"person": _columns(person)}
            for name, model in by_person.items():
                owner = model.__table__.c.person_id
                rows = session.scalars(select(model).where(owner == person_id)).all()
                data["person"][name] = [_columns(r, skip=("person_id",)) for r in rows]
            # Her calls as the erasure finds them: linked, or from her numbers.
            _phones, _tickets, _calls, found = _traces(session, person_id)
            attentions = session.scalars(
                select(Attention)
                .where(Attention.id.in_([row.id for row in found] or [-1]))
                .order_by(Attention.id)
            ).all()
            data["attentions"] = [_columns(a) for a in attentions]
            data["tickets"] = [
                self._ticket(session, ticket)
                for ticket in session.scalars(
                    select(Ticket).where(Ticket.person_id == person_id).order_by(Ticket.id)
                ).all()
            ]
            data["audit"] = _audit_of_reads(session, person_id)
            data["rights_requests"] = [
                _columns(r)
                for r in session.scalars(
                    select(RightsRequest)
                    .where(RightsRequest.person_id == person_id)
                    .order_by(RightsRequest.id)
                ).all()
            ]
            attention_ids = [a.id for a in attentions]
            links = session.scalars(
                select(CrmLink).where(
                    ((CrmLink.entity == Entity.PERSON.value) & (CrmLink.entity_id == person_id))
                    | (
                        (CrmLink.entity == Entity.ATTENTION.value)
                        & CrmLink.entity_id.in_(attention_ids or [-1])
                    )
                )
            ).all()
            data["crm_copies"] = [_columns(link) for link in links]
            data["exported_at"] = self._clock().isoformat()
            self._audit(
                session,
                person_id,
                RightKind.ACCESS,
                actor_id,
                {
                    "attentions": len(attentions),
                    "tickets": len(data["tickets"]),
                    "crm_copies": len(links),
                },
            )
            return data

    @staticmethod
    def _ticket(session: Session, ticket: Ticket) -> dict[str, Any]:
        values = _columns(ticket)
        values["events"] = [
            _columns(e, skip=("ticket_id",))
            for e in session.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket.id)
                .order_by(TicketEvent.id)
            ).all()
        ]
        values["responses"] = [
            _columns(r, skip=("ticket_id",))
            for r in session.scalars(
                select(TicketResponse)
                .where(TicketResponse.ticket_id == ticket.id)
                .order_by(TicketResponse.id)
            ).all()
        ]
        return values

    # ----------------------------------------------------- rectification

    def rectify(
        self,
        person_id: int,
        *,
        actor_id: int | None,
        given_names: str | None = None,
        family_names: str | None = None,
        document_type: DocumentType | str | None = None,
        document_number: str | None = None,
        phones: Sequence[str] | None = None,
        emails: Sequence[str] | None = None,
    ) -> list[str]:
        """Correct the person's data (None leaves a field as it is; lists replace).

        Returns the names of the fields changed; the CRM gets the corrected contact.
        """
        phone_values = None if phones is None else [self._phone(p) for p in dict.fromkeys(phones)]
        email_values = None if emails is None else [_email(e) for e in dict.fromkeys(emails)]
        with translated("rectifying a person's data"), self._sessions.begin() as session:
            person = _person(session, person_id)
            changed: list[str] = []
            if given_names is not None or family_names is not None:
                given = _name(given_names, person.given_names, required=True)
                family = _name(family_names, person.family_names, required=False)
                if given != person.given_names:
                    changed.append("given_names")
                if family != person.family_names:
                    changed.append("family_names")
                person.given_names, person.family_names = given, family
                person.search_name = search_key(f"{given} {family}")
                person.search_family = search_key(f"{family} {given}")
            if document_type is not None or document_number is not None:
                if document_type is None or document_number is None:
                    raise InvalidValueError("a document needs both its type and its number")
                kind = DocumentType(str(document_type))
                number = normalise_document(kind, document_number)
                if (kind.value, number) != (person.document_type, person.document_number):
                    changed.append("document")
                person.document_type, person.document_number = kind.value, number
            if phone_values is not None or email_values is not None:
                consent = session.get(PersonConsent, (person_id, _CONTACT))
                granted = consent is not None and consent.granted
                if (phone_values or email_values) and not granted:
                    raise ConsentRequiredError("no consent to keep contacto data")
            if phone_values is not None:
                session.execute(delete(PersonPhone).where(PersonPhone.person_id == person_id))
                session.add_all(PersonPhone(person_id=person_id, number=n) for n in phone_values)
                changed.append("phones")
            if email_values is not None:
                session.execute(delete(PersonEmail).where(PersonEmail.person_id == person_id))
                session.add_all(PersonEmail(person_id=person_id, address=a) for a in email_values)
                changed.append("emails")
            now = self._clock()
            person.updated_at = now
            if self._sync:
                add_rows(session, Entity.PERSON, [person_id], Action.UPSERT, now=now)
            self._audit(session, person_id, RightKind.RECTIFICATION, actor_id, {"fields": changed})
            return changed

    # ---------------------------------------------------------- deletion

    def erase(self, person_id: int, *, actor_id: int | None) -> ErasureResult:
        """Delete the person and anonymise every call, wrap-up and ticket that
        names them (see the module docstring for what is matched)."""
        with translated("erasing a person"), self._sessions.begin() as session:
            person = _person(session, person_id)
            now = self._clock()
            phones, tickets, calls, found = _traces(session, person_id)
            attention_ids = [row.id for row in found]
            calls |= {(row.system, row.linkedid) for row in found}
            if attention_ids:
                session.execute(
                    update(Attention)
                    .where(Attention.id.in_(attention_ids))
                    .values(
                        caller_number_raw="",
                        caller_number=None,
                        caller_name="",
                        variables={},
                        person_id=None,
                        erased_at=now,
                        updated_at=now,
                    )
                )
            keyed = [
                (AttentionWrapup.system == s) & (AttentionWrapup.linkedid == lid)
                for s, lid in sorted(calls)
            ]
            wrapup_ids = list(
                session.scalars(
                    select(AttentionWrapup.id).where(
                        or_(AttentionWrapup.person_id == person_id, *keyed)
                    )
                )
            )
            if wrapup_ids:
                session.execute(
                    update(AttentionWrapup)
                    .where(AttentionWrapup.id.in_(wrapup_ids))
                    .values(notes=None, person_id=None)
                )
            wrapups = len(wrapup_ids)
            # Tickets of the person and those born of their calls.
            ticket_ids = {t.id for t in tickets}
            if calls:
                ticket_ids |= set(
                    session.scalars(
                        select(Ticket.id).where(
                            or_(
                                *[
                                    (Ticket.attention_system == s)
                                    & (Ticket.attention_linkedid == lid)
                                    for s, lid in sorted(calls)
                                ]
                            )
                        )
                    )
                )
            if ticket_ids:
                ids = sorted(ticket_ids)
                session.execute(
                    update(TicketResponse)
                    .where(TicketResponse.ticket_id.in_(ids))
                    .values(destination="", body=ERASED_TEXT)
                )
                session.execute(
                    update(TicketEvent)
                    .where(TicketEvent.ticket_id.in_(ids), TicketEvent.notes.is_not(None))
                    .values(notes=ERASED_TEXT)
                )
                session.execute(
                    update(Ticket)
                    .where(Ticket.id.in_(ids))
                    .values(person_id=None, description=ERASED_TEXT, updated_at=now)
                )
            callbacks: list[ColumnElement[bool]] = [
                (CallbackRequest.system == s) & (CallbackRequest.linkedid == lid)
                for s, lid in sorted(calls)
            ]
            if phones:
                callbacks.append(CallbackRequest.number.in_(phones))
            callbacks.append(CallbackRequest.person_id == person_id)
            # A callback nobody can make any more ends (cancelled) with the erasure.
            session.execute(
                update(CallbackRequest)
                .where(or_(*callbacks), CallbackRequest.status == "pending")
                .values(status="cancelled", end_reason="cancelled", claimed_by=None)
            )
            session.execute(
                update(CallbackRequest)
                .where(or_(*callbacks))
                .values(number_raw="", number=None, reason=None, person_id=None)
            )
            session.delete(person)
            if self._sync:
                add_rows(session, Entity.PERSON, [person_id], Action.ERASE, now=now)
                add_rows(session, Entity.ATTENTION, attention_ids, Action.UPSERT, now=now)
                # Wrap-up notes and tickets already in the CRM are sent again,
                # anonymised; those never sent stay out of it until their own row.
                sent: tuple[tuple[Entity, Iterable[int]], ...] = (
                    (Entity.WRAPUP, wrapup_ids),
                    (Entity.TICKET, ticket_ids),
                )
                for entity, entity_ids in sent:
                    add_rows(session, entity, _in_crm(session, entity, entity_ids), now=now)
            self._audit(
                session,
                person_id,
                RightKind.DELETION,
                actor_id,
                {
                    "attentions_anonymised": len(attention_ids),
                    "tickets_unlinked": len(ticket_ids),
                    "wrapups_cleared": wrapups,
                },
            )
            return ErasureResult(person_id, len(attention_ids), len(ticket_ids), wrapups)

    # ------------------------------------------------------------- audit

    def requests(self, person_id: int) -> list[dict[str, Any]]:
        """The audit trail of the person's rights requests, oldest first."""
        query = (
            select(RightsRequest)
            .where(RightsRequest.person_id == person_id)
            .order_by(RightsRequest.id)
        )
        with translated("reading rights requests"), self._sessions() as session:
            return [_columns(r) for r in session.scalars(query).all()]

    def _audit(
        self,
        session: Session,
        person_id: int,
        kind: RightKind,
        actor_id: int | None,
        details: dict[str, Any],
    ) -> None:
        session.add(
            RightsRequest(
                person_id=person_id,
                kind=kind.value,
                at=self._clock(),
                actor_id=actor_id,
                details=details,
            )
        )

    def _phone(self, raw: str) -> str:
        number = normalise_number(raw, self._phone_region)
        if number is None:
            raise InvalidValueError("not a valid phone number")
        return number


def _traces(
    session: Session, person_id: int
) -> tuple[list[str], list[Any], set[tuple[str, str]], list[Any]]:
    """What names the person besides their own rows: their phone numbers, their
    tickets (id, call key), the keys of calls tied to them, and the attention
    rows (id, system, linkedid) of those calls and of calls from their numbers
    not linked to anyone else (a shared line's other callers keep theirs)."""
    phones = list(
        session.scalars(select(PersonPhone.number).where(PersonPhone.person_id == person_id))
    )
    tickets = list(
        session.execute(
            select(Ticket.id, Ticket.attention_system, Ticket.attention_linkedid).where(
                Ticket.person_id == person_id
            )
        ).all()
    )
    wrapped = session.execute(
        select(AttentionWrapup.system, AttentionWrapup.linkedid).where(
            AttentionWrapup.person_id == person_id
        )
    ).all()
    calls = {(s, lid) for _id, s, lid in tickets if s and lid} | {(s, lid) for s, lid in wrapped}
    matches: list[ColumnElement[bool]] = [Attention.person_id == person_id]
    if phones:
        matches.append(
            or_(Attention.caller_number.in_(phones), Attention.caller_number_raw.in_(phones))
            & Attention.person_id.is_(None)
        )
    matches += [(Attention.system == s) & (Attention.linkedid == lid) for s, lid in sorted(calls)]
    found = list(
        session.execute(
            select(Attention.id, Attention.system, Attention.linkedid)
            .where(or_(*matches))
            .order_by(Attention.id)
        ).all()
    )
    return phones, tickets, calls, found


def _audit_of_reads(session: Session, person_id: int) -> list[dict[str, Any]]:
    """Who read or changed the person's data (the agent panel's audit log)."""
    rows = session.scalars(
        select(AuditEntry).where(AuditEntry.person_id == person_id).order_by(AuditEntry.id)
    ).all()
    return [_columns(r) for r in rows]


def _person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFoundError(f"no person {person_id}")
    return person


def _name(value: str | None, current: str, *, required: bool) -> str:
    if value is None:
        return current
    cleaned = " ".join(value.replace("\x00", "").split())
    if required and not cleaned:
        raise InvalidValueError("given names are required")
    if len(cleaned) > 200:
        raise InvalidValueError("a name is longer than 200 characters")
    return cleaned


def _email(raw: str) -> str:
    value = raw.strip()
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise InvalidValueError("not a valid email address")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"
