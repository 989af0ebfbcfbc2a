"""The person registry: citizens, their data per category, and their consent.

The person decides what is kept (functional-aspects seed: "la persona será
quien decida cuales datos desea que sean registrados"). Every value belongs to
a category; a value is stored only while its category is consented, adding
one without consent is refused (ConsentRequiredError), and withdrawing a
consent erases what the category held. Identification (names and document)
is what a registration is: it cannot be withdrawn here; removing the person is
a rights request (a later feature).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, delete, or_, select, update
from sqlalchemy.orm import Session

from citizen import cedula as cedulas
from crm_bridge.db import session_factory
from crm_bridge.exceptions import ConsentRequiredError, InvalidValueError, NotFoundError
from crm_bridge.models import (
    Attention,
    Person,
    PersonAddress,
    PersonConsent,
    PersonDocument,
    PersonEmail,
    PersonPhone,
)
from crm_bridge.phones import normalise_number
from crm_bridge.store_access import translated
from crm_bridge.ticket_rules import parse_enum


class ConsentCategory(StrEnum):
    IDENTIFICATION = "identificacion"  # names and identity document
    CONTACT = "contacto"  # phones and emails
    ADDRESS = "domicilio"
    DOCUMENTS = "documentacion"  # passport, vaccination card, birth certificate...
    # Notices about the person's tickets (acknowledgement, derivation,
    # response), per means: they hold no data of their own, they allow using
    # the contacts kept under CONTACT for that purpose.
    NOTICE_EMAIL = "avisos_correo"
    NOTICE_SMS = "avisos_sms"


class DocumentType(StrEnum):
    CEDULA = "ci"  # cédula de identidad uruguaya, check digit validated
    PASAPORTE = "pasaporte"
    OTRO = "otro"


@dataclass(frozen=True, slots=True)
class PhoneView:
    number: str  # E.164
    label: str | None = None


@dataclass(frozen=True, slots=True)
class EmailView:
    address: str
    label: str | None = None


@dataclass(frozen=True, slots=True)
class AddressInput:
    street: str
    locality: str | None = None
    department: str | None = None
    postal_code: str | None = None
    label: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentInput:
    kind: str  # "pasaporte", "carné de vacunas", "partida de nacimiento"...
    reference: str | None = None
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class PersonView:
    """What is held on a person: only categories consented to carry values."""

    id: int
    document_type: DocumentType | None
    document_number: str | None
    given_names: str
    family_names: str
    consents: Mapping[ConsentCategory, bool]
    phones: tuple[PhoneView, ...] = ()
    emails: tuple[EmailView, ...] = ()
    addresses: tuple[AddressInput, ...] = ()
    documents: tuple[DocumentInput, ...] = ()

    @property
    def display_name(self) -> str:
        return f"{self.given_names} {self.family_names}".strip()

    def consents_to(self, category: ConsentCategory) -> bool:
        return self.consents.get(category, False)


def search_key(text: str) -> str:
    """Lower case, accents removed, single spaces: how names are searched."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())


_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
_LIKE_SPECIAL = re.compile(r"([\\%_])")


def _like_prefix(text: str) -> str:
    return _LIKE_SPECIAL.sub(r"\\\1", text) + "%"


def normalise_document(document_type: DocumentType, number: str) -> str:
    """A cédula as 7-digit body + check digit (dots and dash allowed on input)."""
    if document_type is DocumentType.CEDULA:
        digits = re.sub(r"[.\-\s]", "", number)
        if not cedulas.is_valid(digits):
            raise InvalidValueError("invalid cédula (check digit)")
        return cedulas.normalise(digits)
    value = " ".join(number.split()).upper()
    if not value or len(value) > 32:
        raise InvalidValueError("a document number is 1 to 32 characters")
    return value


def _text(value: str | None, what: str, limit: int, *, required: bool = False) -> str | None:
    cleaned = None if value is None else " ".join(value.replace("\x00", "").split())
    if not cleaned:
        if required:
            raise InvalidValueError(f"{what} is required")
        return None
    if len(cleaned) > limit:
        raise InvalidValueError(f"{what} is longer than {limit} characters")
    return cleaned


