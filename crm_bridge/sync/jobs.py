"""The sync job: one outbox row in, the CRM brought up to date with the entity's current values.

Job payloads are outbox ids, never personal data: the values are read from
the database when the job runs (so a job retried after a rectification sends
the rectified values, and one retried after a deletion sends nothing).

Idempotency, so that a retry never creates a duplicate:
1. the CRM id of each synced entity is stored (crm_links) and used to update;
2. without it, the adapter looks the entity's deterministic external key up
   in the CRM before creating (the record a killed job created is found);
3. a per-entity lock keeps two deliveries of the same change from racing
   through step 2 together.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, select

from crm_bridge.db import session_factory
from crm_bridge.exceptions import CrmBridgeError
from crm_bridge.models import (
    Attention,
    AttentionWrapup,
    CatalogTopic,
    CrmLink,
    Organism,
    Ticket,
    Unit,
    User,
)
from crm_bridge.persons import PersonRegistry
from crm_bridge.store_access import translated
from crm_bridge.sync.adapter import (
    AttentionData,
    ContactData,
    CrmAdapter,
    SyncBusyError,
    TicketData,
    WrapupData,
    attention_key,
    person_key,
    ticket_key,
    wrapup_key,
)
from crm_bridge.sync.outbox import Action, Entity, OutboxRow, OutboxStore

log = logging.getLogger(__name__)

LockFactory = Callable[[str], AbstractContextManager[bool]]


class LocalLocks:
    """Per-entity locks for jobs running in one process (the in-process runner)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[bool]:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        acquired = lock.acquire(timeout=30)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()


class CrmLinks:
    """The CRM ids of entities already synced, per adapter."""

    def __init__(self, engine: Engine, adapter: str) -> None:
        self._sessions = session_factory(engine)
        self._adapter = adapter

    def get(self, entity: Entity, entity_id: int) -> str | None:
        with translated("reading a CRM link"), self._sessions() as session:
            link = session.get(CrmLink, (self._adapter, entity.value, entity_id))
            return None if link is None else link.crm_id

    def put(self, entity: Entity, entity_id: int, crm_id: str) -> None:
        with translated("storing a CRM link"), self._sessions.begin() as session:
            link = session.get(CrmLink, (self._adapter, entity.value, entity_id))
            now = datetime.now(UTC)
            if link is None:
                session.add(
                    CrmLink(
                        adapter=self._adapter,
                        entity=entity.value,
                        entity_id=entity_id,
                        crm_id=crm_id,
                        synced_at=now,
                    )
                )
            else:
                link.crm_id, link.synced_at = crm_id, now

    def drop(self, entity: Entity, entity_id: int) -> None:
        with translated("dropping a CRM link"), self._sessions.begin() as session:
            session.execute(
                delete(CrmLink).where(
                    CrmLink.adapter == self._adapter,
                    CrmLink.entity == entity.value,
                    CrmLink.entity_id == entity_id,
                )
            )


def describe(err: BaseException) -> str:
    """A failure as kept on the outbox row: the error's class and message, no values."""
    return f"{type(err).__name__}: {err}"


