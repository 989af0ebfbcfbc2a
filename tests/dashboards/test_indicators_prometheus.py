"""One count for the quality indicators: a real Prometheus scrapes the
indicator collector over the hand-computed fixture, and every panel of the
Grafana board `atiende-indicators`, asked of that Prometheus, gives what the
reports give (and the hand figures of test_indicators.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from crm_bridge.db import make_engine, upgrade
from dashboards import ticket_sla
from dashboards.channel_figures import ChannelCollector, channel_report
from dashboards.indicator_metrics import IndicatorCollector
from dashboards.indicator_queries import Dimension, complaint_report, csat_report, fcr_report
from tests.dashboards import indicator_fixture as fx
from tests.dashboards.test_grafana import load, panels
from tests.dashboards.test_real_prometheus import query, scraping


@pytest.fixture
def scraped(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)
    fx.load(engine)
    end = (fx.DAY + timedelta(days=1)).astimezone(UTC)  # the window is the fixture's day
    registry = CollectorRegistry()
    registry.register(IndicatorCollector(engine, window_days=1, clock=lambda: end))
    registry.register(ChannelCollector(engine, window_days=1, clock=lambda: end))
    try:
        with scraping(tmp_path, registry) as base:
            yield base, engine
    finally:
        engine.dispose()


def ask(base: str, expr: str) -> dict[str, float]:
    """Each series of the answer, by its legend (labels joined with "/")."""
    result = query(base, expr)
    assert result["status"] == "success", (expr, result)
    return {
        "/".join(v for k, v in sorted(r["metric"].items()) if k not in ("job", "instance")): float(
            r["value"][1]
        )
        for r in result["data"]["result"]
    }


def test_every_indicator_panel_gives_the_report_figures(scraped: tuple[str, Engine]) -> None:
    base, engine = scraped
    deadline = time.monotonic() + 30
    while not ask(base, "atiende_survey_responses"):
        assert time.monotonic() < deadline, "no scrape of the indicators"
        time.sleep(0.5)
    board = load("atiende-indicators.json")
    exprs = {p["title"]: p["targets"][0]["expr"] for p in panels(board) if p["type"] != "row"}

    # Centre-wide: CSAT 24/7, FCR 3/6, SLA 1/3 (tickets 1 on time; 2 late,
    # 3 overdue; 4 pending), complaints 5.
    assert ask(base, exprs["Satisfacción media (1 a 5)"]) == {"1d": pytest.approx(24 / 7)}
    assert ask(base, exprs["Resuelto en el primer contacto"]) == {"1d": 0.5}
    assert ask(base, exprs["Solicitudes respondidas en plazo"]) == {"1d": pytest.approx(1 / 3)}
    assert ask(base, exprs["Quejas y reclamos"]) == {"": 5.0}
    assert ask(base, exprs["Respuestas por nota"]) == {"1": 1, "2": 1, "3": 1, "4": 2, "5": 2}

    for title, dim in (
        ("Satisfacción por canal", Dimension.CHANNEL),
        ("Satisfacción por cola", Dimension.QUEUE),
        ("Satisfacción por organismo", Dimension.ORGANISM),
    ):
        report = {r.group.key or "": r.counts.mean for r in csat_report(engine, fx.SPAN, dim)}
        assert ask(base, exprs[title]) == pytest.approx(report), title
    assert ask(base, exprs["Satisfacción por cola"])["consultas"] == 4.0  # 16 / 4
    fcr = {r.group.key: r.counts.fcr for r in fcr_report(engine, fx.SPAN, Dimension.CHANNEL)}
    assert ask(base, exprs["Resuelto en el primer contacto por canal"]) == fcr
    assert fcr == {"telefonico": 0.4, "presencial": 1.0}

    # Ticket SLA: by organism and by unit, as the report (units without a
    # judged ticket give no figure: BPS/ has only the pending ticket 4).
    by_org = ticket_sla.ticket_sla_report(engine, fx.SPAN, fx.NOW)
    assert ask(base, exprs["Cumplimiento del plazo por organismo"]) == {
        r.group: r.counts.compliance for r in by_org
    }
    by_unit = ticket_sla.ticket_sla_report(engine, fx.SPAN, fx.NOW, by="unidad")
    assert ask(base, exprs["Cumplimiento del plazo por unidad"]) == {
        r.group: r.counts.compliance for r in by_unit if r.counts.compliance is not None
    }
    # Complaints by unit and type: the report by unit, split by type (ticket
    # 4 has an organism and no unit: BPS, unit "").
    by_unit_report = {
        (r.group.key or "BPS/"): r.counts for r in complaint_report(engine, fx.SPAN, Dimension.UNIT)
    }
    expected: dict[str, float] = {}
    for key, counts in by_unit_report.items():
        organism, _, unit = key.partition("/")
        for kind, count in (("queja", counts.quejas), ("reclamo", counts.reclamos)):
            expected["/".join(p for p in (organism, kind, unit) if p)] = count
    assert ask(base, exprs["Quejas y reclamos por unidad"]) == expected
    assert expected["DNIC/reclamo/CED"] == 2  # A4 and ticket 3

    # Attentions per channel (dashboards.channel_figures): volume and service level.
    channels = channel_report(engine, fx.SPAN)
    assert ask(base, exprs["Atenciones por canal"]) == {
        r.channel: r.counts.attentions for r in channels
    }
    assert ask(base, exprs["Nivel de servicio por canal"]) == pytest.approx(
        {r.channel: r.counts.service_level for r in channels}
    )
