"""Wrap-ups (notes on the call) and tickets (HelpDesk) reach vTiger through the
same outbox as contacts and calls, idempotently.

The adapter against the fake vTiger first, then end to end on PostgreSQL: a
wrap-up finished and a ticket opened through ORM sessions (what the panel's
WrapupStore and TicketService do) get outbox rows in their transaction, the
sync sends them once, and redeliveries or a job killed before it stored the
CRM id create nothing new.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from crm_bridge.attentions import AttentionRepository
from crm_bridge.models import (
    Attention,
    AttentionWrapup,
    CatalogTopic,
    CrmLink,
    Organism,
    Ticket,
    Unit,
    User,
)
from crm_bridge.persons import PersonRegistry
from crm_bridge.sync.adapter import (
    AttentionData,
    TicketData,
    WrapupData,
    attention_key,
    ticket_key,
    wrapup_key,
)
from crm_bridge.sync.jobs import CrmSync
from crm_bridge.sync.outbox import Entity, OutboxStore, add_rows, track_changes
from crm_bridge.sync.rights import ERASED_TEXT, PersonRights
from crm_bridge.sync.testing import FakeVtiger, WebhookReceiver
from crm_bridge.sync.vtiger import VtigerAdapter
from crm_bridge.sync.webhook import WebhookAdapter
from tests.crm_bridge.conftest import SYSTEM, make_record

from .conftest import ACCESS_KEY, WEBHOOK_SECRET

AT = datetime(2026, 11, 24, 8, 5, tzinfo=UTC)


def _call(crm_vtiger: VtigerAdapter) -> str:
    return crm_vtiger.sync_attention(
        AttentionData(
            external_key=attention_key("pbx", "1.1"),
            channel="telefonico",
            caller_number=None,
            arrived_at=AT - timedelta(minutes=5),
            answered_at=AT - timedelta(minutes=4),
            ended_at=AT,
            queue="consultas",
            agent="Ana Gómez",
            outcome="answered",
            wait_seconds=60.0,
            talk_seconds=180.0,
        ),
        None,
    )


def _wrapup(call_id: str, notes: str = "Se le explicó el trámite.") -> WrapupData:
    return WrapupData(
        external_key=wrapup_key("pbx", "1.1"),
        call_crm_id=call_id,
        attention_type="queja",
        resolution="derivada",
        topic="Pasaporte",
        notes=notes,
        ticket_number="2026-000012",
        follow_up_at=None,
        agent="Ana Gómez",
        wrapped_up_at=AT,
    )


TICKET = TicketData(
    external_key=ticket_key("2026-000012"),
    number="2026-000012",
    request_type="queja",
    status="derivada",
    channel="telefonico",
    topic="Pasaporte",
    description="Demora en la entrega del pasaporte.",
    organism="DNIC Identificación Civil",
    unit="PAS Pasaportes",
    created_at=AT,
    due_at=AT + timedelta(days=5),
    responded_at=None,
    closed_at=None,
)


# ------------------------------------------------------------------ adapter


def test_a_wrapup_is_a_comment_on_the_call_and_a_retry_finds_it(
    crm: FakeVtiger, vtiger: VtigerAdapter
) -> None:
    call_id = _call(vtiger)
    note_id = vtiger.sync_wrapup(_wrapup(call_id), None)
    note = crm.records["ModComments"][note_id]
    assert note_id.startswith("31x") and note["related_to"] == call_id
    text = note["commentcontent"]
    assert "Tipo: Queja" in text and "Resolución: Derivada a una solicitud" in text
    assert "Solicitud: 2026-000012" in text and "Se le explicó el trámite." in text
    assert text.endswith(f"Ref.: {wrapup_key('pbx', '1.1')}")
    # The job died after the create: no stored id, the key in the note finds it.
    assert vtiger.sync_wrapup(_wrapup(call_id, "Corregido."), None) == note_id
    # A known id updates in place.
    assert vtiger.sync_wrapup(_wrapup(call_id, "Otra vez."), note_id) == note_id
    assert crm.creates["ModComments"] == 1
    assert "Otra vez." in crm.records["ModComments"][note_id]["commentcontent"]
    # A note deleted in the CRM is written again.
    crm.records["ModComments"].clear()
    assert vtiger.sync_wrapup(_wrapup(call_id), note_id) != note_id
    assert crm.creates["ModComments"] == 2


def test_a_wrapup_can_go_to_the_call_records_description(crm: FakeVtiger) -> None:
    adapter = VtigerAdapter(crm.url, "admin", ACCESS_KEY, wrapup_mode="description", timeout=1.5)
    call_id = _call(adapter)
    assert adapter.sync_wrapup(_wrapup(call_id), None) == call_id
    assert adapter.sync_wrapup(_wrapup(call_id), call_id) == call_id
    assert "Tipo: Queja" in crm.records["PBXManager"][call_id]["description"]
    assert crm.creates["ModComments"] == 0 and crm.creates["PBXManager"] == 1


def test_a_comment_on_a_call_the_crm_lost_is_refused_clearly(vtiger: VtigerAdapter) -> None:
    from crm_bridge.sync.adapter import CrmRejectedError

    with pytest.raises(CrmRejectedError, match="INVALID_PARAMETER"):
        vtiger.sync_wrapup(_wrapup("44x999"), None)


def test_tickets_are_helpdesk_records_keyed_by_number(
    crm: FakeVtiger, vtiger: VtigerAdapter
) -> None:
    ticket_id = vtiger.sync_ticket(TICKET, None)
    record = crm.records["HelpDesk"][ticket_id]
    assert ticket_id.startswith("17x")
    assert record["ticket_title"] == "2026-000012 · Pasaporte"
    assert record["ticketstatus"] == "In Progress"  # derivada
    assert record["cf_atiende_key"] == "atiende-ticket-2026-000012"
    assert "Unidad: PAS Pasaportes" in record["description"]
    assert "Demora en la entrega" in record["description"]
    closed = dataclasses.replace(TICKET, status="cerrada", closed_at=AT)
    # No stored id: found by the key field, revised, not created again.
    assert vtiger.sync_ticket(closed, None) == ticket_id
    assert crm.records["HelpDesk"][ticket_id]["ticketstatus"] == "Closed"
    assert crm.creates["HelpDesk"] == 1


# --------------------------------------------------------------- end to end


@pytest.fixture
def tracked(engine: Engine) -> Iterator[Engine]:
    stop = track_changes(engine)
    yield engine
    stop()


def _seed(engine: Engine) -> tuple[int, int]:
    """An answered call, with its agent, topic and organism; (user id, topic id)."""
    AttentionRepository(engine, outbox=True).upsert_records([make_record("5.1")])
    with Session(engine) as session, session.begin():
        dnic = Organism(code="DNIC", name="Identificación Civil", active=True)
        session.add(dnic)
        session.flush()
        unit = Unit(organism_id=dnic.id, code="PAS", name="Pasaportes", active=True)
        ana = User(username="ana", display_name="Ana Gómez", role="ejecutivo", active=True)
        session.add_all([unit, ana])
        session.flush()
        topic = CatalogTopic(
            code="PAS", name="Pasaporte", kind="tramite", organism_id=dnic.id, unit_id=unit.id
        )
        session.add(topic)
        session.flush()
        return ana.id, topic.id


def _finish(engine: Engine, user_id: int, topic_id: int) -> None:
    """What the panel does: the wrap-up opened at the call's end, then finished
    with a derivation that opens a ticket, in one transaction."""
    with Session(engine) as session, session.begin():
        session.add(
            AttentionWrapup(
                system=SYSTEM,
                linkedid="5.1",
                agent_user_id=user_id,
                wrapup_started_at=AT,
            )
        )
    with Session(engine) as session, session.begin():
        organism_id = session.scalar(select(Organism.id))
        unit_id = session.scalar(select(Unit.id))
        session.add(
            Ticket(
                number="2026-000012",
                channel="telefonico",
                request_type="queja",
                topic="Pasaporte",
                description="Demora en la entrega del pasaporte.",
                status="derivada",
                organism_id=organism_id,
                unit_id=unit_id,
                created_by=user_id,
                attention_system=SYSTEM,
                attention_linkedid="5.1",
                created_at=AT,
                updated_at=AT,
                due_at=AT + timedelta(days=5),
            )
        )
        wrapup = session.scalars(select(AttentionWrapup)).one()
        wrapup.attention_type = "queja"
        wrapup.topic_id = topic_id
        wrapup.notes = "Reclama por la demora."
        wrapup.resolution = "derivada"
        wrapup.ticket_number = "2026-000012"
        wrapup.wrapup_ended_at = AT + timedelta(minutes=1)


def _sync_all(sync: CrmSync) -> None:
    for row in sync.store.rows():
        if row.done_at is None:
            sync.process(row.id)


def test_wrapup_and_ticket_reach_vtiger_once_through_the_outbox(
    tracked: Engine, crm: FakeVtiger, vtiger: VtigerAdapter
) -> None:
    engine = tracked
    user_id, topic_id = _seed(engine)
    store = OutboxStore(engine)
    before = {(r.entity, r.entity_id) for r in store.rows()}
    assert {entity for entity, _ in before} == {Entity.ATTENTION}  # the call
    # An open wrap-up is not news for the CRM: only the finished one is queued.
    _finish(engine, user_id, topic_id)
    rows = [r for r in store.rows() if (r.entity, r.entity_id) not in before]
    assert sorted(r.entity.value for r in rows) == ["ticket", "wrapup"]

    sync = CrmSync(engine, vtiger)
    # The wrap-up first, before the call was ever sent: the call is synced for it.
    wrapup_row = next(r for r in rows if r.entity is Entity.WRAPUP)
    sync.process(wrapup_row.id)
    _sync_all(sync)
    assert crm.creates == {**crm.creates, "PBXManager": 1, "ModComments": 1, "HelpDesk": 1}
    call_id = next(iter(crm.records["PBXManager"]))
    note = next(iter(crm.records["ModComments"].values()))
    assert note["related_to"] == call_id
    assert "Tema: Pasaporte" in note["commentcontent"]
    assert "Agente: Ana Gómez" in note["commentcontent"]
    assert "Reclama por la demora." in note["commentcontent"]
    helpdesk = next(iter(crm.records["HelpDesk"].values()))
    assert helpdesk["ticketstatus"] == "In Progress"
    assert "Unidad: PAS Pasaportes" in helpdesk["description"]

    # Delivered again (at least once), and after a job killed before it
    # stored the CRM ids: the same records, updated, none created.
    with engine.begin() as conn:
        wrapup_id = conn.scalar(select(AttentionWrapup.id))
        ticket_id = conn.scalar(select(Ticket.id))
        conn.execute(delete(CrmLink).where(CrmLink.entity.in_(["wrapup", "ticket"])))
        add_rows(conn, Entity.WRAPUP, [wrapup_id])
        add_rows(conn, Entity.TICKET, [ticket_id])
    _sync_all(sync)
    assert (crm.creates["ModComments"], crm.creates["HelpDesk"]) == (1, 1)

    # The ticket moves on: its change is queued by the same tracker and sent.
    with Session(engine) as session, session.begin():
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.status = "respondida"
        ticket.responded_at = AT + timedelta(days=1)
    _sync_all(sync)
    assert helpdesk["ticketstatus"] == "Wait For Response"
    assert crm.creates["HelpDesk"] == 1
    assert all(r.done_at is not None for r in store.rows())
    with engine.connect() as conn:
        links = set(conn.execute(select(CrmLink.entity)).scalars())
    assert {"attention", "wrapup", "ticket"} <= links


def test_a_wrapup_whose_call_is_not_stored_yet_waits(
    tracked: Engine, vtiger: VtigerAdapter, crm: FakeVtiger
) -> None:
    engine = tracked
    with Session(engine) as session, session.begin():
        session.add(
            AttentionWrapup(
                system=SYSTEM,
                linkedid="9.9",
                attention_type="consulta",
                resolution="resuelta",
                wrapup_started_at=AT,
                wrapup_ended_at=AT,
            )
        )
    sync = CrmSync(engine, vtiger)
    row = OutboxStore(engine).rows()[0]
    with pytest.raises(Exception, match="not stored yet"):
        sync.process(row.id, final_attempt=False)
    assert crm.creates["ModComments"] == 0
    # The call arrives: the retry sends both.
    AttentionRepository(engine).upsert_records([make_record("9.9")])
    assert sync.process(row.id) == "done"
    assert crm.creates["PBXManager"] == 1 and crm.creates["ModComments"] == 1
    with engine.connect() as conn:
        assert conn.scalar(select(Attention.id).where(Attention.linkedid == "9.9")) is not None


def test_the_webhook_sends_wrapups_and_tickets_as_signed_upserts(
    receiver: WebhookReceiver,
) -> None:
    adapter = WebhookAdapter(receiver.url, WEBHOOK_SECRET, timeout=1.5)
    first = adapter.sync_wrapup(_wrapup("call-1"), None)
    again = adapter.sync_wrapup(_wrapup("call-1", "Corregido."), first)
    assert first == again and receiver.bad_signatures == 0
    data = receiver.wrapups[wrapup_key("pbx", "1.1")]
    assert (data["call_id"], data["resolution"], data["notes"]) == (
        "call-1",
        "derivada",
        "Corregido.",
    )
    adapter.sync_ticket(TICKET, None)
    ticket = receiver.tickets[ticket_key("2026-000012")]
    assert (ticket["number"], ticket["status"], ticket["unit"]) == (
        "2026-000012",
        "derivada",
        "PAS Pasaportes",
    )
    assert "wrapup.upsert:" + wrapup_key("pbx", "1.1") in receiver.idempotency_keys


def test_an_erasure_reaches_the_notes_and_tickets_already_in_vtiger(
    tracked: Engine, crm: FakeVtiger, vtiger: VtigerAdapter
) -> None:
    engine = tracked
    user_id, topic_id = _seed(engine)
    person = PersonRegistry(engine).register(
        given_names="María", family_names="Pérez", consents=["identificacion"]
    )
    _finish(engine, user_id, topic_id)
    with Session(engine) as session, session.begin():
        session.scalars(select(AttentionWrapup)).one().person_id = person.id
        session.scalars(select(Ticket)).one().person_id = person.id
    sync = CrmSync(engine, vtiger)
    _sync_all(sync)
    note = next(iter(crm.records["ModComments"].values()))
    helpdesk = next(iter(crm.records["HelpDesk"].values()))
    assert "Reclama por la demora." in note["commentcontent"]
    assert helpdesk["contact_id"] in crm.records["Contacts"]

    PersonRights(engine).erase(person.id, actor_id=None)
    _sync_all(sync)
    assert crm.records["Contacts"] == {}
    assert "Reclama por la demora." not in note["commentcontent"]
    assert "Tipo: Queja" in note["commentcontent"]  # the figures stay
    assert ERASED_TEXT in helpdesk["description"]
    assert "Demora en la entrega" not in helpdesk["description"]
    assert helpdesk["contact_id"] == ""
    assert (crm.creates["ModComments"], crm.creates["HelpDesk"]) == (1, 1)
