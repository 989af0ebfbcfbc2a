"""Who may see and act on a ticket (pure; the API enforces it).

Roles come from the roles document of the seeds. Both the person's agent and
the referent see the ticket ("tanto quien consulta como quien atiende deben
tener acceso a la solicitud"):

- ejecutivo (first level): sees every ticket, since any caller may ask any
  agent about theirs; creates, takes, derives, answers, closes, reopens, notes.
- referente / mesa de ayuda: sees and works only the tickets derived to them
  or to a unit they answer for; never creates.
- supervisor del canal and admin: everything.
- gerente: sees everything, changes nothing.
"""

from __future__ import annotations

from typing import Final

from crm_bridge.organisms import Role
from crm_bridge.ticket_rules import TicketAction

VIEW: Final = "ver"

_WORK = frozenset(
    {
        TicketAction.DERIVE,
        TicketAction.START,
        TicketAction.RESPOND,
        TicketAction.CLOSE,
        TicketAction.REOPEN,
        TicketAction.NOTE,
    }
)


def may(role: Role, action: TicketAction | str, *, assigned: bool) -> bool:
    """Whether a user with `role` may do `action` (or VIEW) on a ticket.

    `assigned`: the ticket is derived to this user or to one of their units
    (TicketService.is_assigned).
    """
    if role in (Role.ADMIN, Role.SUPERVISOR):
        return True
    if action == VIEW:
        return role is not Role.REFERENTE or assigned
    if role is Role.GERENTE:
        return False
    if role is Role.EJECUTIVO:
        return action == TicketAction.CREATE or action in _WORK
    if role is Role.REFERENTE:
        return assigned and action in _WORK
    return False
