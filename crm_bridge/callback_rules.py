"""The callback worklist's rules, pure: due times, attempts, spacing, giving up.

A callback is due at the first open moment of the centre's business hours
after it was asked for (or after the time an agent scheduled it); it counts
"within target" when completed before `target_at`, which is `target` of open
time after it became due. Each call tried ends with a result read from
Asterisk's DIALSTATUS (app_dial): the citizen answered, did not answer, was
busy, or the number cannot be called. What happens next is declared as data
in `CallbackPolicy`: how long to wait before the next try for each result and
how many tries at most; an invalid number ends at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from citizen.calendar import BusinessHours
from crm_bridge.sla import add_business_time


class CallbackStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"  # unreachable: ended with a reason, not completed
    CANCELLED = "cancelled"


class CallbackOrigin(StrEnum):
    IVR = "ivr"
    AGENT = "agent"


class AttemptResult(StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    INVALID = "invalid"  # the network refused the number
    AGENT_MISSED = "agent_missed"  # the agent's own phone did not take the call


class EndReason(StrEnum):
    COMPLETED = "completed"
    INVALID_NUMBER = "invalid_number"
    MAX_ATTEMPTS = "max_attempts"
    CANCELLED = "cancelled"


# app_dial's DIALSTATUS values. CHANUNAVAIL and CONGESTION are what a trunk
# answers for a number that does not exist or cannot be reached.
_DIAL_STATUS: Mapping[str, AttemptResult] = {
    "ANSWER": AttemptResult.ANSWERED,
    "NOANSWER": AttemptResult.NO_ANSWER,
    "BUSY": AttemptResult.BUSY,
    "CHANUNAVAIL": AttemptResult.INVALID,
    "CONGESTION": AttemptResult.INVALID,
    "INVALIDARGS": AttemptResult.INVALID,
    # The agent hung up (or the Originate gave up) before the citizen answered.
    "CANCEL": AttemptResult.AGENT_MISSED,
    "": AttemptResult.AGENT_MISSED,
}


def result_of_dial_status(status: str, *, answered: bool = False) -> AttemptResult:
    """The attempt's result from DIALSTATUS (a seen answer wins)."""
    if answered:
        return AttemptResult.ANSWERED
    return _DIAL_STATUS.get(status.strip().upper(), AttemptResult.NO_ANSWER)


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    """How often and how long a callback is tried (configuration as data)."""

    max_attempts: int = 3
    # Wait before the next try, by the last result (seconds of open time).
    retry_after: Mapping[AttemptResult, float] = field(
        default_factory=lambda: {
            AttemptResult.NO_ANSWER: 1800.0,
            AttemptResult.BUSY: 600.0,
            AttemptResult.AGENT_MISSED: 0.0,
        }
    )
    # Open time, from due, within which a completed callback counts "within target".
    target_seconds: float = 4 * 3600.0
    # A hold on a callback (an agent accepted it) that produced no result by
    # then is released: the call was lost with the AMI connection.
    claim_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.target_seconds <= 0 or self.claim_seconds <= 0:
            raise ValueError("target_seconds and claim_seconds must be positive")
        if any(v < 0 for v in self.retry_after.values()):
            raise ValueError("retry_after must not be negative")


def due_time(hours: BusinessHours | None, asked_for: dt.datetime) -> dt.datetime:
    """The first open moment at or after `asked_for` (UTC)."""
    if hours is None:
        return asked_for.astimezone(dt.UTC)
    return add_business_time(hours, asked_for, dt.timedelta(0, 1)) - dt.timedelta(0, 1)


def target_time(
    policy: CallbackPolicy, hours: BusinessHours | None, due: dt.datetime
) -> dt.datetime:
    allowance = dt.timedelta(seconds=policy.target_seconds)
    if hours is None:
        return (due + allowance).astimezone(dt.UTC)
    return add_business_time(hours, due, allowance)


@dataclass(frozen=True, slots=True)
class AfterAttempt:
    status: CallbackStatus
    attempts: int
    due_at: dt.datetime | None
    end_reason: EndReason | None


def after_attempt(
    policy: CallbackPolicy,
    hours: BusinessHours | None,
    *,
    attempts: int,
    result: AttemptResult,
    at: dt.datetime,
) -> AfterAttempt:
    """The callback's state after one more call tried with `result`.

    An attempt the agent's phone missed does not count against the citizen.
    After the last try it ends with `max_attempts` (the row's `last_result`
    keeps whether that try was unanswered or busy).
    """
    if result is AttemptResult.ANSWERED:
        return AfterAttempt(CallbackStatus.DONE, attempts + 1, None, EndReason.COMPLETED)
    if result is AttemptResult.INVALID:
        return AfterAttempt(CallbackStatus.FAILED, attempts + 1, None, EndReason.INVALID_NUMBER)
    counted = attempts if result is AttemptResult.AGENT_MISSED else attempts + 1
    if counted >= policy.max_attempts:
        return AfterAttempt(CallbackStatus.FAILED, counted, None, EndReason.MAX_ATTEMPTS)
    wait = dt.timedelta(seconds=policy.retry_after.get(result, 0.0))
    due = add_business_time(hours, at, wait) if hours is not None else at + wait
    return AfterAttempt(CallbackStatus.PENDING, counted, due.astimezone(dt.UTC), None)


def within_target(completed_at: dt.datetime | None, target_at: dt.datetime | None) -> bool:
    """THE rule for "completed within target" (reports and /metrics use it)."""
    return completed_at is not None and (target_at is None or completed_at <= target_at)
