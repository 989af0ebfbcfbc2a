"""Ticket access by role (the roles document of the seeds)."""

from __future__ import annotations

import pytest

from crm_bridge.organisms import Role
from crm_bridge.ticket_access import VIEW, may
from crm_bridge.ticket_rules import TicketAction

A = TicketAction
WORK = [A.DERIVE, A.START, A.RESPOND, A.CLOSE, A.REOPEN, A.NOTE]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SUPERVISOR])
def test_supervisors_and_admins_do_everything(role: Role) -> None:
    for action in [VIEW, A.CREATE, *WORK]:
        assert may(role, action, assigned=False)


def test_first_level_sees_and_works_every_ticket() -> None:
    for action in [VIEW, A.CREATE, *WORK]:
        assert may(Role.EJECUTIVO, action, assigned=False)


def test_referents_only_their_tickets_and_never_create() -> None:
    assert not may(Role.REFERENTE, VIEW, assigned=False)
    assert not may(Role.REFERENTE, A.CREATE, assigned=True)
    for action in WORK:
        assert may(Role.REFERENTE, action, assigned=True)
        assert not may(Role.REFERENTE, action, assigned=False)
    assert may(Role.REFERENTE, VIEW, assigned=True)


def test_managers_read_only() -> None:
    assert may(Role.GERENTE, VIEW, assigned=False)
    for action in [A.CREATE, *WORK]:
        assert not may(Role.GERENTE, action, assigned=True)


def test_unknown_actions_are_refused() -> None:
    assert not may(Role.EJECUTIVO, "borrar", assigned=True)
    assert not may(Role.REFERENTE, "borrar", assigned=True)
