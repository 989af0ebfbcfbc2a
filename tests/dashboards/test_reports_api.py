"""Historical reports from the attention store, on SQLite and PostgreSQL, and
their HTTP API with roles and CSV / XLSX downloads.

The data set is small and hand-written; every expected figure below is
worked out by hand from it (comments show the arithmetic), not read from
the code under test.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, delete, insert

from agent_api.routes.figures import reports_router
from citizen.channels import Channel
from crm_bridge.attentions import leg_to_json
from crm_bridge.db import make_engine, upgrade
from crm_bridge.models import (
    AgentStateInterval,
    Attention,
    AttentionWrapup,
    CatalogTopic,
    Organism,
    Ticket,
)
from crm_bridge.organisms import Role
from dashboards import kpi
from dashboards.report_queries import (
    Granularity,
    ReportSpan,
    agent_report,
    organism_report,
    queue_report,
    topic_report,
)
from telephony.domain import Outcome, QueueLeg
from tests.agent_api.conftest import build_panel
from tests.support.postgres import fresh_database

TZ = ZoneInfo("America/Montevideo")  # UTC-3 all year
CONSULTAS = kpi.QueueKpiDefinition(service_level_seconds=20, short_abandon_seconds=5)
DEFINITIONS = {"consultas": CONSULTAS}
DEFAULT = kpi.QueueKpiDefinition(service_level_seconds=20)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=TZ)


def attention(
    linkedid: str,
    arrived: datetime,
    queue: str | None,
    outcome: str,
    *,
    wait: float | None = None,
    talk: float | None = None,
    agent: str | None = None,
) -> dict[str, Any]:
    answered = arrived + timedelta(seconds=wait or 0) if outcome == "answered" else None
    # One queue leg, as the bridge writes it (the report counts legs).
    leg = QueueLeg(
        queue or "",
        arrived.timestamp(),
        1,
        (answered or arrived + timedelta(seconds=wait or 0)).timestamp(),
        Outcome(outcome),
        agent,
        None,
        None if answered is None else answered.timestamp(),
        wait,
        talk,
    )
    return {
        "system": "pbx1",
        "linkedid": linkedid,
        "channel": "telefonico",
        "caller_number_raw": "099000000",
        "caller_number": None,
        "caller_name": "",
        "arrived_at": arrived,
        "queue_joined_at": arrived if queue else None,
        "answered_at": answered,
        "ended_at": arrived + timedelta(seconds=(wait or 0) + (talk or 0)),
        "ivr_path": [],
        "queues": [queue] if queue else [],
        "queue": queue,
        "agent": agent,
        "agents": [agent] if agent else [],
        "legs": [leg_to_json(leg)] if queue else [],
        "wait_seconds": wait,
        "talk_seconds": talk,
        "outcome": outcome,
        "hangup_side": "unknown",
        "variables": {},
    }


ATTENTIONS = [
    attention("c1", local(2, 10, 0), "consultas", "answered", wait=5, talk=100, agent="Ana"),
    attention("c2", local(2, 10, 10), "consultas", "answered", wait=25, talk=200, agent="Ana"),
    attention("c3", local(2, 10, 20), "consultas", "answered", wait=20, talk=60, agent="Bruno"),
    attention("c4", local(2, 11, 5), "consultas", "abandoned", wait=3),
    attention("c5", local(2, 11, 30), "consultas", "abandoned", wait=30),
    attention("c6", local(2, 11, 40), "consultas", "exit_timeout", wait=60),
    # 22:30 local is 01:30 UTC of the next day: still the 2nd in the report.
    attention("c7", local(2, 22, 30), "consultas", "answered", wait=0, talk=50, agent="Bruno"),
    attention("c8", local(3, 0, 30), "consultas", "abandoned", wait=10),
    attention("r1", local(2, 9, 0), "reclamos", "answered", wait=40, talk=30, agent="Carla"),
    attention("i1", local(2, 9, 30), None, "ivr_completed"),
    # The evening before the report starts (02:59 UTC of the 2nd).
    attention("x1", local(1, 23, 59), "consultas", "answered", wait=1, talk=9, agent="Ana"),
]


def interval(member: str, state: str, start: datetime, end: datetime, reason: str | None = None):
    return {
        "system": "pbx1",
        "interface": f"PJSIP/{member.lower()}",
        "member_name": member,
        "state": state,
        "reason": reason,
        "queue": None,
        "started_at": start,
        "ended_at": end,
        "duration_seconds": (end - start).total_seconds(),
    }


INTERVALS = [
    # Starts an hour before the 2nd: only 01:00 of it is inside the span.
    interval("Ana", "paused", local(1, 23), local(2, 1), "almuerzo"),
    interval("Ana", "available", local(2, 9), local(2, 10)),
    interval("Ana", "on_call", local(2, 10), local(2, 10, 10)),
    interval("Ana", "paused", local(2, 12), local(2, 13), "almuerzo"),
    interval("Ana", "paused", local(2, 13), local(2, 13, 10), "baño"),
]


def wrapup(linkedid: str, kind: str, topic: int, started: datetime, seconds: int):
    return {
        "system": "pbx1",
        "linkedid": linkedid,
        "attention_type": kind,
        "topic_id": topic,
        "wrapup_started_at": started,
        "wrapup_ended_at": started + timedelta(seconds=seconds),
    }


def load(engine: Engine) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(Attention), ATTENTIONS)
        conn.execute(insert(AgentStateInterval), INTERVALS)
        o1, o2 = (
            conn.execute(
                insert(Organism).values(code=code, name=name).returning(Organism.id)
            ).scalar_one()
            for code, name in (("BPS", "Banco de Previsión Social"), ("IM", "Intendencia"))
        )
        t1, t2 = (
            conn.execute(
                insert(CatalogTopic)
                .values(code=code, name=name, kind="tramite", organism_id=org)
                .returning(CatalogTopic.id)
            ).scalar_one()
            for code, name, org in (("jub", "Jubilaciones", o1), ("bache", "Baches", o2))
        )
        conn.execute(
            insert(AttentionWrapup),
            [
                wrapup("c1", "consulta", t1, local(2, 10, 2), 30),
                wrapup("c2", "reclamo", t2, local(2, 10, 15), 10),
                wrapup("c7", "consulta", t1, local(2, 22, 31), 20),
            ],
        )
        conn.execute(
            insert(Ticket).values(
                number="2026-000001",
                channel="telefonico",
                request_type="reclamo",
                topic="Baches",
                description="bache en la calle",
                status="open",
                organism_id=o2,
                created_at=local(2, 10, 16),
                updated_at=now,
            )
        )


@pytest.fixture(scope="module")
def pg_url(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url, "reports", migrate=True) as db:
        engine = make_engine(db)
        load(engine)
        engine.dispose()
        yield db


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = f"sqlite:///{tmp_path_factory.mktemp('reports') / 'store.db'}"
    upgrade(db)
    engine = make_engine(db)
    load(engine)
    engine.dispose()
    return db


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    built = make_engine(url)
    yield built
    built.dispose()


def days(first: int, last: int) -> ReportSpan:
    return ReportSpan(local(first, 0), local(last + 1, 0), TZ)


def test_queue_report_by_day(engine: Engine) -> None:
    rows = queue_report(engine, days(2, 3), definitions=DEFINITIONS, default=DEFAULT)
    by_key = {(r.queue, r.day): r for r in rows}
    assert list(by_key) == [
        ("consultas", date(2026, 3, 2)),
        ("consultas", date(2026, 3, 3)),
        ("reclamos", date(2026, 3, 2)),
    ]
    day2 = by_key[("consultas", date(2026, 3, 2))]
    c = day2.counts
    # c1..c7; x1 is the evening before, i1 never reached a queue.
    assert (c.offered, c.answered, c.answered_within) == (7, 4, 3)  # waits 5, 20, 0 ≤ 20
    assert (c.abandoned, c.short_abandoned, c.abandoned_within, c.exited) == (2, 1, 0, 1)
    assert day2.service_level == pytest.approx(3 / 4)
    assert day2.abandon_rate == pytest.approx(1 / 6)  # 1 counted / (4 + 1 + 1)
    assert day2.asa_seconds == pytest.approx((5 + 25 + 20 + 0) / 4)
    assert day2.mean_talk_seconds == pytest.approx((100 + 200 + 60 + 50) / 4)
    day3 = by_key[("consultas", date(2026, 3, 3))]
    assert (day3.counts.offered, day3.counts.abandoned, day3.counts.abandoned_within) == (1, 1, 1)
    assert day3.service_level is None and day3.abandon_rate == 1.0
    reclamos = by_key[("reclamos", date(2026, 3, 2))]
    assert reclamos.service_level == 0.0 and reclamos.asa_seconds == 40.0


def test_queue_report_by_hour_and_queue_filter(engine: Engine) -> None:
    rows = queue_report(
        engine,
        days(2, 2),
        granularity=Granularity.HOUR,
        definitions=DEFINITIONS,
        queues=["consultas"],
    )
    assert [(r.queue, r.hour, r.counts.offered) for r in rows] == [
        ("consultas", 10, 3),
        ("consultas", 11, 3),
        ("consultas", 22, 1),
    ]


def test_agent_report(engine: Engine) -> None:
    rows = {r.agent: r for r in agent_report(engine, days(2, 2))}
    assert sorted(rows) == ["Ana", "Bruno", "Carla"]
    ana = rows["Ana"]
    assert (ana.handled, ana.talk_seconds, ana.wrapup_seconds) == (2, 300.0, 40.0)
    assert ana.aht_seconds == pytest.approx((300 + 40) / 2)
    # almuerzo: 00:00-01:00 (clipped) + 12:00-13:00; baño 10 minutes.
    assert ana.pause_seconds == pytest.approx({"almuerzo": 7200.0, "baño": 600.0})
    assert ana.occupancy == pytest.approx(600 / (600 + 3600))
    bruno = rows["Bruno"]
    assert (bruno.handled, bruno.talk_seconds, bruno.wrapup_seconds) == (2, 110.0, 20.0)
    assert bruno.aht_seconds == pytest.approx(65.0)
    assert rows["Carla"].aht_seconds == 30.0 and rows["Carla"].occupancy is None


def test_agent_report_counts_calls_only(engine: Engine) -> None:
    """An attention Ana answered at the desk (no queue, another channel) is
    no handled call: her figures stay those of her phone calls."""
    walk_in = attention("w1", local(2, 12), None, "answered", talk=900, agent="Ana")
    walk_in["channel"] = Channel.PRESENCIAL.value
    with engine.begin() as conn:
        conn.execute(insert(Attention), [walk_in])
    try:
        ana = {r.agent: r for r in agent_report(engine, days(2, 2))}["Ana"]
        assert (ana.handled, ana.talk_seconds, ana.wrapup_seconds) == (2, 300.0, 40.0)
    finally:
        with engine.begin() as conn:
            conn.execute(delete(Attention).where(Attention.linkedid == "w1"))


def test_topic_and_organism_reports(engine: Engine) -> None:
    topics = topic_report(engine, days(2, 2))
    assert [(t.attention_type, t.topic_code, t.attentions, t.wrapup_seconds) for t in topics] == [
        ("consulta", "jub", 2, 50.0),
        ("reclamo", "bache", 1, 10.0),
    ]
    organisms = organism_report(engine, days(2, 2))
    assert [(o.organism_code, o.attentions, o.tickets) for o in organisms] == [
        ("BPS", 2, 0),
        ("IM", 1, 1),
    ]
    assert topic_report(engine, days(4, 5)) == []


# ------------------------------------------------------------ HTTP API


@pytest.fixture
def api(pg_url: str) -> Iterator[Any]:
    panel = build_panel(pg_url)
    panel.app.include_router(
        reports_router(panel.engine, timezone=TZ, definitions=DEFINITIONS, default=DEFAULT)
    )
    yield panel
    panel.engine.dispose()


QUERY = "desde=2026-03-02&hasta=2026-03-03"


def test_reports_need_a_figure_role(api: Any) -> None:
    assert api.client().get(f"/api/reportes/colas?{QUERY}").status_code == 401
    for role in (Role.EJECUTIVO, Role.REFERENTE):
        answer = api.client(api.usernames[role]).get(f"/api/reportes/colas?{QUERY}")
        assert answer.status_code == 403, role
    for role in (Role.SUPERVISOR, Role.GERENTE, Role.ADMIN):
        answer = api.client(api.usernames[role]).get(f"/api/reportes/agentes?{QUERY}")
        assert answer.status_code == 200, role


def test_queue_report_json_csv_and_xlsx_agree(api: Any) -> None:
    client = api.client(api.usernames[Role.GERENTE])
    body = client.get(f"/api/reportes/colas?{QUERY}").json()
    first = body["filas"][0]
    assert (first["cola"], first["día"], first["ofrecidas"]) == ("consultas", "2026-03-02", 7)
    assert first["nivel_servicio"] == 0.75
    # Every queue report names its counting rule.
    assert body["conteo"]["regla"] == "por_tramo_de_cola"
    assert "tramo de cola" in body["conteo"]["descripcion"]
    download = client.get(f"/api/reportes/colas?{QUERY}&formato=csv")
    assert download.headers["x-atiende-conteo"] == "por_tramo_de_cola"
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    # For Uruguay by default: `;`, Spanish labels, dd/mm/aaaa, decimal comma.
    table = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig")), delimiter=";"))
    assert table[0] == body["etiquetas"]
    assert table[1][:4] == ["consultas", "02/03/2026", "", "7"]
    assert table[1][9] == "75,0%"
    assert len(table) == 1 + 3
    rfc = client.get(f"/api/reportes/colas?{QUERY}&formato=csv&estilo_csv=rfc4180")
    table = list(csv.reader(io.StringIO(rfc.content.decode("utf-8-sig"))))
    assert table[0] == body["columnas"]
    assert table[1][:4] == ["consultas", "2026-03-02", "", "7"]
    sheet = client.get(f"/api/reportes/colas?{QUERY}&formato=xlsx")
    assert sheet.headers["x-atiende-conteo"] == "por_tramo_de_cola"
    book = load_workbook(io.BytesIO(sheet.content))
    cells = [list(row) for row in book.active.iter_rows(values_only=True)]
    assert list(cells[0]) == body["etiquetas"]
    assert cells[1][0] == "consultas" and cells[1][1].date().isoformat() == "2026-03-02"
    assert cells[1][2:4] == [None, 7]
    assert cells[1][9] == 0.75


def test_agent_report_csv_has_pause_reasons(api: Any) -> None:
    client = api.client(api.usernames[Role.SUPERVISOR])
    download = client.get("/api/reportes/agentes?desde=2026-03-02&hasta=2026-03-02&formato=csv")
    text = io.StringIO(download.content.decode("utf-8-sig"))
    rows = list(csv.DictReader(text, delimiter=";"))
    ana = next(r for r in rows if r["Agente"] == "Ana")
    assert ana["Pausa: almuerzo"] == "7200,0" and ana["Pausa: baño"] == "600,0"
    assert ana["Tiempo medio de gestión"] == "170,0"


def test_bad_span_is_rejected(api: Any) -> None:
    client = api.client(api.usernames[Role.SUPERVISOR])
    assert client.get("/api/reportes/colas?desde=2026-03-03&hasta=2026-03-02").status_code in (
        400,
        422,
    )
    assert client.get("/api/reportes/colas?desde=ayer&hasta=2026-03-02").status_code in (400, 422)