class PersonRegistry:
    """Create, read, search and change persons, enforcing consent per category."""

    def __init__(
        self,
        engine: Engine,
        *,
        phone_region: str = "UY",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = session_factory(engine)
        self._phone_region = phone_region
        self._clock = clock

    # --------------------------------------------------------------- writes

    def register(
        self,
        *,
        given_names: str,
        family_names: str,
        consents: Iterable[ConsentCategory | str],
        document_type: DocumentType | str | None = None,
        document_number: str | None = None,
        phones: Sequence[str] = (),
        emails: Sequence[str] = (),
        addresses: Sequence[AddressInput] = (),
        documents: Sequence[DocumentInput] = (),
        actor_id: int | None = None,
        notice_version: str | None = None,
    ) -> PersonView:
        """A new person with the categories the person consented to.

        Values of a category not in `consents` are refused, nothing is stored.
        """
        granted = {parse_enum(ConsentCategory, str(c), "consent category") for c in consents}
        if ConsentCategory.IDENTIFICATION not in granted:
            raise ConsentRequiredError(
                "registering a person needs consent to keep identificacion data"
            )
        kind, number = self._document(document_type, document_number)
        given = _text(given_names, "given names", 200, required=True) or ""
        family = _text(family_names, "family names", 200) or ""
        self._require(granted, ConsentCategory.CONTACT, bool(phones or emails))
        self._require(granted, ConsentCategory.ADDRESS, bool(addresses))
        self._require(granted, ConsentCategory.DOCUMENTS, bool(documents))
        phone_rows = [self._phone(raw) for raw in dict.fromkeys(phones)]
        email_rows = [_email(raw) for raw in dict.fromkeys(emails)]
        now = self._clock()
        with translated("registering a person"), self._sessions.begin() as session:
            person = Person(
                document_type=None if kind is None else kind.value,
                document_number=number,
                given_names=given,
                family_names=family,
                search_name=search_key(f"{given} {family}"),
                search_family=search_key(f"{family} {given}"),
                created_at=now,
                updated_at=now,
            )
            session.add(person)
            session.flush()
            for category in ConsentCategory:
                session.add(
                    PersonConsent(
                        person_id=person.id,
                        category=category.value,
                        granted=category in granted,
                        decided_at=now,
                        decided_by=actor_id,
                        notice_version=notice_version,
                    )
                )
            for phone in dict.fromkeys(phone_rows):
                session.add(PersonPhone(person_id=person.id, number=phone))
            for email in dict.fromkeys(email_rows):
                session.add(PersonEmail(person_id=person.id, address=email))
            for address in addresses:
                session.add(_address_row(person.id, address))
            for document in documents:
                session.add(_document_row(person.id, document))
            session.flush()
            return _load(session, person)

    def set_consent(
        self,
        person_id: int,
        category: ConsentCategory | str,
        granted: bool,
        *,
        actor_id: int | None = None,
        notice_version: str | None = None,
    ) -> PersonView:
        """Record the person's decision; a withdrawal erases the category's values."""
        kind = parse_enum(ConsentCategory, str(category), "consent category")
        if kind is ConsentCategory.IDENTIFICATION and not granted:
            raise InvalidValueError(
                "identification cannot be withdrawn: deleting the person is a rights request"
            )
        now = self._clock()
        with translated("recording a consent"), self._sessions.begin() as session:
            person = _person(session, person_id)
            row = session.get(PersonConsent, (person_id, kind.value))
            if row is None:
                row = PersonConsent(person_id=person_id, category=kind.value)
                session.add(row)
            row.granted = granted
            row.decided_at = now
            row.decided_by = actor_id
            row.notice_version = notice_version
            if not granted:
                for model in _CATEGORY_TABLES[kind]:
                    session.execute(delete(model).where(model.person_id == person_id))
            person.updated_at = now
            session.flush()
            return _load(session, person)

    def add_phone(self, person_id: int, raw: str, label: str | None = None) -> PersonView:
        number = self._phone(raw)
        with translated("adding a phone"), self._sessions.begin() as session:
            person = self._consented(session, person_id, ConsentCategory.CONTACT)
            exists = session.scalars(
                select(PersonPhone).where(
                    PersonPhone.person_id == person_id, PersonPhone.number == number
                )
            ).first()
            if exists is None:
                session.add(PersonPhone(person_id=person_id, number=number, label=label))
            session.flush()
            return _load(session, person)

    def add_email(self, person_id: int, raw: str, label: str | None = None) -> PersonView:
        address = _email(raw)
        with translated("adding an email"), self._sessions.begin() as session:
            person = self._consented(session, person_id, ConsentCategory.CONTACT)
            exists = session.scalars(
                select(PersonEmail).where(
                    PersonEmail.person_id == person_id, PersonEmail.address == address
                )
            ).first()
            if exists is None:
                session.add(PersonEmail(person_id=person_id, address=address, label=label))
            session.flush()
            return _load(session, person)

    def add_address(self, person_id: int, address: AddressInput) -> PersonView:
        row = _address_row(person_id, address)
        with translated("adding an address"), self._sessions.begin() as session:
            person = self._consented(session, person_id, ConsentCategory.ADDRESS)
            session.add(row)
            session.flush()
            return _load(session, person)

    def add_document(self, person_id: int, document: DocumentInput) -> PersonView:
        row = _document_row(person_id, document)
        with translated("adding a document"), self._sessions.begin() as session:
            person = self._consented(session, person_id, ConsentCategory.DOCUMENTS)
            session.add(row)
            session.flush()
            return _load(session, person)

    def remove_phone(self, person_id: int, raw: str) -> PersonView:
        number = self._phone(raw)
        with translated("removing a phone"), self._sessions.begin() as session:
            person = _person(session, person_id)
            session.execute(
                delete(PersonPhone).where(
                    PersonPhone.person_id == person_id, PersonPhone.number == number
                )
            )
            return _load(session, person)

    def rename(self, person_id: int, given_names: str, family_names: str) -> PersonView:
        given = _text(given_names, "given names", 200, required=True) or ""
        family = _text(family_names, "family names", 200) or ""
        with translated("renaming a person"), self._sessions.begin() as session:
            person = _person(session, person_id)
            person.given_names, person.family_names = given, family
            person.search_name = search_key(f"{given} {family}")
            person.search_family = search_key(f"{family} {given}")
            person.updated_at = self._clock()
            session.flush()
            return _load(session, person)

    def link_attention(self, system: str, linkedid: str, person_id: int) -> bool:
        """Say whose call (system, linkedid) was; False if that attention is not stored yet."""
        with translated("linking an attention"), self._sessions.begin() as session:
            _person(session, person_id)
            result = session.execute(
                update(Attention)
                .where(Attention.system == system, Attention.linkedid == linkedid)
                .values(person_id=person_id)
            )
            return bool(getattr(result, "rowcount", 0))

    # ---------------------------------------------------------------- reads

    def get(self, person_id: int) -> PersonView | None:
        with translated("reading a person"), self._sessions() as session:
            person = session.get(Person, person_id)
            return None if person is None else _load(session, person)

    def find_by_document(self, document_type: DocumentType | str, number: str) -> PersonView | None:
        kind = parse_enum(DocumentType, str(document_type), "document type")
        value = normalise_document(kind, number)
        query = select(Person).where(
            Person.document_type == kind.value, Person.document_number == value
        )
        with translated("finding a person"), self._sessions() as session:
            person = session.scalars(query).first()
            return None if person is None else _load(session, person)

    def find_by_cedula(self, cedula: str) -> PersonView | None:
        """By cédula (any common spelling); InvalidValueError when the check digit is wrong."""
        return self.find_by_document(DocumentType.CEDULA, cedula)

    def find_by_phone(self, raw: str) -> list[PersonView]:
        """Everyone holding this number (a household may share one), oldest first."""
        number = normalise_number(raw, self._phone_region)
        if number is None:
            return []
        query = (
            select(Person)
            .join(PersonPhone, PersonPhone.person_id == Person.id)
            .where(PersonPhone.number == number)
            .order_by(Person.id)
        )
        with translated("finding a person"), self._sessions() as session:
            return _load_many(session, session.scalars(query).unique().all())

    def search_by_name(self, text: str, *, limit: int = 20) -> list[PersonView]:
        """Persons whose "given family" or "family given" starts with `text`,
        ignoring case and accents."""
        key = search_key(text)
        if not key:
            return []
        pattern = _like_prefix(key)
        query = (
            select(Person)
            .where(
                or_(
                    Person.search_name.like(pattern, escape="\\"),
                    Person.search_family.like(pattern, escape="\\"),
                )
            )
            .order_by(Person.search_family, Person.id)
            .limit(max(1, min(limit, 200)))
        )
        with translated("searching persons"), self._sessions() as session:
            return _load_many(session, session.scalars(query).all())

    # -------------------------------------------------------------- helpers

    def _phone(self, raw: str) -> str:
        number = normalise_number(raw, self._phone_region)
        if number is None:
            raise InvalidValueError("not a valid phone number")
        return number

    @staticmethod
    def _document(
        document_type: DocumentType | str | None, number: str | None
    ) -> tuple[DocumentType | None, str | None]:
        if document_type is None and number is None:
            return None, None
        if document_type is None or number is None:
            raise InvalidValueError("a document needs both its type and its number")
        kind = parse_enum(DocumentType, str(document_type), "document type")
        return kind, normalise_document(kind, number)

    @staticmethod
    def _require(granted: set[ConsentCategory], category: ConsentCategory, has: bool) -> None:
        if has and category not in granted:
            raise ConsentRequiredError(f"no consent to keep {category.value} data")

    @staticmethod
    def _consented(session: Session, person_id: int, category: ConsentCategory) -> Person:
        person = _person(session, person_id)
        consent = session.get(PersonConsent, (person_id, category.value))
        if consent is None or not consent.granted:
            raise ConsentRequiredError(f"no consent to keep {category.value} data")
        return person


_CATEGORY_TABLES: Mapping[
    ConsentCategory,
    tuple[type[PersonPhone] | type[PersonEmail] | type[PersonAddress] | type[PersonDocument], ...],
] = {
    ConsentCategory.IDENTIFICATION: (),
    ConsentCategory.CONTACT: (PersonPhone, PersonEmail),
    ConsentCategory.ADDRESS: (PersonAddress,),
    ConsentCategory.DOCUMENTS: (PersonDocument,),
    ConsentCategory.NOTICE_EMAIL: (),
    ConsentCategory.NOTICE_SMS: (),
}


def _email(raw: str) -> str:
    value = raw.strip()
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise InvalidValueError("not a valid email address")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def _address_row(person_id: int, address: AddressInput) -> PersonAddress:
    return PersonAddress(
        person_id=person_id,
        street=_text(address.street, "street", 500, required=True),
        locality=_text(address.locality, "locality", 120),
        department=_text(address.department, "department", 60),
        postal_code=_text(address.postal_code, "postal code", 16),
        label=_text(address.label, "label", 32),
    )


def _document_row(person_id: int, document: DocumentInput) -> PersonDocument:
    return PersonDocument(
        person_id=person_id,
        kind=_text(document.kind, "document kind", 64, required=True),
        reference=_text(document.reference, "document reference", 120),
        notes=document.notes,
    )


def _person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFoundError(f"no person {person_id}")
    return person


def _load(session: Session, person: Person) -> PersonView:
    return _load_many(session, [person])[0]


def _load_many(session: Session, persons: Sequence[Person]) -> list[PersonView]:
    """Views of `persons` in five queries whatever their number.

    Values of a category without consent are never shown (they are not stored
    either: this guards rows written around the service).
    """
    if not persons:
        return []
    ids = [person.id for person in persons]
    known = {category.value for category in ConsentCategory}
    consents: dict[int, dict[ConsentCategory, bool]] = {pid: {} for pid in ids}
    for row in session.scalars(select(PersonConsent).where(PersonConsent.person_id.in_(ids))):
        if row.category in known:
            consents[row.person_id][ConsentCategory(row.category)] = row.granted

    def rows_of(
        model: type[PersonPhone] | type[PersonEmail] | type[PersonAddress] | type[PersonDocument],
        category: ConsentCategory,
    ) -> dict[int, list[Any]]:
        allowed = [pid for pid in ids if consents[pid].get(category, False)]
        found: dict[int, list[Any]] = {pid: [] for pid in ids}
        if allowed:
            query = select(model).where(model.person_id.in_(allowed)).order_by(model.id)
            rows: Sequence[Any] = session.scalars(query).all()
            for row in rows:
                found[row.person_id].append(row)
        return found

    phones = rows_of(PersonPhone, ConsentCategory.CONTACT)
    emails = rows_of(PersonEmail, ConsentCategory.CONTACT)
    addresses = rows_of(PersonAddress, ConsentCategory.ADDRESS)
    documents = rows_of(PersonDocument, ConsentCategory.DOCUMENTS)
    return [
        PersonView(
            id=person.id,
            document_type=None
            if person.document_type is None
            else DocumentType(person.document_type),
            document_number=person.document_number,
            given_names=person.given_names,
            family_names=person.family_names,
            consents=consents[person.id],
            phones=tuple(PhoneView(p.number, p.label) for p in phones[person.id]),
            emails=tuple(EmailView(e.address, e.label) for e in emails[person.id]),
            addresses=tuple(
                AddressInput(a.street, a.locality, a.department, a.postal_code, a.label)
                for a in addresses[person.id]
            ),
            documents=tuple(
                DocumentInput(d.kind, d.reference, d.notes) for d in documents[person.id]
            ),
        )
        for person in persons
    ]
