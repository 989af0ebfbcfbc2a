"""The quality indicators a gerente asks for, as pure arithmetic: the one
place where CSAT, first contact resolution and complaints are defined.

The queries (`dashboards.indicator_queries`) hand this module plain counts;
the reports (/reportes and its CSV/XLSX), `/metrics` (hence Grafana and the
alert rules) all count through here, so a figure never has two definitions.
Ticket SLA compliance has its own rule module, `dashboards.ticket_sla`.

Definitions (the *period* of an attention is its arrival, as in the queue
report; its *agent* is the last member who answered it, `attentions.agent`,
as in the agent report; its *organism* and *unit* are those of the ticket its
wrap-up derived to, else those of its wrap-up's topic):

- **CSAT** (customer satisfaction): the 1..5 scores callers gave in the
  post-call survey (`attentions.survey_score`, copied from `call_surveys`).
  Its *mean* is sum of scores / responses; its *distribution* the share of
  responses with each score. No response gives no figure (None), never 0.
  Scores outside 1..5 are not responses (the table's check forbids them).
- **First contact resolution (FCR)**: of the attentions whose wrap-up is
  finished (a resolution chosen and the form submitted), the share whose
  resolution is `resuelta` (resolved during that contact, no ticket and no
  follow-up). `derivada` (a ticket opened) and `pendiente` (a follow-up
  promised) are not resolved at first contact. Open wrap-ups are not counted.
- **Complaints**: the attentions whose finished wrap-up's type is `queja` or
  `reclamo`, plus the tickets of request type `queja` or `reclamo` that no
  wrap-up opened (a complaint that arrived by web or mail): a complaint
  raised in a call and derived to a ticket counts once, as the attention. A
  ticket's period is its creation; its agent the user who created it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

SCORES = (1, 2, 3, 4, 5)


class Resolution(StrEnum):
    """A finished wrap-up's resolution (agent_api.wrapups.Resolution's values)."""

    RESUELTA = "resuelta"
    DERIVADA = "derivada"
    PENDIENTE = "pendiente"


class ComplaintType(StrEnum):
    """Attention and request types that are complaints (crm_bridge.ticket_rules.RequestType)."""

    QUEJA = "queja"
    RECLAMO = "reclamo"


COMPLAINT_TYPES = frozenset(t.value for t in ComplaintType)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


# ------------------------------------------------------------------ CSAT


@dataclass(frozen=True, slots=True)
class ScoreCounts:
    """Survey responses per score 1..5: what CSAT is computed from."""

    by_score: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)

    @classmethod
    def of(cls, counts: Mapping[int, int]) -> ScoreCounts:
        """From responses per score; scores outside 1..5 are not responses."""
        values = [int(counts.get(score, 0)) for score in SCORES]
        return cls((values[0], values[1], values[2], values[3], values[4]))

    @property
    def responses(self) -> int:
        return sum(self.by_score)

    @property
    def score_sum(self) -> int:
        return sum(score * count for score, count in zip(SCORES, self.by_score, strict=True))

    @property
    def mean(self) -> float | None:
        """Mean score 1..5; None with no response."""
        return _ratio(self.score_sum, self.responses)

    def share(self, score: int) -> float | None:
        """Share 0..1 of the responses that gave `score`."""
        return _ratio(self.by_score[score - 1], self.responses)

    def __add__(self, other: ScoreCounts) -> ScoreCounts:
        a, b = self.by_score, other.by_score
        return ScoreCounts((a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4]))


def tally_scores(scores: Iterable[int]) -> ScoreCounts:
    """Responses per score of a list of scores (outside 1..5 ignored)."""
    counts: dict[int, int] = {}
    for score in scores:
        counts[score] = counts.get(score, 0) + 1
    return ScoreCounts.of(counts)


# ------------------------------------------------------------------ FCR


@dataclass(frozen=True, slots=True)
class ResolutionCounts:
    """Finished wrap-ups per resolution: what FCR is computed from."""

    resolved: int = 0  # resuelta
    derived: int = 0  # derivada
    pending: int = 0  # pendiente

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> ResolutionCounts:
        """From finished wrap-ups per resolution value; unknown values are not counted."""
        return cls(
            counts.get(Resolution.RESUELTA.value, 0),
            counts.get(Resolution.DERIVADA.value, 0),
            counts.get(Resolution.PENDIENTE.value, 0),
        )

    @property
    def wrapped(self) -> int:
        return self.resolved + self.derived + self.pending

    @property
    def fcr(self) -> float | None:
        """First contact resolution 0..1; None with no finished wrap-up."""
        return _ratio(self.resolved, self.wrapped)

    def __add__(self, other: ResolutionCounts) -> ResolutionCounts:
        return ResolutionCounts(
            self.resolved + other.resolved,
            self.derived + other.derived,
            self.pending + other.pending,
        )


# ------------------------------------------------------------ complaints


@dataclass(frozen=True, slots=True)
class ComplaintCounts:
    quejas: int = 0
    reclamos: int = 0

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> ComplaintCounts:
        """From complaints per type value; other types are not complaints."""
        return cls(
            counts.get(ComplaintType.QUEJA.value, 0), counts.get(ComplaintType.RECLAMO.value, 0)
        )

    @property
    def total(self) -> int:
        return self.quejas + self.reclamos

    def __add__(self, other: ComplaintCounts) -> ComplaintCounts:
        return ComplaintCounts(self.quejas + other.quejas, self.reclamos + other.reclamos)


def is_complaint(kind: str | None) -> bool:
    return kind in COMPLAINT_TYPES
