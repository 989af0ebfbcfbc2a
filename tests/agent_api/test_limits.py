"""Request body limits (413 before the body is read) and the headers every answer carries."""

from __future__ import annotations

import asyncio

import pytest

from agent_api.middleware import DEFAULT_MAX_BODY_BYTES
from agent_api.routes.figures import add_wallboard
from crm_bridge.organisms import Role
from dashboards.kpi import QueueKpiDefinition
from dashboards.queue_metrics import QueueMetrics
from dashboards.wallboard import Wallboard
from tests.agent_api.conftest import Panel, served


async def _raw(address: str, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send a request head (and maybe part of a body); the status and answer."""
    host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), timeout=5)
        status = int(answer.split(b" ", 2)[1])
        return status, answer
    finally:
        writer.close()


async def test_a_declared_large_body_is_refused_before_it_is_sent(panel: Panel) -> None:
    # 200 MB announced, 10 bytes sent: the answer must come without the body
    # (before the fix the server waited for the 200 MB, then parsed them).
    async with served(panel.app) as address:
        status, answer = await _raw(
            address,
            b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 200000000\r\n\r\n",
            b'{"usernam',
        )
    assert status == 413
    assert b"demasiado grande" in answer
    assert b"no-store" in answer.lower()


async def test_a_chunked_body_is_cut_off_at_the_limit(panel: Panel) -> None:
    chunk = b"x" * 65536
    head = (
        b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    # Just over the limit, never terminated: only counting stops it.
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(chunk), chunk)
        for _ in range(DEFAULT_MAX_BODY_BYTES // len(chunk) + 1)
    )
    async with served(panel.app) as address:
        status, answer = await _raw(address, head, chunks)
    assert status == 413, answer[:300]


def test_over_long_path_parameters_are_refused_on_every_route(panel: Panel) -> None:
    # Before the bound, a 100 KB linkedid reached the route, its database
    # query and the audit row.
    client = panel.client(panel.usernames[Role.EJECUTIVO])
    long_id = "1" * 5000
    for path in (
        f"/api/wrapups/asterisk/{long_id}",
        f"/api/calls/asterisk/{long_id}/person",
        f"/api/tickets/{long_id}",
        "/api/" + "a/" * 1500,
    ):
        answer = client.get(path)
        assert answer.status_code == 414, (path[:40], answer.status_code)
        assert answer.json()["detalle"] == "La dirección pedida es demasiado larga."
        assert answer.headers["cache-control"] == "no-store"
    assert client.get("/api/wrapups/asterisk/1763971200.1").status_code != 414


def test_small_bodies_pass_and_the_catalog_import_gets_its_own_limit(panel: Panel) -> None:
    client = panel.client(panel.usernames[Role.SUPERVISOR])
    # Within 1 MiB: read and validated as before.
    assert client.post("/api/session", json={"username": "", "password": ""}).status_code == 422
    big = b"code,name,kind,organism,unit\n" + b"#" * (2 * 1024 * 1024)
    over = client.post("/api/catalog/import", content=big, headers={"content-type": "text/csv"})
    assert over.status_code != 413, over.text  # 2 MiB is within the import's 5 MiB
    huge = client.post(
        "/api/catalog/import",
        content=b"x" * (6 * 1024 * 1024),
        headers={"content-type": "text/csv"},
    )
    assert huge.status_code == 413
    assert huge.json()["detalle"].startswith("El contenido enviado es demasiado grande")
    other = client.post(
        "/api/persons",
        content=b"x" * (2 * 1024 * 1024),
        headers={"content-type": "application/json"},
    )
    assert other.status_code == 413


@pytest.fixture
def wallboard_panel(panel: Panel) -> Panel:
    metrics = QueueMetrics({"consultas": QueueKpiDefinition()}, window_seconds=900)
    add_wallboard(panel.app, Wallboard(metrics, lambda: []))
    return panel


@pytest.mark.parametrize(
    "path", ["/", "/wallboard", "/api/session", "/api/wallboard", "/api/calls/today", "/nada"]
)
def test_every_page_and_answer_carries_the_security_headers(
    wallboard_panel: Panel, path: str
) -> None:
    client = wallboard_panel.client(wallboard_panel.usernames[Role.SUPERVISOR])
    answer = client.get(path)
    csp = answer.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"


def test_static_assets_may_be_cached(wallboard_panel: Panel) -> None:
    client = wallboard_panel.client()
    for path in ("/static/js/agente.js", "/wallboard/static/wallboard.js"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert "no-store" not in answer.headers.get("cache-control", "")
        assert answer.headers["x-content-type-options"] == "nosniff"
