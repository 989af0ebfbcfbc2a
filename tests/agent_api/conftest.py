"""The panel over a real PostgreSQL database: app, hub, users of every role."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from agent_api.audit import AuditLog
from agent_api.auth import LoginRateLimiter
from agent_api.pop_lookup import StorePopLookup
from agent_api.testing import RecordingControls
from agent_api.users import UserStore
from agent_api.wrapups import WrapupStore
from agent_api.ws import PopHub
from atiende.panel_app import panel_app
from crm_bridge.db import make_engine
from crm_bridge.history import PersonHistory
from crm_bridge.organisms import Role
from crm_bridge.persons import PersonRegistry
from crm_bridge.responders import Responder
from crm_bridge.tickets import TicketService
from telephony.agents import AgentSnapshot
from tests.support.panel import PASSWORD, SECRET, fast_passwords
from tests.support.postgres import fresh_database
from tests.support.web import log_in as support_log_in
from tests.support.web import served as served  # re-exported: many tests import it from here

ORIGIN = "http://testserver"


@pytest.fixture(scope="module")
def panel_db(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url, "panel", migrate=True) as db:
        yield db


@dataclass
class Panel:
    app: FastAPI
    engine: Engine
    hub: PopHub
    controls: RecordingControls
    users: dict[str, int]  # username → id
    usernames: dict[Role, str]
    interfaces: dict[str, str]  # username → its interface
    agents: list[AgentSnapshot] = field(default_factory=list)
    second_agent: str = ""

    def client(self, username: str | None = None) -> TestClient:
        client = TestClient(self.app, headers={"origin": ORIGIN})
        if username is not None:
            log_in(client, username)
        return client


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> None:
    support_log_in(client, username, password)


def build_panel(
    db_url: str,
    *,
    budget: float = 0.15,
    tickets: Callable[[Engine], TicketService] | None = None,
    state_clock: Callable[[], float] | None = None,
    responders: Sequence[Responder] = (),
) -> Panel:
    engine = make_engine(db_url)
    suffix = uuid.uuid4().hex[:6]
    registry = PersonRegistry(engine)
    audit = AuditLog(engine)
    hub = PopHub(
        StorePopLookup(engine, registry, PersonHistory(engine), audit),
        budget_seconds=budget,
        on_wrapup_due=WrapupStore(engine).start,
    )
    controls = RecordingControls()
    snapshots: list[AgentSnapshot] = []
    app = panel_app(
        engine=engine,
        hub=hub,
        controls=controls,
        agents_snapshot=lambda: snapshots,
        state_clock=state_clock,
        secret_key=SECRET,
        allowed_origins=[ORIGIN],
        cookie_secure=False,
        passwords=fast_passwords(),
        login_limiter=LoginRateLimiter(max_failures=3),
        tickets=None if tickets is None else tickets(engine),
        responders=responders,
    )
    store = UserStore(engine, fast_passwords())
    users: dict[str, int] = {}
    usernames: dict[Role, str] = {}
    interfaces: dict[str, str] = {}
    for role in Role:
        name = f"{role.value}-{suffix}"
        iface = f"PJSIP/{role.value}{suffix}" if role in (Role.EJECUTIVO, Role.SUPERVISOR) else None
        user = store.create(
            name, f"{role.value.title()} Prueba", role, PASSWORD, [iface] if iface else []
        )
        users[name], usernames[role] = user.id, name
        if iface:
            interfaces[name] = iface
    other = f"otra-{suffix}"
    user = store.create(other, "Otra Agente", Role.EJECUTIVO, PASSWORD, [f"PJSIP/otra{suffix}"])
    users[other], interfaces[other] = user.id, f"PJSIP/otra{suffix}"
    hub.set_interfaces(store.interface_map())
    return Panel(app, engine, hub, controls, users, usernames, interfaces, snapshots, other)


@pytest.fixture
def panel(panel_db: str) -> Iterator[Panel]:
    built = build_panel(panel_db)
    try:
        yield built
    finally:
        built.engine.dispose()
