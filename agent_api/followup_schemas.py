"""Request and response bodies of the follow-up routes: tickets, SLA alerts, CRM, rights."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from agent_api.schemas import Id, Item
from citizen.channels import Channel, parse_channel
from crm_bridge.ticket_rules import RequestType, TicketAction, TicketStatus


def _plain_channel(value: Any) -> Any:
    # The page and people write "telefónico" (or the old "email"); the store
    # keeps the Channel value. Anything else is left for pydantic to refuse.
    if not isinstance(value, str):
        return value
    try:
        return parse_channel(value)
    except ValueError:
        return value


class TicketIn(BaseModel):
    channel: Channel
    request_type: RequestType
    topic: str = Field(min_length=1, max_length=200)
    organism_id: Id
    description: str = Field(default="", max_length=20_000)
    person_id: Id | None = None
    unit_id: Id | None = None
    call_system: str | None = Field(default=None, max_length=64)
    call_linkedid: str | None = Field(default=None, max_length=64)

    @field_validator("channel", mode="before")
    @classmethod
    def _channel(cls, value: Any) -> Any:
        return _plain_channel(value)


class TicketOut(BaseModel):
    number: str
    channel: Channel
    request_type: RequestType
    topic: str
    description: str
    status: TicketStatus
    person_id: int | None
    organism_id: int
    unit_id: int | None
    referent_id: int | None
    created_by: int | None
    call_system: str | None
    call_linkedid: str | None
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None
    responded_at: datetime | None
    closed_at: datetime | None
    overdue: bool
    actions: list[str]  # what this user may do on it now


class TicketEventOut(BaseModel):
    at: datetime
    actor_id: int | None
    action: TicketAction
    from_status: TicketStatus | None
    to_status: TicketStatus | None
    unit_id: int | None
    referent_id: int | None
    notes: str | None


class TicketResponseOut(BaseModel):
    channel: str
    sent_at: datetime
    actor_id: int | None
    delivered: bool
    body: str


class AttachmentOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int


class TicketDetailOut(TicketOut):
    timeline: list[TicketEventOut]
    responses: list[TicketResponseOut]
    # Files that came by email (download: /api/tickets/{number}/attachments/{id}).
    attachments: list[AttachmentOut] = []


class DeriveIn(BaseModel):
    unit_id: Id | None = None
    referent_id: Id | None = None
    notes: str | None = Field(default=None, max_length=5000)


class NotesIn(BaseModel):
    notes: str | None = Field(default=None, max_length=5000)


class PersonLinkIn(BaseModel):
    person_id: Id


class NoteIn(BaseModel):
    notes: str = Field(min_length=1, max_length=5000)


class RespondIn(BaseModel):
    text: str = Field(min_length=1, max_length=20_000)
    channel: str = Field(default="log", min_length=1, max_length=32)
    # Without it: the person's first e-mail (email) or phone (sms).
    destination: str | None = Field(default=None, max_length=254)
    subject: str | None = Field(default=None, max_length=200)


class AlertOut(BaseModel):
    id: int
    ticket_number: str
    level: str
    raised_at: datetime
    due_at: datetime
    unit_id: int | None
    referent_id: int | None


class FailedJobOut(BaseModel):
    id: int
    entity: str
    entity_id: int
    action: str
    created_at: datetime
    failed_at: datetime | None
    attempts: int
    last_error: str | None


class RetriedOut(BaseModel):
    retried: int


class RectifyIn(BaseModel):
    given_names: str | None = Field(default=None, max_length=200)
    family_names: str | None = Field(default=None, max_length=200)
    document_type: str | None = Field(default=None, max_length=16)
    document_number: str | None = Field(default=None, max_length=32)
    phones: list[Item] | None = Field(default=None, max_length=20)
    emails: list[Item] | None = Field(default=None, max_length=20)


class RectifiedOut(BaseModel):
    person_id: int
    changed: list[str]


class EraseIn(BaseModel):
    # The person's id typed again: a slip of the URL must not erase someone else.
    confirm_person_id: Id


class ErasedOut(BaseModel):
    person_id: int
    attentions_anonymised: int
    tickets_unlinked: int


class RightsRequestOut(BaseModel):
    kind: str
    at: datetime
    actor_id: int | None
    details: dict[str, Any]
