"""Guessing passwords: parallel guesses, spraying across users, clients behind a
proxy; and usernames that only look different."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from agent_api.auth import LoginRateLimiter, normalize_username, username_problem
from agent_api.exceptions import Conflict, InvalidInput
from agent_api.testing import RecordingControls
from agent_api.users import UserStore
from agent_api.ws import PopHub
from atiende.panel_app import panel_app
from crm_bridge.db import make_engine, upgrade
from crm_bridge.exceptions import MigrationError
from crm_bridge.organisms import Role
from tests.agent_api.conftest import (
    ORIGIN,
    PASSWORD,
    SECRET,
    Panel,
    build_panel,
    fast_passwords,
    log_in,
    served,
)


async def test_parallel_guesses_are_counted_before_they_are_checked(panel: Panel) -> None:
    checked = 0
    lock = threading.Lock()
    authenticate = panel.app.state.services.users.authenticate

    def counting(username: str, password: str) -> object:
        nonlocal checked
        with lock:
            checked += 1
        return authenticate(username, password)

    panel.app.state.services.users.authenticate = counting
    name = panel.usernames[Role.EJECUTIVO]
    async with (
        served(panel.app) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=30) as client,
    ):
        answers = await asyncio.gather(
            *(
                client.post("/api/session", json={"username": name, "password": f"guess-{n}"})
                for n in range(200)
            )
        )
    statuses = [a.status_code for a in answers]
    # The panel's limiter allows 3 failures per user and address: 3 guesses checked.
    assert checked == 3, (checked, sorted(set(statuses)))
    assert statuses.count(401) == 3 and statuses.count(429) == 197


def test_password_spraying_from_one_address_is_slowed(panel: Panel) -> None:
    client = panel.client()
    users = [*panel.users, *(f"nadie-{n}" for n in range(9 - len(panel.users)))][:9]
    answers = [
        client.post(
            "/api/session", json={"username": user, "password": f"Verano{year}!"}
        ).status_code
        for year in range(2022, 2026)
        for user in users
    ]
    # 20 failures per address whatever the usernames (the default).
    assert answers[:20] == [401] * 20
    assert set(answers[20:]) == {429}


def _app_behind_proxy(panel_db: str, trusted: list[str]) -> tuple[TestClient, Panel]:
    built = build_panel(panel_db)
    app = panel_app(
        engine=built.engine,
        hub=PopHub(None),
        controls=RecordingControls(),
        agents_snapshot=list,
        secret_key=SECRET,
        allowed_origins=[ORIGIN],
        cookie_secure=False,
        passwords=fast_passwords(),
        login_limiter=LoginRateLimiter(max_failures=3),
        trusted_proxies=trusted,
    )
    return TestClient(app, headers={"origin": ORIGIN}), built


@pytest.fixture
def behind_proxy(panel_db: str) -> Iterator[tuple[TestClient, Panel]]:
    # TestClient's peer is "testclient": here, the trusted proxy.
    client, built = _app_behind_proxy(panel_db, ["testclient"])
    try:
        yield client, built
    finally:
        built.engine.dispose()


def test_behind_a_trusted_proxy_one_client_cannot_lock_out_an_agent(
    behind_proxy: tuple[TestClient, Panel],
) -> None:
    client, built = behind_proxy
    agent = built.usernames[Role.EJECUTIVO]
    attacker = {"x-forwarded-for": "203.0.113.66"}
    for _ in range(5):
        client.post(
            "/api/session", json={"username": agent, "password": "x" * 12}, headers=attacker
        )
    refused = client.post(
        "/api/session", json={"username": agent, "password": PASSWORD}, headers=attacker
    )
    assert refused.status_code == 429
    # The agent, from her own address through the same proxy, still gets in.
    client.headers["x-forwarded-for"] = "198.51.100.7"
    log_in(client, agent)


def test_forwarded_headers_of_an_untrusted_peer_are_ignored(panel_db: str) -> None:
    client, built = _app_behind_proxy(panel_db, [])
    try:
        agent = built.usernames[Role.EJECUTIVO]
        for n in range(3):
            client.post(
                "/api/session",
                json={"username": agent, "password": "x" * 12},
                headers={"x-forwarded-for": f"192.0.2.{n}"},
            )
        # Changing the header does not give the guesser a new address.
        again = client.post(
            "/api/session",
            json={"username": agent, "password": PASSWORD},
            headers={"x-forwarded-for": "192.0.2.99"},
        )
        assert again.status_code == 429
    finally:
        built.engine.dispose()


def test_usernames_are_one_per_normalised_form(panel_db: str) -> None:
    engine = make_engine(panel_db)
    store = UserStore(engine, fast_passwords())
    try:
        store.create("Jefa", "Jefa", Role.ADMIN, PASSWORD)
        for twin in ("JEFA", "jefa", " jefa ", "ＪＥＦＡ"):
            with pytest.raises(Conflict):
                store.create(twin, "Impostora", Role.ADMIN, PASSWORD)
        for hidden in ("jefa\u200b", "je\u202efa", "je fa", "jefa\x00", "\u2060jefa"):
            with pytest.raises(InvalidInput):
                store.create(hidden, "Impostora", Role.ADMIN, PASSWORD)
        assert store.authenticate("JEFA", PASSWORD) is not None
        assert [u.username for u in store.all() if u.display_name == "Jefa"] == ["jefa"]
    finally:
        engine.dispose()


def test_the_admin_api_refuses_look_alike_usernames(panel: Panel) -> None:
    admin = panel.client(panel.usernames[Role.ADMIN])
    body = {"display_name": "Ana", "role": "ejecutivo", "password": PASSWORD}
    assert admin.post("/api/users", json={**body, "username": "ana.gomez"}).status_code == 201
    assert admin.post("/api/users", json={**body, "username": "ANA.GOMEZ"}).status_code == 409
    hidden = admin.post("/api/users", json={**body, "username": "ana.gomez\u200b"})
    assert hidden.status_code == 422
    assert "invisibles" in hidden.json()["detalle"]


def test_normalisation() -> None:
    assert normalize_username(" ＡＤＭＩＮ ") == "admin"
    assert normalize_username("Straße") == "strasse"
    assert username_problem("admin\u200b") is not None
    assert username_problem("x" * 65) is not None
    assert username_problem("ana.gómez") is None


def _users_at_0007(tmp_path: Path, names: list[str]) -> str:
    url = f"sqlite:///{tmp_path / 'antes.db'}"
    upgrade(url, "0007_dashboards_report_stats")
    engine = make_engine(url)
    with engine.begin() as conn:
        for name in names:
            conn.execute(
                text(
                    "INSERT INTO users (username, display_name, role, active)"
                    " VALUES (:u, :u, 'admin', true)"
                ),
                {"u": name},
            )
    engine.dispose()
    return url


def test_the_migration_normalises_existing_usernames(tmp_path: Path) -> None:
    url = _users_at_0007(tmp_path, ["Admin", "ＯＰＳ", "ana"])
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        names = conn.execute(text("SELECT username FROM users ORDER BY username")).scalars().all()
    engine.dispose()
    assert names == ["admin", "ana", "ops"]


def test_the_migration_stops_on_names_that_become_one(tmp_path: Path) -> None:
    url = _users_at_0007(tmp_path, ["admin", "ADMIN"])
    with pytest.raises(MigrationError, match="same username once normalised"):
        upgrade(url)


async def test_parallel_guesses_through_the_login_form_are_counted_too(panel: Panel) -> None:
    checked = 0
    lock = threading.Lock()
    authenticate = panel.app.state.services.users.authenticate

    def counting(username: str, password: str) -> object:
        nonlocal checked
        with lock:
            checked += 1
        return authenticate(username, password)

    panel.app.state.services.users.authenticate = counting
    name = panel.usernames[Role.EJECUTIVO]
    async with (
        served(panel.app) as address,
        httpx.AsyncClient(
            base_url=f"http://{address}", timeout=30, headers={"origin": f"http://{address}"}
        ) as client,
    ):
        panel.app.state.services.allowed_origins = frozenset({f"http://{address}"})
        answers = await asyncio.gather(
            *(
                client.post("/ingresar", data={"username": name, "password": f"guess-{n}"})
                for n in range(100)
            )
        )
    statuses = [a.status_code for a in answers]
    assert checked == 3, (checked, sorted(set(statuses)))
    assert statuses.count(401) == 3 and statuses.count(429) == 97
