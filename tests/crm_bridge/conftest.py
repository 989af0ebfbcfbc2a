"""Databases for the attention store tests: real PostgreSQL and SQLite files.

The session's PostgreSQL database (postgres_url) is shared with other test
areas, so these tests create databases of their own on the same server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from crm_bridge.db import make_engine, upgrade
from telephony.domain import CallKey, CallRecord, HangupSide, Outcome, QueueLeg
from tests.support.postgres import fresh_database

SYSTEM = "pbx-montevideo"
T0 = 1_763_971_200.123456  # 2025-11-24 08:00:00.123456 UTC, microsecond precision like Asterisk


@contextmanager
def fresh_postgres_database(postgres_url: str) -> Iterator[str]:
    """A new empty database on the server of `postgres_url`, dropped afterwards."""
    with fresh_database(postgres_url, "crm") as db:
        yield db


@pytest.fixture
def new_postgres_database(postgres_url: str) -> Iterator[Callable[[], str]]:
    """Creates empty databases on demand; all are dropped after the test."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(fresh_postgres_database(postgres_url))


@pytest.fixture(scope="session")
def migrated_postgres_url(postgres_url: str) -> Iterator[str]:
    with fresh_postgres_database(postgres_url) as url:
        upgrade(url)
        yield url


@pytest.fixture
def pg_engine(migrated_postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_postgres_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE attentions, agent_state_intervals RESTART IDENTITY"))
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'atiende.db'}"
    upgrade(url)
    return url


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """A migrated, empty database of each supported kind."""
    fixture = "pg_engine" if request.param == "postgresql" else "sqlite_engine"
    value: Engine = request.getfixturevalue(fixture)
    return value


def make_record(
    linkedid: str,
    outcome: Outcome = Outcome.ANSWERED,
    *,
    system: str = SYSTEM,
    caller_number: str = "099123456",
    caller_name: str = "María Pérez",
    arrived_at: float = T0,
    **overrides: Any,
) -> CallRecord:
    """A call that waited in one queue, answered by an agent unless in progress."""
    in_progress = outcome is Outcome.IN_PROGRESS
    leg = QueueLeg(
        queue="consultas",
        joined_at=arrived_at + 12.5,
        position=1,
        left_at=None if in_progress else arrived_at + 30.25,
        outcome=Outcome.IN_PROGRESS if in_progress else Outcome.ANSWERED,
        agent=None if in_progress else "Ana Gómez",
        agent_interface=None if in_progress else "PJSIP/1001",
        answered_at=None if in_progress else arrived_at + 30.25,
        wait_seconds=None if in_progress else 17.75,
        talk_seconds=None if in_progress else 95.5,
    )
    values: dict[str, Any] = {
        "key": CallKey(system=system, linkedid=linkedid),
        "caller_number": caller_number,
        "caller_name": caller_name,
        "arrived_at": arrived_at,
        "outcome": outcome,
        "hangup_side": HangupSide.UNKNOWN if in_progress else HangupSide.CALLER,
        "queue_joined_at": arrived_at + 12.5,
        "answered_at": leg.answered_at,
        "ended_at": None if in_progress else arrived_at + 125.75,
        "ivr_path": ("bienvenida", "menu:2"),
        "legs": (leg,),
        "wait_seconds": leg.wait_seconds,
        "talk_seconds": leg.talk_seconds,
        "variables": {"ATIENDE_TOPIC": "trámites", "ATIENDE_NOTICE": "v3"},
    }
    values.update(overrides)
    return CallRecord(**values)


RecordFactory = Callable[..., CallRecord]


@pytest.fixture
def new_record() -> RecordFactory:
    """Builds CallRecords: new_record(linkedid, outcome=..., **field_overrides)."""
    return make_record
