"""Service points, desks, topics and turns of walk-in attention, over the store.

The rules are crm_bridge.turn_rules'; this module applies them in
transactions. Each turn belongs to a presencial attention of the `attentions`
table (crm_bridge.contacts.ContactAttentions): the attention opens when the
person is received, is answered when the desk starts serving and is closed
when the desk finishes (or as ABANDONED for a no-show), so wrap-ups, tickets,
the survey and the person's history work as for a call.

Two desks calling "next" at once never get the same turn: on PostgreSQL the
candidate row is taken with SELECT ... FOR UPDATE SKIP LOCKED, and on every
database the change is a compare-and-set on the turn's status.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from citizen.channels import Channel, attention_system
from crm_bridge import turn_rules as rules
from crm_bridge.contacts import POINT_VARIABLE, TOPIC_VARIABLE, ContactAttentions
from crm_bridge.db import session_factory
from crm_bridge.exceptions import InvalidValueError, NotFoundError
from crm_bridge.models import (
    Attention,
    CallSurvey,
    EvaluationLink,
    ServiceDesk,
    ServicePoint,
    ServicePointTopic,
    Turn,
    TurnPriority,
)
from crm_bridge.store_access import translate_error, translated
from crm_bridge.turn_rules import TurnStatus
from telephony.domain import CallKey, Outcome

# Who received and who serves a walk-in (agent_api.need_to_know reads them:
# a walk-in has no phone legs to say who answered it).
RECEIVED_BY_VARIABLE = "ATIENDE_RECEIVED_BY"
SERVED_BY_VARIABLE = "ATIENDE_SERVED_BY"
DESK_VARIABLE = "ATIENDE_DESK"
TURN_VARIABLE = "ATIENDE_TURN"

# The tablet at a desk offers the evaluation of the attention just finished,
# for this long, and only until the desk calls someone else.
EVALUATION_WINDOW = timedelta(minutes=10)
EVALUATION_LINK_TTL = timedelta(days=3)
MAX_COMMENT = 1000
PRESENCIAL_SYSTEM = attention_system(Channel.PRESENCIAL)
_NUMBERING_RETRIES = 5
_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class PointView:
    id: int
    code: str
    name: str
    target_wait_seconds: int
    max_recalls: int
    attention_seconds: int
    active: bool = True


@dataclass(frozen=True, slots=True)
class TopicView:
    id: int
    point_id: int
    code: str
    name: str
    prefix: str
    catalog_topic_id: int | None
    active: bool = True


@dataclass(frozen=True, slots=True)
class DeskView:
    id: int
    point_id: int
    code: str
    name: str
    topic_ids: tuple[int, ...]
    user_id: int | None
    active: bool = True


@dataclass(frozen=True, slots=True)
class TurnView:
    id: int
    point_id: int
    topic_id: int
    label: str
    priority_code: str | None
    status: TurnStatus
    issued_at: datetime
    first_called_at: datetime | None
    called_at: datetime | None
    desk_id: int | None
    called_by: int | None
    recalls: int
    served_at: datetime | None
    ended_at: datetime | None
    key: CallKey
    evaluated: bool


@dataclass(frozen=True, slots=True)
class BoardCall:
    label: str
    desk: str
    called_at: datetime


@dataclass(frozen=True, slots=True)
class TopicWait:
    topic_id: int
    name: str
    prefix: str
    waiting: int
    estimate_seconds: float


@dataclass(frozen=True, slots=True)
class Board:
    """What the waiting-room display shows: turn numbers and desks, never a person."""

    point_name: str
    calling: tuple[BoardCall, ...]
    recent: tuple[BoardCall, ...]
    waits: tuple[TopicWait, ...]


@dataclass(frozen=True, slots=True)
class TurnFacts:
    """One turn as the walk-in figures count it (dashboards.walkin_kpi)."""

    point: str
    topic: str
    status: TurnStatus
    issued_at: datetime
    first_called_at: datetime | None
    served_at: datetime | None
    ended_at: datetime | None
    target_wait_seconds: int
    survey_score: int | None


def _point(row: ServicePoint) -> PointView:
    return PointView(
        row.id,
        row.code,
        row.name,
        row.target_wait_seconds,
        row.max_recalls,
        row.attention_seconds,
        row.active,
    )


def _topic(row: ServicePointTopic) -> TopicView:
    return TopicView(
        row.id, row.point_id, row.code, row.name, row.prefix, row.catalog_topic_id, row.active
    )


def _desk(row: ServiceDesk) -> DeskView:
    return DeskView(
        row.id,
        row.point_id,
        row.code,
        row.name,
        tuple(int(t) for t in row.topic_ids or ()),
        row.user_id,
        row.active,
    )


def _turn(row: Turn) -> TurnView:
    return TurnView(
        id=row.id,
        point_id=row.point_id,
        topic_id=row.topic_id,
        label=row.label,
        priority_code=row.priority_code,
        status=TurnStatus(row.status),
        issued_at=row.issued_at,
        first_called_at=row.first_called_at,
        called_at=row.called_at,
        desk_id=row.desk_id,
        called_by=row.called_by,
        recalls=row.recalls,
        served_at=row.served_at,
        ended_at=row.ended_at,
        key=CallKey(row.attention_system, row.attention_linkedid),
        evaluated=row.evaluated,
    )


def _text(value: str, limit: int, what: str) -> str:
    text = " ".join(value.split())
    if not text or len(text) > limit:
        raise InvalidValueError(f"a {what} is 1 to {limit} characters")
    return text


def _check_topics(session: Session, point_id: int, topic_ids: Iterable[int]) -> None:
    """A desk serves topics of its own point, active ones."""
    wanted = set(topic_ids)
    if not wanted:
        return
    found = set(
        session.scalars(
            select(ServicePointTopic.id).where(
                ServicePointTopic.id.in_(wanted),
                ServicePointTopic.point_id == point_id,
                ServicePointTopic.active.is_(True),
            )
        )
    )
    if found != wanted:
        raise InvalidValueError("a desk serves active topics of its own point")


def _refuse_live_turns(session: Session, where: Any, what: str) -> None:
    live = [s.value for s in rules.LIVE]
    busy = session.scalars(select(Turn.id).where(where, Turn.status.in_(live)).limit(1)).first()
    if busy is not None:
        raise InvalidValueError(f"the {what} has turns in course")


def _turnless(session: Session, row: Attention) -> bool:
    """No turn was given for this attention (read in the caller's transaction)."""
    return (
        session.scalars(
            select(Turn.id).where(
                Turn.attention_system == row.system, Turn.attention_linkedid == row.linkedid
            )
        ).first()
        is None
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TurnService:
    """Set-up, reception, desks, the room display and the evaluation (blocking)."""

    def __init__(
        self,
        engine: Engine,
        contacts: ContactAttentions,
        *,
        timezone: str = "America/Montevideo",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)
        self._contacts = contacts
        self._timezone = timezone
        self._clock = clock
        self._postgres = engine.dialect.name == "postgresql"

    @property
    def timezone(self) -> str:
        return self._timezone

    # ------------------------------------------------------------ set-up

    def create_point(
        self,
        code: str,
        name: str,
        *,
        target_wait_seconds: int = 900,
        max_recalls: int = 2,
        attention_seconds: int = 600,
    ) -> PointView:
        if target_wait_seconds <= 0 or attention_seconds <= 0 or max_recalls < 0:
            raise InvalidValueError("a service point's times are positive")
        row = ServicePoint(
            code=_text(code, 32, "point code"),
            name=_text(name, 100, "point name"),
            target_wait_seconds=target_wait_seconds,
            max_recalls=max_recalls,
            attention_seconds=attention_seconds,
            active=True,
        )
        with translated("creating a service point"), self._sessions.begin() as session:
            session.add(row)
            session.flush()
            return _point(row)

    def add_topic(
        self,
        point_id: int,
        code: str,
        name: str,
        prefix: str,
        *,
        catalog_topic_id: int | None = None,
    ) -> TopicView:
        letter = prefix.strip().upper()
        if not rules.valid_prefix(letter):
            raise InvalidValueError("a topic's prefix is one letter A-Z")
        row = ServicePointTopic(
            point_id=point_id,
            code=_text(code, 32, "topic code"),
            name=_text(name, 100, "topic name"),
            prefix=letter,
            catalog_topic_id=catalog_topic_id,
            active=True,
        )
        with translated("adding a service point topic"), self._sessions.begin() as session:
            session.add(row)
            session.flush()
            return _topic(row)

    def add_desk(
        self, point_id: int, code: str, name: str, topic_ids: Iterable[int] = ()
    ) -> DeskView:
        row = ServiceDesk(
            point_id=point_id,
            code=_text(code, 16, "desk code"),
            name=_text(name, 60, "desk name"),
            topic_ids=sorted({int(t) for t in topic_ids}),
            active=True,
        )
        with translated("adding a desk"), self._sessions.begin() as session:
            _check_topics(session, point_id, row.topic_ids)
            session.add(row)
            session.flush()
            return _desk(row)

    def set_priority(self, code: str, label: str, rank: int) -> rules.PriorityCategory:
        """Adds or changes a priority category (the centre's data)."""
        code = _text(code, 32, "priority code")
        label = _text(label, 100, "priority label")
        with translated("setting a priority"), self._sessions.begin() as session:
            row = session.scalars(select(TurnPriority).where(TurnPriority.code == code)).first()
            if row is None:
                session.add(TurnPriority(code=code, label=label, rank=rank, active=True))
            else:
                row.label, row.rank, row.active = label, rank, True
        return rules.PriorityCategory(code, label, rank)

    def update_point(
        self, point_id: int, *, name: str | None = None, active: bool | None = None
    ) -> PointView:
        """Renames, deactivates or reactivates a point; one with turns in
        course (waiting, called, at a desk) is not deactivated."""
        return self._update(
            ServicePoint, point_id, _point, Turn.point_id == point_id, name=name, active=active
        )

    def update_topic(
        self, topic_id: int, *, name: str | None = None, active: bool | None = None
    ) -> TopicView:
        return self._update(
            ServicePointTopic, topic_id, _topic, Turn.topic_id == topic_id, name=name, active=active
        )

    def update_desk(
        self,
        desk_id: int,
        *,
        name: str | None = None,
        topic_ids: Iterable[int] | None = None,
        active: bool | None = None,
    ) -> DeskView:
        """Renames a desk, changes the topics it serves (none: every topic), or
        (de)activates it; a desk calling or serving a turn is not deactivated,
        and a deactivated desk is left by whoever sat at it."""

        def change(session: Session, row: ServiceDesk) -> None:
            if topic_ids is not None:
                wanted = sorted({int(t) for t in topic_ids})
                _check_topics(session, row.point_id, wanted)
                row.topic_ids = wanted
            if active is False:
                row.user_id = None

        return self._update(
            ServiceDesk,
            desk_id,
            _desk,
            Turn.desk_id == desk_id,
            name=name,
            active=active,
            change=change,
        )

    def _update(
        self,
        model: Any,
        row_id: int,
        view: Callable[[Any], _V],
        live_turns: Any,
        *,
        name: str | None,
        active: bool | None,
        change: Callable[[Session, Any], None] | None = None,
    ) -> _V:
        """A set-up row renamed or (de)activated under its lock; deactivating
        is refused while `live_turns` (its turns) has one in course."""
        what = model.__tablename__
        limit = model.name.type.length
        with translated(f"changing {what}"), self._sessions.begin() as session:
            row = session.get(model, row_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"no {what} {row_id}")
            if name is not None:
                row.name = _text(name, limit, f"{what} name")
            if active is False and row.active:
                _refuse_live_turns(session, live_turns, what)
            if change is not None:
                change(session, row)
            if active is not None:
                row.active = active
            return view(row)

    def remove_priority(self, code: str) -> None:
        """The category is no longer offered (turns given with it keep it)."""
        with translated("removing a priority"), self._sessions.begin() as session:
            row = session.scalars(select(TurnPriority).where(TurnPriority.code == code)).first()
            if row is None or not row.active:
                raise NotFoundError(f"no priority {code!r}")
            row.active = False

    def all_points(self) -> list[PointView]:
        """Every point, deactivated ones too (the admin's list)."""
        with translated("reading service points"), self._sessions() as session:
            return [
                _point(r) for r in session.scalars(select(ServicePoint).order_by(ServicePoint.id))
            ]

    def all_topics(self, point_id: int) -> list[TopicView]:
        query = (
            select(ServicePointTopic)
            .where(ServicePointTopic.point_id == point_id)
            .order_by(ServicePointTopic.prefix)
        )
        with translated("reading topics"), self._sessions() as session:
            return [_topic(r) for r in session.scalars(query)]

    def all_desks(self, point_id: int) -> list[DeskView]:
        query = select(ServiceDesk).where(ServiceDesk.point_id == point_id).order_by(ServiceDesk.id)
        with translated("reading desks"), self._sessions() as session:
            return [_desk(r) for r in session.scalars(query)]

    def priorities(self) -> list[rules.PriorityCategory]:
        query = (
            select(TurnPriority)
            .where(TurnPriority.active.is_(True))
            .order_by(TurnPriority.rank, TurnPriority.id)
        )
        with translated("reading priorities"), self._sessions() as session:
            return [rules.PriorityCategory(r.code, r.label, r.rank) for r in session.scalars(query)]

    def points(self) -> list[PointView]:
        query = select(ServicePoint).where(ServicePoint.active.is_(True)).order_by(ServicePoint.id)
        with translated("reading service points"), self._sessions() as session:
            return [_point(r) for r in session.scalars(query)]

    def point(self, point_id: int) -> PointView:
        with translated("reading a service point"), self._sessions() as session:
            row = session.get(ServicePoint, point_id)
            if row is None or not row.active:
                raise NotFoundError(f"no service point {point_id}")
            return _point(row)

    def topics(self, point_id: int) -> list[TopicView]:
        query = (
            select(ServicePointTopic)
            .where(ServicePointTopic.point_id == point_id, ServicePointTopic.active.is_(True))
            .order_by(ServicePointTopic.prefix)
        )
        with translated("reading topics"), self._sessions() as session:
            return [_topic(r) for r in session.scalars(query)]

    def desks(self, point_id: int | None = None) -> list[DeskView]:
        query = select(ServiceDesk).where(ServiceDesk.active.is_(True))
        if point_id is not None:
            query = query.where(ServiceDesk.point_id == point_id)
        with translated("reading desks"), self._sessions() as session:
            return [_desk(r) for r in session.scalars(query.order_by(ServiceDesk.id))]

    def desk(self, desk_id: int) -> DeskView:
        with translated("reading a desk"), self._sessions() as session:
            row = session.get(ServiceDesk, desk_id)
            if row is None or not row.active:
                raise NotFoundError(f"no desk {desk_id}")
            return _desk(row)

    def take_desk(self, desk_id: int, user_id: int) -> DeskView:
        """The user sits at the desk (and leaves any other desk they held)."""
        with translated("taking a desk"), self._sessions.begin() as session:
            row = session.get(ServiceDesk, desk_id)
            if row is None or not row.active:
                raise NotFoundError(f"no desk {desk_id}")
            session.execute(
                update(ServiceDesk)
                .where(ServiceDesk.user_id == user_id, ServiceDesk.id != desk_id)
                .values(user_id=None)
            )
            row.user_id = user_id
            return _desk(row)

    def desk_of(self, user_id: int) -> DeskView | None:
        query = select(ServiceDesk).where(
            ServiceDesk.user_id == user_id, ServiceDesk.active.is_(True)
        )
        with translated("reading a desk"), self._sessions() as session:
            row = session.scalars(query).first()
            return None if row is None else _desk(row)

    # --------------------------------------------------------- reception

    def receive(self, point_id: int, *, user_id: int) -> CallKey:
        """A person arrives: their presencial attention opens (the reason to identify them)."""
        point = self.point(point_id)
        return self._contacts.open(
            Channel.PRESENCIAL,
            arrived_at=self._clock(),
            variables={POINT_VARIABLE: point.code, RECEIVED_BY_VARIABLE: str(user_id)},
        )

    def received_by(self, key: CallKey) -> int | None:
        with translated("reading an attention"), self._sessions() as session:
            variables = session.scalars(
                select(Attention.variables).where(
                    Attention.system == key.system, Attention.linkedid == key.linkedid
                )
            ).first()
        raw = str((variables or {}).get(RECEIVED_BY_VARIABLE, ""))
        return int(raw) if raw.isdigit() else None

    def person_of(self, key: CallKey) -> int | None:
        """The person linked to a walk-in's attention (at reception)."""
        with translated("reading an attention"), self._sessions() as session:
            return session.scalars(
                select(Attention.person_id).where(
                    Attention.system == key.system, Attention.linkedid == key.linkedid
                )
            ).first()

    def cancel_reception(self, key: CallKey) -> bool:
        """Reception gives no turn after all: the attention closes as cancelled
        (not served, not abandoned). False when it has a turn or has ended."""
        now = self._clock()
        return self._contacts.close(
            key,
            at=now,
            outcome=Outcome.CANCELLED,
            only_if=lambda session, row: _turnless(session, row) and row.answered_at is None,
        )

    def close_abandoned_receptions(
        self, timeout: timedelta = rules.DEFAULT_RECEPTION_TIMEOUT, *, batch: int = 500
    ) -> int:
        """The sweep: receptions older than `timeout` with no turn close as
        cancelled (turn_rules.reception_abandoned); how many it closed."""
        now = self._clock()
        cutoff = rules.reception_cutoff(now, timeout)
        query = (
            select(Attention.linkedid)
            .where(
                Attention.system == PRESENCIAL_SYSTEM,
                Attention.outcome == Outcome.IN_PROGRESS.value,
                Attention.arrived_at < cutoff,
                Attention.answered_at.is_(None),
                ~select(Turn.id)
                .where(
                    Turn.attention_system == Attention.system,
                    Turn.attention_linkedid == Attention.linkedid,
                )
                .exists(),
            )
            .order_by(Attention.arrived_at)
            .limit(batch)
        )
        with translated("finding abandoned receptions"), self._sessions() as session:
            found = list(session.scalars(query))

        def still_abandoned(session: Session, row: Attention) -> bool:
            # Re-checked under the row's lock: reception may have given the
            # turn between the search and this close.
            return rules.reception_abandoned(
                row.arrived_at,
                now,
                timeout,
                has_turn=not _turnless(session, row),
                ended=row.ended_at is not None,
                answered=row.answered_at is not None,
            )

        return sum(
            self._contacts.close(
                CallKey(PRESENCIAL_SYSTEM, linkedid),
                at=now,
                outcome=Outcome.CANCELLED,
                only_if=still_abandoned,
            )
            for linkedid in found
        )

    def give_turn(
        self, key: CallKey, topic_id: int, *, priority: str | None = None, user_id: int | None
    ) -> TurnView:
        """The received person's turn for `topic_id`, numbered per point, topic and day."""
        rank = rules.priority_rank(priority or None, self.priorities())
        for _attempt in range(_NUMBERING_RETRIES):
            try:
                return self._give_turn(key, topic_id, priority or None, rank, user_id)
            except IntegrityError as err:
                if "unique" not in str(err.orig).casefold():
                    raise translate_error(err, "giving a turn") from err
                continue  # two receptions numbered at once: take the next number
        raise InvalidValueError("could not number the turn; try again")

    def _give_turn(
        self, key: CallKey, topic_id: int, priority: str | None, rank: int, user_id: int | None
    ) -> TurnView:
        now = self._clock()
        day = rules.service_day(now, self._timezone)
        with self._sessions.begin() as session:
            # Locking the topic serialises numbering per topic on PostgreSQL.
            topic = session.scalars(
                select(ServicePointTopic).where(ServicePointTopic.id == topic_id).with_for_update()
            ).first()
            if topic is None or not topic.active:
                raise NotFoundError(f"no topic {topic_id}")
            attention = session.scalars(
                select(Attention)
                .where(Attention.system == key.system, Attention.linkedid == key.linkedid)
                .with_for_update()
            ).first()
            if attention is None or attention.ended_at is not None:
                raise NotFoundError("no open attention to give a turn to")
            existing = session.scalars(
                select(Turn.id).where(
                    Turn.attention_system == key.system, Turn.attention_linkedid == key.linkedid
                )
            ).first()
            if existing is not None:
                raise InvalidValueError("this attention already has a turn")
            last = session.scalar(
                select(func.max(Turn.number)).where(
                    Turn.point_id == topic.point_id,
                    Turn.topic_id == topic.id,
                    Turn.service_day == day,
                )
            )
            number = rules.next_number(last)
            row = Turn(
                point_id=topic.point_id,
                topic_id=topic.id,
                service_day=day,
                number=number,
                label=rules.turn_label(topic.prefix, number),
                priority_code=priority,
                priority_rank=rank,
                status=TurnStatus.WAITING.value,
                issued_at=now,
                issued_by=user_id,
                recalls=0,
                attention_system=key.system,
                attention_linkedid=key.linkedid,
                evaluated=False,
            )
            session.add(row)
            attention.variables = {
                **(attention.variables or {}),
                TOPIC_VARIABLE: topic.code,
                TURN_VARIABLE: row.label,
            }
            session.flush()
            return _turn(row)

    # ------------------------------------------------------------- desks

    def call_next(self, desk_id: int, *, user_id: int) -> TurnView | None:
        """The next turn for this desk's topics (priority, then oldest), or None."""
        desk = self.desk(desk_id)
        now = self._clock()
        for _attempt in range(10):
            with translated("calling the next turn"), self._sessions.begin() as session:
                query = select(Turn.id).where(
                    Turn.point_id == desk.point_id, Turn.status == TurnStatus.WAITING.value
                )
                if desk.topic_ids:
                    query = query.where(Turn.topic_id.in_(desk.topic_ids))
                # The SQL form of turn_rules.call_order.
                query = query.order_by(Turn.priority_rank, Turn.issued_at, Turn.id).limit(1)
                if self._postgres:
                    query = query.with_for_update(skip_locked=True)
                turn_id = session.scalars(query).first()
                if turn_id is None:
                    return None
                row = self._called(session, turn_id, desk, user_id, now)
                if row is not None:
                    return _turn(row)
        return None

    def call_turn(self, desk_id: int, turn_id: int, *, user_id: int) -> TurnView:
        """A specific waiting turn, called out of order."""
        desk = self.desk(desk_id)
        with translated("calling a turn"), self._sessions.begin() as session:
            current = session.get(Turn, turn_id)
            if current is None or current.point_id != desk.point_id:
                raise NotFoundError(f"no turn {turn_id} at this point")
            row = self._called(session, turn_id, desk, user_id, self._clock())
            if row is None:
                raise rules.TurnRuleError(f"turn {turn_id} is no longer waiting")
            return _turn(row)

    def _called(
        self, session: Session, turn_id: int, desk: DeskView, user_id: int, now: datetime
    ) -> Turn | None:
        # Compare-and-set: only a turn still waiting becomes called.
        changed = session.execute(
            update(Turn)
            .where(Turn.id == turn_id, Turn.status == TurnStatus.WAITING.value)
            .values(
                status=TurnStatus.CALLED.value,
                desk_id=desk.id,
                called_by=user_id,
                called_at=now,
                first_called_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return session.get(Turn, turn_id, populate_existing=True)

    def turn(self, turn_id: int) -> TurnView:
        with translated("reading a turn"), self._sessions() as session:
            row = session.get(Turn, turn_id)
            if row is None:
                raise NotFoundError(f"no turn {turn_id}")
            return _turn(row)

    def turn_of(self, key: CallKey) -> TurnView | None:
        query = select(Turn).where(
            Turn.attention_system == key.system, Turn.attention_linkedid == key.linkedid
        )
        with translated("reading a turn"), self._sessions() as session:
            row = session.scalars(query).first()
            return None if row is None else _turn(row)

    def _change(
        self, turn_id: int, action: str, desk_id: int | None, change: Callable[[Turn], None]
    ) -> Turn:
        with translated(f"turn {action}"), self._sessions.begin() as session:
            row = session.scalars(select(Turn).where(Turn.id == turn_id).with_for_update()).first()
            if row is None:
                raise NotFoundError(f"no turn {turn_id}")
            if desk_id is not None and row.desk_id not in (None, desk_id):
                raise rules.TurnRuleError(f"turn {turn_id} belongs to another desk")
            row.status = rules.transition(action, TurnStatus(row.status)).value
            change(row)
            session.flush()
            return row

    def recall(self, turn_id: int, *, desk_id: int) -> TurnView:
        """Call the same turn again; past the point's recalls it is a no-show."""
        with translated("reading a turn"), self._sessions() as session:
            row0 = session.get(Turn, turn_id)
            if row0 is None:
                raise NotFoundError(f"no turn {turn_id}")
            max_recalls = self.point(row0.point_id).max_recalls
            decision = rules.recall(row0.recalls, max_recalls)
        if decision.no_show:
            return self.no_show(turn_id, desk_id=desk_id)
        now = self._clock()

        def change(row: Turn) -> None:
            row.recalls = decision.recalls
            row.called_at = now

        return _turn(self._change(turn_id, "recall", desk_id, change))

    def serve(self, turn_id: int, *, desk_id: int, user_id: int, agent: str) -> TurnView:
        """The person came to the desk: the attention is answered (its wait ends)."""
        now = self._clock()
        desk = self.desk(desk_id)

        def change(row: Turn) -> None:
            row.served_at = now
            row.called_by = user_id

        row = self._change(turn_id, "serve", desk_id, change)
        self._contacts.answer(
            CallKey(row.attention_system, row.attention_linkedid),
            agent=agent,
            at=now,
            variables={SERVED_BY_VARIABLE: str(user_id), DESK_VARIABLE: desk.code},
        )
        return _turn(row)

    def finish(self, turn_id: int, *, desk_id: int) -> TurnView:
        now = self._clock()

        def change(row: Turn) -> None:
            row.ended_at = now

        row = self._change(turn_id, "finish", desk_id, change)
        self._contacts.close(CallKey(row.attention_system, row.attention_linkedid), at=now)
        return _turn(row)

    def no_show(self, turn_id: int, *, desk_id: int | None) -> TurnView:
        """Called and never came: the attention ends as abandoned."""
        now = self._clock()

        def change(row: Turn) -> None:
            row.ended_at = now

        row = self._change(turn_id, "no_show", desk_id, change)
        self._contacts.close(
            CallKey(row.attention_system, row.attention_linkedid), at=now, outcome=Outcome.ABANDONED
        )
        return _turn(row)

    def cancel(self, turn_id: int) -> TurnView:
        """The person left before being called."""
        now = self._clock()

        def change(row: Turn) -> None:
            row.ended_at = now

        row = self._change(turn_id, "cancel", None, change)
        self._contacts.close(
            CallKey(row.attention_system, row.attention_linkedid), at=now, outcome=Outcome.ABANDONED
        )
        return _turn(row)

    def desk_turn(self, desk_id: int) -> TurnView | None:
        """The turn the desk is calling or serving now."""
        query = (
            select(Turn)
            .where(
                Turn.desk_id == desk_id,
                Turn.status.in_([TurnStatus.CALLED.value, TurnStatus.SERVING.value]),
            )
            .order_by(Turn.called_at.desc())
        )
        with translated("reading a desk's turn"), self._sessions() as session:
            row = session.scalars(query).first()
            return None if row is None else _turn(row)

    def waiting(self, point_id: int) -> list[TurnView]:
        """Turns waiting at the point, in call order."""
        query = (
            select(Turn)
            .where(Turn.point_id == point_id, Turn.status == TurnStatus.WAITING.value)
            .order_by(Turn.priority_rank, Turn.issued_at, Turn.id)
        )
        with translated("reading waiting turns"), self._sessions() as session:
            return [_turn(r) for r in session.scalars(query)]

    # ----------------------------------------------------------- display

    def board(self, point_id: int, *, recent: int = 6) -> Board:
        point = self.point(point_id)
        topics = self.topics(point_id)
        desks = {d.id: d for d in self.desks(point_id)}
        now = self._clock()
        day = rules.service_day(now, self._timezone)
        with translated("reading the room board"), self._sessions() as session:
            today = select(Turn).where(Turn.point_id == point_id, Turn.service_day == day)
            called = session.scalars(
                today.where(Turn.status == TurnStatus.CALLED.value).order_by(Turn.called_at.desc())
            ).all()
            before = session.scalars(
                today.where(
                    Turn.status.in_(
                        [TurnStatus.SERVING.value, TurnStatus.DONE.value, TurnStatus.NO_SHOW.value]
                    ),
                    Turn.first_called_at.is_not(None),
                )
                .order_by(Turn.first_called_at.desc())
                .limit(recent)
            ).all()
            waiting = dict(
                session.execute(
                    select(Turn.topic_id, func.count())
                    .where(Turn.point_id == point_id, Turn.status == TurnStatus.WAITING.value)
                    .group_by(Turn.topic_id)
                ).all()
            )
            done = session.execute(
                today.with_only_columns(Turn.topic_id, Turn.served_at, Turn.ended_at)
                .where(Turn.status == TurnStatus.DONE.value, Turn.served_at.is_not(None))
                .order_by(Turn.ended_at)
            ).all()

        def desk_name(desk_id: int | None) -> str:
            desk = desks.get(desk_id) if desk_id is not None else None
            return desk.name if desk is not None else ""

        waits = []
        for topic in topics:
            durations = [
                (end - start).total_seconds()
                for topic_id, start, end in done
                if topic_id == topic.id and end is not None and start is not None
            ]
            serving = sum(
                1
                for d in desks.values()
                if d.user_id is not None and (not d.topic_ids or topic.id in d.topic_ids)
            )
            ahead = int(waiting.get(topic.id, 0))
            waits.append(
                TopicWait(
                    topic.id,
                    topic.name,
                    topic.prefix,
                    ahead,
                    rules.estimate_wait_seconds(
                        ahead,
                        durations,
                        serving,
                        default_attention_seconds=point.attention_seconds,
                    ),
                )
            )
        return Board(
            point_name=point.name,
            calling=tuple(
                BoardCall(r.label, desk_name(r.desk_id), r.called_at or r.issued_at) for r in called
            ),
            recent=tuple(
                BoardCall(r.label, desk_name(r.desk_id), r.first_called_at or r.issued_at)
                for r in before
            ),
            waits=tuple(waits),
        )

    # -------------------------------------------------------- evaluation

    def evaluation_for_desk(self, desk_id: int) -> TurnView | None:
        """The attention the desk's tablet offers to evaluate: the one just
        finished there, not yet evaluated, while the desk calls no one else."""
        now = self._clock()
        with translated("reading a desk's last attention"), self._sessions() as session:
            busy = session.scalars(
                select(Turn.id).where(
                    Turn.desk_id == desk_id,
                    Turn.status.in_([TurnStatus.CALLED.value, TurnStatus.SERVING.value]),
                )
            ).first()
            if busy is not None:
                return None
            row = session.scalars(
                select(Turn)
                .where(Turn.desk_id == desk_id, Turn.status == TurnStatus.DONE.value)
                .order_by(Turn.ended_at.desc(), Turn.id.desc())
                .limit(1)
            ).first()
        if row is None or row.evaluated or row.ended_at is None:
            return None
        if now - row.ended_at > EVALUATION_WINDOW:
            return None
        return _turn(row)

    def evaluate_at_desk(
        self, desk_id: int, turn_id: int, score: int, comment: str = ""
    ) -> TurnView:
        """The tablet's answer for the turn it showed (refused if it is no longer that one)."""
        offered = self.evaluation_for_desk(desk_id)
        if offered is None or offered.id != turn_id:
            raise InvalidValueError("this attention is no longer offered for evaluation")
        self.record_evaluation(offered.key, score, comment)
        return offered

    def record_evaluation(self, key: CallKey, score: int, comment: str = "") -> None:
        """The score stored like the IVR's survey (call_surveys and attentions.survey_score)."""
        if not 1 <= score <= 5:
            raise InvalidValueError("a score is 1 to 5")
        text = comment.replace("\x00", "").strip()[:MAX_COMMENT] or None
        now = self._clock()
        insert = postgresql.insert if self._postgres else sqlite.insert
        values = {
            "system": key.system,
            "linkedid": key.linkedid,
            "score": score,
            "recorded_at": now,
            "comment": text,
        }
        base = insert(CallSurvey).values(**values)
        stmt = base.on_conflict_do_update(
            index_elements=[CallSurvey.system, CallSurvey.linkedid],
            set_={
                "score": base.excluded.score,
                "recorded_at": base.excluded.recorded_at,
                "comment": base.excluded.comment,
            },
        )
        with translated("storing an evaluation"), self._sessions.begin() as session:
            session.execute(stmt)
            session.execute(
                update(Attention)
                .where(Attention.system == key.system, Attention.linkedid == key.linkedid)
                .values(survey_score=score)
            )
            session.execute(
                update(Turn)
                .where(Turn.attention_system == key.system, Turn.attention_linkedid == key.linkedid)
                .values(evaluated=True)
            )

    def issue_evaluation_link(self, key: CallKey, *, ttl: timedelta = EVALUATION_LINK_TTL) -> str:
        """A one-time link token for the person (sent by SMS or email); only its hash is kept."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with translated("issuing an evaluation link"), self._sessions.begin() as session:
            exists = session.scalars(
                select(Attention.id).where(
                    Attention.system == key.system, Attention.linkedid == key.linkedid
                )
            ).first()
            if exists is None:
                raise NotFoundError("no attention to evaluate")
            session.add(
                EvaluationLink(
                    token_hash=token_hash(token),
                    system=key.system,
                    linkedid=key.linkedid,
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
            session.execute(
                update(Turn)
                .where(Turn.attention_system == key.system, Turn.attention_linkedid == key.linkedid)
                .values(evaluated=True)  # the tablet no longer offers it
            )
        return token

    def link_evaluation(self, token: str) -> CallKey | None:
        """The attention of a valid (unused, unexpired) link, or None."""
        wanted = token_hash(token)
        with translated("reading an evaluation link"), self._sessions() as session:
            row = session.get(EvaluationLink, wanted)
        if row is None or not hmac.compare_digest(row.token_hash, wanted):
            return None
        if row.used_at is not None or row.expires_at <= self._clock():
            return None
        return CallKey(row.system, row.linkedid)

    def evaluate_by_link(self, token: str, score: int, comment: str = "") -> bool:
        """Uses the link once; False when it is unknown, used or expired."""
        if not 1 <= score <= 5:
            raise InvalidValueError("a score is 1 to 5")
        wanted = token_hash(token)
        now = self._clock()
        with translated("using an evaluation link"), self._sessions.begin() as session:
            changed = session.execute(
                update(EvaluationLink)
                .where(
                    and_(
                        EvaluationLink.token_hash == wanted,
                        EvaluationLink.used_at.is_(None),
                        EvaluationLink.expires_at > now,
                    )
                )
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                return False
            row = session.get(EvaluationLink, wanted)
            assert row is not None
            key = CallKey(row.system, row.linkedid)
        self.record_evaluation(key, score, comment)
        return True

    # ----------------------------------------------------------- figures

    def facts(self, since: datetime, until: datetime) -> list[TurnFacts]:
        """Turns issued in [since, until), as the walk-in figures count them."""
        return turn_facts(self._engine, since, until)

    def live_facts(self) -> list[TurnFacts]:
        """Today's turns (the centre's day): what the wallboard and /metrics show."""
        now = self._clock()
        day = rules.service_day(now, self._timezone)
        start = datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(self._timezone))
        return self.facts(start.astimezone(UTC), now + timedelta(seconds=1))


def turn_facts(engine: Engine, since: datetime, until: datetime) -> list[TurnFacts]:
    """Turns issued in [since, until), as the walk-in figures count them."""
    query = (
        select(
            ServicePoint.code,
            ServicePointTopic.code,
            Turn.status,
            Turn.issued_at,
            Turn.first_called_at,
            Turn.served_at,
            Turn.ended_at,
            ServicePoint.target_wait_seconds,
            Attention.survey_score,
        )
        .join(ServicePoint, ServicePoint.id == Turn.point_id)
        .join(ServicePointTopic, ServicePointTopic.id == Turn.topic_id)
        .outerjoin(
            Attention,
            and_(
                Attention.system == Turn.attention_system,
                Attention.linkedid == Turn.attention_linkedid,
            ),
        )
        .where(Turn.issued_at >= since, Turn.issued_at < until)
    )
    with translated("reading walk-in figures"), session_factory(engine)() as session:
        return [
            TurnFacts(
                point=r[0],
                topic=r[1],
                status=TurnStatus(r[2]),
                issued_at=r[3],
                first_called_at=r[4],
                served_at=r[5],
                ended_at=r[6],
                target_wait_seconds=r[7],
                survey_score=r[8],
            )
            for r in session.execute(query)
        ]
