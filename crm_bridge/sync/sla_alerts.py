"""SLA alerts: tickets about to miss, or past, their due date without a response.

A ticket is "por vencer" once no more than `warn_before` of business time
is left before its due date (a ticket due Monday 10:00 with two hours of
warning is flagged Friday afternoon, not Monday 08:00 when the office is
closed), and "vencido" once the due date passed unanswered. The scan runs
periodically (an RQ job scheduled by the workers, or a thread without Redis);
each (ticket, level) is raised once whatever the number of scanners, and
alerts stay listed for supervisors and referents until acknowledged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from citizen.calendar import WEEKDAYS, BusinessHours
from crm_bridge.db import session_factory
from crm_bridge.exceptions import CrmBridgeError, NotFoundError
from crm_bridge.models import SlaAlert, Ticket
from crm_bridge.store_access import translated
from crm_bridge.ticket_rules import TicketStatus

log = logging.getLogger(__name__)

# How far back the warning moment is searched: a calendar closed longer than
# this before a due date warns this long before it.
_SEARCH_SPAN = timedelta(days=62)


class AlertLevel(StrEnum):
    DUE_SOON = "por_vencer"
    BREACHED = "vencido"


def warning_moment(
    hours: BusinessHours | None, due_at: datetime, warn_before: timedelta
) -> datetime:
    """The moment from which no more than `warn_before` of business time is left before
    `due_at` (plain clock time without business hours)."""
    if hours is None or warn_before <= timedelta(0):
        return due_at - warn_before
    remaining = warn_before
    for opens, closes in _open_spans_backwards(hours, due_at):
        if remaining <= closes - opens:
            return (closes - remaining).astimezone(UTC)
        remaining -= closes - opens
    return due_at - _SEARCH_SPAN


def _open_spans_backwards(
    hours: BusinessHours, end: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """Opening spans before `end`, latest first, the first one cut at `end`."""
    zone = ZoneInfo(hours.timezone)
    local_end = end.astimezone(zone)
    day = local_end.date()
    for _ in range(_SEARCH_SPAN.days):
        if not hours.is_holiday(day):
            ranges = hours.weekly.get(WEEKDAYS[day.weekday()], ())
            for span in sorted(ranges, key=lambda r: r.start, reverse=True):
                opens = datetime.combine(day, span.start, tzinfo=zone)
                closes = datetime.combine(day, span.end, tzinfo=zone)
                if opens < local_end:
                    yield opens, min(closes, local_end)
        day -= timedelta(days=1)


def levels_reached(now: datetime, due_at: datetime, warn_at: datetime) -> tuple[AlertLevel, ...]:
    """The alert levels a still-unanswered ticket has reached at `now`."""
    if now >= due_at:
        return (AlertLevel.DUE_SOON, AlertLevel.BREACHED)
    if now >= warn_at:
        return (AlertLevel.DUE_SOON,)
    return ()


@dataclass(frozen=True, slots=True)
class AlertView:
    id: int
    ticket_id: int
    ticket_number: str
    level: AlertLevel
    raised_at: datetime
    due_at: datetime
    unit_id: int | None
    referent_id: int | None
    acknowledged_at: datetime | None


class SlaAlerts:
    """Raises, lists and acknowledges SLA alerts."""

    def __init__(
        self,
        engine: Engine,
        *,
        hours: BusinessHours | None,
        warn_before: timedelta = timedelta(hours=4),
        lookahead: timedelta = timedelta(days=14),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)
        self._hours = hours
        self._warn_before = warn_before
        self._lookahead = lookahead
        self._clock = clock

    def scan(self) -> list[AlertView]:
        """Raise the alerts due now; returns only the ones this scan raised."""
        now = self._clock()
        query = select(Ticket).where(
            Ticket.status != TicketStatus.CERRADA.value,
            Ticket.responded_at.is_(None),
            Ticket.due_at.is_not(None),
            Ticket.due_at <= now + self._lookahead,
        )
        raised: list[AlertView] = []
        with translated("scanning SLA alerts"), self._sessions.begin() as session:
            existing = {
                (ticket_id, level)
                for ticket_id, level in session.execute(select(SlaAlert.ticket_id, SlaAlert.level))
            }
            for ticket in session.scalars(query).all():
                assert ticket.due_at is not None
                warn_at = warning_moment(self._hours, ticket.due_at, self._warn_before)
                for level in levels_reached(now, ticket.due_at, warn_at):
                    if (ticket.id, level.value) in existing:
                        continue
                    alert = self._insert(session, ticket, level, now)
                    if alert is not None:
                        raised.append(alert)
        for alert in raised:
            log.info(
                "SLA alert %s on ticket %s (due %s)",
                alert.level.value,
                alert.ticket_number,
                alert.due_at.isoformat(),
            )
        return raised

    def _insert(
        self, session: Session, ticket: Ticket, level: AlertLevel, now: datetime
    ) -> AlertView | None:
        values = {
            "ticket_id": ticket.id,
            "level": level.value,
            "raised_at": now,
            "due_at": ticket.due_at,
            "unit_id": ticket.unit_id,
            "referent_id": ticket.referent_id,
        }
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        # Another scanner may have raised it since this one read: first one wins.
        stmt = (
            dialect.insert(SlaAlert)
            .values(values)
            .on_conflict_do_nothing(index_elements=["ticket_id", "level"])
            .returning(SlaAlert.id)
        )
        alert_id = session.execute(stmt).scalar_one_or_none()
        if alert_id is None:
            return None
        assert ticket.due_at is not None
        return AlertView(
            alert_id,
            ticket.id,
            ticket.number,
            level,
            now,
            ticket.due_at,
            ticket.unit_id,
            ticket.referent_id,
            None,
        )

    def open_alerts(
        self, *, referent_id: int | None = None, unit_ids: Sequence[int] | None = None
    ) -> list[AlertView]:
        """Unacknowledged alerts, newest first; a referent sees theirs and their units'."""
        query = (
            select(SlaAlert, Ticket.number)
            .join(Ticket, Ticket.id == SlaAlert.ticket_id)
            .where(SlaAlert.acknowledged_at.is_(None))
            .order_by(SlaAlert.raised_at.desc(), SlaAlert.id.desc())
        )
        if referent_id is not None or unit_ids is not None:
            mine = SlaAlert.referent_id == referent_id
            if unit_ids:
                mine = mine | SlaAlert.unit_id.in_(list(unit_ids))
            query = query.where(mine)
        with translated("listing SLA alerts"), self._sessions() as session:
            return [_view(alert, str(number)) for alert, number in session.execute(query).all()]

    def acknowledge(self, alert_id: int, user_id: int | None, note: str | None = None) -> bool:
        """Mark the alert seen (with the user's note); False if it already was."""
        with translated("acknowledging an SLA alert"), self._sessions.begin() as session:
            alert = session.get(SlaAlert, alert_id)
            if alert is None:
                raise NotFoundError(f"no SLA alert {alert_id}")
            if alert.acknowledged_at is not None:
                return False
            alert.acknowledged_at = self._clock()
            alert.acknowledged_by = user_id
            alert.acknowledged_note = note
            return True

    def counts(self) -> dict[AlertLevel, int]:
        """Open alerts per level (what a metrics collector exports)."""
        query = (
            select(SlaAlert.level, func.count())
            .where(SlaAlert.acknowledged_at.is_(None))
            .group_by(SlaAlert.level)
        )
        with translated("counting SLA alerts"), self._sessions() as session:
            found = {str(level): int(n) for level, n in session.execute(query).all()}
        return {level: found.get(level.value, 0) for level in AlertLevel}


def _view(alert: SlaAlert, number: str) -> AlertView:
    return AlertView(
        alert.id,
        alert.ticket_id,
        number,
        AlertLevel(alert.level),
        alert.raised_at,
        alert.due_at,
        alert.unit_id,
        alert.referent_id,
        alert.acknowledged_at,
    )


# ------------------------------------------------------------- scheduling

_installed: SlaAlerts | None = None


def install(alerts: SlaAlerts) -> None:
    """Give this worker process's `scan_sla_alerts` jobs their scanner."""
    global _installed
    _installed = alerts


def scan_sla_alerts() -> int:
    """The RQ job: scan once; returns how many alerts it raised."""
    if _installed is None:
        raise RuntimeError("no SlaAlerts installed in this worker (sla_alerts.install)")
    return len(_installed.scan())


class PeriodicScan:
    """Calls `tick` every `interval` seconds in a daemon thread (errors logged, not fatal)."""

    def __init__(self, tick: Callable[[], object], interval: float, name: str = "sla-scan") -> None:
        self._tick = tick
        self._interval = interval
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except (CrmBridgeError, OSError) as err:
                log.warning("%s failed: %s", self._name, err)
            except Exception:
                log.exception("%s failed", self._name)
            self._stop.wait(self._interval)
