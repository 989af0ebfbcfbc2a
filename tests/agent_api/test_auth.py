"""Passwords, session cookies, logout, login limits, role changes."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from agent_api.auth import SESSION_COOKIE, LoginRateLimiter, SessionStore
from agent_api.exceptions import TooManyAttempts
from agent_api.masking import mask_document, mask_name, mask_number
from crm_bridge.db import session_factory
from crm_bridge.models import User
from crm_bridge.organisms import Role
from tests.agent_api.conftest import PASSWORD, SECRET, Panel, log_in

pytestmark = pytest.mark.postgres


def test_passwords_are_stored_as_argon2id(panel: Panel) -> None:
    with session_factory(panel.engine)() as session:
        hashes = session.scalars(select(User.password_hash)).all()
    assert hashes and all(h and h.startswith("$argon2id$") for h in hashes)
    assert all(PASSWORD not in (h or "") for h in hashes)


def test_login_sets_a_strict_httponly_cookie_and_logout_ends_the_session(panel: Panel) -> None:
    client = panel.client()
    answer = client.post(
        "/api/session", json={"username": panel.usernames[Role.EJECUTIVO], "password": PASSWORD}
    )
    assert answer.status_code == 200
    cookies = [v for k, v in answer.headers.multi_items() if k == "set-cookie"]
    session_cookie = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in session_cookie and "SameSite=strict" in session_cookie
    stolen = client.cookies.get(SESSION_COOKIE)
    client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    assert client.get("/api/session").status_code == 200
    assert client.delete("/api/session").status_code == 204
    # The old cookie value is dead server-side, not only deleted in the browser.
    replay = panel.client()
    replay.cookies.set(SESSION_COOKIE, stolen or "")
    assert replay.get("/api/session").status_code == 401


def test_wrong_password_and_tampered_cookie_are_refused(panel: Panel) -> None:
    client = panel.client()
    answer = client.post(
        "/api/session", json={"username": panel.usernames[Role.ADMIN], "password": "nope-nope-nope"}
    )
    assert answer.status_code == 401
    assert answer.json() == {"detalle": "Usuario o contraseña incorrectos."}
    log_in(client, panel.usernames[Role.ADMIN])
    value = client.cookies.get(SESSION_COOKIE) or ""
    client.cookies.set(SESSION_COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert client.get("/api/session").status_code == 401


def test_logins_are_rate_limited_per_user_and_address(panel: Panel) -> None:
    client = panel.client()
    name = panel.usernames[Role.REFERENTE]
    for _ in range(3):
        bad = client.post("/api/session", json={"username": name, "password": "wrong-wrong"})
        assert bad.status_code == 401
    locked = client.post("/api/session", json={"username": name, "password": PASSWORD})
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    # Another user from the same address is not locked out.
    log_in(client, panel.usernames[Role.GERENTE])


def test_rate_limiter_window_and_addresses() -> None:
    now = [0.0]
    limiter = LoginRateLimiter(max_failures=2, window_seconds=60, clock=lambda: now[0])
    limiter.failed("ana", "10.0.0.1")
    limiter.failed("ANA ", "10.0.0.1")
    with pytest.raises(TooManyAttempts):
        limiter.check("ana", "10.0.0.1")
    limiter.check("ana", "10.0.0.2")
    now[0] = 61.0
    limiter.check("ana", "10.0.0.1")


def test_sessions_expire_and_a_short_secret_is_refused() -> None:
    now = [1000.0]
    store = SessionStore(SECRET, lifetime_seconds=60, clock=lambda: now[0])
    _session, cookie = store.create(7)
    assert store.resolve(cookie) is not None
    now[0] += 61
    assert store.resolve(cookie) is None
    with pytest.raises(ValueError):
        SessionStore("short")


def test_role_change_and_deactivation_end_sessions(panel: Panel) -> None:
    agent = panel.client(panel.second_agent)
    admin = panel.client(panel.usernames[Role.ADMIN])
    target = panel.users[panel.second_agent]
    assert admin.patch(f"/api/users/{target}", json={"role": "referente"}).status_code == 200
    assert agent.get("/api/session").status_code == 401
    log_in(agent, panel.second_agent)
    assert agent.get("/api/session").json()["role"] == "referente"
    assert admin.patch(f"/api/users/{target}", json={"active": False}).status_code == 200
    assert agent.get("/api/session").status_code == 401
    refused = panel.client().post(
        "/api/session", json={"username": panel.second_agent, "password": PASSWORD}
    )
    assert refused.status_code == 401


def test_admin_maps_interfaces_and_refuses_bad_ones(panel: Panel) -> None:
    admin = panel.client(panel.usernames[Role.ADMIN])
    target = panel.users[panel.second_agent]
    ok = admin.put(f"/api/users/{target}/interfaces", json={"interfaces": ["Local/4009@agents/n"]})
    assert ok.status_code == 200 and ok.json()["interfaces"] == ["Local/4009@agents/n"]
    assert panel.hub.user_of("Local/4009@agents/n") == target
    bad = admin.put(f"/api/users/{target}/interfaces", json={"interfaces": ["PJSIP/1\r\nAction"]})
    assert bad.status_code == 422
    taken = panel.interfaces[panel.usernames[Role.EJECUTIVO]]
    clash = admin.put(f"/api/users/{target}/interfaces", json={"interfaces": [taken]})
    assert clash.status_code == 409


def test_masks_keep_logs_free_of_personal_data(caplog: pytest.LogCaptureFixture) -> None:
    assert mask_number("099123456") == "******456"
    assert mask_document("12345672") == "******72"
    assert mask_name("Ana Gómez") == "A. G."


def test_failed_login_logs_no_username(panel: Panel, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    panel.client().post("/api/session", json={"username": "maria.perez", "password": "x" * 12})
    assert "maria.perez" not in caplog.text
    assert "m." in caplog.text
