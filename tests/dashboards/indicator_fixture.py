"""A small day of attentions, wrap-ups, surveys and tickets whose indicator
figures are worked out by hand in tests/dashboards/test_indicators.py.

Day: 2026-03-02 in Montevideo (UTC-3). NOW (the SLA's "now") is the next day
at noon. A9 and T5 fall on the day before and count nowhere.

| att | channel    | queue     | agent  | score | wrap-up type/topic | resolution         |
|-----|------------|-----------|--------|-------|--------------------|--------------------|
| A1  | telefonico | consultas | Ana    | 5     | tramite / CED      | resuelta           |
| A2  | telefonico | consultas | Ana    | 4     | consulta / PAS     | derivada → ticket 1|
| A3  | telefonico | reclamos  | Bruno  | 1     | queja / JUB        | derivada → ticket 2|
| A4  | telefonico | reclamos  | Bruno  | 2     | reclamo / CED      | pendiente          |
| A5  | presencial | -         | Ana    | 5     | queja / PAS        | resuelta           |
| A6  | telefonico | consultas | Bruno  | -     | consulta / JUB     | resuelta           |
| A7  | telefonico | consultas | Ana    | 3     | (no wrap-up)       |                    |
| A8  | telefonico | consultas | Ana    | 4     | reclamo / - (open) | (open)             |
| A9  | day before | consultas | Ana    | 1     | queja / CED        | resuelta           |

Topics: CED "Cédula de identidad" (DNIC, unit CED), PAS "Pasaporte" (DNIC,
unit PAS), JUB "Jubilación" (BPS, no unit). Tickets:

| ticket | from | type     | organism/unit | due / answered          | outcome at NOW |
|--------|------|----------|---------------|-------------------------|----------------|
| 1      | A2   | consulta | DNIC/PAS      | 12:00 / 11:00           | on time        |
| 2      | A3   | queja    | BPS/PRE       | 10:00 / 13:00           | late           |
| 3      | web  | reclamo  | DNIC/CED      | 20:00 / none, by Rosa   | overdue        |
| 4      | web  | queja    | BPS/-         | NOW + 1 day / none      | pending        |
| 5      | web  | queja    | BPS/-         | day before              | (out of span)  |

Callbacks (completed in the span, per queue; within target when completed
at or before target_at, or with no target):

| cb  | queue     | status  | completed  | target | within |
|-----|-----------|---------|------------|--------|--------|
| CB1 | consultas | done    | 10:00      | 12:00  | yes    |
| CB2 | consultas | done    | 15:00      | 12:00  | no     |
| CB3 | reclamos  | done    | 11:00      | -      | yes    |
| CB4 | consultas | pending |            | 12:00  | -      |
| CB5 | consultas | done    | day before |        | (out)  |
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from crm_bridge.models import (
    Attention,
    AttentionWrapup,
    CallbackRequest,
    CatalogTopic,
    Organism,
    Ticket,
    Unit,
    User,
)
from dashboards.report_queries import ReportSpan

TZ = ZoneInfo("America/Montevideo")
DAY = datetime(2026, 3, 2, tzinfo=TZ)
SPAN = ReportSpan(DAY, DAY + timedelta(days=1), TZ)
NOW = (DAY + timedelta(days=1, hours=12)).astimezone(UTC)


def at(hour: int, minute: int = 0, *, days: int = 0) -> datetime:
    return (DAY + timedelta(days=days, hours=hour, minutes=minute)).astimezone(UTC)


def _attention(
    linkedid: str,
    arrived: datetime,
    *,
    channel: str,
    queue: str | None,
    agent: str,
    score: int | None,
) -> Attention:
    return Attention(
        system="lab",
        linkedid=linkedid,
        channel=channel,
        caller_number_raw="",
        caller_number=None,
        caller_name="",
        arrived_at=arrived,
        answered_at=arrived + timedelta(seconds=10),
        ended_at=arrived + timedelta(minutes=3),
        ivr_path=[],
        queues=[] if queue is None else [queue],
        queue=queue,
        agent=agent,
        agents=[agent],
        legs=[],
        outcome="answered",
        hangup_side="caller",
        variables={},
        survey_score=score,
    )


def load(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        dnic = Organism(code="DNIC", name="Identificación Civil", active=True)
        bps = Organism(code="BPS", name="Banco de Previsión Social", active=True)
        session.add_all([dnic, bps])
        session.flush()
        ced = Unit(organism_id=dnic.id, code="CED", name="Cédulas", active=True)
        pas = Unit(organism_id=dnic.id, code="PAS", name="Pasaportes", active=True)
        pre = Unit(organism_id=bps.id, code="PRE", name="Prestaciones", active=True)
        session.add_all([ced, pas, pre])
        session.flush()
        topics = {
            "CED": CatalogTopic(
                code="CED", name="Cédula de identidad", kind="tramite",
                organism_id=dnic.id, unit_id=ced.id, active=True,
            ),
            "PAS": CatalogTopic(
                code="PAS", name="Pasaporte", kind="tramite",
                organism_id=dnic.id, unit_id=pas.id, active=True,
            ),
            "JUB": CatalogTopic(
                code="JUB", name="Jubilación", kind="servicio",
                organism_id=bps.id, unit_id=None, active=True,
            ),
        }  # fmt: skip
        users = {
            name: User(username=name.lower(), display_name=name, role=role, active=True)
            for name, role in (("Ana", "ejecutivo"), ("Bruno", "ejecutivo"), ("Rosa", "referente"))
        }
        session.add_all([*topics.values(), *users.values()])
        session.flush()

        def ticket(
            number: str,
            kind: str,
            organism: Organism,
            unit: Unit | None,
            created: datetime,
            due: datetime,
            responded: datetime | None,
            *,
            channel: str = "web",
            by: User | None = None,
        ) -> Ticket:
            return Ticket(
                number=number,
                channel=channel,
                request_type=kind,
                topic="tema",
                description="",
                status="respondida" if responded else "abierta",
                organism_id=organism.id,
                unit_id=None if unit is None else unit.id,
                created_by=None if by is None else by.id,
                created_at=created,
                updated_at=created,
                due_at=due,
                responded_at=responded,
            )

        session.add_all(
            [
                ticket("2026-000001", "consulta", dnic, pas, at(9, 5), at(12), at(11),
                       channel="telefonico", by=users["Ana"]),
                ticket("2026-000002", "queja", bps, pre, at(9, 20), at(10), at(13),
                       channel="telefonico", by=users["Bruno"]),
                ticket("2026-000003", "reclamo", dnic, ced, at(14), at(20), None,
                       by=users["Rosa"]),
                ticket("2026-000004", "queja", bps, None, at(15), NOW + timedelta(days=1), None),
                ticket("2026-000005", "queja", bps, None, at(15, days=-1), at(16, days=-1), None),
            ]
        )  # fmt: skip

        for name, queue, status, completed, target in (
            ("CB1", "consultas", "done", at(10), at(12)),
            ("CB2", "consultas", "done", at(15), at(12)),
            ("CB3", "reclamos", "done", at(11), None),
            ("CB4", "consultas", "pending", None, at(12)),
            ("CB5", "consultas", "done", at(10, days=-1), None),
        ):
            session.add(
                CallbackRequest(
                    system="lab",
                    linkedid=name,
                    number_raw="",
                    queue=queue,
                    status=status,
                    requested_at=at(8, days=-1),
                    completed_at=completed,
                    target_at=target,
                )
            )

        plan: list[tuple[str, datetime, str, str | None, str, int | None, Any]] = [
            ("A1", at(9), "telefonico", "consultas", "Ana", 5,
             ("tramite", "CED", "resuelta", None)),
            ("A2", at(9, 1), "telefonico", "consultas", "Ana", 4,
             ("consulta", "PAS", "derivada", "2026-000001")),
            ("A3", at(9, 15), "telefonico", "reclamos", "Bruno", 1,
             ("queja", "JUB", "derivada", "2026-000002")),
            ("A4", at(10), "telefonico", "reclamos", "Bruno", 2,
             ("reclamo", "CED", "pendiente", None)),
            ("A5", at(11), "presencial", None, "Ana", 5, ("queja", "PAS", "resuelta", None)),
            ("A6", at(12), "telefonico", "consultas", "Bruno", None,
             ("consulta", "JUB", "resuelta", None)),
            ("A7", at(13), "telefonico", "consultas", "Ana", 3, None),
            ("A8", at(14), "telefonico", "consultas", "Ana", 4, ("reclamo", None, None, None)),
            ("A9", at(9, days=-1), "telefonico", "consultas", "Ana", 1,
             ("queja", "CED", "resuelta", None)),
        ]  # fmt: skip
        for linkedid, arrived, channel, queue, agent, score, wrapup in plan:
            session.add(
                _attention(
                    linkedid, arrived, channel=channel, queue=queue, agent=agent, score=score
                )
            )
            if wrapup is None:
                continue
            kind, topic, resolution, number = wrapup
            ended = arrived + timedelta(minutes=3)
            session.add(
                AttentionWrapup(
                    system="lab",
                    linkedid=linkedid,
                    agent_user_id=users[agent].id,
                    attention_type=kind,
                    topic_id=None if topic is None else topics[topic].id,
                    notes="",
                    resolution=resolution,
                    ticket_number=number,
                    wrapup_started_at=ended,
                    wrapup_ended_at=None if resolution is None else ended + timedelta(minutes=1),
                )
            )
