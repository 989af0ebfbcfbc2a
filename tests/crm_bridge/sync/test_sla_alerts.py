"""SLA alerts before and at a breach, in business hours; raised once; scheduled on RQ."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from redis import Redis
from rq import Queue
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from crm_bridge.models import Organism, Ticket, User
from crm_bridge.sla import add_business_time, office_hours
from crm_bridge.sync import sla_alerts
from crm_bridge.sync.sla_alerts import AlertLevel, SlaAlerts, levels_reached, warning_moment
from crm_bridge.sync.worker import enqueue_sla_scan

# Montevideo is UTC-3 all year (no daylight saving since 2015).
OFFICE = office_hours("09:00-17:00")
MONDAY_10 = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)  # Monday 30 Nov, 10:00 local


def test_the_warning_counts_business_hours_back_over_the_weekend() -> None:
    # Two hours before Monday 10:00: Monday 09:00-10:00 and Friday 16:00-17:00.
    friday_16 = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)
    assert warning_moment(OFFICE, MONDAY_10, timedelta(hours=2)) == friday_16
    assert warning_moment(None, MONDAY_10, timedelta(hours=2)) == MONDAY_10 - timedelta(hours=2)


def test_levels_reached() -> None:
    warn = MONDAY_10 - timedelta(hours=1)
    assert levels_reached(warn - timedelta(seconds=1), MONDAY_10, warn) == ()
    assert levels_reached(warn, MONDAY_10, warn) == (AlertLevel.DUE_SOON,)
    assert levels_reached(MONDAY_10, MONDAY_10, warn) == (
        AlertLevel.DUE_SOON,
        AlertLevel.BREACHED,
    )


def _tickets(engine: Engine, now: datetime) -> tuple[int, dict[str, int]]:
    with Session(engine) as session, session.begin():
        referent = User(username="referente", display_name="Referente", role="referente")
        organism = Organism(code="BPS", name="Banco de Previsión Social")
        session.add_all([referent, organism])
        session.flush()
        cases = {
            "soon": dict(due_at=now + timedelta(hours=1)),
            "late": dict(due_at=now - timedelta(hours=3)),
            "answered": dict(
                due_at=now - timedelta(hours=3), responded_at=now - timedelta(hours=4)
            ),
            "closed": dict(due_at=now - timedelta(hours=3), status="cerrada"),
            "far": dict(due_at=now + timedelta(days=5)),
        }
        ids = {}
        for n, (name, values) in enumerate(cases.items(), start=1):
            ticket = Ticket(
                number=f"2026-{n:06d}",
                channel="telefono",
                request_type="reclamo",
                topic=name,
                description="",
                status=str(values.pop("status", "derivada")),
                organism_id=organism.id,
                referent_id=referent.id if name != "late" else None,
                created_at=now - timedelta(days=2),
                updated_at=now - timedelta(days=2),
                **values,
            )
            session.add(ticket)
            session.flush()
            ids[name] = ticket.id
        return referent.id, ids


def test_scan_raises_each_alert_once_and_lists_them_until_acknowledged(engine: Engine) -> None:
    now = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    referent, ids = _tickets(engine, now)
    alerts = SlaAlerts(engine, hours=None, warn_before=timedelta(hours=2), clock=lambda: now)
    raised = {(a.ticket_id, a.level) for a in alerts.scan()}
    assert raised == {
        (ids["soon"], AlertLevel.DUE_SOON),
        (ids["late"], AlertLevel.DUE_SOON),
        (ids["late"], AlertLevel.BREACHED),
    }
    assert alerts.scan() == []
    assert alerts.counts() == {AlertLevel.DUE_SOON: 2, AlertLevel.BREACHED: 1}
    mine = alerts.open_alerts(referent_id=referent)
    assert [(a.ticket_number, a.level) for a in mine] == [("2026-000001", AlertLevel.DUE_SOON)]
    alerts.acknowledge(mine[0].id, referent)
    assert alerts.open_alerts(referent_id=referent) == []
    assert alerts.counts() == {AlertLevel.DUE_SOON: 1, AlertLevel.BREACHED: 1}


def test_the_scan_is_an_rq_job_enqueued_once_per_interval(
    engine: Engine, redis: Redis, queue_name: str
) -> None:
    now = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    _tickets(engine, now)
    sla_alerts.install(SlaAlerts(engine, hours=None, clock=lambda: now))
    queue = Queue(queue_name, connection=redis)
    assert enqueue_sla_scan(redis, queue, 60)
    assert not enqueue_sla_scan(redis, queue, 60)  # another worker's tick
    [job] = queue.get_jobs()
    assert job.func_name == "crm_bridge.sync.sla_alerts.scan_sla_alerts"
    assert job.perform() == 3


def test_the_warning_moment_agrees_with_the_due_date_arithmetic() -> None:
    """From the warning moment, `warn_before` of business time ends exactly at the due date
    (crm_bridge.sla computes forwards, the warning backwards), across a week and a holiday."""
    start = datetime(2026, 12, 21, 12, 0, tzinfo=UTC)  # the week of Christmas
    checked = 0
    for step in range(0, 10 * 24 * 60, 37):
        due = start + timedelta(minutes=step)
        # At an opening the due date is also the previous closing, which is
        # what the forward arithmetic answers: compare strictly inside spans.
        if not (OFFICE.is_open(due) and OFFICE.is_open(due - timedelta(minutes=1))):
            continue
        for warn in (timedelta(minutes=30), timedelta(hours=3), timedelta(hours=9)):
            moment = warning_moment(OFFICE, due, warn)
            assert moment < due
            assert add_business_time(OFFICE, moment, warn) == due
            checked += 1
    assert checked > 100
