"""The IVR's services (ivr.services.IvrServices) on the attention store.

Every call runs its database work in a worker thread (the executor given, or
asyncio's default one) so the FastAGI event loop never blocks on the
database, and waits at most `timeout` seconds for it. Any store failure or
timeout becomes ivr.exceptions.ServicesUnavailable: the IVR apologises and
routes the caller to an agent.

The IVR knows calls by linkedid only; the Asterisk system name that
completes the attention key (system, linkedid) is the one this object is
built with, the same name the bridge of that Asterisk writes attentions with.

Decisions:
- find_person_by_phone answers only when exactly one person holds the
  number: a number shared by a household identifies nobody.
- expected_wait is the larger of: the median wait of the last `wait_sample`
  calls answered in that queue within `wait_window` (30 min), and how long
  the oldest caller still waiting in that queue has waited (when agents are
  all busy nobody is answered, and that is when a callback matters most).
  Waiting calls older than `stale_after` (2 h) are ignored: a snapshot the
  bridge never closed must not make every caller hear a long wait. 0 when
  neither exists.
- request_status answers only a verified caller: the calling number is a
  phone on record (kept with consent) of the ticket's person, or the keyed
  digits are the last ones of that person's document; a ticket without a
  person is read to nobody.
- request_callback keeps one request per call (the first one), and names
  its queue to `on_callback` once stored (the panel's CallbackQueue.announce:
  that queue's free agents see the offer without waiting for a poll).
- record_survey stores the score in call_surveys (the last score of a call
  wins) and on the call's attention if the bridge wrote it already; when the
  bridge writes it later, a trigger (migration 0003) copies the score over.
"""

from __future__ import annotations

import asyncio
import functools
import statistics
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from crm_bridge.callbacks import CallbackStatus
from crm_bridge.db import session_factory
from crm_bridge.exceptions import InvalidValueError, StoreError
from crm_bridge.models import Attention, CallbackRequest, CallSurvey, Ticket
from crm_bridge.persons import PersonRegistry, PersonView
from crm_bridge.phones import normalise_number
from crm_bridge.store_access import translated
from crm_bridge.ticket_rules import IVR_STATUS, TicketStatus, parse_number
from ivr.exceptions import ServicesUnavailable
from ivr.services import Person, RequestStatus, document_ends_with
from telephony.domain import Outcome

_T = TypeVar("_T")


MIN_SCORE, MAX_SCORE = 1, 5


