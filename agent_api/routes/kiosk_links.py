"""Kiosk links (the wallboard, a room display, a desk tablet): supervisors and admins
create, list and revoke them."""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from agent_api.audit import AuditAction, AuditLog
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


def issue_link(
    links: KioskLinks,
    audit: AuditLog,
    label: str,
    actor_id: int | None,
    *,
    kind: str,
    service_point_id: int | None = None,
    desk_id: int | None = None,
) -> tuple[KioskView, str]:
    """A new link, audited; (the link, the path its token opens: shown once)."""
    link, token = links.create(
        label, actor_id, kind=kind, service_point_id=service_point_id, desk_id=desk_id
    )
    audit.record(
        AuditAction.KIOSK_LINK,
        actor_id=actor_id,
        person_ids=[None],
        details={"event": "created", "link_id": link.id, "label": link.label},
    )
    return link, kiosk_url(link.kind, token)


def revoke_link(
    links: KioskLinks, audit: AuditLog, link_id: int, actor_id: int | None
) -> KioskView:
    """The link stops opening anything now, audited."""
    link = links.revoke(link_id, actor_id)
    audit.record(
        AuditAction.KIOSK_LINK,
        actor_id=actor_id,
        person_ids=[None],
        details={"event": "revoked", "link_id": link.id},
    )
    return link


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
        link, url = await asyncio.to_thread(
            functools.partial(
                issue_link,
                links,
                services.audit,
                body.label,
                user.user_id,
                kind=body.kind,
                service_point_id=body.service_point_id,
                desk_id=body.desk_id,
            )
        )
        return KioskCreatedOut(**_out(link).model_dump(), url=url)

    @router.post("/{link_id}/revoke", response_model=KioskOut)
    async def revoke(link_id: int, user: KioskManager, services: Services) -> KioskOut:
        link = await asyncio.to_thread(revoke_link, links, services.audit, link_id, user.user_id)
        return _out(link)

    return router
