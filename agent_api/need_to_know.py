"""Need to know (Ley 18.331): who may see whose personal data, and for which reason.

This module is the one place the rule lives; every route that shows a person
asks it first and audits the read with the reason it checked.

A *reason* is a call (system + linkedid) or a ticket number. What each role
may do with one:

- **ejecutivo**: a call they answered (a walk-in they received at
  reception or serve at a desk: crm_bridge.turns records who, since a
  walk-in has no phone legs) (live in the hub, or as the store has
  it: the call must exist). Being rung for a call, or wrapping it up, lets
  them wrap it up and create its ticket (`handles_call`) and brings the pop's
  summary, but reading, searching and registering need the answer. Only for
  a person *identified for that call*: named by the
  IVR (`ATIENDE_PERSON_ID`), linked to it, holding the calling number, shown
  to this user by the pop for it, found by a search this user made with that
  call as reason, or registered on it. Or a ticket they reach (they opened
  it, wrapped up the call it came from, or it belongs to one of their
  callers: `followup.TicketScope.of_agent`, the SQL the ticket lists and
  ticket routes use too), and only for the ticket's person.
- **referente**: only through the tickets derived to them or to a unit they
  answer for, and only that ticket's person. A call is never their reason.
- **supervisor**: oversees every call and every ticket of the centre, so any
  call that exists (live or stored) is a reason for a person identified for
  it by anyone, and any ticket is a reason for its person. Pops never carry
  person data to supervisors; what they read, they read through the API and
  it is audited like an agent's read.
- **gerente**: figures, not people. Never a reason; lists that would show
  numbers or names show them masked (`figures_only`).
- **admin**: no person reads here; rights requests (export, erasure) are
  audited by `crm_bridge.sync.rights.PersonRights`.

Linking a person to a call (a wrap-up's `person_id`, a registration with the
call, a ticket created for the person) needs the same justification as a read
by call: the person was identified for that call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from agent_api.auth import Principal
from agent_api.exceptions import Forbidden
from agent_api.followup import TicketScope, of_referent
from crm_bridge.db import session_factory
from crm_bridge.models import (
    Attention,
    AttentionWrapup,
    AuditEntry,
    PersonPhone,
    Ticket,
)
from crm_bridge.organisms import Role
from crm_bridge.phones import normalise_number
from crm_bridge.store_access import translated
from crm_bridge.turns import RECEIVED_BY_VARIABLE, SERVED_BY_VARIABLE
from telephony.domain import CallKey, Outcome

PERSON_VARIABLE = "ATIENDE_PERSON_ID"
# Non-phone attentions are keyed atiende:<channel> (citizen.channels.attention_system).
WALK_IN_SYSTEM_PREFIX = "atiende:"
# Audit actions that show a person to a user for a call: each makes the person
# "identified for that call" for that user (values of agent_api.audit.AuditAction).
IDENTIFYING_ACTIONS = ("pop_disclosure", "person_search", "person_create")

NO_REASON = (
    "Para ver datos de una persona indique la llamada que atiende o la solicitud "
    "que trabaja por la que la consulta."
)
NOT_YOUR_CALL = "La llamada indicada no existe o no es una llamada que usted atendió."
NOT_YOUR_TICKET = "La solicitud indicada no existe o no está a su cargo."
NOT_IDENTIFIED = (
    "La persona indicada no fue identificada en esa llamada: búsquela o regístrela "
    "con la llamada como motivo."
)
NOT_TICKET_PERSON = "La persona indicada no es la de esa solicitud."
FIGURES_ONLY = "Su rol consulta cifras, no datos de personas."


class LiveCalls(Protocol):
    """What the pop hub knows of calls still in memory (agent_api.ws.PopHub)."""

    def handled_by(self, key: CallKey, user_id: int) -> bool: ...

    def answered_by(self, key: CallKey) -> int | None: ...

    def caller_of(self, key: CallKey) -> tuple[str, Mapping[str, str]] | None: ...


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a user looks at a person: a call, or a ticket (by number)."""

    call: CallKey | None = None
    ticket: str | None = None

    @classmethod
    def of(
        cls, call_system: str | None, call_linkedid: str | None, ticket: str | None = None
    ) -> Reason | None:
        call = CallKey(call_system, call_linkedid) if call_system and call_linkedid else None
        number = ticket.strip() if ticket and ticket.strip() else None
        if call is None and number is None:
            return None
        return cls(call, number)

    def details(self) -> dict[str, Any]:
        """What the audit row adds to its call columns."""
        return (
            {"reason": "call"}
            if self.ticket is None
            else {"reason": "ticket", "ticket": self.ticket}
        )


