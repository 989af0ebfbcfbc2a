"""Non-phone attentions (walk-in, email, web) in the same store as calls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select

from citizen.channels import Channel, channel_label, parse_channel
from crm_bridge.attentions import AttentionRepository
from crm_bridge.contacts import POINT_VARIABLE, ContactAttentions
from crm_bridge.db import make_engine, upgrade
from crm_bridge.exceptions import InvalidValueError, NotFoundError
from crm_bridge.history import PersonHistory
from crm_bridge.models import Attention, CrmOutbox, Organism, QueueHourTally, Ticket
from crm_bridge.organisms import Directory
from crm_bridge.persons import ConsentCategory, PersonRegistry
from crm_bridge.sla import office_hours
from crm_bridge.tickets import TicketService
from dashboards import kpi, report_rollup
from telephony.domain import CallKey, CallRecord, HangupSide, Outcome, QueueLeg
from tests.crm_bridge.citizen_support import empty_store

START = dt.datetime(2026, 11, 2, 13, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request: pytest.FixtureRequest) -> Iterator[Engine]:
    fixture = "migrated_postgres_url" if request.param == "postgresql" else "sqlite_url"
    engine = make_engine(request.getfixturevalue(fixture))
    empty_store(engine)
    yield engine
    engine.dispose()


def test_channel_vocabulary_accepts_accents_and_old_names() -> None:
    assert parse_channel("Telefónico") is Channel.TELEFONICO
    assert parse_channel("phone") is Channel.TELEFONICO
    assert parse_channel(" EMAIL ") is Channel.CORREO
    assert parse_channel("presencial") is Channel.PRESENCIAL
    with pytest.raises(ValueError):
        parse_channel("fax")
    assert channel_label("correo") == "Correo electrónico"
    assert channel_label("fax") == "fax"


def test_a_walk_in_is_an_attention_with_the_person_history_and_times(store: Engine) -> None:
    registry = PersonRegistry(store)
    maria = registry.register(
        given_names="María", family_names="Pérez", consents=[ConsentCategory.IDENTIFICATION]
    )
    contacts = ContactAttentions(store, outbox=True)
    key = contacts.open(
        Channel.PRESENCIAL,
        arrived_at=START,
        person_id=maria.id,
        variables={POINT_VARIABLE: "centro"},
    )
    assert key.system == "atiende:presencial" and len(key.linkedid) == 32
    contacts.answer(key, agent="ana", at=START + dt.timedelta(minutes=7))
    contacts.close(key, at=START + dt.timedelta(minutes=19))
    contacts.close(key, at=START + dt.timedelta(hours=5))  # a retried close changes nothing

    with store.connect() as conn:
        row = conn.execute(select(Attention)).one()
        outbox = conn.execute(select(func.count()).select_from(CrmOutbox)).scalar_one()
    assert row.channel == "presencial" and row.outcome == "answered"
    assert row.wait_seconds == pytest.approx(7 * 60)
    assert row.talk_seconds == pytest.approx(12 * 60)
    assert row.agent == "ana" and row.agents == ["ana"]
    assert row.legs == [] and row.queue is None  # phone queue figures never see it
    assert row.variables == {POINT_VARIABLE: "centro"}
    assert outbox == 1  # closed once, synced once
    [entry] = PersonHistory(store).page(maria.id).entries
    assert entry.channel == "presencial" and entry.reference == key.linkedid


def test_a_no_show_is_abandoned_with_its_wait(store: Engine) -> None:
    contacts = ContactAttentions(store)
    key = contacts.open(Channel.PRESENCIAL, arrived_at=START)
    contacts.close(key, at=START + dt.timedelta(minutes=30), outcome=Outcome.ABANDONED)
    with store.connect() as conn:
        row = conn.execute(select(Attention)).one()
    assert row.outcome == "abandoned" and row.wait_seconds == pytest.approx(1800)
    assert row.answered_at is None and row.talk_seconds is None


def test_contacts_refuse_what_they_cannot_record(store: Engine) -> None:
    contacts = ContactAttentions(store)
    with pytest.raises(InvalidValueError):
        contacts.open(Channel.TELEFONICO, arrived_at=START)
    with pytest.raises(InvalidValueError):
        contacts.open(Channel.WEB, arrived_at=START.replace(tzinfo=None))
    key = contacts.open(Channel.WEB, arrived_at=START)
    with pytest.raises(InvalidValueError):
        contacts.close(key, at=START, outcome=Outcome.IN_PROGRESS)
    with pytest.raises(NotFoundError):
        contacts.answer(CallKey("atiende:web", "nope"), agent="ana", at=START)


def test_a_ticket_from_a_walk_in_belongs_to_its_person(store: Engine) -> None:
    registry = PersonRegistry(store)
    maria = registry.register(
        given_names="María", family_names="Pérez", consents=[ConsentCategory.IDENTIFICATION]
    )
    org = Directory(store).create_organism("BPS", "BPS")
    key = ContactAttentions(store).open(Channel.PRESENCIAL, arrived_at=START, person_id=maria.id)
    tickets = TicketService(store, business_hours=office_hours(), clock=lambda: START)
    ticket = tickets.create(
        channel="presencial",
        request_type="consulta",
        topic="Pensión",
        organism_id=org.id,
        attention=key,
    )
    assert ticket.person_id == maria.id and ticket.channel is Channel.PRESENCIAL


def test_the_rollup_counts_no_walk_in_as_a_queue_call(store: Engine) -> None:
    contacts = ContactAttentions(store)
    key = contacts.open(Channel.PRESENCIAL, arrived_at=START)
    contacts.answer(key, agent="ana", at=START + dt.timedelta(minutes=1))
    contacts.close(key, at=START + dt.timedelta(minutes=2))
    at = START.timestamp() + 60
    AttentionRepository(store).upsert_records(  # one phone call in the same hour
        [
            CallRecord(
                key=CallKey("pbx", "1.1"),
                caller_number="099123456",
                caller_name="",
                arrived_at=at,
                outcome=Outcome.ANSWERED,
                hangup_side=HangupSide.CALLER,
                ended_at=at + 60,
                legs=(
                    QueueLeg(
                        "consultas",
                        at,
                        1,
                        left_at=at + 10,
                        outcome=Outcome.ANSWERED,
                        agent="ana",
                        answered_at=at + 10,
                        wait_seconds=10,
                    ),
                ),
            )
        ]
    )
    hour = int(START.timestamp()) // 3600
    with store.begin() as conn:
        report_rollup.refresh(conn, hour - 1, hour + 2, {}, kpi.QueueKpiDefinition())
        tallies = conn.execute(select(QueueHourTally.queue, QueueHourTally.offered)).all()
    assert [tuple(t) for t in tallies] == [("consultas", 1)]


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_migration_0013_renames_the_old_channel_values(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        request.getfixturevalue("new_postgres_database")()
        if dialect == "postgresql"
        else f"sqlite:///{tmp_path / 'old.db'}"
    )
    upgrade(url, "0012_audit_by_call")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(Attention),
                [
                    {
                        "system": "pbx",
                        "linkedid": "1.1",
                        "channel": "phone",
                        "caller_number_raw": "",
                        "caller_name": "",
                        "arrived_at": START,
                        "ivr_path": [],
                        "queues": [],
                        "agents": [],
                        "legs": [],
                        "outcome": "answered",
                        "hangup_side": "caller",
                        "variables": {},
                    }
                ],
            )
            org = conn.execute(
                insert(Organism).values(code="BPS", name="BPS").returning(Organism.id)
            ).scalar_one()
            for index, channel in enumerate(("email", "web")):
                conn.execute(
                    insert(Ticket).values(
                        number=f"2026-00000{index}",
                        channel=channel,
                        request_type="consulta",
                        topic="t",
                        description="",
                        status="abierta",
                        organism_id=org,
                        created_at=START,
                        updated_at=START,
                    )
                )
        upgrade(url)
        with engine.connect() as conn:
            assert conn.execute(select(Attention.channel)).scalars().all() == ["telefonico"]
            assert sorted(conn.execute(select(Ticket.channel)).scalars()) == ["correo", "web"]
    finally:
        engine.dispose()
