"""Kept importable for branches written before tests/support/ (issue 12):
the browser helpers live in tests/support/browser.py, ports in ports.py."""

from __future__ import annotations

from tests.support.browser import (
    AXE,
    CHROMIUM,
    CHROMIUM_ARGS,
    CHROMIUM_INSTALLED,
    axe_violations,
    launch,
    log_in_page,
    require_chromium,
)
from tests.support.ports import free_port

__all__ = [
    "AXE",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "CHROMIUM_INSTALLED",
    "axe_violations",
    "free_port",
    "launch",
    "log_in_page",
    "require_chromium",
]
