"""CRM sync jobs that exhausted their retries, and the retry action (admins)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from agent_api.auth import Permission, Principal
from agent_api.deps import require
from agent_api.exceptions import Conflict
from agent_api.followup import FollowUp, FollowUpServices, need
from agent_api.followup_schemas import FailedJobOut, RetriedOut
from agent_api.masking import mask_document
from crm_bridge.sync.outbox import SyncFailures

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/crm/failures", tags=["crm"])

CrmManager = Annotated[Principal, Depends(require(Permission.MANAGE_CRM_SYNC))]

_NO_SYNC = "La sincronización con el CRM no está activada en este servidor."


def _service(followup: FollowUpServices) -> SyncFailures:
    return need(followup.crm_failures, "CRM sync", _NO_SYNC)


@router.get("", response_model=list[FailedJobOut])
def failed_jobs(
    _: CrmManager, followup: FollowUp, limit: int = Query(default=200, ge=1, le=5000)
) -> list[FailedJobOut]:
    """Jobs whose retries ran out, oldest first, with the CRM's last error."""
    return [
        FailedJobOut(
            id=row.id,
            entity=row.entity.value,
            entity_id=row.entity_id,
            action=row.action.value,
            created_at=row.created_at,
            failed_at=row.failed_at,
            attempts=row.attempts,
            # A CRM may echo the payload in its error: digits runs are masked.
            last_error=None if row.last_error is None else _masked(row.last_error),
        )
        for row in _service(followup).list(limit=limit)
    ]


def _masked(error: str) -> str:
    return " ".join(
        mask_document(w) if sum(c.isdigit() for c in w) >= 6 else w for w in error.split()
    )


@router.post("/retry", response_model=RetriedOut)
def retry_all(user: CrmManager, followup: FollowUp) -> RetriedOut:
    retried = _service(followup).retry_all()
    log.info("user %d retried %d failed CRM jobs", user.user_id, retried)
    return RetriedOut(retried=retried)


@router.post("/{outbox_id}/retry", response_model=RetriedOut)
def retry_one(outbox_id: int, user: CrmManager, followup: FollowUp) -> RetriedOut:
    if not _service(followup).retry(outbox_id):
        raise Conflict(
            f"outbox row {outbox_id} is not failed",
            detalle="Ese envío no está en la lista de fallidos (ya se reintentó o se completó).",
        )
    log.info("user %d retried failed CRM job %d", user.user_id, outbox_id)
    return RetriedOut(retried=1)
