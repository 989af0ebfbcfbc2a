"""Request and response bodies of the API (pydantic)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from agent_api.wrapups import AttentionType, Resolution
from crm_bridge.organisms import Role

# Bounds every request field carries: ids fit the database's BIGINT, short
# texts and list items have a length, lists a count (the body limit caps the
# whole request; these give a clear 422 naming the field).
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Item = Annotated[str, StringConstraints(max_length=200)]
Key = Annotated[str, StringConstraints(max_length=64)]


class Problem(BaseModel):
    detalle: str


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class SessionOut(BaseModel):
    user_id: int
    username: str
    display_name: str
    role: Role
    interfaces: list[str]
    permissions: list[str]
    csrf_token: str


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    active: bool
    interfaces: list[str]


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    display_name: str = Field(min_length=1, max_length=200)
    role: Role
    password: str = Field(min_length=1, max_length=1024)
    interfaces: list[Item] = Field(default_factory=list, max_length=10)


class UserPatch(BaseModel):
    role: Role | None = None
    active: bool | None = None
    display_name: str | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, max_length=1024)


class InterfacesIn(BaseModel):
    interfaces: list[Item] = Field(max_length=10)


class AgentStateOut(BaseModel):
    interface: str
    member_name: str
    queues: list[str]
    state: str
    since: float
    reason: str | None


class PauseIn(BaseModel):
    reason: str = Field(min_length=1, max_length=80)


class QueueLoginIn(BaseModel):
    interface: Item | None = None


class CallIn(BaseModel):
    number: str = Field(min_length=3, max_length=32)


class Accepted(BaseModel):
    estado: str = "solicitado"
    detalle: str


class CallOut(BaseModel):
    system: str
    linkedid: str
    arrived_at: datetime
    ended_at: datetime | None
    caller_number: str
    caller_name: str
    queue: str | None
    agent: str | None
    outcome: str
    wait_seconds: float | None
    talk_seconds: float | None
    person_id: int | None
    topic: str | None
    wrapup_resolution: str | None
    wrapup_seconds: float | None


class WrapupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attention_type: AttentionType
    resolution: Resolution
    topic_id: Id | None = None
    notes: str = Field(default="", max_length=4000)
    follow_up_at: datetime | None = None
    # Pendiente: the linked person's phone or email to come back through.
    follow_up_contact: str | None = Field(default=None, max_length=254)
    person_id: Id | None = None
    organism_id: Id | None = None
    unit_id: Id | None = None


class WrapupOut(BaseModel):
    system: str
    linkedid: str
    agent_user_id: int | None
    attention_type: str | None
    topic_id: int | None
    notes: str | None
    resolution: str | None
    follow_up_at: datetime | None
    ticket_number: str | None
    person_id: int | None
    started_at: datetime
    ended_at: datetime | None
    wrapup_seconds: float | None
    follow_up_contact: str | None = None


class PendingOut(BaseModel):
    system: str
    linkedid: str
    arrived_at: datetime
    caller_number: str
    caller_name: str


class TopicOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    organism_id: int | None
    unit_id: int | None
    active: bool


class ImportOut(BaseModel):
    created: int
    updated: int


class AddressIn(BaseModel):
    street: str = Field(min_length=1, max_length=300)
    locality: str | None = Field(default=None, max_length=120)
    department: str | None = Field(default=None, max_length=60)
    postal_code: str | None = Field(default=None, max_length=16)
    label: str | None = Field(default=None, max_length=32)


class DocumentIn(BaseModel):
    kind: str = Field(min_length=1, max_length=64)
    reference: str | None = Field(default=None, max_length=120)
    notes: str | None = Field(default=None, max_length=2000)


class PersonIn(BaseModel):
    given_names: str = Field(min_length=1, max_length=200)
    family_names: str = Field(default="", max_length=200)
    consents: list[Key] = Field(min_length=1, max_length=20)
    document_type: Key | None = None
    document_number: str | None = Field(default=None, max_length=32)
    phones: list[Item] = Field(default_factory=list, max_length=10)
    emails: list[Item] = Field(default_factory=list, max_length=10)
    addresses: list[AddressIn] = Field(default_factory=list, max_length=10)
    documents: list[DocumentIn] = Field(default_factory=list, max_length=20)
    notice_version: str | None = Field(default=None, max_length=32)
    # The call the person is registered on (it links them to it): one this
    # user handles. Without one the registration stands alone (presencial).
    call_system: str | None = Field(default=None, max_length=64)
    call_linkedid: str | None = Field(default=None, max_length=64)


class PersonSearchIn(BaseModel):
    """One criterion, and the reason: the call handled or the ticket worked."""

    document: str | None = Field(default=None, max_length=32)
    document_type: str = Field(default="ci", max_length=16)
    phone: str | None = Field(default=None, max_length=32)
    name: str | None = Field(default=None, max_length=200)
    call_system: str | None = Field(default=None, max_length=64)
    call_linkedid: str | None = Field(default=None, max_length=64)
    ticket: str | None = Field(default=None, max_length=16)


class PersonSummaryOut(BaseModel):
    """A search hit or a pop candidate: names and a masked document only."""

    id: int
    given_names: str
    family_names: str
    document_type: str | None
    document_masked: str | None


class PersonPatch(BaseModel):
    given_names: str | None = Field(default=None, max_length=200)
    family_names: str | None = Field(default=None, max_length=200)
    add_phones: list[Item] = Field(default_factory=list, max_length=10)
    remove_phones: list[Item] = Field(default_factory=list, max_length=10)
    add_emails: list[Item] = Field(default_factory=list, max_length=10)
    add_addresses: list[AddressIn] = Field(default_factory=list, max_length=10)
    add_documents: list[DocumentIn] = Field(default_factory=list, max_length=20)


class ConsentIn(BaseModel):
    granted: bool
    notice_version: str | None = Field(default=None, max_length=32)


class PersonOut(BaseModel):
    id: int
    given_names: str
    family_names: str
    document_type: str | None
    document_number: str | None
    consents: dict[str, bool]
    phones: list[dict[str, Any]]
    emails: list[dict[str, Any]]
    addresses: list[dict[str, Any]]
    documents: list[dict[str, Any]]


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor_id: int | None
    action: str
    person_id: int | None
    call_system: str | None
    call_linkedid: str | None
    details: dict[str, Any]


class CallPersonOut(BaseModel):
    """The person of a call, as the answering agent's page reads it."""

    call: dict[str, str]
    person_status: str  # identificada | varias | desconocida
    person: PersonOut | None = None
    candidates: list[PersonSummaryOut] = Field(default_factory=list)
    history: list[dict[str, Any]] = Field(default_factory=list)
    open_requests: list[dict[str, Any]] = Field(default_factory=list)


class PersonHistoryOut(BaseModel):
    """A page of a person's timeline, newest first."""

    person_id: int
    page: int
    page_size: int
    has_more: bool
    entries: list[dict[str, Any]]