class CrmSync:
    """Applies outbox rows to one CRM adapter."""

    def __init__(
        self,
        engine: Engine,
        adapter: CrmAdapter,
        *,
        locks: LockFactory | None = None,
        phone_region: str = "UY",
    ) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)
        self._adapter = adapter
        self._locks: LockFactory = locks or LocalLocks()
        self._persons = PersonRegistry(engine, phone_region=phone_region)
        self.store = OutboxStore(engine)
        self.links = CrmLinks(engine, adapter.name)

    @property
    def adapter(self) -> CrmAdapter:
        return self._adapter

    def process(self, outbox_id: int, *, final_attempt: bool = True) -> str:
        """Sync one outbox row; raises (after recording the failure) when the CRM fails."""
        row = self.store.get(outbox_id)
        if row is None:
            return "missing"
        if row.done_at is not None:
            return "already done"
        try:
            with self._locks(f"{row.entity.value}:{row.entity_id}") as acquired:
                if not acquired:
                    raise SyncBusyError(f"{row.entity.value} {row.entity_id} is being synced")
                self._apply(row)
        except Exception as err:
            log.warning(
                "CRM sync of outbox row %d (%s %d) failed%s: %s",
                row.id,
                row.entity.value,
                row.entity_id,
                "" if final_attempt else ", will retry",
                describe(err),
            )
            try:
                self.store.record_failure(row.id, describe(err), final=final_attempt)
            except CrmBridgeError as store_err:
                # The database is away too: the job still fails and is retried.
                log.warning("could not record the failure of outbox row %d: %s", row.id, store_err)
            raise
        self.store.mark_done(row)
        return "done"

    def _apply(self, row: OutboxRow) -> None:
        if row.entity is Entity.PERSON and row.action is Action.ERASE:
            self._erase_person(row.entity_id)
        elif row.entity is Entity.PERSON:
            self._sync_person(row.entity_id)
        elif row.entity is Entity.ATTENTION:
            self._sync_attention(row.entity_id)
        elif row.entity is Entity.WRAPUP:
            self._sync_wrapup(row.entity_id)
        elif row.entity is Entity.TICKET:
            self._sync_ticket(row.entity_id)

    def _sync_person(self, person_id: int) -> str | None:
        person = self._persons.get(person_id)
        if person is None:
            return None  # erased since: its erase row takes care of the CRM
        contact = ContactData(
            external_key=person_key(person_id),
            given_names=person.given_names,
            family_names=person.family_names,
            document_type=None if person.document_type is None else person.document_type.value,
            document_number=person.document_number,
            phones=tuple(p.number for p in person.phones),
            emails=tuple(e.address for e in person.emails),
        )
        known = self.links.get(Entity.PERSON, person_id)
        crm_id = self._adapter.sync_contact(contact, known)
        self.links.put(Entity.PERSON, person_id, crm_id)
        return crm_id

    def _erase_person(self, person_id: int) -> None:
        known = self.links.get(Entity.PERSON, person_id)
        self._adapter.erase_contact(person_key(person_id), known)
        self.links.drop(Entity.PERSON, person_id)

    def _contact_of(self, person_id: int | None) -> str | None:
        """The person's CRM id, syncing the person first if it never was."""
        if person_id is None:
            return None
        contact_id = self.links.get(Entity.PERSON, person_id)
        if contact_id is None:
            with self._locks(f"{Entity.PERSON.value}:{person_id}") as acquired:
                if not acquired:
                    raise SyncBusyError(f"person {person_id} is being synced")
                contact_id = self._sync_person(person_id)
        return contact_id

    def _call_of(self, system: str, linkedid: str) -> str | None:
        """The CRM id of the call stored under this key, syncing it first if
        it never was; None when the call is not (yet) in the store."""
        with translated("reading an attention to sync"), self._sessions() as session:
            attention_id = session.scalar(
                select(Attention.id).where(
                    Attention.system == system, Attention.linkedid == linkedid
                )
            )
        if attention_id is None:
            return None
        known = self.links.get(Entity.ATTENTION, attention_id)
        if known is not None:
            return known
        with self._locks(f"{Entity.ATTENTION.value}:{attention_id}") as acquired:
            if not acquired:
                raise SyncBusyError(f"attention {attention_id} is being synced")
            return self._sync_attention(attention_id)

    def _sync_wrapup(self, wrapup_id: int) -> None:
        with translated("reading a wrap-up to sync"), self._sessions() as session:
            found = session.execute(
                select(AttentionWrapup, CatalogTopic.name, User.display_name)
                .outerjoin(CatalogTopic, CatalogTopic.id == AttentionWrapup.topic_id)
                .outerjoin(User, User.id == AttentionWrapup.agent_user_id)
                .where(AttentionWrapup.id == wrapup_id)
            ).first()
        if found is None:
            return
        row, topic, agent = found
        if row.resolution is None or row.wrapup_ended_at is None:
            return  # reopened or never finished: its finishing brings a new row
        call_id = self._call_of(row.system, row.linkedid)
        if call_id is None:
            # The bridge writes the call when it ends; a wrap-up finished
            # before that waits for it (retried like any unavailable CRM).
            raise CrmBridgeError(f"the call of wrap-up {wrapup_id} is not stored yet")
        data = WrapupData(
            external_key=wrapup_key(row.system, row.linkedid),
            call_crm_id=call_id,
            attention_type=row.attention_type or "",
            resolution=row.resolution,
            topic=topic,
            notes=row.notes or "",
            ticket_number=row.ticket_number,
            follow_up_at=row.follow_up_at,
            agent=agent,
            wrapped_up_at=row.wrapup_ended_at,
            contact_crm_id=self._contact_of(row.person_id),
        )
        known = self.links.get(Entity.WRAPUP, wrapup_id)
        crm_id = self._adapter.sync_wrapup(data, known)
        self.links.put(Entity.WRAPUP, wrapup_id, crm_id)

    def _sync_ticket(self, ticket_id: int) -> None:
        with translated("reading a ticket to sync"), self._sessions() as session:
            found = session.execute(
                select(Ticket, Organism.code, Organism.name, Unit.code, Unit.name)
                .join(Organism, Organism.id == Ticket.organism_id)
                .outerjoin(Unit, Unit.id == Ticket.unit_id)
                .where(Ticket.id == ticket_id)
            ).first()
        if found is None:
            return
        row, organism_code, organism_name, unit_code, unit_name = found
        call_id = None
        if row.attention_system and row.attention_linkedid:
            call_id = self._call_of(row.attention_system, row.attention_linkedid)
        data = TicketData(
            external_key=ticket_key(row.number),
            number=row.number,
            request_type=row.request_type,
            status=row.status,
            channel=row.channel,
            topic=row.topic,
            description=row.description,
            organism=f"{organism_code} {organism_name}",
            unit=None if unit_code is None else f"{unit_code} {unit_name}",
            created_at=row.created_at,
            due_at=row.due_at,
            responded_at=row.responded_at,
            closed_at=row.closed_at,
            call_crm_id=call_id,
            contact_crm_id=self._contact_of(row.person_id),
        )
        known = self.links.get(Entity.TICKET, ticket_id)
        crm_id = self._adapter.sync_ticket(data, known)
        self.links.put(Entity.TICKET, ticket_id, crm_id)

    def _sync_attention(self, attention_id: int) -> str | None:
        with translated("reading an attention to sync"), self._sessions() as session:
            row = session.get(Attention, attention_id)
        if row is None:
            return None
        contact_id = self._contact_of(row.person_id)
        data = AttentionData(
            external_key=attention_key(row.system, row.linkedid),
            channel=row.channel,
            caller_number=row.caller_number,
            arrived_at=row.arrived_at,
            answered_at=row.answered_at,
            ended_at=row.ended_at,
            queue=row.queue,
            agent=row.agent,
            outcome=row.outcome,
            wait_seconds=row.wait_seconds,
            talk_seconds=row.talk_seconds,
            contact_crm_id=contact_id,
        )
        known = self.links.get(Entity.ATTENTION, attention_id)
        crm_id = self._adapter.sync_attention(data, known)
        self.links.put(Entity.ATTENTION, attention_id, crm_id)
        return crm_id


# ------------------------------------------------------------- the RQ job

_installed: CrmSync | None = None


def install(sync: CrmSync) -> None:
    """Give this process's RQ jobs their CrmSync (done once by the worker at start)."""
    global _installed
    _installed = sync


def sync_outbox_row(outbox_id: int) -> str:
    """The RQ job: its only argument is the outbox row's id."""
    from rq import get_current_job

    if _installed is None:
        raise RuntimeError("no CrmSync installed in this worker (crm_bridge.sync.jobs.install)")
    job = get_current_job()
    # RQ decrements retries_left before each retry: none left means this run is the last.
    final = job is None or not job.retries_left
    return _installed.process(outbox_id, final_attempt=final)
