"""Shared fixtures: the real Asterisk recordings, PostgreSQL and Redis.

The PostgreSQL server is the one `make test` makes sure is running (see
scripts/with-test-services.sh); each test session gets a database of its own,
created here and dropped at the end, so runs never see each other's rows.
Helpers behind these fixtures live in tests/support/ (one place, issue 12).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.support.postgres import admin_url, fresh_database
from tests.support.redis import redis_test_url

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = Path(
    os.environ.get("ATIENDE_RECORDINGS", ROOT.parent / "shared" / "asterisk-recordings")
)
SCENARIOS = sorted(p.stem for p in RECORDINGS.glob("*.ami") if not p.name.endswith(".actions.ami"))

pytest_plugins = ["tests.support.skips", "tests.support.mail", "pytester"]


@pytest.fixture(scope="session")
def recordings() -> Path:
    if not RECORDINGS.is_dir():
        pytest.fail(f"Asterisk recordings not found at {RECORDINGS} (set ATIENDE_RECORDINGS)")
    return RECORDINGS


def _admin_url() -> str:
    return admin_url()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database for this test session."""
    server = make_url(admin_url())
    with fresh_database(server.render_as_string(hide_password=False), "session") as url:
        yield url


@pytest.fixture
def new_database(postgres_url: str) -> Iterator[Callable[..., str]]:
    """Creates databases on demand: new_database(label="x", migrate=False) -> URL.

    All of them are dropped after the test."""
    with ExitStack() as stack:

        def create(label: str = "db", *, migrate: bool = False) -> str:
            return stack.enter_context(fresh_database(postgres_url, label, migrate=migrate))

        yield create


@pytest.fixture(scope="session")
def test_redis_url() -> str:
    """ATIENDE_TEST_REDIS_URL: every concurrent run sets its own DB number."""
    return redis_test_url()
