"""Fixtures for the CRM sync tests: real Redis, real PostgreSQL, the fake CRMs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from redis import Redis
from sqlalchemy import Engine

from crm_bridge.db import make_engine, upgrade
from crm_bridge.sync.testing import FakeVtiger, WebhookReceiver
from crm_bridge.sync.vtiger import VtigerAdapter
from tests.crm_bridge.conftest import fresh_postgres_database
from tests.support.redis import redis_test_url

ROOT = Path(__file__).resolve().parents[3]
ACCESS_KEY = "Zx9kLq2Wm4Rt7Yb1"
WEBHOOK_SECRET = "shared-webhook-secret"


def _sync_redis_url() -> str:
    """The server of ATIENDE_TEST_REDIS_URL, database 14 (or ATIENDE_TEST_CRM_REDIS_URL).

    Other test areas flush database 15 at their start and end; run at the
    same time as these, they would wipe jobs and locks mid-test.
    """
    explicit = os.environ.get("ATIENDE_TEST_CRM_REDIS_URL")
    if explicit:
        return explicit
    shared = urlsplit(redis_test_url())
    return urlunsplit(shared._replace(path="/14"))


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database of the CRM sync tests, flushed before and after each test."""
    url = _sync_redis_url()
    client = Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def database_url(postgres_url: str) -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own."""
    with fresh_postgres_database(postgres_url) as url:
        upgrade(url)
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def crm() -> Iterator[FakeVtiger]:
    server = FakeVtiger(access_key=ACCESS_KEY, slow_seconds=3.0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def vtiger(crm: FakeVtiger) -> VtigerAdapter:
    return VtigerAdapter(crm.url, "admin", ACCESS_KEY, timeout=1.5)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(WEBHOOK_SECRET, slow_seconds=3.0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def queue_name() -> str:
    # RQ's scheduler lock is per queue: a name per test keeps a killed
    # worker's lock from delaying the next test's retries.
    return f"crm-test-{uuid.uuid4().hex[:8]}"


WorkerFactory = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def start_worker(
    redis_url: str, database_url: str, crm: FakeVtiger, queue_name: str, tmp_path: Path
) -> Iterator[WorkerFactory]:
    """Starts `atiende worker`-like processes (run_worker) against the fake vTiger."""
    started: list[subprocess.Popen[bytes]] = []

    def start(
        job_timeout: int = 6, stale_after: float = 1.0, http_timeout: float = 1.5
    ) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"worker-{len(started)}.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.crm_bridge.sync.worker_main",
                redis_url,
                database_url,
                crm.url,
                ACCESS_KEY,
                queue_name,
                str(job_timeout),
                str(stale_after),
                str(http_timeout),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill -9 takes the scheduler too
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll `condition` (a liveness bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or condition}")
