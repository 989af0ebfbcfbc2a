"""The calls of the day: an agent's own, or everyone's for supervisors and managers."""

from __future__ import annotations

from fastapi import APIRouter

from agent_api.auth import Permission
from agent_api.deps import CallReader, Services
from agent_api.schemas import CallOut

router = APIRouter(prefix="/api/calls", tags=["llamadas"])


@router.get("/today", response_model=list[CallOut])
def calls_today(user: CallReader, services: Services, mine: bool = False) -> list[CallOut]:
    everyone = user.can(Permission.ALL_CALLS) and not mine
    calls = services.calls.today(None if everyone else user.interfaces)
    wrapups = services.wrapups.of_calls([c.call for c in calls])
    out = []
    for c in calls:
        w = wrapups.get(c.call)
        out.append(
            CallOut(
                system=c.call.system,
                linkedid=c.call.linkedid,
                arrived_at=c.arrived_at,
                ended_at=c.ended_at,
                caller_number=c.caller_number,
                caller_name=c.caller_name,
                queue=c.queue,
                agent=c.agent,
                outcome=c.outcome,
                wait_seconds=c.wait_seconds,
                talk_seconds=c.talk_seconds,
                person_id=c.person_id,
                topic=c.topic,
                wrapup_resolution=None if w is None else w.resolution,
                wrapup_seconds=None if w is None else w.seconds,
            )
        )
    return out
