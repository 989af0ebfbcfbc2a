"""The person's rights under Ley 18.331: access (export), rectification, erasure.

Admins only (see auth.ROLE_PERMISSIONS). PersonRights audits each request in
`rights_requests` with the acting user; every change reaches the CRM.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from agent_api.auth import Permission, Principal
from agent_api.deps import require
from agent_api.exceptions import InvalidInput
from agent_api.followup import FollowUp, FollowUpServices, need
from agent_api.followup_schemas import (
    ErasedOut,
    EraseIn,
    RectifiedOut,
    RectifyIn,
    RightsRequestOut,
)
from crm_bridge.sync.rights import PersonRights

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/persons/{person_id}/rights", tags=["derechos"])

RightsOfficer = Annotated[Principal, Depends(require(Permission.PERSON_RIGHTS))]

_NO_RIGHTS = "La gestión de derechos de las personas no está configurada en este servidor."


def _service(followup: FollowUpServices) -> PersonRights:
    return need(followup.rights, "person rights", _NO_RIGHTS)


@router.get(
    "/export",
    responses={200: {"content": {"application/json": {}}, "description": "JSON download"}},
)
def export_person(person_id: int, user: RightsOfficer, followup: FollowUp) -> Response:
    """Everything held on the person (derecho de acceso), as a JSON file."""
    data = _service(followup).export(person_id, actor_id=user.user_id)
    log.info("user %d exported person %d (right of access)", user.user_id, person_id)
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2, default=str),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="persona-{person_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/rectification", response_model=RectifiedOut)
def rectify_person(
    person_id: int, body: RectifyIn, user: RightsOfficer, followup: FollowUp
) -> RectifiedOut:
    """Correct fields (absent ones stay; phone and e-mail lists replace the held ones)."""
    if not body.model_fields_set:
        raise InvalidInput("empty rectification", detalle="Indique qué datos corregir.")
    changed = _service(followup).rectify(
        person_id,
        actor_id=user.user_id,
        given_names=body.given_names,
        family_names=body.family_names,
        document_type=body.document_type,
        document_number=body.document_number,
        phones=body.phones,
        emails=body.emails,
    )
    log.info("user %d rectified person %d: %s", user.user_id, person_id, ", ".join(changed))
    return RectifiedOut(person_id=person_id, changed=changed)


@router.post("/erasure", response_model=ErasedOut)
def erase_person(
    person_id: int, body: EraseIn, user: RightsOfficer, followup: FollowUp
) -> ErasedOut:
    """Delete the person; calls and tickets that named them are anonymised."""
    if body.confirm_person_id != person_id:
        raise InvalidInput(
            f"erasure of {person_id} confirmed for {body.confirm_person_id}",
            detalle="Para suprimir, repita el número de la persona en la confirmación.",
        )
    result = _service(followup).erase(person_id, actor_id=user.user_id)
    log.info("user %d erased person %d (right of deletion)", user.user_id, person_id)
    return ErasedOut(
        person_id=result.person_id,
        attentions_anonymised=result.attentions_anonymised,
        tickets_unlinked=result.tickets_unlinked,
    )


@router.get("", response_model=list[RightsRequestOut])
def rights_requests(person_id: int, _: RightsOfficer, followup: FollowUp) -> list[RightsRequestOut]:
    """The audit trail of the person's rights requests (kept after an erasure)."""
    return [
        RightsRequestOut(
            kind=r["kind"], at=r["at"], actor_id=r["actor_id"], details=r["details"] or {}
        )
        for r in _service(followup).requests(person_id)
    ]
