"""Time in state is measured with the clock that stamped it (the bridge's).

The demo's simulator runs its clock faster than the wall clock and the tracker
stamps `since` with it; a page subtracting it from time.time() showed 00:00.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from crm_bridge.organisms import Role
from telephony.agents import AgentSnapshot
from telephony.domain import AgentState
from tests.agent_api.conftest import Panel, build_panel
from tests.agent_api.test_web_pages import form_login

# The bridge's clock, hours ahead of the wall clock (as a sped-up simulation gets).
AHEAD = 5 * 3600.0
IN_STATE = 125.0  # 02:05


def _bridge_clock() -> float:
    return time.time() + AHEAD


@pytest.fixture
def ahead_panel(panel_db: str) -> Iterator[Panel]:
    built = build_panel(panel_db, state_clock=_bridge_clock)
    try:
        yield built
    finally:
        built.engine.dispose()


def _paused(panel: Panel, username: str) -> None:
    panel.agents.append(
        AgentSnapshot(
            interface=panel.interfaces[username],
            member_name=username,
            queues=("consultas",),
            state=AgentState.PAUSED,
            since=_bridge_clock() - IN_STATE,
            reason="Almuerzo",
        )
    )


def test_agent_status_bar_counts_from_the_bridge_clock(ahead_panel: Panel) -> None:
    username = ahead_panel.usernames[Role.EJECUTIVO]
    _paused(ahead_panel, username)
    client = ahead_panel.client()
    form_login(client, username)
    page = client.get("/agente")
    assert page.status_code == 200
    elapsed = re.search(r'class="timer" data-elapsed="([0-9.\-]+)">([0-9:]+)<', page.text)
    assert elapsed is not None, page.text
    assert IN_STATE - 1 <= float(elapsed.group(1)) <= IN_STATE + 5
    assert elapsed.group(2) in ("02:05", "02:06")


def test_supervision_time_in_state_uses_the_bridge_clock(ahead_panel: Panel) -> None:
    _paused(ahead_panel, ahead_panel.usernames[Role.EJECUTIVO])
    client = ahead_panel.client()
    form_login(client, ahead_panel.usernames[Role.SUPERVISOR])
    page = client.get("/supervision")
    assert page.status_code == 200
    assert re.search(r"<td>02:0[56]</td>", page.text), page.text
