"""The quality indicators on /metrics: CSAT, first contact resolution,
complaints and ticket SLA compliance over a rolling window.

Counted by the very functions the reports use (dashboards.indicator_queries,
dashboards.ticket_sla), over the last `window_days` days: a report over the
same span gives the sum of the series with the same label. Gauges of counts,
never ratios, so Grafana and the alert rules can aggregate by any label and
divide (a mean of means would weigh a queue of 3 answers like one of 3,000):

- CSAT mean by queue = sum by (queue) (atiende_survey_score_points)
  / sum by (queue) (atiende_survey_responses);
- FCR = atiende_wrapups_finished{resolution="resuelta"} / all of them;
- ticket SLA compliance = outcome="on_time" / outcome=~"on_time|late|overdue".

Labels are codes from bounded configuration: channel, queue, organism and
unit codes, score 1..5, resolution, complaint type, SLA outcome. No agent
(see dashboards.metric_names: agent figures are in the reports), no topic
(a catalogue of hundreds of trámites would multiply the series), nothing
about a person. A group with no value has the label "" (a walk-in has no
queue). The store is read at most every `refresh_seconds` (a scrape every
15 s would otherwise run these grouped queries four times a minute); a
database that does not answer leaves the families out of that scrape.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import Engine

from dashboards import indicator_queries as q
from dashboards import metric_names as names
from dashboards import ticket_sla
from dashboards.indicator_queries import Dimension
from dashboards.indicators import SCORES, Resolution
from dashboards.report_queries import ReportSpan
from dashboards.store_collector import StoreCollector

_C = TypeVar("_C")

# What each family is grouped by, in label order (queries and labels agree).
ATTENTION_DIMENSIONS = (Dimension.CHANNEL, Dimension.QUEUE, Dimension.ORGANISM)
COMPLAINT_DIMENSIONS = (Dimension.CHANNEL, Dimension.ORGANISM, Dimension.UNIT)
_ATTENTION_LABELS = ["window", "channel", "queue", "organism"]
_OUTCOMES = (
    ticket_sla.Outcome.ON_TIME,
    ticket_sla.Outcome.LATE,
    ticket_sla.Outcome.OVERDUE,
    ticket_sla.Outcome.PENDING,
    ticket_sla.Outcome.NO_DUE,
)


def _labels(groups: Sequence[q.Group]) -> list[str]:
    return ["" if g.key is None else g.key for g in groups]


def _sorted(found: Mapping[q.GroupKey, _C]) -> list[tuple[q.GroupKey, _C]]:
    return sorted(found.items(), key=lambda item: _labels(item[0]))


def _unit_code(key: str | None) -> str:
    """A unit's key is "<organism>/<unit>": the label is the unit's own code."""
    return "" if key is None else key.partition("/")[2]


class IndicatorCollector(StoreCollector):
    what = "indicator figures"

    def __init__(
        self,
        engine: Engine,
        *,
        window_days: int = 7,
        refresh_seconds: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if window_days < 1:
            raise ValueError("the indicators' window is at least one day")
        self._engine = engine
        self._window = timedelta(days=window_days)
        self._window_label = f"{window_days}d"
        self._clock = clock
        super().__init__(refresh_seconds=refresh_seconds, monotonic=monotonic)

    def families(self) -> list[Metric]:
        """Every family, read from the store now (no cache)."""
        end = self._clock()
        span = ReportSpan(end - self._window, end)
        window = self._window_label
        responses = GaugeMetricFamily(
            names.SURVEY_RESPONSES,
            "Post-call survey responses of the attentions that arrived in the window, by score",
            labels=[*_ATTENTION_LABELS, "score"],
        )
        points = GaugeMetricFamily(
            names.SURVEY_SCORE_POINTS,
            "Sum of the 1-5 survey scores of those responses (CSAT mean = points / responses)",
            labels=_ATTENTION_LABELS,
        )
        for groups, counts in _sorted(q.survey_counts(self._engine, span, ATTENTION_DIMENSIONS)):
            values = [window, *_labels(groups)]
            for score in SCORES:
                responses.add_metric([*values, str(score)], counts.by_score[score - 1])
            points.add_metric(values, counts.score_sum)
        wrapups = GaugeMetricFamily(
            names.WRAPUPS_FINISHED,
            "Finished wrap-ups of the attentions that arrived in the window, by resolution"
            " (first contact resolution = resuelta / all)",
            labels=[*_ATTENTION_LABELS, "resolution"],
        )
        for groups, found in _sorted(q.resolution_counts(self._engine, span, ATTENTION_DIMENSIONS)):
            values = [window, *_labels(groups)]
            by_resolution = {
                Resolution.RESUELTA: found.resolved,
                Resolution.DERIVADA: found.derived,
                Resolution.PENDIENTE: found.pending,
            }
            for resolution, count in by_resolution.items():
                wrapups.add_metric([*values, resolution.value], count)
        complaints = GaugeMetricFamily(
            names.COMPLAINTS,
            "Complaints (quejas and reclamos) in the window, by unit",
            labels=["window", "channel", "organism", "unit", "type"],
        )
        for groups, counted in _sorted(
            q.complaint_counts(self._engine, span, COMPLAINT_DIMENSIONS)
        ):
            channel, organism, unit = groups
            values = [window, channel.key or "", organism.key or "", _unit_code(unit.key)]
            complaints.add_metric([*values, "queja"], counted.quejas)
            complaints.add_metric([*values, "reclamo"], counted.reclamos)
        sla = GaugeMetricFamily(
            names.TICKET_SLA_TICKETS,
            "Tickets opened in the window by where they stand against their due date"
            " (compliance = on_time / (on_time + late + overdue))",
            labels=["window", "organism", "unit", "outcome"],
        )
        for row in ticket_sla.ticket_sla_report(self._engine, span, end, by="unidad"):
            organism_code, _, unit_code = row.group.partition("/")
            for outcome in _OUTCOMES:
                sla.add_metric(
                    [window, organism_code, unit_code, outcome.value],
                    getattr(row.counts, outcome.value),
                )
        return [responses, points, wrapups, complaints, sla]
