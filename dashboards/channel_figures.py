"""Volume, service level and satisfaction per attention channel, counted one way.

Every channel's attentions live in the one `attentions` table (calls from the
bridge, the rest from crm_bridge.contacts), so one grouped query counts them
all. The reports (/reportes), `/metrics` (ChannelCollector) and Grafana read
these counts; satisfaction comes from dashboards.indicator_queries (the CSAT
definition of dashboards.indicators), grouped by the same channel column.

Definitions, per channel (citizen.channels.Channel):

- **Attentions**: those that arrived in the span.
- **Answered within the threshold**: attended (answered_at set) after a wait
  of at most the channel's threshold (`DEFAULT_THRESHOLDS`: a call 20 s, a
  walk-in 15 min, a written request one day until its first response), by
  dashboards.kpi.within_threshold's `<=` rule.
- **Service level**: answered within the threshold / (answered + abandoned).
  Attentions still waiting, or that ended otherwise (a call finished in the
  IVR), are in the volume but in neither side of the level; with none in the
  denominator the level is None, never 0 % or 100 %.

These are per attention, all channels alike; the phone queues' own service
level (per queue leg, with Asterisk's treatments of abandons) stays
dashboards.kpi's and the queue report's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import Engine, and_, case, func, literal, select

from citizen.channels import Channel
from crm_bridge.models import Attention
from dashboards import indicator_queries
from dashboards import metric_names as names
from dashboards.indicator_queries import Dimension
from dashboards.indicators import ScoreCounts
from dashboards.report_queries import ReportSpan
from dashboards.store_collector import StoreCollector
from telephony.domain import Outcome

DEFAULT_THRESHOLDS: Mapping[str, float] = MappingProxyType(
    {
        Channel.TELEFONICO.value: 20.0,
        Channel.PRESENCIAL.value: 15 * 60.0,
        Channel.CORREO.value: 24 * 3600.0,
        Channel.WEB.value: 24 * 3600.0,
        Channel.CHAT.value: 60.0,
        Channel.WHATSAPP.value: 3600.0,
    }
)
# A channel value the store holds but the table above does not name.
FALLBACK_THRESHOLD = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class ChannelCounts:
    attentions: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0

    @property
    def answered_late(self) -> int:
        return self.answered - self.answered_within

    @property
    def other(self) -> int:
        """Still waiting, or ended without being answered or abandoned."""
        return self.attentions - self.answered - self.abandoned

    @property
    def service_level(self) -> float | None:
        settled = self.answered + self.abandoned
        return None if settled == 0 else self.answered_within / settled

    def __add__(self, other: ChannelCounts) -> ChannelCounts:
        return ChannelCounts(
            self.attentions + other.attentions,
            self.answered + other.answered,
            self.answered_within + other.answered_within,
            self.abandoned + other.abandoned,
        )


@dataclass(frozen=True, slots=True)
class ChannelRow:
    channel: str
    threshold_seconds: float
    counts: ChannelCounts
    satisfaction: ScoreCounts


def threshold_of(channel: str, thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS) -> float:
    return thresholds.get(channel, FALLBACK_THRESHOLD)


def channel_counts(
    engine: Engine, span: ReportSpan, thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS
) -> dict[str, ChannelCounts]:
    """Counts per stored channel value of the attentions that arrived in the span."""
    a = Attention.__table__
    limit = case(
        *[(a.c.channel == value, literal(seconds)) for value, seconds in thresholds.items()],
        else_=literal(FALLBACK_THRESHOLD),
    )
    answered = a.c.answered_at.is_not(None)
    stmt = (
        select(
            a.c.channel,
            func.count(),
            func.sum(case((answered, 1), else_=0)),
            func.sum(case((and_(answered, a.c.wait_seconds <= limit), 1), else_=0)),
            func.sum(case((a.c.outcome == Outcome.ABANDONED.value, 1), else_=0)),
        )
        .where(a.c.arrived_at >= span.start, a.c.arrived_at < span.end)
        .group_by(a.c.channel)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return {
        str(channel): ChannelCounts(int(total), int(ans or 0), int(within or 0), int(aband or 0))
        for channel, total, ans, within, aband in rows
    }


def channel_report(
    engine: Engine, span: ReportSpan, thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS
) -> list[ChannelRow]:
    """One row per channel with attentions or survey responses in the span, in
    the vocabulary's order (unknown values last)."""
    counts = channel_counts(engine, span, thresholds)
    surveys = {
        groups[0].key: found
        for groups, found in indicator_queries.survey_counts(
            engine, span, [Dimension.CHANNEL]
        ).items()
        if groups[0].key is not None
    }
    order = {c.value: i for i, c in enumerate(Channel)}
    channels = sorted(set(counts) | set(surveys), key=lambda c: (order.get(c, len(order)), c))
    return [
        ChannelRow(
            channel=channel,
            threshold_seconds=threshold_of(channel, thresholds),
            counts=counts.get(channel, ChannelCounts()),
            satisfaction=surveys.get(channel, ScoreCounts()),
        )
        for channel in channels
    ]


class ChannelCollector(StoreCollector):
    """`/metrics`: the attentions per channel and state over a rolling window.

    Labels: window, channel (a stored channel code) and state; nothing about
    a person. Service level = answered_within / (answered_within +
    answered_late + abandoned), as channel_counts defines it; satisfaction per
    channel is IndicatorCollector's (atiende_survey_* with a channel label).
    """

    what = "channel figures"

    def __init__(
        self,
        engine: Engine,
        *,
        window_days: int = 7,
        refresh_seconds: float = 60.0,
        thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if window_days < 1:
            raise ValueError("the channel figures' window is at least one day")
        self._engine = engine
        self._window = timedelta(days=window_days)
        self._label = f"{window_days}d"
        self._thresholds = thresholds
        self._clock = clock
        super().__init__(refresh_seconds=refresh_seconds, monotonic=monotonic)

    def families(self) -> list[Metric]:
        end = self._clock()
        found = channel_counts(self._engine, ReportSpan(end - self._window, end), self._thresholds)
        attentions = GaugeMetricFamily(
            names.CHANNEL_ATTENTIONS,
            "Attentions that arrived in the window, by channel and state (answered_within the"
            " channel's threshold, answered_late, abandoned, other)",
            labels=["window", "channel", "state"],
        )
        thresholds = GaugeMetricFamily(
            names.CHANNEL_SL_THRESHOLD,
            "Wait a channel's attention may have to count as answered within the service level",
            labels=["channel"],
        )
        for channel in sorted(found):
            counts = found[channel]
            for state, value in (
                ("answered_within", counts.answered_within),
                ("answered_late", counts.answered_late),
                ("abandoned", counts.abandoned),
                ("other", counts.other),
            ):
                attentions.add_metric([self._label, channel, state], value)
        for channel in sorted(set(found) | set(self._thresholds)):
            thresholds.add_metric([channel], threshold_of(channel, self._thresholds))
        return [attentions, thresholds]
