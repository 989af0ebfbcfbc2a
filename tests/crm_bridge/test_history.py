"""A person's timeline across attentions, tickets and responses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from crm_bridge.attentions import AttentionRepository
from crm_bridge.db import make_engine
from crm_bridge.exceptions import InvalidValueError
from crm_bridge.history import EntryKind, PersonHistory
from crm_bridge.organisms import Directory
from crm_bridge.persons import ConsentCategory, PersonRegistry
from crm_bridge.sla import office_hours
from crm_bridge.tickets import TicketService
from telephony.domain import CallKey, CallRecord, HangupSide, Outcome
from tests.crm_bridge.citizen_support import empty_store

SYSTEM = "pbx-montevideo"
START = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request: pytest.FixtureRequest) -> Iterator[Engine]:
    fixture = "migrated_postgres_url" if request.param == "postgresql" else "sqlite_url"
    engine = make_engine(request.getfixturevalue(fixture))
    empty_store(engine)
    yield engine
    engine.dispose()


def call(linkedid: str, at: dt.datetime, channel: str = "telefonico") -> CallRecord:
    return CallRecord(
        key=CallKey(SYSTEM, linkedid),
        caller_number="099123456",
        caller_name="María Pérez",
        arrived_at=at.timestamp(),
        outcome=Outcome.ABANDONED,
        hangup_side=HangupSide.CALLER,
        ended_at=at.timestamp() + 30,
        channel=channel,
    )


def test_timeline_newest_first_across_sources_and_pages(store: Engine) -> None:
    registry = PersonRegistry(store)
    maria = registry.register(
        given_names="María", family_names="Pérez", consents=[ConsentCategory.IDENTIFICATION]
    )
    other = registry.register(
        given_names="Luis", family_names="Gómez", consents=[ConsentCategory.IDENTIFICATION]
    )
    org = Directory(store).create_organism("BPS", "BPS")
    clock = {"now": START}
    tickets = TicketService(store, business_hours=office_hours(), clock=lambda: clock["now"])
    day = dt.timedelta(days=1)
    expected: list[tuple[EntryKind, dt.datetime, str]] = []

    repo = AttentionRepository(store)
    for index in range(4):  # days 0, 2, 4, 6: calls (one presencial)
        at = START + 2 * index * day
        channel = "presencial" if index == 2 else "telefonico"
        repo.upsert_records([call(f"100.{index}", at, channel)])
        assert registry.link_attention(SYSTEM, f"100.{index}", maria.id)
        expected.append((EntryKind.ATTENTION, at, f"100.{index}"))
    repo.upsert_records([call("200.0", START + 3 * day)])  # someone else's call
    registry.link_attention(SYSTEM, "200.0", other.id)
    for index in range(2):  # days 1 and 5: tickets; the second answered on day 5 + 1 h
        clock["now"] = START + (1 + 4 * index) * day
        number = tickets.create(
            channel="telefonico",
            request_type="consulta",
            topic=f"Tema {index}",
            organism_id=org.id,
            person_id=maria.id,
        ).number
        expected.append((EntryKind.TICKET, clock["now"], number))
    clock["now"] += dt.timedelta(hours=1)
    tickets.respond(number, actor_id=None, body="Respuesta", destination="x")
    expected.append((EntryKind.RESPONSE, clock["now"], number))
    expected.sort(key=lambda e: e[1], reverse=True)

    history = PersonHistory(store)
    seen: list[tuple[EntryKind, dt.datetime, str]] = []
    page_number = 1
    while True:
        page = history.page(maria.id, page=page_number, page_size=3)
        seen += [(e.kind, e.at, e.reference) for e in page.entries]
        if not page.has_more:
            break
        page_number += 1
    assert seen == expected
    assert page_number == 3  # 7 entries in pages of 3
    first = history.page(maria.id, page_size=10).entries
    presencial = [e for e in first if e.channel == "presencial"]
    assert len(presencial) == 1 and presencial[0].reference == "100.2"
    others = history.page(other.id).entries
    assert [e.reference for e in others] == ["200.0"]
    assert history.page(maria.id, page=9, page_size=3).entries == ()


def test_page_bounds(store: Engine) -> None:
    history = PersonHistory(store)
    with pytest.raises(InvalidValueError):
        history.page(1, page=0)
    with pytest.raises(InvalidValueError):
        history.page(1, page_size=1000)
    assert history.page(12345).entries == ()
