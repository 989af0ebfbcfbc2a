"""The calls of the day (an agent's own, or everyone's for supervisors and
managers), and the person of a call as the answering agent's page reads it."""

from __future__ import annotations

from fastapi import APIRouter, Query

from agent_api.audit import AuditAction
from agent_api.auth import Permission
from agent_api.deps import Agent, CallReader, Services
from agent_api.exceptions import Forbidden, NotFound
from agent_api.frames import call_ref, person_summary
from agent_api.masking import mask_number
from agent_api.need_to_know import NOT_YOUR_CALL, Reason
from agent_api.schemas import CallOut, CallPersonOut, PersonOut, PersonSummaryOut
from crm_bridge.persons import PersonView
from telephony.domain import CallKey

router = APIRouter(prefix="/api/calls", tags=["llamadas"])


@router.get("/today", response_model=list[CallOut])
def calls_today(user: CallReader, services: Services, mine: bool = False) -> list[CallOut]:
    """The gerente gets figures: numbers masked, no names, no person links."""
    everyone = user.can(Permission.ALL_CALLS) and not mine
    calls = services.calls.today(None if everyone else user.interfaces)
    wrapups = services.wrapups.of_calls([c.call for c in calls])
    figures_only = services.need.figures_only(user)
    out = []
    for c in calls:
        w = wrapups.get(c.call)
        out.append(
            CallOut(
                system=c.call.system,
                linkedid=c.call.linkedid,
                arrived_at=c.arrived_at,
                ended_at=c.ended_at,
                caller_number=mask_number(c.caller_number) if figures_only else c.caller_number,
                caller_name="" if figures_only else c.caller_name,
                queue=c.queue,
                agent=c.agent,
                outcome=c.outcome,
                wait_seconds=c.wait_seconds,
                talk_seconds=c.talk_seconds,
                person_id=None if figures_only else c.person_id,
                topic=c.topic,
                wrapup_resolution=None if w is None else w.resolution,
                wrapup_seconds=None if w is None else w.seconds,
            )
        )
    services.audit.record(
        AuditAction.CALLS_READ,
        actor_id=user.user_id,
        # One row per person shown (None: callers not linked to anyone).
        person_ids=[None] if figures_only else [c.person_id for c in calls] or [None],
        details={
            "scope": "all" if everyone else "own",
            "calls": len(calls),
            "masked": figures_only,
        },
    )
    return out


@router.get("/{system}/{linkedid}/person", response_model=CallPersonOut)
def person_of_call(
    system: str,
    linkedid: str,
    user: Agent,
    services: Services,
    person_id: int | None = Query(default=None, description="one of the candidates"),
) -> CallPersonOut:
    """The whole record of the caller, for the agent who answered this call.

    Before answer the pop carries only names, a masked document and the count
    of open requests; once answered the page reads the record here. With
    several candidates, the agent picks one and asks again with `person_id`.
    Audited as `person_read` with this call as the reason.
    """
    key = CallKey(system, linkedid)
    need = services.need
    if not need.answered_call(user, key):
        raise Forbidden(
            f"user {user.user_id} did not answer call {linkedid}", detalle=NOT_YOUR_CALL
        )
    caller = need.caller_of(key)
    if caller is None:
        raise NotFound(f"no call {linkedid}")
    reason = Reason(call=key)
    if person_id is not None:
        need.check_link(user, key, person_id)
        person = services.cards.get(person_id)
        if person is None:
            raise NotFound(f"no person {person_id}")
        candidates: list[PersonView] = []
    else:
        person, candidates = services.cards.identify(*caller)
    if person is None:
        status = "varias" if candidates else "desconocida"
        if candidates:
            services.audit.record(
                AuditAction.PERSON_SEARCH,
                actor_id=user.user_id,
                person_ids=[c.id for c in candidates],
                call=key,
                details={**reason.details(), "criterion": "caller number"},
            )
        return CallPersonOut(
            call=call_ref(key),
            person_status=status,
            candidates=[PersonSummaryOut(**person_summary(c)) for c in candidates],
        )
    card = services.cards.card(person)
    services.audit.record(
        AuditAction.PERSON_READ,
        actor_id=user.user_id,
        person_ids=[person.id],
        call=key,
        details={**reason.details(), "via": "answered call"},
    )
    return CallPersonOut(
        call=call_ref(key),
        person_status="identificada",
        person=PersonOut(**card["person"]),
        history=card["history"],
        open_requests=card["open_requests"],
    )
