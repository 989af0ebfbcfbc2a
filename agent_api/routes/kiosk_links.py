"""Kiosk links (the wallboard, a room display, a desk tablet): supervisors and admins
create, list and revoke them."""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from agent_api.audit import AuditAction
from agent_api.auth import Principal
from agent_api.deps import CurrentUser, Services
from agent_api.exceptions import Forbidden
from crm_bridge.organisms import Role
from dashboards.kiosk import KioskLinks, KioskView

KIOSK_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})


async def kiosk_manager(user: CurrentUser) -> Principal:
    if user.role not in KIOSK_ROLES:
        raise Forbidden(f"role {user.role} may not manage kiosk links")
    return user


KioskManager = Annotated[Principal, Depends(kiosk_manager)]


class KioskIn(BaseModel):
    label: str = Field(min_length=1, max_length=100, description="p. ej. «TV sala 1»")
    kind: Literal["pizarra", "sala", "evaluacion"] = Field(
        default="pizarra",
        description="pizarra (wallboard), sala (pantalla de la sala de espera de un punto) "
        "o evaluacion (tableta de evaluación de un puesto)",
    )
    service_point_id: int | None = Field(default=None, description="Punto de la sala")
    desk_id: int | None = Field(default=None, description="Puesto de la tableta")


class KioskOut(BaseModel):
    id: int
    label: str
    active: bool
    kind: str
    created_at: datetime
    created_by: int | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class KioskCreatedOut(KioskOut):
    url: str = Field(description="Ruta de la pizarra; se muestra una sola vez.")


def kiosk_url(kind: str, token: str) -> str:
    """The path a link opens: the wallboard, a room display or a desk tablet."""
    return {"sala": f"/sala/{token}", "evaluacion": f"/evaluacion/{token}"}.get(
        kind, f"/kiosco/{token}"
    )


def _out(link: KioskView) -> KioskOut:
    return KioskOut(
        id=link.id,
        label=link.label,
        active=link.active,
        kind=link.kind,
        created_at=link.created_at,
        created_by=link.created_by,
        revoked_at=link.revoked_at,
        last_used_at=link.last_used_at,
    )


def kiosk_links_router(links: KioskLinks) -> APIRouter:
    router = APIRouter(prefix="/api/kiosk-links", tags=["pizarra"])

    @router.get("", response_model=list[KioskOut])
    def list_links(_: KioskManager) -> list[KioskOut]:
        return [_out(link) for link in links.all()]

    @router.post("", response_model=KioskCreatedOut, status_code=201)
    async def create_link(body: KioskIn, user: KioskManager, services: Services) -> KioskCreatedOut:
        link, token = await asyncio.to_thread(
            functools.partial(
                links.create,
                body.label,
                user.user_id,
                kind=body.kind,
                service_point_id=body.service_point_id,
                desk_id=body.desk_id,
            )
        )
        await asyncio.to_thread(
            services.audit.record,
            AuditAction.KIOSK_LINK,
            actor_id=user.user_id,
            person_ids=[None],
            details={"event": "created", "link_id": link.id, "label": link.label},
        )
        return KioskCreatedOut(**_out(link).model_dump(), url=kiosk_url(link.kind, token))

    @router.post("/{link_id}/revoke", response_model=KioskOut)
    async def revoke_link(link_id: int, user: KioskManager, services: Services) -> KioskOut:
        link = await asyncio.to_thread(links.revoke, link_id, user.user_id)
        await asyncio.to_thread(
            services.audit.record,
            AuditAction.KIOSK_LINK,
            actor_id=user.user_id,
            person_ids=[None],
            details={"event": "revoked", "link_id": link.id},
        )
        return _out(link)

    return router
