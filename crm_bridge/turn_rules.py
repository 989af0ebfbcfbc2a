"""Turns of walk-in attention (presencial): the rules, with no database.

A person received at a service point gets a *turn* for one of the point's
topics: a number per service point, topic and day (the topic's prefix letter
and a counter that restarts each day in the centre's timezone, "A-007"). A
desk calls the next turn among the topics it serves: the priority categories
the centre configures (people with disabilities, pregnant women, elderly
people: the equity principle of the Modelo de Atención) come first, by their
rank, then the oldest turn. A called turn the person does not come to may be
recalled; after `max_recalls` recalls (or a manual mark) it is a no-show.

Everything here takes plain values and returns decisions; crm_bridge.turns
applies them under row locks.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo


class TurnStatus(StrEnum):
    WAITING = "waiting"  # given, not yet called
    CALLED = "called"  # a desk called it; the person walks to the desk
    SERVING = "serving"  # the person is at the desk
    DONE = "done"  # served and closed
    NO_SHOW = "no_show"  # called and never came (Outcome.ABANDONED)
    CANCELLED = "cancelled"  # the person left before being called


LIVE = frozenset({TurnStatus.WAITING, TurnStatus.CALLED, TurnStatus.SERVING})
ENDED = frozenset({TurnStatus.DONE, TurnStatus.NO_SHOW, TurnStatus.CANCELLED})

# Spanish words on the desk and reception screens.
STATUS_LABELS = {
    TurnStatus.WAITING: "En espera",
    TurnStatus.CALLED: "Llamado",
    TurnStatus.SERVING: "En atención",
    TurnStatus.DONE: "Atendido",
    TurnStatus.NO_SHOW: "No se presentó",
    TurnStatus.CANCELLED: "Cancelado",
}

MAX_NUMBER = 999
PREFIX_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class TurnRuleError(ValueError):
    """A turn action the rules refuse (the message is for logs; pages say it in Spanish)."""


@dataclass(frozen=True, slots=True)
class PriorityCategory:
    """A category the centre gives priority to; a lower rank is called first."""

    code: str
    label: str
    rank: int


NO_PRIORITY_RANK = 1_000_000  # a turn without a priority category


@dataclass(frozen=True, slots=True)
class WaitingTurn:
    id: int
    topic_id: int
    issued_at: dt.datetime
    priority_rank: int = NO_PRIORITY_RANK


def service_day(moment: dt.datetime, timezone: str) -> dt.date:
    """The centre's calendar day of `moment`: numbering restarts at local midnight."""
    if moment.tzinfo is None:
        raise TurnRuleError("turn times must be timezone-aware")
    return moment.astimezone(ZoneInfo(timezone)).date()


def turn_label(prefix: str, number: int) -> str:
    """What the ticket, the desk and the room display show: "A-007"."""
    return f"{prefix}-{number:03d}"


def valid_prefix(prefix: str) -> bool:
    return len(prefix) == 1 and prefix in PREFIX_LETTERS


def next_number(last: int | None) -> int:
    """The number after `last` today; the counter wraps past MAX_NUMBER (a
    three-digit display), which no real point reaches in a day."""
    if last is None or last >= MAX_NUMBER:
        return 1
    return last + 1


def priority_rank(code: str | None, categories: Iterable[PriorityCategory]) -> int:
    """The rank of a turn's category; unknown or none: no priority."""
    if not code:
        return NO_PRIORITY_RANK
    for category in categories:
        if category.code == code:
            return category.rank
    raise TurnRuleError(f"unknown priority category {code!r}")


def call_order(turn: WaitingTurn) -> tuple[int, dt.datetime, int]:
    """Priority first (by rank), then the oldest, then the first given."""
    return (turn.priority_rank, turn.issued_at, turn.id)


def pick_next(
    waiting: Iterable[WaitingTurn], topics: Collection[int] | None = None
) -> WaitingTurn | None:
    """The turn a desk serving `topics` (None: every topic) calls next."""
    eligible = [t for t in waiting if topics is None or t.topic_id in topics]
    return min(eligible, key=call_order) if eligible else None


@dataclass(frozen=True, slots=True)
class RecallDecision:
    recalls: int
    no_show: bool


def recall(recalls_so_far: int, max_recalls: int) -> RecallDecision:
    """Calling the same turn again; past `max_recalls` recalls it is a no-show."""
    if max_recalls < 0:
        raise TurnRuleError("max_recalls cannot be negative")
    count = recalls_so_far + 1
    return RecallDecision(recalls=count, no_show=count > max_recalls)


# Which transitions each desk action makes (the repository refuses the rest).
TRANSITIONS: dict[str, tuple[frozenset[TurnStatus], TurnStatus]] = {
    "call": (frozenset({TurnStatus.WAITING}), TurnStatus.CALLED),
    "recall": (frozenset({TurnStatus.CALLED}), TurnStatus.CALLED),
    "serve": (frozenset({TurnStatus.CALLED}), TurnStatus.SERVING),
    "finish": (frozenset({TurnStatus.SERVING}), TurnStatus.DONE),
    "no_show": (frozenset({TurnStatus.CALLED}), TurnStatus.NO_SHOW),
    "cancel": (frozenset({TurnStatus.WAITING}), TurnStatus.CANCELLED),
}


def transition(action: str, current: TurnStatus) -> TurnStatus:
    allowed, target = TRANSITIONS[action]
    if current not in allowed:
        raise TurnRuleError(f"cannot {action} a turn that is {current.value}")
    return target


# Estimated wait: how many are ahead, times how long one attention takes,
# shared among the desks serving that topic. With no attention measured
# today the centre's configured default is used.
RECENT_ATTENTIONS = 20


def estimate_wait_seconds(
    ahead: int,
    recent_attention_seconds: Sequence[float],
    desks: int,
    *,
    default_attention_seconds: float,
) -> float:
    """The expected wait of a turn given now for a topic (seconds)."""
    if ahead <= 0:
        return 0.0
    recent = [s for s in recent_attention_seconds[-RECENT_ATTENTIONS:] if s >= 0]
    per_attention = statistics.median(recent) if recent else default_attention_seconds
    return ahead * per_attention / max(1, desks)


def wait_label(seconds: float) -> str:
    """An estimated wait in the room's words: rounded up to 5 minutes."""
    if seconds < 60:
        return "Menos de 1 minuto"
    minutes = int(-(-seconds // 60))
    rounded = -(-minutes // 5) * 5
    return f"Unos {rounded} minutos"


# A person received at reception (their attention opened, the reason to read
# their record) and never given a turn: the receptionist cancelled, or left the
# page. Such a reception is closed as cancelled once it is this old.
DEFAULT_RECEPTION_TIMEOUT = dt.timedelta(minutes=30)


def reception_cutoff(now: dt.datetime, timeout: dt.timedelta) -> dt.datetime:
    """Receptions that arrived before this moment and still have no turn are abandoned."""
    if now.tzinfo is None:
        raise TurnRuleError("turn times must be timezone-aware")
    if timeout <= dt.timedelta(0):
        raise TurnRuleError("the reception timeout is positive")
    return now - timeout


def reception_abandoned(
    arrived_at: dt.datetime,
    now: dt.datetime,
    timeout: dt.timedelta,
    *,
    has_turn: bool,
    ended: bool,
    answered: bool,
) -> bool:
    """Whether the sweep closes this reception: still open, never answered at
    reception (orientation), no turn given, and older than `timeout`."""
    if ended or has_turn or answered:
        return False
    return arrived_at < reception_cutoff(now, timeout)