class NeedToKnow:
    """The rule above, over the store and the live hub (blocking: run off the loop)."""

    def __init__(self, engine: Engine, live: LiveCalls, *, phone_region: str = "UY") -> None:
        self._sessions = session_factory(engine)
        self._live = live
        self._region = phone_region

    # -------------------------------------------------------------- roles

    @staticmethod
    def figures_only(user: Principal) -> bool:
        """The gerente: lists show figures, with numbers and names masked."""
        return user.role is Role.GERENTE

    # -------------------------------------------------------------- calls

    def handles_call(self, user: Principal, key: CallKey) -> bool:
        """Rung for, answered, or wrapping up this call (which must exist)."""
        if self._live.handled_by(key, user.user_id):
            return True
        with translated("checking a call's agent"), self._sessions() as session:
            row = _attention(session, key)
            if row is not None and set(user.interfaces) & _interfaces(row.legs, answered=False):
                return True
            if row is not None and user.user_id in _walk_in_staff(row):
                return True
            return _wrapup_of(session, key, user.user_id) is not None

    def answered_call(self, user: Principal, key: CallKey) -> bool:
        """This user's phone answered the call (live, or as the store has it)."""
        answered = self._live.answered_by(key)
        if answered is not None:
            return answered == user.user_id
        with translated("checking a call's agent"), self._sessions() as session:
            row = _attention(session, key)
            return row is not None and (
                bool(set(user.interfaces) & _interfaces(row.legs, answered=True))
                or user.user_id in _walk_in_staff(row)
            )

    def call_exists(self, key: CallKey) -> bool:
        if self._live.caller_of(key) is not None:
            return True
        with translated("checking a call"), self._sessions() as session:
            return _attention(session, key) is not None

    def caller_of(self, key: CallKey) -> tuple[str, Mapping[str, str]] | None:
        """The calling number and channel variables of a live or stored call."""
        live = self._live.caller_of(key)
        if live is not None:
            return live
        with translated("reading a call"), self._sessions() as session:
            row = _attention(session, key)
            if row is None:
                return None
            number = row.caller_number or row.caller_number_raw
            return number, {str(k): str(v) for k, v in (row.variables or {}).items()}

    def identified_for_call(self, key: CallKey, *, by: int | None) -> set[int]:
        """Persons identified for the call; `by` limits the pop/search/registration
        trail to what that user did (None: anyone's, for supervisors)."""
        found: set[int] = set()
        live = self._live.caller_of(key)
        with translated("identifying a call's person"), self._sessions() as session:
            row = _attention(session, key)
            if row is not None and row.person_id is not None:
                found.add(row.person_id)
            caller = live
            if caller is None and row is not None:
                caller = (row.caller_number or row.caller_number_raw, dict(row.variables or {}))
            if caller is not None:
                number, variables = caller
                raw = str(variables.get(PERSON_VARIABLE, "")).strip()
                if raw.isdigit():
                    found.add(int(raw))
                normalised = normalise_number(number, self._region) if number else None
                if normalised:
                    found.update(
                        session.scalars(
                            select(PersonPhone.person_id).where(PersonPhone.number == normalised)
                        )
                    )
            trail = select(AuditEntry.person_id).where(
                AuditEntry.call_system == key.system,
                AuditEntry.call_linkedid == key.linkedid,
                AuditEntry.action.in_(IDENTIFYING_ACTIONS),
                AuditEntry.person_id.is_not(None),
            )
            if by is not None:
                trail = trail.where(AuditEntry.actor_id == by)
            found.update(p for p in session.scalars(trail) if p is not None)
            wrapped = select(AttentionWrapup.person_id).where(
                AttentionWrapup.system == key.system,
                AttentionWrapup.linkedid == key.linkedid,
                AttentionWrapup.person_id.is_not(None),
            )
            if by is not None:
                wrapped = wrapped.where(AttentionWrapup.agent_user_id == by)
            found.update(p for p in session.scalars(wrapped) if p is not None)
        return found

    def registered_by(self, user: Principal, person_id: int) -> bool:
        """This user registered the person (a walk-in's ticket without a call)."""
        with translated("checking a registration"), self._sessions() as session:
            found = session.scalars(
                select(AuditEntry.id).where(
                    AuditEntry.actor_id == user.user_id,
                    AuditEntry.person_id == person_id,
                    AuditEntry.action == "person_create",
                )
            ).first()
            return found is not None

    # ------------------------------------------------------------ tickets

    def reaches_ticket(self, user: Principal, number: str) -> tuple[bool, int | None]:
        """Whether the user reaches the ticket, and the ticket's person."""
        with translated("checking a ticket"), self._sessions() as session:
            ticket = session.scalars(select(Ticket).where(Ticket.number == number)).first()
            if ticket is None:
                return False, None
            if user.role is Role.SUPERVISOR:
                return True, ticket.person_id
            # The same SQL as the ticket lists (followup.TicketScope): one rule.
            if user.role is Role.REFERENTE:
                scope = of_referent(user.user_id)
            elif user.role is Role.EJECUTIVO:
                scope = TicketScope.of_agent(user.user_id, user.interfaces)
            else:
                return False, ticket.person_id
            mine = session.scalars(select(Ticket.id).where(Ticket.id == ticket.id, scope)).first()
            return mine is not None, ticket.person_id

    # -------------------------------------------------------------- checks

    def check_reason(self, user: Principal, reason: Reason | None) -> None:
        """The reason itself is valid for this user (searches, registrations)."""
        if self.figures_only(user):
            raise Forbidden(f"user {user.user_id} is a gerente", detalle=FIGURES_ONLY)
        if reason is None:
            raise Forbidden(f"user {user.user_id} gave no reason", detalle=NO_REASON)
        if reason.call is not None and not self._call_reason_ok(user, reason.call):
            raise Forbidden(
                f"user {user.user_id} gave call {reason.call.linkedid} as reason",
                detalle=NOT_YOUR_CALL,
            )
        if reason.ticket is not None:
            reached, _person = self.reaches_ticket(user, reason.ticket)
            if not reached:
                raise Forbidden(
                    f"user {user.user_id} gave an unreachable ticket as reason",
                    detalle=NOT_YOUR_TICKET,
                )

    def check_read(self, user: Principal, person_id: int, reason: Reason | None) -> None:
        """May this user see this person for this reason? Raises Forbidden if not."""
        self.check_reason(user, reason)
        assert reason is not None  # check_reason refuses None
        if reason.call is not None:
            by = None if user.role is Role.SUPERVISOR else user.user_id
            if person_id not in self.identified_for_call(reason.call, by=by):
                raise Forbidden(
                    f"person {person_id} not identified for call {reason.call.linkedid}",
                    detalle=NOT_IDENTIFIED,
                )
        if reason.ticket is not None:
            _reached, owner = self.reaches_ticket(user, reason.ticket)
            if owner != person_id:
                raise Forbidden(
                    f"person {person_id} is not the person of the ticket given",
                    detalle=NOT_TICKET_PERSON,
                )

    def check_link(self, user: Principal, key: CallKey, person_id: int) -> None:
        """Linking a person to a call: the person was identified for it by this user."""
        by = None if user.role is Role.SUPERVISOR else user.user_id
        if person_id not in self.identified_for_call(key, by=by):
            raise Forbidden(
                f"person {person_id} not identified for call {key.linkedid}",
                detalle=NOT_IDENTIFIED,
            )

    def _call_reason_ok(self, user: Principal, key: CallKey) -> bool:
        if user.role is Role.EJECUTIVO:
            # A phone that only rang gets the pop's summary, not the record:
            # reading, searching and registering need the call answered here.
            return self.answered_call(user, key)
        if user.role is Role.SUPERVISOR:
            return self.call_exists(key)
        return False


