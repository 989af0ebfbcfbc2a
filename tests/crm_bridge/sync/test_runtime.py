"""The sync service as `atiende serve` runs it without Redis: jobs in-process,
the outbox re-read at start; with the webhook adapter."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from crm_bridge.attentions import AttentionRepository
from crm_bridge.persons import PersonRegistry
from crm_bridge.sync.adapter import attention_key
from crm_bridge.sync.outbox import (
    OutboxStore,
    track_attention_updates,
    track_changes,
    track_person_changes,
)
from crm_bridge.sync.runtime import SyncService, build_adapter
from crm_bridge.sync.testing import WebhookReceiver
from crm_bridge.sync.vtiger import VtigerAdapter
from crm_bridge.sync.webhook import WebhookAdapter
from telephony.domain import CallKey, Outcome
from tests.crm_bridge.conftest import SYSTEM, make_record

from .conftest import WEBHOOK_SECRET, wait_for


def _service(engine: Engine, receiver: WebhookReceiver) -> SyncService:
    adapter = build_adapter(
        "webhook", webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET, timeout=1.5
    )
    assert isinstance(adapter, WebhookAdapter)
    return SyncService(engine, adapter, retry_intervals=[1] * 30, relay_interval=0.1)


def test_a_restart_hands_over_what_the_previous_process_left(
    engine: Engine, receiver: WebhookReceiver
) -> None:
    receiver.down()
    AttentionRepository(engine, outbox=True).upsert_records(
        [make_record(f"1763971300.{n}") for n in range(4)]
    )
    store = OutboxStore(engine)
    first = _service(engine, receiver)
    first.start()
    wait_for(lambda: all(r.attempts >= 1 for r in store.rows()), what="failed deliveries")
    first.stop()  # its in-memory queue, with the backoffs, is gone
    receiver.up()
    second = _service(engine, receiver)
    second.start()
    try:
        wait_for(lambda: store.pending() == 0, what="the outbox to drain")
    finally:
        second.stop()
    expected = {attention_key(SYSTEM, f"1763971300.{n}") for n in range(4)}
    assert set(receiver.attentions) == expected
    assert receiver.deliveries == 4 and receiver.bad_signatures == 0


def test_calls_closed_as_lost_during_an_outage_are_synced_too(engine: Engine) -> None:
    repository = AttentionRepository(engine, outbox=True)
    repository.upsert_records([make_record("9.1", Outcome.IN_PROGRESS)])
    assert OutboxStore(engine).rows() == []
    closed = repository.close_lost(SYSTEM, [CallKey(SYSTEM, "other")], at=1_763_971_500.0)
    assert [c.key.linkedid for c in closed] == ["9.1"]
    assert len(OutboxStore(engine).rows()) == 1


def test_build_adapter_from_plain_values() -> None:
    assert build_adapter("none") is None
    vtiger = build_adapter("vtiger", vtiger_url="https://crm.example", vtiger_access_key="k")
    assert isinstance(vtiger, VtigerAdapter) and vtiger.name == "vtiger"
    with pytest.raises(ValueError, match="access key"):
        build_adapter("vtiger", vtiger_url="https://crm.example")
    with pytest.raises(ValueError, match="comment or description"):
        build_adapter(
            "vtiger",
            vtiger_url="https://crm.example",
            vtiger_access_key="k",
            vtiger_wrapup_mode="x",
        )
    with pytest.raises(ValueError, match="signing secret"):
        build_adapter("webhook", webhook_url="https://hooks.example")
    with pytest.raises(ValueError, match="unknown"):
        build_adapter("salesforce")


def test_person_changes_through_the_registry_get_outbox_rows(engine: Engine) -> None:
    stop = track_person_changes(engine)
    try:
        persons = PersonRegistry(engine)
        person = persons.register(
            given_names="Ana", family_names="Suárez", consents=["identificacion", "contacto"]
        )
        persons.add_phone(person.id, "099000111")
        persons.rename(person.id, "Ana María", "Suárez")
    finally:
        stop()
    persons.rename(person.id, "Ana", "Suárez")  # no longer tracked
    rows = OutboxStore(engine).rows()
    assert [(r.entity.value, r.entity_id, r.action.value) for r in rows] == [
        ("person", person.id, "upsert")
    ] * 3


def test_person_tracking_ignores_other_databases(engine: Engine, sqlite_engine: Engine) -> None:
    stop = track_person_changes(sqlite_engine)
    try:
        PersonRegistry(engine).register(
            given_names="Luis", family_names="Núñez", consents=["identificacion"]
        )
    finally:
        stop()
    assert OutboxStore(engine).rows() == []


def test_linking_an_ended_call_to_its_person_queues_the_call(engine: Engine) -> None:
    AttentionRepository(engine).upsert_records(
        [make_record("7.1"), make_record("7.2", Outcome.IN_PROGRESS)]
    )
    persons = PersonRegistry(engine)
    person = persons.register(given_names="Rosa", family_names="Viera", consents=["identificacion"])
    stop = track_attention_updates(engine)
    try:
        assert persons.link_attention(SYSTEM, "7.1", person.id)
        assert persons.link_attention(SYSTEM, "7.2", person.id)  # still up: its end brings it
    finally:
        stop()
    ended = AttentionRepository(engine).get(SYSTEM, "7.1")
    assert ended is not None
    assert [(r.entity.value, r.entity_id) for r in OutboxStore(engine).rows()] == [
        ("attention", ended.id)
    ]


def test_the_embedded_default_sqlite_syncs_in_process(
    sqlite_engine: Engine, receiver: WebhookReceiver
) -> None:
    stop = track_changes(sqlite_engine)
    try:
        person = PersonRegistry(sqlite_engine).register(
            given_names="Elena", family_names="Sosa", consents=["identificacion"]
        )
    finally:
        stop()
    AttentionRepository(sqlite_engine, outbox=True).upsert_records(
        [make_record("8.1"), make_record("8.2", Outcome.IN_PROGRESS)]
    )
    service = _service(sqlite_engine, receiver)
    service.start()
    try:
        wait_for(lambda: OutboxStore(sqlite_engine).pending() == 0, what="the outbox to drain")
    finally:
        service.stop()
    assert set(receiver.attentions) == {attention_key(SYSTEM, "8.1")}
    assert set(receiver.contacts) == {f"atiende-person-{person.id}"}
