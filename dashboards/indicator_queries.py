"""The quality indicators read from the attention store (PostgreSQL or SQLite).

Each indicator is one grouped query returning plain counts per group; the
figures are computed from them by `dashboards.indicators` (the definitions
are there). The reports ask for one dimension at a time (`csat_report`,
`fcr_report`, `complaint_report`); the `/metrics` collector
(`dashboards.indicator_metrics`) asks the same functions for several
dimensions at once, so a report row is exactly the sum of the metric's
series with that label.

Dimensions (`Dimension`) of an attention: its agent (`attentions.agent`, the
last answering member), queue (the last one; none for non-phone channels),
channel, topic (of its wrap-up), organism and unit (of the ticket its
wrap-up derived to, else of its topic). A unit's key is
"<organism code>/<unit code>": unit codes are unique within an organism only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Engine, FromClause, and_, func, literal, null, select
from sqlalchemy.sql.elements import Null

from crm_bridge.models import (
    Attention,
    AttentionWrapup,
    CatalogTopic,
    Organism,
    Ticket,
    Unit,
    User,
)
from dashboards.indicators import (
    COMPLAINT_TYPES,
    ComplaintCounts,
    ResolutionCounts,
    ScoreCounts,
)
from dashboards.report_queries import ReportSpan

_C = TypeVar("_C")


class Dimension(StrEnum):
    AGENT = "agente"
    QUEUE = "cola"
    CHANNEL = "canal"
    TOPIC = "tema"
    ORGANISM = "organismo"
    UNIT = "unidad"


DIMENSION_LABELS: Mapping[Dimension, str] = {
    Dimension.AGENT: "Agente",
    Dimension.QUEUE: "Cola",
    Dimension.CHANNEL: "Canal",
    Dimension.TOPIC: "Tema",
    Dimension.ORGANISM: "Organismo",
    Dimension.UNIT: "Unidad",
}


@dataclass(frozen=True, slots=True, order=True)
class Group:
    """One value of a dimension: a stable key and what a person reads."""

    key: str | None  # None: the attention has none (no queue, no topic...)
    label: str | None


GroupKey = tuple[Group, ...]


@dataclass(frozen=True, slots=True)
class CsatRow:
    group: Group
    counts: ScoreCounts


@dataclass(frozen=True, slots=True)
class FcrRow:
    group: Group
    counts: ResolutionCounts


@dataclass(frozen=True, slots=True)
class ComplaintRow:
    group: Group
    counts: ComplaintCounts


# ------------------------------------------------------------------ joins

_w = AttentionWrapup.__table__.alias("w")
_a = Attention.__table__.alias("a")
_t = CatalogTopic.__table__.alias("t")
_k = Ticket.__table__.alias("k")
_o = Organism.__table__.alias("o")
_u = Unit.__table__.alias("u")
_uo = Organism.__table__.alias("uo")
_creator = User.__table__.alias("creator")


def _attention_from() -> FromClause:
    """An attention with its wrap-up, topic, derived ticket, organism and unit."""
    return (
        _a.outerjoin(_w, and_(_w.c.system == _a.c.system, _w.c.linkedid == _a.c.linkedid))
        .outerjoin(_t, _t.c.id == _w.c.topic_id)
        .outerjoin(_k, _k.c.number == _w.c.ticket_number)
        .outerjoin(_o, _o.c.id == func.coalesce(_k.c.organism_id, _t.c.organism_id))
        .outerjoin(_u, _u.c.id == func.coalesce(_k.c.unit_id, _t.c.unit_id))
        .outerjoin(_uo, _uo.c.id == _u.c.organism_id)
    )


def _unit_key(
    organism_code: ColumnElement[str], unit_code: ColumnElement[str]
) -> ColumnElement[str]:
    # NULL when there is no unit (NULL || text is NULL in both databases).
    return organism_code + literal("/") + unit_code


_ATTENTION_DIMENSIONS: Mapping[Dimension, tuple[Any, Any]] = {
    Dimension.AGENT: (_a.c.agent, _a.c.agent),
    Dimension.QUEUE: (_a.c.queue, _a.c.queue),
    Dimension.CHANNEL: (_a.c.channel, _a.c.channel),
    Dimension.TOPIC: (_t.c.code, _t.c.name),
    Dimension.ORGANISM: (_o.c.code, _o.c.name),
    Dimension.UNIT: (_unit_key(_uo.c.code, _u.c.code), _u.c.name),
}

# A ticket no wrap-up opened (complaints by web or mail): its own organism
# and unit, the user who created it, no queue and no catalog topic.
_ko = Organism.__table__.alias("ko")
_ku = Unit.__table__.alias("ku")
_kuo = Organism.__table__.alias("kuo")
_TICKET_DIMENSIONS: Mapping[Dimension, tuple[Any, Any]] = {
    Dimension.AGENT: (_creator.c.display_name, _creator.c.display_name),
    Dimension.QUEUE: (null(), null()),
    Dimension.CHANNEL: (_k.c.channel, _k.c.channel),
    Dimension.TOPIC: (null(), null()),
    Dimension.ORGANISM: (_ko.c.code, _ko.c.name),
    Dimension.UNIT: (_unit_key(_kuo.c.code, _ku.c.code), _ku.c.name),
}


def _columns(table: Mapping[Dimension, tuple[Any, Any]], dims: Sequence[Dimension]) -> list[Any]:
    columns: list[Any] = []
    for index, dim in enumerate(dims):
        key, label = table[dim]
        columns += [key.label(f"k{index}"), label.label(f"l{index}")]
    return columns


def _grouped(columns: Sequence[Any]) -> list[Any]:
    """The columns worth a GROUP BY: PostgreSQL refuses a constant (NULL) there."""
    return [c for c in columns if not isinstance(c.element, Null)]


def _in_span(column: Any, span: ReportSpan) -> ColumnElement[bool]:
    kind = column.type
    return and_(column >= literal(span.start, kind), column < literal(span.end, kind))


def _fold(
    rows: Sequence[Any],
    dims: Sequence[Dimension],
    make: Callable[[Mapping[Any, int]], _C],
    add: Callable[[_C, _C], _C],
    found: dict[GroupKey, _C] | None = None,
) -> dict[GroupKey, _C]:
    """(key, label per dimension..., value, count) rows → counts per group."""
    width = 2 * len(dims)
    per_group: dict[GroupKey, dict[Any, int]] = {}
    for row in rows:
        group = tuple(
            Group(
                None if row[i] is None else str(row[i]),
                None if row[i + 1] is None else str(row[i + 1]),
            )
            for i in range(0, width, 2)
        )
        counts = per_group.setdefault(group, {})
        value = row[width]
        counts[value] = counts.get(value, 0) + int(row[width + 1])
    out = dict(found or {})
    for group, counts in per_group.items():
        made = make(counts)
        out[group] = add(out[group], made) if group in out else made
    return out


# ------------------------------------------------------------------ counts


def survey_counts(
    engine: Engine, span: ReportSpan, dims: Sequence[Dimension]
) -> dict[GroupKey, ScoreCounts]:
    """Survey responses per score of the attentions that arrived in the span, per group."""
    columns = _columns(_ATTENTION_DIMENSIONS, dims)
    score = _a.c.survey_score
    stmt = (
        select(*columns, score, func.count())
        .select_from(_attention_from())
        .where(score.is_not(None), _in_span(_a.c.arrived_at, span))
        .group_by(*_grouped(columns), score)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return _fold(rows, dims, ScoreCounts.of, ScoreCounts.__add__)


def resolution_counts(
    engine: Engine, span: ReportSpan, dims: Sequence[Dimension]
) -> dict[GroupKey, ResolutionCounts]:
    """Finished wrap-ups per resolution of the attentions that arrived in the span, per group."""
    columns = _columns(_ATTENTION_DIMENSIONS, dims)
    stmt = (
        select(*columns, _w.c.resolution, func.count())
        .select_from(_attention_from())
        .where(
            _w.c.resolution.is_not(None),
            _w.c.wrapup_ended_at.is_not(None),
            _in_span(_a.c.arrived_at, span),
        )
        .group_by(*_grouped(columns), _w.c.resolution)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return _fold(rows, dims, ResolutionCounts.of, ResolutionCounts.__add__)


def complaint_counts(
    engine: Engine, span: ReportSpan, dims: Sequence[Dimension]
) -> dict[GroupKey, ComplaintCounts]:
    """Complaints (dashboards.indicators): wrapped-up attentions of type queja or
    reclamo that arrived in the span, and complaint tickets created in the
    span that no wrap-up opened."""
    kinds = sorted(COMPLAINT_TYPES)
    columns = _columns(_ATTENTION_DIMENSIONS, dims)
    attention_stmt = (
        select(*columns, _w.c.attention_type, func.count())
        .select_from(_attention_from())
        .where(
            _w.c.attention_type.in_(kinds),
            _w.c.resolution.is_not(None),
            _w.c.wrapup_ended_at.is_not(None),
            _in_span(_a.c.arrived_at, span),
        )
        .group_by(*_grouped(columns), _w.c.attention_type)
    )
    opened_by_wrapup = select(_w.c.id).where(_w.c.ticket_number == _k.c.number).exists()
    ticket_columns = _columns(_TICKET_DIMENSIONS, dims)
    ticket_from = (
        _k.join(_ko, _ko.c.id == _k.c.organism_id)
        .outerjoin(_ku, _ku.c.id == _k.c.unit_id)
        .outerjoin(_kuo, _kuo.c.id == _ku.c.organism_id)
        .outerjoin(_creator, _creator.c.id == _k.c.created_by)
    )
    ticket_stmt = (
        select(*ticket_columns, _k.c.request_type, func.count())
        .select_from(ticket_from)
        .where(
            _k.c.request_type.in_(kinds),
            _in_span(_k.c.created_at, span),
            ~opened_by_wrapup,
        )
        .group_by(*_grouped(ticket_columns), _k.c.request_type)
    )
    with engine.connect() as conn:
        attention_rows = conn.execute(attention_stmt).all()
        ticket_rows = conn.execute(ticket_stmt).all()
    found = _fold(attention_rows, dims, ComplaintCounts.of, ComplaintCounts.__add__)
    return _fold(ticket_rows, dims, ComplaintCounts.of, ComplaintCounts.__add__, found)


# ------------------------------------------------------------------ reports


def _order(group: Group) -> tuple[bool, str, str]:
    # Groups with a value first, by key; "none" (no queue, no topic) last.
    return (group.key is None, group.key or "", group.label or "")


def csat_report(engine: Engine, span: ReportSpan, by: Dimension) -> list[CsatRow]:
    found = survey_counts(engine, span, (by,))
    return [CsatRow(g[0], c) for g, c in sorted(found.items(), key=lambda i: _order(i[0][0]))]


def fcr_report(engine: Engine, span: ReportSpan, by: Dimension) -> list[FcrRow]:
    found = resolution_counts(engine, span, (by,))
    return [FcrRow(g[0], c) for g, c in sorted(found.items(), key=lambda i: _order(i[0][0]))]


def complaint_report(engine: Engine, span: ReportSpan, by: Dimension) -> list[ComplaintRow]:
    found = complaint_counts(engine, span, (by,))
    return [ComplaintRow(g[0], c) for g, c in sorted(found.items(), key=lambda i: _order(i[0][0]))]