def _attention(session: Session, key: CallKey) -> Attention | None:
    return session.scalars(
        select(Attention).where(Attention.system == key.system, Attention.linkedid == key.linkedid)
    ).first()


def _walk_in_staff(row: Attention) -> set[int]:
    """Who received and who serves a walk-in (it has no phone legs to tell):
    for them the attention is what an answered call is to a phone agent."""
    if not row.system.startswith(WALK_IN_SYSTEM_PREFIX):
        return set()
    if row.outcome == Outcome.CANCELLED.value:
        return set()  # reception cancelled it (or it was swept): no longer a reason
    variables = row.variables or {}
    found = set()
    for name in (RECEIVED_BY_VARIABLE, SERVED_BY_VARIABLE):
        raw = str(variables.get(name, ""))
        if raw.isdigit():
            found.add(int(raw))
    return found


def _wrapup_of(session: Session, key: CallKey, user_id: int) -> int | None:
    return session.scalars(
        select(AttentionWrapup.id).where(
            AttentionWrapup.system == key.system,
            AttentionWrapup.linkedid == key.linkedid,
            AttentionWrapup.agent_user_id == user_id,
        )
    ).first()


def _interfaces(legs: list[Any] | None, *, answered: bool) -> set[str]:
    return {
        str(leg["interface"])
        for leg in legs or []
        if isinstance(leg, dict)
        and leg.get("interface")
        and (not answered or leg.get("answered_at"))
    }
