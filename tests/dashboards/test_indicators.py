"""Quality indicators (CSAT, first contact resolution, complaints, ticket SLA)
against figures worked out by hand on the fixture of indicator_fixture.py,
on SQLite and PostgreSQL. The arithmetic is in the comments."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, text

from agent_api.routes.figures import reports_router
from agent_api.web.reportes import ReportSources
from crm_bridge.db import make_engine, upgrade
from crm_bridge.organisms import Role
from dashboards import indicators, ticket_sla
from dashboards.indicator_metrics import IndicatorCollector
from dashboards.indicator_queries import (
    Dimension,
    complaint_report,
    csat_report,
    fcr_report,
)
from dashboards.indicators import ComplaintCounts, ResolutionCounts, ScoreCounts, tally_scores
from dashboards.metric_names import exposed_names
from dashboards.report_queries import ReportSpan
from tests.agent_api.conftest import build_panel
from tests.agent_api.test_web_pages import form_login
from tests.dashboards import indicator_fixture as fx
from tests.support.postgres import fresh_database


@pytest.fixture(scope="module")
def pg_url(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url, "indic", migrate=True) as db:
        yield db


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('indic') / 'store.db'}"
        upgrade(url)
    else:
        url = request.getfixturevalue("pg_url")
    built = make_engine(url)
    fx.load(built)
    yield built
    built.dispose()


# ------------------------------------------------------------ pure arithmetic


def test_score_counts_arithmetic() -> None:
    counts = tally_scores([5, 4, 1, 2, 5, 3, 4, 0, 6])  # 0 and 6 are not responses
    assert counts.by_score == (1, 1, 1, 2, 2)
    assert counts.responses == 7
    assert counts.score_sum == 1 + 2 + 3 + 4 * 2 + 5 * 2  # 24
    assert counts.mean == pytest.approx(24 / 7)
    assert counts.share(4) == pytest.approx(2 / 7)
    assert ScoreCounts().mean is None and ScoreCounts().share(3) is None  # no response: no figure
    assert (counts + counts).by_score == (2, 2, 2, 4, 4)


def test_resolution_and_complaint_arithmetic() -> None:
    counts = ResolutionCounts.of({"resuelta": 3, "derivada": 2, "pendiente": 1, "otra": 9})
    assert (counts.wrapped, counts.fcr) == (6, 0.5)  # 3 / (3 + 2 + 1)
    assert ResolutionCounts().fcr is None
    complaints = ComplaintCounts.of({"queja": 3, "reclamo": 2, "consulta": 7})
    assert complaints.total == 5
    assert indicators.is_complaint("reclamo") and not indicators.is_complaint("consulta")


# --------------------------------------------------------------------- CSAT


def csat(engine: Engine, by: Dimension) -> dict[str | None, tuple[tuple[int, ...], float | None]]:
    return {
        r.group.key: (r.counts.by_score, r.counts.mean) for r in csat_report(engine, fx.SPAN, by)
    }


def test_csat_by_every_dimension(engine: Engine) -> None:
    # Responses in the span: A1 5, A2 4, A3 1, A4 2, A5 5, A7 3, A8 4 (A6 gave
    # none, A9 is the day before): 7 responses, sum 24, mean 24/7 = 3.43.
    everything = sum(
        (r.counts for r in csat_report(engine, fx.SPAN, Dimension.CHANNEL)), ScoreCounts()
    )
    assert everything.by_score == (1, 1, 1, 2, 2)
    assert everything.mean == pytest.approx(24 / 7)
    # Agent: Ana A1 5, A2 4, A5 5, A7 3, A8 4 = 21/5 = 4.2; Bruno A3 1, A4 2 = 3/2.
    assert csat(engine, Dimension.AGENT) == {
        "Ana": ((0, 0, 1, 2, 2), pytest.approx(4.2)),
        "Bruno": ((1, 1, 0, 0, 0), 1.5),
    }
    # Queue: consultas A1 5, A2 4, A7 3, A8 4 = 16/4 = 4; reclamos 3/2; the
    # walk-in A5 has no queue: 5.
    assert csat(engine, Dimension.QUEUE) == {
        "consultas": ((0, 0, 1, 2, 1), 4.0),
        "reclamos": ((1, 1, 0, 0, 0), 1.5),
        None: ((0, 0, 0, 0, 1), 5.0),
    }
    # Channel: telefonico 5+4+1+2+3+4 = 19/6; presencial 5.
    assert csat(engine, Dimension.CHANNEL) == {
        "telefonico": ((1, 1, 1, 2, 1), pytest.approx(19 / 6)),
        "presencial": ((0, 0, 0, 0, 1), 5.0),
    }
    # Topic: CED A1 5, A4 2 = 3.5; PAS A2 4, A5 5 = 4.5; JUB A3 1; none A7 3, A8 4 = 3.5.
    assert csat(engine, Dimension.TOPIC) == {
        "CED": ((0, 1, 0, 0, 1), 3.5),
        "PAS": ((0, 0, 0, 1, 1), 4.5),
        "JUB": ((1, 0, 0, 0, 0), 1.0),
        None: ((0, 0, 1, 1, 0), 3.5),
    }
    # Organism (the derived ticket's, else the topic's): DNIC A1 5, A2 4
    # (ticket 1), A4 2, A5 5 = 16/4 = 4; BPS A3 1 (ticket 2); none A7, A8 = 3.5.
    assert csat(engine, Dimension.ORGANISM) == {
        "DNIC": ((0, 1, 0, 1, 2), 4.0),
        "BPS": ((1, 0, 0, 0, 0), 1.0),
        None: ((0, 0, 1, 1, 0), 3.5),
    }
    # Unit: DNIC/CED A1 5, A4 2; DNIC/PAS A2 4 (ticket 1's unit), A5 5; BPS/PRE
    # A3 1 (ticket 2's unit: its topic JUB has none).
    by_unit = {r.group.key: r for r in csat_report(engine, fx.SPAN, Dimension.UNIT)}
    assert {k: (r.counts.by_score, r.counts.mean) for k, r in by_unit.items()} == {
        "DNIC/CED": ((0, 1, 0, 0, 1), 3.5),
        "DNIC/PAS": ((0, 0, 0, 1, 1), 4.5),
        "BPS/PRE": ((1, 0, 0, 0, 0), 1.0),
        None: ((0, 0, 1, 1, 0), 3.5),
    }
    assert by_unit["DNIC/PAS"].group.label == "Pasaportes"


# ---------------------------------------------------------------------- FCR


def fcr(engine: Engine, by: Dimension) -> dict[str | None, tuple[int, int, float | None]]:
    return {
        r.group.key: (r.counts.resolved, r.counts.wrapped, r.counts.fcr)
        for r in fcr_report(engine, fx.SPAN, by)
    }


def test_first_contact_resolution(engine: Engine) -> None:
    # Finished wrap-ups in the span: A1 R, A2 D, A3 D, A4 P, A5 R, A6 R (A7 has
    # none, A8 is open, A9 the day before): 3 resolved of 6 = 0.5.
    rows = fcr_report(engine, fx.SPAN, Dimension.CHANNEL)
    everything = sum((r.counts for r in rows), ResolutionCounts())
    assert (everything.resolved, everything.derived, everything.pending) == (3, 2, 1)
    assert everything.fcr == 0.5
    # Ana A1 R, A2 D, A5 R = 2/3; Bruno A3 D, A4 P, A6 R = 1/3.
    assert fcr(engine, Dimension.AGENT) == {
        "Ana": (2, 3, pytest.approx(2 / 3)),
        "Bruno": (1, 3, pytest.approx(1 / 3)),
    }
    # telefonico A1 R, A2 D, A3 D, A4 P, A6 R = 2/5; presencial A5 R = 1.
    assert fcr(engine, Dimension.CHANNEL) == {"telefonico": (2, 5, 0.4), "presencial": (1, 1, 1.0)}
    # consultas A1 R, A2 D, A6 R = 2/3; reclamos A3 D, A4 P = 0 (a figure: 2 judged).
    assert fcr(engine, Dimension.QUEUE) == {
        "consultas": (2, 3, pytest.approx(2 / 3)),
        "reclamos": (0, 2, 0.0),
        None: (1, 1, 1.0),
    }
    # DNIC A1 R, A2 D, A4 P, A5 R = 2/4; BPS A3 D (ticket 2), A6 R (JUB) = 1/2.
    assert fcr(engine, Dimension.ORGANISM) == {"DNIC": (2, 4, 0.5), "BPS": (1, 2, 0.5)}


# --------------------------------------------------------------- complaints


def complaints(engine: Engine, by: Dimension) -> dict[str | None, tuple[int, int]]:
    return {
        r.group.key: (r.counts.quejas, r.counts.reclamos)
        for r in complaint_report(engine, fx.SPAN, by)
    }


def test_complaints_by_unit_and_agent(engine: Engine) -> None:
    # Wrapped-up complaints: A3 queja, A4 reclamo, A5 queja (A8 is open, A9
    # the day before); tickets no wrap-up opened: 3 reclamo (Rosa, DNIC/CED),
    # 4 queja (nobody, BPS, no unit); ticket 2 came from A3: counted once;
    # ticket 5 is the day before. Quejas 3, reclamos 2.
    assert complaints(engine, Dimension.UNIT) == {
        "BPS/PRE": (1, 0),  # A3 (ticket 2's unit)
        "DNIC/CED": (0, 2),  # A4 (topic CED), ticket 3
        "DNIC/PAS": (1, 0),  # A5 (topic PAS)
        None: (1, 0),  # ticket 4
    }
    assert complaints(engine, Dimension.AGENT) == {
        "Ana": (1, 0),  # A5
        "Bruno": (1, 1),  # A3, A4
        "Rosa": (0, 1),  # ticket 3, created by Rosa
        None: (1, 0),  # ticket 4, from the web form
    }
    # BPS: A3, ticket 4; DNIC: A4, A5, ticket 3.
    assert complaints(engine, Dimension.ORGANISM) == {"BPS": (2, 0), "DNIC": (1, 2)}
    assert complaints(engine, Dimension.CHANNEL) == {
        "telefonico": (1, 1),
        "presencial": (1, 0),
        "web": (1, 1),
    }


# --------------------------------------------------------------- ticket SLA


def test_ticket_sla_by_organism_and_unit(engine: Engine) -> None:
    # Ticket 1 on time, 2 late, 3 overdue, 4 pending (not judged), 5 out of span.
    by_org = {r.group: r.counts for r in ticket_sla.ticket_sla_report(engine, fx.SPAN, fx.NOW)}
    assert by_org["DNIC"].compliance == 0.5  # 1 on time of 2 judged (1, 3)
    assert by_org["BPS"].compliance == 0.0  # 0 of 1 judged (2); 4 pending
    assert (by_org["BPS"].opened, by_org["BPS"].pending) == (2, 1)
    rows = ticket_sla.ticket_sla_report(engine, fx.SPAN, fx.NOW, by="unidad")
    by_unit = {r.group: (r.label, r.counts.compliance) for r in rows}
    assert by_unit == {
        "DNIC/PAS": ("Pasaportes", 1.0),
        "DNIC/CED": ("Cédulas", 0.0),
        "BPS/PRE": ("Prestaciones", 0.0),
        "BPS/": ("Banco de Previsión Social (sin unidad)", None),  # only ticket 4, pending
    }
    # The units of an organism add up to it.
    assert ticket_sla.total(r for r in rows if r.group.startswith("DNIC/")).compliance == 0.5


def test_a_report_row_per_group_sorted_with_none_last(engine: Engine) -> None:
    keys = [r.group.key for r in csat_report(engine, fx.SPAN, Dimension.QUEUE)]
    assert keys == ["consultas", "reclamos", None]


def test_empty_span_gives_no_rows(engine: Engine) -> None:
    later = ReportSpan(fx.DAY + timedelta(days=30), fx.DAY + timedelta(days=31), fx.TZ)
    for by in Dimension:
        assert csat_report(engine, later, by) == []
        assert fcr_report(engine, later, by) == []
        assert complaint_report(engine, later, by) == []


# ------------------------------------------------- /metrics agrees with reports


def scrape(engine: Engine) -> CollectorRegistry:
    # Window of one day ending at the fixture day's midnight: exactly fx.SPAN.
    end = (fx.DAY + timedelta(days=1)).astimezone(UTC)
    registry = CollectorRegistry()
    registry.register(IndicatorCollector(engine, window_days=1, clock=lambda: end))
    return registry


def summed(registry: CollectorRegistry, name: str, by: str, **match: str) -> dict[str, float]:
    """What `sum by (by) (name{match})` gives, as Grafana and the rules ask it."""
    out: dict[str, float] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name != name or any(sample.labels.get(k) != v for k, v in match.items()):
                continue
            assert sample.labels["window"] == "1d"
            key = sample.labels[by]
            out[key] = out.get(key, 0.0) + sample.value
    return out


def test_metrics_give_the_reports_figures(engine: Engine) -> None:
    registry = scrape(engine)
    for dim, label in ((Dimension.CHANNEL, "channel"), (Dimension.QUEUE, "queue"),
                       (Dimension.ORGANISM, "organism")):  # fmt: skip
        responses = summed(registry, "atiende_survey_responses", label)
        points = summed(registry, "atiende_survey_score_points", label)
        report = {r.group.key or "": r.counts for r in csat_report(engine, fx.SPAN, dim)}
        assert set(responses) == set(report), dim
        for key, counts in report.items():
            assert responses[key] == counts.responses
            assert points[key] / responses[key] == pytest.approx(counts.mean)
            for score in indicators.SCORES:
                per_score = summed(registry, "atiende_survey_responses", label, score=str(score))
                assert per_score.get(key, 0) == counts.by_score[score - 1]
        resolved = summed(registry, "atiende_wrapups_finished", label, resolution="resuelta")
        finished = summed(registry, "atiende_wrapups_finished", label)
        fcr_rows = {r.group.key or "": r.counts for r in fcr_report(engine, fx.SPAN, dim)}
        assert set(finished) == set(fcr_rows)
        for key, fcr_counts in fcr_rows.items():
            assert (resolved[key], finished[key]) == (fcr_counts.resolved, fcr_counts.wrapped)
    # Hand figures through the metrics: CSAT of consultas 16/4 = 4, FCR 3/6.
    assert summed(registry, "atiende_survey_score_points", "queue")["consultas"] == 16
    assert (
        sum(summed(registry, "atiende_wrapups_finished", "window", resolution="resuelta").values())
        == 3
    )
    # Complaints by unit (the unit label is the unit's code; its organism beside it).
    quejas = summed(registry, "atiende_complaints", "unit", type="queja")
    reclamos = summed(registry, "atiende_complaints", "unit", type="reclamo")
    assert (quejas, reclamos) == (
        {"PRE": 1, "CED": 0, "PAS": 1, "": 1},
        {"PRE": 0, "CED": 2, "PAS": 0, "": 0},
    )
    # Ticket SLA by organism: DNIC 1 on time of 2 judged, BPS 0 of 1.
    on_time = summed(registry, "atiende_ticket_sla_tickets", "organism", outcome="on_time")
    judged = {
        org: sum(
            summed(registry, "atiende_ticket_sla_tickets", "organism", outcome=o).get(org, 0)
            for o in ("on_time", "late", "overdue")
        )
        for org in on_time
    }
    assert {org: on_time[org] / judged[org] for org in on_time} == {"DNIC": 0.5, "BPS": 0.0}
    report = {
        r.group: r.counts.compliance for r in ticket_sla.ticket_sla_report(engine, fx.SPAN, fx.NOW)
    }
    assert report == {"DNIC": 0.5, "BPS": 0.0}


def test_metrics_have_no_person_or_agent_labels(engine: Engine) -> None:
    allowed = {
        "window",
        "channel",
        "queue",
        "organism",
        "unit",
        "score",
        "resolution",
        "type",
        "outcome",
    }
    names = set()
    for family in scrape(engine).collect():
        names.add(family.name)
        for sample in family.samples:
            assert set(sample.labels) <= allowed, sample
            assert "Ana" not in sample.labels.values() and "Bruno" not in sample.labels.values()
    assert names <= exposed_names()


def test_metrics_are_cached_and_survive_a_dead_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    built = make_engine(url)
    fx.load(built)
    ticks = [0.0]
    end = (fx.DAY + timedelta(days=1)).astimezone(UTC)
    collector = IndicatorCollector(
        built, window_days=1, refresh_seconds=60, monotonic=lambda: ticks[0], clock=lambda: end
    )
    first = list(collector.collect())
    assert first
    with built.begin() as conn:
        conn.execute(text("DELETE FROM call_surveys"))
        conn.execute(text("UPDATE attentions SET survey_score = NULL"))
    assert list(collector.collect()) == first  # within refresh_seconds: the cached figures
    ticks[0] = 61.0
    again = {f.name: f for f in collector.collect()}
    assert not again["atiende_survey_responses"].samples
    ticks[0] = 200.0
    built.dispose()
    (tmp_path / "store.db").unlink()  # an empty store: the queries fail
    assert list(collector.collect()) == []


# ------------------------------------------------------ reports API and files


@pytest.fixture(scope="module")
def api(postgres_url: str) -> Iterator[Any]:
    with fresh_database(postgres_url, "indapi", migrate=True) as db:
        panel = build_panel(db)
        fx.load(panel.engine)
        panel.app.include_router(reports_router(panel.engine, timezone=fx.TZ))
        yield panel
        panel.engine.dispose()


DAY_QUERY = "desde=2026-03-02&hasta=2026-03-02"


def test_indicator_reports_need_a_figure_role(api: Any) -> None:
    for name in ("satisfaccion", "resolucion", "quejas"):
        assert api.client().get(f"/api/reportes/{name}?{DAY_QUERY}").status_code == 401
        ejecutivo = api.client(api.usernames[Role.EJECUTIVO])
        assert ejecutivo.get(f"/api/reportes/{name}?{DAY_QUERY}").status_code == 403
    bad = api.client(api.usernames[Role.GERENTE]).get(
        f"/api/reportes/satisfaccion?{DAY_QUERY}&agrupar=persona"
    )
    assert bad.status_code == 422  # an unknown dimension is refused, not a 500


def test_indicator_reports_json_and_csv_give_the_hand_figures(api: Any) -> None:
    client = api.client(api.usernames[Role.GERENTE])
    body = client.get(f"/api/reportes/satisfaccion?{DAY_QUERY}&agrupar=agente").json()
    ana = next(r for r in body["filas"] if r["código"] == "Ana")
    # Ana: 5 responses (3, 4, 4, 5, 5), mean 21/5; 2 of 5 gave a 4.
    assert (ana["respuestas"], ana["satisfacción_media"], ana["nota_4"]) == (5, 4.2, 0.4)
    download = client.get(f"/api/reportes/satisfaccion?{DAY_QUERY}&agrupar=cola&formato=csv")
    table = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig")), delimiter=";"))
    assert table[0][:4] == ["Cola: código", "Cola", "Respuestas", "Satisfacción media (1 a 5)"]
    # consultas: 4 responses, mean 16/4 = 4; one 3 of four = 25 %.
    assert table[1][:4] == ["consultas", "consultas", "4", "4,0"]
    assert table[1][6] == "25,0%"
    fcr_rows = client.get(f"/api/reportes/resolucion?{DAY_QUERY}&agrupar=canal").json()["filas"]
    assert {r["código"]: r["resolución_primer_contacto"] for r in fcr_rows} == {
        "telefonico": 0.4,  # 2 of 5
        "presencial": 1.0,  # 1 of 1
    }
    quejas = client.get(f"/api/reportes/quejas?{DAY_QUERY}").json()["filas"]  # by unit
    assert [(r["código"], r["quejas"], r["reclamos"]) for r in quejas] == [
        ("BPS/PRE", 1, 0),
        ("DNIC/CED", 0, 2),
        ("DNIC/PAS", 1, 0),
        (None, 1, 0),
    ]
    # Callbacks: consultas CB1 within, CB2 late (1 of 2); reclamos CB3 (no target) within.
    callbacks = client.get(f"/api/reportes/devoluciones?{DAY_QUERY}").json()["filas"]
    assert [
        (r["cola"], r["completadas"], r["en_objetivo"], r["cumplimiento"]) for r in callbacks
    ] == [
        ("consultas", 2, 1, 0.5),
        ("reclamos", 1, 1, 1.0),
    ]
    units = client.get(f"/api/reportes/solicitudes?{DAY_QUERY}&agrupar=unidad").json()["filas"]
    assert {r["grupo"]: r["cumplimiento"] for r in units}["DNIC/PAS"] == 1.0


def test_the_reports_page_shows_the_hand_figures(api: Any) -> None:
    api.app.state.report_sources = ReportSources(api.engine, fx.TZ)
    client = api.client()
    form_login(client, api.usernames[Role.GERENTE])
    page = client.get(f"/reportes?{DAY_QUERY}")
    assert page.status_code == 200, page.text
    html = page.text
    # CSAT 24/7 = 3.43 of 7 responses; FCR 3/6; complaints 5.
    assert '<dd id="csat-media">3,43</dd>' in html
    assert '<dd id="csat-respuestas">7</dd>' in html
    assert '<dd id="fcr">50,0 %</dd>' in html
    assert '<dd id="quejas-total">5</dd>' in html
    # Channels by their Spanish label; groups with no value named as such.
    assert "<td>Teléfono</td>" in html and "<td>Sin cola</td>" in html
    assert "<td>Pasaportes (DNIC/PAS)</td>" in html  # SLA by unit
    row = (
        '<td>consultas</td><td class="num">2</td><td class="num">1</td><td class="num">50,0 %</td>'
    )
    assert '<table id="devoluciones">' in html and row in html  # callbacks: 1 of 2
    assert (
        "/api/reportes/satisfaccion?desde=2026-03-02&amp;hasta=2026-03-02&amp;agrupar=agente"
        in html
    )
