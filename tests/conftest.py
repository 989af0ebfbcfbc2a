"""Shared fixtures: the real Asterisk recordings and the real PostgreSQL.

The PostgreSQL server is the one `make test` makes sure is running (see
scripts/test-services.sh); each test session gets a database of its own,
created here and dropped at the end, so runs never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = Path(
    os.environ.get("ATIENDE_RECORDINGS", ROOT.parent / "shared" / "asterisk-recordings")
)
SCENARIOS = sorted(p.stem for p in RECORDINGS.glob("*.ami") if not p.name.endswith(".actions.ami"))


@pytest.fixture(scope="session")
def recordings() -> Path:
    if not RECORDINGS.is_dir():
        pytest.fail(f"Asterisk recordings not found at {RECORDINGS} (set ATIENDE_RECORDINGS)")
    return RECORDINGS


def _admin_url() -> str:
    return os.environ.get(
        "ATIENDE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database for this test session."""
    admin = make_url(_admin_url())
    name = f"atiende_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
