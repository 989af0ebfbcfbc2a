"""The WebSocket/login Origin allow-list follows the configured API host and
port (`ATIENDE_API__PORT=18931 atiende demo` must keep its live screens), while
an explicit ATIENDE_API__ALLOWED_ORIGINS still wins."""

from __future__ import annotations

import pytest

from atiende.settings import ApiSettings, Settings


def test_default_follows_the_configured_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATIENDE_API__PORT", "18931")
    monkeypatch.delenv("ATIENDE_API__ALLOWED_ORIGINS", raising=False)
    api = Settings().api
    assert api.origins(api.port) == ["http://127.0.0.1:18931", "http://localhost:18931"]


def test_port_zero_allows_the_bound_port() -> None:
    assert ApiSettings(port=0).origins(40123) == [
        "http://127.0.0.1:40123",
        "http://localhost:40123",
    ]


def test_a_named_host_is_its_own_origin() -> None:
    api = ApiSettings(host="10.0.0.5", port=9000)
    assert api.origins(9000) == ["http://10.0.0.5:9000"]


def test_explicit_origins_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATIENDE_API__PORT", "18931")
    monkeypatch.setenv("ATIENDE_API__ALLOWED_ORIGINS", '["https://panel.example"]')
    api = Settings().api
    assert api.origins(18931) == ["https://panel.example"]
    assert ApiSettings(port=0, allowed_origins=["https://x.example"]).origins(5) == [
        "https://x.example"
    ]
