"""The panel app as tests build it around a real database: the pop hub over
the store, the tests' secret and fast password hashing, recording controls,
and the origin of the socket it is served on (tests/support/web.served)."""

from __future__ import annotations

from typing import Any

from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import Engine

from agent_api.audit import AuditLog
from agent_api.auth import Passwords
from agent_api.pop_lookup import StorePopLookup
from agent_api.testing import RecordingControls
from agent_api.wrapups import WrapupStore
from agent_api.ws import PopHub
from atiende.panel_app import panel_app
from crm_bridge.history import PersonHistory
from crm_bridge.persons import PersonRegistry

SECRET = "test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "contraseña-segura-1"
# Until allow_origin names the socket's own (served on port 0, known once it listens).
PLACEHOLDER_ORIGIN = "http://placeholder"


def fast_passwords() -> Passwords:
    # Cheap parameters keep the suite fast; production uses argon2's defaults.
    return Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def pop_hub(engine: Engine, *, wrapups: bool = False, **options: Any) -> PopHub:
    """The hub over the store's pop lookup; `wrapups`: a call that ends opens its wrap-up."""
    if wrapups:
        options["on_wrapup_due"] = WrapupStore(engine).start
    lookup = StorePopLookup(engine, PersonRegistry(engine), PersonHistory(engine), AuditLog(engine))
    return PopHub(lookup, **options)


def local_panel(engine: Engine, hub: PopHub, port: int | None = None, **options: Any) -> FastAPI:
    """atiende.panel_app for a test: its secret, fast hashing, plain-HTTP
    cookies, recording controls and no agents unless `options` say otherwise.
    The allowed origin is http://127.0.0.1:`port`, or set by allow_origin
    once served (no `port`)."""
    origin = PLACEHOLDER_ORIGIN if port is None else f"http://127.0.0.1:{port}"
    settings: dict[str, Any] = {
        "controls": RecordingControls(),
        "agents_snapshot": list,
        "secret_key": SECRET,
        "allowed_origins": [origin],
        "cookie_secure": False,
        "passwords": fast_passwords(),
    }
    return panel_app(engine=engine, hub=hub, **(settings | options))


def allow_origin(app: FastAPI, base: str) -> None:
    """The served app (`base`: host:port) accepts its own page's origin."""
    object.__setattr__(app.state.services, "allowed_origins", frozenset({f"http://{base}"}))
