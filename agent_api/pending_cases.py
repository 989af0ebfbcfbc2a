"""Pending cases come back: wrap-ups left "pendiente" until they are closed with a response.

A pending wrap-up carries a follow-up time and a way back to the person (a
phone or an email of theirs, chosen in the wrap-up form). From then on it is
on the agent's worklist (/agente, "Casos pendientes") and the supervisors'
(/supervision):

- programado: the follow-up time has not come;
- vence: it has come (the agent is reminded once, on the panel);
- vencido: `overdue_after` more has passed without closing it (escalated to
  the supervisors' list, counted in atiende_followups_overdue).

Closing records the response given to the person (and who, and when); the
case then leaves both lists. `case_state` is the pure rule; `PendingCases` the
store adapter; `remind_once` what the panel's periodic task does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import aliased

from agent_api.audit import AuditAction, AuditLog
from agent_api.auth import Principal
from agent_api.exceptions import Conflict, Forbidden, InvalidInput, NotFound
from crm_bridge.db import session_factory
from crm_bridge.models import AttentionWrapup, CatalogTopic, Person, User
from crm_bridge.store_access import translated
from telephony.domain import CallKey

log = logging.getLogger(__name__)

DEFAULT_OVERDUE_AFTER = timedelta(hours=4)
MAX_RESPONSE = 4000
_PENDING = "pendiente"


class CaseState(StrEnum):
    SCHEDULED = "programado"
    DUE = "vence"
    OVERDUE = "vencido"


STATE_LABELS = {
    CaseState.SCHEDULED: "Programado",
    CaseState.DUE: "Para retomar",
    CaseState.OVERDUE: "Vencido",
}


def case_state(now: datetime, follow_up_at: datetime, overdue_after: timedelta) -> CaseState:
    """Where a pending case stands at `now`."""
    if now < follow_up_at:
        return CaseState.SCHEDULED
    if now < follow_up_at + overdue_after:
        return CaseState.DUE
    return CaseState.OVERDUE


@dataclass(frozen=True, slots=True)
class PendingCase:
    call: CallKey
    agent_user_id: int | None
    agent_name: str
    person_id: int | None
    person_name: str
    contact_kind: str  # "phone" or "email"
    contact: str
    topic: str
    notes: str
    follow_up_at: datetime
    state: CaseState
    reminded_at: datetime | None
    escalated_at: datetime | None

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def ref(self) -> str:
        """The case in a form field or a URL path: system|linkedid (no personal data)."""
        return f"{self.call.system}|{self.call.linkedid}"


@dataclass(frozen=True, slots=True)
class ClosedCase:
    call: CallKey
    closed_at: datetime
    closed_by: int
    response: str


class PendingCases:
    def __init__(
        self,
        engine: Engine,
        *,
        overdue_after: timedelta = DEFAULT_OVERDUE_AFTER,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = session_factory(engine)
        self.overdue_after = overdue_after
        self._clock = clock

    # ---------------------------------------------------------------- reads

    def open_cases(
        self, *, agent_user_id: int | None = None, limit: int = 200
    ) -> list[PendingCase]:
        """Pending cases not closed, soonest follow-up first (one agent's, or all)."""
        agent = aliased(User)
        query = (
            select(AttentionWrapup, agent.display_name, Person, CatalogTopic.name)
            .outerjoin(agent, agent.id == AttentionWrapup.agent_user_id)
            .outerjoin(Person, Person.id == AttentionWrapup.person_id)
            .outerjoin(CatalogTopic, CatalogTopic.id == AttentionWrapup.topic_id)
            .where(*self._open())
            .order_by(AttentionWrapup.follow_up_at, AttentionWrapup.id)
            .limit(max(1, min(limit, 1000)))
        )
        if agent_user_id is not None:
            query = query.where(AttentionWrapup.agent_user_id == agent_user_id)
        now = self._clock()
        with translated("listing pending cases"), self._sessions() as session:
            rows = session.execute(query).all()
            return [self._case(w, name, person, topic, now) for w, name, person, topic in rows]

    def overdue_count(self) -> int:
        """Open pending cases past their follow-up time by more than `overdue_after`."""
        limit = self._clock() - self.overdue_after
        query = (
            select(func.count())
            .select_from(AttentionWrapup)
            .where(*self._open(), AttentionWrapup.follow_up_at <= limit)
        )
        with translated("counting overdue pending cases"), self._sessions() as session:
            return int(session.execute(query).scalar_one())

    # --------------------------------------------------------------- writes

    def close(self, key: CallKey, user_id: int, response: str, *, any_agent: bool) -> ClosedCase:
        """Close the case with the response given to the person.

        Only its agent may, or a supervisor (`any_agent`). The response is
        required: "toda consulta debe tener su respuesta".
        """
        text = response.replace("\x00", "").strip()
        if not text:
            raise InvalidInput(
                "closing without a response",
                detalle="Escriba la respuesta que se dio a la persona para cerrar el caso.",
            )
        if len(text) > MAX_RESPONSE:
            raise InvalidInput(
                "response too long",
                detalle=f"La respuesta admite hasta {MAX_RESPONSE} caracteres.",
            )
        now = self._clock()
        with translated("closing a pending case"), self._sessions.begin() as session:
            row = session.scalars(
                select(AttentionWrapup)
                .where(
                    AttentionWrapup.system == key.system,
                    AttentionWrapup.linkedid == key.linkedid,
                )
                .with_for_update()
            ).first()
            if row is None or row.resolution != _PENDING or row.wrapup_ended_at is None:
                raise NotFound("no pending case", detalle="Ese caso pendiente no existe.")
            if not any_agent and row.agent_user_id != user_id:
                raise Forbidden("pending case of another agent")
            if row.follow_up_closed_at is not None:
                raise Conflict("case already closed", detalle="Ese caso ya fue cerrado.")
            row.follow_up_closed_at = now
            row.follow_up_closed_by = user_id
            row.follow_up_response = text
            return ClosedCase(key, now, user_id, text)

    def claim_reminders(self) -> list[PendingCase]:
        """Due cases not reminded yet, marked reminded now (each once, whoever scans)."""
        return self._claim(AttentionWrapup.follow_up_reminded_at, self._clock())

    def claim_escalations(self) -> list[PendingCase]:
        """Overdue cases not escalated yet, marked escalated now."""
        now = self._clock()
        return self._claim(AttentionWrapup.follow_up_escalated_at, now - self.overdue_after)

    def _claim(self, column: Any, reached: datetime) -> list[PendingCase]:
        now = self._clock()
        with translated("marking pending cases"), self._sessions.begin() as session:
            ids = list(
                session.scalars(
                    select(AttentionWrapup.id)
                    .where(*self._open(), column.is_(None), AttentionWrapup.follow_up_at <= reached)
                    .limit(500)
                    .with_for_update(skip_locked=True)
                ).all()
            )
            if not ids:
                return []
            session.execute(
                update(AttentionWrapup)
                .where(AttentionWrapup.id.in_(ids), column.is_(None))
                .values({column.key: now})
            )
            rows = session.scalars(select(AttentionWrapup).where(AttentionWrapup.id.in_(ids)))
            return [self._case(w, "", None, None, now) for w in rows.all()]

    # -------------------------------------------------------------- helpers

    @staticmethod
    def _open() -> tuple[Any, ...]:
        return (
            AttentionWrapup.resolution == _PENDING,
            AttentionWrapup.wrapup_ended_at.is_not(None),
            AttentionWrapup.follow_up_closed_at.is_(None),
            AttentionWrapup.follow_up_at.is_not(None),
        )

    def _case(
        self,
        row: AttentionWrapup,
        agent_name: str | None,
        person: Person | None,
        topic: str | None,
        now: datetime,
    ) -> PendingCase:
        assert row.follow_up_at is not None
        return PendingCase(
            call=CallKey(row.system, row.linkedid),
            agent_user_id=row.agent_user_id,
            agent_name=agent_name or "",
            person_id=row.person_id,
            person_name=""
            if person is None
            else f"{person.given_names} {person.family_names}".strip(),
            contact_kind=row.follow_up_contact_kind or "",
            contact=row.follow_up_contact or "",
            topic=topic or "",
            notes=row.notes or "",
            follow_up_at=row.follow_up_at,
            state=case_state(now, row.follow_up_at, self.overdue_after),
            reminded_at=row.follow_up_reminded_at,
            escalated_at=row.follow_up_escalated_at,
        )


# ------------------------------------------------------- the panel's task


class Pusher(Protocol):
    def push(self, user_id: int, frame: dict[str, Any]) -> None: ...


def remind_once(cases: PendingCases, hub: Pusher) -> tuple[int, int]:
    """Remind agents of their cases that came due and mark overdue ones escalated.

    The frame names no person: the agent's page reloads its worklist (an
    audited read) when it gets it. Returns (reminded, escalated).
    """
    reminded = cases.claim_reminders()
    escalated = cases.claim_escalations()
    per_agent: dict[int, int] = {}
    for case in reminded:
        if case.agent_user_id is not None:
            per_agent[case.agent_user_id] = per_agent.get(case.agent_user_id, 0) + 1
    for case in escalated:
        if case.agent_user_id is not None:
            per_agent.setdefault(case.agent_user_id, 0)
    for user_id, count in per_agent.items():
        hub.push(user_id, {"type": "followup.due", "due": count})
    if escalated:
        log.info("%d pending case(s) overdue: escalated to the supervisors", len(escalated))
    return len(reminded), len(escalated)


async def remind_forever(cases: PendingCases, hub: Pusher, interval: float = 60.0) -> None:
    """`remind_once` every `interval` seconds (store work off the event loop)."""
    while True:
        try:
            await asyncio.to_thread(remind_once, cases, hub)
        except Exception:  # the store is away: try again next round
            log.warning("pending-case reminders failed this round", exc_info=True)
        await asyncio.sleep(interval)


# ------------------------------------------------------------- the lists


def pending_cases_of(state: Any) -> PendingCases | None:
    """The app's PendingCases (app.state.pending_cases), if the panel has one."""
    cases: PendingCases | None = getattr(state, "pending_cases", None)
    return cases


def agent_cases(audit: AuditLog, cases: PendingCases | None, user: Principal) -> list[PendingCase]:
    """The agent's open pending cases (blocking: run off the loop); an audited read,
    as the list names each person and their contact."""
    if cases is None:
        return []
    found = cases.open_cases(agent_user_id=user.user_id)
    audit.record(
        AuditAction.FOLLOWUPS_READ,
        actor_id=user.user_id,
        person_ids=[c.person_id for c in found] or [None],
        details={"reason": "own pending cases", "cases": len(found)},
    )
    return found


def supervisor_cases(cases: PendingCases | None) -> list[PendingCase]:
    """Every agent's cases that came due, overdue (escalated) first; the
    supervisors' list shows no person data."""
    if cases is None:
        return []
    found = [c for c in cases.open_cases() if c.state is not CaseState.SCHEDULED]
    found.sort(key=lambda c: (c.state is not CaseState.OVERDUE, c.follow_up_at))
    return found