class StoreIvrServices:
    """IvrServices backed by the store (PostgreSQL or SQLite)."""

    def __init__(
        self,
        engine: Engine,
        *,
        system: str,
        phone_region: str = "UY",
        wait_window: timedelta = timedelta(minutes=30),
        stale_after: timedelta = timedelta(hours=2),
        wait_sample: int = 20,
        executor: Executor | None = None,
        timeout: float = 3.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_callback: Callable[[list[str]], None] | None = None,
    ) -> None:
        if engine.dialect.name not in ("postgresql", "sqlite"):
            raise StoreError(f"unsupported database {engine.dialect.name!r}")
        if not system:
            raise ValueError("the Asterisk system name is required (it keys attentions)")
        self._dialect = engine.dialect.name
        self._sessions = session_factory(engine)
        self._persons = PersonRegistry(engine, phone_region=phone_region, clock=clock)
        self._system = system
        self._region = phone_region
        self._window = wait_window
        self._stale_after = stale_after
        self._sample = max(1, wait_sample)
        self._executor = executor
        self._timeout = timeout
        self._clock = clock
        self._on_callback = on_callback

    async def _run(self, work: Callable[[], _T]) -> _T:
        loop = asyncio.get_running_loop()
        try:
            # A database that accepts connections and then says nothing must
            # not keep a caller in silence: the thread finishes on its own.
            return await asyncio.wait_for(loop.run_in_executor(self._executor, work), self._timeout)
        except TimeoutError as err:
            raise ServicesUnavailable(f"the store did not answer within {self._timeout} s") from err
        except (StoreError, SQLAlchemyError) as err:
            # The message names the failure only (no caller data, see store_access).
            raise ServicesUnavailable(str(err)) from err

    # ----------------------------------------------------------------- persons

    async def find_person_by_cedula(self, cedula: str) -> Person | None:
        return await self._run(functools.partial(self._by_cedula, cedula))

    def _by_cedula(self, cedula: str) -> Person | None:
        try:
            view = self._persons.find_by_cedula(cedula)
        except InvalidValueError:
            return None
        return None if view is None else _person(view)

    async def find_person_by_phone(self, phone: str) -> Person | None:
        return await self._run(functools.partial(self._by_phone, phone))

    def _by_phone(self, phone: str) -> Person | None:
        found = self._persons.find_by_phone(phone)
        return _person(found[0]) if len(found) == 1 else None

    # ----------------------------------------------------------------- tickets

    async def request_status(
        self,
        number: str,
        *,
        caller_phone: str | None = None,
        document_digits: str | None = None,
    ) -> RequestStatus | None:
        if parse_number(number) is None:
            return None
        work = functools.partial(self._status, number.strip(), caller_phone, document_digits)
        return await self._run(work)

    def _status(
        self, number: str, caller_phone: str | None, digits: str | None
    ) -> RequestStatus | None:
        """The status, if the caller is verified against the ticket's person
        (their phones kept with consent, or their document's last digits)."""
        with translated("reading a ticket status"), self._sessions() as session:
            found = session.execute(
                select(Ticket.status, Ticket.person_id).where(Ticket.number == number)
            ).first()
        if found is None or found.person_id is None:
            return None
        person = self._persons.get(found.person_id)
        if person is None:
            return None
        phone = normalise_number(caller_phone, self._region) if caller_phone else None
        by_phone = phone is not None and phone in {p.number for p in person.phones}
        if not by_phone and not document_ends_with(person.document_number, digits):
            return None
        return RequestStatus(number=number, status=IVR_STATUS[TicketStatus(found.status)])

    # ------------------------------------------------------------------ queues

    async def expected_wait(self, queue: str) -> float:
        return await self._run(functools.partial(self._wait, queue))

    def _wait(self, queue: str) -> float:
        now = self._clock()
        answered = (
            select(Attention.wait_seconds)
            .where(
                Attention.queue == queue,
                Attention.answered_at >= now - self._window,
                Attention.wait_seconds.is_not(None),
            )
            .order_by(Attention.answered_at.desc())
            .limit(self._sample)
        )
        oldest_waiting = select(func.min(Attention.queue_joined_at)).where(
            Attention.queue == queue,
            Attention.outcome == Outcome.IN_PROGRESS.value,
            Attention.answered_at.is_(None),
            Attention.queue_joined_at >= now - self._stale_after,
        )
        with translated("reading recent waits"), self._sessions() as session:
            waits = [float(w) for w in session.scalars(answered).all() if w is not None]
            joined = session.scalars(oldest_waiting).first()
        median = float(statistics.median(waits)) if waits else 0.0
        waiting = 0.0 if joined is None else max(0.0, (now - joined).total_seconds())
        return max(median, waiting)

    async def request_callback(self, linkedid: str, number: str, queue: str) -> None:
        await self._run(functools.partial(self._callback, linkedid, number, queue))

    def _callback(self, linkedid: str, number: str, queue: str) -> None:
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        stmt = (
            insert(CallbackRequest)
            .values(
                system=self._system,
                linkedid=linkedid[:64],
                number_raw=number[:64],
                number=normalise_number(number, self._region),
                queue=queue[:128],
                status=CallbackStatus.PENDING.value,
                requested_at=self._clock(),
            )
            .on_conflict_do_nothing(
                index_elements=[CallbackRequest.system, CallbackRequest.linkedid]
            )
            # A row back only when stored (rowcount is not reliable here).
            .returning(CallbackRequest.id)
        )
        with translated("storing a callback request"), self._sessions.begin() as session:
            stored = session.execute(stmt).first() is not None
        if stored and self._on_callback is not None:
            self._on_callback([queue[:128]])

    # ------------------------------------------------------------------ survey

    async def record_survey(self, linkedid: str, score: int) -> None:
        if not MIN_SCORE <= score <= MAX_SCORE:
            raise ValueError(f"a survey score is {MIN_SCORE} to {MAX_SCORE}, got {score}")
        await self._run(functools.partial(self._survey, linkedid, score))

    def _survey(self, linkedid: str, score: int) -> None:
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        values = {
            "system": self._system,
            "linkedid": linkedid[:64],
            "score": score,
            "recorded_at": self._clock(),
        }
        base = insert(CallSurvey).values(**values)
        stmt = base.on_conflict_do_update(
            index_elements=[CallSurvey.system, CallSurvey.linkedid],
            set_={"score": base.excluded.score, "recorded_at": base.excluded.recorded_at},
        )
        with translated("storing a survey score"), self._sessions.begin() as session:
            session.execute(stmt)
            session.execute(
                update(Attention)
                .where(Attention.system == self._system, Attention.linkedid == linkedid)
                .values(survey_score=score)
            )


def _person(view: PersonView) -> Person:
    return Person(id=str(view.id), display_name=view.display_name)
