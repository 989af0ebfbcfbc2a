"""The gerente's screen, /reportes: a date range's figures by queue, agent, topic,
organism and channel, charts (service level over time, volume by hour and
weekday, abandonment), ticket SLA compliance (by organism and unit), the
quality indicators (CSAT, first contact resolution, complaints:
dashboards.indicators), and CSV/XLSX downloads.

Figures only: every number comes from dashboards.report_queries and
dashboards.ticket_sla (the one counting rule); nothing here names a caller or
shows a number. The charts (Chart.js, vendored) draw series the server
computed; each chart has the same figures as a table beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from agent_api.auth import Principal
from agent_api.web.auth import page_for, pages_of
from agent_api.web.screens import Errors
from crm_bridge.callbacks import completed_within_target
from crm_bridge.organisms import Role
from crm_bridge.turns import turn_facts
from dashboards import (
    channel_figures,
    indicator_queries,
    kpi,
    report_queries,
    ticket_sla,
    walkin_kpi,
)
from dashboards.indicator_queries import DIMENSION_LABELS, Dimension
from dashboards.indicators import ComplaintCounts, ResolutionCounts, ScoreCounts
from dashboards.report_queries import Granularity, ReportSpan

router = APIRouter(include_in_schema=False)

Gerente = Annotated[Principal, Depends(page_for(Role.GERENTE))]

MAX_DAYS = 400
WEEKDAYS = ("Lunes", "Martes", "Miércoles", "Jueves", "Viernes", "Sábado", "Domingo")


@dataclass(frozen=True)
class ReportSources:
    """What the reports read, set on app.state.report_sources by the composition root."""

    engine: Engine
    timezone: ZoneInfo
    definitions: Mapping[str, kpi.QueueKpiDefinition] = field(default_factory=dict)
    default: kpi.QueueKpiDefinition | None = None


def _dates(desde: str, hasta: str, zone: ZoneInfo, errors: Errors) -> tuple[date, date]:
    today = datetime.now(zone).date()
    start, end = today - timedelta(days=6), today
    try:
        if desde:
            start = date.fromisoformat(desde)
    except ValueError:
        errors.append(("r-desde", "Escriba la fecha «desde» como aaaa-mm-dd."))
    try:
        if hasta:
            end = date.fromisoformat(hasta)
    except ValueError:
        errors.append(("r-hasta", "Escriba la fecha «hasta» como aaaa-mm-dd."))
    if end < start:
        errors.append(("r-hasta", "«Hasta» no puede ser anterior a «desde»."))
    elif (end - start).days > MAX_DAYS:
        errors.append(("r-hasta", f"El período no puede superar {MAX_DAYS} días."))
    return start, end


def _figures(sources: ReportSources, start: date, end: date) -> dict[str, Any]:
    zone = sources.timezone
    span = ReportSpan(
        datetime.combine(start, time(), zone),
        datetime.combine(end + timedelta(days=1), time(), zone),
        zone,
    )
    engine, definitions, default = sources.engine, dict(sources.definitions), sources.default
    daily = report_queries.queue_report(engine, span, definitions=definitions, default=default)
    hourly = report_queries.queue_report(
        engine, span, granularity=Granularity.HOUR, definitions=definitions, default=default
    )
    now = datetime.now(UTC)
    by_organism = ticket_sla.ticket_sla_report(engine, span, now, by="organismo")
    by_channel = ticket_sla.ticket_sla_report(engine, span, now, by="canal")
    # Volumes by hour of day and weekday: the report's own per-hour counts, added up.
    hours = [{"offered": 0, "answered": 0, "abandoned": 0} for _ in range(24)]
    weekdays = [{"offered": 0, "answered": 0, "abandoned": 0} for _ in range(7)]
    for row in hourly:
        for bucket in (hours[row.hour or 0], weekdays[row.day.weekday()]):
            bucket["offered"] += row.counts.offered
            bucket["answered"] += row.counts.answered
            bucket["abandoned"] += row.counts.abandoned
    days = sorted({row.day for row in daily})
    queues = sorted({row.queue for row in daily})
    by_key = {(row.queue, row.day): row for row in daily}

    def series(attr: str) -> list[dict[str, Any]]:
        return [
            {
                "label": queue,
                "data": [
                    None
                    if (queue, day) not in by_key or getattr(by_key[queue, day], attr) is None
                    else round(getattr(by_key[queue, day], attr) * 100, 1)
                    for day in days
                ],
            }
            for queue in queues
        ]

    charts = {
        "days": [d.strftime("%d/%m") for d in days],
        "service_level": series("service_level"),
        "abandon": series("abandon_rate"),
        "hours": [f"{h:02d}" for h in range(24)],
        "by_hour": [b["offered"] for b in hours],
        "weekdays": list(WEEKDAYS),
        "by_weekday": [b["offered"] for b in weekdays],
    }
    return {
        # Walk-ins per service point and topic (dashboards.walkin_kpi, as /metrics counts them).
        "walkin": walkin_kpi.tally(turn_facts(engine, span.start, span.end), now),
        "quality": _quality(engine, span),
        "channels": channel_figures.channel_report(engine, span),
        "callbacks": sorted(completed_within_target(engine, span.start, span.end).items()),
        "sla_units": ticket_sla.ticket_sla_report(engine, span, now, by="unidad"),
        "daily": daily,
        "agents": report_queries.agent_report(engine, span),
        "topics": report_queries.topic_report(engine, span),
        "organisms": report_queries.organism_report(engine, span),
        "sla_organisms": by_organism,
        "sla_channels": by_channel,
        "sla_total": ticket_sla.total(by_organism),
        "hours": list(enumerate(hours)),
        "weekdays": list(zip(WEEKDAYS, weekdays, strict=True)),
        "charts": charts,
    }


# The quality indicators' tables on the page; every dimension is in the CSV/XLSX.
CSAT_BY = (Dimension.AGENT, Dimension.QUEUE, Dimension.CHANNEL, Dimension.TOPIC, Dimension.ORGANISM)
FCR_BY = (Dimension.AGENT, Dimension.CHANNEL, Dimension.ORGANISM)
COMPLAINTS_BY = (Dimension.UNIT, Dimension.AGENT)


def _quality(engine: Engine, span: ReportSpan) -> dict[str, Any]:
    """CSAT, first contact resolution and complaints (dashboards.indicators) by
    dimension, and the centre's totals (the sum of any one dimension's rows)."""
    csat = [
        (by, DIMENSION_LABELS[by], indicator_queries.csat_report(engine, span, by))
        for by in CSAT_BY
    ]
    fcr = [
        (by, DIMENSION_LABELS[by], indicator_queries.fcr_report(engine, span, by)) for by in FCR_BY
    ]
    complaints = [
        (by, DIMENSION_LABELS[by], indicator_queries.complaint_report(engine, span, by))
        for by in COMPLAINTS_BY
    ]
    return {
        "csat": csat,
        "csat_total": sum((r.counts for r in csat[0][2]), ScoreCounts()),
        "fcr": fcr,
        "fcr_total": sum((r.counts for r in fcr[0][2]), ResolutionCounts()),
        "complaints": complaints,
        "complaints_total": sum((r.counts for r in complaints[0][2]), ComplaintCounts()),
    }


@router.get("/reportes")
async def reports(
    request: Request, user: Gerente, desde: str = "", hasta: str = ""
) -> HTMLResponse:
    sources: ReportSources | None = getattr(request.app.state, "report_sources", None)
    zone = pages_of(request).zone if sources is None else sources.timezone
    errors: Errors = []
    start, end = _dates(desde, hasta, zone, errors)
    figures: dict[str, Any] | None = None
    if sources is not None and not errors:
        figures = await run_in_threadpool(_figures, sources, start, end)
    query = f"desde={start.isoformat()}&hasta={end.isoformat()}"
    return pages_of(request).render(
        request,
        "reportes/index.html",
        {
            "enabled": sources is not None,
            "desde": start.isoformat(),
            "hasta": end.isoformat(),
            "query": query,
            "f": figures,
            "errors": errors,
        },
        user=user,
        status_code=422 if errors else 200,
    )
