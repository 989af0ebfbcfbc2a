"""What the follow-up routes (tickets, SLA alerts, CRM failures, rights) need.

Each service is optional: `atiende serve` builds the panel before the CRM
sync, and a centre without business hours has no tickets. A route whose
service is missing answers 503 with a Spanish reason instead of disappearing,
so the page and the API docs stay the same everywhere.

The two errors below are agent API errors; they live here, beside the
services that raise them, until agent_api.exceptions takes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy import ColumnElement, Engine, or_, select

from agent_api.exceptions import AgentApiError
from crm_bridge.citizen_requests import CitizenRequests
from crm_bridge.db import session_factory
from crm_bridge.mail_store import MailThreads
from crm_bridge.models import Attention, AttentionWrapup, Ticket, UnitReferent
from crm_bridge.organisms import Directory
from crm_bridge.store_access import translated
from crm_bridge.sync.outbox import SyncFailures
from crm_bridge.sync.rights import PersonRights
from crm_bridge.sync.sla_alerts import SlaAlerts
from crm_bridge.ticket_rules import RequestType, TicketStatus
from crm_bridge.tickets import TicketService

_T = TypeVar("_T")


class NotConfigured(AgentApiError):
    status_code = 503
    detalle = "Esta función no está configurada en este servidor."


class DeliveryFailed(AgentApiError):
    status_code = 502
    detalle = (
        "No se pudo enviar la respuesta a la persona. El intento quedó registrado "
        "y la solicitud no cambió de estado; pruebe otro canal o reintente."
    )


def need(service: _T | None, what: str, detalle: str) -> _T:
    if service is None:
        raise NotConfigured(f"{what} not configured", detalle=detalle)
    return service


@dataclass(frozen=True, slots=True)
class TicketFilter:
    status: TicketStatus | None = None
    request_type: RequestType | None = None
    unit_id: int | None = None
    overdue: bool | None = None


class TicketScope:
    """Which tickets a user reaches: the SQL behind the lists and object-level checks.

    An ejecutivo reaches the tickets they created and those of their callers
    (people linked to a call they answered or wrapped up); a referente those
    derived to them or to a unit they answer for.
    """

    def __init__(
        self, engine: Engine, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._sessions = session_factory(engine)
        self._clock = clock

    def numbers(
        self,
        where: TicketFilter,
        *,
        agent: tuple[int, tuple[str, ...]] | None = None,
        referent_id: int | None = None,
        limit: int = 100,
    ) -> list[str]:
        """Ticket numbers, newest first; `agent` = (user id, interfaces)."""
        query = select(Ticket.number)
        if agent is not None:
            query = query.where(self.of_agent(*agent))
        if referent_id is not None:
            query = query.where(of_referent(referent_id))
        if where.status is not None:
            query = query.where(Ticket.status == where.status.value)
        if where.request_type is not None:
            query = query.where(Ticket.request_type == where.request_type.value)
        if where.unit_id is not None:
            query = query.where(Ticket.unit_id == where.unit_id)
        if where.overdue is not None:
            late = (
                Ticket.due_at.is_not(None)
                & Ticket.responded_at.is_(None)
                & (Ticket.status != TicketStatus.CERRADA.value)
                & (Ticket.due_at < self._clock())
            )
            query = query.where(late if where.overdue else ~late)
        query = query.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)
        with translated("listing tickets"), self._sessions() as session:
            return list(session.scalars(query).all())

    def reaches_as_agent(self, number: str, user_id: int, interfaces: tuple[str, ...]) -> bool:
        query = select(Ticket.id).where(
            Ticket.number == number.strip(), self.of_agent(user_id, interfaces)
        )
        with translated("reading a ticket"), self._sessions() as session:
            return session.scalars(query).first() is not None

    @staticmethod
    def of_agent(user_id: int, interfaces: tuple[str, ...]) -> ColumnElement[bool]:
        """An ejecutivo's tickets: created by them, born of a call they wrapped
        up, or of a person linked to a call they answered or wrapped up (links
        are justified when made: agent_api.need_to_know.check_link)."""
        callers = select(AttentionWrapup.person_id).where(
            AttentionWrapup.agent_user_id == user_id, AttentionWrapup.person_id.is_not(None)
        )
        answered = select(Attention.person_id).where(
            Attention.agent.in_(interfaces or ("",)), Attention.person_id.is_not(None)
        )
        wrapped_call = (
            select(AttentionWrapup.id)
            .where(
                AttentionWrapup.agent_user_id == user_id,
                AttentionWrapup.system == Ticket.attention_system,
                AttentionWrapup.linkedid == Ticket.attention_linkedid,
            )
            .exists()
        )
        return or_(
            Ticket.created_by == user_id,
            Ticket.person_id.in_(callers),
            Ticket.person_id.in_(answered),
            wrapped_call,
        )


def of_referent(user_id: int) -> ColumnElement[bool]:
    """A referente's tickets: derived to them or to a unit they answer for."""
    units = select(UnitReferent.unit_id).where(UnitReferent.user_id == user_id)
    return or_(Ticket.referent_id == user_id, Ticket.unit_id.in_(units))


@dataclass
class FollowUpServices:
    """Built once by create_app; the optional ones may be attached later (see Panel)."""

    tickets: TicketService | None
    scope: TicketScope
    directory: Directory
    sla_alerts: SlaAlerts | None = None
    crm_failures: SyncFailures | None = None
    rights: PersonRights | None = None
    # Requests citizens opened on the web form: where their answer may go.
    requests: CitizenRequests | None = None
    # Email threads of tickets: reply addresses and attachments.
    mail: MailThreads | None = None


def get_followup(request: Request) -> FollowUpServices:
    followup: FollowUpServices = request.app.state.followup
    return followup


FollowUp = Annotated[FollowUpServices, Depends(get_followup)]
