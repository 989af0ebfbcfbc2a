"""Wrap-up of a call by the agent who handled it."""

from __future__ import annotations

from fastapi import APIRouter

from agent_api.audit import AuditAction
from agent_api.auth import Principal
from agent_api.deps import Services, WrapUpper
from agent_api.exceptions import Forbidden, NotFound
from agent_api.schemas import PendingOut, WrapupIn, WrapupOut
from agent_api.wrapups import WrapupInput, WrapupView
from telephony.domain import CallKey

router = APIRouter(prefix="/api/wrapups", tags=["cierre"])


def _handled(user: Principal, key: CallKey, services: Services) -> None:
    """Only the agent rung for or answering the call may wrap it up."""
    if services.need.handles_call(user, key):
        return
    raise Forbidden(f"user {user.user_id} did not handle call {key.linkedid}")


def _out(view: WrapupView) -> WrapupOut:
    return WrapupOut(
        system=view.call.system,
        linkedid=view.call.linkedid,
        agent_user_id=view.agent_user_id,
        attention_type=view.attention_type,
        topic_id=view.topic_id,
        notes=view.notes,
        resolution=view.resolution,
        follow_up_at=view.follow_up_at,
        ticket_number=view.ticket_number,
        person_id=view.person_id,
        started_at=view.started_at,
        ended_at=view.ended_at,
        wrapup_seconds=view.seconds,
        follow_up_contact=view.follow_up_contact,
    )


@router.get("/pending", response_model=list[PendingOut])
def pending_wrapups(user: WrapUpper, services: Services) -> list[PendingOut]:
    """Calls of the day the agent answered and has not closed yet."""
    calls = [c for c in services.calls.today(user.interfaces) if c.outcome == "answered"]
    closed = services.wrapups.of_calls([c.call for c in calls])
    pending = [c for c in calls if c.call not in closed or closed[c.call].ended_at is None]
    services.audit.record(
        AuditAction.PENDING_READ,
        actor_id=user.user_id,
        person_ids=[c.person_id for c in pending] or [None],
        details={"reason": "own calls pending wrap-up", "calls": len(pending)},
    )
    return [
        PendingOut(
            system=c.call.system,
            linkedid=c.call.linkedid,
            arrived_at=c.arrived_at,
            caller_number=c.caller_number,
            caller_name=c.caller_name,
        )
        for c in pending
    ]


@router.post("/{system}/{linkedid}/start", response_model=WrapupOut)
def start_wrapup(system: str, linkedid: str, user: WrapUpper, services: Services) -> WrapupOut:
    key = CallKey(system, linkedid)
    _handled(user, key, services)
    return _out(services.wrapups.start(key, user.user_id))


@router.put("/{system}/{linkedid}", response_model=WrapupOut)
def finish_wrapup(
    system: str, linkedid: str, body: WrapupIn, user: WrapUpper, services: Services
) -> WrapupOut:
    key = CallKey(system, linkedid)
    _handled(user, key, services)
    if body.person_id is not None:
        # Linking a person to the call opens their tickets to this agent: the
        # person must have been identified for this call (need_to_know).
        services.need.check_link(user, key, body.person_id)
    view = services.wrapups.finish(
        key,
        user.user_id,
        WrapupInput(
            attention_type=body.attention_type,
            resolution=body.resolution,
            topic_id=body.topic_id,
            notes=body.notes,
            follow_up_at=body.follow_up_at,
            follow_up_contact=body.follow_up_contact,
            person_id=body.person_id,
            organism_id=body.organism_id,
            unit_id=body.unit_id,
        ),
    )
    if body.person_id is not None:
        services.persons.link_attention(system, linkedid, body.person_id)
    return _out(view)


@router.get("/{system}/{linkedid}", response_model=WrapupOut)
def get_wrapup(system: str, linkedid: str, user: WrapUpper, services: Services) -> WrapupOut:
    key = CallKey(system, linkedid)
    _handled(user, key, services)
    view = services.wrapups.get(key)
    if view is None:
        raise NotFound("no wrap-up")
    if view.agent_user_id not in (None, user.user_id):
        # Rung for the call is not enough to read what the answering agent wrote.
        raise Forbidden(f"wrap-up of call {linkedid} belongs to another agent")
    services.audit.record(
        AuditAction.WRAPUP_READ,
        actor_id=user.user_id,
        person_ids=[view.person_id],
        call=key,
        details={"reason": "own wrap-up"},
    )
    return _out(view)
