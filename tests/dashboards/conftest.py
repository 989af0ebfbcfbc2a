"""Fixtures of the dashboards' tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import fresh_database


@pytest.fixture(scope="module")
def browser_db(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url, "wallb", migrate=True) as db:
        yield db
