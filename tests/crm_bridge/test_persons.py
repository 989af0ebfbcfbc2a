"""The person registry on PostgreSQL and SQLite: lookups, name search and consent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select, text

from citizen.cedula import check_digit
from crm_bridge.db import make_engine
from crm_bridge.exceptions import ConsentRequiredError, InvalidValueError, NotFoundError
from crm_bridge.models import PersonAddress, PersonEmail, PersonPhone
from crm_bridge.persons import (
    AddressInput,
    ConsentCategory,
    DocumentInput,
    DocumentType,
    PersonRegistry,
    search_key,
)
from tests.crm_bridge.citizen_support import empty_store

C = ConsentCategory
ALL = [C.IDENTIFICATION, C.CONTACT, C.ADDRESS, C.DOCUMENTS]


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request: pytest.FixtureRequest) -> Iterator[Engine]:
    fixture = "migrated_postgres_url" if request.param == "postgresql" else "sqlite_url"
    engine = make_engine(request.getfixturevalue(fixture))
    empty_store(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def registry(store: Engine) -> PersonRegistry:
    return PersonRegistry(store)


def count(
    engine: Engine, model: type[PersonPhone] | type[PersonEmail] | type[PersonAddress]
) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def cedula(body: str) -> str:
    return body + str(check_digit(body))


def test_register_and_find_by_cedula_in_any_spelling(registry: PersonRegistry) -> None:
    number = cedula("1234567")  # 1.234.567-2
    person = registry.register(
        given_names="María José",
        family_names="Pérez Núñez",
        consents=[C.IDENTIFICATION],
        document_type=DocumentType.CEDULA,
        document_number=f"1.234.567-{number[-1]}",
    )
    assert person.document_number == number
    assert person.display_name == "María José Pérez Núñez"
    for spelling in [number, f"1.234.567-{number[-1]}", f"1234567-{number[-1]}"]:
        found = registry.find_by_cedula(spelling)
        assert found is not None and found.id == person.id
    short = cedula("987654")  # 6-digit body: stored padded to 7
    other = registry.register(
        given_names="Ana",
        family_names="Gómez",
        consents=[C.IDENTIFICATION],
        document_type="ci",
        document_number=short,
    )
    assert other.document_number == "0" + short
    assert registry.find_by_cedula(short) == other


def test_a_wrong_check_digit_is_refused(registry: PersonRegistry) -> None:
    good = cedula("1234567")
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    with pytest.raises(InvalidValueError, match="check digit"):
        registry.register(
            given_names="X",
            family_names="Y",
            consents=[C.IDENTIFICATION],
            document_type="ci",
            document_number=bad,
        )
    with pytest.raises(InvalidValueError):
        registry.find_by_cedula(bad)


def test_the_same_document_twice_is_refused(registry: PersonRegistry) -> None:
    kwargs = {
        "consents": [C.IDENTIFICATION],
        "document_type": "ci",
        "document_number": cedula("4000001"),
    }
    registry.register(given_names="A", family_names="B", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(Exception, match="refused"):
        registry.register(given_names="C", family_names="D", **kwargs)  # type: ignore[arg-type]


def test_find_by_any_of_the_persons_phones(registry: PersonRegistry) -> None:
    person = registry.register(
        given_names="Ana",
        family_names="Gómez",
        consents=[C.IDENTIFICATION, C.CONTACT],
        phones=["099 123 456", "2901 1234"],
    )
    assert [p.number for p in person.phones] == ["+59899123456", "+59829011234"]
    for spelling in ["099123456", "+598 99 123 456", "29011234"]:
        assert [p.id for p in registry.find_by_phone(spelling)] == [person.id]
    assert registry.find_by_phone("098000000") == []
    assert registry.find_by_phone("anonymous") == []


def test_a_shared_phone_finds_everyone_who_holds_it(registry: PersonRegistry) -> None:
    first = registry.register(
        given_names="Ana",
        family_names="Gómez",
        consents=[C.IDENTIFICATION, C.CONTACT],
        phones=["24001234"],
    )
    second = registry.register(
        given_names="Luis",
        family_names="Gómez",
        consents=[C.IDENTIFICATION, C.CONTACT],
        phones=["2400 1234"],
    )
    assert [p.id for p in registry.find_by_phone("24001234")] == [first.id, second.id]


def test_name_search_ignores_case_and_accents_and_matches_prefixes(
    registry: PersonRegistry,
) -> None:
    maria = registry.register(
        given_names="María", family_names="Pérez", consents=[C.IDENTIFICATION]
    )
    jose = registry.register(
        given_names="José", family_names="Peralta", consents=[C.IDENTIFICATION]
    )
    registry.register(given_names="Ñandú", family_names="Zoë", consents=[C.IDENTIFICATION])

    def ids(query: str) -> set[int]:
        return {p.id for p in registry.search_by_name(query)}

    assert ids("PER") == {maria.id, jose.id}  # family name first
    assert ids("pér") == {maria.id, jose.id}
    assert ids("maria") == {maria.id}
    assert ids("MARÍA PE") == {maria.id}  # given then family
    assert ids("perez mar") == {maria.id}  # family then given
    assert ids("nandu") and ids("zoe") == ids("nandu")
    assert ids("erez") == set()  # prefix, not substring
    assert ids("%") == set() and ids("_") == set()  # LIKE wildcards are literal
    assert ids("   ") == set()


def test_search_key() -> None:
    assert search_key("  María   JOSÉ  Ñandú ") == "maria jose nandu"


def test_values_without_consent_are_refused_and_nothing_is_stored(
    registry: PersonRegistry, store: Engine
) -> None:
    with pytest.raises(ConsentRequiredError, match="contacto"):
        registry.register(
            given_names="Ana", family_names="G", consents=[C.IDENTIFICATION], phones=["099123456"]
        )
    with pytest.raises(ConsentRequiredError, match="domicilio"):
        registry.register(
            given_names="Ana",
            family_names="G",
            consents=[C.IDENTIFICATION, C.CONTACT],
            addresses=[AddressInput("Av. 18 de Julio 1234")],
        )
    with pytest.raises(ConsentRequiredError, match="identificacion"):
        registry.register(given_names="Ana", family_names="G", consents=[C.CONTACT])
    assert registry.search_by_name("ana") == []
    assert count(store, PersonPhone) == 0 and count(store, PersonAddress) == 0

    person = registry.register(given_names="Ana", family_names="G", consents=[C.IDENTIFICATION])
    with pytest.raises(ConsentRequiredError):
        registry.add_phone(person.id, "099123456")
    with pytest.raises(ConsentRequiredError):
        registry.add_email(person.id, "ana@example.org")
    with pytest.raises(ConsentRequiredError):
        registry.add_document(person.id, DocumentInput("pasaporte", "C1234567"))
    assert count(store, PersonPhone) == 0 and count(store, PersonEmail) == 0


def test_granting_then_withdrawing_consent_erases_the_category(
    registry: PersonRegistry, store: Engine
) -> None:
    person = registry.register(given_names="Ana", family_names="G", consents=[C.IDENTIFICATION])
    registry.set_consent(person.id, C.CONTACT, True)
    registry.add_phone(person.id, "099123456", "móvil")
    registry.add_email(person.id, "Ana@Example.ORG")
    registry.set_consent(person.id, C.ADDRESS, True)
    view = registry.add_address(person.id, AddressInput("Av. 18 de Julio 1234", "Montevideo"))
    assert view.phones[0].number == "+59899123456" and view.phones[0].label == "móvil"
    assert view.emails[0].address == "Ana@example.org"
    assert view.addresses[0].locality == "Montevideo"
    assert view.consents_to(C.CONTACT) and not view.consents_to(C.DOCUMENTS)

    after = registry.set_consent(person.id, C.CONTACT, False)
    assert after.phones == () and after.emails == () and not after.consents_to(C.CONTACT)
    assert count(store, PersonPhone) == 0 and count(store, PersonEmail) == 0
    assert count(store, PersonAddress) == 1  # other categories stay
    assert registry.find_by_phone("099123456") == []
    with pytest.raises(ConsentRequiredError):
        registry.add_phone(person.id, "099123456")


def test_identification_cannot_be_withdrawn_here(registry: PersonRegistry) -> None:
    person = registry.register(given_names="Ana", family_names="G", consents=ALL)
    with pytest.raises(InvalidValueError, match="rights request"):
        registry.set_consent(person.id, C.IDENTIFICATION, False)


def test_bad_values_and_unknown_persons(registry: PersonRegistry) -> None:
    person = registry.register(given_names="Ana", family_names="G", consents=ALL)
    with pytest.raises(InvalidValueError):
        registry.add_phone(person.id, "not a number")
    with pytest.raises(InvalidValueError):
        registry.add_email(person.id, "ana at example")
    with pytest.raises(InvalidValueError, match="consent category"):
        registry.set_consent(person.id, "salud", True)
    with pytest.raises(NotFoundError):
        registry.add_phone(person.id + 1000, "099123456")
    with pytest.raises(InvalidValueError):
        registry.register(given_names="  ", family_names="G", consents=ALL)
    assert registry.get(person.id + 1000) is None


def test_rename_updates_the_search(registry: PersonRegistry) -> None:
    person = registry.register(given_names="Ana", family_names="G", consents=ALL)
    registry.rename(person.id, "Ana Inés", "Rodríguez")
    assert [p.id for p in registry.search_by_name("rodriguez ana i")] == [person.id]


def test_postgresql_prefix_search_can_use_the_name_indexes(
    migrated_postgres_url: str,
) -> None:
    engine = make_engine(migrated_postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(
                conn.execute(
                    text(
                        # The registry's predicate: a prefix with the escape it uses.
                        "EXPLAIN SELECT id FROM persons WHERE search_name LIKE 'mar%' ESCAPE '\\'"
                        " OR search_family LIKE 'mar%' ESCAPE '\\'"
                    )
                ).scalars()
            )
    finally:
        engine.dispose()
    assert "ix_persons_search_name" in plan and "ix_persons_search_family" in plan


def test_a_search_shows_each_person_only_their_consented_values(registry: PersonRegistry) -> None:
    with_contact = registry.register(
        given_names="Ana",
        family_names="Silva",
        consents=[C.IDENTIFICATION, C.CONTACT],
        phones=["099111222"],
        emails=["ana@example.org"],
    )
    with_address = registry.register(
        given_names="Ana",
        family_names="Sosa",
        consents=[C.IDENTIFICATION, C.ADDRESS],
        addresses=[AddressInput("Rambla 1", "Montevideo")],
    )
    bare = registry.register(given_names="Ana", family_names="Suárez", consents=[C.IDENTIFICATION])
    found = {p.id: p for p in registry.search_by_name("ana s")}
    assert set(found) == {with_contact.id, with_address.id, bare.id}
    assert [p.number for p in found[with_contact.id].phones] == ["+59899111222"]
    assert [e.address for e in found[with_contact.id].emails] == ["ana@example.org"]
    assert found[with_contact.id].addresses == ()
    assert [a.street for a in found[with_address.id].addresses] == ["Rambla 1"]
    assert found[with_address.id].phones == ()
    assert found[bare.id].phones == () and found[bare.id].addresses == ()
    assert found[bare.id].consents == {
        C.IDENTIFICATION: True,
        C.CONTACT: False,
        C.ADDRESS: False,
        C.DOCUMENTS: False,
        C.NOTICE_EMAIL: False,
        C.NOTICE_SMS: False,
    }
