"""The callback worklist: IVR requests and agent-scheduled callbacks, one list per queue.

The IVR stores requests (StoreIvrServices.request_callback); an agent
schedules one from a wrap-up (`schedule`). Each is due at the centre's next
open moment (`callback_rules.due_time`) and counts within target when
completed before `target_at`. A free agent of the queue is offered the next
due one (`next_for`), takes it (`claim`, conditional, so two agents cannot
take the same one), and the outcome of the call Asterisk made
(`attempt_ended`) decides, by the policy, whether it is done, tried again
later, or ends unreachable with a reason.

Every committed change names the queues it touched to `on_change` (set by
the panel, agent_api.callback_push, which tells those queues' free agents to
redraw their offer); `next_change` and `queues_due_between` let it notice
what only time changes (a callback coming due, a hold running out).

`completed_within_target` is THE count of "callbacks completed within
target": /metrics and the reports both use it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from citizen.calendar import BusinessHours
from crm_bridge.callback_rules import (
    AttemptResult,
    CallbackOrigin,
    CallbackPolicy,
    CallbackStatus,
    EndReason,
    after_attempt,
    due_time,
    target_time,
    within_target,
)
from crm_bridge.db import session_factory
from crm_bridge.models import CallbackRequest
from crm_bridge.phones import normalise_number
from crm_bridge.store_access import translated
from crm_bridge.ticket_rules import parse_enum
from telephony.domain import CallKey

__all__ = [
    "BacklogFigures",
    "CallbackQueue",
    "CallbackStatus",
    "CallbackView",
    "TargetCount",
    "completed_within_target",
]

log = logging.getLogger(__name__)

# What a trunk can dial as given: the caller ID as it came, when it is digits.
_DIALLABLE = re.compile(r"\+?[0-9]{3,20}")
MAX_REASON = 200


@dataclass(frozen=True, slots=True)
class CallbackView:
    id: int
    call: CallKey  # the call it came from (linked as ATIENDE_CALLBACK_OF)
    number: str | None  # E.164, None when the caller ID was not a valid number
    number_raw: str
    queue: str
    status: CallbackStatus
    requested_at: dt.datetime
    origin: CallbackOrigin = CallbackOrigin.IVR
    due_at: dt.datetime | None = None
    target_at: dt.datetime | None = None
    attempts: int = 0
    last_result: str | None = None
    end_reason: str | None = None
    completed_at: dt.datetime | None = None
    claimed_by: int | None = None
    outbound_linkedid: str | None = None
    person_id: int | None = None
    reason: str | None = None

    @property
    def dial_number(self) -> str | None:
        """What Atiende asks Asterisk to dial: the caller ID as received when
        it is plain digits (the trunk's own format), else the E.164 form."""
        raw = self.number_raw.strip()
        if _DIALLABLE.fullmatch(raw):
            return raw
        return self.number


def _view(row: CallbackRequest) -> CallbackView:
    return CallbackView(
        id=row.id,
        call=CallKey(row.system, row.linkedid),
        number=row.number,
        number_raw=row.number_raw,
        queue=row.queue,
        status=CallbackStatus(row.status),
        requested_at=row.requested_at,
        origin=CallbackOrigin(row.origin or "ivr"),
        due_at=row.due_at,
        target_at=row.target_at,
        attempts=row.attempts or 0,
        last_result=row.last_result,
        end_reason=row.end_reason,
        completed_at=row.completed_at,
        claimed_by=row.claimed_by,
        outbound_linkedid=row.outbound_linkedid,
        person_id=row.person_id,
        reason=row.reason,
    )


@dataclass(frozen=True, slots=True)
class BacklogFigures:
    """One queue's callbacks now (no personal data: counts and ages)."""

    queue: str
    pending: int
    due: int  # pending and due now
    held: int  # being called now
    oldest_wait_seconds: float  # since the oldest pending one was asked for
    overdue: int  # pending past their target
    completed: int
    completed_within_target: int
    failed: int


@dataclass(frozen=True, slots=True)
class TargetCount:
    completed: int
    within_target: int


class CallbackQueue:
    def __init__(
        self,
        engine: Engine,
        *,
        policy: CallbackPolicy | None = None,
        hours: BusinessHours | None = None,
        phone_region: str = "UY",
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)
        self.policy = policy or CallbackPolicy()
        self._hours = hours
        self._region = phone_region
        self._clock = clock
        # Told the queues whose callbacks changed, after each commit (any
        # thread; it must not block). None: nobody listens.
        self.on_change: Callable[[tuple[str, ...]], None] | None = None

    def announce(self, queues: Iterable[str]) -> None:
        """Say that the callbacks of `queues` changed (also for writers that
        do not go through this class: the IVR's request, StoreIvrServices)."""
        names = tuple(sorted({q for q in queues if q}))
        listener = self.on_change
        if not names or listener is None:
            return
        try:
            listener(names)
        except Exception:
            # A lost notice costs a delay (the panel re-reads slowly anyway),
            # never the change itself, which is committed already.
            log.warning("callback change notice failed", exc_info=True)

    # ------------------------------------------------------------- listing

    def pending(self, queue: str | None = None, *, limit: int = 100) -> list[CallbackView]:
        """Pending requests (of one queue, or all), oldest first."""
        query = select(CallbackRequest).where(
            CallbackRequest.status == CallbackStatus.PENDING.value
        )
        if queue is not None:
            query = query.where(CallbackRequest.queue == queue)
        query = query.order_by(CallbackRequest.requested_at, CallbackRequest.id).limit(
            max(1, min(limit, 1000))
        )
        self.settle()
        with translated("reading callbacks"), self._sessions() as session:
            return [_view(row) for row in session.scalars(query).all()]

    def get(self, callback_id: int) -> CallbackView | None:
        with translated("reading a callback"), self._sessions() as session:
            row = session.get(CallbackRequest, callback_id)
            return None if row is None else _view(row)

    def settle(self) -> int:
        """Give due and target times to requests that have none yet (the IVR
        stores them bare); a request with no callable number ends at once."""
        query = (
            select(CallbackRequest)
            .where(
                CallbackRequest.status == CallbackStatus.PENDING.value,
                CallbackRequest.due_at.is_(None),
            )
            .limit(500)
        )
        with translated("settling callbacks"), self._sessions.begin() as session:
            rows = session.scalars(query).all()
            for row in rows:
                self._settle_row(row)
            # Not announced: whoever stored the row did (the IVR), and the
            # readers who settle it see it settled already.
            return len(rows)

    def _settle_row(self, row: CallbackRequest) -> None:
        due = due_time(self._hours, row.requested_at)
        row.due_at = due
        row.target_at = target_time(self.policy, self._hours, due)
        if _view(row).dial_number is None:
            row.status = CallbackStatus.FAILED.value
            row.end_reason = EndReason.INVALID_NUMBER.value

    def next_for(
        self, queues: Iterable[str], *, now: dt.datetime | None = None
    ) -> CallbackView | None:
        """The next callback a free agent of `queues` should make: due, not
        held by anyone, earliest due first (then oldest request)."""
        names = sorted(set(queues))
        if not names:
            return None
        moment = now or self._clock()
        self.settle()
        query = (
            select(CallbackRequest)
            .where(
                CallbackRequest.status == CallbackStatus.PENDING.value,
                CallbackRequest.queue.in_(names),
                CallbackRequest.due_at <= moment,
                self._free(moment),
            )
            .order_by(CallbackRequest.due_at, CallbackRequest.requested_at, CallbackRequest.id)
            .limit(1)
        )
        with translated("reading the next callback"), self._sessions() as session:
            row = session.scalars(query).first()
            return None if row is None else _view(row)

    def held_by(self, user_id: int, *, now: dt.datetime | None = None) -> CallbackView | None:
        """The pending callback `user_id` holds now (accepted, call not over)."""
        moment = now or self._clock()
        stale = moment - dt.timedelta(seconds=self.policy.claim_seconds)
        query = (
            select(CallbackRequest)
            .where(
                CallbackRequest.status == CallbackStatus.PENDING.value,
                CallbackRequest.claimed_by == user_id,
                CallbackRequest.claimed_at >= stale,
            )
            .order_by(CallbackRequest.claimed_at.desc())
            .limit(1)
        )
        with translated("reading a held callback"), self._sessions() as session:
            row = session.scalars(query).first()
            return None if row is None else _view(row)

    def next_change(self, after: dt.datetime) -> dt.datetime | None:
        """The first moment after `after` at which time alone makes a pending
        callback offerable: its due time, or the end of a hold nobody closed."""
        hold = dt.timedelta(seconds=self.policy.claim_seconds)
        pending = CallbackRequest.status == CallbackStatus.PENDING.value
        due = select(func.min(CallbackRequest.due_at)).where(
            pending, CallbackRequest.due_at > after
        )
        held = select(func.min(CallbackRequest.claimed_at)).where(
            pending,
            CallbackRequest.claimed_by.is_not(None),
            CallbackRequest.claimed_at > after - hold,
        )
        with translated("reading the next callback change"), self._sessions() as session:
            first_due = session.scalar(due)
            first_hold = session.scalar(held)
        moments = [m for m in (first_due, None if first_hold is None else first_hold + hold) if m]
        return min(moments) if moments else None

    def queues_due_between(self, since: dt.datetime, until: dt.datetime) -> set[str]:
        """Queues with a pending callback that came due, or whose hold ran
        out, in (since, until]. One due the moment it was asked for is left
        out: its own change was announced then."""
        hold = dt.timedelta(seconds=self.policy.claim_seconds)
        query = (
            select(CallbackRequest.queue)
            .where(
                CallbackRequest.status == CallbackStatus.PENDING.value,
                or_(
                    and_(
                        CallbackRequest.due_at > since,
                        CallbackRequest.due_at <= until,
                        CallbackRequest.due_at > CallbackRequest.requested_at,
                    ),
                    and_(
                        CallbackRequest.claimed_by.is_not(None),
                        CallbackRequest.claimed_at > since - hold,
                        CallbackRequest.claimed_at <= until - hold,
                    ),
                ),
            )
            .distinct()
        )
        with translated("reading callbacks come due"), self._sessions() as session:
            return set(session.scalars(query).all())

    def _free(self, moment: dt.datetime) -> ColumnElement[bool]:
        stale = moment - dt.timedelta(seconds=self.policy.claim_seconds)
        return or_(CallbackRequest.claimed_by.is_(None), CallbackRequest.claimed_at < stale)

    # ------------------------------------------------------------- changes

    def schedule(
        self,
        *,
        call: CallKey,
        number: str,
        queue: str,
        at: dt.datetime | None = None,
        person_id: int | None = None,
        reason: str | None = None,
        scheduled_by: int | None = None,
    ) -> CallbackView:
        """A callback an agent promised during `call` (one per call: a second
        one for the same call updates the first while it is pending)."""
        now = self._clock()
        asked = max(at or now, now)
        text = (reason or "").replace("\x00", "").strip()[:MAX_REASON] or None
        values = {
            "system": call.system[:64],
            "linkedid": call.linkedid[:64],
            "number_raw": number.strip()[:64],
            "number": normalise_number(number, self._region),
            "queue": queue[:128],
            "status": CallbackStatus.PENDING.value,
            "requested_at": now,
            "origin": CallbackOrigin.AGENT.value,
            "person_id": person_id,
            "reason": text,
            "scheduled_by": scheduled_by,
            "attempts": 0,
        }
        insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(CallbackRequest).values(**values)
        changed = {k: v for k, v in values.items() if k not in ("system", "linkedid", "status")}
        stmt = stmt.on_conflict_do_update(
            index_elements=[CallbackRequest.system, CallbackRequest.linkedid],
            set_=changed,
            where=CallbackRequest.status == CallbackStatus.PENDING.value,
        )
        with translated("scheduling a callback"), self._sessions.begin() as session:
            session.execute(stmt)
            row = session.scalars(
                select(CallbackRequest).where(
                    CallbackRequest.system == values["system"],
                    CallbackRequest.linkedid == values["linkedid"],
                )
            ).one()
            if row.status == CallbackStatus.PENDING.value:
                due = due_time(self._hours, asked)
                row.due_at = due
                row.target_at = target_time(self.policy, self._hours, due)
                if _view(row).dial_number is None:
                    row.status = CallbackStatus.FAILED.value
                    row.end_reason = EndReason.INVALID_NUMBER.value
            session.flush()
            view = _view(row)
        self.announce([view.queue])
        return view

    def claim(self, callback_id: int, user_id: int) -> CallbackView | None:
        """Hold a pending, due, free callback for `user_id`; None if someone
        else took it first (or it is no longer pending)."""
        now = self._clock()
        with translated("taking a callback"), self._sessions.begin() as session:
            result = session.execute(
                update(CallbackRequest)
                .where(
                    CallbackRequest.id == callback_id,
                    CallbackRequest.status == CallbackStatus.PENDING.value,
                    # Never before the time the citizen asked for, even by a
                    # crafted post of an id the offer did not show.
                    CallbackRequest.due_at <= now,
                    or_(
                        CallbackRequest.claimed_by == user_id,
                        self._free(now),
                    ),
                )
                .values(claimed_by=user_id, claimed_at=now)
            )
            if not getattr(result, "rowcount", 0):
                return None
            row = session.get(CallbackRequest, callback_id)
            view = None if row is None else _view(row)
        # Gone from every other agent's offer.
        if view is not None:
            self.announce([view.queue])
        return view

    def release(self, callback_id: int, user_id: int) -> None:
        """Give back a held callback whose call could not be placed."""
        with translated("releasing a callback"), self._sessions.begin() as session:
            session.execute(
                update(CallbackRequest)
                .where(CallbackRequest.id == callback_id, CallbackRequest.claimed_by == user_id)
                .values(claimed_by=None, claimed_at=None)
            )
            queue = session.scalar(
                select(CallbackRequest.queue).where(CallbackRequest.id == callback_id)
            )
        self.announce([] if queue is None else [queue])

    def attempt_ended(
        self,
        callback_id: int,
        result: AttemptResult,
        *,
        at: dt.datetime | None = None,
        outbound: CallKey | None = None,
    ) -> CallbackView | None:
        """Apply the result of one call tried (idempotent per outbound call:
        the same call reported twice counts once)."""
        moment = at or self._clock()
        with translated("recording a callback attempt"), self._sessions.begin() as session:
            row = _locked(session, callback_id)
            if row is None:
                return None
            if row.status != CallbackStatus.PENDING.value:
                return _view(row)
            if outbound is not None and row.outbound_linkedid == outbound.linkedid:
                return _view(row)  # this call was counted already
            step = after_attempt(
                self.policy, self._hours, attempts=row.attempts or 0, result=result, at=moment
            )
            row.status = step.status.value
            row.attempts = step.attempts
            row.last_attempt_at = moment
            row.last_result = result.value
            row.claimed_by = None
            row.claimed_at = None
            if outbound is not None:
                row.outbound_linkedid = outbound.linkedid[:64]
            if step.due_at is not None:
                row.due_at = step.due_at
            if step.end_reason is not None:
                row.end_reason = step.end_reason.value
            if step.status is CallbackStatus.DONE:
                row.completed_at = moment
            session.flush()
            view = _view(row)
        self.announce([view.queue])
        return view

    def finish(self, callback_id: int, status: CallbackStatus | str) -> bool:
        """Mark a pending request done or cancelled; False if it was not pending."""
        final = parse_enum(CallbackStatus, str(status), "callback status")
        if final not in (CallbackStatus.DONE, CallbackStatus.CANCELLED):
            raise ValueError("a callback is finished as done or cancelled")
        now = self._clock()
        extra = (
            {"completed_at": now, "end_reason": EndReason.COMPLETED.value}
            if final is CallbackStatus.DONE
            else {"end_reason": EndReason.CANCELLED.value}
        )
        with translated("finishing a callback"), self._sessions.begin() as session:
            result = session.execute(
                update(CallbackRequest)
                .where(
                    CallbackRequest.id == callback_id,
                    CallbackRequest.status == CallbackStatus.PENDING.value,
                )
                .values(status=final.value, claimed_by=None, claimed_at=None, **extra)
            )
            done = bool(getattr(result, "rowcount", 0))
            queue = session.scalar(
                select(CallbackRequest.queue).where(CallbackRequest.id == callback_id)
            )
        if done and queue is not None:
            self.announce([queue])
        return done

    # ------------------------------------------------------------- figures

    def backlog(
        self, queues: Sequence[str] = (), *, now: dt.datetime | None = None
    ) -> list[BacklogFigures]:
        """Every queue's backlog (the given queues appear even when empty)."""
        moment = now or self._clock()
        self.settle()
        stale = moment - dt.timedelta(seconds=self.policy.claim_seconds)
        columns = (
            CallbackRequest.queue,
            CallbackRequest.status,
            CallbackRequest.requested_at,
            CallbackRequest.due_at,
            CallbackRequest.target_at,
            CallbackRequest.completed_at,
            CallbackRequest.claimed_by,
            CallbackRequest.claimed_at,
        )
        with translated("reading the callback backlog"), self._sessions() as session:
            rows = session.execute(select(*columns)).all()
        tallies: dict[str, dict[str, float]] = {q: {} for q in queues}
        for queue, status, requested, due, target, completed, holder, held_at in rows:
            tally = tallies.setdefault(queue, {})
            if status == CallbackStatus.PENDING.value:
                tally["pending"] = tally.get("pending", 0) + 1
                if due is not None and due <= moment:
                    tally["due"] = tally.get("due", 0) + 1
                if holder is not None and held_at is not None and held_at >= stale:
                    tally["held"] = tally.get("held", 0) + 1
                if target is not None and target < moment:
                    tally["overdue"] = tally.get("overdue", 0) + 1
                wait = max(0.0, (moment - requested).total_seconds())
                tally["oldest"] = max(tally.get("oldest", 0.0), wait)
            elif status == CallbackStatus.DONE.value:
                tally["completed"] = tally.get("completed", 0) + 1
                if within_target(completed, target):
                    tally["within"] = tally.get("within", 0) + 1
            elif status == CallbackStatus.FAILED.value:
                tally["failed"] = tally.get("failed", 0) + 1
        return [
            BacklogFigures(
                queue=queue,
                pending=int(t.get("pending", 0)),
                due=int(t.get("due", 0)),
                held=int(t.get("held", 0)),
                oldest_wait_seconds=float(t.get("oldest", 0.0)),
                overdue=int(t.get("overdue", 0)),
                completed=int(t.get("completed", 0)),
                completed_within_target=int(t.get("within", 0)),
                failed=int(t.get("failed", 0)),
            )
            for queue, t in sorted(tallies.items())
        ]


def _locked(session: Session, callback_id: int) -> CallbackRequest | None:
    return session.scalars(
        select(CallbackRequest).where(CallbackRequest.id == callback_id).with_for_update()
    ).first()


def completed_within_target(
    engine: Engine,
    start: dt.datetime,
    end: dt.datetime,
    *,
    queue: str | None = None,
) -> dict[str, TargetCount]:
    """Callbacks completed in [start, end), by queue: how many, and how many
    within their target (callback_rules.within_target). The one count of
    "callbacks completed within target" for reports and metrics."""
    query = select(
        CallbackRequest.queue, CallbackRequest.completed_at, CallbackRequest.target_at
    ).where(
        CallbackRequest.status == CallbackStatus.DONE.value,
        CallbackRequest.completed_at >= start,
        CallbackRequest.completed_at < end,
    )
    if queue is not None:
        query = query.where(CallbackRequest.queue == queue)
    counts: dict[str, list[int]] = {}
    with translated("counting completed callbacks"), session_factory(engine)() as session:
        for name, completed, target in session.execute(query).all():
            tally = counts.setdefault(name, [0, 0])
            tally[0] += 1
            if within_target(completed, target):
                tally[1] += 1
    return {name: TargetCount(*counts[name]) for name in sorted(counts)}
