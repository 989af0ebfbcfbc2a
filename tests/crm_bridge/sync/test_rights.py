"""The person's rights (Ley 18.331): access, rectification, deletion, each audited
and each propagated to the CRM through the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from crm_bridge.attentions import AttentionRepository
from crm_bridge.exceptions import ConsentRequiredError, NotFoundError
from crm_bridge.models import (
    Attention,
    AttentionWrapup,
    AuditEntry,
    Organism,
    RightsRequest,
    Ticket,
    TicketEvent,
    TicketResponse,
    User,
)
from crm_bridge.persons import PersonRegistry
from crm_bridge.sync.adapter import attention_key, person_key
from crm_bridge.sync.jobs import CrmSync
from crm_bridge.sync.outbox import Entity, OutboxRelay, OutboxStore, add_rows
from crm_bridge.sync.rights import ERASED_TEXT, PersonRights
from crm_bridge.sync.testing import FakeVtiger
from crm_bridge.sync.vtiger import VtigerAdapter
from crm_bridge.sync.worker import InProcessRunner
from tests.crm_bridge.conftest import SYSTEM, make_record

from .conftest import wait_for

CEDULA = "1.234.567-2"


@pytest.fixture
def runner(engine: Engine, vtiger: VtigerAdapter) -> Iterator[OutboxRelay]:
    """An in-process sync; yields the relay, whose relay_once hands rows over."""
    worker = InProcessRunner(CrmSync(engine, vtiger), retry_intervals=[0.2] * 5)
    worker.start()
    yield OutboxRelay(engine, worker, stale_after=0)
    worker.stop()


def _sync(engine: Engine, relay: OutboxRelay) -> None:
    relay.relay_once()
    store = OutboxStore(engine)
    wait_for(lambda: store.pending() == 0, what="the outbox to drain")


def _setup(engine: Engine) -> tuple[int, int, int]:
    """A person with contact data, one call of theirs, one ticket answered by email."""
    with Session(engine) as session, session.begin():
        officer = User(username="oficial", display_name="Oficial de datos", role="admin")
        organism = Organism(code="MSP", name="Ministerio de Salud Pública")
        session.add_all([officer, organism])
        session.flush()
        officer_id, organism_id = officer.id, organism.id
    persons = PersonRegistry(engine)
    person = persons.register(
        given_names="Maria",
        family_names="Pérez",
        consents=["identificacion", "contacto"],
        document_type="ci",
        document_number=CEDULA,
        phones=["099123456"],
        emails=["maria@example.com.uy"],
    )
    AttentionRepository(engine, outbox=True).upsert_records([make_record("1763971200.1")])
    assert persons.link_attention(SYSTEM, "1763971200.1", person.id)
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        ticket = Ticket(
            number="2026-000001",
            channel="telefono",
            request_type="consulta",
            topic="Carné de vacunas",
            description="Pide duplicado",
            status="respondida",
            person_id=person.id,
            organism_id=organism_id,
            created_at=now,
            updated_at=now,
        )
        session.add(ticket)
        session.flush()
        session.add(
            TicketResponse(
                ticket_id=ticket.id,
                channel="email",
                destination="maria@example.com.uy",
                body="Puede retirarlo en la policlínica.",
                sent_at=now,
                delivered=True,
            )
        )
    return person.id, officer_id, organism_id


def _audit(engine: Engine, person_id: int) -> list[tuple[str, int | None, dict[str, object]]]:
    with Session(engine) as session:
        rows = session.scalars(
            select(RightsRequest)
            .where(RightsRequest.person_id == person_id)
            .order_by(RightsRequest.id)
        ).all()
        return [(r.kind, r.actor_id, r.details) for r in rows]


def test_export_holds_everything_on_the_person_and_is_audited(engine: Engine) -> None:
    person_id, officer, _ = _setup(engine)
    with Session(engine) as session, session.begin():
        seen = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
        session.add(
            AuditEntry(
                at=seen, actor_id=officer, action="person.read", person_id=person_id, details={}
            )
        )
    data = PersonRights(engine).export(person_id, actor_id=officer)
    assert [(a["action"], a["actor_id"]) for a in data["audit"]] == [("person.read", officer)]
    assert data["person"]["document_number"] == "12345672"
    assert [p["number"] for p in data["person"]["phones"]] == ["+59899123456"]
    assert [e["address"] for e in data["person"]["emails"]] == ["maria@example.com.uy"]
    assert {c["category"]: c["granted"] for c in data["person"]["consents"]}["contacto"] is True
    [call] = data["attentions"]
    assert (call["linkedid"], call["caller_number"]) == ("1763971200.1", "+59899123456")
    [ticket] = data["tickets"]
    assert ticket["number"] == "2026-000001"
    assert [r["destination"] for r in ticket["responses"]] == ["maria@example.com.uy"]
    assert _audit(engine, person_id) == [
        ("acceso", officer, {"attentions": 1, "tickets": 1, "crm_copies": 0})
    ]
    # The second export lists the first request.
    again = PersonRights(engine).export(person_id, actor_id=officer)
    assert [r["kind"] for r in again["rights_requests"]] == ["acceso"]


def test_rectification_reaches_the_crm_and_the_audit_names_fields_only(
    engine: Engine, crm: FakeVtiger, runner: OutboxRelay
) -> None:
    person_id, officer, _ = _setup(engine)
    _sync(engine, runner)  # the call, and with it the person's contact
    [contact] = crm.records_where("Contacts", "cf_atiende_key", person_key(person_id))
    assert contact["firstname"] == "Maria"
    changed = PersonRights(engine).rectify(
        person_id, actor_id=officer, given_names="María", phones=["094555666"]
    )
    assert changed == ["given_names", "phones"]
    _sync(engine, runner)
    [contact] = crm.records_where("Contacts", "cf_atiende_key", person_key(person_id))
    assert (contact["firstname"], contact["phone"]) == ("María", "+59894555666")
    assert crm.creates["Contacts"] == 1
    [(kind, actor, details)] = _audit(engine, person_id)
    assert (kind, actor, details) == ("rectificacion", officer, {"fields": changed})


def test_rectifying_contact_data_without_consent_is_refused(engine: Engine) -> None:
    person = PersonRegistry(engine).register(
        given_names="Juan", family_names="Rodríguez", consents=["identificacion"]
    )
    with pytest.raises(ConsentRequiredError):
        PersonRights(engine).rectify(person.id, actor_id=None, phones=["099000111"])
    assert _audit(engine, person.id) == []


def test_deletion_erases_the_person_anonymises_calls_and_reaches_the_crm(
    engine: Engine, crm: FakeVtiger, runner: OutboxRelay
) -> None:
    person_id, officer, _ = _setup(engine)
    # Her call's wrap-up and her ticket reach vTiger (a ModComments note, a HelpDesk ticket).
    with Session(engine) as session, session.begin():
        at = datetime(2026, 11, 24, 9, 5, tzinfo=UTC)
        wrapup = AttentionWrapup(
            system=SYSTEM,
            linkedid="1763971200.1",
            attention_type="consulta",
            notes="María pide el duplicado del carné, cédula 1.234.567-2",
            resolution="derivada",
            person_id=person_id,
            wrapup_started_at=at,
            wrapup_ended_at=at,
        )
        session.add(wrapup)
        session.flush()
        add_rows(session, Entity.WRAPUP, [wrapup.id])
        add_rows(session, Entity.TICKET, session.scalars(select(Ticket.id)).all())
    _sync(engine, runner)
    assert crm.creates == {
        "Users": 0,
        "Contacts": 1,
        "PBXManager": 1,
        "Calendar": 0,
        "HelpDesk": 1,
        "ModComments": 1,
    }
    [note] = crm.records["ModComments"].values()
    [helpdesk] = crm.records["HelpDesk"].values()
    assert "cédula 1.234.567-2" in note["commentcontent"]
    assert "Pide duplicado" in helpdesk["description"]
    assert helpdesk["contact_id"] in crm.records["Contacts"]
    result = PersonRights(engine).erase(person_id, actor_id=officer)
    assert (result.attentions_anonymised, result.tickets_unlinked) == (1, 1)
    _sync(engine, runner)
    assert crm.records["Contacts"] == {}
    # Ley 18.331: what vTiger holds of her is anonymised in place, the figures stay.
    assert "1.234.567-2" not in note["commentcontent"]
    assert "Tipo: Consulta" in note["commentcontent"]
    assert "Pide duplicado" not in helpdesk["description"]
    assert ERASED_TEXT in helpdesk["description"]
    assert helpdesk["contact_id"] == ""
    assert (crm.creates["ModComments"], crm.creates["HelpDesk"]) == (1, 1)
    [call] = crm.records_where("PBXManager", "sourceuuid", attention_key(SYSTEM, "1763971200.1"))
    assert (call["customernumber"], call["customer"]) == ("", "")
    assert crm.creates["PBXManager"] == 1
    with Session(engine) as session:
        attention = session.scalars(select(Attention)).one()
        assert (attention.caller_number_raw, attention.caller_number, attention.caller_name) == (
            "",
            None,
            "",
        )
        assert attention.person_id is None and attention.variables == {}
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.person_id is None
        assert session.scalars(select(TicketResponse.destination)).one() == ""
    assert PersonRegistry(engine).get(person_id) is None
    with pytest.raises(NotFoundError):
        PersonRights(engine).export(person_id, actor_id=officer)
    assert _audit(engine, person_id) == [
        (
            "supresion",
            officer,
            {"attentions_anonymised": 1, "tickets_unlinked": 1, "wrapups_cleared": 1},
        )
    ]


def test_deletion_erases_every_trace_and_a_replayed_call_does_not_restore_it(
    engine: Engine, crm: FakeVtiger, runner: OutboxRelay
) -> None:
    """Issue 11: erasure left the number and name on calls not linked to the
    person, and ticket descriptions, notes, responses and wrap-up notes."""
    person_id, officer, _ = _setup(engine)
    repository = AttentionRepository(engine, outbox=True)
    # Two more calls from her number, never linked to her; one wrapped up with notes.
    unlinked = [make_record("1763971300.1"), make_record("1763971400.1")]
    stranger = make_record("1763971500.1", caller_number="098777666", caller_name="Otro Señor")
    # Her husband calls from the same line; his call is linked to him.
    husband = make_record("1763971600.1", caller_name="Pedro Pérez")
    repository.upsert_records([*unlinked, stranger, husband])
    pedro = PersonRegistry(engine).register(
        given_names="Pedro", family_names="Pérez", consents=["identificacion"]
    )
    assert PersonRegistry(engine).link_attention(SYSTEM, "1763971600.1", pedro.id)
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        session.add(
            AttentionWrapup(
                system=SYSTEM,
                linkedid="1763971300.1",
                notes="María Pérez, cédula 1.234.567-2, pide turno",
                resolution="resuelta",
                wrapup_started_at=now,
                wrapup_ended_at=now,
            )
        )
        session.add(
            AttentionWrapup(
                system=SYSTEM,
                linkedid="1763971500.1",
                notes="Otro asunto",
                resolution="resuelta",
                wrapup_started_at=now,
                wrapup_ended_at=now,
            )
        )
        ticket = session.scalars(select(Ticket)).one()
        session.add(
            TicketEvent(ticket_id=ticket.id, at=now, action="nota", notes="Llamó María otra vez")
        )
    _sync(engine, runner)
    # Access shows what erasure will erase: her calls, linked or from her number.
    exported = PersonRights(engine).export(person_id, actor_id=officer)
    assert [a["linkedid"] for a in exported["attentions"]] == [
        "1763971200.1",
        "1763971300.1",
        "1763971400.1",
    ]
    result = PersonRights(engine).erase(person_id, actor_id=officer)
    assert (result.attentions_anonymised, result.tickets_unlinked) == (3, 1)
    assert result.wrapups_cleared == 1
    # A late replay of her calls (bridge restart, resync) brings her data back in the record.
    repository.upsert_records([make_record("1763971200.1"), *unlinked])
    _sync(engine, runner)
    with Session(engine) as session:
        calls = {a.linkedid: a for a in session.scalars(select(Attention))}
        for linkedid in ("1763971200.1", "1763971300.1", "1763971400.1"):
            call = calls[linkedid]
            assert (call.caller_number_raw, call.caller_number, call.caller_name) == ("", None, "")
            assert call.variables == {} and call.erased_at is not None
            assert call.outcome == "answered"  # the figures stay
        assert calls["1763971500.1"].caller_name == "Otro Señor"  # a stranger's call is kept
        assert (calls["1763971600.1"].caller_name, calls["1763971600.1"].person_id) == (
            "Pedro Pérez",
            pedro.id,
        )
        notes = dict(session.execute(select(AttentionWrapup.linkedid, AttentionWrapup.notes)).all())
        assert notes == {"1763971300.1": None, "1763971500.1": "Otro asunto"}
        ticket = session.scalars(select(Ticket)).one()
        assert (ticket.description, ticket.topic) == (ERASED_TEXT, "Carné de vacunas")
        assert set(session.scalars(select(TicketEvent.notes))) == {ERASED_TEXT}
        assert session.scalars(select(TicketResponse.body)).one() == ERASED_TEXT
    for linkedid in ("1763971300.1", "1763971400.1"):
        [copy] = crm.records_where("PBXManager", "sourceuuid", attention_key(SYSTEM, linkedid))
        assert (copy["customernumber"], copy["customer"]) == ("", "")
