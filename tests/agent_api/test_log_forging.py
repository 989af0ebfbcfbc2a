"""Log forging: values from outside (a Linkedid, a URL path) cannot start a
log line of their own, through the logging `atiende` installs."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from atiende.logs import configure_logging, escape_controls
from crm_bridge.organisms import Role
from tests.agent_api.conftest import Panel

FORGED = "2026-01-01 00:00:00,000 CRITICAL atiende: database destroyed"


@pytest.fixture
def process_log() -> Iterator[io.StringIO]:
    """The process's logging as `atiende` sets it up, into a buffer."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buffer = io.StringIO()
    configure_logging("INFO", buffer)
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


def test_a_linkedid_with_a_newline_cannot_forge_a_log_line(
    panel: Panel, process_log: io.StringIO
) -> None:
    client = panel.client(panel.usernames[Role.EJECUTIVO])
    answer = client.post(f"/api/wrapups/asterisk/1.1%0A{FORGED}%0D%1B[2J/start")
    assert answer.status_code in (403, 404)
    lines = process_log.getvalue().splitlines()
    assert any("database destroyed" in line for line in lines), lines
    assert not any(line.startswith(FORGED[:10]) and "CRITICAL" in line for line in lines), lines
    assert "\x1b" not in process_log.getvalue()


def test_tracebacks_stay_inside_their_record(process_log: io.StringIO) -> None:
    log = logging.getLogger("atiende.test")
    try:
        raise ValueError(f"bad linkedid 1.1\n{FORGED}")
    except ValueError:
        log.exception("failed for %s", f"x\n{FORGED}")
    lines = process_log.getvalue().splitlines()
    assert lines[0].endswith("failed for x\\n" + FORGED)
    # Every other line is a continuation: indented, never a record of its own.
    assert all(line.startswith("    ") for line in lines[1:]), lines


def test_escape_controls() -> None:
    assert escape_controls("a\r\nb\tc\x1b[0m\x85\u2028") == "a\\r\\nb\\tc\\x1b[0m\\x85\\u2028"
    assert escape_controls("Núñez 099 123 456") == "Núñez 099 123 456"
