"""Walk-in figures, counted one way (pure): reports, /metrics and the wallboard use this.

Per service point and topic, over the turns given in a span (crm_bridge.turns.TurnFacts):

- **waiting now**: turns not yet called; **longest wait**: the oldest of them, now.
- **wait**: from the turn given to its first call (the number on the room display).
  A turn called within the point's target counts "within target"; a wait equal
  to the target is within it (as the phone service level).
- **attention time**: from the person at the desk (served) to the end.
- **no-shows**: turns called and never served (recalled out, or marked).
- **satisfaction**: the farewell evaluations (1-5) of the turns' attentions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from crm_bridge.turn_rules import TurnStatus
from crm_bridge.turns import TurnFacts
from dashboards.indicators import ScoreCounts, tally_scores


@dataclass(slots=True)
class WalkinTally:
    point: str
    topic: str
    given: int = 0
    waiting_now: int = 0
    longest_wait_seconds: float = 0.0
    called: int = 0
    called_within_target: int = 0
    wait_seconds_sum: float = 0.0
    served: int = 0
    attention_seconds_sum: float = 0.0
    no_shows: int = 0
    cancelled: int = 0
    # The CSAT rule of the indicators, so a walk-in score counts as a phone one.
    scores: ScoreCounts = field(default_factory=ScoreCounts)

    @property
    def within_target_pct(self) -> float | None:
        return None if not self.called else 100.0 * self.called_within_target / self.called

    @property
    def mean_wait_seconds(self) -> float | None:
        return None if not self.called else self.wait_seconds_sum / self.called

    @property
    def mean_attention_seconds(self) -> float | None:
        return None if not self.served else self.attention_seconds_sum / self.served

    @property
    def evaluations(self) -> int:
        return self.scores.responses

    @property
    def score_sum(self) -> int:
        return self.scores.score_sum

    @property
    def mean_score(self) -> float | None:
        return self.scores.mean


def tally(facts: Iterable[TurnFacts], now: datetime) -> list[WalkinTally]:
    """The figures per (point, topic), sorted by point and topic."""
    out: dict[tuple[str, str], WalkinTally] = {}
    for f in facts:
        t = out.get((f.point, f.topic))
        if t is None:
            t = out[(f.point, f.topic)] = WalkinTally(f.point, f.topic)
        t.given += 1
        if f.status is TurnStatus.WAITING:
            t.waiting_now += 1
            t.longest_wait_seconds = max(
                t.longest_wait_seconds, (now - f.issued_at).total_seconds()
            )
        if f.first_called_at is not None:
            wait = max(0.0, (f.first_called_at - f.issued_at).total_seconds())
            t.called += 1
            t.wait_seconds_sum += wait
            if wait <= f.target_wait_seconds:
                t.called_within_target += 1
        if f.status is TurnStatus.DONE and f.served_at is not None and f.ended_at is not None:
            t.served += 1
            t.attention_seconds_sum += max(0.0, (f.ended_at - f.served_at).total_seconds())
        if f.status is TurnStatus.NO_SHOW:
            t.no_shows += 1
        if f.status is TurnStatus.CANCELLED:
            t.cancelled += 1
        if f.survey_score is not None:
            t.scores += tally_scores([f.survey_score])
    return [out[k] for k in sorted(out)]
