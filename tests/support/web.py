"""The panel's app on a real socket, and logging in from tests (TestClient or HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent_api.auth import CSRF_HEADER


@contextlib.asynccontextmanager
async def served(app: FastAPI, port: int = 0) -> AsyncIterator[str]:
    """The app on a real socket in this event loop; yields its host:port.

    Port 0 (the default) lets the kernel pick a free one."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


def log_in(client: TestClient, username: str, password: str) -> None:
    """Logs a TestClient in and keeps the CSRF token for its next writes."""
    answer = client.post("/api/session", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    client.headers[CSRF_HEADER] = answer.json()["csrf_token"]


async def session_cookie(base: str, username: str, password: str) -> tuple[str, str]:
    """Logs in over HTTP at `base` (host:port or a URL); (Cookie header, CSRF token)."""
    url = base if "://" in base else f"http://{base}"
    async with httpx.AsyncClient(base_url=url) as client:
        answer = await client.post(
            "/api/session", json={"username": username, "password": password}
        )
        assert answer.status_code == 200, answer.text
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        return cookie, answer.json()["csrf_token"]
