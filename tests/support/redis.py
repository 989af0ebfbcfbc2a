"""The test Redis: every helper/CI run sets its own DB number in ATIENDE_TEST_REDIS_URL."""

from __future__ import annotations

import os

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def redis_test_url() -> str:
    return os.environ.get("ATIENDE_TEST_REDIS_URL", DEFAULT_REDIS_URL)
